use super::super::TranslateError;
use super::super::ir::{ApiError, ErrorKind, Message, Part, Request, Role};
use super::*;
use serde_json::{Value, json};

fn emit(r: &Request) -> Value {
    serde_json::from_slice(&emit_request(r).unwrap()).unwrap()
}

#[test]
fn ids_get_the_message_prefix() {
    assert_eq!(message_id("chatcmpl-abc"), "msg_abc");
    assert_eq!(message_id("msg_abc"), "msg_abc");
    assert_eq!(message_id("gen-1"), "msg_gen-1");
    assert!(message_id("").starts_with("msg_") && message_id("").len() > 10);
}

#[test]
fn unsigned_thinking_and_empty_text_are_not_sent_upstream() {
    let r = Request {
        model: "m".into(),
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("q".into())],
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "hmm".into(),
                        signature: None,
                    },
                    Part::Text(String::new()),
                    Part::Text("a".into()),
                ],
            },
        ],
        ..Request::default()
    };
    assert_eq!(
        emit(&r)["messages"][1],
        json!({"role": "assistant", "content": [{"type": "text", "text": "a"}]})
    );
}

#[test]
fn tool_results_lead_a_merged_user_turn() {
    let r = Request {
        messages: vec![
            Message {
                role: Role::User,
                parts: vec![Part::Text("first".into())],
            },
            Message {
                role: Role::User,
                parts: vec![Part::ToolResult {
                    call_id: "t1".into(),
                    content: vec![],
                    is_error: true,
                }],
            },
        ],
        ..Request::default()
    };
    assert_eq!(
        emit(&r)["messages"],
        json!([{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": true},
            {"type": "text", "text": "first"}
        ]}])
    );
}

#[test]
fn unknown_blocks_roles_and_members_are_skipped_and_wrong_shapes_named() {
    let r = parse_request(
        br#"{"model":"m","max_tokens":5,"x":{"deep":[1]},"messages":[
            {"role":"user","content":[{"type":"document","source":{"type":"file","file_id":"f"}},
                {"type":"text","text":"hi","cache_control":{"type":"ephemeral"}},{"text":"no type"}]},
            {"role":"system","content":"dropped"},
            {"content":"no role"}]}"#,
    )
    .unwrap();
    assert_eq!(
        r.messages,
        vec![Message {
            role: Role::User,
            parts: vec![Part::Text("hi".into())]
        }]
    );
    let e = parse_request(br#"{"model":"m"}"#).unwrap_err();
    assert!(
        matches!(&e, TranslateError::Invalid(m) if m.contains("messages")),
        "{e}"
    );
    let e = parse_request(br#"{"model":"m","messages":"hi"}"#).unwrap_err();
    assert!(matches!(&e, TranslateError::Invalid(m) if m.contains("invalid type")));
    // Scalars of the wrong type are skipped, as before typed parsing.
    let r = parse_request(br#"{"model":"m","messages":[],"max_tokens":"x","stream":1}"#).unwrap();
    assert_eq!((r.max_tokens, r.stream), (None, false));
}

#[test]
fn error_bodies_carry_code_and_cooldown_only_when_set() {
    let e = ApiError::new(ErrorKind::Authentication, "Invalid API key");
    assert_eq!(
        serde_json::from_slice::<Value>(&emit_error(&e)).unwrap(),
        json!({"type":"error","error":{"type":"authentication_error","message":"Invalid API key"}})
    );
    let e = ApiError {
        cooldown: Some(super::super::ir::Cooldown {
            model: "m".into(),
            reset_seconds: 9,
        }),
        ..ApiError::new(ErrorKind::RateLimit, "cooling").with_code("model_cooldown")
    };
    assert_eq!(
        serde_json::from_slice::<Value>(&emit_error(&e)).unwrap(),
        json!({"type":"error","error":{"type":"rate_limit_error","message":"cooling",
            "code":"model_cooldown","model":"m","reset_seconds":9}})
    );
    let f = emit_stream_error(&e);
    assert!(f.starts_with(b"event: error\ndata: {\"type\":\"error\"") && f.ends_with(b"\n\n"));
}
