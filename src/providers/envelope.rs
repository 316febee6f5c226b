//! Answers some upstreams wrap in one JSON field (Cloud Code: `{"response": {...},
//! "traceId": ...}`): taking the inner value out, for whole bodies and for SSE
//! streams line by line. Pure; bodies that are not wrapped pass unchanged.

use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// The inner value of a wrapped JSON body; anything else is returned as it came.
pub fn unwrap_body(body: Bytes, field: &str) -> Bytes {
    inner(&body, field).map_or(body, Bytes::from)
}

fn inner(json: &[u8], field: &str) -> Option<Vec<u8>> {
    match serde_json::from_slice::<Value>(json).ok()? {
        Value::Object(mut m) => serde_json::to_vec(&m.remove(field)?).ok(),
        _ => None,
    }
}

/// Longest SSE line kept while waiting for its end; a longer one passes through
/// unwrapped (bounds memory against an upstream that never sends a newline).
const MAX_LINE: usize = 16 << 20;

/// Unwraps the `data:` lines of an SSE stream that arrives in arbitrary chunks.
#[derive(Debug)]
pub struct SseUnwrap {
    field: &'static str,
    /// The start of a line whose end has not arrived yet.
    partial: BytesMut,
}

impl SseUnwrap {
    pub fn new(field: &'static str) -> Self {
        SseUnwrap {
            field,
            partial: BytesMut::new(),
        }
    }

    /// The bytes to pass on for `chunk` (complete lines only; the rest waits).
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.partial.extend_from_slice(chunk);
        let Some(last_nl) = self.partial.iter().rposition(|&b| b == b'\n') else {
            if self.partial.len() > MAX_LINE {
                return self.partial.split().freeze();
            }
            return Bytes::new();
        };
        let complete = self.partial.split_to(last_nl + 1);
        let mut out = BytesMut::with_capacity(complete.len());
        for line in complete.split_inclusive(|&b| b == b'\n') {
            self.line(line, &mut out);
        }
        out.freeze()
    }

    /// Whatever is left when the stream ends.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.partial.split();
        let mut out = BytesMut::with_capacity(rest.len());
        if !rest.is_empty() {
            self.line(&rest, &mut out);
        }
        out.freeze()
    }

    fn line(&self, line: &[u8], out: &mut BytesMut) {
        let body_end = line
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |i| i + 1);
        let (content, eol) = line.split_at(body_end);
        let unwrapped = content
            .strip_prefix(b"data:")
            .and_then(|data| inner(data.trim_ascii_start(), self.field));
        match unwrapped {
            Some(json) => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.extend_from_slice(eol);
            }
            None => out.extend_from_slice(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_bodies_lose_the_wrapper_and_others_pass() {
        let b = unwrap_body(
            Bytes::from_static(br#"{"response":{"candidates":[1]},"traceId":"t"}"#),
            "response",
        );
        assert_eq!(&b[..], br#"{"candidates":[1]}"#);
        let plain = Bytes::from_static(br#"{"candidates":[1]}"#);
        assert_eq!(unwrap_body(plain.clone(), "response"), plain);
        let not_json = Bytes::from_static(b"oops");
        assert_eq!(unwrap_body(not_json.clone(), "response"), not_json);
    }

    #[test]
    fn stream_lines_are_unwrapped_across_chunk_boundaries() {
        let src = b"data: {\"response\":{\"a\":1},\"traceId\":\"x\"}\r\n\r\n: keepalive\n\ndata: {\"response\":{\"b\":[2]}}\n\ndata: [DONE]\n\n";
        let want = b"data: {\"a\":1}\r\n\r\n: keepalive\n\ndata: {\"b\":[2]}\n\ndata: [DONE]\n\n";
        for split in 0..src.len() {
            let mut u = SseUnwrap::new("response");
            let mut got = Vec::new();
            got.extend_from_slice(&u.push(&src[..split]));
            got.extend_from_slice(&u.push(&src[split..]));
            got.extend_from_slice(&u.finish());
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_unterminated_last_line_is_unwrapped_at_the_end() {
        let mut u = SseUnwrap::new("response");
        assert!(u.push(br#"data: {"response":{"z":0}}"#).is_empty());
        assert_eq!(&u.finish()[..], br#"data: {"z":0}"#);
    }
}
