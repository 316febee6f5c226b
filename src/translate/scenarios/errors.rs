//! Upstream errors, as whole bodies and inside streams, in the client's dialect.

use super::*;

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
