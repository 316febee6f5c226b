//! kill -9 while `cliproxy login` saves the account file.

use super::*;

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
