//! OpenAI Responses API (`POST /v1/responses`; what Codex CLI, the ChatGPT Codex backend
//! and the SDKs' `responses.create` / `responses.stream` speak) <-> internal representation.
//!
//! Mapping decisions:
//! - `instructions` and `system`/`developer` messages are the IR system prompt; on the way
//!   out the system prompt is one leading `developer` message and `instructions` is `""`
//!   (what the Codex backend accepts; it refuses a request without `instructions`).
//! - A `reasoning` item is one [`Part::Thinking`](super::ir::Part::Thinking): its summary
//!   parts joined by a blank line, `encrypted_content` as the signature. The signature is
//!   opaque, so reasoning made by one upstream family can be replayed to it after a trip
//!   through any client dialect that keeps signatures (Anthropic does; Chat has no slot).
//!   Reasoning without `encrypted_content` cannot be replayed statelessly and is not sent.
//! - Tool calls are keyed by `call_id` (what `function_call_output` refers to); item ids
//!   (`fc_…`, `msg_…`, `rs_…`) are ours and never sent upstream.
//! - Responses has no stop reasons: `incomplete` + `max_output_tokens` is
//!   [`StopReason::MaxTokens`](super::ir::StopReason), a completed response containing
//!   function calls is `ToolUse`, anything else completed is `EndTurn`.

mod decode;
mod encode;
mod fixer;
mod items;
mod request;
mod response;
mod wire;

#[cfg(test)]
mod tests;

pub use decode::StreamDecoder;
pub use encode::StreamEncoder;
pub use fixer::StreamFixer;
pub use request::{emit_request, parse_request};
pub use response::{
    emit_error, emit_response, emit_stream_error, parse_response, response_from_stream,
};

/// The model is the body's `model`.
pub const MODEL_IN_PATH: bool = false;

use serde::de::DeserializeOwned;

use super::TranslateError;
use super::ir::{ErrorKind, Usage};
use wire::{InputDetailsOut, OutputDetailsOut, UsageIn, UsageOut};

/// Deserializes a body, naming the offending field on error (`input[2].content: …`).
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, TranslateError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            TranslateError::Json(inner.to_string())
        } else if path == "." {
            TranslateError::Invalid(inner.to_string())
        } else {
            TranslateError::Invalid(format!("`{path}`: {inner}"))
        }
    })
}

/// Any response id → `resp_…` (Anthropic `msg_…` and Chat `chatcmpl-…` ids keep their body).
pub fn response_id(id: &str) -> String {
    let bare = id
        .strip_prefix("msg_")
        .or_else(|| id.strip_prefix("chatcmpl-"))
        .unwrap_or(id);
    if bare.starts_with("resp_") {
        bare.to_string()
    } else if bare.is_empty() {
        format!("resp_{}", new_id())
    } else {
        format!("resp_{bare}")
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Responses `input_tokens` include tokens read from and written to the cache; the
/// IR's `input` does not.
fn usage_from_wire(u: &UsageIn) -> Usage {
    let details = u.input_tokens_details.as_ref();
    let cached = details.and_then(|d| d.cached_tokens);
    let written = details
        .and_then(|d| d.cache_write_tokens)
        .filter(|w| *w > 0);
    let uncached = |i: u64| {
        i.saturating_sub(cached.unwrap_or(0))
            .saturating_sub(written.unwrap_or(0))
    };
    Usage {
        input: u.input_tokens.map(uncached),
        output: u.output_tokens,
        cache_read: cached,
        cache_creation: written,
        reasoning: u
            .output_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens),
    }
}

fn usage_to_wire(u: &Usage) -> UsageOut {
    let input = u.input.unwrap_or(0) + u.cache_read.unwrap_or(0) + u.cache_creation.unwrap_or(0);
    let output = u.output.unwrap_or(0);
    UsageOut {
        input_tokens: input,
        input_tokens_details: InputDetailsOut {
            cached_tokens: u.cache_read.unwrap_or(0),
            cache_write_tokens: u.cache_creation.unwrap_or(0),
        },
        output_tokens: output,
        output_tokens_details: OutputDetailsOut {
            reasoning_tokens: u.reasoning.unwrap_or(0),
        },
        total_tokens: input + output,
    }
}

/// OpenAI error `type` for a kind.
fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::NotFound
        | ErrorKind::MethodNotAllowed
        | ErrorKind::TooLarge
        | ErrorKind::HeadersTooLarge => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Unavailable | ErrorKind::Api => "server_error",
    }
}

/// OpenAI error `code` for a kind: the codes Codex CLI and the SDKs act on
/// (`rate_limit_exceeded` is retried, `server_is_overloaded` backs off).
fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "invalid_api_key",
        ErrorKind::Permission => "permission_denied",
        ErrorKind::NotFound => "model_not_found",
        ErrorKind::MethodNotAllowed => "method_not_allowed",
        ErrorKind::TooLarge => "request_too_large",
        ErrorKind::HeadersTooLarge => "headers_too_large",
        ErrorKind::RateLimit => "rate_limit_exceeded",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "server_is_overloaded",
        ErrorKind::Api => "server_error",
    }
}

/// An error `code` or `type` seen in a Responses stream or body → kind.
fn kind_from_code(code: &str) -> ErrorKind {
    match code {
        "rate_limit_exceeded"
        | "rate_limit_error"
        | "insufficient_quota"
        | "usage_limit_reached"
        | "usage_not_included" => ErrorKind::RateLimit,
        "server_is_overloaded" | "slow_down" | "overloaded" | "overloaded_error" => {
            ErrorKind::Overloaded
        }
        "invalid_request_error"
        | "invalid_prompt"
        | "context_length_exceeded"
        | "invalid_image"
        | "invalid_encrypted_content"
        | "invalid_request" => ErrorKind::InvalidRequest,
        "invalid_api_key" | "authentication_error" | "token_invalidated" => {
            ErrorKind::Authentication
        }
        "permission_denied" | "permission_error" => ErrorKind::Permission,
        "model_not_found" | "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::TooLarge,
        _ => ErrorKind::Api,
    }
}
