//! Stand-in Codex backend (ChatGPT `backend-api/codex`): `POST …/responses` (SSE only) and
//! `POST …/responses/compact` (JSON). It refuses what the real backend refuses, with its
//! messages: a missing `instructions`, `store` not false, `stream` not true, the sampling
//! fields it does not take. Streams follow the documented event order (reasoning item when
//! the request asks for reasoning, then a message or a function call, then
//! `response.completed`); every second response carries an empty `output` in
//! `response.completed`, as the real backend sometimes does. A usage limit answers 429
//! `usage_limit_reached` with `resets_in_seconds`.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::reply::{Plan, content_text, estimate_tokens, split_pieces, synth_input, wants_tool};
use super::state::{Effective, Shared};
use super::{DEFAULT_TEXT, credential, json_response, now_unix, sse_response};

/// The backend's own refusals are `{"detail": …}`.
fn detail(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({"detail": msg}))
}

pub(super) fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"type": code, "code": code, "message": msg, "param": null}}),
    )
}

fn usage_limit(resets_in: u64) -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": now_unix() + resets_in,
            "resets_in_seconds": resets_in,
        }}),
    )
}

/// Behaviour, auth and the body checks shared by both routes.
async fn front(
    sh: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Value, Effective), Response> {
    let key = credential(headers);
    let eff = sh.effective(key, true);
    if eff.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(eff.delay_ms)).await;
    }
    if eff.unauthorized {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ));
    }
    if let Some(secs) = eff.usage_limit_resets_in {
        return Err(usage_limit(secs));
    }
    if let Some((status, _, msg)) = &eff.fail {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = match status.as_u16() {
            429 => "rate_limit_exceeded",
            400 => "invalid_request_error",
            _ => "server_error",
        };
        return Err(error(
            status,
            code,
            msg.as_deref().unwrap_or("Stand-in failure"),
        ));
    }
    let Some(key) = key else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "missing_authorization",
            "Missing bearer or basic authentication in header",
        ));
    };
    if !sh.accepts(key) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "Provided authentication token is expired. Please try signing in again.",
        ));
    }
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(detail(StatusCode::BAD_REQUEST, "Invalid JSON body")),
    };
    if req.get("instructions").is_none_or(Value::is_null) {
        return Err(detail(StatusCode::BAD_REQUEST, "Instructions are required"));
    }
    if req.get("store") != Some(&Value::Bool(false)) {
        return Err(detail(
            StatusCode::BAD_REQUEST,
            "Store must be set to false",
        ));
    }
    for field in [
        "max_output_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "truncation",
        "user",
        "previous_response_id",
    ] {
        if req.get(field).is_some() {
            return Err(detail(
                StatusCode::BAD_REQUEST,
                &format!("Unsupported parameter: {field}"),
            ));
        }
    }
    if req
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(detail(StatusCode::BAD_REQUEST, "Model is required"));
    }
    Ok((req, eff))
}

fn plan(req: &Value, eff: &Effective) -> Plan {
    let input = req.get("input");
    let last = match input {
        Some(Value::Array(items)) => items.last().cloned(),
        Some(Value::String(s)) => Some(json!({"role": "user", "content": s})),
        _ => None,
    };
    if let Some(last) = last {
        if last.get("type").and_then(Value::as_str) == Some("function_call_output") {
            let out = match last.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => content_text(other),
                None => String::new(),
            };
            return Plan::Text(format!("The tool returned: {out}"));
        }
        let text = match last.get("content") {
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            Some(other) => content_text(other),
            None => String::new(),
        };
        let first_fn = req.get("tools").and_then(Value::as_array).and_then(|t| {
            t.iter()
                .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        });
        if let Some(f) = first_fn
            && wants_tool(&text)
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

/// Frames numbered in order.
struct Frames {
    out: Vec<Bytes>,
    seq: u64,
}

impl Frames {
    fn push(&mut self, mut v: Value) {
        let kind = v["type"].as_str().unwrap_or("message").to_owned();
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.out
            .push(Bytes::from(format!("event: {kind}\ndata: {v}\n\n")));
    }
}

pub(super) async fn responses(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let (req, eff) = match front(sh, headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if req.get("stream") != Some(&Value::Bool(true)) {
        return detail(StatusCode::BAD_REQUEST, "Stream must be set to true");
    }
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let n = sh.seq.load(std::sync::atomic::Ordering::Relaxed);
    let id = sh.next_id("resp_");
    let base = id.trim_start_matches("resp_").to_owned();
    let created = now_unix();
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": created, "status": status,
               "model": model, "output": output, "usage": usage, "error": null,
               "incomplete_details": null, "instructions": req["instructions"],
               "parallel_tool_calls": true, "store": false, "tools": [], "tool_choice": "auto"})
    };
    let mut f = Frames {
        out: Vec::new(),
        seq: 0,
    };
    f.push(json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}));
    f.push(json!({"type": "response.in_progress", "response": response("in_progress", json!([]), Value::Null)}));
    let mut output = Vec::new();
    let mut reasoning_tokens = 0;
    if req.get("reasoning").is_some_and(|r| !r.is_null()) {
        let rid = format!("rs_{base}");
        let summary = "Thinking about the answer.";
        f.push(
            json!({"type": "response.output_item.added", "output_index": 0,
                      "item": {"type": "reasoning", "id": rid, "summary": []}}),
        );
        f.push(json!({"type": "response.reasoning_summary_part.added", "item_id": rid, "output_index": 0,
                      "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
        f.push(json!({"type": "response.reasoning_summary_text.delta", "item_id": rid, "output_index": 0,
                      "summary_index": 0, "delta": summary}));
        f.push(json!({"type": "response.reasoning_summary_text.done", "item_id": rid, "output_index": 0,
                      "summary_index": 0, "text": summary}));
        f.push(json!({"type": "response.reasoning_summary_part.done", "item_id": rid, "output_index": 0,
                      "summary_index": 0, "part": {"type": "summary_text", "text": summary}}));
        let item = json!({"type": "reasoning", "id": rid,
                          "summary": [{"type": "summary_text", "text": summary}],
                          "encrypted_content": format!("gAAAA-standin-{base}")});
        f.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
        output.push(item);
        reasoning_tokens = 16;
    }
    let oi = output.len();
    let output_tokens = match plan(&req, &eff) {
        Plan::Text(t) => {
            let mid = format!("msg_{base}");
            f.push(json!({"type": "response.output_item.added", "output_index": oi,
                          "item": {"type": "message", "id": mid, "status": "in_progress", "role": "assistant", "content": []}}));
            f.push(json!({"type": "response.content_part.added", "item_id": mid, "output_index": oi, "content_index": 0,
                          "part": {"type": "output_text", "text": "", "annotations": []}}));
            for (i, p) in split_pieces(&t, eff.chunks).iter().enumerate() {
                if eff.stream_error_after.is_some_and(|n| i as u32 >= n) {
                    // The connection closes without `response.completed`.
                    return sse_response(f.out, Duration::from_millis(eff.chunk_interval_ms));
                }
                f.push(
                    json!({"type": "response.output_text.delta", "item_id": mid, "output_index": oi,
                              "content_index": 0, "delta": p, "logprobs": []}),
                );
            }
            f.push(
                json!({"type": "response.output_text.done", "item_id": mid, "output_index": oi,
                          "content_index": 0, "text": t, "logprobs": []}),
            );
            let part = json!({"type": "output_text", "text": t, "annotations": []});
            f.push(
                json!({"type": "response.content_part.done", "item_id": mid, "output_index": oi,
                          "content_index": 0, "part": part}),
            );
            let item = json!({"type": "message", "id": mid, "status": "completed", "role": "assistant", "content": [part]});
            f.push(json!({"type": "response.output_item.done", "output_index": oi, "item": item}));
            output.push(item);
            (t.split_whitespace().count() as u64).max(1)
        }
        Plan::Tool { name, input } => {
            let fid = format!("fc_{base}");
            let call_id = sh.next_id("call_");
            let args = input.to_string();
            f.push(
                json!({"type": "response.output_item.added", "output_index": oi,
                          "item": {"type": "function_call", "id": fid, "status": "in_progress",
                                   "call_id": call_id, "name": name, "arguments": ""}}),
            );
            for p in split_pieces(&args, Some(eff.chunks.unwrap_or(3))) {
                f.push(
                    json!({"type": "response.function_call_arguments.delta", "item_id": fid,
                              "output_index": oi, "delta": p}),
                );
            }
            f.push(
                json!({"type": "response.function_call_arguments.done", "item_id": fid,
                          "output_index": oi, "arguments": args}),
            );
            let item = json!({"type": "function_call", "id": fid, "status": "completed",
                              "call_id": call_id, "name": name, "arguments": args});
            f.push(json!({"type": "response.output_item.done", "output_index": oi, "item": item}));
            output.push(item);
            estimate_tokens(&json!({"i": args}), &["i"]) + 10
        }
    };
    let input_tokens = estimate_tokens(&req, &["instructions", "input", "tools"]);
    let cached = input_tokens / 2;
    let usage = json!({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
                       "output_tokens": output_tokens + reasoning_tokens,
                       "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                       "total_tokens": input_tokens + output_tokens + reasoning_tokens});
    // Every second response: `output` empty, as the real backend sometimes sends it.
    let final_output = if n.is_multiple_of(2) {
        json!([])
    } else {
        Value::Array(output)
    };
    f.push(json!({"type": "response.completed", "response": response("completed", final_output, usage)}));
    sse_response(f.out, Duration::from_millis(eff.chunk_interval_ms))
}

/// `/responses/compact`: the conversation folded into one encrypted item (JSON).
pub(super) async fn compact(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let (req, _eff) = match front(sh, headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if req.get("stream").is_some_and(|s| s != &Value::Bool(false)) {
        return detail(
            StatusCode::BAD_REQUEST,
            "Streaming is not supported for compact",
        );
    }
    let id = sh.next_id("resp_");
    let input_tokens = estimate_tokens(&req, &["instructions", "input"]);
    json_response(
        StatusCode::OK,
        &json!({
            "id": id, "object": "response.compaction", "created_at": now_unix(),
            "output": [{"type": "compaction", "id": format!("cmp_{}", id.trim_start_matches("resp_")),
                        "encrypted_content": "gAAAA-standin-compacted"}],
            "usage": {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": input_tokens + 8},
        }),
    )
}
