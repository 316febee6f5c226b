//! Proves the stand-in upstreams speak the documented wire formats and honour their controls.
#![allow(clippy::unwrap_used)]

mod standin;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::{Behavior, DEFAULT_TEXT, StandIn};

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

fn anthropic(s: &StandIn, key: &str, body: Value) -> reqwest::RequestBuilder {
    client()
        .post(s.url("/v1/messages?beta=true"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

fn simple(text: &str) -> Value {
    json!({"model": "claude-opus-4-5-20251101", "max_tokens": 64, "messages": [{"role": "user", "content": text}]})
}

fn weather_tools() -> Value {
    json!([{
        "name": "get_weather",
        "description": "Get the current weather",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}
    }, {"name": "other_tool", "input_schema": {"type": "object", "properties": {}}}])
}

/// Parse an SSE body into (event name, data JSON-or-raw) pairs.
fn parse_sse(text: &str) -> Vec<(Option<String>, String)> {
    assert!(
        text.ends_with("\n\n"),
        "SSE body must end with a blank line: {text:?}"
    );
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut ev = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    ev = Some(e.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (ev, data.join("\n"))
        })
        .collect()
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let st = r.status().as_u16();
    (st, r.json().await.expect("json body"))
}

#[tokio::test]
async fn anthropic_non_stream_shape() {
    let s = StandIn::start().await;
    let r = anthropic(&s, "sk-ant-api03-a", simple("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let (_, v) = json_of(r).await;
    assert!(v["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-opus-4-5-20251101");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": DEFAULT_TEXT}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert!(v["usage"]["input_tokens"].as_u64().expect("in") >= 1);
    assert_eq!(v["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn anthropic_stream_event_order() {
    let s = StandIn::start().await;
    let mut body = simple("hi");
    body["stream"] = json!(true);
    let r = anthropic(&s, "k", body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&r.text().await.expect("text"));
    let names: Vec<&str> = events
        .iter()
        .map(|(e, _)| e.as_deref().expect("every event has an event: line"))
        .collect();
    let n = names.len();
    assert_eq!(
        &names[..3],
        &["message_start", "content_block_start", "ping"]
    );
    assert!(names[3..n - 3].iter().all(|e| *e == "content_block_delta"));
    assert_eq!(n - 6, 4, "one delta per word by default");
    assert_eq!(
        &names[n - 3..],
        &["content_block_stop", "message_delta", "message_stop"]
    );
    let datas: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("data is JSON"))
        .collect();
    for ((e, _), d) in events.iter().zip(&datas) {
        assert_eq!(
            Some(d["type"].as_str().expect("type")),
            e.as_deref(),
            "event name equals data.type"
        );
    }
    let start = &datas[0]["message"];
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(
        datas[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = datas[3..n - 3]
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            assert_eq!(d["index"], 0);
            d["delta"]["text"].as_str().expect("text").to_owned()
        })
        .collect();
    assert_eq!(text, DEFAULT_TEXT);
    assert_eq!(datas[n - 2]["delta"]["stop_reason"], "end_turn");
    assert_eq!(datas[n - 2]["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn anthropic_tool_use_round_trip() {
    let s = StandIn::start().await;
    let mut body = simple("What's the weather in Paris?");
    body["tools"] = weather_tools();
    let (st, v) = json_of(anthropic(&s, "k", body.clone()).send().await.expect("send")).await;
    assert_eq!(st, 200);
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "get_weather");
    assert!(block["id"].as_str().expect("id").starts_with("toolu_"));
    assert_eq!(
        block["input"],
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );

    // Streamed: input_json_delta pieces concatenate to the same input.
    body["stream"] = json!(true);
    let events = parse_sse(
        &anthropic(&s, "k", body.clone())
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("t"),
    );
    let datas: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    assert_eq!(datas[1]["content_block"]["type"], "tool_use");
    assert_eq!(datas[1]["content_block"]["input"], json!({}));
    let partial: String = datas
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().expect("pj").to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).expect("json"),
        block["input"]
    );
    let md = datas
        .iter()
        .find(|d| d["type"] == "message_delta")
        .expect("message_delta");
    assert_eq!(md["delta"]["stop_reason"], "tool_use");

    // tool_result turn → text answer naming the result.
    let follow = json!({"model": "claude-opus-4-5-20251101", "max_tokens": 64, "tools": weather_tools(), "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "15 degrees, sunny"}]}
    ]});
    let (st, v) = json_of(anthropic(&s, "k", follow).send().await.expect("send")).await;
    assert_eq!(st, 200);
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(
        v["content"][0]["text"],
        "The tool returned: 15 degrees, sunny"
    );
}

#[tokio::test]
async fn count_tokens_and_models() {
    let s = StandIn::start().await;
    let r = client()
        .post(s.url("/v1/messages/count_tokens?beta=true"))
        .header("authorization", "Bearer tok")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-x", "messages": [{"role": "user", "content": "0123456789abcdef"}]}))
        .send()
        .await
        .expect("send");
    let (st, v) = json_of(r).await;
    assert_eq!(st, 200);
    assert_eq!(v, json!({"input_tokens": 5})); // "user" + 16 chars = 20 chars / 4

    let (st, v) = json_of(
        client()
            .get(s.url("/v1/models"))
            .bearer_auth("k")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["object"], "list");
    assert!(
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|m| m["id"] == "upstream/model-x" && m["object"] == "model")
    );

    let r = client()
        .get(s.url("/v1/models"))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01");
    let (st, v) = json_of(r.send().await.expect("send")).await;
    assert_eq!(st, 200);
    assert_eq!(v["has_more"], false);
    assert!(
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["type"] == "model")
    );
}

#[tokio::test]
async fn anthropic_validation_errors() {
    let s = StandIn::start().await;
    let r = client()
        .post(s.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&simple("hi"));
    let (st, v) = json_of(r.send().await.expect("send")).await;
    assert_eq!(st, 401);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");

    let r = client()
        .post(s.url("/v1/messages"))
        .header("x-api-key", "k")
        .json(&simple("hi"));
    let (st, v) = json_of(r.send().await.expect("send")).await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("m")
            .contains("anthropic-version")
    );

    let (st, v) = json_of(
        anthropic(
            &s,
            "k",
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        )
        .send()
        .await
        .expect("s"),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("m")
            .contains("max_tokens")
    );
}

#[tokio::test]
async fn fail_next_with_retry_after_then_recover() {
    let s = StandIn::start().await;
    s.set_behavior("key-429", Behavior::fail(2, 429).with_retry_after("7"));
    for _ in 0..2 {
        let r = anthropic(&s, "key-429", simple("hi"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let (_, v) = json_of(r).await;
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
    }
    assert_eq!(
        anthropic(&s, "key-429", simple("hi"))
            .send()
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(s.behavior("key-429").expect("b").fail_next, 0);
    // Other keys are unaffected.
    assert_eq!(
        anthropic(&s, "other", simple("hi"))
            .send()
            .await
            .expect("send")
            .status(),
        200
    );

    for (status, ty) in [
        (529u16, "overloaded_error"),
        (500, "api_error"),
        (401, "authentication_error"),
    ] {
        s.set_behavior("k", Behavior::fail(1, status));
        let (st, v) = json_of(anthropic(&s, "k", simple("hi")).send().await.expect("send")).await;
        assert_eq!((st, v["error"]["type"].as_str()), (status, Some(ty)));
    }

    // Same behaviour in OpenAI shape on the chat route, keyed by the Bearer token.
    s.set_behavior("or-key", Behavior::fail(1, 429).with_retry_after("3"));
    let r = client()
        .post(s.url("/api/v1/chat/completions"))
        .bearer_auth("or-key")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["retry-after"], "3");
    let (st, v) = json_of(r).await;
    assert_eq!(st, 429);
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn always_401_default_key_and_delay() {
    let s = StandIn::start().await;
    s.set_behavior("dead", Behavior::unauthorized());
    for _ in 0..3 {
        let (st, v) = json_of(
            anthropic(&s, "dead", simple("hi"))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(st, 401);
        assert_eq!(v["error"]["type"], "authentication_error");
    }
    s.set_behavior(
        "*",
        Behavior::default()
            .with_delay_ms(150)
            .with_text("slow answer"),
    );
    let t = Instant::now();
    let (st, v) = json_of(
        anthropic(&s, "anyone", simple("hi"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(st, 200);
    assert_eq!(v["content"][0]["text"], "slow answer");
    // A key with its own entry does not get the default.
    assert_eq!(
        anthropic(&s, "dead", simple("hi"))
            .send()
            .await
            .expect("send")
            .status(),
        401
    );
}

#[tokio::test]
async fn stream_chunk_spacing_count_and_midstream_error() {
    let s = StandIn::start().await;
    s.set_behavior("k", Behavior::stream(5, 40).with_text("abcdefghij"));
    let mut body = simple("hi");
    body["stream"] = json!(true);
    let r = anthropic(&s, "k", body.clone()).send().await.expect("send");
    let mut stream = r.bytes_stream();
    let mut arrivals = Vec::new();
    let mut all = Vec::new();
    let t0 = Instant::now();
    while let Some(c) = stream.next().await {
        arrivals.push(t0.elapsed());
        all.extend_from_slice(&c.expect("chunk"));
    }
    let events = parse_sse(std::str::from_utf8(&all).expect("utf8"));
    let deltas: Vec<Value> = events
        .iter()
        .filter(|(e, _)| e.as_deref() == Some("content_block_delta"))
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    assert_eq!(deltas.len(), 5);
    assert_eq!(
        deltas
            .iter()
            .map(|d| d["delta"]["text"].as_str().expect("t"))
            .collect::<String>(),
        "abcdefghij"
    );
    // 1 head frame + 5 deltas + tail frame, each after a 40 ms gap: the stand-in sleeps
    // between frames, so the stream cannot end sooner than 6 gaps after it was sent (a
    // lower bound holds on a loaded machine; how frames group on arrival does not).
    assert!(!arrivals.is_empty());
    let total = arrivals[arrivals.len() - 1];
    assert!(
        total >= Duration::from_millis(6 * 40),
        "the stream ended after {total:?}, before its 6 paced gaps"
    );

    s.set_behavior(
        "k",
        Behavior {
            stream_error_after: Some(2),
            ..Behavior::default()
        },
    );
    let events = parse_sse(
        &anthropic(&s, "k", body)
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("t"),
    );
    let names: Vec<&str> = events
        .iter()
        .map(|(e, _)| e.as_deref().expect("e"))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    let err: Value = serde_json::from_str(&events[5].1).expect("json");
    assert_eq!(err["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn oauth_rotation_and_strict_access() {
    let s = StandIn::start().await;
    s.seed_refresh_token("rt-1", "alice@example.com");
    s.seed_access_token("at-seeded");
    let token = |rt: &str| {
        client().post(s.url("/v1/oauth/token")).json(&json!({
            "grant_type": "refresh_token", "refresh_token": rt, "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e"}))
    };
    let (st, v) = json_of(token("rt-1").send().await.expect("send")).await;
    assert_eq!(st, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["account"]["email_address"], "alice@example.com");
    assert!(v["expires_in"].as_u64().expect("exp") > 0);
    let access = v["access_token"].as_str().expect("at").to_owned();
    let refresh = v["refresh_token"].as_str().expect("rt").to_owned();
    assert_ne!(refresh, "rt-1");

    let (st, v) = json_of(token("rt-1").send().await.expect("send")).await;
    assert_eq!(st, 400);
    assert_eq!(
        v,
        json!({"error": "invalid_grant", "error_description": "Refresh token already used"})
    );
    let (st, v) = json_of(token("never-issued").send().await.expect("send")).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_grant")));

    // The rotated refresh token works once, form-encoded too.
    let r = client()
        .post(s.url("/v1/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={refresh}&client_id=c"
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(token(&refresh).send().await.expect("send").status(), 400);
    let issued = s.issued();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].spent, "rt-1");
    assert_eq!(issued[1].spent, refresh);

    // Strict mode: seeded and issued access tokens pass, others get 401.
    let msg = |tok: &str| {
        client()
            .post(s.url("/v1/messages"))
            .bearer_auth(tok)
            .header("anthropic-version", "2023-06-01")
            .json(&simple("hi"))
    };
    assert_eq!(msg("at-seeded").send().await.expect("send").status(), 200);
    assert_eq!(msg(&access).send().await.expect("send").status(), 200);
    let (st, v) = json_of(msg("sk-ant-oat01-unknown").send().await.expect("send")).await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    s.revoke_access_token(&access);
    assert_eq!(msg(&access).send().await.expect("send").status(), 401);
}

#[tokio::test]
async fn openai_chat_shapes_under_any_base_path() {
    let s = StandIn::start().await;
    for base in ["/v1", "/api/v1", "/api/coding/paas/v4"] {
        let r = client()
            .post(s.url(&format!("{base}/chat/completions")))
            .bearer_auth("sk-or")
            .json(&json!({"model": "upstream/model-x", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("send");
        let (st, v) = json_of(r).await;
        assert_eq!(st, 200, "{base}");
        assert!(v["id"].as_str().expect("id").starts_with("chatcmpl-"));
        assert_eq!(v["object"], "chat.completion");
        assert!(v["created"].as_u64().expect("created") > 1_600_000_000);
        assert_eq!(v["model"], "upstream/model-x");
        assert_eq!(v["choices"][0]["index"], 0);
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["message"]["content"], DEFAULT_TEXT);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        let u = &v["usage"];
        assert_eq!(
            u["total_tokens"],
            u["prompt_tokens"].as_u64().expect("p") + u["completion_tokens"].as_u64().expect("c")
        );
    }
    assert_eq!(s.requests_to("/chat/completions").len(), 3);
    assert_eq!(s.requests()[1].path(), "/api/v1/chat/completions");

    // Missing key → OpenAI-shaped 401.
    let r = client()
        .post(s.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": []}));
    let (st, v) = json_of(r.send().await.expect("send")).await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v["error"].get("type").is_some());
}

#[tokio::test]
async fn openai_stream_with_usage_and_tools() {
    let s = StandIn::start().await;
    let r = client()
        .post(s.url("/api/v1/chat/completions"))
        .bearer_auth("k")
        .json(
            &json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("send");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    let events = parse_sse(&r.text().await.expect("t"));
    assert!(
        events.iter().all(|(e, _)| e.is_none()),
        "OpenAI streams have no event: lines"
    );
    assert_eq!(events.last().expect("last").1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, DEFAULT_TEXT);
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert!(
        chunks[n - 1]["usage"]["total_tokens"]
            .as_u64()
            .expect("usage")
            > 0
    );

    // Tool calls, non-stream and stream.
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let body = json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": "weather in Rome?"}]});
    let (st, v) = json_of(
        client()
            .post(s.url("/v1/chat/completions"))
            .bearer_auth("k")
            .json(&body)
            .send()
            .await
            .expect("s"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("args")).expect("json");
    assert_eq!(args, json!({"city": "San Francisco, CA"}));

    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    let events = parse_sse(
        &client()
            .post(s.url("/v1/chat/completions"))
            .bearer_auth("k")
            .json(&sbody)
            .send()
            .await
            .expect("s")
            .text()
            .await
            .expect("t"),
    );
    let chunks: Vec<Value> = events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).expect("json"))
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&joined).expect("json"), args);
    assert_eq!(
        chunks.last().expect("l")["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // Tool result → text.
    let follow = json!({"model": "m", "tools": tools, "messages": [
        {"role": "user", "content": "weather in Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "20C"}]});
    let (_, v) = json_of(
        client()
            .post(s.url("/v1/chat/completions"))
            .bearer_auth("k")
            .json(&follow)
            .send()
            .await
            .expect("s"),
    )
    .await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The tool returned: 20C"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn recording_and_http_control_surface() {
    let s = StandIn::start().await;
    let r = anthropic(&s, "sk-rec", simple("record me"))
        .header("anthropic-beta", "oauth-2025-04-20")
        .send()
        .await;
    assert_eq!(r.expect("send").status(), 200);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.uri, "/v1/messages?beta=true");
    assert_eq!(q.query(), Some("beta=true"));
    assert_eq!(q.header("X-API-KEY"), Some("sk-rec"));
    assert_eq!(q.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(q.credential().as_deref(), Some("sk-rec"));
    assert_eq!(
        q.json().expect("json")["messages"][0]["content"],
        "record me"
    );

    // HTTP control: the same record, behaviour set over HTTP, reset.
    let (_, list) = json_of(
        client()
            .get(s.url("/_standin/requests"))
            .send()
            .await
            .expect("s"),
    )
    .await;
    assert_eq!(
        list.as_array().expect("arr").len(),
        1,
        "control requests are not recorded"
    );
    assert_eq!(list[0]["headers"]["x-api-key"], "sk-rec");
    assert_eq!(list[0]["json"]["model"], "claude-opus-4-5-20251101");
    let r = client()
        .post(s.url("/_standin/behavior"))
        .json(&json!({"key": "sk-http", "fail_next": 1, "fail_status": 503}))
        .send()
        .await
        .expect("s");
    assert_eq!(r.status(), 200);
    assert_eq!(
        anthropic(&s, "sk-http", simple("x"))
            .send()
            .await
            .expect("s")
            .status(),
        503
    );
    assert_eq!(
        anthropic(&s, "sk-http", simple("x"))
            .send()
            .await
            .expect("s")
            .status(),
        200
    );
    let r = client()
        .post(s.url("/_standin/oauth"))
        .json(&json!({"refresh_tokens": [{"token": "rt-h", "email": "h@example.com"}], "access_tokens": ["at-h"]}))
        .send()
        .await
        .expect("s");
    assert_eq!(r.status(), 200);
    assert_eq!(
        anthropic(&s, "not-at-h", simple("x"))
            .send()
            .await
            .expect("s")
            .status(),
        401
    );
    assert_eq!(
        anthropic(&s, "at-h", simple("x"))
            .send()
            .await
            .expect("s")
            .status(),
        200
    );
    let (_, o) = json_of(
        client()
            .get(s.url("/_standin/oauth"))
            .send()
            .await
            .expect("s"),
    )
    .await;
    assert_eq!(
        o["refresh_tokens"]["rt-h"],
        json!({"email": "h@example.com", "used": false})
    );
    assert_eq!(o["strict"], true);

    assert_eq!(
        client()
            .post(s.url("/_standin/reset"))
            .send()
            .await
            .expect("s")
            .status(),
        200
    );
    assert!(s.requests().is_empty());
    assert_eq!(
        anthropic(&s, "not-at-h", simple("x"))
            .send()
            .await
            .expect("s")
            .status(),
        200,
        "reset turns strict mode off"
    );

    s.set_record(false);
    anthropic(&s, "k", simple("x")).send().await.expect("s");
    assert_eq!(
        s.requests().len(),
        1,
        "nothing recorded while recording is off"
    );
}

// ---------------------------------------------------------------------------------------------
// Codex backend
// ---------------------------------------------------------------------------------------------

async fn codex(s: &StandIn, body: Value) -> (u16, String) {
    let r = client()
        .post(s.url("/backend-api/codex/responses"))
        .bearer_auth("tok")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn codex_refuses_what_the_real_backend_refuses() {
    let s = StandIn::start().await;
    let ok = json!({"model": "gpt-5-codex", "instructions": "", "store": false, "stream": true, "input": "hi"});
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    for (body, msg) in [
        (without("instructions"), "Instructions are required"),
        (with("store", json!(true)), "Store must be set to false"),
        (without("store"), "Store must be set to false"),
        (with("stream", json!(false)), "Stream must be set to true"),
        (
            with("max_output_tokens", json!(10)),
            "Unsupported parameter: max_output_tokens",
        ),
        (
            with("temperature", json!(0.1)),
            "Unsupported parameter: temperature",
        ),
    ] {
        let (status, text) = codex(&s, body).await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"detail": msg})
        );
    }
    let (status, text) = codex(&s, ok.clone()).await;
    assert_eq!(status, 200);
    assert!(
        text.starts_with("event: response.created\ndata: "),
        "{text}"
    );
    assert!(text.contains("event: response.completed\n"));

    s.set_behavior("tok", Behavior::usage_limit(3600));
    let (status, text) = codex(&s, ok).await;
    assert_eq!(status, 429);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["type"], "usage_limit_reached");
    assert_eq!(v["error"]["resets_in_seconds"], 3600);
    assert!(v["error"]["resets_at"].as_u64().is_some());
}
