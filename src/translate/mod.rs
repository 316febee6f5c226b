//! API dialects. Same-dialect traffic passes through untouched except for the fields
//! the upstream needs rewritten. Translation between dialects goes through one
//! internal representation ([`ir`]) with one converter file per dialect
//! ([`anthropic`], [`openai_chat`], [`responses`], [`completions`]): N+M converters,
//! not N×M.
//!
//! Public entry points: [`probe`], [`rewrite_model`], [`translate_request`],
//! [`translate_response`], [`translate_error`], [`error_body`], [`stream_error`],
//! [`collect_stream`] (the non-stream answer of an upstream that only streams) and the
//! incremental [`StreamTranslator`] (which also repairs Responses streams passed to
//! Responses clients). All are pure.
//!
//! # The per-dialect interface
//!
//! Every dialect file `translate/<dialect>.rs` exposes the same items (its stream half
//! may sit in the child module `<dialect>/stream.rs`, re-exported), and this file
//! dispatches to them with one `match dialect` per operation, so adding a dialect is
//! one file plus one arm in each of: [`Dialect::model_in_path`], `Dialect::converts`,
//! the `dispatch` section (`parse_request`, `emit_request`, `parse_response`,
//! `emit_response`, [`error_body`], [`stream_error`]) and the `Decoder`/`Encoder`
//! enums (`new`, `decode`/`encode`, `finish`):
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
pub mod completions;
mod error;
pub mod gemini;
pub mod ir;
pub mod openai_chat;
pub mod responses;
#[cfg(test)]
mod scenarios;
mod sse;
mod wire;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

pub use error::parse_error;
use ir::{ApiError, ErrorKind, Event};

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

/// The few request fields routing needs; the rest of the body is not interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub model: String,
    pub stream: bool,
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("request body is not valid JSON: {0}")]
    Json(String),
    #[error("request body has no `model` field")]
    NoModel,
    #[error("`model` is {0} bytes long; model names are at most {MAX_MODEL_LEN}")]
    ModelTooLong(usize),
}

/// Longest model name accepted: real names are far shorter, and names become keys of
/// the gateway's cooldown and cursor tables and appear in logs.
pub const MAX_MODEL_LEN: usize = 256;

/// A request body must be an object (serde would also read a struct from an array).
pub fn require_object(body: &[u8]) -> Result<(), ProbeError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(ProbeError::Json(
            "request body must be a JSON object".into(),
        )),
    }
}

/// Reads `model` and `stream`; the rest of the body is skipped without being built.
pub fn probe(body: &[u8]) -> Result<Probe, ProbeError> {
    require_object(body)?;
    let raw: RawProbe = serde_json::from_slice(body)
        .map_err(|e| ProbeError::Json(crate::config::clip(&e.to_string()).into_owned()))?;
    let model = raw
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ProbeError::NoModel)?;
    if model.len() > MAX_MODEL_LEN {
        return Err(ProbeError::ModelTooLong(model.len()));
    }
    Ok(Probe {
        model,
        stream: raw.stream.unwrap_or(false),
    })
}

/// Whether an OpenAI client asked for the separate usage chunk
/// (`stream_options.include_usage`).
pub fn wants_usage_chunk(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        stream_options: wire::Lax<Options>,
    }
    #[derive(Deserialize)]
    struct Options {
        #[serde(default)]
        include_usage: wire::Lax<bool>,
    }
    wire::shape!(Map: Options);
    serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.stream_options.0)
        .and_then(|o| o.include_usage.0)
        .unwrap_or(false)
}

/// The top-level `model` member as it appears in the body (null included).
#[derive(Deserialize)]
struct ModelSpan<'a> {
    #[serde(default, borrow, deserialize_with = "raw_member")]
    model: Option<&'a RawValue>,
}

fn raw_member<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Replaces the top-level `model` (alias → upstream name), or adds it. Every other byte
/// is kept as received: the body is scanned once, never built into a tree.
pub fn rewrite_model(body: &[u8], model: &str) -> Result<Bytes, ProbeError> {
    require_object(body)?;
    let span: ModelSpan =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    let quoted = serde_json::to_string(model).map_err(|e| ProbeError::Json(e.to_string()))?;
    let (start, end, insert) = match span.model {
        Some(raw) => {
            // `raw` borrows from `body`, so its address gives its place in it.
            let raw = raw.get().as_bytes();
            let start = (raw.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
            if body.get(start..start.wrapping_add(raw.len())) != Some(raw) {
                return Err(ProbeError::Json("cannot locate `model` in the body".into()));
            }
            (start, start + raw.len(), false)
        }
        None => {
            let open = body.iter().position(|b| *b == b'{').unwrap_or(0) + 1;
            (open, open, true)
        }
    };
    let mut out = Vec::with_capacity(body.len() + quoted.len() + 10);
    out.extend_from_slice(&body[..start]);
    if insert {
        out.extend_from_slice(b"\"model\":");
    }
    out.extend_from_slice(quoted.as_bytes());
    if insert
        && body[end..]
            .iter()
            .any(|b| !b.is_ascii_whitespace() && *b != b'}')
    {
        out.push(b',');
    }
    out.extend_from_slice(&body[end..]);
    Ok(Bytes::from(out))
}

// ---------------------------------------------------------------- translation

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranslateError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body does not have the expected shape: {0}")]
    Invalid(String),
    #[error("translation from {from:?} to {to:?} is not supported")]
    Unsupported { from: Dialect, to: Dialect },
}

impl From<serde_json::Error> for TranslateError {
    fn from(e: serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Data => TranslateError::Invalid(e.to_string()),
            _ => TranslateError::Json(e.to_string()),
        }
    }
}

/// Whether [`translate_request`] and friends can convert between the two dialects
/// (same-dialect pairs are always "supported": they pass through).
pub fn supports(from: Dialect, to: Dialect) -> bool {
    from == to || (from.converts() && to.converts())
}

// ---------------------------------------------------------------- dispatch
// One `match` per operation of the per-dialect interface (see the module docs).

fn parse_request(d: Dialect, body: &[u8]) -> Result<ir::Request, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_request(body),
        Dialect::OpenAiChat => openai_chat::parse_request(body),
        Dialect::Responses => responses::parse_request(body),
        Dialect::Completions => completions::parse_request(body),
        Dialect::Gemini => gemini::parse_request(body),
    }
}

fn emit_request(d: Dialect, r: &ir::Request) -> Result<Bytes, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::emit_request(r),
        Dialect::OpenAiChat => openai_chat::emit_request(r),
        Dialect::Responses => responses::emit_request(r),
        Dialect::Completions => completions::emit_request(r),
        Dialect::Gemini => gemini::emit_request(r),
    }
}

fn parse_response(d: Dialect, body: &[u8]) -> Result<ir::Response, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_response(body),
        Dialect::OpenAiChat => openai_chat::parse_response(body),
        Dialect::Responses => responses::parse_response(body),
        Dialect::Completions => completions::parse_response(body),
        Dialect::Gemini => gemini::parse_response(body),
    }
}

fn emit_response(d: Dialect, r: &ir::Response, client_model: &str) -> Bytes {
    match d {
        Dialect::Anthropic => anthropic::emit_response(r, client_model),
        Dialect::OpenAiChat => openai_chat::emit_response(r, client_model),
        Dialect::Responses => responses::emit_response(r, client_model),
        Dialect::Completions => completions::emit_response(r, client_model),
        Dialect::Gemini => gemini::emit_response(r, client_model),
    }
}

/// An error body in `dialect`'s shape.
pub fn error_body(dialect: Dialect, err: &ApiError) -> Bytes {
    match dialect {
        Dialect::Anthropic => anthropic::emit_error(err),
        Dialect::OpenAiChat => openai_chat::emit_error(err),
        Dialect::Responses => responses::emit_error(err),
        Dialect::Completions => completions::emit_error(err),
        Dialect::Gemini => gemini::emit_error(err),
    }
}

/// An error as one SSE frame in `dialect`'s shape, for failures after the first byte.
pub fn stream_error(dialect: Dialect, err: &ApiError) -> Bytes {
    match dialect {
        Dialect::Anthropic => anthropic::emit_stream_error(err),
        Dialect::OpenAiChat => openai_chat::emit_stream_error(err),
        Dialect::Responses => responses::emit_stream_error(err),
        Dialect::Completions => completions::emit_stream_error(err),
        Dialect::Gemini => gemini::emit_stream_error(err),
    }
}

#[derive(Debug)]
enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAiChat(openai_chat::StreamDecoder),
    Gemini(gemini::StreamDecoder),
    Responses(responses::StreamDecoder),
    Completions(completions::StreamDecoder),
}

impl Decoder {
    fn new(d: Dialect) -> Option<Self> {
        match d {
            Dialect::Anthropic => Some(Decoder::Anthropic(Default::default())),
            Dialect::OpenAiChat => Some(Decoder::OpenAiChat(Default::default())),
            Dialect::Responses => Some(Decoder::Responses(Default::default())),
            Dialect::Completions => Some(Decoder::Completions(Default::default())),
            Dialect::Gemini => Some(Decoder::Gemini(Default::default())),
        }
    }

    fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic(d) => d.decode(data, out),
            Decoder::OpenAiChat(d) => d.decode(data, out),
            Decoder::Gemini(d) => d.decode(data, out),
            Decoder::Responses(d) => d.decode(data, out),
            Decoder::Completions(d) => d.decode(data, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic(d) => d.finish(out),
            Decoder::OpenAiChat(d) => d.finish(out),
            Decoder::Gemini(d) => d.finish(out),
            Decoder::Responses(d) => d.finish(out),
            Decoder::Completions(d) => d.finish(out),
        }
    }
}

#[derive(Debug)]
enum Encoder {
    Anthropic(anthropic::StreamEncoder),
    OpenAiChat(openai_chat::StreamEncoder),
    Gemini(gemini::StreamEncoder),
    Responses(responses::StreamEncoder),
    Completions(completions::StreamEncoder),
}

impl Encoder {
    fn new(d: Dialect, client_model: &str) -> Option<Self> {
        match d {
            Dialect::Anthropic => Some(Encoder::Anthropic(anthropic::StreamEncoder::new(
                client_model,
            ))),
            Dialect::OpenAiChat => Some(Encoder::OpenAiChat(openai_chat::StreamEncoder::new(
                client_model,
            ))),
            Dialect::Responses => Some(Encoder::Responses(responses::StreamEncoder::new(
                client_model,
            ))),
            Dialect::Completions => Some(Encoder::Completions(completions::StreamEncoder::new(
                client_model,
            ))),
            Dialect::Gemini => Some(Encoder::Gemini(gemini::StreamEncoder::new(
                client_model,
                gemini::Framing::Sse,
            ))),
        }
    }

    fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.encode(ev, out),
            Encoder::OpenAiChat(e) => e.encode(ev, out),
            Encoder::Responses(e) => e.encode(ev, out),
            Encoder::Completions(e) => e.encode(ev, out),
            Encoder::Gemini(e) => e.encode(ev, out),
        }
    }

    fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(enc) => enc.error(e, out),
            Encoder::OpenAiChat(enc) => enc.error(e, out),
            Encoder::Responses(enc) => enc.error(e, out),
            Encoder::Completions(enc) => enc.error(e, out),
            Encoder::Gemini(enc) => enc.error(e, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.finish(out),
            Encoder::OpenAiChat(e) => e.finish(out),
            Encoder::Gemini(e) => e.finish(out),
            Encoder::Responses(e) => e.finish(out),
            Encoder::Completions(e) => e.finish(out),
        }
    }
}

// ---------------------------------------------------------------- entry points

/// Client request body in `from` → upstream request body in `to`, with `model` set to
/// `upstream_model`. Fields `to` does not know are dropped. Same-dialect bodies keep
/// every byte but the model.
pub fn translate_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<Bytes, TranslateError> {
    if from == to && from.model_in_path() {
        return Ok(Bytes::copy_from_slice(body));
    }
    if from == to {
        return rewrite_model(body, upstream_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
            e @ ProbeError::ModelTooLong(_) => TranslateError::Invalid(e.to_string()),
        });
    }
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    let mut req = parse_request(from, body)?;
    req.model = upstream_model.to_string();
    emit_request(to, &req)
}

/// [`translate_request`] for an upstream asked to stream or not, whatever the client's
/// body says (Gemini bodies never say: their stream is the URL's action; some
/// upstreams stream when the client did not ask to).
pub fn translate_request_streamed(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
    stream: bool,
) -> Result<Bytes, TranslateError> {
    if from == to || !supports(from, to) {
        return translate_request(from, to, body, upstream_model);
    }
    let mut req = parse_request(from, body)?;
    req.model = upstream_model.to_string();
    if req.stream != stream {
        req.stream = stream;
        req.include_usage = stream;
    }
    emit_request(to, &req)
}

/// Upstream non-stream response body in `from` → client response body in `to`,
/// echoing `client_model`.
pub fn translate_response(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    client_model: &str,
) -> Result<Bytes, TranslateError> {
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    if from == to && from.model_in_path() {
        return Ok(Bytes::copy_from_slice(body));
    }
    if from == to {
        return rewrite_model(body, client_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
            e @ ProbeError::ModelTooLong(_) => TranslateError::Invalid(e.to_string()),
        });
    }
    let resp = parse_response(from, body)?;
    Ok(emit_response(to, &resp, client_model))
}

// ---------------------------------------------------------------- token counting

/// A token-count request (Anthropic `count_tokens`, Gemini `countTokens`) in `from` →
/// the same question in `to`, for `upstream_model`. OpenAI chat has no such call.
pub fn translate_count_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<Bytes, TranslateError> {
    if from == to {
        return translate_request(from, to, body, upstream_model);
    }
    let mut req = match from {
        Dialect::Gemini => gemini::parse_count_tokens_request(body)?,
        Dialect::Anthropic => anthropic::parse_request(body)?,
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            return Err(TranslateError::Unsupported { from, to });
        }
    };
    req.model = upstream_model.to_string();
    match to {
        Dialect::Gemini => Ok(gemini::emit_count_tokens_request(&req)),
        Dialect::Anthropic => {
            // count_tokens takes the prompt only; generation settings are refused.
            const KEPT: &[&str] = &[
                "model",
                "messages",
                "system",
                "tools",
                "tool_choice",
                "thinking",
            ];
            let full = anthropic::emit_request(&req)?;
            let mut m: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&full)?;
            m.retain(|k, _| KEPT.contains(&k.as_str()));
            Ok(wire::to_bytes(&m))
        }
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            Err(TranslateError::Unsupported { from, to })
        }
    }
}

/// A token-count answer in `from` → the client's `to` shape.
pub fn translate_count_response(
    from: Dialect,
    to: Dialect,
    body: &[u8],
) -> Result<Bytes, TranslateError> {
    #[derive(Deserialize)]
    struct AnthropicCount {
        input_tokens: u64,
    }
    if from == to {
        return Ok(Bytes::copy_from_slice(body));
    }
    let total = match from {
        Dialect::Gemini => gemini::parse_count_tokens_response(body)?,
        Dialect::Anthropic => serde_json::from_slice::<AnthropicCount>(body)?.input_tokens,
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            return Err(TranslateError::Unsupported { from, to });
        }
    };
    match to {
        Dialect::Gemini => Ok(gemini::emit_count_tokens_response(total)),
        Dialect::Anthropic => Ok(wire::to_bytes(&serde_json::json!({"input_tokens": total}))),
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            Err(TranslateError::Unsupported { from, to })
        }
    }
}

/// The non-stream answer (a body in `d`) of an upstream that was asked to stream
/// because it only streams. A stream that failed, or ended before its answer was
/// complete, is the error to report.
pub fn collect_stream(d: Dialect, sse: &[u8]) -> Result<Bytes, ApiError> {
    match d {
        Dialect::Responses => responses::response_from_stream(sse).and_then(|v| {
            serde_json::to_vec(&v)
                .map(Bytes::from)
                .map_err(|e| ApiError::new(ErrorKind::Api, e.to_string()))
        }),
        Dialect::Anthropic | Dialect::OpenAiChat | Dialect::Completions | Dialect::Gemini => {
            Err(ApiError::new(
                ErrorKind::Api,
                format!("assembling a non-stream answer from a {d:?} stream is not supported"),
            ))
        }
    }
}

/// Upstream error body (any status) in `from` → error body in `to`'s shape, keeping
/// the message and mapping the type. Bodies that are not JSON (HTML from a proxy,
/// plain text) become the message. Same-dialect bodies pass through unchanged.
pub fn translate_error(from: Dialect, to: Dialect, status: u16, body: &[u8]) -> Bytes {
    if from == to && !body.is_empty() {
        return Bytes::copy_from_slice(body);
    }
    error_body(to, &parse_error(status, body))
}

/// Re-labels a response id for the client's dialect: `theirs_abc` → `ours_abc`; an id
/// already in our form is kept, any other gets our prefix, an empty one a fresh id.
pub(crate) fn relabel_id(id: &str, ours: &str, theirs: &str) -> String {
    if id.starts_with(ours) {
        return id.to_string();
    }
    let bare = id.strip_prefix(theirs).unwrap_or(id);
    if bare.is_empty() {
        format!("{ours}{}", new_id())
    } else {
        format!("{ours}{bare}")
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What encoders report when the upstream stops before the message is complete.
pub(crate) fn truncated_stream() -> ApiError {
    ApiError::new(
        ErrorKind::Api,
        "upstream closed the stream before the message completed",
    )
}

// ---------------------------------------------------------------- streams

#[derive(Debug)]
struct Pipeline {
    decoder: Decoder,
    encoder: Encoder,
    /// Reused between input events.
    events: Vec<Event>,
}

impl Pipeline {
    fn event(&mut self, data: &str, out: &mut Vec<Bytes>) {
        self.events.clear();
        self.decoder.decode(data, &mut self.events);
        for ev in &self.events {
            self.encoder.encode(ev, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) {
        self.events.clear();
        self.decoder.finish(&mut self.events);
        for ev in &self.events {
            self.encoder.encode(ev, out);
        }
        self.encoder.finish(out);
    }
}

/// What a [`StreamTranslator`] does with the frames.
#[derive(Debug)]
enum Mode {
    /// Bytes pass through unchanged.
    Pass,
    Translate(Box<Pipeline>),
    /// Responses to a Responses client: events pass, the backend's slips are repaired.
    Fix(responses::StreamFixer),
}

/// Incremental SSE translation from the upstream's dialect to the client's. Bytes may
/// arrive in arbitrary chunks; every input event that completes yields its output
/// frames from that same [`push`](Self::push). Each input byte is scanned once.
///
/// Same-dialect (and unsupported, see [`supports`]) pairs pass bytes through unchanged,
/// except Responses, whose streams are checked for their terminal event.
#[derive(Debug)]
pub struct StreamTranslator {
    parser: sse::SseParser,
    mode: Mode,
    /// A same-dialect Gemini stream re-framed as a JSON array (see [`Self::with_framing`]).
    array: Option<gemini::ArrayFramer>,
    to: Dialect,
}

impl StreamTranslator {
    pub fn new(from: Dialect, to: Dialect, client_model: &str) -> Self {
        let pipeline = if from != to && supports(from, to) {
            Decoder::new(from)
                .zip(Encoder::new(to, client_model))
                .map(|(decoder, encoder)| Pipeline {
                    decoder,
                    encoder,
                    events: Vec::new(),
                })
        } else {
            None
        };
        let mode = match pipeline {
            Some(p) => Mode::Translate(Box::new(p)),
            None if from == Dialect::Responses && to == Dialect::Responses => {
                Mode::Fix(responses::StreamFixer::default())
            }
            None => Mode::Pass,
        };
        StreamTranslator {
            parser: sse::SseParser::default(),
            mode,
            array: None,
            to,
        }
    }

    /// Frames for a failure after the first byte, in the client's dialect, closing
    /// what the stream opened where the dialect has a way to.
    pub fn error(&mut self, e: &ApiError) -> Vec<Bytes> {
        let mut out = Vec::new();
        match &mut self.mode {
            Mode::Translate(p) => p.encoder.error(e, &mut out),
            Mode::Fix(f) => f.error(e, &mut out),
            Mode::Pass => out.push(stream_error(self.to, e)),
        }
        out
    }

    /// How a Gemini client reads its stream: SSE (`alt=sse`, the default) or one JSON
    /// array. Other client dialects ignore it.
    pub fn with_framing(mut self, framing: gemini::Framing) -> Self {
        if self.to != Dialect::Gemini {
            return self;
        }
        match &mut self.mode {
            Mode::Translate(p) => {
                if let Encoder::Gemini(e) = &mut p.encoder {
                    e.set_framing(framing);
                }
            }
            Mode::Fix(_) => {}
            Mode::Pass => {
                self.array =
                    (framing == gemini::Framing::JsonArray).then(gemini::ArrayFramer::default);
            }
        }
        self
    }

    /// For OpenAI clients that sent `stream_options.include_usage: true`: usage goes in a
    /// separate final chunk with empty `choices` (as OpenAI does). Without it, usage
    /// rides on the `finish_reason` chunk, which every SDK tolerates.
    pub fn with_include_usage(mut self, include: bool) -> Self {
        if let Mode::Translate(p) = &mut self.mode
            && let Encoder::OpenAiChat(e) = &mut p.encoder
        {
            e.set_include_usage(include);
        }
        self
    }

    /// Whether this translator rewrites frames (false: bytes pass through).
    pub fn is_translating(&self) -> bool {
        !matches!(self.mode, Mode::Pass) || self.array.is_some()
    }

    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        if let Some(array) = &mut self.array {
            let mut out = Vec::new();
            self.parser
                .feed(chunk, &mut |_event, data| array.item(data, &mut out));
            return out;
        }
        let mut out = Vec::new();
        match &mut self.mode {
            Mode::Pass => {
                if !chunk.is_empty() {
                    out.push(Bytes::copy_from_slice(chunk));
                }
            }
            Mode::Translate(pipeline) => self
                .parser
                .feed(chunk, &mut |_event, data| pipeline.event(data, &mut out)),
            Mode::Fix(fixer) => self
                .parser
                .feed(chunk, &mut |event, data| fixer.event(event, data, &mut out)),
        }
        out
    }

    pub fn finish(&mut self) -> Vec<Bytes> {
        if let Some(array) = &mut self.array {
            let mut out = Vec::new();
            self.parser
                .finish(&mut |_event, data| array.item(data, &mut out));
            array.finish(&mut out);
            return out;
        }
        let mut out = Vec::new();
        match &mut self.mode {
            Mode::Pass => {}
            Mode::Translate(pipeline) => {
                self.parser
                    .finish(&mut |_event, data| pipeline.event(data, &mut out));
                pipeline.finish(&mut out);
            }
            Mode::Fix(fixer) => {
                self.parser
                    .finish(&mut |event, data| fixer.event(event, data, &mut out));
                fixer.finish(&mut out);
            }
        }
        out
    }
}

// ---------------------------------------------------------------- assembly

/// Collects stream events into one response (for clients that asked for a whole answer
/// from an upstream that only streams).
#[derive(Debug, Default)]
struct Assembler {
    resp: ir::Response,
    /// Argument fragments of each tool call, by the call's index in `resp.parts`.
    args: Vec<(usize, String)>,
    done: bool,
    error: Option<ApiError>,
}

/// Arguments kept per call (a broken upstream could send without end).
const MAX_ASSEMBLED_ARGS: usize = 16 << 20;

impl Assembler {
    fn event(&mut self, ev: &Event) {
        use ir::Part;
        let parts = &mut self.resp.parts;
        match ev {
            Event::Start { id, model } => {
                self.resp.id.clone_from(id);
                self.resp.model.clone_from(model);
            }
            Event::Text(t) => match parts.last_mut() {
                Some(Part::Text(s)) => s.push_str(t),
                _ => parts.push(Part::Text(t.clone())),
            },
            Event::Thinking(t) => match parts.last_mut() {
                Some(Part::Thinking {
                    text,
                    signature: None,
                }) => text.push_str(t),
                _ => parts.push(Part::Thinking {
                    text: t.clone(),
                    signature: None,
                }),
            },
            Event::Signature(sig) => match parts.last_mut() {
                Some(Part::Thinking { signature, .. }) if signature.is_none() => {
                    *signature = Some(sig.clone());
                }
                _ => parts.push(Part::Thinking {
                    text: String::new(),
                    signature: Some(sig.clone()),
                }),
            },
            Event::ToolStart { id, name, .. } => {
                self.args.push((parts.len(), String::new()));
                parts.push(Part::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: serde_json::Value::Null,
                });
            }
            Event::ToolArgs { fragment, .. } => {
                if let Some((_, a)) = self.args.last_mut()
                    && a.len() + fragment.len() <= MAX_ASSEMBLED_ARGS
                {
                    a.push_str(fragment);
                }
            }
            Event::Usage(u) => self.resp.usage.merge(u),
            Event::Finish(s) => self.resp.stop = Some(s.clone()),
            Event::Done => self.done = true,
            Event::Error(e) => {
                if self.error.is_none() {
                    self.error = Some(e.clone());
                }
            }
        }
    }

    fn finish(mut self) -> Result<ir::Response, ApiError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.done {
            return Err(truncated_stream());
        }
        for (i, args) in self.args {
            if let Some(ir::Part::ToolCall { arguments, .. }) = self.resp.parts.get_mut(i) {
                *arguments = serde_json::from_str(&args)
                    .unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
            }
        }
        Ok(self.resp)
    }
}

/// A whole upstream SSE stream in `from` → one non-stream response body in `to`,
/// echoing `client_model`. An error event in the stream, or a stream that ends before
/// the message completed, is the `Err`.
pub fn assemble_stream(
    from: Dialect,
    to: Dialect,
    sse_body: &[u8],
    client_model: &str,
) -> Result<Bytes, ApiError> {
    let Some(mut decoder) = Decoder::new(from) else {
        return Err(ApiError::new(
            ErrorKind::Api,
            format!("streams in {from:?} cannot be assembled"),
        ));
    };
    let mut parser = sse::SseParser::default();
    let mut asm = Assembler::default();
    let mut events = Vec::new();
    let mut on = |_event: &str, data: &str| {
        events.clear();
        decoder.decode(data, &mut events);
        for ev in &events {
            asm.event(ev);
        }
    };
    parser.feed(sse_body, &mut on);
    parser.finish(&mut on);
    events.clear();
    decoder.finish(&mut events);
    for ev in &events {
        asm.event(ev);
    }
    let resp = asm.finish()?;
    Ok(emit_response(to, &resp, client_model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_model_and_stream_only() {
        let p = probe(br#"{"messages":[{"role":"user","content":"x"}],"model":"m","stream":true,"x":{"y":1}}"#).unwrap();
        assert_eq!(
            p,
            Probe {
                model: "m".into(),
                stream: true
            }
        );
        assert_eq!(probe(br#"{"messages":[]}"#), Err(ProbeError::NoModel));
        assert!(matches!(probe(b"{"), Err(ProbeError::Json(_))));
    }

    #[test]
    fn probe_wants_an_object() {
        assert!(matches!(probe(br#"["m", true]"#), Err(ProbeError::Json(_))));
        assert!(matches!(probe(b" 5"), Err(ProbeError::Json(_))));
    }

    #[test]
    fn rewrite_keeps_other_fields_in_order() {
        let b = Bytes::from_static(br#"{"a":1,"model":"alias","z":[1]}"#);
        let out = rewrite_model(&b, "up/name").unwrap();
        assert_eq!(&out[..], br#"{"a":1,"model":"up/name","z":[1]}"#);
    }

    #[test]
    fn rewrite_touches_only_the_top_level_model_bytes() {
        let cases: [(&str, &str, &str); 6] = [
            // Spacing, escapes and nested `model` members stay as sent.
            (
                "{ \"messages\": [{\"model\": \"inner\"}],\n  \"model\" : \"a\\u0062\" , \"x\":1.50}",
                "up\"q",
                "{ \"messages\": [{\"model\": \"inner\"}],\n  \"model\" : \"up\\\"q\" , \"x\":1.50}",
            ),
            (r#"{"model":null}"#, "m", r#"{"model":"m"}"#),
            (r#"{"model":7,"a":1}"#, "m", r#"{"model":"m","a":1}"#),
            (r#"{"a":1}"#, "m", r#"{"model":"m","a":1}"#),
            (r#" { } "#, "m", r#" {"model":"m" } "#),
            (
                r#"{"id":"x","model":"claude"}"#,
                "alias",
                r#"{"id":"x","model":"alias"}"#,
            ),
        ];
        for (body, model, want) in cases {
            let out = rewrite_model(body.as_bytes(), model).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{body}");
            serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        }
        assert!(rewrite_model(b"[1]", "m").is_err());
        assert!(rewrite_model(b"{\"model\":", "m").is_err());
    }

    #[test]
    fn usage_chunk_wish_is_read_without_failing_on_odd_bodies() {
        assert!(wants_usage_chunk(
            br#"{"model":"m","stream_options":{"include_usage":true}}"#
        ));
        for body in [
            &br#"{"stream_options":{"include_usage":"yes"}}"#[..],
            br#"{"stream_options":null}"#,
            br#"{"model":"m"}"#,
            b"nope",
        ] {
            assert!(!wants_usage_chunk(body));
        }
    }

    #[test]
    fn every_dialect_pair_translates() {
        use Dialect::*;
        for from in [Anthropic, OpenAiChat, Gemini, Responses] {
            for to in [Anthropic, OpenAiChat, Gemini, Responses] {
                assert!(supports(from, to), "{from:?} → {to:?}");
            }
        }
        assert!(StreamTranslator::new(Gemini, Anthropic, "m").is_translating());
        assert!(StreamTranslator::new(Responses, Responses, "m").is_translating());
        assert!(!StreamTranslator::new(Anthropic, Anthropic, "m").is_translating());
        assert!(Gemini.model_in_path() && !Anthropic.model_in_path());
    }

    #[test]
    fn token_counts_cross_between_anthropic_and_gemini() {
        let g = br#"{"contents":[{"role":"user","parts":[{"text":"count me"}]}]}"#;
        let a =
            translate_count_request(Dialect::Gemini, Dialect::Anthropic, g, "claude-x").unwrap();
        let a: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(a["model"], "claude-x");
        assert_eq!(a["messages"][0]["content"][0]["text"], "count me");
        assert!(a.get("max_tokens").is_none(), "{a}");
        let back = translate_count_response(
            Dialect::Anthropic,
            Dialect::Gemini,
            br#"{"input_tokens":12}"#,
        )
        .unwrap();
        assert_eq!(&back[..], br#"{"totalTokens":12}"#);

        let a = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let g =
            translate_count_request(Dialect::Anthropic, Dialect::Gemini, a, "gemini-x").unwrap();
        let g: serde_json::Value = serde_json::from_slice(&g).unwrap();
        assert_eq!(g["generateContentRequest"]["model"], "models/gemini-x");
        assert_eq!(
            g["generateContentRequest"]["contents"][0]["parts"][0]["text"],
            "hi"
        );
        let back = translate_count_response(
            Dialect::Gemini,
            Dialect::Anthropic,
            br#"{"response":{"totalTokens":5},"traceId":"t"}"#,
        )
        .unwrap();
        assert_eq!(&back[..], br#"{"input_tokens":5}"#);
        assert!(translate_count_request(Dialect::OpenAiChat, Dialect::Gemini, a, "g").is_err());
    }

    #[test]
    fn gemini_bodies_pass_unchanged_between_gemini_routes() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        let out = translate_request(Dialect::Gemini, Dialect::Gemini, body, "gemini-x").unwrap();
        assert_eq!(&out[..], &body[..], "the model stays in the URL");
        let resp = br#"{"candidates":[],"modelVersion":"up"}"#;
        let out = translate_response(Dialect::Gemini, Dialect::Gemini, resp, "alias").unwrap();
        assert_eq!(&out[..], &resp[..]);
    }

    const GEMINI_CHUNKS: &[&str] = &[
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me ","thought":true}]}}],"responseId":"r1","modelVersion":"gemini-3-pro-high"}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"},{"functionCall":{"name":"ls","args":{"dir":"."}},"thoughtSignature":"sig"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}}"#,
    ];

    fn gemini_sse() -> Vec<u8> {
        GEMINI_CHUNKS
            .iter()
            .flat_map(|c| format!("data: {c}\r\n\r\n").into_bytes())
            .collect()
    }

    #[test]
    fn a_gemini_stream_assembles_into_one_answer_in_each_dialect() {
        let sse = gemini_sse();
        let g = assemble_stream(Dialect::Gemini, Dialect::Gemini, &sse, "alias").unwrap();
        let g: serde_json::Value = serde_json::from_slice(&g).unwrap();
        let parts = &g["candidates"][0]["content"]["parts"];
        assert_eq!(parts[0]["thought"], true);
        assert_eq!(parts[0]["text"], "Let me ");
        assert_eq!(parts[1]["text"], "Hello");
        assert_eq!(parts[2]["functionCall"]["args"]["dir"], ".");
        assert_eq!(parts[2]["thoughtSignature"], "sig");
        assert_eq!(g["usageMetadata"]["promptTokenCount"], 7);
        assert_eq!(g["modelVersion"], "alias");
        let a = assemble_stream(Dialect::Gemini, Dialect::Anthropic, &sse, "alias").unwrap();
        let a: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(a["stop_reason"], "tool_use");
        assert_eq!(a["content"][0]["thinking"], "Let me ");
        assert_eq!(a["content"][1]["text"], "Hello");
        let call = a["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap();
        assert_eq!(call["input"]["dir"], ".");
        assert_eq!(call["name"], "ls");
        assert_eq!(a["usage"]["input_tokens"], 7);
    }

    #[test]
    fn an_assembled_stream_that_breaks_off_or_fails_is_an_error() {
        let sse = gemini_sse();
        let cut = &sse[..sse.len() / 2];
        let e = assemble_stream(Dialect::Gemini, Dialect::OpenAiChat, cut, "m").unwrap_err();
        assert_eq!(e, truncated_stream());
        let failing = b"data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n";
        let e = assemble_stream(Dialect::Gemini, Dialect::Anthropic, failing, "m").unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::RateLimit, "quota")
        );
    }

    #[test]
    fn a_same_dialect_gemini_stream_reframes_as_a_json_array() {
        let sse = gemini_sse();
        for chunk in [1, 5, usize::MAX] {
            let mut t = StreamTranslator::new(Dialect::Gemini, Dialect::Gemini, "m")
                .with_framing(gemini::Framing::JsonArray);
            assert!(t.is_translating());
            let mut out = Vec::new();
            for c in sse.chunks(chunk.min(sse.len())) {
                out.extend(t.push(c).into_iter().flatten());
            }
            out.extend(t.finish().into_iter().flatten());
            let arr: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
            let want: Vec<serde_json::Value> = GEMINI_CHUNKS
                .iter()
                .map(|c| serde_json::from_str(c).unwrap())
                .collect();
            assert_eq!(arr, want, "chunks of {chunk}");
        }
        let mut empty = StreamTranslator::new(Dialect::Gemini, Dialect::Gemini, "m")
            .with_framing(gemini::Framing::JsonArray);
        assert_eq!(empty.finish().concat(), b"[]");
        let plain = StreamTranslator::new(Dialect::Gemini, Dialect::Gemini, "m")
            .with_framing(gemini::Framing::Sse);
        assert!(!plain.is_translating());
    }
}
