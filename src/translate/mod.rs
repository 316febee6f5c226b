//! API dialects. Same-dialect traffic passes through untouched except for the fields
//! the upstream needs rewritten. Translation between dialects goes through one
//! internal representation ([`ir`]) with one converter file per dialect
//! ([`anthropic`], [`openai_chat`]): N+M converters, not N×M.
//!
//! Public entry points: [`translate_request`], [`translate_response`],
//! [`translate_error`] and the incremental [`StreamTranslator`]. All are pure.

pub mod anthropic;
pub mod ir;
pub mod openai_chat;
pub mod responses;
#[cfg(test)]
mod scenarios;
mod sse;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use ir::{ApiError, ErrorKind, Event};

/// The API shape a route speaks (decides request parsing and error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Anthropic,
    OpenAiChat,
    Gemini,
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

pub fn probe(body: &[u8]) -> Result<Probe, ProbeError> {
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

/// Replaces the top-level `model` (alias → upstream name). Only called when the names
/// differ, so the common case forwards the client's bytes as received.
pub fn rewrite_model(body: &Bytes, model: &str) -> Result<Bytes, ProbeError> {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    v.insert("model".into(), serde_json::Value::String(model.to_string()));
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| ProbeError::Json(e.to_string()))
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
        TranslateError::Json(e.to_string())
    }
}

/// Whether [`translate_request`] and friends can convert between the two dialects
/// (same-dialect pairs are always "supported": they pass through).
pub fn supports(from: Dialect, to: Dialect) -> bool {
    from == to || (from != Dialect::Gemini && to != Dialect::Gemini)
}

fn to_bytes(v: &Value) -> Result<Bytes, TranslateError> {
    Ok(Bytes::from(serde_json::to_vec(v)?))
}

/// Client request body in `from` → upstream request body in `to`, with `model` set to
/// `upstream_model`. Fields `to` does not know are dropped.
pub fn translate_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<Bytes, TranslateError> {
    if from == to {
        return rewrite_model(&Bytes::copy_from_slice(body), upstream_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
        });
    }
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    let v: Value = serde_json::from_slice(body)?;
    let mut req = match from {
        Dialect::Anthropic => anthropic::parse_request(&v)?,
        Dialect::OpenAiChat => openai_chat::parse_request(&v)?,
        Dialect::Gemini => return Err(TranslateError::Unsupported { from, to }),
    };
    req.model = upstream_model.to_string();
    let out = match to {
        Dialect::Anthropic => anthropic::emit_request(&req),
        Dialect::OpenAiChat => openai_chat::emit_request(&req),
        Dialect::Gemini => return Err(TranslateError::Unsupported { from, to }),
    };
    to_bytes(&out)
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
    let v: Value = serde_json::from_slice(body)?;
    if from == to {
        let mut v = v;
        if let Some(o) = v.as_object_mut() {
            o.insert("model".into(), json!(client_model));
        }
        return to_bytes(&v);
    }
    let resp = match from {
        Dialect::Anthropic => anthropic::parse_response(&v)?,
        Dialect::OpenAiChat => openai_chat::parse_response(&v)?,
        Dialect::Gemini => return Err(TranslateError::Unsupported { from, to }),
    };
    let out = match to {
        Dialect::Anthropic => anthropic::emit_response(&resp, client_model),
        Dialect::OpenAiChat => openai_chat::emit_response(&resp, client_model),
        Dialect::Gemini => return Err(TranslateError::Unsupported { from, to }),
    };
    to_bytes(&out)
}

/// Upstream error body (any status) in `from` → error body in `to`'s shape, keeping
/// the message and mapping the type. Bodies that are not JSON (HTML from a proxy,
/// plain text) become the message. Same-dialect bodies pass through unchanged.
pub fn translate_error(from: Dialect, to: Dialect, status: u16, body: &[u8]) -> Bytes {
    if from == to && !body.is_empty() {
        return Bytes::copy_from_slice(body);
    }
    let err = parse_error(status, body);
    error_body(to, status, &err)
}

/// An error body in `dialect`'s shape.
pub fn error_body(dialect: Dialect, status: u16, err: &ApiError) -> Bytes {
    let v = match dialect {
        Dialect::Anthropic => anthropic::emit_error(err),
        Dialect::OpenAiChat => openai_chat::emit_error(err),
        Dialect::Gemini => json!({"error": {
            "code": status,
            "message": err.message,
            "status": gemini_status(err.kind),
        }}),
    };
    json_bytes(&v)
}

fn json_bytes(v: &Value) -> Bytes {
    serde_json::to_vec(v).map(Bytes::from).unwrap_or_default()
}

fn gemini_status(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::TooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
        ErrorKind::Overloaded => "UNAVAILABLE",
        ErrorKind::Api => "INTERNAL",
    }
}

/// Error type/code/status names of every dialect → kind.
pub(crate) fn kind_from_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "invalid_request_error"
        | "INVALID_ARGUMENT"
        | "FAILED_PRECONDITION"
        | "invalid_request" => ErrorKind::InvalidRequest,
        "authentication_error" | "invalid_api_key" | "UNAUTHENTICATED" => ErrorKind::Authentication,
        "permission_error" | "permission_denied" | "PERMISSION_DENIED" => ErrorKind::Permission,
        "not_found_error" | "model_not_found" | "NOT_FOUND" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::TooLarge,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "insufficient_quota"
        | "model_cooldown"
        | "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "overloaded_error" | "overloaded" | "UNAVAILABLE" => ErrorKind::Overloaded,
        "api_error" | "server_error" | "internal_server_error" | "INTERNAL" => ErrorKind::Api,
        _ => return None,
    })
}

/// Reads `{"error": …}` in any dialect's shape (`e` is the `error` member).
pub(crate) fn parse_error_value(_root: &Value, e: &Value, status: u16) -> ApiError {
    if let Some(s) = e.as_str() {
        return ApiError {
            kind: ErrorKind::from_status(status),
            message: s.to_string(),
        };
    }
    let kind = ["type", "code", "status"]
        .iter()
        .filter_map(|k| get_str(e, k))
        .find_map(kind_from_name)
        .unwrap_or_else(|| {
            // OpenRouter and Gemini put the HTTP status in a numeric `code`.
            let code = get_u64(e, "code")
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(status);
            ErrorKind::from_status(code)
        });
    let message = get_str(e, "message")
        .map(str::to_string)
        .unwrap_or_else(|| format!("upstream returned status {status}"));
    ApiError { kind, message }
}

/// Any dialect's error body (or a non-JSON body) → [`ApiError`].
pub fn parse_error(status: u16, body: &[u8]) -> ApiError {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
                return parse_error_value(&v, e, status);
            }
            let message = ["message", "detail"]
                .iter()
                .find_map(|k| get_str(&v, k))
                .map(str::to_string)
                .unwrap_or_else(|| format!("upstream returned status {status}"));
            ApiError {
                kind: ErrorKind::from_status(status),
                message,
            }
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("upstream returned status {status}")
            } else {
                text.chars().take(2000).collect()
            };
            ApiError {
                kind: ErrorKind::from_status(status),
                message,
            }
        }
    }
}

pub(crate) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn get_u64(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
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

// ---------------------------------------------------------------- streams

#[derive(Debug)]
enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAi(openai_chat::StreamDecoder),
}

#[derive(Debug)]
enum Encoder {
    Anthropic(anthropic::StreamEncoder),
    OpenAi(openai_chat::StreamEncoder),
}

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
        match &mut self.decoder {
            Decoder::Anthropic(d) => d.decode(data, &mut self.events),
            Decoder::OpenAi(d) => d.decode(data, &mut self.events),
        }
        for ev in &self.events {
            match &mut self.encoder {
                Encoder::Anthropic(e) => e.encode(ev, out),
                Encoder::OpenAi(e) => e.encode(ev, out),
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Bytes>) {
        match &mut self.encoder {
            Encoder::Anthropic(e) => e.finish(out),
            Encoder::OpenAi(e) => e.finish(out),
        }
    }
}

/// Incremental SSE translation from the upstream's dialect to the client's. Bytes may
/// arrive in arbitrary chunks; every input event that completes yields its output
/// frames from that same [`push`](Self::push). Each input byte is scanned once.
///
/// Same-dialect (and unsupported, see [`supports`]) pairs pass bytes through unchanged.
#[derive(Debug)]
pub struct StreamTranslator {
    parser: sse::SseParser,
    pipeline: Option<Pipeline>,
}

impl StreamTranslator {
    pub fn new(from: Dialect, to: Dialect, client_model: &str) -> Self {
        let decoder = match from {
            Dialect::Anthropic => Some(Decoder::Anthropic(anthropic::StreamDecoder::default())),
            Dialect::OpenAiChat => Some(Decoder::OpenAi(openai_chat::StreamDecoder::default())),
            Dialect::Gemini => None,
        };
        let encoder = match to {
            Dialect::Anthropic => Some(Encoder::Anthropic(anthropic::StreamEncoder::new(
                client_model,
            ))),
            Dialect::OpenAiChat => Some(Encoder::OpenAi(openai_chat::StreamEncoder::new(
                client_model,
                false,
            ))),
            Dialect::Gemini => None,
        };
        let pipeline = match (decoder, encoder) {
            (Some(decoder), Some(encoder)) if from != to => Some(Pipeline {
                decoder,
                encoder,
                events: Vec::new(),
            }),
            _ => None,
        };
        StreamTranslator {
            parser: sse::SseParser::default(),
            pipeline,
        }
    }

    /// For OpenAI clients that sent `stream_options.include_usage: true`: usage goes in a
    /// separate final chunk with empty `choices` (as OpenAI does). Without it, usage
    /// rides on the `finish_reason` chunk, which every SDK tolerates.
    pub fn with_include_usage(mut self, include: bool) -> Self {
        if let Some(Pipeline {
            encoder: Encoder::OpenAi(e),
            ..
        }) = &mut self.pipeline
        {
            e.set_include_usage(include);
        }
        self
    }

    /// Whether this translator rewrites frames (false: bytes pass through).
    pub fn is_translating(&self) -> bool {
        self.pipeline.is_some()
    }

    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        let Some(pipeline) = &mut self.pipeline else {
            return if chunk.is_empty() {
                Vec::new()
            } else {
                vec![Bytes::copy_from_slice(chunk)]
            };
        };
        let mut out = Vec::new();
        self.parser
            .feed(chunk, &mut |_event, data| pipeline.event(data, &mut out));
        out
    }

    pub fn finish(&mut self) -> Vec<Bytes> {
        let Some(pipeline) = &mut self.pipeline else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.parser
            .finish(&mut |_event, data| pipeline.event(data, &mut out));
        pipeline.finish(&mut out);
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
    fn rewrite_keeps_other_fields_in_order() {
        let b = Bytes::from_static(br#"{"a":1,"model":"alias","z":[1]}"#);
        let out = rewrite_model(&b, "up/name").unwrap();
        assert_eq!(&out[..], br#"{"a":1,"model":"up/name","z":[1]}"#);
    }
}
