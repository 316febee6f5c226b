//! Cross-dialect scenarios through the public entry points, with realistic payloads.

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

fn req(from: Dialect, to: Dialect, body: Value, model: &str) -> Value {
    let out = translate_request(from, to, body.to_string().as_bytes(), model).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn resp(from: Dialect, to: Dialect, body: Value, model: &str) -> Value {
    let out = translate_response(from, to, body.to_string().as_bytes(), model).unwrap();
    serde_json::from_slice(&out).unwrap()
}

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

// ------------------------------------------------------------ requests

#[test]
fn openai_request_to_anthropic_full() {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these images, and the weather?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_B64}"), "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "18C sunny"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "3C snow"}]},
            {"role": "user", "content": "Summarise."}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "max_completion_tokens": 1000,
        "temperature": 1.5,
        "top_p": 0.9,
        "stop": "END",
        "stream": true,
        "stream_options": {"include_usage": true},
        "user": "u-42",
        "n": 1, "logprobs": false, "frequency_penalty": 0.1, "seed": 7, "response_format": {"type": "text"}
    });
    let out = req(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        body,
        "claude-sonnet-4-5-20250929",
    );
    assert_eq!(
        out,
        json!({
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 1000,
            "system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Use tools."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in these images, and the weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_b", "name": "get_weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_a", "content": "18C sunny"},
                    {"type": "tool_result", "tool_use_id": "call_b", "content": "3C snow"},
                    {"type": "text", "text": "Summarise."}
                ]}
            ],
            "tools": [{"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"],
            "temperature": 1.0,
            "top_p": 0.9,
            "stream": true,
            "metadata": {"user_id": "u-42"}
        })
    );
}

#[test]
fn openai_request_defaults_max_tokens_and_merges_roles() {
    let body = json!({
        "model": "m",
        "max_tokens": 50,
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": "c"}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f"}}]
    });
    let out = req(Dialect::OpenAiChat, Dialect::Anthropic, body, "up");
    assert_eq!(out["max_tokens"], 50);
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}]}
        ])
    );
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "f"}));
    assert_eq!(
        out["tools"][0],
        json!({"name": "f", "input_schema": {"type": "object", "properties": {}}})
    );
    let out = req(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        "up",
    );
    assert_eq!(out["max_tokens"], anthropic::DEFAULT_MAX_TOKENS);
    assert!(out.get("system").is_none() && out.get("stream").is_none());
    for (choice, want) in [
        ("auto", json!({"type": "auto"})),
        ("none", json!({"type": "none"})),
    ] {
        let out = req(
            Dialect::OpenAiChat,
            Dialect::Anthropic,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                   "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": choice}),
            "up",
        );
        assert_eq!(out["tool_choice"], want);
    }
}

#[test]
fn reasoning_effort_becomes_thinking_budget() {
    for (effort, budget) in [("low", 1024), ("medium", 8192), ("high", 24576)] {
        let out = req(
            Dialect::OpenAiChat,
            Dialect::Anthropic,
            json!({"model": "m", "reasoning_effort": effort, "temperature": 0.2,
                   "messages": [{"role": "user", "content": "think"}]}),
            "up",
        );
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": budget})
        );
        assert!(out["max_tokens"].as_u64().unwrap() > budget);
        assert!(
            out.get("temperature").is_none(),
            "thinking rejects temperature"
        );
    }
    for (budget, effort) in [(1024, "low"), (8000, "medium"), (31999, "high")] {
        let out = req(
            Dialect::Anthropic,
            Dialect::OpenAiChat,
            json!({"model": "m", "max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": budget},
                   "messages": [{"role": "user", "content": "think"}]}),
            "up",
        );
        assert_eq!(out["reasoning_effort"], effort);
    }
}

#[test]
fn anthropic_request_to_openai_full() {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be careful."}
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "text", "text": "List files", "cache_control": {"type": "ephemeral"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should call ls", "signature": "sig=="},
                {"type": "text", "text": "Running ls."},
                {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_02", "name": "Read", "input": {"path": "a.png"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "a.txt\nb.txt"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": [
                    {"type": "text", "text": "an image"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "BBBB"}}
                ], "is_error": false},
                {"type": "text", "text": "Thanks"}
            ]}
        ],
        "tools": [
            {"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.7,
        "top_k": 40,
        "stream": true,
        "metadata": {"user_id": "user_abc_account__session_1"}
    });
    let out = req(
        Dialect::Anthropic,
        Dialect::OpenAiChat,
        body,
        "z-ai/glm-4.6",
    );
    assert_eq!(
        out,
        json!({
            "model": "z-ai/glm-4.6",
            "messages": [
                {"role": "system", "content": "You are Claude Code.\n\nBe careful."},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "text", "text": "List files"}
                ]},
                {"role": "assistant", "content": "Running ls.", "tool_calls": [
                    {"id": "toolu_01", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                    {"id": "toolu_02", "type": "function", "function": {"name": "Read", "arguments": "{\"path\":\"a.png\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "a.txt\nb.txt"},
                {"role": "tool", "tool_call_id": "toolu_02", "content": "an image"},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBBB"}},
                    {"type": "text", "text": "Thanks"}
                ]}
            ],
            "tools": [{"type": "function", "function": {"name": "Bash", "description": "Run a command",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "max_tokens": 4096,
            "temperature": 0.7,
            "stop": ["\n\nHuman:"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "user_abc_account__session_1"
        })
    );
}

#[test]
fn same_dialect_request_only_rewrites_model() {
    let body = br#"{"model":"alias","messages":[],"x":1}"#;
    let out = translate_request(Dialect::Anthropic, Dialect::Anthropic, body, "real").unwrap();
    assert_eq!(&out[..], br#"{"model":"real","messages":[],"x":1}"#);
    // An Anthropic body read as Gemini's has no `contents`: a clear shape error.
    assert!(matches!(
        translate_request(Dialect::Gemini, Dialect::Anthropic, body, "m"),
        Err(TranslateError::Invalid(m)) if m.contains("contents")
    ));
    assert!(matches!(
        translate_request(Dialect::OpenAiChat, Dialect::Anthropic, b"{", "m"),
        Err(TranslateError::Json(_))
    ));
}

// ------------------------------------------------------------ responses

#[test]
fn anthropic_response_to_openai() {
    let body = json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "User wants weather.", "signature": "EqQB..."},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 30, "cache_read_input_tokens": 50, "cache_creation_input_tokens": 10}
    });
    let out = resp(Dialect::Anthropic, Dialect::OpenAiChat, body, "gpt-alias");
    assert_eq!(out["id"], "chatcmpl-01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(out["object"], "chat.completion");
    assert!(out["created"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(out["model"], "gpt-alias");
    assert_eq!(
        out["choices"],
        json!([{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me check.",
                "reasoning_content": "User wants weather.",
                "tool_calls": [{"id": "toolu_01A", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }])
    );
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 160, "completion_tokens": 30, "total_tokens": 190,
               "prompt_tokens_details": {"cached_tokens": 50}})
    );
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
    ] {
        let out = resp(
            Dialect::Anthropic,
            Dialect::OpenAiChat,
            json!({"id": "msg_1", "content": [{"type": "text", "text": "x"}], "stop_reason": stop,
                   "usage": {"input_tokens": 1, "output_tokens": 1}}),
            "m",
        );
        assert_eq!(out["choices"][0]["finish_reason"], finish);
    }
}

#[test]
fn openai_response_to_anthropic() {
    let body = json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "glm-4.6",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "reasoning_content": "Need to read the file.",
                "tool_calls": [{"id": "call_9", "type": "function",
                    "function": {"name": "Read", "arguments": "{\"path\":\"src/main.rs\"}"}}]
            },
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
                  "prompt_tokens_details": {"cached_tokens": 1000}}
    });
    let out = resp(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        body,
        "claude-sonnet-4-5",
    );
    assert_eq!(
        out,
        json!({
            "id": "msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "Need to read the file.", "signature": ""},
                {"type": "tool_use", "id": "call_9", "name": "Read", "input": {"path": "src/main.rs"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 117, "output_tokens": 46, "cache_read_input_tokens": 1000}
        })
    );
    let out = resp(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        json!({"id": "gen-1", "choices": [{"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}]}),
        "c",
    );
    assert_eq!(out["id"], "msg_gen-1");
    assert_eq!(out["content"], json!([{"type": "text", "text": "Hi"}]));
    assert_eq!(out["stop_reason"], "max_tokens");
}

// ------------------------------------------------------------ errors

#[test]
fn errors_map_both_ways() {
    let anth = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::Anthropic,
        Dialect::OpenAiChat,
        529,
        anth,
    ))
    .unwrap();
    assert_eq!(
        out,
        json!({"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded"}})
    );
    let oai = br#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        429,
        oai,
    ))
    .unwrap();
    assert_eq!(
        out,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached for requests"}})
    );
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        401,
        br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    ))
    .unwrap();
    assert_eq!(out["error"]["type"], "invalid_request_error");
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::OpenAiChat,
        Dialect::Anthropic,
        502,
        b"<html>Bad Gateway</html>",
    ))
    .unwrap();
    assert_eq!(
        out,
        json!({"type": "error", "error": {"type": "api_error", "message": "<html>Bad Gateway</html>"}})
    );
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::Anthropic,
        Dialect::Gemini,
        404,
        anth,
    ))
    .unwrap();
    assert_eq!(out["error"]["status"], "UNAVAILABLE");
    assert_eq!(out["error"]["code"], 404);
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::Gemini,
        Dialect::OpenAiChat,
        429,
        br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#,
    ))
    .unwrap();
    assert_eq!(out["error"]["type"], "rate_limit_error");
    assert_eq!(out["error"]["message"], "Quota exceeded");
    assert_eq!(
        translate_error(Dialect::Anthropic, Dialect::Anthropic, 529, anth),
        Bytes::from_static(anth)
    );
    let out: Value = serde_json::from_slice(&translate_error(
        Dialect::Anthropic,
        Dialect::OpenAiChat,
        503,
        b"",
    ))
    .unwrap();
    assert_eq!(out["error"]["message"], "upstream returned status 503");
}

// ------------------------------------------------------------ streams

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

/// Frames as (event name, parsed data or the raw `[DONE]`), with volatile fields removed.
fn frames(out: &[Bytes]) -> Vec<(Option<String>, Value)> {
    out.iter()
        .map(|f| {
            let s = std::str::from_utf8(f).unwrap();
            assert!(s.ends_with("\n\n"), "frame not terminated: {s:?}");
            let mut event = None;
            let mut data = None;
            for line in s.trim_end().lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(!d.trim().is_empty(), "empty data frame");
                    data = Some(if d == "[DONE]" {
                        json!("[DONE]")
                    } else {
                        let mut v: Value = serde_json::from_str(d).unwrap();
                        if let Some(o) = v.as_object_mut() {
                            o.remove("created");
                            // Responses frames carry the clock in the response object.
                            if let Some(r) = o.get_mut("response").and_then(Value::as_object_mut) {
                                r.remove("created_at");
                            }
                        }
                        v
                    });
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            (event, data.expect("frame without data"))
        })
        .collect()
}

fn run(t: &mut StreamTranslator, input: &str, step: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    for c in input.as_bytes().chunks(step) {
        out.extend(t.push(c));
    }
    out.extend(t.finish());
    out
}

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

/// A Codex (Responses) stream in the documented order: reasoning with encrypted content,
/// text, a function call, then `response.completed` with an empty `output` (as the
/// backend sometimes sends it).
const RESPONSES_STREAM: &str = concat!(
    "event: response.created\n",
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_68af\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-5-codex\",\"output\":[]}}\n\n",
    "event: response.in_progress\n",
    "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_68af\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
    "event: codex.rate_limits\n",
    "data: {\"type\":\"codex.rate_limits\",\"primary\":{\"used_percent\":3.0}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}\n\n",
    "event: response.reasoning_summary_text.delta\n",
    "data: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Need the weather.\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":4,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"Need the weather.\"}],\"encrypted_content\":\"gAAAAB-enc\"}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":5,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\n",
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Checking \"}\n\n",
    "event: response.output_text.delta\n",
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Paris.\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":8,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Checking Paris.\"}]}}\n\n",
    "event: response.output_item.added\n",
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":9,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_w\",\"name\":\"get_weather\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\n",
    "data: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":10,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"city\\\":\"}\n\n",
    "event: response.function_call_arguments.delta\n",
    "data: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"\\\"Paris\\\"}\"}\n\n",
    "event: response.output_item.done\n",
    "data: {\"type\":\"response.output_item.done\",\"sequence_number\":12,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_w\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}\n\n",
    "event: response.completed\n",
    "data: {\"type\":\"response.completed\",\"sequence_number\":13,\"response\":{\"id\":\"resp_68af\",\"status\":\"completed\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":{\"input_tokens\":1200,\"input_tokens_details\":{\"cached_tokens\":1000},\"output_tokens\":300,\"output_tokens_details\":{\"reasoning_tokens\":256},\"total_tokens\":1500}}}\n\n",
);

#[test]
fn responses_stream_to_anthropic_and_chat() {
    let a = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::Anthropic, "gpt-alias"),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    let names: Vec<&str> = a.iter().filter_map(|(e, _)| e.as_deref()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(a[0].1["message"]["model"], "gpt-alias");
    assert_eq!(
        a[2].1["delta"],
        json!({"type": "thinking_delta", "thinking": "Need the weather."})
    );
    assert_eq!(
        a[3].1["delta"],
        json!({"type": "signature_delta", "signature": "gAAAAB-enc"})
    );
    assert_eq!(a[9].1["content_block"]["id"], "call_w");
    assert_eq!(a[9].1["content_block"]["name"], "get_weather");
    assert_eq!(
        a[13].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 200, "output_tokens": 300, "cache_read_input_tokens": 1000}})
    );

    let c = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::OpenAiChat, "gpt-alias")
            .with_include_usage(true),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    let text: String = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Checking Paris.");
    let reasoning: String = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Need the weather.");
    let call = c
        .iter()
        .find_map(|(_, v)| v["choices"][0]["delta"]["tool_calls"][0]["id"].as_str())
        .unwrap();
    assert_eq!(call, "call_w");
    let finish: Vec<&str> = c
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    let usage = c.iter().find(|(_, v)| v["usage"].is_object()).unwrap();
    assert_eq!(
        usage.1["usage"],
        json!({"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
               "prompt_tokens_details": {"cached_tokens": 1000},
               "completion_tokens_details": {"reasoning_tokens": 256}})
    );
    assert_eq!(c.last().unwrap().1, json!("[DONE]"));
}

#[test]
fn responses_to_responses_fills_the_empty_final_output() {
    let r = frames(&run(
        &mut StreamTranslator::new(Dialect::Responses, Dialect::Responses, "m"),
        RESPONSES_STREAM,
        usize::MAX,
    ));
    assert_eq!(
        r.len(),
        RESPONSES_STREAM.matches("\n\n").count(),
        "every event passes"
    );
    let done = &r.last().unwrap().1["response"]["output"];
    let ids: Vec<&str> = done
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rs_1", "msg_1", "fc_1"]);
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
fn stream_errors_become_target_error_frames() {
    let input = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: error\n",
        "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, "m");
    let got = frames(&run(&mut t, input, 5));
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[1].1,
        json!({"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded"}})
    );
    assert_eq!(got[2].1, json!("[DONE]"));

    let input = concat!(
        "data: {\"id\":\"gen-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"Provider returned error\",\"code\":429}}\n\n",
        "data: [DONE]\n\n",
    );
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::Anthropic, "c");
    let got = frames(&run(&mut t, input, 4));
    let last = got.last().unwrap();
    assert_eq!(last.0.as_deref(), Some("error"));
    assert_eq!(
        last.1,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Provider returned error"}})
    );
    assert!(
        got.iter()
            .all(|(e, _)| e.as_deref() != Some("message_stop"))
    );
}

#[test]
fn truncated_streams_end_with_an_error_not_a_fake_success() {
    let input =
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::Anthropic, "c");
    let got = frames(&run(&mut t, input, usize::MAX));
    assert_eq!(got.last().unwrap().0.as_deref(), Some("error"));

    let input = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\n";
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, "m");
    let got = frames(&run(&mut t, input, usize::MAX));
    assert_eq!(got.len(), 3);
    assert!(got[1].1.get("error").is_some());
    assert_eq!(got[2].1, json!("[DONE]"));

    // finish_reason seen, then EOF without [DONE] or usage: a normal end.
    let input = concat!(
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
    );
    let mut t = StreamTranslator::new(Dialect::OpenAiChat, Dialect::Anthropic, "c");
    let got = frames(&run(&mut t, input, usize::MAX));
    let names: Vec<_> = got.iter().map(|(e, _)| e.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(got[4].1["delta"]["stop_reason"], "end_turn");
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
