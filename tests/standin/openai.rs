//! Stand-in OpenAI Chat Completions: `POST …/chat/completions` under any base path (JSON or
//! SSE, text or a tool call, optional usage chunk), and OpenAI's error shape.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::reply::{
    Plan, content_text, count_words, estimate_tokens, split_pieces, synth_input, wants_tool,
};
use super::state::{Effective, Shared};
use super::{
    DEFAULT_TEXT, Dialect, apply_behavior, credential, json_response, now_unix, sse_response,
};

pub(super) fn error(status: StatusCode, msg: &str) -> Response {
    let (etype, code): (&str, Value) = match status.as_u16() {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("insufficient_quota", json!("insufficient_quota")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json_response(
        status,
        &json!({"error": {"message": msg, "type": etype, "param": null, "code": code}}),
    )
}

fn data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

fn plan(req: &Value, eff: &Effective) -> Plan {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    if let Some(last) = last {
        let role = last.get("role").and_then(Value::as_str).unwrap_or("");
        let content = last.get("content").unwrap_or(&Value::Null);
        if role == "tool" {
            return Plan::Text(format!("The tool returned: {}", content_text(content)));
        }
        let first_fn = req.get("tools").and_then(Value::as_array).and_then(|t| {
            t.iter()
                .find_map(|t| t.get("function").filter(|f| f.get("name").is_some()))
        });
        if role == "user"
            && let Some(f) = first_fn
            && wants_tool(&content_text(content))
        {
            return Plan::Tool {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("tool")
                    .to_owned(),
                input: synth_input(f.get("parameters")),
            };
        }
    }
    Plan::Text(eff.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_owned()))
}

pub(super) async fn chat(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let key = credential(headers);
    let eff = sh.effective(key, true);
    if let Some(r) = apply_behavior(&eff, Dialect::OpenAi).await {
        return r;
    }
    if key.is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        );
    }
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "We could not parse the JSON body of your request.",
            );
        }
    };
    let Some(model) = req
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
        );
    };
    if req
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'messages'.",
        );
    }
    let prompt_tokens = estimate_tokens(&req, &["messages", "tools"]);
    let plan = plan(&req, &eff);
    let id = sh.next_id("chatcmpl-standin");
    let created = now_unix();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);

    if !stream {
        let (message, finish, completion_tokens) = match &plan {
            Plan::Text(t) => (
                json!({"role": "assistant", "content": t, "refusal": null}),
                "stop",
                count_words(t),
            ),
            Plan::Tool { name, input } => {
                let cid = sh.next_id("call_");
                (
                    json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                        {"id": cid, "type": "function", "function": {"name": name, "arguments": input.to_string()}}]}),
                    "tool_calls",
                    estimate_tokens(&json!({"i": input.to_string()}), &["i"]) + 10,
                )
            }
        };
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
                "system_fingerprint": "fp_standin",
            }),
        );
    }

    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage && let Some(o) = c.as_object_mut() {
            o.insert("usage".into(), Value::Null);
        }
        c
    };
    let mut frames = Vec::new();
    let (completion_tokens, finish) = match &plan {
        Plan::Text(t) => {
            let mut f = Vec::new();
            data(
                &mut f,
                &chunk(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    Value::Null,
                ),
            );
            frames.push(Bytes::from(f));
            for (i, p) in split_pieces(t, eff.chunks).iter().enumerate() {
                if eff.stream_error_after.is_some_and(|n| i as u32 >= n) {
                    let mut f = Vec::new();
                    data(
                        &mut f,
                        &json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
                    );
                    frames.push(Bytes::from(f));
                    return sse_response(frames, Duration::from_millis(eff.chunk_interval_ms));
                }
                let mut f = Vec::new();
                data(&mut f, &chunk(json!({"content": p}), Value::Null));
                frames.push(Bytes::from(f));
            }
            (count_words(t), "stop")
        }
        Plan::Tool { name, input } => {
            let cid = sh.next_id("call_");
            let mut f = Vec::new();
            data(
                &mut f,
                &chunk(
                    json!({"role": "assistant", "content": null, "tool_calls": [
                        {"index": 0, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ),
            );
            frames.push(Bytes::from(f));
            let s = input.to_string();
            for p in split_pieces(&s, Some(eff.chunks.unwrap_or(3))) {
                let mut f = Vec::new();
                data(
                    &mut f,
                    &chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                        Value::Null,
                    ),
                );
                frames.push(Bytes::from(f));
            }
            (estimate_tokens(&json!({"i": s}), &["i"]) + 10, "tool_calls")
        }
    };
    let mut f = Vec::new();
    data(&mut f, &chunk(json!({}), json!(finish)));
    if include_usage {
        data(
            &mut f,
            &json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_standin", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }),
        );
    }
    f.extend_from_slice(b"data: [DONE]\n\n");
    frames.push(Bytes::from(f));
    sse_response(frames, Duration::from_millis(eff.chunk_interval_ms))
}
