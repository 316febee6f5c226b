//! `cliproxy login <provider>` end to end through the real binary against a local
//! authorization server: the test plays the browser.
#![allow(clippy::unwrap_used)]

mod common;
mod support_oauth;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{BIN, free_port};
use support_oauth::{AuthServer, s256};

struct Login {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::sync::Arc<parking_lot::Mutex<String>>,
}

impl Login {
    /// Waits for a stdout line matching `pred`.
    fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no matching output; stdout so far: {:?}; stderr: {}",
                    self.seen,
                    self.stderr.lock()
                ),
            }
        }
    }

    fn url(&mut self) -> url::Url {
        let l = self.wait_line(|l| l.starts_with("http"));
        url::Url::parse(l.trim()).unwrap()
    }

    fn finish(mut self) -> (i32, String, String) {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(std::time::Instant::now() < deadline, "login did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        (
            status.code().unwrap_or(-1),
            self.seen.join("\n"),
            self.stderr.lock().clone(),
        )
    }
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(server: &AuthServer) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("auths");
        std::fs::create_dir_all(&auth).unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            format!("auth-dir: {}\n{}", auth.display(), server.config_yaml()),
        )
        .unwrap();
        Home { dir }
    }
    fn auth_dir(&self) -> PathBuf {
        self.dir.path().join("auths")
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.auth_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }
    fn read(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.auth_dir().join(name)).unwrap()).unwrap()
    }

    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Login {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.dir.path().join("config.yaml"))
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", common::testlog::RUST_LOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let err = std::sync::Arc::new(parking_lot::Mutex::new(String::new()));
        let err_c = err.clone();
        let log_path = common::testlog::log_path(self.dir.path(), "login");
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(log_path).ok();
            for l in BufReader::new(stderr).lines() {
                let Ok(l) = l else { break };
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{l}");
                }
                let mut e = err_c.lock();
                e.push_str(&l);
                e.push('\n');
            }
        });
        Login {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            seen: Vec::new(),
            stderr: err,
        }
    }
}

fn q(u: &url::Url, k: &str) -> String {
    u.query_pairs()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The browser: follows the authorize URL; the server's 302 lands on the callback.
async fn browse(u: &url::Url) -> reqwest::Response {
    reqwest::Client::new().get(u.as_str()).send().await.unwrap()
}

/// Where the authorization server redirects to (without following it).
async fn redirect_target(u: &url::Url) -> String {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c.get(u.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    r.headers()["location"].to_str().unwrap().to_string()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A fake platform opener that records the URL it was asked to open.
fn fake_opener(dir: &Path) -> (String, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = dir.join("opened.txt");
    let name = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let script = bin.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
            opened.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (path, opened)
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_browser_flow_opens_the_browser_and_saves_the_file() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port();
    let (path, opened) = fake_opener(home.dir.path());
    let port_s = port.to_string();
    let mut login = home.spawn(
        &["login", "claude", "--callback-port", &port_s],
        &[("PATH", &path)],
    );
    let printed = login.url();
    // The platform opener was given the same URL.
    let mut tries = 0;
    while !opened.exists() {
        tries += 1;
        assert!(tries < 200, "opener was not run");
        std::thread::sleep(Duration::from_millis(25));
    }
    let u = url::Url::parse(&std::fs::read_to_string(&opened).unwrap()).unwrap();
    assert_eq!(u, printed);
    assert_eq!(u.path(), "/authorize");
    assert_eq!(q(&u, "client_id"), "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(q(&u, "code"), "true");
    assert_eq!(q(&u, "code_challenge_method"), "S256");
    assert_eq!(
        q(&u, "redirect_uri"),
        format!("http://localhost:{port}/callback")
    );
    assert!(q(&u, "scope").contains("user:inference"));
    assert!(q(&u, "state").len() >= 20);
    let challenge = q(&u, "code_challenge");
    let r = browse(&u).await;
    assert_eq!(r.status(), 200);
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");

    let tr = server.token_requests("authorization_code");
    assert_eq!(tr.len(), 1);
    let p = &tr[0].params;
    assert!(tr[0].content_type.contains("json"));
    assert_eq!(s256(&p["code_verifier"]), challenge);
    assert_eq!(p["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(
        p["redirect_uri"],
        format!("http://localhost:{port}/callback")
    );
    assert_eq!(p["state"], q(&u, "state"));

    assert_eq!(home.files(), vec!["claude-user@example.com.json"]);
    let f = home.read("claude-user@example.com.json");
    let (access, refresh) = server.inner.lock().issued[0].clone();
    assert_eq!(f["type"], "claude");
    assert_eq!(f["email"], "user@example.com");
    assert_eq!(f["access_token"], access);
    assert_eq!(f["refresh_token"], refresh);
    assert!(f["id_token"].is_string());
    let exp: jiff::Timestamp = f["expired"].as_str().unwrap().parse().unwrap();
    let lr: jiff::Timestamp = f["last_refresh"].as_str().unwrap().parse().unwrap();
    let d = exp.duration_since(lr).as_secs();
    assert!((3590..=3610).contains(&d), "{d}");
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id_token",
            "access_token",
            "refresh_token",
            "last_refresh",
            "email",
            "type",
            "expired"
        ]
    );
    #[cfg(unix)]
    assert_eq!(
        mode(&home.auth_dir().join("claude-user@example.com.json")),
        0o600
    );
    assert!(!out.contains(&access) && !err.contains(&access) && !err.contains(&refresh));

    // Logging in again to the same account updates that file (unknown fields kept).
    let mut v = f.clone();
    v["note"] = serde_json::json!("mine");
    std::fs::write(
        home.auth_dir().join("claude-user@example.com.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let mut login = home.spawn(
        &[
            "login",
            "claude",
            "--no-browser",
            "--callback-port",
            &port_s,
        ],
        &[],
    );
    let u = login.url();
    assert_eq!(browse(&u).await.status(), 200);
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("updated the existing account"), "{out}");
    assert_eq!(home.files(), vec!["claude-user@example.com.json"]);
    let f = home.read("claude-user@example.com.json");
    assert_eq!(f["note"], "mine");
    assert_eq!(f["access_token"], server.inner.lock().issued[1].0);
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_browser_flow_uses_form_encoding_and_id_token_claims() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &["login", "codex", "--no-browser", "--callback-port", &port],
        &[],
    );
    let u = login.url();
    assert_eq!(q(&u, "client_id"), "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(q(&u, "scope"), "openid email profile offline_access");
    assert_eq!(q(&u, "prompt"), "login");
    assert_eq!(q(&u, "id_token_add_organizations"), "true");
    assert_eq!(q(&u, "codex_cli_simplified_flow"), "true");
    assert_eq!(
        q(&u, "redirect_uri"),
        format!("http://localhost:{port}/auth/callback")
    );
    let challenge = q(&u, "code_challenge");
    assert_eq!(browse(&u).await.status(), 200);
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    let tr = server.token_requests("authorization_code");
    assert!(tr[0].content_type.contains("x-www-form-urlencoded"));
    assert_eq!(s256(&tr[0].params["code_verifier"]), challenge);
    assert_eq!(home.files(), vec!["codex-user@example.com-plus.json"]);
    let f = home.read("codex-user@example.com-plus.json");
    assert_eq!(f["type"], "codex");
    assert_eq!(f["account_id"], "acct-123");
    assert_eq!(f["email"], "user@example.com");
    assert!(f["id_token"].as_str().unwrap().contains('.'));
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id_token",
            "access_token",
            "refresh_token",
            "account_id",
            "last_refresh",
            "email",
            "type",
            "expired"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_flow_saves_token_object_and_project() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &["login", "gemini", "--no-browser", "--callback-port", &port],
        &[],
    );
    let u = login.url();
    assert_eq!(
        q(&u, "client_id"),
        "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
    );
    assert_eq!(q(&u, "access_type"), "offline");
    assert_eq!(q(&u, "prompt"), "consent");
    assert_eq!(q(&u, "code_challenge"), "", "Google flows use no PKCE");
    assert_eq!(
        q(&u, "redirect_uri"),
        format!("http://localhost:{port}/oauth2callback")
    );
    assert_eq!(browse(&u).await.status(), 200);
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    let tr = server.token_requests("authorization_code");
    assert_eq!(
        tr[0].params["client_secret"],
        "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"
    );
    assert!(tr[0].content_type.contains("x-www-form-urlencoded"));
    assert_eq!(home.files(), vec!["user@example.com-proj-42.json"]);
    let f = home.read("user@example.com-proj-42.json");
    assert_eq!(f["type"], "gemini");
    assert_eq!(f["project_id"], "proj-42");
    assert_eq!(f["token"]["access_token"], server.inner.lock().issued[0].0);
    assert_eq!(f["token"]["refresh_token"], server.inner.lock().issued[0].1);
    assert!(
        f["token"]["expiry"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
    assert_eq!(f["token"]["token_uri"], server.url("/token"));
    let lca = server.requests("/v1internal:loadCodeAssist");
    assert!(lca[0].authorization.starts_with("Bearer at-"));
}

#[tokio::test(flavor = "multi_thread")]
async fn antigravity_flow_saves_timestamp_and_expiry() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &[
            "login",
            "antigravity",
            "--no-browser",
            "--callback-port",
            &port,
        ],
        &[],
    );
    let u = login.url();
    assert!(q(&u, "scope").contains("experimentsandconfigs"));
    assert_eq!(
        q(&u, "redirect_uri"),
        format!("http://localhost:{port}/oauth-callback")
    );
    assert_eq!(browse(&u).await.status(), 200);
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    let tr = server.token_requests("authorization_code");
    assert_eq!(
        tr[0].params["client_secret"],
        "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"
    );
    assert_eq!(home.files(), vec!["antigravity-user@example.com.json"]);
    let f = home.read("antigravity-user@example.com.json");
    assert_eq!(f["type"], "antigravity");
    assert_eq!(f["expires_in"], 3600);
    assert_eq!(f["project_id"], "proj-42");
    let ts = f["timestamp"].as_i64().unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    assert!((now - ts).abs() < 60_000);
    assert!(
        f["expired"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn paste_flow_with_the_old_flags_reads_the_redirect_url_on_stdin() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &[
            "--claude-login",
            "--no-browser",
            "--oauth-callback-port",
            &port,
        ],
        &[],
    );
    let u = login.url();
    login.wait_line(|l| l.contains("paste it here"));
    let target = redirect_target(&u).await;
    assert!(target.starts_with(&format!("http://localhost:{port}/callback?code=")));
    let stdin = login.stdin.as_mut().unwrap();
    writeln!(stdin, "not a url").unwrap();
    writeln!(stdin, "{target}").unwrap();
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("not the redirect URL"), "{err}");
    assert_eq!(home.files(), vec!["claude-user@example.com.json"]);
    let tr = server.token_requests("authorization_code");
    assert_eq!(
        s256(&tr[0].params["code_verifier"]),
        q(&u, "code_challenge")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_device_flow_polls_until_approved() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let mut login = home.spawn(&["login", "codex", "--device"], &[]);
    login.wait_line(|l| l.contains("/codex/device"));
    login.wait_line(|l| l.contains("ABCD-EFGH"));
    let (code, out, err) = login.finish();
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        server.requests("/deviceauth/token").len(),
        3,
        "two pending polls, then approval"
    );
    let tr = server.token_requests("authorization_code");
    assert_eq!(
        tr[0].params["redirect_uri"],
        server.url("/deviceauth/callback")
    );
    assert_eq!(home.files(), vec!["codex-user@example.com-plus.json"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_with_the_wrong_state_is_rejected() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port();
    let port_s = port.to_string();
    let mut login = home.spawn(
        &[
            "login",
            "claude",
            "--no-browser",
            "--callback-port",
            &port_s,
        ],
        &[],
    );
    let u = login.url();
    let target = redirect_target(&u).await;
    let mut forged = url::Url::parse(&target).unwrap();
    let code = q(&forged, "code");
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state");
    forged.set_host(Some("127.0.0.1")).unwrap();
    let r = reqwest::get(forged.as_str()).await.unwrap();
    assert_eq!(r.status(), 400);
    let (code, out, err) = login.finish();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("state does not match"), "{err}");
    assert!(home.files().is_empty());
    assert!(server.token_requests("authorization_code").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_callback_is_reported() {
    let server = AuthServer::start().await;
    server.inner.lock().authorize_error = Some(("access_denied".into(), "The user said no".into()));
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &["login", "gemini", "--no-browser", "--callback-port", &port],
        &[],
    );
    let u = login.url();
    assert_eq!(browse(&u).await.status(), 400);
    let (code, out, err) = login.finish();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("access_denied") && err.contains("The user said no"),
        "{err}"
    );
    assert!(home.files().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_the_browser_times_out_with_a_clear_message() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let port = free_port().to_string();
    let mut login = home.spawn(
        &[
            "login",
            "antigravity",
            "--no-browser",
            "--callback-port",
            &port,
        ],
        &[("CLIPROXY_LOGIN_TIMEOUT", "1")],
    );
    let _ = login.url();
    let (code, out, err) = login.finish();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("timed out after 1s"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_callback_port_names_the_override() {
    let server = AuthServer::start().await;
    let home = Home::new(&server);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let login = home.spawn(
        &["login", "codex", "--no-browser", "--callback-port", &port],
        &[],
    );
    let (code, out, err) = login.finish();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("--callback-port"), "{err}");
}
