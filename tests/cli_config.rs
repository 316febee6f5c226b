//! The binary's configuration surface: defaults, layering, errors, templates, --help.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn cliproxy(home: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(home);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_no_config_uses_builtin_defaults_and_env_overrides() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = cliproxy(home.path())
        .arg("serve")
        .env("CLIPROXY_PORT", port.to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    eventually(
        "healthz",
        Duration::from_secs(10),
        async || matches!(reqwest::get(&url).await, Ok(r) if r.status() == 200),
    )
    .await;
    let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(v, serde_json::json!({"status": "ok"}));
    let models: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 0, "no accounts");
    let _ = child.kill();
    let _ = child.wait();
    // The auth folder the defaults point at was created private.
    let auth = home.path().join(".cli-proxy-api");
    assert!(auth.is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&auth).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}

#[test]
fn config_check_warns_on_unknown_keys_and_rejects_bad_yaml_with_position() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "port: 9001\nmystery-key: 1\nrouting:\n  strategy: fill-first\n",
    )
    .unwrap();
    let out = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unknown key `mystery-key`"), "{stdout}");
    assert!(stdout.contains("listen: 127.0.0.1:9001"), "{stdout}");

    std::fs::write(&cfg, "port: 9001\nrequest-retry: many\n").unwrap();
    let out = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("c.yaml") && stderr.contains("line 2"),
        "{stderr}"
    );

    let out = cliproxy(home.path())
        .args(["config", "check", "--config", "/nonexistent/x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.yaml"));

    let out = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .env("CLIPROXY_ENV_FILE", "/nonexistent/.env")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("env file /nonexistent/.env"));
}

#[test]
fn env_layer_errors_name_the_variable() {
    let home = tempfile::tempdir().unwrap();
    let out = cliproxy(home.path())
        .args(["config", "check"])
        .env("CLIPROXY_PORT", "eighty")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CLIPROXY_PORT"), "{stderr}");
}

fn render(
    home: &std::path::Path,
    tpl: &std::path::Path,
    env: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Output {
    cliproxy(home)
        .args(["config", "render", "--template"])
        .arg(tpl)
        .arg("--env-file")
        .arg(env)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn config_render_round_trips_nasty_values_and_lists_missing_ones() {
    let home = tempfile::tempdir().unwrap();
    let tpl = home.path().join("config.template.yaml");
    std::fs::write(
        &tpl,
        "port: __PORT__\n# old-key: __COMMENTED_OUT__\nremote-management:\n  secret-key: \"${MGMT}\"\nopenai-compatibility:\n  - name: openrouter\n    base-url: https://openrouter.ai/api/v1\n    api-key-entries:\n      - api-key: __OPENROUTER_API_KEY__\n",
    )
    .unwrap();
    let env = home.path().join(".env");
    std::fs::write(
        &env,
        "PORT=8400\nMGMT='pa\"ss | & # x: y'\nOPENROUTER_API_KEY=\"sk-or-v1-abc\\nsecond: line\"\n",
    )
    .unwrap();
    let out_path = home.path().join("out/config.yaml");
    let out = render(home.path(), &tpl, &env, &out_path);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    let doc: serde_json::Value = serde_saphyr_compat(&text);
    assert_eq!(doc["port"], 8400);
    assert_eq!(doc["remote-management"]["secret-key"], "pa\"ss | & # x: y");
    assert_eq!(
        doc["openai-compatibility"][0]["api-key-entries"][0]["api-key"],
        "sk-or-v1-abc\nsecond: line"
    );
    assert!(text.contains("# old-key: __COMMENTED_OUT__"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The rendered file is a valid config.
    let check = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    std::fs::write(&tpl, "a: __ONE__\nb: ${TWO}\nc: __THREE__\n").unwrap();
    std::fs::write(&env, "THREE=3\n").unwrap();
    let before = std::fs::read(&out_path).unwrap();
    let out = render(home.path(), &tpl, &env, &out_path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing variables: ONE, TWO"), "{stderr}");
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        before,
        "a failed render leaves the old file"
    );
}

/// Reads the rendered YAML back (YAML 1.2 parser, as a client of the file would).
fn serde_saphyr_compat(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_renders_a_template_before_starting() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let tpl = home.path().join("config.template.yaml");
    std::fs::write(
        &tpl,
        "host: 127.0.0.1\nport: __PORT__\napi-keys: [\"${CLIENT_KEY}\"]\n",
    )
    .unwrap();
    let env = home.path().join(".env");
    std::fs::write(&env, format!("PORT={port}\nCLIENT_KEY=ck-from-env\n")).unwrap();
    let cfg = home.path().join("rendered.yaml");
    let mut child = cliproxy(home.path())
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--template")
        .arg(&tpl)
        .arg("--env-file")
        .arg(&env)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("healthz", Duration::from_secs(10), async || {
        matches!(reqwest::get(format!("{base}/healthz")).await, Ok(r) if r.status() == 200)
    })
    .await;
    let r = reqwest::get(format!("{base}/v1/models")).await.unwrap();
    assert_eq!(r.status(), 401, "the rendered api-keys are in force");
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/models"))
        .bearer_auth("ck-from-env")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("ck-from-env")
    );
}

#[test]
fn every_command_has_help() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["login", "--help"],
        vec!["sync", "--help"],
        vec!["sync", "once", "--help"],
        vec!["sync", "watch", "--help"],
        vec!["sync", "status", "--help"],
        vec!["config", "--help"],
        vec!["config", "render", "--help"],
        vec!["config", "check", "--help"],
        vec!["auth", "--help"],
        vec!["auth", "list", "--help"],
        vec!["auth", "remove", "--help"],
        vec!["auth", "restore", "--help"],
        vec!["doctor", "--help"],
    ] {
        let out = cliproxy(home.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
    let out = cliproxy(home.path())
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn auth_list_shows_accounts_and_broken_files_without_secrets() {
    let home = tempfile::tempdir().unwrap();
    let auth = home.path().join(".cli-proxy-api");
    std::fs::create_dir_all(&auth).unwrap();
    std::fs::write(
        auth.join("claude-a@example.com.json"),
        r#"{"type":"claude","access_token":"sk-ant-oat01-SECRET","refresh_token":"rt-SECRET","email":"a@example.com","expired":"2030-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    std::fs::write(
        auth.join("codex-b@example.com.json"),
        r#"{"type":"codex","email":"b@example.com"}"#,
    )
    .unwrap();
    std::fs::write(auth.join("half.json"), r#"{"type":"claude","access_"#).unwrap();
    let out = cliproxy(home.path())
        .args(["auth", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("claude-a@example.com.json")
            && s.contains("a@example.com")
            && s.contains("2030-01-01"),
        "{s}"
    );
    assert!(s.contains("codex-b@example.com.json"), "{s}");
    assert!(s.contains("half.json") && s.contains("invalid"), "{s}");
    assert!(!s.contains("SECRET"));
    let out = cliproxy(home.path())
        .args(["auth", "show", "claude-a@example.com"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("[redacted]") && !s.contains("SECRET"), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_gateway_on_a_busy_port_fails_clearly() {
    let first = start("", &[]).await;
    let home = tempfile::tempdir().unwrap();
    let out = cliproxy(home.path())
        .args(["serve", "--port", &first.port.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{}", first.port)),
        "{stderr}"
    );
    // The first one still serves.
    assert_eq!(
        reqwest::get(first.url("/healthz")).await.unwrap().status(),
        200
    );
}

#[test]
fn doctor_reports_unreachable_bucket_and_loose_permissions_with_fixes() {
    let home = tempfile::tempdir().unwrap();
    let auth = home.path().join(".cli-proxy-api");
    std::fs::create_dir_all(&auth).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = cliproxy(home.path()).arg("doctor").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains("accessible by others") && s.contains("chmod 700"),
            "{s}"
        );
        std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let out = cliproxy(home.path()).arg("doctor").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));

    std::fs::write(
        auth.join("claude-a@x.json"),
        r#"{"type":"claude","email":"a@x"}"#,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            auth.join("claude-a@x.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let port = free_port(); // nothing listens there
    let out = cliproxy(home.path())
        .arg("doctor")
        .env("OBJECTSTORE_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("OBJECTSTORE_BUCKET", "cliproxyapi")
        .env("OBJECTSTORE_ACCESS_KEY", "k")
        .env("OBJECTSTORE_SECRET_KEY", "s")
        .env("OBJECTSTORE_LOCAL_PATH", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("unreachable") && s.contains("OBJECTSTORE_ENDPOINT"),
        "{s}"
    );
    assert!(!s.contains("\"s\"") && !s.contains("secret_key"), "{s}");
}

#[test]
fn config_errors_name_the_key_and_position_and_show_no_values() {
    let home = tempfile::tempdir().unwrap();
    let secret = "sk-SECRET-7f3a9c-do-not-print";
    // A bad value in a CLIPROXY_* variable.
    let out = cliproxy(home.path())
        .args(["config", "check"])
        .env("CLIPROXY_PORT", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CLIPROXY_PORT"), "{stderr}");
    assert!(!stderr.contains("7f3a9c"), "value echoed: {stderr}");
    // A YAML type error beside lines holding a client key.
    let cfg = home.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!("api-keys:\n  - \"{secret}\"\nport: {secret}\nrequest-retry: 2\n"),
    )
    .unwrap();
    let out = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("column"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("7f3a9c"),
        "value or neighbouring line shown: {stderr}"
    );
    // A YAML syntax error beside them.
    std::fs::write(
        &cfg,
        format!("api-keys: [\"{secret}\"\nport: [oops\nhost: {secret}\n"),
    )
    .unwrap();
    let out = cliproxy(home.path())
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line"), "{stderr}");
    assert!(
        !stderr.contains("7f3a9c"),
        "neighbouring line shown: {stderr}"
    );
}
