//! OpenAI Chat Completions <-> internal representation. The model is in the body.
//!
//! Upstreams of this dialect are often third-party "compatible" servers, so answers
//! are read leniently: a member of an unexpected shape is skipped, not fatal.

mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

pub use request::{emit_request, parse_request};
pub use response::{
    completion_id, emit_error, emit_response, emit_stream_error, error_names, parse_response,
};
pub use stream::{StreamDecoder, StreamEncoder};

/// The model is the body's `model` member.
pub const MODEL_IN_PATH: bool = false;
