//! Amp through the real gateway binary, continued: calls Amp serves are recorded in the
//! usage database (streams passed on unbuffered all the same), and calls a mapping
//! serves locally answer under the model name Amp asked for, in each dialect.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::{AMP_HELD_MODEL, StandIn};

const CLIENT_KEY: &str = "client-key-for-amp-usage";
const AMP_KEY: &str = "sgamp_user_usage";
const LOCAL_KEY: &str = "sk-ant-local-usage";
const HAIKU: &str = "claude-haiku-4-5-20251001";

fn config(si: &StandIn) -> String {
    format!(
        "api-keys:\n  - {CLIENT_KEY}\n\
         claude-api-key:\n  - api-key: {LOCAL_KEY}\n    base-url: {base}\n\
         ampcode:\n  upstream-url: {base}\n  upstream-api-key: {AMP_KEY}\n  model-mappings:\n\
         \x20   - from: amp-claude\n      to: {HAIKU}\n\
         \x20   - from: amp-gpt\n      to: {HAIKU}\n\
         \x20   - from: amp-gemini\n      to: {HAIKU}\n",
        base = si.base_url
    )
}

async fn post(g: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(g.url(path))
        .bearer_auth(CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn post_ok(g: &Gateway, path: &str, body: &Value) -> String {
    let r = post(g, path, body).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}\n{}", g.logs());
    text
}

/// The JSON of every `data:` line of an SSE body.
fn events(sse: &str) -> Vec<Value> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

#[derive(Debug)]
struct Row {
    provider: String,
    account: String,
    model_requested: String,
    model_sent: String,
    dialect: String,
    status: i64,
    stream: bool,
    input: i64,
    output: i64,
    latency_ms: i64,
    ttfb_ms: Option<i64>,
    client_key: String,
}

/// Every usage record the gateway has written so far.
fn rows(g: &Gateway) -> Vec<Row> {
    let path = g.auth_dir().join(".cliproxy-usage.sqlite");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let Ok(mut st) = conn.prepare(
        "SELECT provider, account, model_requested, model_sent, dialect, status, stream,
                input_tokens, output_tokens, latency_ms, ttfb_ms, client_key
         FROM requests ORDER BY at_ms",
    ) else {
        return Vec::new();
    };
    st.query_map([], |r| {
        Ok(Row {
            provider: r.get(0)?,
            account: r.get(1)?,
            model_requested: r.get(2)?,
            model_sent: r.get(3)?,
            dialect: r.get(4)?,
            status: r.get(5)?,
            stream: r.get::<_, i64>(6)? != 0,
            input: r.get(7)?,
            output: r.get(8)?,
            latency_ms: r.get(9)?,
            ttfb_ms: r.get(10)?,
            client_key: r.get(11)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

async fn wait_rows(g: &Gateway, n: usize) -> Vec<Row> {
    let mut got = Vec::new();
    eventually(
        &format!("{n} usage records"),
        Duration::from_secs(20),
        async || {
            got = rows(g);
            got.len() >= n
        },
    )
    .await;
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_amp_serves_are_recorded_with_their_tokens_and_streams_stay_unbuffered() {
    let si = StandIn::start().await;
    let g = start(&config(&si), &[]).await;

    // A model stream Amp serves: its first event arrives while Amp still holds the rest.
    let r = post(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body(AMP_HELD_MODEL, true),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let mut body = r.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(30), body.next())
        .await
        .expect("the first event did not arrive while Amp was still streaming")
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("message_start"),
        "{first:?}"
    );
    si.release_amp_stream();
    let mut rest = Vec::new();
    while let Some(c) = body.next().await {
        rest.extend_from_slice(&c.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).contains("message_stop"));
    let up = si.requests_to("/api/provider/anthropic/v1/messages");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].header("x-api-key"), Some(AMP_KEY));

    // A whole answer Amp serves in the OpenAI dialect.
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let text = post_ok(&g, "/api/provider/openai/v1/chat/completions", &chat).await;
    let answer: Value = serde_json::from_str(&text).unwrap();
    let prompt = answer["usage"]["prompt_tokens"].as_i64().unwrap();
    let completion = answer["usage"]["completion_tokens"].as_i64().unwrap();
    assert!(prompt > 0 && completion > 0, "{answer}");

    let got = wait_rows(&g, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let held = &got[0];
    assert_eq!(
        (held.provider.as_str(), held.account.as_str()),
        ("amp", "amp")
    );
    assert_eq!(held.model_requested, AMP_HELD_MODEL);
    assert_eq!(held.model_sent, AMP_HELD_MODEL);
    assert_eq!(held.dialect, "anthropic");
    assert_eq!((held.status, held.stream), (200, true));
    // Read from the stream's events as they passed: input from message_start, output
    // from the message_delta Amp sent after the release.
    assert_eq!((held.input, held.output), (11, 7));
    let ttfb = held.ttfb_ms.expect("time to first byte recorded");
    assert!(ttfb <= held.latency_ms, "{held:?}");
    assert!(held.client_key.starts_with("key-"), "{held:?}");
    assert!(!held.client_key.contains(CLIENT_KEY));

    let chat_row = &got[1];
    assert_eq!(chat_row.provider, "amp");
    assert_eq!(chat_row.model_requested, "gpt-4o-mini");
    assert_eq!(chat_row.dialect, "openai-chat");
    assert_eq!((chat_row.status, chat_row.stream), (200, false));
    assert_eq!((chat_row.input, chat_row.output), (prompt, completion));
}

#[tokio::test(flavor = "multi_thread")]
async fn amp_failures_are_recorded_with_their_status() {
    let si = StandIn::start().await;
    // No Amp key anywhere: Amp (the stand-in) refuses the call.
    let cfg = config(&si).replace(&format!("  upstream-api-key: {AMP_KEY}\n"), "");
    let g = start(&cfg, &[]).await;
    let r = post(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body("amp-hosted-model", false),
    )
    .await;
    let status = r.status().as_u16();
    assert!(status >= 400, "{status}");
    let got = wait_rows(&g, 1).await;
    assert_eq!(got[0].provider, "amp");
    assert_eq!(got[0].status, i64::from(status));
    assert_eq!(got[0].model_requested, "amp-hosted-model");
    assert_eq!((got[0].input, got[0].output), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_calls_answer_with_the_model_amp_asked_for_in_every_dialect() {
    let si = StandIn::start().await;
    let g = start(&config(&si), &[]).await;

    // Anthropic, whole answer: served by the local account as the mapped model...
    let text = post_ok(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body("amp-claude", false),
    )
    .await;
    let up = si.requests_to("/v1/messages");
    assert_eq!(up.last().unwrap().json().unwrap()["model"], HAIKU);
    assert_eq!(up.last().unwrap().header("x-api-key"), Some(LOCAL_KEY));
    // ...and answered under Amp's name.
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "amp-claude", "{v}");
    assert!(v["content"].is_array());

    // Anthropic stream: message_start carries the model.
    let text = post_ok(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body("amp-claude", true),
    )
    .await;
    assert!(!text.contains(HAIKU), "{text}");
    let evs = events(&text);
    let start = evs.iter().find(|e| e["type"] == "message_start").unwrap();
    assert_eq!(start["message"]["model"], "amp-claude");
    assert!(evs.iter().any(|e| e["type"] == "message_stop"), "{text}");

    // OpenAI chat, whole and streamed.
    let chat = |stream: bool| {
        json!({"model": "amp-gpt", "stream": stream,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    let text = post_ok(&g, "/api/provider/openai/v1/chat/completions", &chat(false)).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "amp-gpt", "{v}");
    assert!(v["choices"][0]["message"].is_object(), "{v}");
    let text = post_ok(&g, "/api/provider/openai/v1/chat/completions", &chat(true)).await;
    assert!(!text.contains(HAIKU), "{text}");
    let chunks = events(&text);
    assert!(chunks.len() >= 2, "{text}");
    assert!(chunks.iter().all(|c| c["model"] == "amp-gpt"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Gemini, whole and streamed (the model is in the path).
    let gem = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let text = post_ok(
        &g,
        "/api/provider/google/v1beta/models/amp-gemini:generateContent",
        &gem,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["modelVersion"], "amp-gemini", "{v}");
    assert!(v["candidates"].is_array(), "{v}");
    let text = post_ok(
        &g,
        "/api/provider/google/v1beta/models/amp-gemini:streamGenerateContent?alt=sse",
        &gem,
    )
    .await;
    assert!(!text.contains(HAIKU), "{text}");
    let chunks = events(&text);
    assert!(!chunks.is_empty(), "{text}");
    assert!(
        chunks.iter().all(|c| c["modelVersion"] == "amp-gemini"),
        "{text}"
    );

    // A Gemini stream read without alt=sse is one JSON array, each element renamed.
    let text = post_ok(
        &g,
        "/api/provider/google/v1beta/models/amp-gemini:streamGenerateContent",
        &gem,
    )
    .await;
    assert!(!text.contains(HAIKU), "{text}");
    let items: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!items.is_empty(), "{text}");
    assert!(
        items.iter().all(|c| c["modelVersion"] == "amp-gemini"),
        "{text}"
    );

    // A model served as asked keeps its own name.
    let text = post_ok(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body(HAIKU, false),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["model"],
        HAIKU
    );

    // Usage: the name Amp asked for, and the one sent.
    let got = wait_rows(&g, 8).await;
    let first = &got[0];
    assert_eq!(
        (first.model_requested.as_str(), first.model_sent.as_str()),
        ("amp-claude", HAIKU)
    );
    assert_eq!(first.provider, "claude");
    assert!(first.input > 0 && first.output > 0, "{first:?}");
    assert!(
        si.requests_to("/api/provider/anthropic/v1/messages")
            .is_empty()
    );
}
