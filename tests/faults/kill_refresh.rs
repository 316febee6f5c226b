//! kill -9 while the gateway refreshes a token on every request.

use super::*;

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
             sync:\n  poll-interval: 1\n  debounce-ms: 50\n  ccs-dir: {}\n  dotfiles-dir: {}\n  dotfiles:\n    plaintext: true\n",
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
