//! Anthropic Messages responses and error bodies <-> IR.

use bytes::Bytes;

use super::super::ir::{ApiError, ErrorKind, Part, Response, StopReason, Usage};
use super::super::wire::to_bytes;
use super::super::{TranslateError, sse};
use super::request::{emit_block, parse_block};
use super::wire::{
    InResponse, InStop, InUsage, OutBlock, OutError, OutErrorBody, OutResponse, OutUsage,
};

pub(super) fn parse_stop(s: InStop) -> Option<StopReason> {
    match s {
        InStop::EndTurn | InStop::PauseTurn => Some(StopReason::EndTurn),
        InStop::StopSequence => Some(StopReason::StopSequence),
        InStop::MaxTokens | InStop::ModelContextWindowExceeded => Some(StopReason::MaxTokens),
        InStop::ToolUse => Some(StopReason::ToolUse),
        InStop::Refusal => Some(StopReason::Refusal),
        InStop::Other => None,
    }
}

pub(super) fn stop_str(s: &StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::StopSequence => "stop_sequence",
        StopReason::MaxTokens => "max_tokens",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
    }
}

pub(super) fn parse_usage(u: &InUsage) -> Usage {
    Usage {
        input: u.input_tokens.0,
        output: u.output_tokens.0,
        cache_read: u.cache_read_input_tokens.0,
        cache_creation: u.cache_creation_input_tokens.0,
        ..Usage::default()
    }
}

pub(super) fn emit_usage(u: &Usage) -> OutUsage {
    OutUsage {
        input_tokens: u.input.unwrap_or(0),
        output_tokens: u.output.unwrap_or(0),
        cache_creation_input_tokens: u.cache_creation,
        cache_read_input_tokens: u.cache_read,
    }
}

/// `chatcmpl-abc` → `msg_abc`; other ids get the prefix.
pub fn message_id(id: &str) -> String {
    super::super::relabel_id(id, "msg_", "chatcmpl-")
}

pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let w: InResponse = serde_json::from_slice(body)?;
    Ok(Response {
        id: w.id.0.unwrap_or_default(),
        model: w.model.0.unwrap_or_default(),
        parts: w
            .content
            .into_iter()
            .filter_map(parse_block)
            .filter(|p| {
                matches!(
                    p,
                    Part::Text(_) | Part::ToolCall { .. } | Part::Thinking { .. }
                )
            })
            .collect(),
        stop: w.stop_reason.0.and_then(parse_stop),
        usage: w.usage.0.as_ref().map(parse_usage).unwrap_or_default(),
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let content = r
        .parts
        .iter()
        .filter_map(|p| match p {
            // A response's thinking is echoed even unsigned: clients display it.
            Part::Thinking { text, signature } => Some(OutBlock::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or_default(),
            }),
            other => emit_block(other),
        })
        .collect();
    to_bytes(&OutResponse {
        id: message_id(&r.id),
        kind: "message",
        role: "assistant",
        model: client_model,
        content,
        stop_reason: r.stop.as_ref().map(stop_str),
        stop_sequence: None,
        usage: emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::HeadersTooLarge => {
            "invalid_request_error"
        }
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::TooLarge => "request_too_large",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "overloaded_error",
        ErrorKind::Api => "api_error",
    }
}

fn out_error(e: &ApiError) -> OutError<'_> {
    OutError {
        kind: "error",
        error: OutErrorBody {
            kind: error_type(e.kind),
            message: &e.message,
            code: e.code,
            model: e.cooldown.as_ref().map(|c| c.model.as_str()),
            reset_seconds: e.cooldown.as_ref().map(|c| c.reset_seconds),
        },
    }
}

/// `{"type":"error","error":{"type","message"}}`, plus `code`, `model` and
/// `reset_seconds` on the gateway's own errors that have them.
pub fn emit_error(e: &ApiError) -> Bytes {
    to_bytes(&out_error(e))
}

/// The same body as an SSE `error` event, for failures after the first byte.
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    sse::frame(Some("error"), &out_error(e))
}
