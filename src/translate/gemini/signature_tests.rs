//! Thought signatures across dialects, through the public entry points: what a Gemini
//! upstream signs reaches Responses clients as `encrypted_content` and Anthropic clients
//! as a thinking `signature`, and comes back on the part Gemini signed when the client
//! replays its history; calls from a dialect without signatures get the skip sentinel.

use bytes::Bytes;
use serde_json::{Value, json};

use super::super::{Dialect, StreamTranslator, translate_request, translate_response};
use super::SKIP_THOUGHT_SIGNATURE;

const MODEL: &str = "gemini-3-pro-high";

fn js(b: &[u8]) -> Value {
    serde_json::from_slice(b).expect("json")
}

/// A Gemini 3 answer: thoughts, then two parallel calls; the signature sits on the first
/// call (where Gemini 3 puts it), the second has none.
fn gemini_calls(sig: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Two cities.", "thought": true},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": sig},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "thoughtsTokenCount": 4, "totalTokenCount": 33},
        "responseId": "r-7", "modelVersion": MODEL
    })
}

/// The same answer as the Gemini SSE stream delivers it, split across chunks.
fn gemini_calls_sse(sig: &str) -> Vec<u8> {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Two ", "thought": true}]}}], "responseId": "r-7"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "cities.", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": sig}]}}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "thoughtsTokenCount": 4, "totalTokenCount": 33}}),
    ];
    chunks
        .iter()
        .flat_map(|c| format!("data: {c}\r\n\r\n").into_bytes())
        .collect()
}

fn stream(from: Dialect, to: Dialect, sse: &[u8]) -> String {
    let mut t = StreamTranslator::new(from, to, MODEL);
    let mut out: Vec<Bytes> = Vec::new();
    // Small pieces: a signature must survive being cut anywhere.
    for c in sse.chunks(7) {
        out.extend(t.push(c));
    }
    out.extend(t.finish());
    out.iter()
        .map(|b| std::str::from_utf8(b).expect("utf-8"))
        .collect()
}

/// The `response` of the final `response.completed` event of a Responses stream.
fn completed(sse: &str) -> Value {
    sse.split("\n\n")
        .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str::<Value>(d).expect("frame json"))
        .filter(|v| v["type"] == "response.completed")
        .last()
        .expect("response.completed")["response"]
        .clone()
}

/// The model turn Gemini receives back (`contents[1]`) when a Responses client replays
/// `output` (as the openai SDK dumps it) with both calls answered.
fn replayed_from_responses(output: &Value) -> Value {
    let calls: Vec<&Value> = output
        .as_array()
        .expect("output")
        .iter()
        .filter(|i| i["type"] == "function_call")
        .collect();
    let mut input = vec![json!({"role": "user", "content": "Weather in Paris and Oslo?"})];
    input.extend(output.as_array().expect("output").iter().cloned());
    for (c, out) in calls.iter().zip(["18C", "3C"]) {
        input.push(json!({"type": "function_call_output", "call_id": c["call_id"], "output": out}));
    }
    let body = json!({"model": MODEL, "input": input, "tools": [{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]});
    let sent = js(&translate_request(
        Dialect::Responses,
        Dialect::Gemini,
        body.to_string().as_bytes(),
        MODEL,
    )
    .expect("request"));
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"result": "18C"}),
        "{sent}"
    );
    sent["contents"][1].clone()
}

fn signed_calls(sig: &str) -> Value {
    json!({"role": "model", "parts": [
        {"text": "Two cities.", "thought": true},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": sig},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    ]})
}

#[test]
fn responses_clients_carry_gemini_signatures_as_encrypted_content_and_back() {
    for sig in ["U0lHLWE=", "Cs4BAY89a1+/long/base64=="] {
        let res = js(&translate_response(
            Dialect::Gemini,
            Dialect::Responses,
            gemini_calls(sig).to_string().as_bytes(),
            MODEL,
        )
        .expect("response"));
        let kinds: Vec<&str> = res["output"]
            .as_array()
            .expect("output")
            .iter()
            .map(|i| i["type"].as_str().unwrap_or_default())
            .collect();
        // The signature signs the thoughts before the call: one reasoning item carries both.
        assert_eq!(
            kinds,
            ["reasoning", "function_call", "function_call"],
            "{res}"
        );
        assert_eq!(res["output"][0]["summary"][0]["text"], "Two cities.");
        assert_eq!(res["output"][0]["encrypted_content"], sig);
        assert_eq!(res["usage"]["output_tokens_details"]["reasoning_tokens"], 4);
        assert_eq!(replayed_from_responses(&res["output"]), signed_calls(sig));
    }
}

#[test]
fn streamed_signatures_reach_responses_clients_and_come_back_the_same() {
    let sig = "U0lHLXN0cmVhbQ==";
    let text = stream(Dialect::Gemini, Dialect::Responses, &gemini_calls_sse(sig));
    let res = completed(&text);
    let reasoning: Vec<&Value> = res["output"]
        .as_array()
        .expect("output")
        .iter()
        .filter(|i| i["type"] == "reasoning")
        .collect();
    assert!(
        reasoning.iter().any(|r| r["encrypted_content"] == sig),
        "{res}"
    );
    // The item's own `done` event carries it too (what streaming SDKs keep).
    assert!(
        text.contains(&format!("\"encrypted_content\":\"{sig}\"")),
        "{text}"
    );
    assert_eq!(replayed_from_responses(&res["output"]), signed_calls(sig));
}

/// The Anthropic content blocks an Anthropic client gets for a Gemini answer, stream or not.
fn anthropic_blocks(sig: &str, streamed: bool) -> Value {
    if !streamed {
        let m = js(&translate_response(
            Dialect::Gemini,
            Dialect::Anthropic,
            gemini_calls(sig).to_string().as_bytes(),
            MODEL,
        )
        .expect("response"));
        return m["content"].clone();
    }
    // Rebuild the blocks from the stream's events, as the SDKs do.
    let text = stream(Dialect::Gemini, Dialect::Anthropic, &gemini_calls_sse(sig));
    let mut blocks: Vec<Value> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    for d in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let v: Value = serde_json::from_str(d).expect("frame");
        match v["type"].as_str() {
            Some("content_block_start") => {
                blocks.push(v["content_block"].clone());
                args.push(String::new());
            }
            Some("content_block_delta") => {
                let i = v["index"].as_u64().expect("index") as usize;
                let d = &v["delta"];
                let b = &mut blocks[i];
                match d["type"].as_str() {
                    Some("thinking_delta") => {
                        b["thinking"] = json!(format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap_or(""),
                            d["thinking"].as_str().unwrap_or("")
                        ))
                    }
                    Some("signature_delta") => b["signature"] = d["signature"].clone(),
                    Some("input_json_delta") => {
                        args[i].push_str(d["partial_json"].as_str().unwrap_or(""))
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (b, a) in blocks.iter_mut().zip(args) {
        if b["type"] == "tool_use" && !a.is_empty() {
            b["input"] = serde_json::from_str(&a).expect("tool input");
        }
    }
    Value::Array(blocks)
}

#[test]
fn anthropic_clients_carry_gemini_signatures_as_thinking_signatures_and_back() {
    let sig = "U0lHLWFudGhyb3BpYw==";
    for streamed in [false, true] {
        let blocks = anthropic_blocks(sig, streamed);
        let signed: Vec<&Value> = blocks
            .as_array()
            .expect("blocks")
            .iter()
            .filter(|b| b["type"] == "thinking" && b["signature"] == sig)
            .collect();
        assert_eq!(signed.len(), 1, "streamed={streamed}: {blocks}");
        let uses: Vec<&Value> = blocks
            .as_array()
            .expect("blocks")
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .collect();
        assert_eq!(uses.len(), 2, "{blocks}");
        let body = json!({
            "model": MODEL, "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": uses[0]["id"], "content": "18C"},
                    {"type": "tool_result", "tool_use_id": uses[1]["id"], "content": "3C"}
                ]}
            ]
        });
        let sent = js(&translate_request(
            Dialect::Anthropic,
            Dialect::Gemini,
            body.to_string().as_bytes(),
            MODEL,
        )
        .expect("request"));
        assert_eq!(
            sent["contents"][1],
            signed_calls(sig),
            "streamed={streamed}"
        );
    }
}

#[test]
fn calls_from_dialects_without_signatures_get_the_skip_sentinel() {
    let chat = json!({"model": MODEL, "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "3C"}
    ]});
    // Responses history without reasoning items (Codex CLI after a non-reasoning model).
    let responses = json!({"model": MODEL, "input": [
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        {"type": "function_call_output", "call_id": "c2", "output": "3C"}
    ]});
    // Claude history whose thinking carried no signature.
    let anthropic = json!({"model": MODEL, "max_tokens": 10, "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "two calls", "signature": ""},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Oslo"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "3C"}
        ]}
    ]});
    for (from, body) in [
        (Dialect::OpenAiChat, chat),
        (Dialect::Responses, responses),
        (Dialect::Anthropic, anthropic),
    ] {
        let sent =
            js(
                &translate_request(from, Dialect::Gemini, body.to_string().as_bytes(), MODEL)
                    .expect("request"),
            );
        let calls: Vec<&Value> = sent["contents"][1]["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .filter(|p| p.get("functionCall").is_some())
            .collect();
        assert_eq!(calls.len(), 2, "{from:?}: {sent}");
        assert_eq!(
            calls[0]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE,
            "{from:?}: the first call of the turn"
        );
        assert!(
            calls[1].get("thoughtSignature").is_none(),
            "{from:?}: later parallel calls carry none"
        );
    }
}

#[test]
fn the_sentinel_never_reaches_clients_as_a_signature() {
    let body = gemini_calls(SKIP_THOUGHT_SIGNATURE);
    let res = js(&translate_response(
        Dialect::Gemini,
        Dialect::Responses,
        body.to_string().as_bytes(),
        MODEL,
    )
    .expect("response"));
    assert!(!res.to_string().contains(SKIP_THOUGHT_SIGNATURE), "{res}");
    let text = stream(
        Dialect::Gemini,
        Dialect::Anthropic,
        &gemini_calls_sse(SKIP_THOUGHT_SIGNATURE),
    );
    assert!(!text.contains(SKIP_THOUGHT_SIGNATURE), "{text}");
}

#[test]
fn a_signature_without_thoughts_is_a_summaryless_reasoning_item() {
    let mut body = gemini_calls("U0lHLWJhcmU=");
    let parts = body["candidates"][0]["content"]["parts"]
        .as_array_mut()
        .expect("parts");
    parts.remove(0);
    let res = js(&translate_response(
        Dialect::Gemini,
        Dialect::Responses,
        body.to_string().as_bytes(),
        MODEL,
    )
    .expect("response"));
    assert_eq!(res["output"][0]["type"], "reasoning", "{res}");
    assert_eq!(res["output"][0]["summary"], json!([]));
    assert_eq!(res["output"][0]["encrypted_content"], "U0lHLWJhcmU=");
    let mut want = signed_calls("U0lHLWJhcmU=");
    want["parts"].as_array_mut().expect("parts").remove(0);
    assert_eq!(replayed_from_responses(&res["output"]), want);
}
