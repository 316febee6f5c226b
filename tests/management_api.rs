//! The management API through the real gateway binary over HTTP.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_oauth;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use standin::StandIn;
use support_oauth::AuthServer;

const SECRET: &str = "mgmt-secret-for-tests-0001";
const OLD_KEY: &str = "client-key-original-000001";
const NEW_KEY: &str = "client-key-added-by-put-0002";
const MODEL: &str = "claude-opus-4-5-20251101";

fn config(si: &StandIn, extra: &str) -> String {
    format!(
        "# top comment kept\nremote-management:\n  allow-remote: false\n  secret-key: {SECRET} # hashed at start\n# client keys\napi-keys:\n  - {OLD_KEY} # the first key\nclaude-api-key:\n  - api-key: sk-ant-api03-mgmt-upstream\n    base-url: {}\n{extra}",
        si.base_url
    )
}

async fn gateway(extra: &str) -> (StandIn, Gateway) {
    let si = StandIn::start().await;
    si.allow_credential("sk-ant-api03-mgmt-upstream");
    let g = start(&config(&si, extra), &[]).await;
    (si, g)
}

fn mgmt(g: &Gateway, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, g.url(&format!("/v0/management{path}")))
        .header("authorization", format!("Bearer {SECRET}"))
}

async fn json_of(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn proxy_status(g: &Gateway, key: &str) -> u16 {
    post_messages(
        g,
        &messages_body(MODEL, false),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await
    .status()
    .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_secret_the_api_answers_404() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "claude-api-key:\n  - api-key: k\n    base-url: {}\n",
            si.base_url
        ),
        &[],
    )
    .await;
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/config"))
        .header("authorization", "Bearer anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_env_password_enables_the_api() {
    let g = start_with_env("", &[], &[("MANAGEMENT_PASSWORD", "env-password-123456")]).await;
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/debug"))
        .header("x-management-key", "env-password-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"debug": false}));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plaintext_secret_is_stored_hashed_and_keys_are_checked() {
    let (_si, g) = gateway("").await;
    let text = std::fs::read_to_string(g.config_path()).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(
        text.contains("secret-key: $2")
            || text.contains("secret-key: '$2")
            || text.contains("secret-key: \"$2"),
        "{text}"
    );
    assert!(
        text.contains("# hashed at start") && text.contains("# top comment kept"),
        "{text}"
    );

    let (status, _) = json_of(mgmt(&g, Method::GET, "/config")).await;
    assert_eq!(status, 200);
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/config"))
        .header("x-management-key", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-cpa-version"));
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "missing management key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_ban_the_address() {
    let (_si, g) = gateway("").await;
    let c = reqwest::Client::new();
    for _ in 0..5 {
        let r = c
            .get(g.url("/v0/management/debug"))
            .header("authorization", "Bearer wrong-key")
            .send()
            .await
            .unwrap();
        assert!(r.status() == 401 || r.status() == 403, "{}", r.status());
    }
    let (status, body) = json_of(mgmt(&g, Method::GET, "/debug")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("banned"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_host_is_refused_and_forwarding_headers_change_nothing() {
    let (_si, g) = gateway("").await;
    // DNS rebinding: a page whose name now points at 127.0.0.1.
    let (status, body) =
        json_of(mgmt(&g, Method::GET, "/debug").header("host", "evil.example:8317")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("host"), "{body}");
    let (status, _) =
        json_of(mgmt(&g, Method::GET, "/debug").header("host", format!("localhost:{}", g.port)))
            .await;
    assert_eq!(status, 200);
    // Claims of another origin neither make this peer remote nor waive the key.
    let spoof = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-real-ip", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
    ];
    let mut rb = mgmt(&g, Method::GET, "/debug");
    for (k, v) in spoof {
        rb = rb.header(k, v);
    }
    assert_eq!(json_of(rb).await.0, 200);
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/debug"))
        .header("x-forwarded-for", "127.0.0.1")
        .header("x-real-ip", "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_round_trip_keeps_comments_masks_secrets_and_hot_reloads() {
    let (_si, g) = gateway("").await;
    assert_eq!(proxy_status(&g, OLD_KEY).await, 200);
    assert_eq!(proxy_status(&g, NEW_KEY).await, 401);

    let r = mgmt(&g, Method::GET, "/config.yaml").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let yaml = r.text().await.unwrap();
    assert!(!yaml.contains(OLD_KEY), "{yaml}");
    assert!(!yaml.contains("sk-ant-api03-mgmt-upstream"), "{yaml}");
    assert!(yaml.contains("# the first key"), "{yaml}");
    let (_, cfg) = json_of(mgmt(&g, Method::GET, "/config")).await;
    assert!(!cfg.to_string().contains(OLD_KEY), "{cfg}");
    assert_eq!(cfg["api-keys"].as_array().unwrap().len(), 1);

    // Add a key next to the masked one and send the file back.
    let edited = yaml.replace(
        "# the first key\n",
        &format!("# the first key\n  - {NEW_KEY}\n"),
    );
    assert_ne!(edited, yaml);
    let (status, body) = json_of(mgmt(&g, Method::PUT, "/config.yaml").body(edited)).await;
    assert_eq!(status, 200, "{body}");
    // Effective at once, and the masked key still stands for the original.
    assert_eq!(proxy_status(&g, NEW_KEY).await, 200, "{}", g.logs());
    assert_eq!(proxy_status(&g, OLD_KEY).await, 200);
    let on_disk = std::fs::read_to_string(g.config_path()).unwrap();
    for keep in [
        "# top comment kept",
        "# client keys",
        "# the first key",
        "# hashed at start",
        OLD_KEY,
        NEW_KEY,
    ] {
        assert!(on_disk.contains(keep), "lost {keep}:\n{on_disk}");
    }

    // Per-key writes: scalars and lists.
    let (status, _) =
        json_of(mgmt(&g, Method::PUT, "/request-retry").json(&json!({"value": 1}))).await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(mgmt(&g, Method::GET, "/request-retry")).await.1,
        json!({"request-retry": 1})
    );
    let (status, _) =
        json_of(mgmt(&g, Method::PATCH, "/routing/strategy").json(&json!({"value": "ff"}))).await;
    assert_eq!(status, 200);
    assert_eq!(
        json_of(mgmt(&g, Method::GET, "/routing/strategy")).await.1,
        json!({"strategy": "fill-first"})
    );
    let (status, _) = json_of(mgmt(
        &g,
        Method::DELETE,
        &format!("/api-keys?value={NEW_KEY}"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(proxy_status(&g, NEW_KEY).await, 401);
    let (_, keys) = json_of(mgmt(&g, Method::GET, "/claude-api-key")).await;
    let masked = keys["claude-api-key"][0]["api-key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(masked, "sk-ant-api03-mgmt-upstream");
    // A PATCH that names the entry by its masked key reaches the real one.
    let (status, body) = json_of(
        mgmt(&g, Method::PATCH, "/claude-api-key")
            .json(&json!({"match": masked, "value": {"priority": 3}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let on_disk = std::fs::read_to_string(g.config_path()).unwrap();
    assert!(
        on_disk.contains("api-key: sk-ant-api03-mgmt-upstream"),
        "{on_disk}"
    );
    assert!(on_disk.contains("priority: 3"), "{on_disk}");
    assert!(on_disk.contains("# top comment kept"), "{on_disk}");
    assert_eq!(proxy_status(&g, OLD_KEY).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_breaking_write_is_refused_with_its_position_and_changes_nothing() {
    let (_si, g) = gateway("").await;
    let before = std::fs::read(g.config_path()).unwrap();
    for bad in ["port: 8317\nrequest-retry: many\n", "api-keys: [unclosed\n"] {
        let (status, body) = json_of(mgmt(&g, Method::PUT, "/config.yaml").body(bad)).await;
        assert_eq!(status, 422, "{body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("line") && msg.contains("column"), "{msg}");
        assert_eq!(std::fs::read(g.config_path()).unwrap(), before);
    }
    // A value of the wrong kind through a per-key route.
    let (status, _) = json_of(mgmt(&g, Method::PUT, "/debug").json(&json!({"value": "yes"}))).await;
    assert_eq!(status, 400);
    let (status, _) =
        json_of(mgmt(&g, Method::PUT, "/openai-compatibility").json(&json!([{"name": "x"}]))).await;
    assert_eq!(status, 422);
    assert_eq!(std::fs::read(g.config_path()).unwrap(), before);
    assert_eq!(proxy_status(&g, OLD_KEY).await, 200);
}

fn multipart(name: &str, body: &str) -> (String, String) {
    let b = "cliproxy-test-boundary";
    (
        format!("multipart/form-data; boundary={b}"),
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/json\r\n\r\n{body}\r\n--{b}--\r\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_files_upload_list_download_disable_and_delete() {
    let (_si, g) = gateway("").await;
    let name = "claude-up@example.com.json";
    let file = claude_oauth_file(
        "up@example.com",
        "sk-ant-oat01-secret-access",
        "rt-secret-refresh",
        3600,
    );
    let text = serde_json::to_string(&file).unwrap();
    let (ct, body) = multipart(name, &text);
    let (status, resp) = json_of(
        mgmt(&g, Method::POST, "/auth-files")
            .header("content-type", ct)
            .body(body),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        std::fs::read_to_string(g.auth_dir().join(name)).unwrap(),
        text
    );

    let (_, list) = json_of(mgmt(&g, Method::GET, "/auth-files")).await;
    let s = list.to_string();
    assert!(
        !s.contains("secret-access") && !s.contains("secret-refresh"),
        "{s}"
    );
    let entry = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "active");
    assert_eq!(entry["email"], "up@example.com");
    assert_eq!(entry["disabled"], false);

    let r = mgmt(
        &g,
        Method::GET,
        &format!("/auth-files/download?name={name}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), text);

    let (status, _) = json_of(
        mgmt(&g, Method::PATCH, "/auth-files/status")
            .json(&json!({"name": name, "disabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = json_of(mgmt(&g, Method::GET, "/auth-files")).await;
    let entry = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap()
        .clone();
    assert_eq!(
        (entry["disabled"].as_bool(), entry["status"].as_str()),
        (Some(true), Some("disabled"))
    );
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(g.auth_dir().join(name)).unwrap()).unwrap();
    assert_eq!(on_disk["disabled"], true);
    assert_eq!(on_disk["custom_field"], json!({"kept": true}));

    // Names that leave the folder or are not JSON are refused.
    for bad in ["../x.json", "a/b.json", "notes.txt", ".hidden.json"] {
        let (ct, body) = multipart(bad, &text);
        let (status, _) = json_of(
            mgmt(&g, Method::POST, "/auth-files")
                .header("content-type", ct)
                .body(body),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _) =
        json_of(mgmt(&g, Method::POST, "/auth-files?name=raw@example.com.json").body("{not json"))
            .await;
    assert_eq!(status, 400);

    let (status, _) = json_of(mgmt(
        &g,
        Method::DELETE,
        &format!("/auth-files?name={name}"),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(!g.auth_dir().join(name).exists());
    let (_, list) = json_of(mgmt(&g, Method::GET, "/auth-files")).await;
    assert!(
        list["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != name)
    );
    let (status, _) = json_of(mgmt(
        &g,
        Method::DELETE,
        &format!("/auth-files?name={name}"),
    ))
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_served_in_cliproxyapi_shape_and_imports_are_idempotent() {
    let (_si, g) = gateway("").await;
    assert_eq!(proxy_status(&g, OLD_KEY).await, 200);
    let mut usage = Value::Null;
    eventually(
        "the request in /usage",
        Duration::from_secs(20),
        async || {
            usage = json_of(mgmt(&g, Method::GET, "/usage")).await.1;
            usage["usage"]["total_requests"] == 1
        },
    )
    .await;
    assert_eq!(usage["failed_requests"], 0);
    let apis = usage["usage"]["apis"].as_object().unwrap();
    assert_eq!(apis.len(), 1);
    let (label, api) = apis.iter().next().unwrap();
    assert!(label.starts_with("key-") && !label.contains(OLD_KEY));
    assert_eq!(api["models"][MODEL]["details"].as_array().unwrap().len(), 1);

    let (status, export) = json_of(mgmt(&g, Method::GET, "/usage/export")).await;
    assert_eq!(status, 200);
    assert_eq!(export["version"], 1);
    let (status, r) = json_of(mgmt(&g, Method::POST, "/usage/import").json(&export)).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["added"].as_u64(), r["skipped"].as_u64()),
        (Some(0), Some(1))
    );
    let (status, _) =
        json_of(mgmt(&g, Method::POST, "/usage/import").json(&json!({"version": 9, "usage": {}})))
            .await;
    assert_eq!(status, 400);

    let (status, logs) = json_of(mgmt(&g, Method::GET, "/logs")).await;
    assert_eq!(status, 400);
    assert!(
        logs["message"].as_str().unwrap().contains("standard error"),
        "{logs}"
    );
}

/// Where the authorization server sends the browser back to (not followed).
async fn redirect_target(url: &str) -> url::Url {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

async fn wait_ok(g: &Gateway, state: &str) {
    let mut last = Value::Null;
    eventually(
        "the web login to finish",
        Duration::from_secs(20),
        async || {
            last = json_of(mgmt(
                g,
                Method::GET,
                &format!("/get-auth-status?state={state}"),
            ))
            .await
            .1;
            last["status"] != "wait"
        },
    )
    .await;
    assert_eq!(last["status"], "ok", "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn web_logins_save_the_account_through_either_callback() {
    let oauth = AuthServer::start().await;
    let (_si, g) = gateway(&oauth.config_yaml()).await;

    // Claude: the browser comes back to the gateway's own callback route.
    let (status, start) = json_of(mgmt(&g, Method::GET, "/anthropic-auth-url")).await;
    assert_eq!(status, 200, "{start}");
    let state = start["state"].as_str().unwrap().to_string();
    let back = redirect_target(start["url"].as_str().unwrap()).await;
    assert_eq!(
        back.as_str().split('?').next().unwrap(),
        "http://localhost:54545/callback"
    );
    let r = reqwest::get(g.url(&format!("/anthropic/callback?{}", back.query().unwrap())))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_ok(&g, &state).await;
    let saved: Value = serde_json::from_slice(
        &std::fs::read(g.auth_dir().join("claude-user@example.com.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["type"], "claude");
    // A callback replayed for a finished login is refused.
    let r = reqwest::get(g.url(&format!("/anthropic/callback?{}", back.query().unwrap())))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Codex: the final URL pasted into POST /oauth-callback.
    let (_, start) = json_of(mgmt(&g, Method::GET, "/codex-auth-url")).await;
    let state = start["state"].as_str().unwrap().to_string();
    let back = redirect_target(start["url"].as_str().unwrap()).await;
    let (status, body) = json_of(
        mgmt(&g, Method::POST, "/oauth-callback")
            .json(&json!({"provider": "codex", "redirect_url": back.as_str()})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_ok(&g, &state).await;
    let (_, list) = json_of(mgmt(&g, Method::GET, "/auth-files")).await;
    let names: Vec<_> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("codex-user@example.com")),
        "{names:?}"
    );
    assert!(
        names.contains(&"claude-user@example.com.json".to_string()),
        "{names:?}"
    );

    // A state nobody started is refused.
    let (status, _) = json_of(
        mgmt(&g, Method::POST, "/oauth-callback")
            .json(&json!({"provider": "codex", "code": "c", "state": "forged"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_with_sync_on_leaves_a_tombstone_so_the_account_stays_gone() {
    let bucket = tempfile::tempdir().unwrap();
    let sync = format!(
        "sync:\n  poll-interval: 1\n  ccs-dir: \"\"\n  dotfiles-dir: \"\"\n  bucket:\n    endpoint: file://{}\n",
        bucket.path().display()
    );
    let (_si, g) = gateway(&sync).await;
    let name = "claude-synced@example.com.json";
    let text =
        serde_json::to_string(&claude_oauth_file("synced@example.com", "at", "rt", 3600)).unwrap();
    let (status, _) =
        json_of(mgmt(&g, Method::POST, &format!("/auth-files?name={name}")).body(text)).await;
    assert_eq!(status, 200);
    let in_bucket = bucket.path().join("auths").join(name);
    eventually(
        "the upload reaches the bucket",
        Duration::from_secs(20),
        async || in_bucket.exists(),
    )
    .await;

    let (status, body) = json_of(mgmt(
        &g,
        Method::DELETE,
        &format!("/auth-files?name={name}"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(bucket.path().join("config/tombstones").join(name).is_file());
    assert!(!in_bucket.exists());
    assert!(!g.auth_dir().join(name).exists());
    // The next reconciles do not bring it back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!g.auth_dir().join(name).exists());
    assert!(!in_bucket.exists());
}
