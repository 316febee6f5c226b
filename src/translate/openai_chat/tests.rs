use super::super::ir::{ApiError, ErrorKind, Image};
use super::super::wire::StrOr;
use super::request::{image_url, parse_arguments, parse_image_url};
use super::*;
use serde::Deserialize;
use serde_json::{Value, json};

fn args(v: Value) -> Value {
    let raw = serde_json::to_vec(&json!({"a": v})).unwrap();
    #[derive(Deserialize)]
    struct W {
        a: StrOr<Value>,
    }
    parse_arguments(serde_json::from_slice::<W>(&raw).unwrap().a)
}

#[test]
fn ids_get_the_completion_prefix() {
    assert_eq!(completion_id("msg_01X"), "chatcmpl-01X");
    assert_eq!(completion_id("chatcmpl-9"), "chatcmpl-9");
}

#[test]
fn image_urls_split_data_from_links() {
    assert_eq!(
        parse_image_url("data:image/webp;base64,UklGR".into()),
        Image::Base64 {
            media_type: "image/webp".into(),
            data: "UklGR".into()
        }
    );
    assert_eq!(
        parse_image_url("https://x/y.png".into()),
        Image::Url("https://x/y.png".into())
    );
    assert_eq!(
        image_url(&parse_image_url("data:image/png;base64,AA==".into())),
        "data:image/png;base64,AA=="
    );
}

#[test]
fn bad_tool_arguments_become_an_empty_object() {
    assert_eq!(args(json!("{\"a\":")), json!({}));
    assert_eq!(args(json!("[1]")), json!({}));
    assert_eq!(args(json!("")), json!({}));
    assert_eq!(args(json!([1])), json!({}));
    assert_eq!(args(json!("{\"a\":1}")), json!({"a": 1}));
    assert_eq!(args(json!({"b": 2})), json!({"b": 2}));
}

#[test]
fn developer_and_system_messages_join_the_system_prompt() {
    let r = parse_request(
        br#"{"model": "m", "messages": [
        {"role": "developer", "content": "a"},
        {"role": "system", "content": [{"type": "text", "text": "b"}]},
        {"role": "user", "content": "hi"}
    ]}"#,
    )
    .unwrap();
    assert_eq!(r.system, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(r.messages.len(), 1);
    let v: Value = serde_json::from_slice(&emit_request(&r).unwrap()).unwrap();
    assert_eq!(
        v["messages"][0],
        json!({"role": "system", "content": "a\n\nb"})
    );
}

#[test]
fn error_codes_follow_the_kind_unless_set() {
    let body = |e: &ApiError| serde_json::from_slice::<Value>(&emit_error(e)).unwrap();
    assert_eq!(
        body(&ApiError::new(ErrorKind::Permission, "no")),
        json!({"error": {"message": "no", "type": "permission_error", "code": "permission_denied"}})
    );
    assert_eq!(
        body(&ApiError::new(ErrorKind::InvalidRequest, "bad")),
        json!({"error": {"message": "bad", "type": "invalid_request_error", "code": null}})
    );
    assert_eq!(
        body(&ApiError::new(ErrorKind::Unavailable, "none").with_code("auth_unavailable")),
        json!({"error": {"message": "none", "type": "server_error", "code": "auth_unavailable"}})
    );
}
