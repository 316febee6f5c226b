//! API dialects. Same-dialect traffic passes through untouched except for the fields
//! the upstream needs rewritten. Translation between dialects goes through one
//! internal representation ([`ir`]) with one converter file per dialect
//! ([`anthropic`], [`openai_chat`], [`responses`], [`completions`]): N+M converters,
//! not N×M.
//!
//! Public entry points: [`probe()`], [`rewrite_model`], [`translate_request`],
//! [`translate_response`], [`translate_error`], [`error_body`], [`stream_error`],
//! [`collect_stream`] (the non-stream answer of an upstream that only streams) and the
//! incremental [`StreamTranslator`] (which also repairs Responses streams passed to
//! Responses clients). All are pure.
//!
//! # The per-dialect interface
//!
//! Every dialect module `translate/<dialect>` (a file, or a directory whose `mod.rs`
//! re-exports its parts) exposes the same items, and `dispatch.rs` dispatches to them
//! with one `match dialect` per operation, so adding a dialect is one module plus one
//! arm in each of: [`Dialect::model_in_path`] and `Dialect::converts` (in this file),
//! and in `dispatch.rs` `parse_request`, `emit_request`, `parse_response`,
//! `emit_response`, [`error_body`], [`stream_error`] and the `Decoder`/`Encoder` enums
//! (`new`, `decode`/`encode`, `finish`):
//!
//! ```text
//! pub const MODEL_IN_PATH: bool;  // model in the URL path (Gemini) or the body's `model`
//! pub fn parse_request(body: &[u8]) -> Result<ir::Request, TranslateError>;
//! pub fn emit_request(r: &ir::Request) -> Result<Bytes, TranslateError>;
//! pub fn parse_response(body: &[u8]) -> Result<ir::Response, TranslateError>;
//! pub fn emit_response(r: &ir::Response, client_model: &str) -> Bytes;
//! pub fn emit_error(e: &ir::ApiError) -> Bytes;          // the error body
//! pub fn emit_stream_error(e: &ir::ApiError) -> Bytes;   // one complete SSE frame
//!
//! #[derive(Debug, Default)] pub struct StreamDecoder;    // upstream SSE → IR events
//! impl StreamDecoder {
//!     pub fn decode(&mut self, data: &str, out: &mut Vec<ir::Event>); // one `data:` payload
//!     pub fn finish(&mut self, out: &mut Vec<ir::Event>);             // upstream EOF
//! }
//! #[derive(Debug)] pub struct StreamEncoder;             // IR events → client SSE frames
//! impl StreamEncoder {
//!     pub fn new(client_model: &str) -> Self;
//!     pub fn encode(&mut self, ev: &ir::Event, out: &mut Vec<Bytes>);
//!     pub fn error(&mut self, e: &ir::ApiError, out: &mut Vec<Bytes>); // in-stream error; ends the stream
//!     pub fn finish(&mut self, out: &mut Vec<Bytes>);   // upstream EOF: close properly or report truncation
//! }
//! ```
//!
//! Rules the files follow: read with typed serde structs (`wire` has the lenient
//! building blocks; unknown members are ignored, values of an unexpected shape are
//! skipped rather than fatal), write from borrowed IR data with `Serialize` structs.
//! `emit_request` writes `Request::model` into the body unless `MODEL_IN_PATH` (then
//! the provider puts it in the URL, and `parse_request` leaves it empty for the route
//! to fill from the path); responses echo `client_model`. Errors map [`ir::ErrorKind`]
//! to the dialect's names; the HTTP status is the kind's ([`ir::ErrorKind::status`])
//! unless [`ir::ApiError::status`] carries an upstream's. A parse error is
//! [`TranslateError::Json`] for malformed JSON and
//! [`TranslateError::Invalid`] for a wrong shape (serde's message names the field).
//! Upstream error bodies are read by one shared reader ([`parse_error`]) because
//! upstreams answer errors in any shape.
//!
//! Gemini clients that call `streamGenerateContent` without `alt=sse` read one JSON
//! array instead of SSE: [`StreamTranslator::with_framing`] asks the Gemini encoder for
//! it (and re-frames a same-dialect stream, which otherwise passes through).

pub mod anthropic;
mod assemble;
mod body;
pub mod completions;
mod dispatch;
mod error;
pub mod gemini;
mod ids;
pub mod ir;
pub mod openai_chat;
mod probe;
pub mod responses;
#[cfg(test)]
mod scenarios;
mod sse;
mod stream;
mod wire;

pub use assemble::{assemble_stream, collect_stream};
pub use body::{
    translate_count_request, translate_count_response, translate_request,
    translate_request_streamed, translate_response,
};
pub use dispatch::{error_body, stream_error};
pub(crate) use error::truncated_stream;
pub use error::{TranslateError, parse_error, translate_error};
pub(crate) use ids::{new_id, relabel_id};
pub use probe::{
    MAX_MODEL_LEN, Probe, ProbeError, probe, require_object, rewrite_model, wants_usage_chunk,
};
pub use stream::StreamTranslator;

/// The API shape a route speaks (decides request parsing and error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Anthropic,
    OpenAiChat,
    /// OpenAI Responses API (`/v1/responses`; Codex's native dialect).
    Responses,
    /// Legacy OpenAI Completions (`/v1/completions`), served as chat.
    Completions,
    Gemini,
}

impl Dialect {
    /// Where a request names its model: in the URL path (Gemini's
    /// `models/{model}:generateContent`) rather than the body's `model`.
    pub fn model_in_path(self) -> bool {
        match self {
            Dialect::Anthropic => anthropic::MODEL_IN_PATH,
            Dialect::OpenAiChat => openai_chat::MODEL_IN_PATH,
            Dialect::Responses => responses::MODEL_IN_PATH,
            Dialect::Completions => completions::MODEL_IN_PATH,
            Dialect::Gemini => gemini::MODEL_IN_PATH,
        }
    }

    /// Whether this dialect has a converter file (translation to and from it works).
    fn converts(self) -> bool {
        match self {
            Dialect::Anthropic
            | Dialect::OpenAiChat
            | Dialect::Responses
            | Dialect::Completions
            | Dialect::Gemini => true,
        }
    }
}

/// Whether [`translate_request`] and friends can convert between the two dialects
/// (same-dialect pairs are always "supported": they pass through).
pub fn supports(from: Dialect, to: Dialect) -> bool {
    from == to || (from.converts() && to.converts())
}
