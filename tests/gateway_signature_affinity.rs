//! One model served by two Google upstreams: a Gemini API key (every `gemini-*` model)
//! and an Antigravity account both serve `gemini-3-flash`, routed round-robin. Each
//! stand-in signs its answers as itself and refuses a history carrying the other's
//! signature, as Google does. The gateway remembers which account issued each signature
//! and sends the next turn there; when that account cannot serve, the other gets the skip
//! sentinel in place of signatures it did not make, and accepts.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::collections::BTreeSet;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use standin::{Behavior, CloudCode, StandIn};

const CLIENT_KEY: &str = "client-key-1";
const MODEL: &str = "gemini-3-flash";
const SKIP: &str = "skip_thought_signature_validator";
const GEMINI_KEY: &str = "AIza-upstream-1";
const AG_TOKEN: &str = "ag-at-1";

fn config(si: &StandIn) -> String {
    format!(
        concat!(
            "api-keys: [\"{key}\"]\n",
            "routing:\n  strategy: round-robin\n",
            "gemini-api-key:\n  - api-key: {gk}\n    base-url: {b}\n",
            "antigravity:\n  token-url: {b}/oauth/token\n  base-urls: [\"{b}\"]\n",
        ),
        key = CLIENT_KEY,
        gk = GEMINI_KEY,
        b = si.base_url
    )
}

fn antigravity_file() -> Value {
    let exp = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    json!({
        "type": "antigravity",
        "access_token": AG_TOKEN,
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

async fn post(g: &Gateway, path: &str, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(g.url(path))
        .bearer_auth(CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Which stand-in made a signature (`gemini-api` or `cloudcode`).
fn issuer(sig: &str) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap_or_else(|_| panic!("not a stand-in signature: {sig}"));
    let text = String::from_utf8(raw).unwrap();
    text.strip_prefix("standin-signature:")
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

/// The upstream that got the last generate call, and the signature on its model turn's
/// first function call.
fn last_call(si: &StandIn) -> (String, Value) {
    let r = si
        .requests()
        .into_iter()
        .rfind(|r| r.path().contains("enerateContent"))
        .unwrap();
    let upstream = if r.path().contains("/v1internal:") {
        "cloudcode"
    } else {
        "gemini-api"
    };
    let mut v = r.json().unwrap();
    if let Some(inner) = v.get_mut("request") {
        v = inner.take();
    }
    let sig = v["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .flat_map(|c| c["parts"].as_array().unwrap().clone())
        .find(|p| p.get("functionCall").is_some())
        .map(|p| p["thoughtSignature"].clone())
        .unwrap_or(Value::Null);
    (upstream.to_string(), sig)
}

/// What an answer says: a Gemini stream's text parts joined, else the body as it is.
fn said(text: &str) -> String {
    if !text.starts_with("data: ") {
        return text.to_string();
    }
    data_lines(text)
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect()
}

fn data_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

async fn conversation(g: &Gateway, si: &StandIn, dialect: &str) -> (String, u16, String) {
    conversation_with(g, si, dialect, false).await
}

/// Before turn 2, with `refuse`: the upstream that signed turn 1 answers its next request
/// with a 429 (and so cools down).
fn before_turn_2(si: &StandIn, sig: &str, refuse: bool) {
    if refuse {
        let cred = match issuer(sig).as_str() {
            "cloudcode" => AG_TOKEN,
            _ => GEMINI_KEY,
        };
        si.set_behavior(cred, Behavior::fail(1, 429).with_retry_after("600"));
    }
}

/// One conversation through one client dialect: turn 1 asks for a call, turn 2 sends the
/// call's result back with the history. Returns turn 1's signature and turn 2's answer.
async fn conversation_with(
    g: &Gateway,
    si: &StandIn,
    dialect: &str,
    refuse: bool,
) -> (String, u16, String) {
    match dialect {
        "gemini" | "gemini-sse" => {
            let sse = dialect == "gemini-sse";
            let path = if sse {
                format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse")
            } else {
                format!("/v1beta/models/{MODEL}:generateContent")
            };
            let ask = json!({"role": "user", "parts": [{"text": "What is the weather in Paris?"}]});
            let tools = json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}]);
            let (status, text) = post(g, &path, &json!({"contents": [ask], "tools": tools})).await;
            assert_eq!(status, 200, "{text}");
            let chunks = if sse {
                data_lines(&text)
            } else {
                vec![serde_json::from_str(&text).unwrap()]
            };
            let parts: Vec<Value> = chunks
                .iter()
                .flat_map(|c| {
                    c["candidates"][0]["content"]["parts"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            let sig = parts
                .iter()
                .find_map(|p| p["thoughtSignature"].as_str())
                .unwrap_or_else(|| panic!("no signature in {text}"))
                .to_string();
            before_turn_2(si, &sig, refuse);
            let answer = json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}}]});
            let second = json!({"contents": [ask, {"role": "model", "parts": parts}, answer], "tools": tools});
            let (status, text) = post(g, &path, &second).await;
            (sig, status, text)
        }
        "responses" => {
            let tool = json!({"type": "function", "name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
            let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
            let first = json!({"model": MODEL, "input": [ask], "tools": [tool],
                "include": ["reasoning.encrypted_content"]});
            let (status, text) = post(g, "/v1/responses", &first).await;
            assert_eq!(status, 200, "{text}");
            let res: Value = serde_json::from_str(&text).unwrap();
            let output = res["output"].as_array().unwrap().clone();
            let sig = output
                .iter()
                .find_map(|i| i["encrypted_content"].as_str())
                .unwrap_or_else(|| panic!("no signature in {text}"))
                .to_string();
            before_turn_2(si, &sig, refuse);
            let call = output
                .iter()
                .find(|i| i["type"] == "function_call")
                .unwrap();
            let mut input = vec![ask];
            input.extend(output.clone());
            input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}));
            let (status, text) = post(
                g,
                "/v1/responses",
                &json!({"model": MODEL, "input": input, "tools": [tool]}),
            )
            .await;
            (sig, status, text)
        }
        "anthropic" => {
            let tool = json!({"name": "get_weather", "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}});
            let ask = json!({"role": "user", "content": "What is the weather in Paris?"});
            let first = json!({"model": MODEL, "max_tokens": 1024, "tools": [tool], "messages": [ask],
                "thinking": {"type": "enabled", "budget_tokens": 512}});
            let (status, text) = post(g, "/v1/messages", &first).await;
            assert_eq!(status, 200, "{text}");
            let res: Value = serde_json::from_str(&text).unwrap();
            let blocks = res["content"].as_array().unwrap().clone();
            let sig = blocks
                .iter()
                .find_map(|b| b["signature"].as_str().filter(|s| !s.is_empty()))
                .unwrap_or_else(|| panic!("no signature in {text}"))
                .to_string();
            before_turn_2(si, &sig, refuse);
            let call = blocks.iter().find(|b| b["type"] == "tool_use").unwrap();
            let mut second = first.clone();
            second["messages"] = json!([ask, {"role": "assistant", "content": blocks},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C"}]}]);
            let (status, text) = post(g, "/v1/messages", &second).await;
            (sig, status, text)
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_turn_goes_back_to_the_upstream_that_signed_the_history() {
    let si = StandIn::start().await;
    let g = gateway(&si).await;
    for dialect in ["gemini", "gemini-sse", "responses", "anthropic"] {
        let mut first_turns = BTreeSet::new();
        // Round-robin: consecutive conversations start on different upstreams.
        for _ in 0..2 {
            let (sig, status, text) = conversation(&g, &si, dialect).await;
            assert_eq!(
                status,
                200,
                "{dialect}: turn 2 refused: {text}\n{}",
                g.logs()
            );
            assert!(
                said(&text).contains("The tool returned"),
                "{dialect}: {text}"
            );
            let (upstream, sent) = last_call(&si);
            assert_eq!(upstream, issuer(&sig), "{dialect}: turn 2 went elsewhere");
            assert_eq!(
                sent,
                json!(sig),
                "{dialect}: the signature went back as issued"
            );
            first_turns.insert(issuer(&sig));
        }
        assert_eq!(
            first_turns.into_iter().collect::<Vec<_>>(),
            ["cloudcode", "gemini-api"],
            "{dialect}: round-robin used both upstreams"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_signing_account_cools_down_the_other_gets_the_skip_sentinel() {
    for dialect in ["gemini", "gemini-sse", "responses", "anthropic"] {
        // A gateway each: the refused account stays cooling for the rest of its life.
        let si = StandIn::start().await;
        let g = gateway(&si).await;
        {
            let (sig, status, text) = conversation_with(&g, &si, dialect, true).await;
            assert_eq!(status, 200, "{dialect}: {text}\n{}", g.logs());
            assert!(
                said(&text).contains("The tool returned"),
                "{dialect}: {text}"
            );
            let (upstream, sent) = last_call(&si);
            assert_ne!(
                upstream,
                issuer(&sig),
                "{dialect}: the cooling signer was passed over"
            );
            assert_eq!(
                sent,
                json!(SKIP),
                "{dialect}: its signature went as the sentinel"
            );
        }
    }
}
