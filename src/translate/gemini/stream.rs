//! Streams. Upstream: `streamGenerateContent?alt=sse` sends one `data: <json>` per
//! chunk, blank-line separated (`\r\n\r\n`), no `event:` lines and no `[DONE]`; the
//! stream ends when the connection closes. Cloud Code wraps each chunk in
//! `{"response": …}`. Without `alt=sse` the answer is one JSON array written
//! progressively (`[{…}\r\n,{…}]`), split by [`JsonArraySplitter`].

use bytes::Bytes;
use serde::Serialize;

use super::super::ir::{ApiError, ErrorKind, Event, StopReason, Usage};
use super::envelope::inner_slice;
use super::parts::{CallIds, call_args, real_signature, response_call_prefix};
use super::response::{
    api_error, error_body, finish_name, response_id, stop_of, usage_from, usage_to,
};
use super::wire;

/// Gemini chunks (SSE `data` payloads or JSON-array elements) → IR events.
#[derive(Debug)]
pub struct StreamDecoder {
    started: bool,
    ids: CallIds,
    calls: usize,
    finished: bool,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder {
            started: false,
            ids: CallIds::new(response_call_prefix("")),
            calls: 0,
            finished: false,
        }
    }
}

impl StreamDecoder {
    /// One chunk. Data that is not a Gemini chunk is ignored, as the other decoders do.
    pub fn decode(&mut self, data: &str, out: &mut Vec<Event>) {
        let inner = inner_slice(data.as_bytes());
        let Ok(w) = serde_json::from_slice::<wire::GenerateContentResponse>(inner) else {
            return;
        };
        if let Some(e) = &w.error {
            out.push(Event::Error(api_error(e, 500)));
            return;
        }
        if !self.started {
            self.started = true;
            let id = w.response_id.clone().unwrap_or_default();
            self.ids = CallIds::new(response_call_prefix(&id));
            out.push(Event::Start {
                id,
                model: w.model_version.clone().unwrap_or_default(),
            });
        }
        let blocked = w
            .prompt_feedback
            .as_ref()
            .is_some_and(|f| f.block_reason.is_some());
        let mut finish = None;
        if let Some(c) = w.candidates.into_iter().next() {
            for p in c.content.map(|c| c.parts).unwrap_or_default() {
                self.part(p, out);
            }
            finish = c.finish_reason;
        }
        if let Some(u) = &w.usage_metadata {
            out.push(Event::Usage(usage_from(u)));
        }
        if !self.finished
            && let Some(s) = stop_of(finish.as_deref(), blocked, self.calls > 0)
        {
            self.finished = true;
            out.push(Event::Finish(s));
        }
    }

    fn part(&mut self, p: wire::Part, out: &mut Vec<Event>) {
        let sig = real_signature(p.thought_signature.as_deref()).map(str::to_string);
        if p.thought {
            if let Some(t) = p.text.filter(|t| !t.is_empty()) {
                out.push(Event::Thinking(t));
            }
            if let Some(s) = sig {
                out.push(Event::Signature(s));
            }
            return;
        }
        // A signature on a visible part signs the thoughts before it.
        if let Some(s) = sig {
            out.push(Event::Signature(s));
        }
        if let Some(fc) = p.function_call {
            let index = self.calls;
            self.calls += 1;
            out.push(Event::ToolStart {
                index,
                id: self.ids.id_for(fc.id.as_deref()),
                name: fc.name,
            });
            let fragment = fc
                .args
                .as_ref()
                .map_or_else(|| "{}".to_string(), |a| call_args(a).to_string());
            out.push(Event::ToolArgs { index, fragment });
        } else if let Some(t) = p.text.filter(|t| !t.is_empty()) {
            out.push(Event::Text(t));
        }
    }

    /// Upstream EOF. Gemini has no end marker: a stream that delivered a finish reason
    /// is complete; one that did not was cut short (the encoder reports that).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.finished {
            out.push(Event::Done);
        }
    }
}

/// How a Gemini client asked to receive its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `alt=sse`: `data: <json>\r\n\r\n` per chunk.
    Sse,
    /// No `alt`: one JSON array, elements written as they come.
    JsonArray,
}

/// Arguments larger than this are not buffered further (a broken upstream).
const MAX_CALL_ARGS: usize = 16 << 20;

#[derive(Debug)]
struct OpenCall {
    id: String,
    name: String,
    args: String,
    signature: Option<String>,
}

/// IR events → Gemini stream chunks for a Gemini client.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    id: String,
    framing: Framing,
    sent: usize,
    /// A thought signature waiting for the next visible part (where Gemini puts it).
    signature: Option<String>,
    /// Gemini sends a call whole, so argument fragments are collected first.
    call: Option<OpenCall>,
    usage: Usage,
    stop: Option<StopReason>,
    finished: bool,
}

fn text_part(text: &str, thought: bool, signature: Option<String>) -> wire::Part {
    wire::Part {
        text: Some(text.to_string()),
        thought,
        thought_signature: signature,
        ..wire::Part::default()
    }
}

impl StreamEncoder {
    pub fn new(client_model: &str, framing: Framing) -> Self {
        StreamEncoder {
            model: client_model.to_string(),
            id: String::new(),
            framing,
            sent: 0,
            signature: None,
            call: None,
            usage: Usage::default(),
            stop: None,
            finished: false,
        }
    }

    /// How the client reads the stream (set before the first event).
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    fn frame<T: Serialize>(&mut self, v: &T, out: &mut Vec<Bytes>) {
        let json = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
        let mut buf = Vec::with_capacity(json.len() + 10);
        match self.framing {
            Framing::Sse => {
                buf.extend_from_slice(b"data: ");
                buf.extend_from_slice(&json);
                buf.extend_from_slice(b"\r\n\r\n");
            }
            Framing::JsonArray => {
                buf.extend_from_slice(if self.sent == 0 { b"[" } else { b"\r\n," });
                buf.extend_from_slice(&json);
            }
        }
        self.sent += 1;
        out.push(Bytes::from(buf));
    }

    fn chunk(&mut self, parts: Vec<wire::Part>, finish: Option<&StopReason>, out: &mut Vec<Bytes>) {
        if self.id.is_empty() {
            self.id = response_id("");
        }
        let w = wire::GenerateContentResponse {
            candidates: vec![wire::Candidate {
                content: (!parts.is_empty()).then(|| wire::Content {
                    role: Some("model".into()),
                    parts,
                }),
                finish_reason: finish.map(|s| finish_name(s).to_string()),
                index: Some(0),
            }],
            usage_metadata: finish
                .filter(|_| !self.usage.is_empty())
                .map(|_| usage_to(&self.usage)),
            model_version: Some(self.model.clone()),
            response_id: Some(self.id.clone()),
            ..wire::GenerateContentResponse::default()
        };
        self.frame(&w, out);
    }

    fn flush_call(&mut self, out: &mut Vec<Bytes>) {
        let Some(c) = self.call.take() else {
            return;
        };
        let args = serde_json::from_str::<serde_json::Value>(&c.args)
            .map(|a| call_args(&a))
            .unwrap_or_else(|_| serde_json::json!({}));
        let part = wire::Part {
            function_call: Some(wire::FunctionCall {
                id: Some(c.id).filter(|i| !i.is_empty()),
                name: c.name,
                args: Some(args),
            }),
            thought_signature: c.signature,
            ..wire::Part::default()
        };
        self.chunk(vec![part], None, out);
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        self.finished = true;
        if self.framing == Framing::JsonArray {
            out.push(Bytes::from_static(if self.sent == 0 {
                b"[]"
            } else {
                b"]"
            }));
        }
    }

    fn end(&mut self, out: &mut Vec<Bytes>) {
        self.flush_call(out);
        let parts: Vec<wire::Part> = self
            .signature
            .take()
            .map(|s| text_part("", false, Some(s)))
            .into_iter()
            .collect();
        let stop = self.stop.clone().unwrap_or(StopReason::EndTurn);
        self.chunk(parts, Some(&stop), out);
        self.close(out);
    }

    pub fn encode(&mut self, ev: &Event, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        match ev {
            Event::Start { id, .. } => {
                if self.id.is_empty() {
                    self.id = id.clone();
                }
            }
            Event::Text(t) => {
                if t.is_empty() {
                    return;
                }
                self.flush_call(out);
                let part = text_part(t, false, self.signature.take());
                self.chunk(vec![part], None, out);
            }
            Event::Thinking(t) => {
                if t.is_empty() {
                    return;
                }
                self.flush_call(out);
                let mut parts = Vec::with_capacity(2);
                if let Some(s) = self.signature.take() {
                    parts.push(text_part("", false, Some(s)));
                }
                parts.push(text_part(t, true, None));
                self.chunk(parts, None, out);
            }
            Event::Signature(s) => {
                self.flush_call(out);
                if let Some(old) = self.signature.replace(s.clone()) {
                    self.chunk(vec![text_part("", false, Some(old))], None, out);
                }
            }
            Event::ToolStart { id, name, .. } => {
                self.flush_call(out);
                self.call = Some(OpenCall {
                    id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                    signature: self.signature.take(),
                });
            }
            Event::ToolArgs { fragment, .. } => {
                if let Some(c) = &mut self.call
                    && c.args.len() + fragment.len() <= MAX_CALL_ARGS
                {
                    c.args.push_str(fragment);
                }
            }
            Event::Usage(u) => self.usage.merge(u),
            Event::Finish(s) => {
                self.flush_call(out);
                self.stop = Some(s.clone());
            }
            Event::Done => self.end(out),
            Event::Error(e) => self.error(e, out),
        }
    }

    /// An error in the stream; ends it (a JSON-array stream gets its closing `]`).
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        self.flush_call(out);
        let body = wire::ErrorEnvelope {
            error: error_body(e),
        };
        self.frame(&body, out);
        self.close(out);
    }

    /// Upstream EOF.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        if self.stop.is_some() {
            self.end(out);
        } else {
            self.error(&crate::translate::truncated_stream(), out);
        }
    }
}

/// Re-frames a Gemini SSE stream as the JSON array a client without `alt=sse` reads:
/// each `data:` payload becomes one element, passed on unchanged.
#[derive(Debug, Default)]
pub struct ArrayFramer {
    sent: usize,
    closed: bool,
}

impl ArrayFramer {
    /// One SSE `data:` payload.
    pub fn item(&mut self, data: &str, out: &mut Vec<Bytes>) {
        let data = data.trim();
        if self.closed || data.is_empty() || data == "[DONE]" {
            return;
        }
        let mut buf = Vec::with_capacity(data.len() + 3);
        buf.extend_from_slice(if self.sent == 0 { b"[" } else { b"\r\n," });
        buf.extend_from_slice(data.as_bytes());
        self.sent += 1;
        out.push(Bytes::from(buf));
    }

    /// Upstream EOF: closes the array.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        if !self.closed {
            self.closed = true;
            out.push(Bytes::from_static(if self.sent == 0 {
                b"[]"
            } else {
                b"]"
            }));
        }
    }
}

/// Elements larger than this end the stream with an error (bounded buffering).
const MAX_ELEMENT: usize = 64 << 20;

/// Splits a progressively written JSON array (`[{…},{…}]`) into its elements, whatever
/// the chunking. Each byte is looked at once; only the current element is buffered.
#[derive(Debug, Default)]
pub struct JsonArraySplitter {
    element: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    opened: bool,
    /// The array closed, or an element grew past [`MAX_ELEMENT`].
    done: bool,
}

impl JsonArraySplitter {
    /// Calls `on_item` with every element the chunk completes.
    pub fn feed(&mut self, chunk: &[u8], on_item: &mut impl FnMut(&str)) {
        for &b in chunk {
            if self.done {
                return;
            }
            if !self.opened {
                self.opened = b == b'[';
                continue;
            }
            if self.depth == 0 {
                match b {
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.element.push(b);
                    }
                    b']' => self.done = true,
                    _ => {} // separators and whitespace
                }
                continue;
            }
            self.element.push(b);
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            on_item(&String::from_utf8_lossy(&self.element));
                            self.element.clear();
                        }
                    }
                    _ => {}
                }
            }
            if self.element.len() > MAX_ELEMENT {
                self.done = true;
                self.element = Vec::new();
                let e = wire::ErrorEnvelope {
                    error: error_body(&ApiError::new(
                        ErrorKind::Api,
                        format!("upstream stream element exceeds {MAX_ELEMENT} bytes"),
                    )),
                };
                on_item(&serde_json::to_string(&e).unwrap_or_default());
            }
        }
    }
}
