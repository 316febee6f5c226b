//! Request bodies between the chat dialects: messages, tools, images, thinking, sampling.

use super::*;

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

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
