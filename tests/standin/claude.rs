//! Stand-in Anthropic Messages API: `POST …/v1/messages` (JSON or SSE, text or a tool call),
//! `POST …/v1/messages/count_tokens`, and Anthropic's error shape.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::reply::{
    Plan, content_text, count_words, estimate_tokens, split_pieces, synth_input, wants_tool,
};
use super::state::{Effective, Shared};
use super::{DEFAULT_TEXT, Dialect, apply_behavior, credential, json_response, sse_response};

fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(super) fn error(status: StatusCode, etype: Option<&str>, msg: &str) -> Response {
    let etype = etype.unwrap_or_else(|| error_type(status));
    let mut r = json_response(
        status,
        &json!({"type": "error", "error": {"type": etype, "message": msg}, "request_id": "req_standin"}),
    );
    r.headers_mut()
        .insert("request-id", HeaderValue::from_static("req_standin"));
    r
}

fn event(out: &mut Vec<u8>, v: &Value) {
    let name = v.get("type").and_then(Value::as_str).unwrap_or("message");
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

fn plan(req: &Value, eff: &Effective) -> Plan {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    if let Some(last) = last.filter(|m| m.get("role").and_then(Value::as_str) == Some("user")) {
        let content = last.get("content").unwrap_or(&Value::Null);
        if let Some(blocks) = content.as_array() {
            let results: Vec<String> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| content_text(b.get("content").unwrap_or(&Value::Null)))
                .collect();
            if !results.is_empty() {
                return Plan::Text(format!("The tool returned: {}", results.join("; ")));
            }
        }
        let first_tool = req
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|t| t.iter().find(|t| t.get("name").is_some()));
        if let Some(tool) = first_tool
            && wants_tool(&content_text(content))
        {
            return Plan::Tool {
                name: tool
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("tool")
                    .to_owned(),
                input: synth_input(tool.get("input_schema")),
            };
        }
    }
    Plan::Text(eff.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_owned()))
}

/// Common front of the Anthropic routes: behaviour, auth, version header, JSON body.
async fn front(
    sh: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    need_max_tokens: bool,
) -> Result<(Value, Effective), Response> {
    let key = credential(headers);
    let eff = sh.effective(key, true);
    if let Some(r) = apply_behavior(&eff, Dialect::Anthropic).await {
        return Err(r);
    }
    let Some(key) = key else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            None,
            "x-api-key header is required",
        ));
    };
    if !sh.accepts(key) {
        let msg = if headers.contains_key("x-api-key") {
            "invalid x-api-key"
        } else {
            "Invalid bearer token"
        };
        return Err(error(StatusCode::UNAUTHORIZED, None, msg));
    }
    if !headers.contains_key("anthropic-version") {
        return Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "anthropic-version: header is required",
        ));
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                None,
                "Request body is not valid JSON object",
            ));
        }
    };
    if v.get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "model: Field required",
        ));
    }
    if v.get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty())
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "messages: Field required",
        ));
    }
    if need_max_tokens && !v.get("max_tokens").is_some_and(Value::is_u64) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            None,
            "max_tokens: Field required",
        ));
    }
    Ok((v, eff))
}

pub(super) async fn messages(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let (req, eff) = match front(sh, headers, body, true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let input_tokens = estimate_tokens(&req, &["system", "messages", "tools"]);
    let plan = plan(&req, &eff);
    let id = sh.next_id("msg_01");
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        let (content, stop, out_tokens) = match &plan {
            Plan::Text(t) => (
                json!([{"type": "text", "text": t}]),
                "end_turn",
                count_words(t),
            ),
            Plan::Tool { name, input } => {
                let tid = sh.next_id("toolu_01");
                let n = estimate_tokens(&json!({"i": input.to_string()}), &["i"]) + 10;
                (
                    json!([{"type": "tool_use", "id": tid, "name": name, "input": input}]),
                    "tool_use",
                    n,
                )
            }
        };
        let v = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": out_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        });
        let mut r = json_response(StatusCode::OK, &v);
        r.headers_mut()
            .insert("request-id", HeaderValue::from_static("req_standin"));
        return r;
    }

    let mut frames = Vec::new();
    let mut first = Vec::with_capacity(512);
    event(
        &mut first,
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
    );
    let (pieces, stop, out_tokens, delta_type) = match &plan {
        Plan::Text(t) => {
            event(
                &mut first,
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            (
                split_pieces(t, eff.chunks),
                "end_turn",
                count_words(t),
                "text_delta",
            )
        }
        Plan::Tool { name, input } => {
            let tid = sh.next_id("toolu_01");
            event(
                &mut first,
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "tool_use", "id": tid, "name": name, "input": {}}}),
            );
            let s = input.to_string();
            let n = eff.chunks.unwrap_or(3);
            (
                split_pieces(&s, Some(n)),
                "tool_use",
                estimate_tokens(&json!({"i": s}), &["i"]) + 10,
                "input_json_delta",
            )
        }
    };
    event(&mut first, &json!({"type": "ping"}));
    frames.push(Bytes::from(first));
    for (i, p) in pieces.iter().enumerate() {
        if eff.stream_error_after.is_some_and(|n| i as u32 >= n) {
            let mut f = Vec::new();
            event(
                &mut f,
                &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            );
            frames.push(Bytes::from(f));
            return sse_response(frames, Duration::from_millis(eff.chunk_interval_ms));
        }
        let delta = if delta_type == "text_delta" {
            json!({"type": "text_delta", "text": p})
        } else {
            json!({"type": "input_json_delta", "partial_json": p})
        };
        let mut f = Vec::with_capacity(128);
        event(
            &mut f,
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        );
        frames.push(Bytes::from(f));
    }
    let mut last = Vec::with_capacity(256);
    event(
        &mut last,
        &json!({"type": "content_block_stop", "index": 0}),
    );
    event(
        &mut last,
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": out_tokens}}),
    );
    event(&mut last, &json!({"type": "message_stop"}));
    frames.push(Bytes::from(last));
    sse_response(frames, Duration::from_millis(eff.chunk_interval_ms))
}

pub(super) async fn count_tokens(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    match front(sh, headers, body, false).await {
        Ok((req, _)) => json_response(
            StatusCode::OK,
            &json!({"input_tokens": estimate_tokens(&req, &["system", "messages", "tools"])}),
        ),
        Err(r) => r,
    }
}
