//! Anthropic Messages through the real gateway binary to a stand-in Anthropic upstream.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_faults;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

const MODEL: &str = "claude-opus-4-5-20251101";

fn claude_block(si: &StandIn) -> String {
    format!(
        "claude:\n  base-url: {}\n  token-url: {}\n",
        si.base_url,
        si.url("/v1/oauth/token")
    )
}

fn api_keys_block(si: &StandIn, keys: &[(&str, i64)]) -> String {
    let mut s = String::from("claude-api-key:\n");
    for (k, prio) in keys {
        s.push_str(&format!(
            "  - api-key: {k}\n    base-url: {}\n    priority: {prio}\n",
            si.base_url
        ));
    }
    s
}

/// The upstream key of every /v1/messages request the stand-in received, in order.
fn sent_keys(si: &StandIn) -> Vec<String> {
    msg_requests(si)
        .iter()
        .map(|r| r.header("x-api-key").unwrap().to_string())
        .collect()
}

/// Sends `n` non-stream requests that must all succeed.
async fn send_ok(g: &Gateway, n: usize) {
    for _ in 0..n {
        let r = post_messages(g, &messages_body(MODEL, false), &[]).await;
        assert_eq!(r.status(), 200, "{}", g.logs());
    }
}

fn msg_requests(si: &StandIn) -> Vec<standin::RecordedRequest> {
    si.requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/v1/messages"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_curl_check_is_served_through_a_claude_oauth_account() {
    let si = StandIn::start().await;
    si.seed_access_token("sk-ant-oat01-test-access");
    let g = start(
        &claude_block(&si),
        &[(
            "claude-user@example.com.json",
            claude_oauth_file(
                "user@example.com",
                "sk-ant-oat01-test-access",
                "rt-1",
                8 * 3600,
            ),
        )],
    )
    .await;
    // Exactly the seed's curl: no client key, anthropic-version only.
    let raw = br#"{"model":"claude-opus-4-5-20251101","messages":[{"role":"user","content":"test"}],"max_tokens":10}"#;
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("Content-Type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(&raw[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["type"], "text");

    let reqs = msg_requests(&si);
    assert_eq!(reqs.len(), 1);
    let up = &reqs[0];
    assert_eq!(up.uri, "/v1/messages?beta=true");
    assert_eq!(
        up.header("authorization"),
        Some("Bearer sk-ant-oat01-test-access")
    );
    assert_eq!(up.header("x-api-key"), None);
    let beta = up.header("anthropic-beta").unwrap();
    assert!(beta.contains("oauth-2025-04-20"), "{beta}");
    assert!(beta.contains("claude-code-20250219"), "{beta}");
    assert_eq!(up.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(up.header("x-app"), Some("cli"));
    assert!(up.header("user-agent").unwrap().starts_with("claude-cli/"));
    assert_eq!(
        up.header("anthropic-dangerous-direct-browser-access"),
        Some("true")
    );
    assert_eq!(up.header("x-stainless-lang"), Some("js"));
    // OAuth and not Claude Code: the Claude Code identity leads the system prompt
    // (cloaking, as CLIProxyAPI does); everything the client sent is kept.
    let sent: Value = serde_json::from_slice(raw).unwrap();
    let got = up.json().unwrap();
    assert_eq!(
        got["system"][0]["text"],
        "You are Claude Code, Anthropic's official CLI for Claude."
    );
    for k in ["model", "messages", "max_tokens"] {
        assert_eq!(got[k], sent[k], "{k}");
    }
    assert!(
        got["metadata"]["user_id"]
            .as_str()
            .unwrap()
            .starts_with("user_")
    );
    assert!(
        !got.to_string().contains("user@example.com"),
        "no e-mail in user_id"
    );

    // Claude Code itself: its request goes through byte for byte.
    si.clear_requests();
    si.seed_access_token("sk-ant-oat01-test-access");
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages"))
        .header("Content-Type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("user-agent", "claude-cli/2.1.0 (external, cli)")
        .body(&raw[..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let up = &msg_requests(&si)[0];
    assert_eq!(&up.body[..], &raw[..]);
    assert_eq!(
        up.header("user-agent"),
        Some("claude-cli/2.1.0 (external, cli)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_entries_use_x_api_key_custom_headers_and_client_betas() {
    let si = StandIn::start().await;
    let cfg = format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-fake-1\n    base-url: {}\n    headers:\n      X-Custom: yes\n",
        si.base_url
    );
    let g = start(&cfg, &[]).await;
    let r = post_messages(
        &g,
        &messages_body(MODEL, false),
        &[
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("x-api-key", "client-side-ignored"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let up = &msg_requests(&si)[0];
    assert_eq!(up.header("x-api-key"), Some("sk-ant-api03-fake-1"));
    assert_eq!(up.header("authorization"), None);
    assert_eq!(
        up.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(up.header("x-custom"), Some("yes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_events_arrive_in_order_and_as_they_are_sent() {
    let si = StandIn::start().await;
    si.set_behavior("*", Behavior::stream(6, 300));
    let g = start(&api_keys_block(&si, &[("sk-ant-api03-a", 0)]), &[]).await;
    let started = Instant::now();
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = r.bytes_stream();
    let mut text = String::new();
    let mut first_delta_at = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let s = String::from_utf8_lossy(&chunk).to_string();
        if first_delta_at.is_none() && s.contains("content_block_delta") {
            first_delta_at = Some(started.elapsed());
        }
        text.push_str(&s);
    }
    let total = started.elapsed();
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(order.first(), Some(&"message_start"));
    assert_eq!(order.last(), Some(&"message_stop"));
    let pos = |e: &str| order.iter().position(|x| *x == e).unwrap();
    assert!(pos("content_block_start") < pos("content_block_delta"));
    assert!(pos("content_block_stop") < pos("message_delta"));
    // Not buffered: the first delta reached us long before the stream (≈1.8 s) ended.
    let first = first_delta_at.unwrap();
    assert!(
        first + Duration::from_millis(900) < total,
        "first delta at {first:?}, end at {total:?}"
    );
    let up = &msg_requests(&si)[0];
    assert_eq!(up.header("accept"), Some("text/event-stream"));
}

#[tokio::test(flavor = "multi_thread")]
async fn count_tokens_and_model_lists() {
    let si = StandIn::start().await;
    let g = start(&api_keys_block(&si, &[("sk-ant-api03-a", 0)]), &[]).await;
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages/count_tokens"))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["input_tokens"].as_u64().unwrap() > 0);
    assert!(
        si.requests()
            .iter()
            .any(|r| r.uri == "/v1/messages/count_tokens?beta=true")
    );

    let v: Value = reqwest::get(g.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == MODEL && m["object"] == "model")
    );
    let v: Value = reqwest::Client::new()
        .get(g.url("/v1/models"))
        .header("user-agent", "claude-cli/2.1.0 (external, cli)")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["has_more"], false);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == MODEL && m["type"] == "model")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_alternates_and_fill_first_sticks() {
    let si = StandIn::start().await;
    let g = start(
        &api_keys_block(&si, &[("sk-ant-api03-a", 0), ("sk-ant-api03-b", 0)]),
        &[],
    )
    .await;
    send_ok(&g, 4).await;
    let keys: Vec<String> = sent_keys(&si);
    assert_eq!(
        keys.iter().filter(|k| k.ends_with("-a")).count(),
        2,
        "{keys:?}"
    );
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);

    si.clear_requests();
    g.write_config(&format!(
        "routing:\n  strategy: fill-first\n{}",
        api_keys_block(&si, &[("sk-ant-api03-a", 0), ("sk-ant-api03-b", 0)])
    ));
    tokio::time::sleep(Duration::from_millis(800)).await;
    send_ok(&g, 3).await;
    let keys: Vec<String> = sent_keys(&si);
    assert_eq!(keys, vec!["sk-ant-api03-a"; 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn higher_priority_group_is_used_until_it_cools_down() {
    let si = StandIn::start().await;
    let g = start(
        &api_keys_block(&si, &[("sk-ant-api03-low", 0), ("sk-ant-api03-high", 10)]),
        &[],
    )
    .await;
    send_ok(&g, 3).await;
    assert!(
        msg_requests(&si)
            .iter()
            .all(|r| r.header("x-api-key") == Some("sk-ant-api03-high"))
    );
    si.set_behavior(
        "sk-ant-api03-high",
        Behavior::fail(100, 429).with_retry_after("120"),
    );
    si.clear_requests();
    assert_eq!(
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status(),
        200
    );
    let keys: Vec<_> = sent_keys(&si);
    // One 429 on high, then low serves; high is cooling, so the second request goes to low directly.
    assert_eq!(
        keys,
        vec!["sk-ant-api03-high", "sk-ant-api03-low", "sk-ant-api03-low"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_accounts_cooling_gives_model_cooldown_naming_each_account() {
    let si = StandIn::start().await;
    si.set_behavior("*", Behavior::fail(100, 429).with_retry_after("90"));
    let g = start(
        &format!(
            "request-retry: 0\n{}",
            api_keys_block(
                &si,
                &[("sk-ant-api03-aaaa1111", 0), ("sk-ant-api03-bbbb2222", 0)]
            )
        ),
        &[],
    )
    .await;
    // First request: both answer 429, the client sees the upstream's own 429.
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(msg_requests(&si).len(), 2);
    // Next request: nothing is tried, the gateway explains.
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((80..=90).contains(&ra), "{ra}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["code"], "model_cooldown");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("…1111") && msg.contains("…2222"), "{msg}");
    assert!(msg.contains("rate limited (429)"), "{msg}");
    assert_eq!(msg_requests(&si).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn short_retry_after_is_waited_out_and_retried() {
    let si = StandIn::start().await;
    si.set_behavior("*", Behavior::fail(1, 429).with_retry_after("1"));
    let g = start(
        &format!(
            "request-retry: 2\nmax-retry-interval: 5\n{}",
            api_keys_block(&si, &[("sk-ant-api03-only", 0)])
        ),
        &[],
    )
    .await;
    let t = Instant::now();
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(msg_requests(&si).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_move_on_and_invalid_requests_return_at_once() {
    let si = StandIn::start().await;
    let g = start(
        &api_keys_block(&si, &[("sk-ant-api03-a", 0), ("sk-ant-api03-b", 0)]),
        &[],
    )
    .await;
    si.set_behavior("sk-ant-api03-a", Behavior::fail(1, 500));
    si.set_behavior("sk-ant-api03-b", Behavior::fail(1, 500));
    // Whichever goes first fails with 500, the other... also 500 once: both tried, 500 passed through.
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 500);
    assert_eq!(msg_requests(&si).len(), 2);

    let si2 = StandIn::start().await;
    si2.set_behavior(
        "*",
        Behavior::fail(1, 400).with_message("messages: field required"),
    );
    let g2 = start(
        &api_keys_block(&si2, &[("sk-ant-api03-a", 0), ("sk-ant-api03-b", 0)]),
        &[],
    )
    .await;
    let r = post_messages(&g2, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(
        msg_requests(&si2).len(),
        1,
        "a 400 must not be retried on another account"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_request_answered_529_is_retried_on_another_account() {
    // An overloaded answer (no stream at all). Streams that break on the wire, before and
    // after their first byte, are in tests/faults/streams.rs.
    let si = StandIn::start().await;
    si.set_behavior("sk-ant-api03-a", Behavior::fail(100, 529));
    si.set_behavior("sk-ant-api03-b", Behavior::fail(100, 529));
    let g = start(
        &api_keys_block(
            &si,
            &[
                ("sk-ant-api03-a", 0),
                ("sk-ant-api03-b", 0),
                ("sk-ant-api03-c", 0),
            ],
        ),
        &[],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_stop"));
    let keys: Vec<_> = sent_keys(&si);
    // Round-robin starts at the first account, which fails; the next usable one serves.
    assert!(keys.len() >= 2, "{keys:?}");
    assert_eq!(keys[0], "sk-ant-api03-a");
    assert_eq!(keys.last().map(String::as_str), Some("sk-ant-api03-c"));
    assert!(keys[..keys.len() - 1].iter().all(|k| k != "sk-ant-api03-c"));
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_401_refreshes_once_and_replays() {
    let si = StandIn::start().await;
    si.seed_access_token("some-other-token"); // strict: "old-access" is not accepted
    si.seed_refresh_token("rt-old", "user@example.com");
    let name = "claude-user@example.com.json";
    let g = start(
        &claude_block(&si),
        &[(
            name,
            claude_oauth_file("user@example.com", "old-access", "rt-old", 8 * 3600),
        )],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let issued = si.issued();
    assert_eq!(issued.len(), 1);
    let reqs = msg_requests(&si);
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer old-access"));
    assert_eq!(
        reqs[1].header("authorization").unwrap(),
        format!("Bearer {}", issued[0].access_token)
    );
    let token_req = si
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v1/oauth/token")
        .unwrap();
    let tb = token_req.json().unwrap();
    assert_eq!(tb["grant_type"], "refresh_token");
    assert_eq!(tb["refresh_token"], "rt-old");
    assert_eq!(tb["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    // The file was rewritten atomically with the new tokens and unknown fields kept.
    let f = g.read_auth(name);
    assert_eq!(f["access_token"], issued[0].access_token);
    assert_eq!(f["refresh_token"], issued[0].refresh_token);
    assert_eq!(f["custom_field"], json!({"kept": true}));
    assert_ne!(f["last_refresh"], "2026-01-01T00:00:00Z");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(g.auth_dir().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_is_refreshed_once_for_concurrent_requests() {
    let si = StandIn::start().await;
    si.seed_refresh_token("rt-1", "a@example.com");
    si.seed_access_token("unused");
    let g = start(
        &claude_block(&si),
        &[(
            "claude-a@example.com.json",
            claude_oauth_file("a@example.com", "expired-access", "rt-1", -60),
        )],
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = g.url("/v1/messages");
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&messages_body(MODEL, false))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        si.issued().len(),
        1,
        "single-flight: one refresh for all requests"
    );
    assert!(
        msg_requests(&si)
            .iter()
            .all(|r| r.header("authorization") != Some("Bearer expired-access"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_close_to_expiry_are_refreshed_proactively() {
    let si = StandIn::start().await;
    si.seed_refresh_token("rt-p", "p@example.com");
    let name = "claude-p@example.com.json";
    // Expires in 1 h: inside Claude's 4 h lead. No request is made.
    let g = start(
        &claude_block(&si),
        &[(
            name,
            claude_oauth_file("p@example.com", "at-p", "rt-p", 3600),
        )],
    )
    .await;
    eventually("proactive refresh", Duration::from_secs(10), async || {
        !si.issued().is_empty()
    })
    .await;
    let issued = si.issued();
    eventually("file rewritten", Duration::from_secs(5), async || {
        g.read_auth(name)["access_token"] == issued[0].access_token
    })
    .await;
    // A token far from expiry is left alone.
    let si2 = StandIn::start().await;
    si2.seed_refresh_token("rt-q", "q@example.com");
    let _g2 = start(
        &claude_block(&si2),
        &[(
            "claude-q@example.com.json",
            claude_oauth_file("q@example.com", "at-q", "rt-q", 8 * 3600),
        )],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(si2.issued().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_refresh_marks_needs_login_without_looping() {
    let si = StandIn::start().await;
    si.seed_access_token("valid-but-not-ours");
    // rt-dead is unknown to the token endpoint: invalid_grant.
    let g = start(
        &claude_block(&si),
        &[(
            "claude-d@example.com.json",
            claude_oauth_file("d@example.com", "expired", "rt-dead", -10),
        )],
    )
    .await;
    for _ in 0..3 {
        let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        let msg = v["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("d@example.com"), "{msg}");
        assert!(msg.contains("needs login"), "{msg}");
        assert!(msg.contains("cliproxy login claude"), "{msg}");
    }
    let token_calls = si
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1/oauth/token")
        .count();
    assert_eq!(token_calls, 1, "a refused refresh is not retried");
    assert!(msg_requests(&si).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_folder_changes_apply_without_restart_and_broken_files_are_skipped() {
    let si = StandIn::start().await;
    let g = start(
        &claude_block(&si),
        &[("broken.json", json!("not an object"))],
    )
    .await;
    std::fs::write(g.auth_dir().join("truncated.json"), b"{\"type\":\"clau").unwrap();
    assert_eq!(
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status(),
        404
    );
    g.write_auth(
        "claude-n@example.com.json",
        &claude_oauth_file("n@example.com", "at-new", "rt", 8 * 3600),
    );
    eventually("new account served", Duration::from_secs(10), async || {
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status()
            == 200
    })
    .await;
    assert!(
        msg_requests(&si)
            .iter()
            .any(|r| r.header("authorization") == Some("Bearer at-new"))
    );
    assert!(g.logs().contains("broken.json"));
    std::fs::remove_file(g.auth_dir().join("claude-n@example.com.json")).unwrap();
    eventually(
        "removed account no longer served",
        Duration::from_secs(10),
        async || {
            post_messages(&g, &messages_body(MODEL, false), &[])
                .await
                .status()
                == 404
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_changes_apply_live_and_a_broken_config_keeps_the_running_one() {
    let si = StandIn::start().await;
    let keys = api_keys_block(&si, &[("sk-ant-api03-a", 0)]);
    let g = start(&keys, &[]).await;
    assert_eq!(
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status(),
        200
    );
    g.write_config(&format!("api-keys: [\"client-1\"]\n{keys}"));
    eventually("client keys enforced", Duration::from_secs(3), async || {
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status()
            == 401
    })
    .await;
    assert_eq!(
        post_messages(
            &g,
            &messages_body(MODEL, false),
            &[("x-api-key", "client-1")]
        )
        .await
        .status(),
        200
    );
    // A broken edit is rejected; the previous config keeps serving.
    g.write_config("api-keys: [\"client-1\"\nport: oops");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        post_messages(
            &g,
            &messages_body(MODEL, false),
            &[("x-api-key", "client-1")]
        )
        .await
        .status(),
        200
    );
    assert!(g.logs().contains("config change rejected"), "{}", g.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn client_keys_are_checked_with_anthropic_error_shape() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "api-keys: [\"ck-1\", \"ck-2\"]\n{}",
            api_keys_block(&si, &[("sk-ant-api03-a", 0)])
        ),
        &[],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"type":"error","error":{"type":"authentication_error","message":"Missing API key"}})
    );
    let r = post_messages(&g, &messages_body(MODEL, false), &[("x-api-key", "wrong")]).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Invalid API key");
    for h in [
        ("authorization", "Bearer ck-2"),
        ("x-api-key", "ck-1"),
        ("x-goog-api-key", "ck-1"),
    ] {
        assert_eq!(
            post_messages(&g, &messages_body(MODEL, false), &[h])
                .await
                .status(),
            200,
            "{h:?}"
        );
    }
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages?key=ck-1"))
        .json(&messages_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .post(g.url("/v1/messages?auth_token=ck-2"))
        .json(&messages_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The client's own key never reaches the upstream.
    assert!(
        si.requests()
            .iter()
            .all(|r| !format!("{:?}", r.headers).contains("ck-"))
    );
    assert_eq!(reqwest::get(g.url("/healthz")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_entry_proxy_url_carries_the_upstream_request() {
    let upstream = StandIn::start().await;
    // A second stand-in plays the HTTP proxy: it receives the absolute-form request.
    let proxy = StandIn::start().await;
    let cfg = format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-proxied\n    base-url: {}\n    proxy-url: {}\n",
        upstream.base_url, proxy.base_url
    );
    let g = start(&cfg, &[]).await;
    assert_eq!(
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status(),
        200
    );
    assert!(
        upstream.requests().is_empty(),
        "went direct instead of through the proxy"
    );
    let via = proxy.requests();
    assert_eq!(via.len(), 1);
    assert_eq!(via[0].uri, "/v1/messages?beta=true");
    assert_eq!(
        via[0].header("host"),
        Some(upstream.addr.to_string().as_str()),
        "addressed to the real upstream"
    );
    assert_eq!(via[0].header("x-api-key"), Some("sk-ant-api03-proxied"));
}

#[tokio::test(flavor = "multi_thread")]
async fn max_retry_credentials_caps_accounts_tried_per_request() {
    let si = StandIn::start().await;
    si.set_behavior("*", Behavior::fail(100, 503));
    let keys = api_keys_block(
        &si,
        &[
            ("sk-ant-api03-a", 0),
            ("sk-ant-api03-b", 0),
            ("sk-ant-api03-c", 0),
        ],
    );
    let g = start(
        &format!("max-retry-credentials: 2\nrequest-retry: 0\n{keys}"),
        &[],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(msg_requests(&si).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_streams_finish_on_what_they_started_with() {
    // A stream request is held by its first account (no byte sent yet) while the config is
    // replaced: the old accounts are gone, a new one on another upstream takes their place.
    // When the first account then fails, the request must retry on the *next account of the
    // snapshot it started with* (key b on `old`), not on the new config's account (key c on
    // `new`): this fails if the request loop re-reads the current snapshot.
    let held = support_faults::FaultyUpstream::start().await;
    held.set(
        "sk-ant-api03-held-a",
        support_faults::Fault::HoldThenOverloaded,
    );
    let old = StandIn::start().await;
    old.set_behavior("*", Behavior::stream(4, 100));
    let new = StandIn::start().await;
    let entry = |k: &str, url: &str| format!("  - api-key: {k}\n    base-url: {url}\n");
    let g = start(
        &format!(
            "request-retry: 0\nclaude-api-key:\n{}{}",
            entry("sk-ant-api03-held-a", &held.base_url),
            entry("sk-ant-api03-old-b", &old.base_url)
        ),
        &[],
    )
    .await;
    let base = g.url("/v1/messages");
    let in_flight = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(base)
            .header("content-type", "application/json")
            .header("anthropic-version", "2023-06-01")
            .json(&messages_body(MODEL, true))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    eventually(
        "the first account holds the request",
        Duration::from_secs(10),
        async || held.held() == 1,
    )
    .await;
    g.write_config(&format!(
        "request-retry: 0\nclaude-api-key:\n{}",
        entry("sk-ant-api03-new-c", &new.base_url)
    ));
    // (Watched in the log: a probe request could itself land on the held account.)
    eventually(
        "the new config is in force",
        Duration::from_secs(10),
        async || g.logs().contains("configuration reloaded"),
    )
    .await;
    held.release();
    let (status, text) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{text}\n{}", g.logs());
    assert!(text.contains("event: message_stop"), "{text}");
    let old_keys: Vec<_> = old
        .requests_to("/v1/messages")
        .iter()
        .map(|r| r.header("x-api-key").unwrap().to_string())
        .collect();
    assert_eq!(
        old_keys,
        vec!["sk-ant-api03-old-b"],
        "retried within its own snapshot"
    );
    assert!(
        new.requests_to("/v1/messages").is_empty(),
        "the in-flight stream never reached the new config's account"
    );
    // New requests do use the new config.
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(new.requests_to("/v1/messages").len(), 1);
    assert_eq!(old.requests_to("/v1/messages").len(), 1);

    // Mid-stream, the account file disappears and client keys become required: the stream
    // that already started still runs to its end; new requests see the new state.
    let si = StandIn::start().await;
    si.set_behavior("*", Behavior::stream(8, 150));
    let name = "claude-f@example.com.json";
    let g = start(
        &claude_block(&si),
        &[(
            name,
            claude_oauth_file("f@example.com", "at-f", "rt-f", 8 * 3600),
        )],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    std::fs::remove_file(g.auth_dir().join(name)).unwrap();
    g.write_config(&format!(
        "api-keys: [\"now-required\"]\n{}",
        claude_block(&si)
    ));
    let mut rest = String::new();
    while let Some(c) = stream.next().await {
        rest.push_str(&String::from_utf8_lossy(&c.unwrap()));
    }
    assert!(rest.contains("event: message_stop"), "{rest}");
    eventually("new config in force", Duration::from_secs(3), async || {
        post_messages(&g, &messages_body(MODEL, false), &[])
            .await
            .status()
            == 401
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_upstream_answers_and_refreshes_without_secrets() {
    let si = StandIn::start().await;
    si.seed_refresh_token("rt-m", "m@example.com");
    si.seed_access_token("unused");
    let cfg = format!(
        "api-keys: [\"ck-metrics\"]\n{}{}",
        claude_block(&si),
        api_keys_block(&si, &[("sk-ant-api03-metricsSECRET", 0)])
    );
    let g = start(
        &cfg,
        &[(
            "claude-m@example.com.json",
            claude_oauth_file("m@example.com", "expired", "rt-m", -5),
        )],
    )
    .await;
    si.allow_credential("sk-ant-api03-metricsSECRET");
    for _ in 0..3 {
        let r = post_messages(
            &g,
            &messages_body(MODEL, false),
            &[("x-api-key", "ck-metrics")],
        )
        .await;
        assert_eq!(r.status(), 200, "{}", g.logs());
    }
    assert_eq!(
        reqwest::get(g.url("/metrics")).await.unwrap().status(),
        401,
        "behind the client keys"
    );
    let text = reqwest::Client::new()
        .get(g.url("/metrics"))
        .bearer_auth("ck-metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("cliproxy_requests_total{route=\"/v1/messages\",status=\"200\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("cliproxy_upstream_responses_total{provider=\"claude\",outcome=\"ok\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("cliproxy_token_refreshes_total{provider=\"claude\",result=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("cliproxy_credentials{provider=\"claude\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("cliproxy_request_duration_seconds_bucket"),
        "{text}"
    );
    for secret in ["SECRET", "ck-metrics", "rt-m", "m@example.com"] {
        assert!(!text.contains(secret), "{secret} leaked into metrics");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_cooling_on_an_account_does_not_block_other_models_on_it() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "request-retry: 0\n{}",
            api_keys_block(&si, &[("sk-ant-api03-only", 0)])
        ),
        &[],
    )
    .await;
    si.set_behavior(
        "sk-ant-api03-only",
        Behavior::fail(1, 429).with_retry_after("90"),
    );
    const OTHER: &str = "claude-sonnet-4-5-20250929";
    // Opus is rate limited on the only account: the upstream's 429, then the gateway's own.
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 429);
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_cooldown", "{v}");
    // The same account still serves another model meanwhile.
    for _ in 0..2 {
        let r = post_messages(&g, &messages_body(OTHER, false), &[]).await;
        assert_eq!(r.status(), 200, "{}", g.logs());
    }
    let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
    assert_eq!(r.status(), 429, "opus still cools");
    let models: Vec<String> = msg_requests(&si)
        .iter()
        .map(|r| r.json().unwrap()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        models,
        vec![MODEL, OTHER, OTHER],
        "no opus request while it cools"
    );
}
