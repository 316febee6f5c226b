//! Fault injection against the real binary: `kill -9` at random moments while it syncs, while
//! it refreshes tokens and while it saves a login, with the invariants checked after every
//! kill; upstreams that break streams on the wire; a client that reads slowly.
//!
//! Short by default (CI); `CLIPROXY_FAULTS_LONG=1` multiplies the iterations by 10. Each test
//! prints a `faults:` line with what it survived.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_faults;
mod support_oauth;
mod support_s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cliproxy::auth::AuthFile;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::StandIn;
use support_faults::{Fault, FaultyUpstream};

const MODEL: &str = "claude-opus-4-5-20251101";

fn iters(short: usize) -> usize {
    if std::env::var_os("CLIPROXY_FAULTS_LONG").is_some_and(|v| !v.is_empty() && v != "0") {
        short * 10
    } else {
        short
    }
}

fn millis(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand::random_range(lo..hi))
}

fn kill9(child: &mut Child) {
    // std's Child::kill is SIGKILL on Unix: no destructor, no flush, no cleanup runs.
    let _ = child.kill();
    let _ = child.wait();
}

// ------------------------------------------------------------------------------------------
// Invariants on folders
// ------------------------------------------------------------------------------------------

/// Leftovers of an interrupted atomic write in `dir` (recursively).
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            out.extend(temp_files(&p));
        } else if n.starts_with(".tmp-") || n.ends_with(".partial") || n.ends_with(".tmp") {
            out.push(p);
        }
    }
    out
}

/// Every auth file a reader can see in `dir` parses, and every state file is JSON.
fn assert_all_parse(dir: &Path, when: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if !p.is_file() || !n.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        if n.starts_with('.') {
            assert!(
                serde_json::from_slice::<Value>(&bytes).is_ok(),
                "{when}: {} is not JSON: {:?}",
                p.display(),
                String::from_utf8_lossy(&bytes)
            );
        } else {
            assert!(
                AuthFile::parse(&p, &bytes).is_ok(),
                "{when}: {} does not parse: {:?}",
                p.display(),
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

fn refresh_token_in(path: &Path) -> Option<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["refresh_token"].as_str().map(str::to_string)
}

// ------------------------------------------------------------------------------------------
// kill -9 during sync (moto)
// ------------------------------------------------------------------------------------------

/// `cliproxy` with the machine's environment, not waited for.
fn machine_command(m: &support_s3::Machine, args: &[&str], log: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).env_clear();
    for (k, v) in m.env().iter() {
        c.env(k, v);
    }
    c.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", testlog::RUST_LOG)
        .current_dir(m.home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    c
}

fn version(email: &str, n: u64) -> Vec<u8> {
    let t = jiff::Timestamp::from_second(1_767_225_600 + n as i64).unwrap();
    format!(
        "{{\"type\":\"claude\",\"email\":\"{email}\",\"access_token\":\"at-sync-{n}\",\"refresh_token\":\"rt-fault-sync-{n:08}\",\"last_refresh\":\"{}\",\"expired\":\"2030-01-01T00:00:00Z\"}}\n",
        t.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_sync_never_loses_or_regresses_a_token() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = support_s3::Machine::new(&moto.endpoint());
    let names: Vec<String> = (0..6)
        .map(|i| format!("claude-k{i}@example.com.json"))
        .collect();
    std::fs::create_dir_all(m.local()).unwrap();
    let mut counter = 0u64;
    // The freshest version written of each name (writers only ever write fresher ones).
    let mut freshest: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        counter += 1;
        let v = version(&format!("k{i}@example.com"), counter);
        common::write_file(&m.local().join(n), &v);
        freshest.insert(n.clone(), v);
    }
    let rounds = iters(10);
    let mut kills = 0;
    for round in 0..rounds {
        let watch = round % 2 == 1;
        let log = testlog::log_path(m.home.path(), "sync-killed");
        let args: &[&str] = if watch {
            &["sync", "watch"]
        } else {
            &["sync", "once"]
        };
        let mut child = machine_command(&m, args, &log).spawn().unwrap();
        // Writers while it runs: a local refresh, the CCS tool, another machine's upload.
        let deadline = tokio::time::Instant::now() + millis(50, if watch { 1500 } else { 600 });
        while tokio::time::Instant::now() < deadline {
            let i = rand::random_range(0..names.len());
            counter += 1;
            let v = version(&format!("k{i}@example.com"), counter);
            match rand::random_range(0..3) {
                0 => common::write_file(&m.local().join(&names[i]), &v),
                1 => common::write_file(&m.ccs().join(&names[i]), &v),
                _ => moto.put(&format!("auths/{}", names[i]), &v).await,
            }
            freshest.insert(names[i].clone(), v);
            tokio::time::sleep(millis(10, 120)).await;
        }
        kill9(&mut child);
        kills += 1;
        let when = format!("after kill {kills} ({})", args.join(" "));
        for d in [m.local(), m.ccs(), m.dotfiles()] {
            assert_all_parse(&d, &when);
        }
        for n in &names {
            for prefix in ["auths/", "backup/auths/"] {
                if let Some(b) = moto.get(&format!("{prefix}{n}")).await {
                    assert!(
                        AuthFile::parse(Path::new(n), &b).is_ok(),
                        "{when}: {prefix}{n} in the bucket does not parse"
                    );
                }
            }
        }
    }
    // Temp files of the killed writers are swept once they are a moment old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success(), "final sync failed");
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success(), "second final sync failed");
    for (n, v) in &freshest {
        for d in [m.local(), m.ccs(), m.dotfiles()] {
            assert_eq!(
                std::fs::read(d.join(n)).ok().as_deref(),
                Some(v.as_slice()),
                "{n} in {}: not the freshest version",
                d.display()
            );
        }
        for prefix in ["auths/", "backup/auths/"] {
            assert_eq!(
                moto.get(&format!("{prefix}{n}")).await.as_deref(),
                Some(v.as_slice()),
                "{prefix}{n}: not the freshest version"
            );
        }
    }
    for d in [m.local(), m.ccs(), m.dotfiles()] {
        assert_eq!(temp_files(&d), Vec::<PathBuf>::new(), "temp files left");
    }
    let state_dir = m.home.path().join(".cli-proxy-api/sync-state");
    for f in std::fs::read_dir(&state_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if f.file_name().to_string_lossy().starts_with("state-") {
            testlog::save("sync-state", &std::fs::read(f.path()).unwrap());
        }
    }
    eprintln!(
        "faults: sync survived {kills} kill -9 ({} once, {} watch) with {counter} versions written concurrently",
        rounds.div_ceil(2),
        rounds / 2
    );
}

// ------------------------------------------------------------------------------------------
// kill -9 during refresh writes (gateway, support_oauth token endpoint, file:// bucket)
// ------------------------------------------------------------------------------------------

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn auth(&self) -> PathBuf {
        self.dir.path().join("cp/objectstore/auths")
    }
    fn ccs(&self) -> PathBuf {
        self.dir.path().join("ccs")
    }
    fn dotfiles(&self) -> PathBuf {
        self.dir.path().join("dotfiles")
    }
    fn bucket(&self) -> PathBuf {
        self.dir.path().join("bucket")
    }
    fn locations(&self) -> Vec<PathBuf> {
        vec![
            self.auth(),
            self.ccs(),
            self.dotfiles(),
            self.bucket().join("auths"),
            self.bucket().join("backup/auths"),
        ]
    }
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), self.dir.path().display().to_string()),
            (
                "OBJECTSTORE_ENDPOINT".into(),
                format!("file://{}", self.bucket().display()),
            ),
            (
                "OBJECTSTORE_LOCAL_PATH".into(),
                self.dir.path().join("cp").display().to_string(),
            ),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("RUST_LOG".into(), testlog::RUST_LOG.into()),
        ]
    }
    fn command(&self, args: &[&str], log: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.dir.path().join("config.yaml"))
            .args(args)
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        c
    }
}

async fn healthy(port: u16, child: &mut Child, log: &Path) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            return;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "gateway exited ({s}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway not healthy");
}

fn position(lineage: &[String], token: &str) -> usize {
    lineage
        .iter()
        .position(|x| x == token)
        .unwrap_or_else(|| panic!("{token} was never issued"))
}

fn claude_file(access: &str, refresh: &str, expired_secs_ago: i64) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let exp = now - jiff::SignedDuration::from_secs(expired_secs_ago);
    serde_json::to_vec(&json!({
        "type": "claude",
        "email": "f@example.com",
        "access_token": access,
        "refresh_token": refresh,
        // As a login writes it (milliseconds): fresher than any refresh before it.
        "last_refresh": cliproxy::auth::file::rfc3339_ms(now),
        "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_refresh_writes_keeps_every_written_token() {
    let auth = support_oauth::AuthServer::start().await;
    // Every token is born expired: each request refreshes (and rotates) once.
    auth.inner.lock().expires_in = 0;
    let si = StandIn::start().await;
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
    };
    let name = "claude-f@example.com.json";
    let port = free_port();
    std::fs::write(
        home.dir.path().join("config.yaml"),
        format!(
            "host: 127.0.0.1\nport: {port}\nclaude:\n  base-url: {}\n  token-url: {}\n\
             sync:\n  poll-interval: 1\n  debounce-ms: 50\n  ccs-dir: {}\n  dotfiles-dir: {}\n",
            si.base_url,
            auth.url("/token"),
            home.ccs().display(),
            home.dotfiles().display()
        ),
    )
    .unwrap();
    let seed = format!("rt-fault-seed-{}", uuid::Uuid::new_v4().simple());
    auth.seed_refresh_token(&seed);
    common::write_file(&home.auth().join(name), &claude_file("at-seed", &seed, 60));
    // Every refresh token in the order it came to exist.
    let mut lineage: Vec<String> = vec![seed];
    let mut issued_seen = 0usize;
    let (mut kills, mut lost_in_window, mut requests_ok) = (0, 0, 0u64);
    let mut durable_floor = 0usize;
    for round in 0..iters(10) {
        let log = testlog::log_path(home.dir.path(), "gateway-killed");
        let mut child = home.command(&["serve"], &log).spawn().unwrap();
        healthy(port, &mut child, &log).await;
        let url = format!("http://127.0.0.1:{port}/v1/messages");
        let client = tokio::spawn(async move {
            let mut ok = 0u64;
            loop {
                let r = reqwest::Client::new()
                    .post(&url)
                    .header("anthropic-version", "2023-06-01")
                    .json(&messages_body(MODEL, false))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(_) => {}
                    Err(_) => return ok,
                }
            }
        });
        tokio::time::sleep(millis(100, 1200)).await;
        kill9(&mut child);
        kills += 1;
        requests_ok += client.await.unwrap();
        let when = format!("after kill {kills}");
        for d in home.locations() {
            assert_all_parse(&d, &when);
        }
        // Tokens issued this round, in order.
        let issued: Vec<String> = auth
            .inner
            .lock()
            .issued
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        lineage.extend(issued[issued_seen..].iter().cloned());
        issued_seen = issued.len();
        let local = refresh_token_in(&home.auth().join(name)).expect("the account file survives");
        let valid = auth.current_refresh_token();
        if valid.as_deref() != Some(local.as_str()) {
            // The only way the file can lag: the kill landed between the token endpoint's
            // answer (which spent the old token) and the atomic write. Then the one token
            // lost is the last one issued, and no location has it.
            let valid = valid.expect("one refresh token is always valid");
            assert_eq!(
                Some(&valid),
                lineage.last(),
                "{when}: an older token was lost"
            );
            let where_: Vec<String> = home
                .locations()
                .iter()
                .map(|d| {
                    let t = refresh_token_in(&d.join(name));
                    format!(
                        "{}={:?}",
                        d.display(),
                        t.map(|t| lineage.iter().position(|x| *x == t))
                    )
                })
                .collect();
            assert_eq!(
                position(&lineage, &local) + 1,
                lineage.len() - 1,
                "{when}: the file lags by more than one refresh (of {}): {where_:?}\n{}",
                lineage.len(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            for d in home.locations() {
                assert_ne!(
                    refresh_token_in(&d.join(name)),
                    Some(valid.clone()),
                    "{when}"
                );
            }
            lost_in_window += 1;
            // The user logs in again (the token nobody saved is of no use to anyone).
            auth.inner
                .lock()
                .refresh_tokens
                .insert(valid.clone(), false);
            let fresh = format!("rt-fault-login-{round}-{}", uuid::Uuid::new_v4().simple());
            auth.seed_refresh_token(&fresh);
            lineage.push(fresh.clone());
            common::write_file(
                &home.auth().join(name),
                &claude_file("at-relogin", &fresh, 60),
            );
        }
        // Nothing regresses: the local token is never older than one written before.
        let now_pos = position(
            &lineage,
            &refresh_token_in(&home.auth().join(name)).unwrap(),
        );
        assert!(
            now_pos >= durable_floor,
            "{when}: the local token went back"
        );
        durable_floor = now_pos;
    }
    // Settle: temp files become sweepable, one sync run spreads the token everywhere.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let log = testlog::log_path(home.dir.path(), "final-sync");
    let st = home.command(&["sync", "once"], &log).status().unwrap();
    assert!(st.success(), "{}", std::fs::read_to_string(&log).unwrap());
    let newest = refresh_token_in(&home.auth().join(name)).unwrap();
    assert_eq!(Some(&newest), auth.current_refresh_token().as_ref());
    for d in home.locations() {
        assert_eq!(
            refresh_token_in(&d.join(name)).as_ref(),
            Some(&newest),
            "{}: not the freshest token",
            d.display()
        );
        assert_eq!(temp_files(&d), Vec::<PathBuf>::new(), "temp files left");
    }
    // And it works: one more start serves a request with a refresh and no invalid_grant.
    let log = testlog::log_path(home.dir.path(), "gateway-final");
    let mut child = home.command(&["serve"], &log).spawn().unwrap();
    healthy(port, &mut child, &log).await;
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&messages_body(MODEL, false))
        .send()
        .await
        .unwrap();
    let status = r.status();
    kill9(&mut child);
    assert_eq!(status, 200, "{}", std::fs::read_to_string(&log).unwrap());
    let reuse = auth
        .requests("/token")
        .len()
        .saturating_sub(auth.inner.lock().issued.len());
    assert_eq!(reuse, 0, "a refresh token was presented twice");
    if let Ok(b) = std::fs::read(home.auth().join(".cliproxy-state.json")) {
        testlog::save("account-state", &b);
    }
    eprintln!(
        "faults: refresh survived {kills} kill -9 over {} rotations ({requests_ok} requests served); \
         {lost_in_window} kill(s) landed between the token answer and the write",
        lineage.len() - 1
    );
}

// ------------------------------------------------------------------------------------------
// kill -9 during login writes
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_login_leaves_a_whole_file_or_none() {
    let auth = support_oauth::AuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let auths = dir.path().join("auths");
    std::fs::create_dir_all(&auths).unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!("auth-dir: {}\n{}", auths.display(), auth.config_yaml()),
    )
    .unwrap();
    let name = "claude-user@example.com.json";
    let (mut written, mut absent) = (0, 0);
    for _ in 0..iters(8) {
        let _ = std::fs::remove_file(auths.join(name));
        let port = free_port().to_string();
        let log = testlog::log_path(dir.path(), "login-killed");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .args(["login", "claude", "--no-browser", "--callback-port", &port])
            .env_clear()
            .env("HOME", dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", testlog::RUST_LOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Keep reading stdout to the end: a closed pipe would kill the login on its next line.
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tx = Some(tx);
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if l.starts_with("http")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(l);
                }
            }
        });
        let url = rx.await.expect("login printed its URL");
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url.trim())
            .send()
            .await
            .unwrap();
        let target = r.headers()["location"].to_str().unwrap().to_string();
        {
            use std::io::Write;
            let stdin = child.stdin.as_mut().unwrap();
            writeln!(stdin, "{target}").unwrap();
        }
        tokio::time::sleep(millis(0, 40)).await;
        kill9(&mut child);
        assert_all_parse(&auths, "after a login kill");
        match std::fs::read(auths.join(name)) {
            Ok(b) => {
                let f = AuthFile::parse(Path::new(name), &b).unwrap();
                let issued = auth.inner.lock().issued.last().cloned().unwrap();
                assert_eq!(f.str_field("refresh_token"), Some(issued.1.as_str()));
                written += 1;
            }
            Err(_) => absent += 1,
        }
    }
    // Anything the killed processes left half-written is gone at the next look.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["auth", "list"])
        .env_clear()
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(temp_files(&auths), Vec::<PathBuf>::new(), "temp files left");
    eprintln!(
        "faults: login survived {} kill -9 ({written} saved whole, {absent} not yet written, 0 partial)",
        written + absent
    );
}

// ------------------------------------------------------------------------------------------
// Upstreams that break streams
// ------------------------------------------------------------------------------------------

/// API-key accounts tried in the order given (fill-first), no waiting retries.
fn entries(list: &[(&str, &str)]) -> String {
    let mut s =
        String::from("request-retry: 0\nrouting:\n  strategy: fill-first\nclaude-api-key:\n");
    for (k, url) in list {
        s.push_str(&format!("  - api-key: {k}\n    base-url: {url}\n"));
    }
    s
}

async fn read_all(r: reqwest::Response) -> String {
    let mut s = String::new();
    let mut body = r.bytes_stream();
    while let Some(c) = body.next().await {
        match c {
            Ok(b) => s.push_str(&String::from_utf8_lossy(&b)),
            Err(e) => {
                s.push_str(&format!("\n<transport error: {e}>"));
                break;
            }
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_reset_before_its_first_byte_moves_to_the_next_account() {
    let fu = FaultyUpstream::start().await;
    fu.set("sk-ant-api03-reset-early", Fault::ResetBeforeHeaders);
    fu.set("sk-ant-api03-reset-headers", Fault::ResetAfterHeaders);
    let si = StandIn::start().await;
    let g = start(
        &entries(&[
            ("sk-ant-api03-reset-early", &fu.base_url),
            ("sk-ant-api03-reset-headers", &fu.base_url),
            ("sk-ant-api03-good", &si.base_url),
        ]),
        &[],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let text = read_all(r).await;
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(!text.contains("event: error"), "{text}");
    assert_eq!(
        fu.keys(),
        vec!["sk-ant-api03-reset-early", "sk-ant-api03-reset-headers"],
        "both broken accounts were tried first"
    );
    assert_eq!(si.requests_to("/v1/messages").len(), 1);
    // Both are cooling now: the next request goes straight to the good one.
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert!(read_all(r).await.contains("event: message_stop"));
    assert_eq!(fu.keys().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_broken_after_its_first_byte_ends_with_an_error_and_is_never_replayed() {
    for fault in [
        Fault::ResetMidBody { deltas: 2 },
        Fault::TruncatedChunked { deltas: 2 },
    ] {
        let fu = FaultyUpstream::start().await;
        fu.set("sk-ant-api03-breaks", fault);
        let si = StandIn::start().await;
        let g = start(
            &entries(&[
                ("sk-ant-api03-breaks", &fu.base_url),
                ("sk-ant-api03-spare", &si.base_url),
            ]),
            &[],
        )
        .await;
        // Anthropic client, same dialect.
        let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
        assert_eq!(r.status(), 200);
        let text = read_all(r).await;
        assert!(
            text.contains("part1"),
            "{fault:?}: what arrived is forwarded: {text}"
        );
        assert!(
            text.contains("event: error") && text.contains("upstream stream interrupted"),
            "{fault:?}: {text}"
        );
        assert!(!text.contains("message_stop"), "{fault:?}: {text}");
        // OpenAI client, translated.
        let r = reqwest::Client::new()
            .post(g.url("/v1/chat/completions"))
            .json(&json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap();
        let text = read_all(r).await;
        assert!(text.contains("part1"), "{fault:?}: {text}");
        assert!(
            text.contains("upstream stream interrupted"),
            "{fault:?}: {text}"
        );
        assert!(
            !text.contains("\"finish_reason\":\"stop\""),
            "{fault:?}: {text}"
        );
        // Bytes already reached the client: a replay elsewhere would duplicate them.
        assert!(
            si.requests_to("/v1/messages").is_empty(),
            "{fault:?}: replayed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_stops_early_is_not_dressed_up_as_complete() {
    let fu = FaultyUpstream::start().await;
    fu.set("sk-ant-api03-short", Fault::EndsWithoutStop { deltas: 2 });
    let g = start(&entries(&[("sk-ant-api03-short", &fu.base_url)]), &[]).await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    let text = read_all(r).await;
    assert!(text.contains("part1"), "{text}");
    assert!(
        !text.contains("message_stop"),
        "passed through as it came: {text}"
    );
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .json(&json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let text = read_all(r).await;
    assert!(
        text.contains("closed the stream before the message completed"),
        "{text}"
    );
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
}

#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A client that asks for a stream and then reads nothing for a while, then very little.
#[cfg(target_os = "linux")]
async fn slow_reader(port: u16, stalled: Duration, reading: Duration) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(&messages_body(MODEL, true)).unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // A small receive buffer, like a client on a slow link.
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         anthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    tokio::time::sleep(stalled).await;
    let mut got = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    let end = tokio::time::Instant::now() + reading;
    while tokio::time::Instant::now() < end {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n as u64,
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    got
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn slow_readers_do_not_make_the_gateway_buffer_their_streams() {
    const CLIENTS: u64 = 4;
    const PER_STREAM: u64 = 1 << 30; // what the upstream would push if nothing held it back
    let fu = FaultyUpstream::start().await;
    fu.set(
        "sk-ant-api03-firehose",
        Fault::Firehose {
            chunk: 16 * 1024,
            max_bytes: PER_STREAM,
        },
    );
    let g = start(&entries(&[("sk-ant-api03-firehose", &fu.base_url)]), &[]).await;
    let pid = g.child.id();
    // Warm up (allocator arenas, both serving threads), then take the baseline.
    for _ in 0..8 {
        let r = reqwest::get(g.url("/healthz")).await.unwrap();
        let _ = r.bytes().await;
    }
    let baseline = rss_kib(pid);
    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(slow_reader(
                g.port,
                Duration::from_secs(3),
                Duration::from_secs(2),
            ))
        })
        .collect();
    let mut peak = baseline;
    let mut samples = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = rss_kib(pid);
        samples.push(r);
        peak = peak.max(r);
    }
    let mut read = 0;
    for r in readers {
        read += r.await.unwrap();
    }
    let pushed = fu.firehose_bytes();
    eprintln!(
        "faults: {CLIENTS} slow readers: RSS baseline {baseline} KiB, peak {peak} KiB; upstream pushed {} MiB, clients read {} MiB",
        pushed >> 20,
        read >> 20
    );
    testlog::save("slow-reader-rss", format!("{samples:?}").as_bytes());
    // Generous bounds, not timings: without backpressure the gateway would hold what the
    // upstream pushed (GiBs); with it, socket buffers cap what leaves the upstream.
    assert!(
        peak - baseline < 64 * 1024,
        "gateway RSS grew by {} KiB while clients did not read",
        peak - baseline
    );
    assert!(
        pushed < CLIENTS * (128 << 20),
        "the upstream pushed {pushed} bytes: the gateway read ahead of its clients"
    );
    // Clients gone: the gateway lets go of the upstream streams too.
    eventually(
        "upstream streams closed after their clients left",
        Duration::from_secs(10),
        async || fu.firehose_cut() == CLIENTS,
    )
    .await;
}

// ------------------------------------------------------------------------------------------
// Error paths never carry a secret
// ------------------------------------------------------------------------------------------

/// Every error body the gateway produces on the way (bad client keys, upstream 401/429/500,
/// a refused refresh, translated errors) is checked here and kept for scripts/scan-secrets.
#[tokio::test(flavor = "multi_thread")]
async fn error_bodies_never_echo_a_key_or_token() {
    let si = StandIn::start().await;
    si.set_behavior(
        "sk-ant-api03-test-secret-401",
        standin::Behavior::unauthorized(),
    );
    si.set_behavior(
        "sk-ant-api03-test-secret-429",
        standin::Behavior::fail(100, 429).with_retry_after("90"),
    );
    si.set_behavior(
        "sk-ant-api03-test-secret-500",
        standin::Behavior::fail(100, 500),
    );
    let refresh = format!("rt-fault-errbody-{}", uuid::Uuid::new_v4().simple());
    let cfg = format!(
        "api-keys: [\"sk-test-secret-client\"]\nrequest-retry: 0\n\
         remote-management:\n  secret-key: \"sk-test-secret-management\"\n\
         claude:\n  base-url: {}\n  token-url: {}\n{}",
        si.base_url,
        si.url("/v1/oauth/token"),
        entries(&[
            ("sk-ant-api03-test-secret-401", &si.base_url),
            ("sk-ant-api03-test-secret-429", &si.base_url),
            ("sk-ant-api03-test-secret-500", &si.base_url),
        ])
        .replace("request-retry: 0\n", "")
    );
    let g = start(
        &cfg,
        &[(
            "claude-e@example.com.json",
            claude_oauth_file("e@example.com", "sk-ant-oat01-test-secret-at", &refresh, -5),
        )],
    )
    .await;
    let c = reqwest::Client::new();
    let msgs = g.url("/v1/messages");
    let chat = g.url("/v1/chat/completions");
    let mut bodies = Vec::new();
    let mut send = async |rb: reqwest::RequestBuilder| {
        let r = rb.send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        bodies.push((status, body));
    };
    let m = messages_body(MODEL, false);
    let s = messages_body(MODEL, true);
    let o = json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}]});
    send(c.post(&msgs).json(&m)).await;
    send(
        c.post(&msgs)
            .header("x-api-key", "sk-test-secret-wrong-client")
            .json(&m),
    )
    .await;
    send(
        c.post(&chat)
            .bearer_auth("sk-test-secret-wrong-client")
            .json(&o),
    )
    .await;
    send(c.get(g.url("/v1/models?key=sk-test-secret-wrong-client"))).await;
    for _ in 0..4 {
        send(
            c.post(&msgs)
                .header("x-api-key", "sk-test-secret-client")
                .json(&m),
        )
        .await;
        send(
            c.post(&msgs)
                .header("x-api-key", "sk-test-secret-client")
                .json(&s),
        )
        .await;
        send(c.post(&chat).bearer_auth("sk-test-secret-client").json(&o)).await;
    }
    send(
        c.get(g.url("/v0/management/config"))
            .bearer_auth("sk-test-secret-wrong-management"),
    )
    .await;
    assert!(bodies.iter().any(|(st, _)| st.is_client_error()));
    assert!(
        bodies
            .iter()
            .any(|(st, _)| st.is_server_error() || *st == 429)
    );
    for (status, body) in &bodies {
        testlog::save("error-body", format!("{status}\n{body}").as_bytes());
        for secret in [
            "sk-test-secret-",
            "test-secret-401",
            "test-secret-429",
            "test-secret-500",
            "sk-ant-oat01-test-secret-at",
            refresh.as_str(),
        ] {
            assert!(
                !body.contains(secret),
                "{status} body carries {secret}: {body}"
            );
        }
    }
    let logs = g.logs();
    for secret in [
        "sk-test-secret-",
        "test-secret-4",
        "test-secret-5",
        refresh.as_str(),
    ] {
        assert!(!logs.contains(secret), "log carries {secret}");
    }
}
