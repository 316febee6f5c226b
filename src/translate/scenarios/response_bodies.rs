//! Whole (non-streamed) response bodies between Anthropic and OpenAI Chat.

use super::*;

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
