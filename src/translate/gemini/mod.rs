//! Gemini API dialect <-> internal representation: `generateContent`,
//! `streamGenerateContent` and `countTokens` as the google-genai SDKs, Gemini CLI and
//! the Cloud Code `v1internal` upstreams (Gemini CLI, Antigravity) speak them.
//!
//! Same interface as the other dialect files: [`parse_request`] / [`emit_request`],
//! [`parse_response`] / [`emit_response`], [`parse_error`] / [`emit_error`],
//! [`StreamDecoder`] / [`StreamEncoder`]; plus what only Gemini has: Cloud Code
//! envelopes ([`unwrap_envelope`], [`gemini_cli_envelope`], [`antigravity_envelope`]),
//! the JSON-array stream form ([`Framing::JsonArray`], [`JsonArraySplitter`]),
//! countTokens shapes, and [`clean_schema`] for tool schemas. All pure.
//!
//! Gemini has no call ids and keeps thought signatures on parts; `parts.rs` says how
//! both map onto the IR.

mod carried;
mod envelope;
mod parts;
mod request;
mod response;
mod schema;
#[cfg(test)]
mod signature_tests;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

pub use carried::{SignatureScanner, carries_signatures, replace_signatures, request_signatures};
pub use envelope::{
    EnvelopeUnwrapper, antigravity_envelope, antigravity_request_id,
    cloud_code_count_tokens_envelope, gemini_cli_envelope, stable_session_id, unwrap_envelope,
};
pub use parts::SKIP_THOUGHT_SIGNATURE;
pub use request::{
    emit_count_tokens_request, emit_count_tokens_response, emit_request, is_claude_model,
    parse_count_tokens_request, parse_count_tokens_response, parse_request,
};
pub use response::{
    emit_error, emit_response, emit_stream_error, parse_error, parse_response, retry_delay,
    status_name,
};
pub use schema::clean_schema;
pub use stream::{ArrayFramer, Framing, JsonArraySplitter, StreamDecoder, StreamEncoder};

/// Gemini names the model in the URL (`models/{model}:generateContent`).
pub const MODEL_IN_PATH: bool = true;
