//! Anthropic Messages API <-> internal representation. The model is in the body.
//!
//! Wire structs are read leniently (unknown members and block types are skipped) and
//! written from borrowed IR data, so a conversion allocates little beyond its output.

mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

pub use request::{emit_request, parse_request};
pub use response::{
    emit_error, emit_response, emit_stream_error, error_type, message_id, parse_response,
};
pub use stream::{StreamDecoder, StreamEncoder};

/// The model is the body's `model` member.
pub const MODEL_IN_PATH: bool = false;

/// Anthropic requires `max_tokens`; used when the client sent none.
pub const DEFAULT_MAX_TOKENS: u64 = 8192;
