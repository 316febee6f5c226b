//! Test support: a real S3-compatible server (moto) on loopback, and sync fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cliproxy::config::EnvMap;
use cliproxy::config::sync::{Resolved, SyncConfig, resolve};
use cliproxy::sync::engine::Engine;

// The same file as common::testlog, for test crates that use this module without `common`.
#[allow(clippy::duplicate_mod)]
#[path = "../common/testlog.rs"]
mod testlog;

pub const BUCKET: &str = "cliproxyapi";

/// Finds moto_server: `MOTO_SERVER`, `.venv/bin/moto_server`, then PATH.
pub fn moto_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MOTO_SERVER")
        && !p.is_empty()
        && Path::new(&p).exists()
    {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// Starts moto, or: under CI (`CI` set) fails the test, since a suite that did not run must
/// never pass there; elsewhere skips loudly (recorded for scripts/test's summary).
#[macro_export]
macro_rules! require_moto {
    () => {
        match $crate::support_s3::Moto::start() {
            Some(m) => m,
            None => {
                $crate::support_s3::missing_tool(
                    "moto_server",
                    "set MOTO_SERVER, or `python3 -m venv .venv && .venv/bin/pip install 'moto[server]==5.2.5'`",
                );
                return;
            }
        }
    };
}

/// Whether this run is CI, where a missing tool is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A test cannot run because `tool` is missing: panics under CI; otherwise prints a banner
/// and appends a line to the skip list that scripts/test prints at the end (test output of
/// passing tests is hidden, so a banner alone would go unseen).
pub fn missing_tool(tool: &str, hint: &str) {
    let test = std::env::var("NEXTEST_TEST_NAME")
        .ok()
        .or_else(|| std::thread::current().name().map(str::to_string))
        .unwrap_or_else(|| "a test".into());
    assert!(
        !in_ci(),
        "{tool} not found and CI is set: this suite must run in CI ({hint})"
    );
    eprintln!("\n!!!!! SKIPPED {test}: {tool} not found ({hint}) !!!!!\n");
    let list = std::env::var_os("CLIPROXY_TEST_SKIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt"));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
    {
        use std::io::Write;
        let _ = writeln!(f, "{test}: {tool} not found ({hint})");
    }
}

pub struct Moto {
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let exe = moto_path()?;
        let port = free_port();
        let mut m = Moto { port, child: None };
        m.spawn(&exe);
        Some(m)
    }

    fn spawn(&mut self, exe: &Path) {
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not start on port {}", self.port);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn create_bucket(&self) {
        // Region us-east-1 (no LocationConstraint): moto refuses `auto` there.
        let r = reqwest::Client::new()
            .put(format!("{}/{BUCKET}", self.endpoint()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        let exe = moto_path().unwrap();
        self.spawn(&exe);
    }

    fn sdk(&self) -> aws_sdk_s3::Client {
        cliproxy::store::s3::client(
            &self.endpoint(),
            "us-east-1",
            "testing-access",
            "testing-secret",
            cliproxy::store::s3::Timeouts::BACKGROUND,
        )
    }

    /// GET an object's bytes.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let r = self
            .sdk()
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(r.body.collect().await.ok()?.into_bytes().to_vec())
    }

    pub async fn put(&self, key: &str, body: &[u8]) {
        self.sdk()
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    }

    pub async fn delete(&self, key: &str) {
        self.sdk()
            .delete_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One machine: a HOME with the seed's layout.
pub struct Machine {
    pub home: tempfile::TempDir,
    pub endpoint: String,
}

impl Machine {
    pub fn new(endpoint: &str) -> Machine {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".ccs/cliproxy/auth")).unwrap();
        std::fs::create_dir_all(home.path().join("dotfiles/objectstore/auths")).unwrap();
        Machine {
            home,
            endpoint: endpoint.to_string(),
        }
    }

    pub fn env(&self) -> EnvMap {
        EnvMap::from_pairs([
            ("HOME", self.home.path().to_str().unwrap()),
            ("OBJECTSTORE_ENDPOINT", self.endpoint.as_str()),
            ("OBJECTSTORE_BUCKET", BUCKET),
            ("OBJECTSTORE_ACCESS_KEY", "testing-access"),
            ("OBJECTSTORE_SECRET_KEY", "testing-secret"),
            ("CLIPROXY_MACHINE", "test"),
            // These tests read the dotfiles copy as plain JSON: opted out of encryption
            // (tests/sync_dotfiles_age.rs covers the encrypted copy).
            ("CLIPROXY_SYNC__DOTFILES__PLAINTEXT", "true"),
        ])
    }

    pub fn local(&self) -> PathBuf {
        self.home.path().join(".cli-proxy-api/objectstore/auths")
    }
    pub fn ccs(&self) -> PathBuf {
        self.home.path().join(".ccs/cliproxy/auth")
    }
    pub fn dotfiles(&self) -> PathBuf {
        self.home.path().join("dotfiles/objectstore/auths")
    }

    pub fn resolved(&self, debounce_ms: u64, poll_secs: u64) -> Resolved {
        let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
            "debounce-ms": debounce_ms,
            "poll-interval": poll_secs,
            "dotfiles": {"plaintext": true},
        }))
        .unwrap();
        resolve(&cfg, &self.env(), &self.local(), None).unwrap()
    }

    pub fn engine(&self) -> Arc<Engine> {
        Arc::new(Engine::new(self.resolved(100, 60)).unwrap())
    }

    /// `cliproxy` with this machine's HOME and environment.
    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cliproxy"));
        c.args(args).env_clear();
        for (k, v) in self.env().iter() {
            c.env(k, v);
        }
        c.env("PATH", std::env::var("PATH").unwrap_or_default());
        c.env("RUST_LOG", testlog::RUST_LOG);
        c.current_dir(self.home.path());
        let out = c.output().unwrap();
        testlog::save("cmd-stdout", &out.stdout);
        testlog::save("cmd-stderr", &out.stderr);
        eprintln!(
            "$ cliproxy {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// An auth file with a given refresh time.
pub fn token(email: &str, access: &str, refresh: &str) -> Vec<u8> {
    format!(
        "{{\"type\":\"claude\",\"email\":\"{email}\",\"access_token\":\"{access}\",\"refresh_token\":\"rt-{access}\",\"last_refresh\":\"{refresh}\",\"expired\":\"2030-01-01T00:00:00Z\"}}\n"
    )
    .into_bytes()
}

pub fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

pub async fn wait_until<F: FnMut() -> bool>(timeout: Duration, mut f: F) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
