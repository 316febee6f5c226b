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
//! upstreams answer errors in any shape. (Gemini's error body lives in `error.rs`
//! until Gemini has its dialect file.)

pub mod anthropic;
pub mod completions;
mod error;
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
            Dialect::Gemini => true,
        }
    }

    /// Whether this dialect has a converter file (translation to and from it works).
    fn converts(self) -> bool {
        match self {
            Dialect::Anthropic
            | Dialect::OpenAiChat
            | Dialect::Responses
            | Dialect::Completions => true,
            Dialect::Gemini => false,
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
}

/// A request body must be an object (serde would also read a struct from an array).
fn require_object(body: &[u8]) -> Result<(), ProbeError> {
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
    let raw: RawProbe =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    let model = raw
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ProbeError::NoModel)?;
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

fn no_converter(d: Dialect) -> TranslateError {
    TranslateError::Unsupported { from: d, to: d }
}

fn parse_request(d: Dialect, body: &[u8]) -> Result<ir::Request, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_request(body),
        Dialect::OpenAiChat => openai_chat::parse_request(body),
        Dialect::Responses => responses::parse_request(body),
        Dialect::Completions => completions::parse_request(body),
        Dialect::Gemini => Err(no_converter(d)),
    }
}

fn emit_request(d: Dialect, r: &ir::Request) -> Result<Bytes, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::emit_request(r),
        Dialect::OpenAiChat => openai_chat::emit_request(r),
        Dialect::Responses => responses::emit_request(r),
        Dialect::Completions => completions::emit_request(r),
        Dialect::Gemini => Err(no_converter(d)),
    }
}

fn parse_response(d: Dialect, body: &[u8]) -> Result<ir::Response, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_response(body),
        Dialect::OpenAiChat => openai_chat::parse_response(body),
        Dialect::Responses => responses::parse_response(body),
        Dialect::Completions => completions::parse_response(body),
        Dialect::Gemini => Err(no_converter(d)),
    }
}

fn emit_response(
    d: Dialect,
    r: &ir::Response,
    client_model: &str,
) -> Result<Bytes, TranslateError> {
    match d {
        Dialect::Anthropic => Ok(anthropic::emit_response(r, client_model)),
        Dialect::OpenAiChat => Ok(openai_chat::emit_response(r, client_model)),
        Dialect::Responses => Ok(responses::emit_response(r, client_model)),
        Dialect::Completions => Ok(completions::emit_response(r, client_model)),
        Dialect::Gemini => Err(no_converter(d)),
    }
}

/// An error body in `dialect`'s shape.
pub fn error_body(dialect: Dialect, err: &ApiError) -> Bytes {
    match dialect {
        Dialect::Anthropic => anthropic::emit_error(err),
        Dialect::OpenAiChat => openai_chat::emit_error(err),
        Dialect::Responses => responses::emit_error(err),
        Dialect::Completions => completions::emit_error(err),
        Dialect::Gemini => error::gemini::emit_error(err),
    }
}

/// An error as one SSE frame in `dialect`'s shape, for failures after the first byte.
pub fn stream_error(dialect: Dialect, err: &ApiError) -> Bytes {
    match dialect {
        Dialect::Anthropic => anthropic::emit_stream_error(err),
        Dialect::OpenAiChat => openai_chat::emit_stream_error(err),
        Dialect::Responses => responses::emit_stream_error(err),
        Dialect::Completions => completions::emit_stream_error(err),
        Dialect::Gemini => error::gemini::emit_stream_error(err),
    }
}

#[derive(Debug)]
enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAiChat(openai_chat::StreamDecoder),
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
            Dialect::Gemini => None,
        }
    }

    fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic(d) => d.decode(data, out),
            Decoder::OpenAiChat(d) => d.decode(data, out),
            Decoder::Responses(d) => d.decode(data, out),
            Decoder::Completions(d) => d.decode(data, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic(d) => d.finish(out),
            Decoder::OpenAiChat(d) => d.finish(out),
            Decoder::Responses(d) => d.finish(out),
            Decoder::Completions(d) => d.finish(out),
        }
    }
}

#[derive(Debug)]
enum Encoder {
    Anthropic(anthropic::StreamEncoder),
    OpenAiChat(openai_chat::StreamEncoder),
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
            Dialect::Gemini => None,
        }
    }

    fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.encode(ev, out),
            Encoder::OpenAiChat(e) => e.encode(ev, out),
            Encoder::Responses(e) => e.encode(ev, out),
            Encoder::Completions(e) => e.encode(ev, out),
        }
    }

    fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(enc) => enc.error(e, out),
            Encoder::OpenAiChat(enc) => enc.error(e, out),
            Encoder::Responses(enc) => enc.error(e, out),
            Encoder::Completions(enc) => enc.error(e, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.finish(out),
            Encoder::OpenAiChat(e) => e.finish(out),
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
    if from == to {
        return rewrite_model(body, upstream_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
        });
    }
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    let mut req = parse_request(from, body)?;
    req.model = upstream_model.to_string();
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
    if from == to {
        return rewrite_model(body, client_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
        });
    }
    let resp = parse_response(from, body)?;
    emit_response(to, &resp, client_model)
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
        !matches!(self.mode, Mode::Pass)
    }

    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
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
    fn only_dialects_with_converters_translate() {
        use Dialect::*;
        assert!(supports(Anthropic, OpenAiChat) && supports(OpenAiChat, Anthropic));
        assert!(supports(Gemini, Gemini));
        assert!(!supports(Gemini, Anthropic) && !supports(OpenAiChat, Gemini));
        assert!(!StreamTranslator::new(Gemini, Anthropic, "m").is_translating());
        assert!(supports(Responses, Anthropic) && supports(OpenAiChat, Responses));
        assert!(StreamTranslator::new(Responses, Responses, "m").is_translating());
        assert!(!StreamTranslator::new(Anthropic, Anthropic, "m").is_translating());
        assert!(Gemini.model_in_path() && !Anthropic.model_in_path());
    }
}
