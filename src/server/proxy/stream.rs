//! The client body of a committed stream: upstream chunks with the provider's envelope
//! taken off and the dialect translated where needed, chunks that arrived together
//! joined into one write, and a failure after the first byte ended with an error
//! event in the client's dialect.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Frame;

use crate::providers::envelope::SseUnwrap;
use crate::providers::joined::Joined;
use crate::translate::ir::{ApiError, ErrorKind};
use crate::translate::{self, Dialect, StreamTranslator};

/// Upstream chunks → client bytes: the provider's envelope off, then the dialect
/// translated. Both absent (the common case) hands each chunk on untouched.
pub struct Reframe {
    pub unwrap: Option<SseUnwrap>,
    pub translate: Option<StreamTranslator>,
}

impl Reframe {
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        let chunk = match &mut self.unwrap {
            Some(u) => u.push(&chunk),
            None => chunk,
        };
        match &mut self.translate {
            Some(t) if !chunk.is_empty() => Joined::all(t.push(&chunk)),
            Some(_) => Bytes::new(),
            None => chunk,
        }
    }

    /// A failure after the first byte, in the client's dialect (through the
    /// translator, which closes what it opened).
    fn error(&mut self, dialect: Dialect, message: &str) -> Bytes {
        let e = ApiError::new(ErrorKind::Api, message);
        match &mut self.translate {
            Some(t) => Joined::all(t.error(&e)),
            None => translate::stream_error(dialect, &e),
        }
    }

    fn finish(&mut self) -> Bytes {
        let tail = self
            .unwrap
            .as_mut()
            .map(SseUnwrap::finish)
            .unwrap_or_default();
        let Some(t) = &mut self.translate else {
            return tail;
        };
        let mut out = Joined::default();
        if !tail.is_empty() {
            for f in t.push(&tail) {
                out.push(f);
            }
        }
        for f in t.finish() {
            out.push(f);
        }
        out.into_bytes()
    }
}

/// Chunks ready together go out in one write (never waiting for more): same latency,
/// far fewer syscalls when the upstream is faster than the client.
const BATCH: usize = 64;

/// The client body after the commit: `head` (the first chunk, reframed), then the rest.
/// A failure after the first byte ends the stream with an error event in the
/// client's dialect (the status line is already sent). Without reframing the
/// upstream's body is handed on frame by frame ([`Passed`]); hyper's writer joins
/// the frames that are ready together into one write.
pub fn stream_body(head: Bytes, rest: Body, reframe: Reframe, dialect: Dialect) -> Body {
    if reframe.unwrap.is_none() && reframe.translate.is_none() {
        return Body::new(Passed {
            head: (!head.is_empty()).then_some(head),
            rest: Some(rest),
            dialect,
        });
    }
    let batches = rest.into_data_stream().ready_chunks(BATCH);
    let rest = futures_util::stream::unfold(Some((batches, reframe)), move |st| async move {
        let (mut batches, mut reframe) = st?;
        loop {
            let Some(batch) = batches.next().await else {
                let tail = reframe.finish();
                return (!tail.is_empty()).then_some((Ok(tail), None));
            };
            let mut out = Joined::default();
            for item in batch {
                match item {
                    Ok(chunk) => out.push(reframe.push(chunk)),
                    Err(e) => {
                        tracing::warn!(error = %e, "upstream stream broke after first byte");
                        out.push(reframe.error(dialect, INTERRUPTED));
                        return Some((Ok(out.into_bytes()), None));
                    }
                }
            }
            let bytes = out.into_bytes();
            if !bytes.is_empty() {
                return Some((Ok::<Bytes, std::io::Error>(bytes), Some((batches, reframe))));
            }
        }
    });
    let head = (!head.is_empty()).then_some(Ok(head));
    Body::from_stream(futures_util::stream::iter(head).chain(rest))
}

const INTERRUPTED: &str = "upstream stream interrupted";

/// A pass-through stream: the first chunk (already read), then the upstream's frames as
/// they come; a failure ends it with an error event in the client's dialect.
struct Passed {
    head: Option<Bytes>,
    /// `None` once ended.
    rest: Option<Body>,
    dialect: Dialect,
}

impl http_body::Body for Passed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let Some(rest) = self.rest.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => {
                self.rest = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!(error = %e, "upstream stream broke after first byte");
                self.rest = None;
                let event = translate::stream_error(
                    self.dialect,
                    &ApiError::new(ErrorKind::Api, INTERRUPTED),
                );
                Poll::Ready(Some(Ok(Frame::data(event))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_piece_is_handed_on_without_a_copy_and_several_are_joined() {
        let a = Bytes::from_static(b"data: 1\n\n");
        let mut j = Joined::default();
        j.push(Bytes::new());
        j.push(a.clone());
        let one = j.into_bytes();
        assert_eq!(one.as_ptr(), a.as_ptr(), "no copy for a single chunk");
        let joined = Joined::all(vec![
            a.clone(),
            Bytes::new(),
            Bytes::from_static(b"data: 2\n\n"),
        ]);
        assert_eq!(&joined[..], b"data: 1\n\ndata: 2\n\n");
        assert!(Joined::all(Vec::new()).is_empty());
    }

    const ANTHROPIC_EVENTS: &[&str] = &[
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":3,"output_tokens":0}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
        r#"{"type":"message_stop"}"#,
    ];

    fn sse(wrap: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for data in ANTHROPIC_EVENTS {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            let data = if wrap {
                format!(r#"{{"response":{data},"traceId":"t"}}"#)
            } else {
                data.to_string()
            };
            out.extend_from_slice(
                format!("event: {}\ndata: {data}\n\n", v["type"].as_str().unwrap()).as_bytes(),
            );
        }
        out
    }

    /// The client's `data:` payloads, without the clock-dependent `created`.
    fn payloads(bytes: &[u8]) -> Vec<serde_json::Value> {
        std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| {
                let mut v: serde_json::Value = serde_json::from_str(d).unwrap_or_else(|_| d.into());
                if let Some(o) = v.as_object_mut() {
                    o.remove("created");
                }
                v
            })
            .collect()
    }

    fn run(mut r: Reframe, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            out.extend_from_slice(&r.push(Bytes::copy_from_slice(c)));
        }
        out.extend_from_slice(&r.finish());
        out
    }

    fn translator() -> Option<StreamTranslator> {
        Some(StreamTranslator::new(
            Dialect::Anthropic,
            Dialect::OpenAiChat,
            "client-model",
        ))
    }

    #[test]
    fn a_wrapped_stream_translates_like_the_bare_one() {
        let bare = run(
            Reframe {
                unwrap: None,
                translate: translator(),
            },
            &sse(false),
            usize::MAX,
        );
        let want = payloads(&bare);
        assert!(
            want.iter()
                .any(|v| v["choices"][0]["delta"]["content"] == "Hel"),
            "{want:?}"
        );
        for chunk in [1, 7, 64, usize::MAX] {
            let wrapped = run(
                Reframe {
                    unwrap: Some(SseUnwrap::new("response")),
                    translate: translator(),
                },
                &sse(true),
                chunk,
            );
            assert_eq!(payloads(&wrapped), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_wrapped_stream_without_translation_is_only_unwrapped() {
        let unwrapped = run(
            Reframe {
                unwrap: Some(SseUnwrap::new("response")),
                translate: None,
            },
            &sse(true),
            5,
        );
        assert_eq!(unwrapped, sse(false));
        let mut plain = Reframe {
            unwrap: None,
            translate: None,
        };
        let c = Bytes::from_static(b"event: x\n");
        assert_eq!(plain.push(c.clone()).as_ptr(), c.as_ptr(), "no copy");
        assert!(plain.finish().is_empty());
    }

    #[test]
    fn stream_errors_speak_the_route_dialect() {
        let mut plain = Reframe {
            unwrap: None,
            translate: None,
        };
        let a = plain.error(Dialect::Anthropic, "boom");
        assert!(a.starts_with(b"event: error\ndata: {\"type\":\"error\""));
        let o = plain.error(Dialect::OpenAiChat, "boom \"q\"");
        let line = std::str::from_utf8(&o).unwrap().trim();
        let v: serde_json::Value = serde_json::from_str(line.trim_start_matches("data: ")).unwrap();
        assert_eq!(v["error"]["message"], "boom \"q\"");
        let r = plain.error(Dialect::Responses, "boom");
        assert!(r.starts_with(b"event: error\ndata: {\"type\":\"error\""));
        // Through a translator the error closes the client's stream properly.
        let mut translating = Reframe {
            unwrap: None,
            translate: Some(StreamTranslator::new(
                Dialect::Anthropic,
                Dialect::Responses,
                "m",
            )),
        };
        translating.push(Bytes::from(sse(false)[..200].to_vec()));
        let out = translating.error(Dialect::Responses, "boom");
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("event: error\n"), "{text}");
        assert!(text.contains("event: response.failed\n"), "{text}");
    }
}
