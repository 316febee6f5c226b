//! Incremental Server-Sent-Events parser. Each input byte is scanned once: complete
//! lines are handled straight from the chunk when possible, and only the unfinished
//! tail of a chunk is copied into a reused line buffer (no re-scanning, no per-byte
//! allocation).

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The current unfinished line (bytes after the last `\n` seen).
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds a chunk; calls `on_event(event_name, data)` for every event it completes.
    pub(crate) fn feed(&mut self, chunk: &[u8], on_event: &mut impl FnMut(&str, &str)) {
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.line.is_empty() {
                self.line_done(head, on_event);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, on_event);
                self.line = line;
                self.line.clear();
            }
        }
        self.line.extend_from_slice(rest);
    }

    /// End of input: a last line without newline and an event without blank line still count.
    pub(crate) fn finish(&mut self, on_event: &mut impl FnMut(&str, &str)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, on_event);
        }
        self.dispatch(on_event);
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(&str, &str)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&value);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&str, &str)) {
        if self.has_data {
            on_event(&self.event, &self.data);
        }
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }

    #[cfg(test)]
    pub(crate) fn line_capacity(&self) -> usize {
        self.line.capacity()
    }
}

/// One complete SSE frame: optional `event:` line, one `data:` line, blank line.
pub(crate) fn frame<T: serde::Serialize + ?Sized>(event: Option<&str>, data: &T) -> bytes::Bytes {
    let mut buf = Vec::with_capacity(128);
    if let Some(e) = event {
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(e.as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(b"data: ");
    let mark = buf.len();
    if serde_json::to_writer(&mut buf, data).is_err() {
        // Unreachable for our wire structs; never emit an empty `data:` frame regardless.
        buf.truncate(mark);
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"\n\n");
    bytes::Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        let mut f = |e: &str, d: &str| out.push((e.to_string(), d.to_string()));
        for c in chunks {
            p.feed(c, &mut f);
        }
        p.finish(&mut f);
        out
    }

    #[test]
    fn events_fields_comments_and_crlf() {
        let got = parse_all(&[
            b": keep-alive\n\nevent: ping\ndata: {\"a\":1}\n\ndata:x\r\ndata: y\r\n\r\ndata: tail",
        ]);
        assert_eq!(
            got,
            vec![
                ("ping".into(), "{\"a\":1}".into()),
                (String::new(), "x\ny".into()),
                (String::new(), "tail".into()),
            ]
        );
    }

    #[test]
    fn byte_at_a_time_equals_whole() {
        let whole: &[u8] = "event: a\ndata: héllo\n\ndata: [DONE]\n\n".as_bytes();
        let one = parse_all(&[whole]);
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(parse_all(&bytes), one);
        assert_eq!(one.len(), 2);
        assert_eq!(one[0].1, "héllo");
    }

    #[test]
    fn line_buffer_is_reused() {
        let mut p = SseParser::default();
        let mut n = 0;
        let ev = b"data: 0123456789012345678901234567890123456789\n\n";
        for b in ev.iter() {
            p.feed(std::slice::from_ref(b), &mut |_, _| n += 1);
        }
        let cap = p.line_capacity();
        for _ in 0..100 {
            for b in ev.iter() {
                p.feed(std::slice::from_ref(b), &mut |_, _| n += 1);
            }
        }
        assert_eq!(n, 101);
        assert_eq!(p.line_capacity(), cap);
    }
}
