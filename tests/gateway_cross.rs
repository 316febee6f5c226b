//! The six cross pairs of Anthropic, OpenAI Chat and Responses through the gateway:
//! Anthropic and Chat clients on Codex models, Responses clients on Claude and
//! OpenAI-compatible upstreams; stream and non-stream, tool calls over two turns.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

const TEXT: &str = "Hello from the stand-in.";

async fn gateway(si: &StandIn) -> Gateway {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(10 * 24 * 3600);
    let codex = json!({
        "id_token": "", "access_token": "tok-codex", "refresh_token": "rt-codex",
        "account_id": "acct-1", "email": "c@example.com", "type": "codex",
        "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    let b = &si.base_url;
    start(
        &format!(
            "codex:\n  base-url: {b}/backend-api/codex\n\
claude-api-key:\n  - api-key: sk-ant-test-0123456789\n    base-url: {b}\n\
openai-compatibility:\n  - name: router\n    base-url: {b}/api/v1\n    api-key-entries:\n      - api-key: sk-or-0123456789\n    models:\n      - name: upstream/model-x\n        alias: model-x\n"
        ),
        &[("codex-c@example.com-plus.json", codex)],
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

fn frames(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
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
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}

fn weather_tool_anthropic() -> Value {
    json!({"name": "get_weather", "description": "Weather for a place",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                            "required": ["location"]}})
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_client_on_a_codex_model_runs_a_two_turn_tool_call() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let first = json!({"model": "gpt-5-codex", "max_tokens": 200,
        "system": "You are terse.",
        "tools": [weather_tool_anthropic()],
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}]});
    let r = post(&g, "/v1/messages", &first).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "gpt-5-codex");
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let call = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"]["location"], "San Francisco, CA");
    let call_id = call["id"].as_str().unwrap().to_string();
    let up = si.requests_to("/backend-api/codex/responses");
    let body = up[0].json().unwrap();
    assert_eq!(
        body["input"][0]["role"], "developer",
        "system → developer: {body}"
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["store"], false);

    let mut second = first.clone();
    second["messages"] = json!([
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": v["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "sunny, 21C"}]},
    ]);
    second["stream"] = json!(true);
    let r = post(&g, "/v1/messages", &second).await;
    assert_eq!(r.status(), 200);
    let f = frames(&r.text().await.unwrap());
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    let text: String = f
        .iter()
        .filter_map(|(_, v)| v["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "The tool returned: sunny, 21C");
    let up = si.requests_to("/backend-api/codex/responses");
    let input = up[1].json().unwrap()["input"].clone();
    let items = input.as_array().unwrap();
    let fc = items.iter().find(|i| i["type"] == "function_call").unwrap();
    assert_eq!(fc["call_id"], call_id.as_str());
    let out = items
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .unwrap();
    assert_eq!(out["call_id"], call_id.as_str());
    assert_eq!(out["output"], "sunny, 21C");
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_streams_from_codex_carry_reasoning_signatures_and_usage() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let r = post(
        &g,
        "/v1/messages",
        &json!({"model": "gpt-5-codex", "max_tokens": 2000, "stream": true,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let f = frames(&r.text().await.unwrap());
    let sig = f
        .iter()
        .find_map(|(_, v)| v["delta"]["signature"].as_str())
        .expect("signature delta");
    assert!(sig.starts_with("gAAAA-standin-"));
    let thinking: String = f
        .iter()
        .filter_map(|(_, v)| v["delta"]["thinking"].as_str())
        .collect();
    assert_eq!(thinking, "Thinking about the answer.");
    let delta = f.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert!(delta.1["usage"]["output_tokens"].as_u64() > Some(0));
    assert!(
        delta.1["usage"]["cache_read_input_tokens"]
            .as_u64()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_client_on_a_codex_model_stream_and_non_stream() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let body = json!({"model": "gpt-5", "messages": [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "hi"}],
                      "max_tokens": 50, "temperature": 0.3});
    let r = post(&g, "/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], TEXT);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .is_some()
    );

    let mut s = body.clone();
    s["stream"] = json!(true);
    s["stream_options"] = json!({"include_usage": true});
    let r = post(&g, "/v1/chat/completions", &s).await;
    assert_eq!(r.status(), 200);
    let f = frames(&r.text().await.unwrap());
    assert_eq!(f.last().unwrap().1, Value::String("[DONE]".into()));
    let text: String = f
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, TEXT);
    assert!(
        f.iter()
            .any(|(_, v)| v["usage"]["total_tokens"].as_u64() > Some(0))
    );
    let up = si.requests_to("/backend-api/codex/responses");
    let b = up[0].json().unwrap();
    assert!(b.get("max_output_tokens").is_none() && b.get("temperature").is_none());
    assert_eq!(b["input"][0]["role"], "developer");
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_client_on_claude_stream_and_non_stream_with_tools() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let tools = json!([{"type": "function", "name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}]);
    let body = json!({"model": "claude-sonnet-4-5-20250929", "instructions": "Be brief.",
        "input": "What is the weather in Paris?", "tools": tools, "max_output_tokens": 300});
    let r = post(&g, "/v1/responses", &body).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["model"], "claude-sonnet-4-5-20250929");
    let call = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["location"], "San Francisco, CA");
    let up = si.requests_to("/v1/messages");
    let ab = up[0].json().unwrap();
    assert_eq!(ab["max_tokens"], 300);
    assert_eq!(ab["tools"][0]["name"], "get_weather");

    let second = json!({"model": "claude-sonnet-4-5-20250929", "stream": true, "tools": tools,
    "input": [
        {"role": "user", "content": "What is the weather in Paris?"},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "rainy"},
    ]});
    let r = post(&g, "/v1/responses", &second).await;
    assert_eq!(r.status(), 200);
    let f = frames(&r.text().await.unwrap());
    assert_eq!(f[0].0, "response.created");
    assert_eq!(f.last().unwrap().0, "response.completed");
    for (i, (_, v)) in f.iter().enumerate() {
        assert_eq!(v["sequence_number"], i);
    }
    let text: String = f
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .filter_map(|(_, v)| v["delta"].as_str())
        .collect();
    assert_eq!(text, "The tool returned: rainy");
    let up = si.requests_to("/v1/messages");
    let msgs = up[1].json().unwrap()["messages"].clone();
    assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], call["call_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_client_on_an_openai_compatible_upstream() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "model-x", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["output"][0]["content"][0]["text"], TEXT);
    assert_eq!(v["status"], "completed");
    let up = si.requests_to("/api/v1/chat/completions");
    assert_eq!(up[0].json().unwrap()["model"], "upstream/model-x");
    assert_eq!(up[0].json().unwrap()["messages"][0]["content"], "hi");

    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "model-x", "input": "hi", "stream": true}),
    )
    .await;
    let f = frames(&r.text().await.unwrap());
    let done = &f.last().unwrap().1;
    assert_eq!(f.last().unwrap().0, "response.completed");
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], TEXT);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_reach_each_client_in_its_own_shape() {
    let si = StandIn::start().await;
    si.set_behavior(
        "sk-ant-test-0123456789",
        Behavior::fail(10, 400).with_message("prompt is too long"),
    );
    si.set_behavior(
        "tok-codex",
        Behavior::fail(10, 400).with_message("bad input"),
    );
    let g = gateway(&si).await;
    let r = post(
        &g,
        "/v1/responses",
        &json!({"model": "claude-sonnet-4-5-20250929", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "prompt is too long");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let r = post(
        &g,
        "/v1/messages",
        &json!({"model": "gpt-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["message"], "bad input");
    // Unknown model and malformed body on the Responses route: OpenAI's shape.
    let r = post(&g, "/v1/responses", &json!({"model": "nope", "input": "x"})).await;
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .post(g.url("/v1/responses"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("JSON"));
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_completions_are_served_as_chat() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    for model in ["model-x", "claude-sonnet-4-5-20250929", "gpt-5"] {
        let r = post(
            &g,
            "/v1/completions",
            &json!({"model": model, "prompt": "Say hello", "max_tokens": 16}),
        )
        .await;
        assert_eq!(r.status(), 200, "{model}: {}", g.logs());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], model);
        assert_eq!(v["choices"][0]["text"], TEXT);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["usage"]["total_tokens"].as_u64() > Some(0));

        let r = post(
            &g,
            "/v1/completions",
            &json!({"model": model, "prompt": ["Say", "hello"], "stream": true}),
        )
        .await;
        let f = frames(&r.text().await.unwrap());
        assert_eq!(f.last().unwrap().1, Value::String("[DONE]".into()));
        let text: String = f
            .iter()
            .filter_map(|(_, v)| v["choices"][0]["text"].as_str())
            .collect();
        assert_eq!(text, TEXT, "{model}");
    }
    let up = si.requests_to("/api/v1/chat/completions");
    let b = up[0].json().unwrap();
    assert_eq!(
        b["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
    assert_eq!(b["max_tokens"], 16);
    let r = post(&g, "/v1/completions", &json!({"model": "model-x"})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("prompt"),
        "{v}"
    );
}
