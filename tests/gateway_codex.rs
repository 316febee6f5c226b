//! Codex accounts and the Responses API through the real gateway binary, against the
//! stand-in Codex backend (which refuses what the real one refuses).
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

const TEXT: &str = "Hello from the stand-in.";

fn codex_file(email: &str, access: &str, account: &str) -> Value {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(10 * 24 * 3600);
    json!({
        "id_token": "", "access_token": access, "refresh_token": format!("rt-{access}"),
        "account_id": account, "last_refresh": "2026-01-01T00:00:00Z", "email": email,
        "type": "codex", "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

fn codex_config(si: &StandIn) -> String {
    format!(
        "codex:\n  base-url: {}/backend-api/codex\nclaude:\n  base-url: {}\n",
        si.base_url, si.base_url
    )
}

async fn one_account(si: &StandIn, extra: &str) -> Gateway {
    start(
        &format!("{}{extra}", codex_config(si)),
        &[(
            "codex-a@example.com-plus.json",
            codex_file("a@example.com", "tok-a", "acct-a"),
        )],
    )
    .await
}

async fn two_accounts(si: &StandIn, extra: &str) -> Gateway {
    start(
        &format!("{}{extra}", codex_config(si)),
        &[
            (
                "codex-a@example.com-plus.json",
                codex_file("a@example.com", "tok-a", "acct-a"),
            ),
            (
                "codex-b@example.com-plus.json",
                codex_file("b@example.com", "tok-b", "acct-b"),
            ),
        ],
    )
    .await
}

async fn post(g: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(g.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `(event name, data)` of every SSE frame; `data` parsed as JSON when it is.
fn frames(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            }
        }
        assert!(!data.trim().is_empty(), "empty data frame in {text}");
        out.push((
            name,
            serde_json::from_str(&data).unwrap_or(Value::String(data)),
        ));
    }
    out
}

fn codex_requests(si: &StandIn) -> Vec<standin::RecordedRequest> {
    si.requests_to("/backend-api/codex/responses")
}

fn output_text(resp: &Value) -> String {
    resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_non_stream_is_assembled_from_the_codex_stream() {
    let si = StandIn::start().await;
    let g = one_account(&si, "").await;
    let body = json!({"model": "gpt-5-codex", "input": "hi", "max_output_tokens": 100,
                      "temperature": 0.5, "store": true, "prompt_cache_key": "conv-1",
                      "reasoning": {"effort": "low", "summary": "auto"}});
    // The stand-in leaves `output` empty in every second `response.completed`.
    for _ in 0..2 {
        let r = post(&g, "/v1/responses", &body).await;
        assert_eq!(r.status(), 200, "{}", g.logs());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(output_text(&v), TEXT, "{v}");
        assert_eq!(v["output"][0]["type"], "reasoning");
        assert!(
            v["output"][0]["encrypted_content"]
                .as_str()
                .unwrap()
                .starts_with("gAAAA")
        );
        assert!(v["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64() > Some(0));
    }
    let reqs = codex_requests(&si);
    assert_eq!(reqs.len(), 2);
    let up = reqs[0].json().unwrap();
    assert_eq!(up["stream"], true, "always streamed upstream");
    assert_eq!(up["store"], false);
    assert_eq!(up["instructions"], "");
    assert_eq!(up["include"], json!(["reasoning.encrypted_content"]));
    assert!(up.get("max_output_tokens").is_none() && up.get("temperature").is_none());
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-a"));
    assert_eq!(reqs[0].header("chatgpt-account-id"), Some("acct-a"));
    assert_eq!(reqs[0].header("originator"), Some("codex-tui"));
    assert_eq!(reqs[0].header("session_id"), Some("conv-1"));
    assert_eq!(reqs[0].header("accept"), Some("text/event-stream"));
    assert!(
        reqs[0]
            .header("user-agent")
            .unwrap()
            .starts_with("codex-tui/")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_streams_keep_the_documented_order_with_the_final_output_filled() {
    let si = StandIn::start().await;
    let g = one_account(&si, "").await;
    let body = json!({"model": "gpt-5-codex", "input": [{"role": "user", "content": "hi"}],
                      "stream": true, "instructions": "Be brief."});
    for _ in 0..2 {
        let r = post(&g, "/v1/responses", &body).await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let f = frames(&r.text().await.unwrap());
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        let deltas = names
            .iter()
            .filter(|n| **n == "response.output_text.delta")
            .count();
        let mut want = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        want.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        want.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(names, want);
        assert!(deltas >= 2);
        for (i, (_, v)) in f.iter().enumerate() {
            assert_eq!(v["sequence_number"], i, "sequence numbers increase");
            assert_eq!(v["type"], names[i]);
        }
        let done = &f.last().unwrap().1["response"];
        assert_eq!(output_text(done), TEXT, "completed output rebuilt: {done}");
    }
    assert_eq!(
        codex_requests(&si)[0].json().unwrap()["instructions"],
        "Be brief."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_ending_without_completed_is_retried_before_the_first_byte_and_reported_after() {
    let si = StandIn::start().await;
    si.set_behavior(
        "tok-a",
        Behavior {
            stream_error_after: Some(1),
            ..Default::default()
        },
    );
    let g = two_accounts(&si, "").await;
    // Non-stream: nothing reached the client yet, so the other account answers.
    for _ in 0..2 {
        let r = post(
            &g,
            "/v1/responses",
            &json!({"model": "gpt-5", "input": "hi"}),
        )
        .await;
        assert_eq!(r.status(), 200, "{}", g.logs());
        let v: Value = r.json().await.unwrap();
        assert_eq!(output_text(&v), TEXT);
    }
    let creds: Vec<_> = codex_requests(&si)
        .iter()
        .map(|r| r.credential().unwrap())
        .collect();
    assert!(creds.contains(&"tok-a".to_string()), "{creds:?}");
    assert_eq!(creds.last().map(String::as_str), Some("tok-b"));

    // Streamed: the client already has events; it is told the stream broke.
    let solo = StandIn::start().await;
    solo.set_behavior(
        "*",
        Behavior {
            stream_error_after: Some(1),
            ..Default::default()
        },
    );
    let g1 = one_account(&solo, "").await;
    let r = post(
        &g1,
        "/v1/responses",
        &json!({"model": "gpt-5", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let f = frames(&r.text().await.unwrap());
    let (name, last) = f.last().unwrap();
    assert_eq!(name, "error", "{f:?}");
    assert_eq!(last["message"], "stream closed before response.completed");
    // An Anthropic client of the same stream gets Anthropic's error event.
    let r = post(
        &g1,
        "/v1/messages",
        &json!({"model": "gpt-5", "max_tokens": 50, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let f = frames(&r.text().await.unwrap());
    assert_eq!(f.last().unwrap().0, "error", "{f:?}");
    assert_eq!(f.last().unwrap().1["type"], "error");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_usage_limit_cools_the_account_until_its_reset_and_auth_list_shows_it() {
    let si = StandIn::start().await;
    si.set_behavior("tok-a", Behavior::usage_limit(200_000));
    let g = two_accounts(&si, "").await;
    for _ in 0..4 {
        let r = post(
            &g,
            "/v1/responses",
            &json!({"model": "gpt-5", "input": "hi"}),
        )
        .await;
        assert_eq!(r.status(), 200, "{}", g.logs());
    }
    let to_a = codex_requests(&si)
        .iter()
        .filter(|r| r.credential().as_deref() == Some("tok-a"))
        .count();
    assert_eq!(to_a, 1, "account a is not asked again while it cools");
    let out = std::process::Command::new(BIN)
        .args([
            "--config",
            g.config_path().to_str().unwrap(),
            "auth",
            "list",
        ])
        .env("HOME", g.home())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("codex-a@example.com-plus.json"))
        .unwrap();
    assert!(
        line.contains("cooling down until")
            && line.contains("usage limit reached (plus plan); resets in 2d 7h"),
        "{text}"
    );

    // With every account limited the client is told when the first one is back.
    let solo = StandIn::start().await;
    solo.set_behavior("*", Behavior::usage_limit(90_000));
    let g1 = one_account(&solo, "").await;
    let r = post(
        &g1,
        "/v1/responses",
        &json!({"model": "gpt-5", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["type"], "usage_limit_reached",
        "passed through: {v}"
    );
    let r = post(
        &g1,
        "/v1/chat/completions",
        &json!({"model": "gpt-5",
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_cooldown");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("usage limit reached (plus plan); resets in 1d 1h"),
        "{msg}"
    );
    assert!(v["error"]["reset_seconds"].as_u64().unwrap() > 80_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_session_stays_on_one_account() {
    let si = StandIn::start().await;
    let g = two_accounts(&si, "").await;
    for key in ["conv-1", "conv-2"] {
        for _ in 0..4 {
            let r = post(
                &g,
                "/v1/responses",
                &json!({"model": "gpt-5", "input": "hi", "prompt_cache_key": key}),
            )
            .await;
            assert_eq!(r.status(), 200);
        }
    }
    let reqs = codex_requests(&si);
    for key in ["conv-1", "conv-2"] {
        let mut creds: Vec<_> = reqs
            .iter()
            .filter(|r| r.json().unwrap()["prompt_cache_key"] == key)
            .map(|r| r.credential().unwrap())
            .collect();
        assert_eq!(creds.len(), 4);
        creds.dedup();
        assert_eq!(creds.len(), 1, "{key} moved between accounts");
    }
    // Without a session, round-robin spreads requests over both accounts.
    si.clear_requests();
    for _ in 0..4 {
        post(
            &g,
            "/v1/responses",
            &json!({"model": "gpt-5", "input": "hi"}),
        )
        .await;
    }
    let mut creds: Vec<_> = codex_requests(&si)
        .iter()
        .map(|r| r.credential().unwrap())
        .collect();
    creds.sort();
    creds.dedup();
    assert_eq!(creds.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn compact_is_native_and_never_streamed() {
    let si = StandIn::start().await;
    let g = one_account(&si, "").await;
    let r = post(
        &g,
        "/v1/responses/compact",
        &json!({"model": "gpt-5-codex", "input": [{"role": "user", "content": "long"}], "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"][0]["type"], "compaction");
    let up = si.requests_to("/backend-api/codex/responses/compact");
    assert_eq!(up.len(), 1);
    let body = up[0].json().unwrap();
    assert!(body.get("stream").is_none());
    assert_eq!(body["store"], false);
    assert_eq!(up[0].header("accept"), Some("application/json"));
    // Only Codex compacts.
    let r = post(
        &g,
        "/v1/responses/compact",
        &json!({"model": "claude-sonnet-4-5-20250929", "input": "x"}),
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn models_list_codex_models_when_codex_accounts_exist() {
    let si = StandIn::start().await;
    let g = one_account(
        &si,
        "oauth-model-alias:\n  codex:\n    - name: gpt-5-codex\n      alias: codex-main\noauth-excluded-models:\n  codex: [\"gpt-5-codex-mini\"]\n",
    )
    .await;
    let v: Value = reqwest::get(g.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"gpt-5.1-codex") && ids.contains(&"codex-main"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"gpt-5-codex") && !ids.contains(&"gpt-5-codex-mini"));
    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "codex-main", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        codex_requests(&si)[0].json().unwrap()["model"],
        "gpt-5-codex"
    );
    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "gpt-5-codex-mini", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 404, "excluded for OAuth accounts");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["type"], "invalid_request_error",
        "OpenAI shape: {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_api_key_entries_serve_with_their_base_url_and_headers() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "codex-api-key:\n  - api-key: sk-codex-test-0123456789\n    base-url: {}/v1\n    headers:\n      X-Team: blue\n    models:\n      - name: gpt-5-codex\n        alias: team-codex\n",
            si.base_url
        ),
        &[],
    )
    .await;
    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "team-codex", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = si.requests_to("/v1/responses");
    assert_eq!(
        up[0].header("authorization"),
        Some("Bearer sk-codex-test-0123456789")
    );
    assert_eq!(up[0].header("x-team"), Some("blue"));
    assert_eq!(up[0].header("originator"), None, "not for API keys");
    assert_eq!(up[0].json().unwrap()["model"], "gpt-5-codex");
}
