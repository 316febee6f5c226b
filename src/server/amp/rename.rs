//! A mapped Amp call answers under the model Amp asked for: Amp matches answers to its
//! own model names, so the `to` of a mapping must not leak into the answer. As in
//! CLIProxyAPI's `ResponseRewriter`, the model fields (`model`, `modelVersion`,
//! `response.modelVersion`, `message.model`) of a JSON answer and of every stream
//! event get the asked name; nothing else changes. Streams stay streams: each complete
//! line goes out as soon as its newline arrives.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http::header;
use serde_json::Value;

use crate::translate::gemini::{ArrayFramer, JsonArraySplitter};

/// Where a model name sits in the answers of the dialects Amp uses (Anthropic's
/// `message_start` nests it in `message`, Gemini CLI envelopes in `response`).
const MODEL_FIELDS: &[&[&str]] = &[
    &["model"],
    &["modelVersion"],
    &["response", "modelVersion"],
    &["message", "model"],
];

/// Largest whole answer held for rewriting; a larger one goes out unchanged.
const MAX_BODY: usize = 8 << 20;
/// Longest stream line held while waiting for its newline; a longer one goes out as is.
const MAX_LINE: usize = 1 << 20;

/// The model fields of one JSON document (or of each item of an array) set to `asked`.
/// Only string fields that exist are changed. `None` when nothing changed.
pub fn rewrite_json(doc: &[u8], asked: &str) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(doc).ok()?;
    let changed = match &mut v {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, item| set_model(item, asked) | acc),
        other => set_model(other, asked),
    };
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok()
}

fn set_model(v: &mut Value, asked: &str) -> bool {
    let mut changed = false;
    for path in MODEL_FIELDS {
        let mut at = Some(&mut *v);
        for key in *path {
            at = at.and_then(|x| x.get_mut(*key));
        }
        if let Some(slot @ Value::String(_)) = at
            && slot.as_str() != Some(asked)
        {
            *slot = Value::String(asked.to_string());
            changed = true;
        }
    }
    changed
}

/// One stream line: a `data:` line holding a JSON object gets its model fields set.
fn rewrite_line(line: &[u8], asked: &str, out: &mut Vec<u8>) {
    let body = line.strip_suffix(b"\r").unwrap_or(line);
    let cr = body.len() != line.len();
    if let Some(data) = body.strip_prefix(b"data:") {
        let pad = data.len() - data.trim_ascii_start().len();
        let json = &data[pad..];
        // Content deltas are the bulk of a stream: skip those naming no model unparsed.
        if json.first() == Some(&b'{')
            && json.windows(4).any(|w| w == b"odel")
            && let Some(new) = rewrite_json(json, asked)
        {
            out.extend_from_slice(b"data:");
            out.extend_from_slice(&data[..pad]);
            out.extend_from_slice(&new);
            if cr {
                out.push(b'\r');
            }
            return;
        }
    }
    out.extend_from_slice(line);
}

enum Mode {
    /// An event stream, rewritten line by line.
    Lines,
    /// One JSON answer, held until its end.
    Whole,
    /// A Gemini stream read without `alt=sse`: one JSON array written element by
    /// element, each rewritten as soon as it is complete.
    Array(JsonArraySplitter, ArrayFramer),
    /// Too big to hold: handed on unchanged.
    Through,
}

struct Rename {
    inner: axum::body::BodyDataStream,
    asked: String,
    mode: Mode,
    buf: Vec<u8>,
    ended: bool,
}

impl Rename {
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        match self.mode {
            Mode::Through => chunk.to_vec(),
            Mode::Whole => {
                if self.buf.len() + chunk.len() > MAX_BODY {
                    tracing::warn!(
                        "a mapped Amp answer is over {MAX_BODY} bytes: its model name is left as the upstream wrote it"
                    );
                    self.mode = Mode::Through;
                    let mut out = std::mem::take(&mut self.buf);
                    out.extend_from_slice(chunk);
                    return out;
                }
                self.buf.extend_from_slice(chunk);
                Vec::new()
            }
            Mode::Array(ref mut split, ref mut frame) => {
                let asked = &self.asked;
                let mut parts = Vec::new();
                split.feed(chunk, &mut |item: &str| {
                    let item = rewrite_json(item.as_bytes(), asked)
                        .and_then(|b| String::from_utf8(b).ok())
                        .unwrap_or_else(|| item.to_string());
                    frame.item(&item, &mut parts);
                });
                parts.concat()
            }
            Mode::Lines => {
                self.buf.extend_from_slice(chunk);
                let mut out = Vec::with_capacity(self.buf.len() + 32);
                let Some(last_nl) = self.buf.iter().rposition(|b| *b == b'\n') else {
                    if self.buf.len() > MAX_LINE {
                        out = std::mem::take(&mut self.buf);
                    }
                    return out;
                };
                let rest = self.buf.split_off(last_nl + 1);
                for line in self.buf.split_inclusive(|b| *b == b'\n') {
                    let bare = line.strip_suffix(b"\n").unwrap_or(line);
                    rewrite_line(bare, &self.asked, &mut out);
                    if bare.len() != line.len() {
                        out.push(b'\n');
                    }
                }
                self.buf = rest;
                out
            }
        }
    }

    fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.buf);
        match self.mode {
            Mode::Through => held,
            Mode::Whole => rewrite_json(&held, &self.asked).unwrap_or(held),
            Mode::Array(_, ref mut frame) => {
                let mut parts = Vec::new();
                frame.finish(&mut parts);
                parts.concat()
            }
            Mode::Lines => {
                let mut out = Vec::with_capacity(held.len());
                rewrite_line(&held, &self.asked, &mut out);
                out
            }
        }
    }
}

impl Stream for Rename {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The inner body has ended: it must not be polled again.
        if self.ended {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = self.push(&chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    self.ended = true;
                    let out = self.finish();
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// `resp` (a successful answer to a mapped call) with its model fields set to `asked`.
/// `json_array`: a Gemini stream framed as one JSON array. Error answers are left
/// alone: they are the gateway's or the provider's own words.
pub fn answer_as(resp: Response, asked: &str, json_array: bool) -> Response {
    if !resp.status().is_success() {
        return resp;
    }
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (mut parts, body) = resp.into_parts();
    // The length changes with the name.
    parts.headers.remove(header::CONTENT_LENGTH);
    let rename = Rename {
        inner: body.into_data_stream(),
        asked: asked.to_string(),
        mode: if sse {
            Mode::Lines
        } else if json_array {
            Mode::Array(JsonArraySplitter::default(), ArrayFramer::default())
        } else {
            Mode::Whole
        },
        buf: Vec::new(),
        ended: false,
    };
    Response::from_parts(parts, Body::from_stream(rename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_fields_of_every_dialect_take_the_asked_name() {
        let table: &[(&str, Option<&str>)] = &[
            (
                r#"{"id":"m","type":"message","model":"claude-haiku","content":[]}"#,
                Some(r#"{"id":"m","type":"message","model":"amp-model","content":[]}"#),
            ),
            (
                r#"{"type":"message_start","message":{"id":"m","model":"claude-haiku"}}"#,
                Some(r#"{"type":"message_start","message":{"id":"m","model":"amp-model"}}"#),
            ),
            (
                r#"{"object":"chat.completion.chunk","model":"gpt-local","choices":[]}"#,
                Some(r#"{"object":"chat.completion.chunk","model":"amp-model","choices":[]}"#),
            ),
            (
                r#"{"candidates":[],"modelVersion":"gemini-local"}"#,
                Some(r#"{"candidates":[],"modelVersion":"amp-model"}"#),
            ),
            (
                r#"{"response":{"modelVersion":"gemini-local"}}"#,
                Some(r#"{"response":{"modelVersion":"amp-model"}}"#),
            ),
            (
                r#"[{"modelVersion":"g"},{"candidates":[]},{"modelVersion":"g"}]"#,
                Some(
                    r#"[{"modelVersion":"amp-model"},{"candidates":[]},{"modelVersion":"amp-model"}]"#,
                ),
            ),
            // No model field, a non-string one, the name already right, not JSON: unchanged.
            (
                r#"{"type":"content_block_delta","delta":{"text":"model"}}"#,
                None,
            ),
            (r#"{"model":{"id":"x"}}"#, None),
            (r#"{"model":"amp-model"}"#, None),
            ("not json", None),
        ];
        for (doc, want) in table {
            let got = rewrite_json(doc.as_bytes(), "amp-model");
            assert_eq!(
                got.as_deref().map(|b| std::str::from_utf8(b).unwrap()),
                *want,
                "{doc}"
            );
        }
    }

    fn run(mode: Mode, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut r = Rename {
            inner: Body::empty().into_data_stream(),
            asked: "amp-model".into(),
            mode,
            buf: Vec::new(),
            ended: false,
        };
        let outs: Vec<Vec<u8>> = chunks.iter().map(|c| r.push(c)).collect();
        let tail = r.finish();
        (outs, tail)
    }

    #[test]
    fn stream_lines_are_rewritten_as_soon_as_they_are_complete() {
        let start = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku\"}}\n\n";
        let delta = b"event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\r\n\r\n";
        // The start event split mid-line: nothing goes out until its newline.
        let (outs, tail) = run(Mode::Lines, &[&start[..40], &start[40..], delta]);
        assert_eq!(outs[0], b"event: message_start\n");
        assert_eq!(
            outs[1],
            b"data: {\"type\":\"message_start\",\"message\":{\"model\":\"amp-model\"}}\n\n"
        );
        assert_eq!(outs[2], delta, "lines naming no model pass unchanged");
        assert!(tail.is_empty());
        // A last line without its newline is rewritten at the end.
        let (outs, tail) = run(Mode::Lines, &[b"data:{\"model\":\"x\"}"]);
        assert!(outs[0].is_empty());
        assert_eq!(tail, b"data:{\"model\":\"amp-model\"}");
    }

    #[tokio::test]
    async fn the_inner_body_is_never_polled_after_its_end() {
        use futures_util::StreamExt;
        // `unfold` panics when polled after it ended, as the proxy's stream bodies do.
        let inner = futures_util::stream::unfold(0, |n| async move {
            (n < 2).then(|| {
                let chunk = if n == 0 { "{\"model\":" } else { "\"x\"}" };
                (Ok::<_, std::io::Error>(Bytes::from(chunk)), n + 1)
            })
        });
        let resp = Response::new(Body::from_stream(inner));
        let out = answer_as(resp, "amp-model", false).into_body();
        let mut s = out.into_data_stream();
        let mut all = Vec::new();
        while let Some(c) = s.next().await {
            all.extend_from_slice(&c.unwrap());
        }
        assert_eq!(all, b"{\"model\":\"amp-model\"}");
        assert!(s.next().await.is_none());
    }

    #[test]
    fn json_array_streams_go_out_element_by_element() {
        let mode = Mode::Array(JsonArraySplitter::default(), ArrayFramer::default());
        let (outs, tail) = run(
            mode,
            &[
                b"[{\"candidates\":[],\"modelVersion\":\"g\"}",
                b"\r\n,{\"candidates\":[{\"text\":\"a]}\"}],\"model",
                b"Version\":\"g\"}\r\n]",
            ],
        );
        assert_eq!(
            outs[0],
            b"[{\"candidates\":[],\"modelVersion\":\"amp-model\"}"
        );
        assert!(outs[1].is_empty(), "an element is sent once complete");
        assert_eq!(
            outs[2],
            b"\r\n,{\"candidates\":[{\"text\":\"a]}\"}],\"modelVersion\":\"amp-model\"}"
        );
        assert_eq!(tail, b"]");
    }

    #[test]
    fn whole_answers_are_held_to_their_end_and_huge_ones_pass_unchanged() {
        let (outs, tail) = run(Mode::Whole, &[b"{\"model\":", b"\"gpt-local\"}"]);
        assert!(outs.iter().all(Vec::is_empty));
        assert_eq!(tail, b"{\"model\":\"amp-model\"}");

        let big = vec![b' '; MAX_BODY];
        let (outs, tail) = run(Mode::Whole, &[b"{\"model\":\"x\",", &big, b"}"]);
        assert_eq!(outs[0], b"");
        assert_eq!(
            outs[1].len(),
            MAX_BODY + 13,
            "held bytes go out with the chunk"
        );
        assert_eq!(outs[2], b"}");
        assert!(tail.is_empty());
    }
}
