//! OpenAI Chat Completions through the gateway to OpenAI-compatible stand-ins.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

fn compat_block(si: &StandIn) -> String {
    format!(
        "openai-compatibility:\n  - name: openrouter\n    base-url: {}/api/v1\n    headers:\n      HTTP-Referer: https://example.test\n    api-key-entries:\n      - api-key: sk-or-fake-1\n    models:\n      - name: upstream/model-x\n        alias: model-x\n      - name: upstream/pool-a\n        alias: pool\n      - name: upstream/pool-b\n        alias: pool\n  - name: zai\n    prefix: z\n    base-url: {}/api/coding/paas/v4\n    api-key-entries:\n      - api-key: zai-fake-1\n    models:\n      - name: glm-4.6\n",
        si.base_url, si.base_url
    )
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn chat_requests(si: &StandIn) -> Vec<standin::RecordedRequest> {
    si.requests()
        .into_iter()
        .filter(|r| r.path().ends_with("/chat/completions"))
        .collect()
}

async fn post(g: &Gateway, body: &Value, key: Option<&str>) -> reqwest::Response {
    let mut rb = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .json(body);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    rb.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_are_rewritten_and_keys_swapped() {
    let si = StandIn::start().await;
    let g = start(&format!("api-keys: [\"ck\"]\n{}", compat_block(&si)), &[]).await;
    let r = post(&g, &chat("model-x", false), Some("ck")).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    let up = &chat_requests(&si)[0];
    assert_eq!(up.uri, "/api/v1/chat/completions");
    assert_eq!(up.json().unwrap()["model"], "upstream/model-x");
    assert_eq!(
        up.json().unwrap()["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(up.header("authorization"), Some("Bearer sk-or-fake-1"));
    assert_eq!(up.header("http-referer"), Some("https://example.test"));
    assert!(!format!("{:?}", up.headers).contains("\"ck\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_are_forwarded_chunk_by_chunk_and_end_with_done() {
    let si = StandIn::start().await;
    let g = start(&compat_block(&si), &[]).await;
    let r = post(&g, &chat("model-x", true), None).await;
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut text = String::new();
    while let Some(c) = s.next().await {
        text.push_str(&String::from_utf8_lossy(&c.unwrap()));
    }
    let datas: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(datas.last(), Some(&"[DONE]"));
    let first: Value = serde_json::from_str(datas[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert!(!text.contains("data: \n"), "no empty data frames");
}

#[tokio::test(flavor = "multi_thread")]
async fn prefixed_models_and_pools() {
    let si = StandIn::start().await;
    let g = start(&compat_block(&si), &[]).await;
    assert_eq!(
        post(&g, &chat("z/glm-4.6", false), None).await.status(),
        200
    );
    assert_eq!(
        post(&g, &chat("glm-4.6", false), None).await.status(),
        200,
        "unprefixed too unless force-model-prefix"
    );
    let reqs = chat_requests(&si);
    assert!(
        reqs.iter()
            .all(|r| r.uri == "/api/coding/paas/v4/chat/completions")
    );
    assert!(reqs.iter().all(|r| r.json().unwrap()["model"] == "glm-4.6"));
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some("Bearer zai-fake-1"))
    );

    // Pool: the first upstream model fails with 503, the next one in the pool serves.
    si.clear_requests();
    si.set_behavior("sk-or-fake-1", Behavior::fail(1, 503));
    assert_eq!(post(&g, &chat("pool", false), None).await.status(), 200);
    let models: Vec<String> = chat_requests(&si)
        .iter()
        .map(|r| r.json().unwrap()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models.len(), 2, "{models:?}");
    assert_ne!(models[0], models[1]);

    let listed: Value = reqwest::get(g.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in ["model-x", "pool", "z/glm-4.6", "glm-4.6"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["owned_by"] == "openrouter")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_use_the_openai_shape() {
    let si = StandIn::start().await;
    let g = start(&format!("api-keys: [\"ck\"]\n{}", compat_block(&si)), &[]).await;
    let r = post(&g, &chat("model-x", false), None).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "Missing API key", "type": "authentication_error", "code": "invalid_api_key"}})
    );
    let r = post(&g, &chat("no-such-model", false), Some("ck")).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model")
    );
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .bearer_auth("ck")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(chat_requests(&si).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_clients_reach_openai_compatible_models_through_translation() {
    let si = StandIn::start().await;
    let g = start(&compat_block(&si), &[]).await;
    // Non-stream: Anthropic in, Chat Completions upstream, Anthropic out.
    let body = json!({"model": "model-x", "max_tokens": 50, "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}]});
    let r = post_messages(&g, &body, &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "model-x");
    assert_eq!(v["content"][0]["type"], "text");
    assert!(!v["content"][0]["text"].as_str().unwrap().is_empty());
    assert_eq!(v["stop_reason"], "end_turn");
    let up = &chat_requests(&si)[0];
    assert_eq!(up.uri, "/api/v1/chat/completions");
    let ub = up.json().unwrap();
    assert_eq!(ub["model"], "upstream/model-x");
    assert_eq!(
        ub["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(ub["max_tokens"], 50);

    // Stream: Anthropic event order out of OpenAI chunks.
    let mut body = body;
    body["stream"] = json!(true);
    let r = post_messages(&g, &body, &[]).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"message_start"), "{text}");
    assert_eq!(events.last(), Some(&"message_stop"), "{text}");
    assert!(events.contains(&"content_block_delta"));
    assert!(!text.contains("[DONE]"));

    // Upstream errors come back in the client's dialect.
    si.set_behavior(
        "sk-or-fake-1",
        Behavior::fail(1, 400).with_message("bad things"),
    );
    let r = post_messages(&g, &json!({"model": "model-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}), &[]).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad things"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_clients_reach_claude_models_through_translation() {
    let si = StandIn::start().await;
    let cfg = format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-t\n    base-url: {}\n",
        si.base_url
    );
    let g = start(&cfg, &[]).await;
    let r = post(&g, &json!({"model": "claude-opus-4-5-20251101", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]}), None).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let up = si
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v1/messages")
        .unwrap();
    let ub = up.json().unwrap();
    assert_eq!(ub["system"], "sys");
    assert!(
        ub["max_tokens"].as_u64().unwrap() > 0,
        "Anthropic requires max_tokens"
    );
    assert_eq!(up.header("x-api-key"), Some("sk-ant-api03-t"));

    let r = post(&g, &json!({"model": "claude-opus-4-5-20251101", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}), None).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let datas: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(datas.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = datas[..datas.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .any(|c| c["usage"]["completion_tokens"].as_u64().is_some())
    );
}
