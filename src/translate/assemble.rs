//! Whole answers from streams, for clients that asked for one from an upstream that
//! only streams.

use bytes::Bytes;

use super::dispatch::{Decoder, emit_response};
use super::ir::{self, ApiError, ErrorKind, Event};
use super::{Dialect, responses, sse, truncated_stream};

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
pub(super) mod tests {
    use super::*;

    pub(in crate::translate) const GEMINI_CHUNKS: &[&str] = &[
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me ","thought":true}]}}],"responseId":"r1","modelVersion":"gemini-3-pro-high"}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}]}"#,
        r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"},{"functionCall":{"name":"ls","args":{"dir":"."}},"thoughtSignature":"sig"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":3,"totalTokenCount":10}}"#,
    ];

    pub(in crate::translate) fn gemini_sse() -> Vec<u8> {
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
}
