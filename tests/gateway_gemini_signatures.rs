//! Thought signatures through the real gateway over two turns: the Gemini stand-ins sign
//! every answer (and, as Gemini 3 does, refuse a history whose first call of a model turn
//! lacks its signature or carries one they did not issue for that call). A Responses
//! client gets the signature as a reasoning item's `encrypted_content`, an Anthropic
//! client as a thinking `signature`; replayed, the upstream receives it back on the call
//! it signed. Calls from Chat history, which has no slot for signatures, get the skip
//! sentinel. Stream and non-stream, a Gemini API key and an Antigravity account.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use serde_json::{Value, json};
use standin::{CloudCode, StandIn};

const CLIENT_KEY: &str = "client-key-1";
const SKIP: &str = "skip_thought_signature_validator";

/// The key serves one model, so each model has one upstream (a signature is only good
/// where it was made).
fn config(si: &StandIn) -> String {
    format!(
        concat!(
            "api-keys: [\"{key}\"]\n",
            "gemini-api-key:\n  - api-key: AIza-upstream-1\n    base-url: {b}\n",
            "    models: [{{name: gemini-3-pro-preview, alias: gemini-3-pro-preview}}]\n",
            "antigravity:\n  token-url: {b}/oauth/token\n  base-urls: [\"{b}\"]\n",
        ),
        key = CLIENT_KEY,
        b = si.base_url
    )
}

fn antigravity_file() -> Value {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    json!({
        "type": "antigravity",
        "access_token": "ag-at-1",
        "refresh_token": "ag-rt-1",
        "expires_in": 3600,
        "timestamp": jiff::Timestamp::now().as_millisecond(),
        "expired": exp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "email": "ag@example.com",
        "project_id": "proj-sig",
    })
}

async fn gateway(si: &StandIn) -> Gateway {
    si.set_cloud_code(CloudCode {
        project_on_load: Some("proj-sig".into()),
        ..CloudCode::default()
    });
    start(
        &config(si),
        &[("antigravity-ag@example.com.json", antigravity_file())],
    )
    .await
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

fn data_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The model turns of the last request that reached `suffix` (envelope removed).
fn model_turns(si: &StandIn, suffix: &str) -> Vec<Value> {
    let mut v = si.requests_to(suffix).pop().unwrap().json().unwrap();
    if let Some(inner) = v.get_mut("request") {
        v = inner.take();
    }
    v["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .cloned()
        .collect()
}

fn call_parts(turn: &Value) -> Vec<Value> {
    turn["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("functionCall").is_some())
        .cloned()
        .collect()
}

const WEATHER_RESPONSES: &str = r#"{"type": "function", "name": "get_weather", "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}"#;

/// A Responses answer, from a body or from the `response.completed` event of a stream.
async fn responses_answer(r: reqwest::Response, stream: bool) -> Value {
    let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    if !stream {
        return serde_json::from_str(&text).unwrap();
    }
    data_lines(&text)
        .into_iter()
        .rfind(|v| v["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed in {text}"))["response"]
        .clone()
}

/// Responses client, two turns: the reasoning item's `encrypted_content` is the signature
/// the upstream put on its call, and it comes back on that call.
async fn responses_round_trip(g: &Gateway, si: &StandIn, model: &str, suffix: &str, stream: bool) {
    let tool: Value = serde_json::from_str(WEATHER_RESPONSES).unwrap();
    let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
    let first = json!({"model": model, "input": [ask], "tools": [tool], "stream": stream,
        "include": ["reasoning.encrypted_content"]});
    let r = post(g, "/v1/responses", &first).await;
    assert_eq!(r.status(), 200, "{model}: {}", g.logs());
    let res = responses_answer(r, stream).await;
    let output = res["output"].as_array().unwrap().clone();
    let sig = output
        .iter()
        .find_map(|i| (i["type"] == "reasoning").then(|| i["encrypted_content"].as_str()))
        .flatten()
        .unwrap_or_else(|| panic!("{model}: no signed reasoning item in {res}"))
        .to_string();
    let call = output
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap()
        .clone();
    assert_eq!(call["name"], "get_weather");

    let mut input = vec![ask];
    input.extend(output);
    input
        .push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}));
    let second = json!({"model": model, "input": input, "tools": [tool], "stream": stream});
    let r = post(g, "/v1/responses", &second).await;
    assert_eq!(r.status(), 200, "{model}: {}", g.logs());
    let res = responses_answer(r, stream).await;
    let said = res["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| i["content"][0]["text"].as_str().unwrap_or_default())
        .collect::<String>();
    assert!(said.starts_with("The tool returned"), "{model}: {res}");

    let turns = model_turns(si, suffix);
    assert_eq!(
        turns.len(),
        1,
        "{:?}",
        si.requests()
            .iter()
            .map(|r| (r.path().to_string(), r.json()))
            .collect::<Vec<_>>()
    );
    let calls = call_parts(&turns[0]);
    assert_eq!(calls.len(), 1, "{turns:?}");
    assert_eq!(calls[0]["functionCall"]["name"], "get_weather");
    assert_eq!(
        calls[0]["thoughtSignature"], sig,
        "{model} stream={stream}: the signature is back on the call it signed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_clients_replay_gemini_signatures_on_the_call_they_sign() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    for stream in [false, true] {
        responses_round_trip(
            &g,
            &si,
            "gemini-3-pro-preview",
            if stream {
                ":streamGenerateContent"
            } else {
                ":generateContent"
            },
            stream,
        )
        .await;
        responses_round_trip(
            &g,
            &si,
            "gemini-3-flash",
            if stream {
                "/v1internal:streamGenerateContent"
            } else {
                "/v1internal:generateContent"
            },
            stream,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_from_elsewhere_reaches_gemini_as_the_skip_sentinel() {
    // Not issued by this gateway's accounts (another provider's, or from before a
    // restart): Gemini 3 would refuse it ("Corrupted thought signature"), so it goes as
    // the sentinel, as CLIProxyAPI does for signatures it cannot vouch for.
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let body = json!({"model": "gemini-3-pro-preview", "input": [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB-not-a-gemini-signature"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"}
    ]});
    let r = post(&g, "/v1/responses", &body).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let turns = model_turns(&si, ":generateContent");
    let calls = call_parts(&turns[0]);
    assert_eq!(calls[0]["thoughtSignature"], SKIP, "{turns:?}");
    assert!(
        !serde_json::to_string(&turns).unwrap().contains("gAAAAB"),
        "the foreign signature is not sent: {turns:?}"
    );
}

/// An Anthropic client's content blocks rebuilt from a stream, as the SDKs do.
fn anthropic_blocks(text: &str) -> Vec<Value> {
    let mut blocks: Vec<Value> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    for v in data_lines(text) {
        match v["type"].as_str() {
            Some("content_block_start") => {
                blocks.push(v["content_block"].clone());
                args.push(String::new());
            }
            Some("content_block_delta") => {
                let i = v["index"].as_u64().unwrap() as usize;
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("thinking_delta") => {
                        let t = format!(
                            "{}{}",
                            blocks[i]["thinking"].as_str().unwrap_or(""),
                            d["thinking"].as_str().unwrap()
                        );
                        blocks[i]["thinking"] = json!(t);
                    }
                    Some("signature_delta") => blocks[i]["signature"] = d["signature"].clone(),
                    Some("text_delta") => {
                        let t = format!(
                            "{}{}",
                            blocks[i]["text"].as_str().unwrap_or(""),
                            d["text"].as_str().unwrap()
                        );
                        blocks[i]["text"] = json!(t);
                    }
                    Some("input_json_delta") => {
                        args[i].push_str(d["partial_json"].as_str().unwrap())
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (b, a) in blocks.iter_mut().zip(args) {
        if b["type"] == "tool_use" && !a.is_empty() {
            b["input"] = serde_json::from_str(&a).unwrap();
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_replays_gemini_signatures_as_thinking_signatures() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    let tool = json!({"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}});
    for (model, suffix) in [
        ("gemini-3-pro-preview", ":streamGenerateContent"),
        ("gemini-3-flash", "/v1internal:streamGenerateContent"),
    ] {
        let ask = json!({"role": "user", "content": [{"type": "text", "text": "what is the weather in Paris?"}]});
        let body = json!({"model": model, "max_tokens": 4096, "stream": true,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [tool], "messages": [ask]});
        let r = post(&g, "/v1/messages", &body).await;
        assert_eq!(r.status(), 200, "{}", g.logs());
        let blocks = anthropic_blocks(std::str::from_utf8(&r.bytes().await.unwrap()).unwrap());
        let sig = blocks
            .iter()
            .find_map(|b| {
                (b["type"] == "thinking")
                    .then(|| b["signature"].as_str())
                    .flatten()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| panic!("{model}: no signed thinking in {blocks:?}"))
            .to_string();
        let call = blocks
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap()
            .clone();
        let mut second = body.clone();
        second["messages"] = json!([
            ask,
            {"role": "assistant", "content": blocks},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C"}]},
        ]);
        let r = post(&g, "/v1/messages", &second).await;
        assert_eq!(r.status(), 200, "{model}: {}", g.logs());
        let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
        let said: String = anthropic_blocks(&text)
            .iter()
            .filter_map(|b| b["text"].as_str().map(str::to_string))
            .collect();
        assert!(said.starts_with("The tool returned"), "{text}");
        let turns = model_turns(&si, suffix);
        let calls = call_parts(&turns[0]);
        assert_eq!(calls[0]["thoughtSignature"], sig, "{model}: {turns:?}");
        let thought = &turns[0]["parts"][0];
        assert_eq!(thought["thought"], true, "{turns:?}");
        assert_eq!(thought["text"], "Thinking it over.");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_history_calls_reach_gemini_3_with_the_skip_sentinel() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    for (model, suffix) in [
        ("gemini-3-pro-preview", ":generateContent"),
        ("gemini-3-flash", "/v1internal:generateContent"),
    ] {
        let body = json!({"model": model, "messages": [
            {"role": "user", "content": "what is the weather in Paris and Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "3C"}
        ]});
        let r = post(&g, "/v1/chat/completions", &body).await;
        assert_eq!(r.status(), 200, "{model}: {}", g.logs());
        let v: Value = r.json().await.unwrap();
        let said = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(said.starts_with("The tool returned"), "{v}");
        let turns = model_turns(&si, suffix);
        let calls = call_parts(&turns[0]);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["thoughtSignature"], SKIP, "{model}");
        assert!(calls[1].get("thoughtSignature").is_none(), "{model}");
    }
}
