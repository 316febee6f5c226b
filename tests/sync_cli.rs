//! `cliproxy sync watch|status` and `cliproxy auth restore` through the real binary, `file://`
//! buckets, and the conditional-write retry when another writer races a PUT.
#![allow(clippy::unwrap_used)]

mod support_s3;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use support_s3::{Machine, Moto, read, token, wait_until};

const T1: &str = "2026-01-01T00:00:00Z";
const T2: &str = "2026-01-02T00:00:00Z";
const T3: &str = "2026-01-03T00:00:00Z";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Fast triggers for the watcher: config.yaml in the machine's default config location.
fn fast_config(m: &Machine) {
    let dir = m.home.path().join(".cli-proxy-api");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        "sync:\n  poll-interval: 1\n  debounce-ms: 100\n",
    )
    .unwrap();
}

fn spawn(m: &Machine, args: &[&str]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cliproxy"));
    c.args(args).env_clear();
    for (k, v) in m.env().iter() {
        c.env(k, v);
    }
    c.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "cliproxy=debug,info")
        .current_dir(m.home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// SIGTERM (what launchd and systemd send), then the exit status and stdout.
fn terminate(child: Child) -> (i32, String) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_watch_carries_changes_both_ways_and_stops_cleanly_on_sigterm() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    fast_config(&m);
    std::fs::create_dir_all(m.local()).unwrap();
    let child = spawn(&m, &["sync", "watch"]);
    // A login lands in the local folder: it reaches the bucket, its backup and CCS.
    let a = token("a@e.com", "a1", T1);
    std::fs::write(m.local().join("claude-a.json"), &a).unwrap();
    let mut ok = false;
    for _ in 0..200 {
        if moto.get("auths/claude-a.json").await.as_ref() == Some(&a)
            && moto.get("backup/auths/claude-a.json").await.as_ref() == Some(&a)
            && read(&m.ccs().join("claude-a.json")).as_ref() == Some(&a)
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a local change did not reach the bucket and CCS");
    // The CCS tool refreshes it: the local folder follows.
    let a2 = token("a@e.com", "a2", T2);
    std::fs::write(m.ccs().join("claude-a.json"), &a2).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || read(
            &m.local().join("claude-a.json")
        )
        .as_ref()
            == Some(&a2))
        .await,
        "a CCS change did not reach the local folder"
    );
    // Another machine uploads a new account: the periodic pull brings it.
    let b = token("b@e.com", "b1", T1);
    moto.put("auths/claude-b.json", &b).await;
    assert!(
        wait_until(Duration::from_secs(10), || read(
            &m.local().join("claude-b.json")
        )
        .as_ref()
            == Some(&b))
        .await,
        "another machine's upload was not pulled"
    );
    let (code, out) = terminate(child);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("watching"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_status_shows_every_location_and_what_is_pending_without_changing_anything() {
    let mut moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    std::fs::create_dir_all(m.local()).unwrap();
    std::fs::write(m.local().join("claude-a.json"), token("a@e.com", "a1", T1)).unwrap();
    std::fs::write(m.local().join("claude-b.json"), token("b@e.com", "b1", T1)).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());

    let out = m.cmd(&["sync", "status"]);
    assert!(out.status.success());
    let s = stdout(&out);
    for loc in ["local", "primary", "backup", "ccs", "dotfiles", "config"] {
        assert!(
            s.lines()
                .any(|l| l.trim_start().starts_with(loc) && l.contains("reachable")),
            "{loc} missing: {s}"
        );
    }
    assert!(
        s.contains("claude-a.json  local=ok primary=ok backup=ok ccs=ok dotfiles=ok"),
        "{s}"
    );
    assert!(s.contains("0 file(s) pending"), "{s}");

    // A refresh lands locally: status names it pending and the copies that differ.
    std::fs::write(m.local().join("claude-a.json"), token("a@e.com", "a2", T2)).unwrap();
    let state_file = std::fs::read_dir(m.home.path().join(".cli-proxy-api/sync-state"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("state-"))
        .unwrap()
        .path();
    let state_before = std::fs::read(&state_file).unwrap();
    let s = stdout(&m.cmd(&["sync", "status"]));
    let line = s.lines().find(|l| l.contains("claude-a.json")).unwrap();
    assert!(
        line.contains("local=ok") && line.contains("primary=differs("),
        "{line}"
    );
    assert!(
        line.contains("newest: local") && line.contains("(pending)"),
        "{line}"
    );
    assert!(s.contains("1 file(s) pending"), "{s}");
    // Looking changes nothing.
    assert_eq!(std::fs::read(&state_file).unwrap(), state_before);
    assert_eq!(
        moto.get("auths/claude-a.json").await,
        Some(token("a@e.com", "a1", T1))
    );

    // The bucket goes away: status says so and still answers.
    moto.kill();
    let out = m.cmd(&["sync", "status"]);
    assert!(out.status.success());
    let s = stdout(&out);
    let primary = s
        .lines()
        .find(|l| l.trim_start().starts_with("primary"))
        .unwrap();
    assert!(primary.contains("UNREACHABLE"), "{primary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_restore_from_backup_from_a_conflict_copy_and_by_default() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    std::fs::create_dir_all(m.local()).unwrap();
    let name = "claude-r.json";
    let v1 = token("r@e.com", "r1", T1);
    let v2 = token("r@e.com", "r2", T2);
    let v3 = token("r@e.com", "r3", T3);
    std::fs::write(m.local().join(name), &v2).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());

    // --from backup: an older copy in the backup prefix becomes current everywhere, and stays.
    moto.put(&format!("backup/auths/{name}"), &v1).await;
    let out = m.cmd(&["auth", "restore", name, "--from", "backup"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.local().join(name)), Some(v1.clone()));
    assert_eq!(read(&m.ccs().join(name)), Some(v1.clone()));
    assert_eq!(moto.get(&format!("auths/{name}")).await, Some(v1.clone()));

    // --from conflict: two machines changed it differently; the freshest won, the other was
    // kept under conflicts/ and can be brought back.
    std::fs::write(m.local().join(name), &v2).unwrap();
    moto.put(&format!("auths/{name}"), &v3).await;
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(
        read(&m.local().join(name)),
        Some(v3.clone()),
        "freshest wins"
    );
    let conflicts = m.home.path().join(".cli-proxy-api/sync-state/conflicts");
    let kept: Vec<_> = std::fs::read_dir(&conflicts)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(kept.contains(&v2), "the losing version is kept");
    let out = m.cmd(&["auth", "restore", name, "--from", "conflict"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(read(&m.local().join(name)), Some(v2.clone()));
    assert_eq!(moto.get(&format!("auths/{name}")).await, Some(v2.clone()));

    // No --from: the backup first. After `auth remove` the backup still has it.
    let out = m.cmd(&["auth", "remove", name]);
    assert!(out.status.success());
    assert!(read(&m.local().join(name)).is_none());
    let out = m.cmd(&["auth", "restore", name]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("from backup"), "{}", stdout(&out));
    assert_eq!(read(&m.local().join(name)), Some(v2.clone()));
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.local().join(name)), Some(v2), "not removed again");
    assert!(
        moto.get(&format!("config/tombstones/{name}"))
            .await
            .is_none()
    );

    // Nothing to restore from: a clear error naming the file, exit 1.
    let out = m.cmd(&["auth", "restore", "claude-never.json", "--from", "backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("claude-never.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_bucket_syncs_backs_up_removes_and_restores_like_s3() {
    let bucket = tempfile::tempdir().unwrap();
    let endpoint = format!("file://{}", bucket.path().display());
    let m = Machine::new(&endpoint);
    let other = Machine::new(&endpoint);
    std::fs::create_dir_all(m.local()).unwrap();
    let name = "claude-f.json";
    let v1 = token("f@e.com", "f1", T1);
    std::fs::write(m.local().join(name), &v1).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    let b = bucket.path();
    assert_eq!(read(&b.join("auths").join(name)), Some(v1.clone()));
    assert_eq!(read(&b.join("backup/auths").join(name)), Some(v1.clone()));
    // A second machine sharing the folder gets it, and its refresh comes back.
    assert!(other.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&other.local().join(name)), Some(v1.clone()));
    let v2 = token("f@e.com", "f2", T2);
    std::fs::write(other.local().join(name), &v2).unwrap();
    assert!(other.cmd(&["sync", "once"]).status.success());
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.local().join(name)), Some(v2.clone()));
    // Removal: a tombstone in config/, gone everywhere but the backup, on both machines.
    assert!(m.cmd(&["auth", "remove", name]).status.success());
    assert!(b.join("config/tombstones").join(name).exists());
    assert!(other.cmd(&["sync", "once"]).status.success());
    assert!(read(&other.local().join(name)).is_none());
    assert!(read(&b.join("auths").join(name)).is_none());
    assert_eq!(read(&b.join("backup/auths").join(name)), Some(v2.clone()));
    // And back from the backup.
    let out = other.cmd(&["auth", "restore", name, "--from", "backup"]);
    assert!(out.status.success());
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.local().join(name)), Some(v2));
    // Every file written into the folder bucket is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(b.join("auths").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

// ------------------------------------------------------------------------------------------
// A writer racing the engine's PUT: moto answers the stale If-Match with 412.
// ------------------------------------------------------------------------------------------

struct Race {
    moto_url: String,
    moto: Arc<Moto>,
    /// The other machine's write, made just before the first conditional PUT of this key.
    race_key: String,
    race_body: Vec<u8>,
    raced: AtomicBool,
    /// (method, path, status) of every request passed on.
    seen: Mutex<Vec<(String, String, u16)>>,
}

async fn forward(
    axum::extract::State(r): axum::extract::State<Arc<Race>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let conditional = parts.headers.contains_key("if-match");
    if parts.method == http::Method::PUT
        && conditional
        && parts.uri.path().ends_with(&r.race_key)
        && !r.raced.swap(true, Ordering::SeqCst)
    {
        let key = parts
            .uri
            .path()
            .trim_start_matches(&format!("/{}/", support_s3::BUCKET))
            .to_string();
        r.moto.put(&key, &r.race_body).await;
    }
    let mut rb =
        reqwest::Client::new().request(parts.method.clone(), format!("{}{}", r.moto_url, path));
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    let resp = rb.body(body).send().await.unwrap();
    let status = resp.status();
    r.seen
        .lock()
        .push((parts.method.to_string(), path, status.as_u16()));
    let mut out = axum::response::Response::builder().status(status);
    for (k, v) in resp.headers() {
        if k != http::header::TRANSFER_ENCODING && k != http::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    out.body(axum::body::Body::from(resp.bytes().await.unwrap()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_that_loses_a_race_gets_412_rereads_and_keeps_the_freshest() {
    let moto = Arc::new(require_moto!());
    moto.create_bucket().await;
    let name = "claude-race.json";
    let v1 = token("race@e.com", "v1", T1);
    // This machine refreshes (v3); another machine's write (v2, older) lands between this
    // machine's read and its conditional PUT.
    let v2 = token("race@e.com", "v2", T2);
    let v3 = token("race@e.com", "v3", T3);
    let race = Arc::new(Race {
        moto_url: moto.endpoint(),
        moto: moto.clone(),
        race_key: format!("/auths/{name}"),
        race_body: v2.clone(),
        raced: AtomicBool::new(true), // armed below, after the first sync
        seen: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(race.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // moto itself: a stale If-Match is refused with 412.
    moto.put(&format!("auths/{name}"), &v1).await;
    let sdk = cliproxy::store::s3::client(
        &moto.endpoint(),
        "us-east-1",
        "testing-access",
        "testing-secret",
        cliproxy::store::s3::Timeouts::BACKGROUND,
    );
    let stale = sdk
        .put_object()
        .bucket(support_s3::BUCKET)
        .key(format!("auths/{name}"))
        .if_match("\"0123456789abcdef0123456789abcdef\"")
        .body(v3.clone().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        stale.raw_response().map(|r| r.status().as_u16()),
        Some(412),
        "moto honours If-Match"
    );

    let m = Machine::new(&proxy_url);
    std::fs::create_dir_all(m.local()).unwrap();
    std::fs::write(m.local().join(name), &v1).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    // Arm the race, then refresh locally.
    race.raced.store(false, Ordering::SeqCst);
    std::fs::write(m.local().join(name), &v3).unwrap();
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(s.contains("changed meanwhile; re-reading"), "{s}");
    let puts: Vec<u16> = race
        .seen
        .lock()
        .iter()
        .filter(|(meth, p, _)| {
            meth == "PUT" && p.contains(&format!("/auths/{name}")) && !p.contains("backup")
        })
        .map(|(_, _, st)| *st)
        .collect();
    assert_eq!(
        puts.first(),
        Some(&412),
        "the raced PUT was refused: {puts:?}"
    );
    assert_eq!(
        puts.last(),
        Some(&200),
        "and retried after re-reading: {puts:?}"
    );
    // The freshest token won everywhere; the racing version is kept, not lost.
    assert_eq!(moto.get(&format!("auths/{name}")).await, Some(v3.clone()));
    assert_eq!(
        moto.get(&format!("backup/auths/{name}")).await,
        Some(v3.clone())
    );
    assert_eq!(read(&m.local().join(name)), Some(v3));
    let conflicts = m.home.path().join(".cli-proxy-api/sync-state/conflicts");
    let kept: Vec<Vec<u8>> = std::fs::read_dir(&conflicts)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(
        kept.contains(&v2),
        "the racing write is kept as a conflict copy"
    );
}
