//! Request parsing and emission, response objects and error bodies.

use serde_json::{Value, json};

use super::super::super::TranslateError;
use super::super::super::ir::{
    ApiError, Effort, ErrorKind, Image, Message, Part, Reasoning, Request, Response, Role,
    StopReason, Tool, ToolChoice, Usage,
};
use super::super::{parse_request, parse_response};
use super::golden::{call_item, message_item, reasoning_item, usage_wire};
use super::{emit_error, emit_request, emit_response};

pub(super) const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// Roughly what Codex CLI sends on the third turn of a session.
pub(super) fn codex_request() -> Value {
    json!({
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions>workspace-write</permissions>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>/repo</environment_context>"}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in this image, and the weather?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "high"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "**Plan**"}],
             "content": null, "encrypted_content": "gAAAAB-enc"},
            {"type": "message", "role": "assistant", "id": "msg_1", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}", "call_id": "call_1"},
            {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}", "call_id": "call_2"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": [
                {"type": "input_text", "text": "a.png"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}
            ]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
            {"role": "user", "content": "Summarise."}
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Current weather",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "strict": false},
            {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}, "strict": true},
            {"type": "web_search"},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}}
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "high", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a-session",
        "max_output_tokens": 4096,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "u-1",
        "metadata": {"trace": "t1"},
        "text": {"verbosity": "low"}
    })
}

fn weather_params() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

pub(super) fn codex_ir() -> Request {
    let text = |t: &str| Part::Text(t.into());
    Request {
        model: "gpt-5-codex".into(),
        system: vec![
            "You are Codex.".into(),
            "<permissions>workspace-write</permissions>".into(),
        ],
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![text("<environment_context>/repo</environment_context>")],
            },
            Message {
                role: Role::User,
                parts: vec![
                    text("What is in this image, and the weather?"),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: PNG.into(),
                    }),
                    Part::Image(Image::Url("https://example.com/cat.jpg".into())),
                ],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "**Plan**".into(),
                        signature: Some("gAAAAB-enc".into()),
                    },
                    text("Checking."),
                    Part::ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris"}),
                    },
                    Part::ToolCall {
                        id: "call_2".into(),
                        name: "shell".into(),
                        arguments: json!({"command": ["ls"]}),
                    },
                ],
            },
            Message {
                role: Role::User,
                parts: vec![
                    Part::ToolResult {
                        call_id: "call_1".into(),
                        content: vec![text("18C sunny")],
                        is_error: false,
                    },
                    Part::ToolResult {
                        call_id: "call_2".into(),
                        content: vec![
                            text("a.png"),
                            Part::Image(Image::Base64 {
                                media_type: "image/png".into(),
                                data: "AAAA".into(),
                            }),
                        ],
                        is_error: false,
                    },
                ],
            },
            Message {
                role: Role::User,
                parts: vec![text("Summarise.")],
            },
        ],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather".into()),
                parameters: weather_params(),
                strict: Some(false),
            },
            Tool {
                name: "shell".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {"command": {"type": "array"}}}),
                strict: Some(true),
            },
        ],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        max_tokens: Some(4096),
        temperature: Some(0.5),
        top_p: Some(0.9),
        stop: vec![],
        stream: true,
        include_usage: false,
        reasoning: Some(Reasoning::Effort(Effort::High)),
        user: Some("u-1".into()),
        prompt_cache_key: Some("019a-session".into()),
        metadata: json!({"trace": "t1"}).as_object().cloned(),
    }
}

/// The items every emitted form of [`codex_ir`] starts with.
pub(super) fn developer_item(parts: &[&str]) -> Value {
    let content: Vec<Value> = parts
        .iter()
        .map(|t| json!({"type": "input_text", "text": t}))
        .collect();
    json!({"type": "message", "role": "developer", "content": content})
}

#[test]
fn codex_request_parses_to_ir() {
    let body = codex_request().to_string();
    assert_eq!(parse_request(body.as_bytes()).expect("parses"), codex_ir());
}

#[test]
fn ir_emits_a_codex_request_and_parses_back() {
    let out = emit_request(&codex_ir());
    assert_eq!(
        out,
        json!({
            "model": "gpt-5-codex",
            "instructions": "",
            "input": [
                developer_item(&["You are Codex.", "<permissions>workspace-write</permissions>"]),
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>/repo</environment_context>"}]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is in this image, and the weather?"},
                    {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}"), "detail": "auto"},
                    {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"}
                ]},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan**"}], "encrypted_content": "gAAAAB-enc"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C sunny"},
                {"type": "function_call_output", "call_id": "call_2", "output": [
                    {"type": "input_text", "text": "a.png"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}
                ]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Summarise."}]}
            ],
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": weather_params(), "strict": false},
                {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}, "strict": true}
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning": {"effort": "high", "summary": "auto"},
            "max_output_tokens": 4096,
            "temperature": 0.5,
            "top_p": 0.9,
            "stream": true,
            "user": "u-1",
            "prompt_cache_key": "019a-session",
            "metadata": {"trace": "t1"}
        })
    );
    let again = parse_request(out.to_string().as_bytes()).expect("parses");
    assert_eq!(again, codex_ir());
}

#[test]
fn small_forms_of_input_tool_choice_and_effort() {
    let r = parse_request(br#"{"model":"m","input":"hi","instructions":null}"#).expect("parses");
    assert_eq!(
        r.messages,
        vec![Message {
            role: Role::User,
            parts: vec![Part::Text("hi".into())]
        }]
    );
    assert!(r.system.is_empty() && !r.stream);
    for (choice, want) in [
        (json!("none"), Some(ToolChoice::None)),
        (json!("required"), Some(ToolChoice::Required)),
        (
            json!({"type": "function", "name": "f"}),
            Some(ToolChoice::Named("f".into())),
        ),
        (
            json!({"type": "function", "function": {"name": "g"}}),
            Some(ToolChoice::Named("g".into())),
        ),
        (json!({"type": "web_search"}), None),
    ] {
        let body = json!({"model": "m", "input": [], "tool_choice": choice});
        let r = parse_request(body.to_string().as_bytes()).expect("parses");
        assert_eq!(r.tool_choice, want);
    }
    for (effort, want) in [
        ("minimal", Some(Reasoning::Effort(Effort::Low))),
        ("medium", Some(Reasoning::Effort(Effort::Medium))),
        ("xhigh", Some(Reasoning::Effort(Effort::High))),
        ("none", Some(Reasoning::Disabled)),
        ("turbo", None),
    ] {
        let body = json!({"model": "m", "input": [], "reasoning": {"effort": effort}});
        let r = parse_request(body.to_string().as_bytes()).expect("parses");
        assert_eq!(r.reasoning, want, "{effort}");
    }
    // Disabled reasoning is left to the model's default: "none" is refused by some models.
    let out = emit_request(&Request {
        reasoning: Some(Reasoning::Disabled),
        ..Request::default()
    });
    assert!(out.get("reasoning").is_none());
    let out = emit_request(&Request {
        reasoning: Some(Reasoning::Budget(2000)),
        ..Request::default()
    });
    assert_eq!(
        out["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    // Instructions given as items are system prompt too.
    let body = json!({"model": "m", "instructions": [{"type": "message", "content": [{"type": "input_text", "text": "sys"}]}], "input": []});
    let r = parse_request(body.to_string().as_bytes()).expect("parses");
    assert_eq!(r.system, vec!["sys".to_string()]);
}

#[test]
fn unsigned_reasoning_and_stray_parts_are_not_sent_upstream() {
    let r = Request {
        model: "m".into(),
        messages: vec![
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "from another provider".into(),
                        signature: None,
                    },
                    Part::Thinking {
                        text: String::new(),
                        signature: Some("enc".into()),
                    },
                    Part::Text(String::new()),
                    Part::Image(Image::Url("https://x/y.png".into())),
                ],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: json!({}),
                }],
            },
        ],
        tools: vec![Tool {
            name: "f".into(),
            parameters: Value::Null,
            ..Tool::default()
        }],
        tool_choice: Some(ToolChoice::Named("f".into())),
        ..Request::default()
    };
    let out = emit_request(&r);
    assert_eq!(
        out["input"],
        json!([{"type": "reasoning", "summary": [], "encrypted_content": "enc"}])
    );
    assert_eq!(
        out["tools"],
        json!([{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": false}])
    );
    assert_eq!(out["tool_choice"], json!({"type": "function", "name": "f"}));
}

#[test]
fn bad_bodies_name_the_field() {
    let err = |body: &str| parse_request(body.as_bytes()).expect_err("rejected");
    assert!(matches!(err("{"), TranslateError::Json(_)));
    let TranslateError::Invalid(m) =
        err(r#"{"model":"m","input":[{"type":"message","role":"user","content":5}]}"#)
    else {
        panic!("invalid")
    };
    assert!(m.contains("input[0].content"), "{m}");
    let TranslateError::Invalid(m) = err(r#"{"model":"m","temperature":"hot"}"#) else {
        panic!("invalid")
    };
    assert!(m.contains("temperature"), "{m}");
    assert!(matches!(err("[]"), TranslateError::Invalid(_)));
    assert!(matches!(
        parse_response(br#"{"id":"resp_1","status":"completed"}"#),
        Err(TranslateError::Invalid(m)) if m.contains("output")
    ));
}

pub(super) fn codex_response() -> Value {
    json!({
        "id": "resp_68af", "object": "response", "created_at": 1756315696, "status": "completed",
        "model": "gpt-5-codex", "error": null, "incomplete_details": null,
        "output": [reasoning_item(true), message_item("Let me check.", true), call_item("{\"city\":\"Paris\"}", true)],
        "usage": usage_wire(), "store": false, "tools": []
    })
}

pub(super) fn codex_response_ir() -> Response {
    Response {
        id: "resp_68af".into(),
        model: "gpt-5-codex".into(),
        parts: vec![
            Part::Thinking {
                text: "**Checking weather**\n\nNeed a tool.".into(),
                signature: Some("gAAAAABo-enc==".into()),
            },
            Part::Text("Let me check.".into()),
            Part::ToolCall {
                id: "call_abc".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            },
        ],
        stop: Some(StopReason::ToolUse),
        usage: Usage {
            input: Some(176),
            output: Some(300),
            cache_read: Some(1024),
            cache_creation: None,
            reasoning: Some(256),
        },
    }
}

#[test]
fn response_object_parses_and_emits() {
    let body = codex_response().to_string();
    assert_eq!(
        parse_response(body.as_bytes()).expect("parses"),
        codex_response_ir()
    );
    let wrapped = json!({"type": "response.completed", "response": codex_response()}).to_string();
    assert_eq!(
        parse_response(wrapped.as_bytes()).expect("parses"),
        codex_response_ir()
    );

    let mut out = emit_response(&codex_response_ir(), "alias");
    assert!(out["created_at"].as_i64().expect("created_at") > 1_600_000_000);
    out.as_object_mut().expect("object").remove("created_at");
    assert_eq!(
        out,
        json!({
            "id": "resp_68af", "object": "response", "status": "completed", "error": null,
            "incomplete_details": null, "instructions": null, "max_output_tokens": null,
            "model": "alias",
            "output": [
                {"type": "reasoning", "id": "rs_68af_0", "encrypted_content": "gAAAAABo-enc==",
                 "summary": [{"type": "summary_text", "text": "**Checking weather**\n\nNeed a tool."}]},
                {"type": "message", "id": "msg_68af_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
                {"type": "function_call", "id": "fc_68af_2", "status": "completed",
                 "arguments": "{\"city\":\"Paris\"}", "call_id": "call_abc", "name": "get_weather"}
            ],
            "parallel_tool_calls": true, "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null}, "store": false, "temperature": null,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": null,
            "truncation": "disabled", "usage": usage_wire(), "user": null, "metadata": {}
        })
    );
    let again = parse_response(out.to_string().as_bytes()).expect("parses");
    assert_eq!(
        again,
        Response {
            model: "alias".into(),
            ..codex_response_ir()
        }
    );
}

#[test]
fn response_status_maps_to_stop_reasons() {
    for (status, details, output, want) in [
        (
            "completed",
            Value::Null,
            json!([message_item("x", true)]),
            Some(StopReason::EndTurn),
        ),
        (
            "completed",
            Value::Null,
            json!([call_item("{}", true)]),
            Some(StopReason::ToolUse),
        ),
        (
            "incomplete",
            json!({"reason": "max_output_tokens"}),
            json!([]),
            Some(StopReason::MaxTokens),
        ),
        (
            "incomplete",
            json!({"reason": "content_filter"}),
            json!([]),
            Some(StopReason::Refusal),
        ),
        ("in_progress", Value::Null, json!([]), None),
    ] {
        let body = json!({"id": "resp_1", "status": status, "incomplete_details": details, "output": output});
        let r = parse_response(body.to_string().as_bytes()).expect("parses");
        assert_eq!(r.stop, want, "{status}");
    }
    let body = json!({"id": "resp_1", "status": "failed", "output": [],
                      "error": {"code": "server_error", "message": "boom"}});
    assert_eq!(
        parse_response(body.to_string().as_bytes()),
        Err(TranslateError::Invalid("response failed: boom".into()))
    );
    for (stop, status, reason) in [
        (
            StopReason::MaxTokens,
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            StopReason::Refusal,
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
        (StopReason::EndTurn, "completed", Value::Null),
        (StopReason::StopSequence, "completed", Value::Null),
    ] {
        let out = emit_response(
            &Response {
                id: "msg_01X".into(),
                stop: Some(stop),
                ..Response::default()
            },
            "m",
        );
        assert_eq!(out["status"], status);
        assert_eq!(out["incomplete_details"], reason);
        assert_eq!(out["id"], "resp_01X");
    }
}

#[test]
fn error_bodies_have_the_openai_shape() {
    let e = ApiError::new(ErrorKind::RateLimit, "Rate limit reached");
    assert_eq!(
        emit_error(&e),
        json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                         "param": null, "code": "rate_limit_exceeded"}})
    );
}

#[test]
fn usage_counts_cache_reads_and_writes_inside_input_tokens() {
    let usage = json!({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300},
                       "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 1050});
    let body = json!({"id": "resp_1", "status": "completed", "output": [], "usage": usage});
    let r = parse_response(body.to_string().as_bytes()).expect("parses");
    assert_eq!(
        r.usage,
        Usage {
            input: Some(100),
            output: Some(50),
            cache_read: Some(600),
            cache_creation: Some(300),
            reasoning: Some(20),
        }
    );
    assert_eq!(emit_response(&r, "m")["usage"], usage);
}
