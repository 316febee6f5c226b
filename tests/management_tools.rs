//! The management API's helpers through the real gateway binary: `latest-version`
//! against a local release feed, `api-call` bounded to an account's own upstream,
//! `auth-files/models`, `auth-files/fields` (seen by sync), and the log file.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use common::*;
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "mgmt-secret-for-tools-0001";
const CLIENT_KEY: &str = "client-key-tools-0001";
const ACCESS: &str = "sk-ant-oat01-tools-access";
const ACCOUNT: &str = "claude-tools@example.com.json";

/// A small HTTP server playing a release feed and a provider: it records the
/// `authorization` header of each request to `/v1/usage`.
struct Feed {
    base: String,
    seen_auth: Arc<Mutex<Vec<String>>>,
}

async fn feed() -> Feed {
    let seen_auth = Arc::new(Mutex::new(Vec::new()));
    let seen = seen_auth.clone();
    let app = Router::new()
        .route(
            "/releases/latest",
            get(|| async { axum::Json(json!({"tag_name": "v9.8.7", "name": "cliproxy 9.8.7"})) }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route(
            "/broken",
            get(|| async {
                (
                    axum::http::StatusCode::NOT_FOUND,
                    "{\"message\":\"Not Found\"}",
                )
            }),
        )
        .route("/big", get(|| async { "x".repeat(3 << 20) }))
        .route(
            "/v1/usage",
            get(move |h: HeaderMap| {
                let seen = seen.clone();
                async move {
                    seen.lock().push(
                        h.get("authorization")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default(),
                    );
                    (
                        [("x-quota", "12")],
                        axum::Json(json!({"five_hour": {"utilization": 3}})),
                    )
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Feed { base, seen_auth }
}

fn config(provider_base: &str, extra: &str) -> String {
    format!(
        "remote-management:\n  secret-key: {SECRET}\napi-keys:\n  - {CLIENT_KEY}\nclaude:\n  base-url: {provider_base}\n{extra}"
    )
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

fn account() -> [(&'static str, Value); 1] {
    [(
        ACCOUNT,
        claude_oauth_file("tools@example.com", ACCESS, "rt-tools-refresh-0001", 3600),
    )]
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_version_reads_the_configured_feed_and_says_clearly_when_it_cannot() {
    let f = feed().await;
    let url = format!("{}/releases/latest", f.base);
    let g = start_with_env(&config(&f.base, ""), &[], &[("CLIPROXY_RELEASE_URL", &url)]).await;
    let (status, body) = json_of(mgmt(&g, Method::GET, "/latest-version")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["latest-version"], "v9.8.7");
    // Without the management key: refused like every management route.
    let r = reqwest::Client::new()
        .get(g.url("/v0/management/latest-version"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop(g);

    // Nothing listens: a 502 that names the feed.
    let closed = format!("http://127.0.0.1:{}/releases/latest", free_port());
    let g = start_with_env(
        &config(&f.base, ""),
        &[],
        &[("CLIPROXY_RELEASE_URL", &closed)],
    )
    .await;
    let (status, body) = json_of(mgmt(&g, Method::GET, "/latest-version")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "request_failed");
    assert!(
        body["message"].as_str().unwrap().contains(&closed),
        "{body}"
    );
    drop(g);

    // A feed that does not answer holds only its own request.
    let hang = format!("{}/hang", f.base);
    let g = start_with_env(
        &config(&f.base, ""),
        &[],
        &[("CLIPROXY_RELEASE_URL", &hang)],
    )
    .await;
    let pending = tokio::spawn(json_of(mgmt(&g, Method::GET, "/latest-version")));
    let (status, _) = json_of(mgmt(&g, Method::GET, "/config")).await;
    assert_eq!(status, 200);
    let (status, body) = pending.await.unwrap();
    assert_eq!(status, 502, "{body}");
    drop(g);

    // A feed answering an error, and no feed configured at all.
    let broken = format!("{}/broken", f.base);
    let g = start_with_env(
        &config(&f.base, ""),
        &[],
        &[("CLIPROXY_RELEASE_URL", &broken)],
    )
    .await;
    let (status, body) = json_of(mgmt(&g, Method::GET, "/latest-version")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["message"].as_str().unwrap().contains("404"), "{body}");
    drop(g);
    let g = start(&config(&f.base, ""), &[]).await;
    let (status, body) = json_of(mgmt(&g, Method::GET, "/latest-version")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("CLIPROXY_RELEASE_URL"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_call_reaches_only_the_accounts_upstream_with_its_token() {
    let f = feed().await;
    let other = feed().await;
    let g = start(&config(&f.base, ""), &account()).await;

    let call = |body: Value| mgmt(&g, Method::POST, "/api-call").json(&body);
    let (status, body) = json_of(call(json!({
        "auth_index": "0",
        "method": "GET",
        "url": format!("{}/v1/usage", f.base),
        "header": {"Authorization": "Bearer $TOKEN$", "Accept": "application/json"},
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status_code"], 200);
    assert_eq!(body["header"]["x-quota"], json!(["12"]));
    let answer: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["five_hour"]["utilization"], 3);
    assert_eq!(*f.seen_auth.lock(), [format!("Bearer {ACCESS}")]);
    assert!(!body.to_string().contains(ACCESS), "the token came back");

    // The same by file name.
    let (status, _) = json_of(call(json!({
        "name": ACCOUNT, "method": "get", "url": format!("{}/v1/usage", f.base),
        "header": {"Authorization": "Bearer $TOKEN$"},
    })))
    .await;
    assert_eq!(status, 200);
    assert_eq!(f.seen_auth.lock().len(), 2);

    // Another host: refused before anything is sent.
    let (status, body) = json_of(call(json!({
        "auth_index": "0", "method": "GET", "url": format!("{}/v1/usage", other.base),
        "header": {"Authorization": "Bearer $TOKEN$"},
    })))
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not one of this account's upstreams"),
        "{body}"
    );
    assert!(other.seen_auth.lock().is_empty());

    // No account, a Host override, a method it does not take.
    for (bad, why) in [
        (
            json!({"method": "GET", "url": format!("{}/v1/usage", f.base)}),
            "auth_index",
        ),
        (
            json!({"auth_index": "0", "method": "GET", "url": format!("{}/v1/usage", f.base),
                   "header": {"Host": "evil.example"}}),
            "Host",
        ),
        (
            json!({"auth_index": "0", "method": "CONNECT", "url": format!("{}/v1/usage", f.base)}),
            "CONNECT",
        ),
        (
            json!({"auth_index": "7", "method": "GET", "url": f.base}),
            "7",
        ),
    ] {
        let (status, body) = json_of(call(bad)).await;
        assert!(status == 400 || status == 404, "{status} {body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    assert_eq!(f.seen_auth.lock().len(), 2);

    // An answer over the bound is not relayed.
    let (status, body) = json_of(call(json!({
        "auth_index": "0", "method": "GET", "url": format!("{}/big", f.base),
    })))
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "response too large");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_file_models_and_field_edits_reach_routing_and_the_sync_bucket() {
    let f = feed().await;
    let bucket = tempfile::tempdir().unwrap();
    let sync = format!(
        "sync:\n  poll-interval: 1\n  ccs-dir: \"\"\n  dotfiles-dir: \"\"\n  bucket:\n    endpoint: file://{}\n",
        bucket.path().display()
    );
    let g = start(&config(&f.base, &sync), &account()).await;

    let (status, body) = json_of(mgmt(
        &g,
        Method::GET,
        &format!("/auth-files/models?name={ACCOUNT}"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"claude-opus-4-5-20251101"), "{body}");
    assert!(ids.iter().all(|m| m.starts_with("claude")), "{body}");
    assert_eq!(body["models"][0]["type"], "claude");
    let (status, _) = json_of(mgmt(&g, Method::GET, "/auth-files/models?name=nobody.json")).await;
    assert_eq!(status, 404);

    // A token field is not editable: refused, the file unchanged.
    let before = std::fs::read(g.auth_dir().join(ACCOUNT)).unwrap();
    let (status, body) = json_of(
        mgmt(&g, Method::PATCH, "/auth-files/fields")
            .json(&json!({"name": ACCOUNT, "note": "x", "access_token": "sk-forged"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("access_token"),
        "{body}"
    );
    assert_eq!(std::fs::read(g.auth_dir().join(ACCOUNT)).unwrap(), before);

    let (status, body) = json_of(mgmt(&g, Method::PATCH, "/auth-files/fields").json(&json!({
        "name": ACCOUNT,
        "prefix": "team",
        "note": "shared laptop",
        "priority": 4,
        "headers": {"X-Team": "blue"},
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let file = g.read_auth(ACCOUNT);
    assert_eq!(file["prefix"], "team");
    assert_eq!(file["note"], "shared laptop");
    assert_eq!(file["priority"], 4);
    assert_eq!(file["headers"], json!({"X-Team": "blue"}));
    assert_eq!(file["access_token"], ACCESS);
    assert_eq!(file["custom_field"], json!({"kept": true}));

    // Routing sees the prefix; the bucket gets the edited file.
    eventually(
        "the prefix is served",
        Duration::from_secs(20),
        async || {
            let (_, body) = json_of(mgmt(
                &g,
                Method::GET,
                &format!("/auth-files/models?name={ACCOUNT}"),
            ))
            .await;
            body["models"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["id"] == "team/claude-opus-4-5-20251101"))
        },
    )
    .await;
    let in_bucket = bucket.path().join("auths").join(ACCOUNT);
    eventually(
        "the edit reaches the bucket",
        Duration::from_secs(20),
        async || {
            std::fs::read(&in_bucket)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["note"] == "shared laptop")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_file_is_served_by_cursor_cleared_and_free_of_secrets() {
    let f = feed().await;
    // Off: the endpoint says where the log goes instead.
    let g = start(&config(&f.base, ""), &[]).await;
    let (status, body) = json_of(mgmt(&g, Method::GET, "/logs")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("standard error"));
    drop(g);

    let g = start(&config(&f.base, "logging-to-file: true\n"), &account()).await;
    let main_log = g.auth_dir().join(".logs/main.log");
    assert!(main_log.is_file());
    let (status, body) = json_of(mgmt(&g, Method::GET, "/logs")).await;
    assert_eq!(status, 200, "{body}");
    let lines = body["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert_eq!(body["line-count"], lines.len());
    assert!(
        lines
            .iter()
            .all(|l| !l.as_str().unwrap().contains("\u{1b}[")),
        "colour codes in the file"
    );
    let latest = body["latest-timestamp"].as_i64().unwrap();
    assert!(latest > 0, "{body}");

    // A request made now shows up after the cursor (the gateway logs the refused key).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .bearer_auth("wrong-client-key-0000")
        .json(&messages_body("claude-opus-4-5-20251101", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, body) = json_of(mgmt(&g, Method::PATCH, "/auth-files/fields").json(&json!({
        "name": ACCOUNT, "note": "logged edit"
    })))
    .await;
    assert_eq!(body["status"], "ok");
    let mut newer = Value::Null;
    eventually(
        "new lines after the cursor",
        Duration::from_secs(20),
        async || {
            let (_, body) = json_of(mgmt(&g, Method::GET, &format!("/logs?after={latest}"))).await;
            newer = body;
            newer["lines"].as_array().is_some_and(|l| !l.is_empty())
        },
    )
    .await;
    assert!(
        newer["latest-timestamp"].as_i64().unwrap() > latest,
        "{newer}"
    );
    let (_, limited) = json_of(mgmt(&g, Method::GET, "/logs?limit=1")).await;
    assert_eq!(limited["lines"].as_array().unwrap().len(), 1);
    let (status, _) = json_of(mgmt(&g, Method::GET, "/logs?limit=zero")).await;
    assert_eq!(status, 400);

    // Nothing secret in the file.
    let text = std::fs::read_to_string(&main_log).unwrap();
    for secret in [
        SECRET,
        CLIENT_KEY,
        ACCESS,
        "rt-tools-refresh-0001",
        "wrong-client-key-0000",
    ] {
        assert!(!text.contains(secret), "{secret} in the log file");
    }

    let (status, body) = json_of(mgmt(&g, Method::DELETE, "/logs")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let (_, body) = json_of(mgmt(&g, Method::GET, "/logs")).await;
    let after_clear = body["lines"].as_array().unwrap();
    assert!(
        after_clear
            .iter()
            .all(|l| !l.as_str().unwrap().contains("listening")),
        "{body}"
    );
    assert!(std::fs::metadata(&main_log).unwrap().len() < text.len() as u64);

    let (status, _) = json_of(mgmt(&g, Method::GET, "/request-error-logs/error-x.log")).await;
    assert_eq!(status, 404);
    let (status, body) = json_of(mgmt(&g, Method::GET, "/request-error-logs")).await;
    assert_eq!((status, body), (200, json!({"files": []})));
}
