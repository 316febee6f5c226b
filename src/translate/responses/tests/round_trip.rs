//! Responses → IR → Anthropic / OpenAI Chat → IR → Responses. What the middle dialect
//! cannot carry is named in each test; everything else must come back unchanged.

use bytes::Bytes;
use serde_json::{Value, json};

use super::super::super::ir::{
    ApiError, ErrorKind, Event, Part, Reasoning, Request, Response, StopReason, Usage,
};
use super::super::super::sse::SseParser;
use super::super::super::{anthropic, openai_chat, parse_error};
use super::super::{parse_request, parse_response};
use super::golden::{codex_stream, usage_wire};
use super::requests::{
    PNG, codex_ir, codex_request, codex_response, codex_response_ir, developer_item,
};
use super::{check_stream, decode, encode, frames};
use super::{emit_error, emit_request, emit_response};

// The other dialects' entry points, in one place.

fn request_via_anthropic(r: &Request) -> Request {
    anthropic::parse_request(&anthropic::emit_request(r).expect("anthropic request emits"))
        .expect("anthropic request parses")
}

fn request_via_chat(r: &Request) -> Request {
    openai_chat::parse_request(&openai_chat::emit_request(r).expect("chat request emits"))
        .expect("chat request parses")
}

fn response_via_anthropic(r: &Response) -> Response {
    anthropic::parse_response(&anthropic::emit_response(r, "claude")).expect("parses")
}

fn response_via_chat(r: &Response) -> Response {
    openai_chat::parse_response(&openai_chat::emit_response(r, "gpt")).expect("parses")
}

fn sse_events(bytes: &[u8], mut decode: impl FnMut(&str, &mut Vec<Event>)) -> Vec<Event> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    parser.feed(bytes, &mut |_, data| decode(data, &mut out));
    parser.finish(&mut |_, data| decode(data, &mut out));
    out
}

fn stream_via_anthropic(events: &[Event]) -> Vec<Event> {
    let mut enc = anthropic::StreamEncoder::new("claude");
    let mut out: Vec<Bytes> = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    let mut dec = anthropic::StreamDecoder::default();
    sse_events(&out.concat(), |d, o| dec.decode(d, o))
}

fn stream_via_chat(events: &[Event]) -> Vec<Event> {
    let mut enc = openai_chat::StreamEncoder::new("gpt");
    enc.set_include_usage(true);
    let mut out: Vec<Bytes> = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    let mut dec = openai_chat::StreamDecoder::default();
    sse_events(&out.concat(), |d, o| dec.decode(d, o))
}

fn user_text(t: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]})
}

fn calls_and_outputs() -> [Value; 4] {
    [
        json!({"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}),
        json!({"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}),
        json!({"type": "function_call_output", "call_id": "call_1", "output": "18C sunny"}),
        json!({"type": "function_call_output", "call_id": "call_2", "output": [
            {"type": "input_text", "text": "a.png"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}
        ]}),
    ]
}

#[test]
fn request_through_anthropic() {
    let ir = parse_request(codex_request().to_string().as_bytes()).expect("parses");
    let back = request_via_anthropic(&ir);
    let out = emit_request(&back);
    let [c1, c2, o1, o2] = calls_and_outputs();
    // Anthropic merges consecutive user turns and carries reasoning as a signed
    // thinking block: summary and encrypted_content come back intact.
    assert_eq!(
        out["input"],
        json!([
            developer_item(&["You are Codex.", "<permissions>workspace-write</permissions>"]),
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "<environment_context>/repo</environment_context>"},
                {"type": "input_text", "text": "What is in this image, and the weather?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"}
            ]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan**"}], "encrypted_content": "gAAAAB-enc"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            c1, c2, o1, o2,
            user_text("Summarise.")
        ])
    );
    assert_eq!(out["tools"][0]["name"], "get_weather");
    assert_eq!(
        out["tools"][0]["parameters"],
        codex_ir().tools[0].parameters
    );
    assert_eq!(out["tool_choice"], "auto");
    assert_eq!(out["parallel_tool_calls"], false);
    assert_eq!(
        out["reasoning"],
        json!({"effort": "high", "summary": "auto"})
    );
    assert_eq!(out["user"], "u-1");
    assert_eq!(out["stream"], true);
    // Anthropic has no place for these; thinking also rules out temperature/top_p there.
    assert_eq!(back.tools[1].strict, None);
    assert_eq!(back.prompt_cache_key, None);
    assert_eq!(back.metadata, None);
    assert_eq!(back.temperature, None);
    assert_eq!(back.reasoning, Some(Reasoning::Budget(24576)));
}

#[test]
fn request_through_chat() {
    let ir = parse_request(codex_request().to_string().as_bytes()).expect("parses");
    let back = request_via_chat(&ir);
    let out = emit_request(&back);
    let [c1, c2, o1, _] = calls_and_outputs();
    // Chat has no reasoning items in requests and no images in tool messages (the image
    // moves to a user message right after the tool results).
    assert_eq!(
        out["input"],
        json!([
            developer_item(&["You are Codex.\n\n<permissions>workspace-write</permissions>"]),
            user_text("<environment_context>/repo</environment_context>"),
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in this image, and the weather?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"}
            ]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            c1, c2, o1,
            {"type": "function_call_output", "call_id": "call_2", "output": "a.png"},
            {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]},
            user_text("Summarise.")
        ])
    );
    for key in [
        "tool_choice",
        "parallel_tool_calls",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "top_p",
        "user",
        "stream",
    ] {
        assert_eq!(out[key], emit_request(&ir)[key], "{key}");
    }
}

#[test]
fn response_through_anthropic_keeps_reasoning_signature_and_cached_usage() {
    let ir = parse_response(codex_response().to_string().as_bytes()).expect("parses");
    let back = response_via_anthropic(&ir);
    let want = Response {
        id: "msg_resp_68af".into(),
        usage: Usage {
            reasoning: None, // Anthropic reports no reasoning tokens
            ..codex_response_ir().usage
        },
        ..codex_response_ir()
    };
    assert_eq!(
        Response {
            model: want.model.clone(),
            ..back.clone()
        },
        want
    );
    let out = emit_response(&back, "gpt-5-codex");
    assert_eq!(out["id"], "resp_68af");
    assert_eq!(
        out["output"],
        emit_response(&codex_response_ir(), "x")["output"]
    );
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
               "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1500})
    );
}

#[test]
fn response_through_chat_keeps_summary_text_and_cached_usage() {
    let ir = parse_response(codex_response().to_string().as_bytes()).expect("parses");
    let back = response_via_chat(&ir);
    let out = emit_response(&back, "gpt-5-codex");
    assert_eq!(out["id"], "resp_68af");
    // Chat's reasoning_content has no slot for the encrypted content.
    assert_eq!(
        out["output"][0],
        json!({"type": "reasoning", "id": "rs_68af_0",
               "summary": [{"type": "summary_text", "text": "**Checking weather**\n\nNeed a tool."}]})
    );
    assert_eq!(out["output"][1]["content"][0]["text"], "Let me check.");
    assert_eq!(out["output"][2]["call_id"], "call_abc");
    assert_eq!(out["output"][2]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(out["usage"]["input_tokens_details"]["cached_tokens"], 1024);
    assert_eq!(out["usage"]["input_tokens"], 1200);
    assert_eq!(out["status"], "completed");
}

#[test]
fn stop_reasons_survive_both_dialects() {
    for (status, details, want) in [
        ("completed", Value::Null, "completed"),
        (
            "incomplete",
            json!({"reason": "max_output_tokens"}),
            "incomplete",
        ),
    ] {
        let body = json!({"id": "resp_1", "status": status, "incomplete_details": details,
                          "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}]});
        let ir = parse_response(body.to_string().as_bytes()).expect("parses");
        for back in [response_via_anthropic(&ir), response_via_chat(&ir)] {
            let out = emit_response(&back, "m");
            assert_eq!(out["status"], want);
            assert_eq!(out["incomplete_details"], details);
        }
    }
    let ir = parse_response(codex_response().to_string().as_bytes()).expect("parses");
    for back in [response_via_anthropic(&ir), response_via_chat(&ir)] {
        assert_eq!(back.stop, Some(StopReason::ToolUse));
    }
}

#[test]
fn error_bodies_survive_both_dialects() {
    for (kind, status) in [
        (ErrorKind::RateLimit, 429),
        (ErrorKind::Authentication, 401),
        (ErrorKind::InvalidRequest, 400),
        (ErrorKind::Api, 500),
    ] {
        let e = ApiError::new(kind, format!("{kind:?} happened"));
        let body = emit_error(&e).to_string();
        let parsed = parse_error(status, body.as_bytes());
        assert_eq!(parsed, e, "responses body reads back");
        for other in [
            anthropic::emit_error(&parsed),
            openai_chat::emit_error(&parsed),
        ] {
            let back = parse_error(status, &other);
            assert_eq!(
                emit_error(&back),
                emit_error(&e),
                "{kind:?} via {}",
                String::from_utf8_lossy(&other)
            );
        }
    }
}

#[test]
fn stream_errors_survive_encoding_and_decoding() {
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::TooLarge,
        ErrorKind::RateLimit,
        ErrorKind::Overloaded,
        ErrorKind::Api,
    ] {
        let e = ApiError::new(kind, "m");
        let bytes = encode(&[Event::Error(e.clone())], "m").concat();
        let got = decode(&bytes, 5);
        assert_eq!(got.last(), Some(&Event::Error(e)), "{kind:?}");
    }
}

/// The terminal response of a Responses stream that went through another dialect.
fn final_response(events: &[Event]) -> Value {
    let got = frames(&encode(events, "gpt-5-codex"));
    check_stream(&got);
    let (ev, v) = got.last().expect("frames").clone();
    assert_eq!(ev, "response.completed");
    v["response"].clone()
}

#[test]
fn stream_through_anthropic_keeps_everything_but_reasoning_tokens() {
    let events = decode(codex_stream().as_bytes(), usize::MAX);
    let direct = final_response(&events);
    let via = final_response(&stream_via_anthropic(&events));
    assert_eq!(via["output"], direct["output"]);
    assert_eq!(
        via["output"][0]["encrypted_content"], "gAAAAABo-enc==",
        "signature_delta carries the encrypted content"
    );
    let mut usage = usage_wire();
    usage["output_tokens_details"]["reasoning_tokens"] = json!(0);
    assert_eq!(via["usage"], usage);
    assert_eq!(via["id"], "resp_68af4030592c");
}

#[test]
fn stream_through_chat_keeps_text_tools_summary_and_usage() {
    let events = decode(codex_stream().as_bytes(), usize::MAX);
    let direct = final_response(&events);
    let via = final_response(&stream_via_chat(&events));
    let mut reasoning = direct["output"][0].clone();
    reasoning
        .as_object_mut()
        .expect("object")
        .remove("encrypted_content");
    assert_eq!(via["output"][0], reasoning);
    assert_eq!(via["output"][1], direct["output"][1]);
    assert_eq!(via["output"][2], direct["output"][2]);
    assert_eq!(via["usage"]["input_tokens"], 1200);
    assert_eq!(via["usage"]["input_tokens_details"]["cached_tokens"], 1024);
    assert_eq!(via["usage"]["output_tokens"], 300);
    // Chat carries reasoning tokens in `completion_tokens_details`.
    assert_eq!(
        via["usage"]["output_tokens_details"]["reasoning_tokens"],
        256
    );
    assert_eq!(via["usage"], direct["usage"]);
}

#[test]
fn tool_results_with_error_flag_lose_only_the_flag() {
    let r = Request {
        messages: vec![super::super::super::ir::Message {
            role: super::super::super::ir::Role::User,
            parts: vec![Part::ToolResult {
                call_id: "toolu_1".into(),
                content: vec![Part::Text("boom".into())],
                is_error: true,
            }],
        }],
        ..Request::default()
    };
    let out = emit_request(&r);
    assert_eq!(
        out["input"],
        json!([{"type": "function_call_output", "call_id": "toolu_1", "output": "boom"}])
    );
}

#[test]
fn encrypted_reasoning_without_a_summary_survives_an_anthropic_stream() {
    // Codex often sends reasoning as `encrypted_content` alone; Claude clients must get
    // it back (an empty thinking block carrying the signature) to replay it.
    let events = vec![
        Event::Start {
            id: "resp_1".into(),
            model: "gpt-5-codex".into(),
        },
        Event::Signature("gAAAA-only".into()),
        Event::Text("Hi".into()),
        Event::Finish(StopReason::EndTurn),
        Event::Done,
    ];
    let back = stream_via_anthropic(&events);
    assert!(
        back.contains(&Event::Signature("gAAAA-only".into())),
        "{back:?}"
    );
    let via = final_response(&back);
    assert_eq!(via["output"][0]["type"], "reasoning");
    assert_eq!(via["output"][0]["encrypted_content"], "gAAAA-only");
    assert_eq!(via["output"][1]["content"][0]["text"], "Hi");
}
