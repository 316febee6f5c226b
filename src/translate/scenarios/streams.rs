//! Anthropic and OpenAI Chat streams both ways, and what holds for every stream:
//! chunking does not matter, output is incremental, a same-dialect stream passes through.

use super::codex_stream::RESPONSES_STREAM;
use super::*;

const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2,\"cache_read_input_tokens\":100},\"content\":[],\"stop_reason\":null}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Weather needs a tool.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay, let's check the weather for San Francisco, CA:\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"San Francisc\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"o, CA\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

const OPENAI_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    ": OPENROUTER PROCESSING\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me look.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"I'll read \"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the file.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\",\"function\":{\"name\":\"Read\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"pa\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"th\\\":\\\"a.rs\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"Read\",\"arguments\":\"{\\\"path\\\":\\\"b.rs\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"glm-4.6\",\"choices\":[],\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":40,\"total_tokens\":940,\"prompt_tokens_details\":{\"cached_tokens\":800}}}\n\n",
    "data: [DONE]\n\n",
);

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-014p7gG3wDgGV9EUtLvnow3U", "object": "chat.completion.chunk",
           "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

#[test]
fn anthropic_stream_to_openai_chunks() {
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, "gpt-4o");
    let got = frames(&run(&mut t, ANTHROPIC_STREAM, usize::MAX));
    let data: Vec<Value> = got
        .iter()
        .map(|(e, d)| {
            assert!(e.is_none(), "OpenAI frames have no event line");
            d.clone()
        })
        .collect();
    let mut finish = chunk(json!({}), json!("tool_calls"));
    finish["usage"] = json!({"prompt_tokens": 572, "completion_tokens": 89, "total_tokens": 661,
                            "prompt_tokens_details": {"cached_tokens": 100}});
    assert_eq!(
        data,
        vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(
                json!({"reasoning_content": "Weather needs a tool."}),
                Value::Null
            ),
            chunk(
                json!({"content": "Okay, let's check the weather for San Francisco, CA:"}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": " \"San Francisc"}}]}),
                Value::Null
            ),
            chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "o, CA\"}"}}]}),
                Value::Null
            ),
            finish,
            json!("[DONE]"),
        ]
    );
}

#[test]
fn anthropic_stream_usage_chunk_when_requested() {
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, "gpt-4o")
        .with_include_usage(true);
    let got = frames(&run(&mut t, ANTHROPIC_STREAM, usize::MAX));
    let n = got.len();
    assert!(got[n - 3].1.get("usage").is_none());
    assert_eq!(got[n - 3].1["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(got[n - 2].1["choices"], json!([]));
    assert_eq!(got[n - 2].1["usage"]["total_tokens"], 661);
    assert_eq!(got[n - 1].1, json!("[DONE]"));
}

#[test]
fn openai_stream_to_anthropic_events() {
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::Anthropic, "claude-sonnet-4-5");
    let got = frames(&run(&mut t, OPENAI_STREAM, usize::MAX));
    for (e, d) in &got {
        assert_eq!(
            e.as_deref(),
            d["type"].as_str(),
            "event line matches data type"
        );
    }
    let data: Vec<Value> = got.into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        data,
        vec![
            json!({"type": "message_start", "message": {"id": "msg_abc123", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me look."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "I'll read "}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "the file."}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use",
                "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "name": "Read", "input": {}}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"pa"}}),
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "th\":\"a.rs\"}"}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use",
                "id": "call_2", "name": "Read", "input": {}}}),
            json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{\"path\":\"b.rs\"}"}}),
            json!({"type": "content_block_stop", "index": 3}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 800}}),
            json!({"type": "message_stop"}),
        ]
    );
}

#[test]
fn byte_at_a_time_equals_one_chunk() {
    // Every translating pair of the three chat dialects, and Responses passed through.
    for (from, to, input) in [
        (Dialect::Anthropic, Dialect::OpenAiChat, ANTHROPIC_STREAM),
        (Dialect::OpenAiChat, Dialect::Anthropic, OPENAI_STREAM),
        (Dialect::Anthropic, Dialect::Responses, ANTHROPIC_STREAM),
        (Dialect::OpenAiChat, Dialect::Responses, OPENAI_STREAM),
        (Dialect::Responses, Dialect::Anthropic, RESPONSES_STREAM),
        (Dialect::Responses, Dialect::OpenAiChat, RESPONSES_STREAM),
        (Dialect::Responses, Dialect::Responses, RESPONSES_STREAM),
        (Dialect::OpenAiChat, Dialect::Completions, OPENAI_STREAM),
    ] {
        let whole = frames(&run(
            &mut StreamTranslator::new(from, to, "m"),
            input,
            usize::MAX,
        ));
        for step in [1, 2, 7, 64] {
            let split = frames(&run(&mut StreamTranslator::new(from, to, "m"), input, step));
            assert_eq!(split, whole, "{from:?}->{to:?} step {step}");
        }
        // CRLF line endings parse the same.
        let crlf = input.replace('\n', "\r\n");
        let got = frames(&run(&mut StreamTranslator::new(from, to, "m"), &crlf, 3));
        assert_eq!(got, whole);
    }
}

#[test]
fn output_is_incremental_and_never_empty() {
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, "m");
    let mut frames_seen = 0;
    for event in ANTHROPIC_STREAM.split_inclusive("\n\n") {
        let (head, tail) = event.split_at(event.len() - 1);
        // Until the blank line arrives nothing is emitted, and nothing is allocated for output.
        let out = t.push(head.as_bytes());
        assert!(out.is_empty() && out.capacity() == 0);
        let out = t.push(tail.as_bytes());
        for f in &out {
            assert!(!f.is_empty() && f.starts_with(b"data: ") && f.len() > 8);
        }
        frames_seen += out.len();
    }
    assert_eq!(frames_seen, 9);
    assert!(
        t.finish().is_empty(),
        "[DONE] was already sent at message_stop"
    );
}

#[test]
fn same_dialect_stream_passes_through() {
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::Anthropic, "m");
    assert!(!t.is_translating());
    assert_eq!(
        t.push(b"event: ping\nda"),
        vec![Bytes::from_static(b"event: ping\nda")]
    );
    assert!(t.push(b"").is_empty());
    assert!(t.finish().is_empty());
}

#[test]
fn stop_after_tool_calls_still_means_tool_use() {
    let input = concat!(
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::Anthropic, "c");
    let got = frames(&run(&mut t, input, usize::MAX));
    let delta = got
        .iter()
        .find(|(e, _)| e.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    let out = resp(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        json!({"id": "x", "choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "stop"}]}),
        "c",
    );
    assert_eq!(out["stop_reason"], "tool_use");
}
