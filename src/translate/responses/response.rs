//! Responses response objects and error bodies <-> IR.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::super::TranslateError;
use super::super::ir::{ApiError, ErrorKind, Part, Response, StopReason};
use super::super::sse::SseParser;
use super::items::{Converted, convert, output_items};
use super::wire::{
    ErrorBodyOut, ErrorDetailOut, ErrorIn, IncompleteIn, IncompleteOut, ResponseIn, ResponseOut,
};
use super::{
    error_code, error_type, kind_from_code, now, parse_json, response_id, usage_from_wire,
    usage_to_wire,
};

/// How a response ended, from its `status` and `incomplete_details`.
pub(super) fn stop_of(
    status: Option<&str>,
    incomplete: Option<&IncompleteIn>,
    has_calls: bool,
) -> Option<StopReason> {
    match status {
        Some("incomplete") => Some(match incomplete.and_then(|i| i.reason.as_deref()) {
            Some("content_filter") => StopReason::Refusal,
            _ => StopReason::MaxTokens,
        }),
        Some("completed") | None if has_calls => Some(StopReason::ToolUse),
        Some("completed") | None => Some(StopReason::EndTurn),
        _ => None,
    }
}

/// The `status` and `incomplete_details` a stop reason is reported with.
pub(super) fn status_of(stop: Option<&StopReason>) -> (&'static str, Option<IncompleteOut>) {
    match stop {
        Some(StopReason::MaxTokens) => (
            "incomplete",
            Some(IncompleteOut {
                reason: "max_output_tokens",
            }),
        ),
        Some(StopReason::Refusal) => (
            "incomplete",
            Some(IncompleteOut {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

pub(super) fn api_error(e: Option<&ErrorIn>, fallback: &str) -> ApiError {
    let code = e.and_then(|e| match &e.code {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => e.kind.as_deref(),
    });
    ApiError::new(
        code.map_or(ErrorKind::Api, kind_from_code),
        e.and_then(|e| e.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| fallback.to_string()),
    )
}

pub(super) fn response_to_ir(r: ResponseIn) -> Result<Response, TranslateError> {
    if let Some(s @ ("failed" | "cancelled")) = r.status.as_deref() {
        let e = api_error(r.error.as_ref(), "upstream response failed");
        return Err(TranslateError::Invalid(format!(
            "response {s}: {}",
            e.message
        )));
    }
    let mut parts = Vec::new();
    for item in r.output.unwrap_or_default() {
        match convert(item) {
            Converted::Message(_, ps) => parts.extend(ps),
            Converted::Part(_, p @ (Part::ToolCall { .. } | Part::Thinking { .. })) => {
                parts.push(p)
            }
            _ => {}
        }
    }
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    Ok(Response {
        id: r.id.unwrap_or_default(),
        model: r.model.unwrap_or_default(),
        stop: stop_of(
            r.status.as_deref(),
            r.incomplete_details.as_ref(),
            has_calls,
        ),
        usage: r.usage.as_ref().map(usage_from_wire).unwrap_or_default(),
        parts,
    })
}

/// A Responses response object → IR. A `failed` or `cancelled` response is an error.
pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let mut r: ResponseIn = parse_json(body)?;
    if let Some(inner) = r.response.take() {
        r = *inner;
    }
    if r.output.is_none() {
        return Err(TranslateError::Invalid(
            "response has no `output` array".into(),
        ));
    }
    response_to_ir(r)
}

/// IR → a Responses response object echoing `client_model`.
pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let id = response_id(&r.id);
    let base = id.trim_start_matches("resp_");
    let output = output_items(&r.parts, base);
    let (status, incomplete) = status_of(r.stop.as_ref());
    let mut out = ResponseOut::new(&id, client_model, now(), &output);
    out.status = status;
    out.incomplete_details = incomplete;
    out.usage = Some(usage_to_wire(&r.usage));
    to_bytes(&out)
}

/// Serializing the `Serialize` structs of this dialect cannot fail (every map key is a
/// string); the fallback only keeps a body from being empty.
fn to_bytes<T: serde::Serialize>(v: &T) -> Bytes {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"{}"))
}

/// An OpenAI-shaped error body: `{"error": {"message", "type", "param", "code"}}`.
pub fn emit_error(e: &ApiError) -> Bytes {
    to_bytes(&error_out(e))
}

fn error_out(e: &ApiError) -> ErrorBodyOut<'_> {
    ErrorBodyOut {
        error: ErrorDetailOut {
            message: &e.message,
            kind: error_type(e.kind),
            param: None,
            code: e.code.unwrap_or(error_code(e.kind)),
            model: e.cooldown.as_ref().map(|c| c.model.as_str()),
            reset_seconds: e.cooldown.as_ref().map(|c| c.reset_seconds),
        },
    }
}

/// An in-stream failure outside an encoder (the gateway's own, after the first byte):
/// an `error` event as the SDKs raise it.
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    #[derive(serde::Serialize)]
    struct Frame<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        code: &'static str,
        message: &'a str,
        param: Option<()>,
    }
    let data = to_bytes(&Frame {
        kind: "error",
        code: e.code.unwrap_or(error_code(e.kind)),
        message: &e.message,
        param: None,
    });
    let mut out = Vec::with_capacity(data.len() + 24);
    out.extend_from_slice(b"event: error\ndata: ");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Terminal {
    #[serde(rename = "response.completed", alias = "response.incomplete")]
    Done { response: Value },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseIn },
    #[serde(rename = "error")]
    Error {
        code: Option<Value>,
        message: Option<String>,
        error: Option<ErrorIn>,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: Option<u64>,
        item: Value,
    },
    #[serde(other)]
    Other,
}

/// The non-stream answer of an upstream that only streams (Codex): the response object
/// of the terminal `response.completed` / `response.incomplete` event, with an empty
/// `output` rebuilt from the `response.output_item.done` items. A failed, errored or
/// truncated stream is the error to report.
pub fn response_from_stream(sse: &[u8]) -> Result<Value, ApiError> {
    let mut items: Vec<(u64, Value)> = Vec::new();
    let mut result: Option<Result<Value, ApiError>> = None;
    let mut on_event = |_: &str, data: &str| {
        if result.is_some() {
            return;
        }
        let Ok(ev) = serde_json::from_str::<Terminal>(data) else {
            return;
        };
        match ev {
            Terminal::ItemDone { output_index, item } => {
                let index = output_index.unwrap_or(items.len() as u64);
                items.push((index, item));
            }
            Terminal::Done { response } => result = Some(Ok(response)),
            Terminal::Failed { response } => {
                result = Some(Err(api_error(
                    response.error.as_ref(),
                    "upstream response failed",
                )))
            }
            Terminal::Error {
                code,
                message,
                error,
            } => {
                let flat = ErrorIn {
                    code,
                    kind: None,
                    message,
                };
                result = Some(Err(api_error(
                    Some(error.as_ref().unwrap_or(&flat)),
                    "upstream stream error",
                )))
            }
            Terminal::Other => {}
        }
    };
    let mut parser = SseParser::default();
    parser.feed(sse, &mut on_event);
    parser.finish(&mut on_event);
    let mut response = result.unwrap_or_else(|| {
        Err(ApiError::new(
            ErrorKind::Api,
            "stream closed before response.completed",
        ))
    })?;
    let empty = response
        .get("output")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty && let Some(o) = response.as_object_mut() {
        items.sort_by_key(|(i, _)| *i);
        let output = items.into_iter().map(|(_, v)| v).collect();
        o.insert("output".into(), Value::Array(output));
    }
    Ok(response)
}
