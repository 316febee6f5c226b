//! Cross-dialect round trips (Gemini → IR → Anthropic / OpenAI chat → IR → Gemini) and
//! stream properties (any chunking gives the same events; truncation never panics).

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::ir::{self, ApiError, ErrorKind, Event, StopReason, Usage};
use super::super::sse::SseParser;
use super::super::{anthropic, openai_chat};
use super::*;

// The other dialects' entry points in one place, so a signature change there is one fix here.
fn via_anthropic_request(r: &ir::Request) -> ir::Request {
    anthropic::parse_request(&anthropic::emit_request(r).expect("emit")).expect("anthropic request")
}
fn via_openai_request(r: &ir::Request) -> ir::Request {
    openai_chat::parse_request(&openai_chat::emit_request(r).expect("emit"))
        .expect("openai request")
}
fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).expect("json")
}
fn via_anthropic_response(r: &ir::Response) -> ir::Response {
    anthropic::parse_response(&anthropic::emit_response(r, "claude")).expect("anthropic response")
}
fn via_openai_response(r: &ir::Response) -> ir::Response {
    openai_chat::parse_response(&openai_chat::emit_response(r, "gpt")).expect("openai response")
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn two_turn_request() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {"role": "user", "parts": [
                {"text": "Weather in Paris and Oslo? Here is the map."},
                {"inlineData": {"mimeType": "image/png", "data": PNG}}
            ]},
            {"role": "model", "parts": [
                {"text": "Two cities, two calls.", "thought": true},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLWE="},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "18C sunny"}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "3C snow"}}}
            ]},
            {"role": "model", "parts": [{"text": "Paris 18C, Oslo 3C."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Current weather",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}],
        "generationConfig": {"maxOutputTokens": 2000, "temperature": 0.3, "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": true}}
    })
}

fn gemini_ir(body: &Value, model: &str) -> ir::Request {
    let mut r = parse_request(body.to_string().as_bytes()).expect("gemini request");
    r.model = model.into();
    r
}

#[test]
fn request_round_trip_through_anthropic_is_exact() {
    let body = two_turn_request();
    let r = gemini_ir(&body, "gemini-2.5-pro");
    let back = json_of(&emit_request(&via_anthropic_request(&r)).unwrap());
    for key in ["contents", "systemInstruction", "tools"] {
        assert_eq!(back[key], body[key], "{key}");
    }
    assert_eq!(
        back["generationConfig"],
        json!({"maxOutputTokens": 6096, "stopSequences": ["END"],
               "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": true}}),
        "Anthropic drops temperature and makes room for the budget when thinking is on"
    );
}

#[test]
fn request_round_trip_through_openai_loses_only_thinking() {
    let body = two_turn_request();
    let r = gemini_ir(&body, "gemini-2.5-pro");
    let back = json_of(&emit_request(&via_openai_request(&r)).unwrap());
    let mut want = body["contents"].clone();
    // OpenAI chat has no place for thoughts: the call falls back to the skip sentinel.
    want[1]["parts"] = json!([
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    ]);
    assert_eq!(back["contents"], want);
    assert_eq!(back["systemInstruction"], body["systemInstruction"]);
    assert_eq!(back["tools"], body["tools"]);
    assert_eq!(
        back["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 8192, "includeThoughts": true}),
        "a budget survives OpenAI only as an effort level"
    );
    assert_eq!(back["generationConfig"]["temperature"], json!(0.3));
}

#[test]
fn anthropic_client_history_reaches_gemini_with_names_and_signatures() {
    // What Claude Code sends back after a Gemini-served turn.
    let claude = json!({
        "model": "gemini-2.5-pro", "max_tokens": 1000,
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "use ls", "signature": "R2VtaW5p"},
                {"type": "tool_use", "id": "call_r1_0", "name": "ls", "input": {"d": "."}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_r1_0", "content": [
                    {"type": "text", "text": "a.txt"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
                ]},
                {"type": "text", "text": "and?"}
            ]}
        ]
    });
    let r = anthropic::parse_request(claude.to_string().as_bytes()).unwrap();
    let g = json_of(&emit_request(&r).unwrap());
    assert_eq!(
        g["contents"],
        json!([
            {"role": "user", "parts": [{"text": "list"}]},
            {"role": "model", "parts": [
                {"text": "use ls", "thought": true},
                {"functionCall": {"name": "ls", "args": {"d": "."}}, "thoughtSignature": "R2VtaW5p"}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "ls", "response": {"result": "a.txt"}}},
                {"inlineData": {"mimeType": "image/png", "data": PNG}},
                {"text": "and?"}
            ]}
        ])
    );
}

fn gemini_response() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "Need the file list.", "thought": true},
                {"functionCall": {"name": "ls", "args": {"dir": "src"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "cat", "args": {"path": "a.rs"}}}
            ]},
            "finishReason": "STOP", "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
            "cachedContentTokenCount": 30, "thoughtsTokenCount": 5, "totalTokenCount": 125},
        "modelVersion": "gemini-2.5-pro",
        "responseId": "r1"
    })
}

#[test]
fn response_round_trip_through_anthropic() {
    let r = parse_response(gemini_response().to_string().as_bytes()).unwrap();
    let back = json_of(&emit_response(
        &via_anthropic_response(&r),
        "gemini-2.5-pro",
    ));
    assert_eq!(
        back,
        json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "Need the file list.", "thought": true},
                    {"functionCall": {"id": "call_r1_0", "name": "ls", "args": {"dir": "src"}}, "thoughtSignature": "c2ln"},
                    {"functionCall": {"id": "call_r1_1", "name": "cat", "args": {"path": "a.rs"}}}
                ]},
                "finishReason": "STOP", "index": 0
            }],
            // Thought tokens are part of the output in every other dialect.
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 25,
                "cachedContentTokenCount": 30, "totalTokenCount": 125},
            "modelVersion": "gemini-2.5-pro",
            "responseId": "msg_r1"
        })
    );
}

#[test]
fn response_round_trip_through_openai() {
    let r = parse_response(gemini_response().to_string().as_bytes()).unwrap();
    let back = json_of(&emit_response(&via_openai_response(&r), "gemini-2.5-pro"));
    assert_eq!(
        back["candidates"][0]["content"]["parts"],
        json!([
            {"text": "Need the file list.", "thought": true},
            {"functionCall": {"id": "call_r1_0", "name": "ls", "args": {"dir": "src"}}},
            {"functionCall": {"id": "call_r1_1", "name": "cat", "args": {"path": "a.rs"}}}
        ])
    );
    assert_eq!(back["candidates"][0]["finishReason"], "STOP");
    assert_eq!(back["usageMetadata"]["promptTokenCount"], 100);
    assert_eq!(back["usageMetadata"]["cachedContentTokenCount"], 30);
}

#[test]
fn finish_reasons_survive_other_dialects() {
    for (reason, stop) in [
        ("STOP", StopReason::EndTurn),
        ("MAX_TOKENS", StopReason::MaxTokens),
        ("SAFETY", StopReason::Refusal),
    ] {
        let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]});
        let r = parse_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.stop, Some(stop.clone()));
        for back in [via_anthropic_response(&r), via_openai_response(&r)] {
            assert_eq!(
                json_of(&emit_response(&back, "m"))["candidates"][0]["finishReason"],
                reason
            );
        }
    }
}

#[test]
fn errors_survive_other_dialects() {
    let body = br#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#;
    let e = parse_error(429, body);
    assert_eq!(e.kind, ErrorKind::RateLimit);
    for other in [anthropic::emit_error(&e), openai_chat::emit_error(&e)] {
        let back = super::super::parse_error(429, &other);
        assert_eq!(
            json_of(&emit_error(&back)),
            serde_json::from_slice::<Value>(body).unwrap()
        );
    }
}

// ------------------------------------------------------------ streams

const GEMINI_SSE: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Need the \",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12,\"totalTokenCount\": 12},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"r-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"file list ✓\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"r-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"ls\",\"args\": {\"dir\": \"src/é\"}},\"thoughtSignature\": \"c2ln\"},{\"functionCall\": {\"name\": \"cat\",\"args\": {\"path\": \"a.rs\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12,\"candidatesTokenCount\": 9,\"thoughtsTokenCount\": 4,\"totalTokenCount\": 25},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"r-1\"}\r\n\r\n",
);

fn decode_sse(chunks: &[&[u8]]) -> Vec<Event> {
    let mut parser = SseParser::default();
    let mut d = StreamDecoder::default();
    let mut out = Vec::new();
    for c in chunks {
        parser.feed(c, &mut |_, data| d.decode(data, &mut out));
    }
    parser.finish(&mut |_, data| d.decode(data, &mut out));
    d.finish(&mut out);
    out
}

fn usage(input: u64, output: Option<u64>) -> Usage {
    Usage {
        input: Some(input),
        output,
        ..Usage::default()
    }
}

fn gemini_sse_events() -> Vec<Event> {
    vec![
        Event::Start {
            id: "r-1".into(),
            model: "gemini-2.5-pro".into(),
        },
        Event::Thinking("Need the ".into()),
        Event::Usage(usage(12, None)),
        Event::Thinking("file list ✓".into()),
        Event::Signature("c2ln".into()),
        Event::ToolStart {
            index: 0,
            id: "call_r-1_0".into(),
            name: "ls".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "{\"dir\":\"src/é\"}".into(),
        },
        Event::ToolStart {
            index: 1,
            id: "call_r-1_1".into(),
            name: "cat".into(),
        },
        Event::ToolArgs {
            index: 1,
            fragment: "{\"path\":\"a.rs\"}".into(),
        },
        // 9 candidate tokens plus 4 thought tokens, which are the reasoning.
        Event::Usage(Usage {
            reasoning: Some(4),
            ..usage(12, Some(13))
        }),
        Event::Finish(StopReason::ToolUse),
        Event::Done,
    ]
}

#[test]
fn gemini_stream_decodes_to_ir_events() {
    assert_eq!(decode_sse(&[GEMINI_SSE.as_bytes()]), gemini_sse_events());
}

#[test]
fn gemini_stream_split_at_every_byte_boundary_gives_the_same_events() {
    let bytes = GEMINI_SSE.as_bytes();
    let want = gemini_sse_events();
    for cut in 0..=bytes.len() {
        assert_eq!(
            decode_sse(&[&bytes[..cut], &bytes[cut..]]),
            want,
            "cut {cut}"
        );
    }
    let ones: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_sse(&ones), want);
}

#[test]
fn enveloped_stream_lines_decode_the_same() {
    let enveloped: String = GEMINI_SSE
        .split("\r\n\r\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let inner = f.strip_prefix("data: ").unwrap();
            format!("data: {{\"response\": {inner}, \"traceId\": \"abc\"}}\r\n\r\n")
        })
        .collect();
    assert_eq!(decode_sse(&[enveloped.as_bytes()]), gemini_sse_events());
}

#[test]
fn stream_errors_blocks_and_truncation() {
    let mut d = StreamDecoder::default();
    let mut out = Vec::new();
    d.decode(
        r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#,
        &mut out,
    );
    assert_eq!(
        out,
        vec![Event::Error(ApiError::new(
            ErrorKind::Unavailable,
            "The model is overloaded."
        ))]
    );
    let mut d = StreamDecoder::default();
    let mut out = Vec::new();
    d.decode(
        r#"{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "responseId": "x"}"#,
        &mut out,
    );
    d.finish(&mut out);
    assert_eq!(out[1..], [Event::Finish(StopReason::Refusal), Event::Done]);
    // No finish reason before EOF: no Done, so encoders report a cut-short stream.
    let first_frame = GEMINI_SSE.split("\r\n\r\n").next().unwrap();
    let events = decode_sse(&[first_frame.as_bytes()]);
    assert!(!events.contains(&Event::Done));
}

/// Client frames from a Gemini upstream stream, through another dialect's encoder.
fn through<E>(
    bytes: &[u8],
    mut enc: E,
    encode: fn(&mut E, &Event, &mut Vec<Bytes>),
    finish: fn(&mut E, &mut Vec<Bytes>),
) -> String {
    let mut out = Vec::new();
    for ev in decode_sse(&[bytes]) {
        encode(&mut enc, &ev, &mut out);
    }
    finish(&mut enc, &mut out);
    out.iter()
        .map(|b| std::str::from_utf8(b).unwrap())
        .collect()
}

#[test]
fn gemini_stream_reaches_claude_clients_with_signature_and_tool_use() {
    let text = through(
        GEMINI_SSE.as_bytes(),
        anthropic::StreamEncoder::new("gemini-2.5-pro"),
        anthropic::StreamEncoder::encode,
        anthropic::StreamEncoder::finish,
    );
    for needle in [
        r#""type":"thinking_delta","thinking":"Need the ""#,
        r#""type":"signature_delta","signature":"c2ln""#,
        r#""id":"call_r-1_0","name":"ls""#,
        r#""partial_json":"{\"dir\":\"src/é\"}""#,
        r#""stop_reason":"tool_use""#,
        r#""usage":{"input_tokens":12,"output_tokens":13}"#,
        "event: message_stop",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
}

#[test]
fn gemini_stream_reaches_openai_clients() {
    let text = through(
        GEMINI_SSE.as_bytes(),
        openai_chat::StreamEncoder::new("gemini-2.5-pro"),
        openai_chat::StreamEncoder::encode,
        openai_chat::StreamEncoder::finish,
    );
    for needle in [
        r#""reasoning_content":"file list ✓""#,
        r#""id":"call_r-1_1","type":"function","function":{"name":"cat""#,
        r#""finish_reason":"tool_calls""#,
        "data: [DONE]",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }
}

const ANTHROPIC_SSE: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":40,\"output_tokens\":1,\"cache_read_input_tokens\":8},\"content\":[]}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Read it.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Reading.\"}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Read\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\":\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"a.rs\\\"}\"}}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":30}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

fn claude_to_gemini(framing: Framing) -> Vec<Bytes> {
    let mut parser = SseParser::default();
    let mut d = anthropic::StreamDecoder::default();
    let mut e = StreamEncoder::new("gemini-2.5-pro", framing);
    let mut events = Vec::new();
    parser.feed(ANTHROPIC_SSE.as_bytes(), &mut |_, data| {
        d.decode(data, &mut events)
    });
    let mut out = Vec::new();
    for ev in &events {
        e.encode(ev, &mut out);
    }
    e.finish(&mut out);
    out
}

#[test]
fn claude_stream_becomes_gemini_sse_chunks() {
    let frames = claude_to_gemini(Framing::Sse);
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| {
            let s = std::str::from_utf8(f).unwrap();
            let json = s
                .strip_prefix("data: ")
                .and_then(|s| s.strip_suffix("\r\n\r\n"))
                .unwrap_or_else(|| panic!("bad frame {s:?}"));
            serde_json::from_str(json).unwrap()
        })
        .collect();
    let chunk = |parts: Value| {
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
               "modelVersion": "gemini-2.5-pro", "responseId": "msg_01"})
    };
    assert_eq!(
        chunks,
        vec![
            chunk(json!([{"text": "Read it.", "thought": true}])),
            chunk(json!([{"text": "Reading.", "thoughtSignature": "EqQBsig"}])),
            chunk(
                json!([{"functionCall": {"id": "toolu_01", "name": "Read", "args": {"path": "a.rs"}}}])
            ),
            json!({"candidates": [{"finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 48, "candidatesTokenCount": 30,
                       "cachedContentTokenCount": 8, "totalTokenCount": 78},
                   "modelVersion": "gemini-2.5-pro", "responseId": "msg_01"}),
        ]
    );
}

#[test]
fn encoded_gemini_stream_decodes_back_to_the_same_meaning() {
    let bytes: Vec<u8> = claude_to_gemini(Framing::Sse).concat();
    let events = decode_sse(&[&bytes]);
    assert_eq!(
        events,
        vec![
            Event::Start {
                id: "msg_01".into(),
                model: "gemini-2.5-pro".into()
            },
            Event::Thinking("Read it.".into()),
            Event::Signature("EqQBsig".into()),
            Event::Text("Reading.".into()),
            Event::ToolStart {
                index: 0,
                id: "toolu_01".into(),
                name: "Read".into()
            },
            Event::ToolArgs {
                index: 0,
                fragment: "{\"path\":\"a.rs\"}".into()
            },
            Event::Usage({
                let mut u = usage(40, Some(30));
                u.cache_read = Some(8);
                u
            }),
            Event::Finish(StopReason::ToolUse),
            Event::Done,
        ]
    );
}

#[test]
fn json_array_framing_is_one_valid_array_at_any_split() {
    let bytes: Vec<u8> = claude_to_gemini(Framing::JsonArray).concat();
    let arr: Vec<Value> = serde_json::from_slice(&bytes).expect("a JSON array");
    assert_eq!(arr.len(), 4);
    assert!(bytes.starts_with(b"[{") && bytes.ends_with(b"}]"));
    let split = |chunks: &[&[u8]]| {
        let mut s = JsonArraySplitter::default();
        let mut items = Vec::new();
        for c in chunks {
            s.feed(c, &mut |i| {
                items.push(serde_json::from_str::<Value>(i).unwrap())
            });
        }
        items
    };
    for cut in 0..=bytes.len() {
        assert_eq!(split(&[&bytes[..cut], &bytes[cut..]]), arr, "cut {cut}");
    }
    // The array form decodes like the SSE form.
    let mut d = StreamDecoder::default();
    let mut via_array = Vec::new();
    let mut s = JsonArraySplitter::default();
    s.feed(&bytes, &mut |i| d.decode(i, &mut via_array));
    d.finish(&mut via_array);
    let sse: Vec<u8> = claude_to_gemini(Framing::Sse).concat();
    assert_eq!(via_array, decode_sse(&[&sse]));
}

#[test]
fn encoder_edge_cases() {
    // An empty stream in array form is still an array; a cut-short one ends in an error.
    let mut e = StreamEncoder::new("m", Framing::JsonArray);
    let mut out = Vec::new();
    e.finish(&mut out);
    let arr: Vec<Value> = serde_json::from_slice(&out.concat()).unwrap();
    assert_eq!(arr[0]["error"]["status"], "INTERNAL");
    let mut e = StreamEncoder::new("m", Framing::JsonArray);
    let mut out = Vec::new();
    e.encode(&Event::Done, &mut out);
    let arr: Vec<Value> = serde_json::from_slice(&out.concat()).unwrap();
    assert_eq!(arr[0]["candidates"][0]["finishReason"], "STOP");
    // Error events become Gemini error chunks and end the stream.
    let mut e = StreamEncoder::new("m", Framing::Sse);
    let mut out = Vec::new();
    e.encode(&Event::Text("partial".into()), &mut out);
    e.encode(
        &Event::Error(ApiError::new(ErrorKind::RateLimit, "slow")),
        &mut out,
    );
    e.encode(&Event::Text("ignored".into()), &mut out);
    e.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        &out[1][..],
        &b"data: {\"error\":{\"code\":429,\"message\":\"slow\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n"[..]
    );
    // A signature with nothing after it still reaches the client, on a carrier part.
    let mut e = StreamEncoder::new("m", Framing::Sse);
    let mut out = Vec::new();
    for ev in [
        Event::Thinking("t".into()),
        Event::Signature("S".into()),
        Event::Finish(StopReason::EndTurn),
        Event::Done,
    ] {
        e.encode(&ev, &mut out);
    }
    let last: Value = serde_json::from_slice(
        out[1]
            .strip_prefix(b"data: ")
            .unwrap()
            .strip_suffix(b"\r\n\r\n")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        last["candidates"][0]["content"]["parts"],
        json!([{"text": "", "thoughtSignature": "S"}])
    );
}

#[test]
fn splitter_ignores_brackets_inside_strings_and_stops_at_the_end() {
    let mut s = JsonArraySplitter::default();
    let mut items = Vec::new();
    s.feed(
        b" [ {\"a\": \"]}[{\\\"\"} ,\r\n{\"b\": [1, {\"c\": 2}]} ] {\"after\": 1}",
        &mut |i| items.push(i.to_string()),
    );
    assert_eq!(
        items,
        vec![
            "{\"a\": \"]}[{\\\"\"}".to_string(),
            "{\"b\": [1, {\"c\": 2}]}".to_string()
        ]
    );
}

// ------------------------------------------------------------ properties

/// Cut points → chunks.
fn chunked<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for c in cuts {
        out.push(&bytes[last..c]);
        last = c;
    }
    out.push(&bytes[last..]);
    out
}

proptest! {
    #[test]
    fn any_chunking_yields_identical_events(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        let bytes = GEMINI_SSE.as_bytes();
        prop_assert_eq!(decode_sse(&chunked(bytes, &cuts)), gemini_sse_events());
    }

    #[test]
    fn any_truncation_is_handled_without_panic(len in 0usize..2000, cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let bytes = GEMINI_SSE.as_bytes();
        let prefix = &bytes[..len.min(bytes.len())];
        let events = decode_sse(&chunked(prefix, &cuts));
        // Whatever arrived is a prefix of the full meaning, and every encoder terminates.
        let mut a = anthropic::StreamEncoder::new("m");
        let mut o = openai_chat::StreamEncoder::new("m");
        o.set_include_usage(true);
        let mut g = StreamEncoder::new("m", Framing::JsonArray);
        let (mut ao, mut oo, mut go) = (Vec::new(), Vec::new(), Vec::new());
        for ev in &events {
            a.encode(ev, &mut ao);
            o.encode(ev, &mut oo);
            g.encode(ev, &mut go);
        }
        a.finish(&mut ao);
        o.finish(&mut oo);
        g.finish(&mut go);
        prop_assert!(serde_json::from_slice::<Vec<Value>>(&go.concat()).is_ok());
        prop_assert!(!ao.is_empty() && !oo.is_empty());
        // Cut before the last chunk's closing brace: the stream never finished.
        if len + 4 < bytes.len() {
            prop_assert!(!events.contains(&Event::Done));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_sse(&[&data]);
        let mut s = JsonArraySplitter::default();
        s.feed(&data, &mut |_| {});
        let _ = parse_request(&data);
        let _ = parse_response(&data);
        let _ = parse_error(500, &data);
        let _ = unwrap_envelope(&Bytes::copy_from_slice(&data));
    }

    #[test]
    fn json_array_splitting_ignores_chunking(cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
        let bytes: Vec<u8> = claude_to_gemini(Framing::JsonArray).concat();
        let want: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let mut s = JsonArraySplitter::default();
        let mut items = Vec::new();
        for c in chunked(&bytes, &cuts) {
            s.feed(c, &mut |i| items.push(serde_json::from_str::<Value>(i).unwrap()));
        }
        prop_assert_eq!(items, want);
    }
}
