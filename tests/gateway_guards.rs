//! Guards against opening the gateway by accident or from a browser, through the real
//! binary: hot reloads that would drop the client keys or widen the listener, foreign
//! `Origin`s, non-JSON bodies on model routes, and rebinding `Host`s.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::time::Duration;

use common::*;
use standin::StandIn;

const MODEL: &str = "claude-opus-4-5-20251101";

fn upstream_key(si: &StandIn) -> String {
    format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-a\n    base-url: {}\n",
        si.base_url
    )
}

async fn status_with_key(g: &Gateway, key: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
    post_messages(g, &messages_body(MODEL, false), &headers)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emptied_config_on_hot_reload_keeps_the_client_keys() {
    let si = StandIn::start().await;
    let g = start(
        &format!("api-keys: [\"client-1\"]\n{}", upstream_key(&si)),
        &[],
    )
    .await;
    assert_eq!(status_with_key(&g, None).await, 401);
    // A 0-byte file reads as the defaults: no client keys.
    write_file(&g.config_path(), b"");
    eventually(
        "the refusal is logged",
        Duration::from_secs(5),
        async || g.logs().contains("no api-keys"),
    )
    .await;
    assert_eq!(status_with_key(&g, None).await, 401, "{}", g.logs());
    assert_eq!(status_with_key(&g, Some("client-1")).await, 200);
    // A config that keeps a key still applies after a refusal.
    g.write_config(&format!("api-keys: [\"client-2\"]\n{}", upstream_key(&si)));
    eventually("the new key applies", Duration::from_secs(5), async || {
        status_with_key(&g, Some("client-2")).await == 200
    })
    .await;
    assert_eq!(status_with_key(&g, Some("client-1")).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_reload_that_widens_the_listener_is_refused() {
    let si = StandIn::start().await;
    let g = start(&upstream_key(&si), &[]).await;
    // Same file, host 0.0.0.0: refused as a whole, so the new key is not applied either.
    let text = format!(
        "host: 0.0.0.0\nport: {}\nauth-dir: {}\napi-keys: [\"client-9\"]\n{}",
        g.port,
        g.auth_dir().display(),
        upstream_key(&si)
    );
    write_file(&g.config_path(), text.as_bytes());
    eventually(
        "the refusal is logged",
        Duration::from_secs(5),
        async || g.logs().contains("from loopback to a wider address"),
    )
    .await;
    assert_eq!(status_with_key(&g, None).await, 200, "{}", g.logs());
    assert_eq!(
        g.logs().matches("from loopback to a wider address").count(),
        1,
        "a refused file is reported once: {}",
        g.logs()
    );
}

fn upstream_posts(si: &StandIn) -> usize {
    si.requests()
        .iter()
        .filter(|r| r.path().ends_with("/v1/messages"))
        .count()
}

/// A POST as a web page's `fetch` without preflight sends it.
async fn simple_post(
    g: &Gateway,
    content_type: &str,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut rb = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("content-type", content_type)
        .body(messages_body(MODEL, false).to_string());
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_pages_text_plain_post_does_not_spend_the_accounts() {
    let si = StandIn::start().await;
    let g = start(&upstream_key(&si), &[]).await;
    // The keyless default config: only the browser guards stand in the way.
    let (status, body) = simple_post(
        &g,
        "text/plain;charset=UTF-8",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "error", "Anthropic shape: {body}");
    // A foreign origin is refused whatever the content type.
    let (status, _) = simple_post(
        &g,
        "application/json",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(status, 403);
    // Without an Origin (a form post, curl -d), a non-JSON body is 415 in the dialect.
    let (status, body) = simple_post(&g, "text/plain", &[]).await;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let (status, _) = simple_post(&g, "application/x-www-form-urlencoded", &[]).await;
    assert_eq!(status, 415);
    assert_eq!(upstream_posts(&si), 0, "nothing reached the upstream");
    // What SDKs send still works.
    let (status, body) = simple_post(&g, "application/json", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream_posts(&si), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebound_host_name_is_refused_on_a_loopback_gateway() {
    let si = StandIn::start().await;
    let g = start(&upstream_key(&si), &[]).await;
    let host = format!("evil.example:{}", g.port);
    let (status, body) = simple_post(&g, "application/json", &[("host", &host)]).await;
    assert_eq!(status, 403, "{body}");
    let r = reqwest::Client::new()
        .get(g.url("/v1/models"))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(upstream_posts(&si), 0);
    for ok in [
        format!("localhost:{}", g.port),
        format!("127.0.0.1:{}", g.port),
    ] {
        let (status, body) = simple_post(&g, "application/json", &[("host", &ok)]).await;
        assert_eq!(status, 200, "Host {ok}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listed_origins_get_cors_answers_and_others_none() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "allowed-origins: [\"https://app.example\"]\n{}",
            upstream_key(&si)
        ),
        &[],
    )
    .await;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, g.url("/v1/messages"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let r = preflight("https://app.example").await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "content-type,x-api-key"
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let (status, body) =
        simple_post(&g, "application/json", &[("origin", "https://app.example")]).await;
    assert_eq!(status, 200, "{body}");
    // Listed or not, a page's non-JSON POST is still not a model request.
    let (status, _) = simple_post(&g, "text/plain", &[("origin", "https://app.example")]).await;
    assert_eq!(status, 415);
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_model_names_leave_no_table_entries_and_short_logs() {
    let si = StandIn::start().await;
    // Every model is unknown upstream: a 404 cools (account, model) for 12 hours.
    si.set_behavior("*", standin::Behavior::fail(10_000, 404));
    let g = start(&upstream_key(&si), &[]).await;
    let huge = format!("claude-{}", "x".repeat(1 << 20));
    for i in 0..20 {
        let model = format!("{huge}-{i}");
        let r = post_messages(&g, &messages_body(&model, false), &[]).await;
        assert_eq!(r.status(), 400);
        let body = r.text().await.unwrap();
        assert!(
            body.len() < 1024,
            "the name is not echoed: {} bytes",
            body.len()
        );
    }
    // A huge value where the JSON parser quotes it back.
    let mut bad = messages_body(MODEL, false);
    bad["stream"] = serde_json::Value::String("y".repeat(1 << 20));
    let r = post_messages(&g, &bad, &[]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().len() < 2048);
    assert_eq!(upstream_posts(&si), 0, "nothing was sent upstream");
    // A model of ordinary length is still tried (and cools on its 404).
    let r = post_messages(&g, &messages_body("claude-no-such-model", false), &[]).await;
    assert_eq!(r.status(), 404);
    let metrics = reqwest::get(g.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(gauge(&metrics, "cliproxy_cooldown_entries"), 1.0);
    assert_eq!(gauge(&metrics, "cliproxy_cursor_entries"), 1.0);
    let logs = g.logs();
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "a log line of {longest} bytes");
    assert!(logs.len() < 200_000, "{} bytes of log", logs.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_the_watched_files_reloads_nothing_and_a_change_reloads_once() {
    let si = StandIn::start().await;
    let g = start(
        &upstream_key(&si),
        &[(
            "claude-a.json",
            claude_oauth_file("a@example.com", "at-a", "rt-a", 3600),
        )],
    )
    .await;
    let loads = |g: &Gateway| g.logs().matches("accounts loaded").count();
    let reloads = |g: &Gateway| g.logs().matches("configuration reloaded").count();
    // Let start-up events settle, then count.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (l0, r0) = (loads(&g), reloads(&g));
    for _ in 0..20 {
        let _ = std::fs::read(g.config_path()).unwrap();
        let _ = std::fs::read(g.auth_dir().join("claude-a.json")).unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Rewriting the same bytes is no change either.
    let same = std::fs::read(g.auth_dir().join("claude-a.json")).unwrap();
    write_file(&g.auth_dir().join("claude-a.json"), &same);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        (loads(&g), reloads(&g)),
        (l0, r0),
        "reads reloaded:\n{}",
        g.logs()
    );
    g.write_auth(
        "claude-a.json",
        &claude_oauth_file("a@example.com", "at-a2", "rt-a2", 3600),
    );
    eventually("the change is loaded", Duration::from_secs(5), async || {
        loads(&g) > l0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(loads(&g), l0 + 1, "{}", g.logs());
    assert_eq!(reloads(&g), r0);
}
