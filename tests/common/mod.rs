//! Runs the real `cliproxy` binary on loopback for integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod testlog;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_cliproxy");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gateway process with its own HOME, config and auth folder.
pub struct Gateway {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub log: PathBuf,
}

impl Gateway {
    pub fn home(&self) -> &Path {
        self.dir.path()
    }
    pub fn auth_dir(&self) -> PathBuf {
        self.dir.path().join("auths")
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn write_auth(&self, name: &str, json: &serde_json::Value) {
        write_file(
            &self.auth_dir().join(name),
            &serde_json::to_vec(json).unwrap(),
        );
    }
    pub fn read_auth(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.auth_dir().join(name)).unwrap()).unwrap()
    }
    /// Rewrites config.yaml (the gateway reloads it).
    pub fn write_config(&self, body: &str) {
        write_file(
            &self.config_path(),
            config_text(self.port, &self.auth_dir(), body).as_bytes(),
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config_text(port: u16, auth_dir: &Path, body: &str) -> String {
    format!(
        "host: 127.0.0.1\nport: {port}\nauth-dir: {}\n{body}\n",
        auth_dir.display()
    )
}

/// Starts `cliproxy serve` with `config_body` appended to host/port/auth-dir lines and
/// `auth_files` placed in the auth folder first.
pub async fn start(config_body: &str, auth_files: &[(&str, serde_json::Value)]) -> Gateway {
    start_with_env(config_body, auth_files, &[]).await
}

pub async fn start_with_env(
    config_body: &str,
    auth_files: &[(&str, serde_json::Value)],
    env: &[(&str, &str)],
) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let auth = dir.path().join("auths");
    std::fs::create_dir_all(&auth).unwrap();
    for (name, v) in auth_files {
        write_file(&auth.join(name), &serde_json::to_vec(v).unwrap());
    }
    let cfg = dir.path().join("config.yaml");
    write_file(&cfg, config_text(port, &auth, config_body).as_bytes());
    let log = testlog::log_path(dir.path(), "gateway");
    let logf = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--config")
        .arg(&cfg)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", testlog::RUST_LOG)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let g = Gateway {
        child,
        port,
        base: format!("http://127.0.0.1:{port}"),
        dir,
        log,
    };
    wait_healthy(&g).await;
    g
}

pub async fn wait_healthy(g: &Gateway) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = client.get(g.url("/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not become healthy; log:\n{}",
            g.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `f` until it returns true (for hot reload and background work).
pub async fn eventually(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub fn claude_oauth_file(
    email: &str,
    access: &str,
    refresh: &str,
    expires_in_secs: i64,
) -> serde_json::Value {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(expires_in_secs);
    serde_json::json!({
        "type": "claude",
        "id_token": "",
        "access_token": access,
        "refresh_token": refresh,
        "last_refresh": "2026-01-01T00:00:00Z",
        "email": email,
        "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "custom_field": {"kept": true},
    })
}

pub fn messages_body(model: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "max_tokens": 10,
        "stream": stream,
        "messages": [{"role": "user", "content": "test"}],
    })
}

pub async fn post_messages(
    g: &Gateway,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
}

/// Runs `cliproxy login <provider> --no-browser` with `config` (the authorization
/// server's endpoints), follows the printed URL as the browser would and waits for the
/// login to end. Returns the home folder (keep it alive), its auth folder and the
/// login's output (stderr captured).
pub async fn run_browser_login(
    provider: &str,
    config: &str,
) -> (tempfile::TempDir, PathBuf, std::process::Output) {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let auth = home.path().join("auths");
    std::fs::create_dir_all(&auth).unwrap();
    let cfg = home.path().join("config.yaml");
    std::fs::write(&cfg, format!("auth-dir: {}\n{config}", auth.display())).unwrap();
    let port = free_port().to_string();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["login", provider, "--no-browser", "--callback-port", &port])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining stdout after the URL: a closed pipe would fail the login's later prints.
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let url = loop {
        let l = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        if l.starts_with("http") {
            break l.trim().to_string();
        }
    };
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    (home, auth, out)
}
