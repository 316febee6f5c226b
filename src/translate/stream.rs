//! Incremental stream translation: upstream SSE in one dialect → client frames in another.

use bytes::Bytes;

use super::dispatch::{Decoder, Encoder, stream_error};
use super::ir::{ApiError, Event};
use super::{Dialect, gemini, responses, sse, supports};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::assemble::tests::{GEMINI_CHUNKS, gemini_sse};

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
