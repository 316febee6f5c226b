//! OpenAI Chat Completions responses and error bodies <-> IR.

use bytes::Bytes;

use super::super::ir::{ApiError, ErrorKind, Part, Response, StopReason, Usage};
use super::super::wire::to_bytes;
use super::super::{TranslateError, sse};
use super::request::{push_tool_calls, text_of, tool_calls};
use super::wire::{
    InFinish, InResponse, InUsage, OutChoice, OutCompletionDetails, OutError, OutErrorBody,
    OutRespMessage, OutResponse, OutUsage, OutUsageDetails,
};

pub(super) fn parse_finish(s: InFinish) -> Option<StopReason> {
    match s {
        InFinish::Stop => Some(StopReason::EndTurn),
        InFinish::Length => Some(StopReason::MaxTokens),
        InFinish::ToolCalls | InFinish::FunctionCall => Some(StopReason::ToolUse),
        InFinish::ContentFilter => Some(StopReason::Refusal),
        InFinish::Other => None,
    }
}

pub(super) fn finish_str(s: &StopReason) -> &'static str {
    match s {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal => "content_filter",
    }
}

pub(super) fn parse_usage(u: &InUsage) -> Usage {
    let cached = u
        .prompt_tokens_details
        .0
        .as_ref()
        .and_then(|d| d.cached_tokens.0);
    Usage {
        input: u
            .prompt_tokens
            .0
            .map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output: u.completion_tokens.0,
        cache_read: cached,
        cache_creation: None,
        reasoning: u
            .completion_tokens_details
            .0
            .as_ref()
            .and_then(|d| d.reasoning_tokens.0),
    }
}

pub(super) fn emit_usage(u: &Usage) -> OutUsage {
    let prompt = u.input.unwrap_or(0) + u.cache_read.unwrap_or(0) + u.cache_creation.unwrap_or(0);
    let completion = u.output.unwrap_or(0);
    OutUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: u.cache_read.map(|c| OutUsageDetails { cached_tokens: c }),
        completion_tokens_details: u.reasoning.map(|r| OutCompletionDetails {
            reasoning_tokens: r,
        }),
    }
}

/// `msg_abc` → `chatcmpl-abc`; other ids get the prefix.
pub fn completion_id(id: &str) -> String {
    super::super::relabel_id(id, "chatcmpl-", "msg_")
}

pub(super) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn parse_response(body: &[u8]) -> Result<Response, TranslateError> {
    let w: InResponse = serde_json::from_slice(body)?;
    let choice = w
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| TranslateError::Invalid("response has no `choices`".into()))?;
    let msg = choice.message.0.unwrap_or_default();
    let mut parts = Vec::new();
    let thinking = msg.reasoning_content.non_empty().or(msg.reasoning.0);
    if let Some(t) = thinking.filter(|t| !t.is_empty()) {
        parts.push(Part::Thinking {
            text: t,
            signature: None,
        });
    }
    let text = text_of(msg.content);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    push_tool_calls(&mut parts, msg.tool_calls);
    let has_calls = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
    Ok(Response {
        id: w.id.0.unwrap_or_default(),
        model: w.model.0.unwrap_or_default(),
        stop: choice.finish_reason.0.and_then(parse_finish).map(|s| {
            // Some compatible upstreams report "stop" after tool calls.
            if has_calls && s == StopReason::EndTurn {
                StopReason::ToolUse
            } else {
                s
            }
        }),
        usage: w.usage.0.as_ref().map(parse_usage).unwrap_or_default(),
        parts,
    })
}

pub fn emit_response(r: &Response, client_model: &str) -> Bytes {
    let mut text = String::new();
    let mut reasoning = String::new();
    for p in &r.parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Thinking { text: t, .. } => reasoning.push_str(t),
            _ => {}
        }
    }
    let calls = tool_calls(&r.parts);
    let message = OutRespMessage {
        role: "assistant",
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        tool_calls: calls,
    };
    to_bytes(&OutResponse {
        id: completion_id(&r.id),
        object: "chat.completion",
        created: now(),
        model: client_model,
        choices: [OutChoice {
            index: 0,
            message,
            logprobs: None,
            finish_reason: r.stop.as_ref().map(finish_str),
        }],
        usage: emit_usage(&r.usage),
    })
}

// ---------------------------------------------------------------- errors

/// `type` and default `code` per kind (CLIProxyAPI's and OpenAI's names).
pub fn error_names(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", Some("permission_denied")),
        ErrorKind::NotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::MethodNotAllowed => ("invalid_request_error", Some("method_not_allowed")),
        ErrorKind::TooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::HeadersTooLarge => ("invalid_request_error", Some("headers_too_large")),
        ErrorKind::RateLimit => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::Overloaded | ErrorKind::Unavailable => ("server_error", Some("overloaded")),
        ErrorKind::Api => ("server_error", Some("internal_server_error")),
    }
}

fn out_error(e: &ApiError) -> OutError<'_> {
    let (kind, code) = error_names(e.kind);
    OutError {
        error: OutErrorBody {
            message: &e.message,
            kind,
            code: e.code.or(code),
            model: e.cooldown.as_ref().map(|c| c.model.as_str()),
            reset_seconds: e.cooldown.as_ref().map(|c| c.reset_seconds),
        },
    }
}

/// `{"error":{"message","type","code"}}`, plus `model` and `reset_seconds` on a
/// cooldown.
pub fn emit_error(e: &ApiError) -> Bytes {
    to_bytes(&out_error(e))
}

/// The same body as a `data:` frame, for failures after the first byte.
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    sse::frame(None, &out_error(e))
}
