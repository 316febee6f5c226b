//! One `match` per operation of the per-dialect interface (see the module docs of
//! [`super`]): adding a dialect adds one arm to each.

use bytes::Bytes;

use super::ir::{self, ApiError, Event};
use super::{Dialect, TranslateError, anthropic, completions, gemini, openai_chat, responses};

pub(super) fn parse_request(d: Dialect, body: &[u8]) -> Result<ir::Request, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_request(body),
        Dialect::OpenAiChat => openai_chat::parse_request(body),
        Dialect::Responses => responses::parse_request(body),
        Dialect::Completions => completions::parse_request(body),
        Dialect::Gemini => gemini::parse_request(body),
    }
}

pub(super) fn emit_request(d: Dialect, r: &ir::Request) -> Result<Bytes, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::emit_request(r),
        Dialect::OpenAiChat => openai_chat::emit_request(r),
        Dialect::Responses => responses::emit_request(r),
        Dialect::Completions => completions::emit_request(r),
        Dialect::Gemini => gemini::emit_request(r),
    }
}

pub(super) fn parse_response(d: Dialect, body: &[u8]) -> Result<ir::Response, TranslateError> {
    match d {
        Dialect::Anthropic => anthropic::parse_response(body),
        Dialect::OpenAiChat => openai_chat::parse_response(body),
        Dialect::Responses => responses::parse_response(body),
        Dialect::Completions => completions::parse_response(body),
        Dialect::Gemini => gemini::parse_response(body),
    }
}

pub(super) fn emit_response(d: Dialect, r: &ir::Response, client_model: &str) -> Bytes {
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
pub(super) enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAiChat(openai_chat::StreamDecoder),
    Gemini(gemini::StreamDecoder),
    Responses(responses::StreamDecoder),
    Completions(completions::StreamDecoder),
}

impl Decoder {
    pub(super) fn new(d: Dialect) -> Option<Self> {
        match d {
            Dialect::Anthropic => Some(Decoder::Anthropic(Default::default())),
            Dialect::OpenAiChat => Some(Decoder::OpenAiChat(Default::default())),
            Dialect::Responses => Some(Decoder::Responses(Default::default())),
            Dialect::Completions => Some(Decoder::Completions(Default::default())),
            Dialect::Gemini => Some(Decoder::Gemini(Default::default())),
        }
    }

    pub(super) fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        match self {
            Decoder::Anthropic(d) => d.decode(data, out),
            Decoder::OpenAiChat(d) => d.decode(data, out),
            Decoder::Gemini(d) => d.decode(data, out),
            Decoder::Responses(d) => d.decode(data, out),
            Decoder::Completions(d) => d.decode(data, out),
        }
    }

    pub(super) fn finish(&mut self, out: &mut Vec<Event>) {
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
pub(super) enum Encoder {
    Anthropic(anthropic::StreamEncoder),
    OpenAiChat(openai_chat::StreamEncoder),
    Gemini(gemini::StreamEncoder),
    Responses(responses::StreamEncoder),
    Completions(completions::StreamEncoder),
}

impl Encoder {
    pub(super) fn new(d: Dialect, client_model: &str) -> Option<Self> {
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

    pub(super) fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.encode(ev, out),
            Encoder::OpenAiChat(e) => e.encode(ev, out),
            Encoder::Responses(e) => e.encode(ev, out),
            Encoder::Completions(e) => e.encode(ev, out),
            Encoder::Gemini(e) => e.encode(ev, out),
        }
    }

    pub(super) fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(enc) => enc.error(e, out),
            Encoder::OpenAiChat(enc) => enc.error(e, out),
            Encoder::Responses(enc) => enc.error(e, out),
            Encoder::Completions(enc) => enc.error(e, out),
            Encoder::Gemini(enc) => enc.error(e, out),
        }
    }

    pub(super) fn finish(&mut self, out: &mut Vec<Bytes>) {
        match self {
            Encoder::Anthropic(e) => e.finish(out),
            Encoder::OpenAiChat(e) => e.finish(out),
            Encoder::Gemini(e) => e.finish(out),
            Encoder::Responses(e) => e.finish(out),
            Encoder::Completions(e) => e.finish(out),
        }
    }
}
