//! A Responses stream passed to a Responses client (Codex native): every event goes on
//! as it came, except what the backend gets wrong. A terminal `response.completed` with
//! an empty `output` gets the `output_item.done` items (the SDKs' final response is
//! that event's object), and a stream that ends without a terminal event ends with an
//! `error` event instead of silently.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::super::ir::{ApiError, ErrorKind};
use super::emit_stream_error;

/// Items kept for rebuilding an empty `output`, at most this many bytes in all.
const MAX_KEPT: usize = 32 << 20;

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
}

#[derive(Deserialize)]
struct ItemDone {
    output_index: Option<u64>,
    item: Box<RawValue>,
}

#[derive(Debug, Default)]
pub struct StreamFixer {
    items: Vec<(u64, Box<RawValue>)>,
    kept: usize,
    overflow: bool,
    ended: bool,
}

fn frame(event: &str, data: &str) -> Bytes {
    let mut b = Vec::with_capacity(event.len() + data.len() + 16);
    if !event.is_empty() {
        b.extend_from_slice(b"event: ");
        b.extend_from_slice(event.as_bytes());
        b.push(b'\n');
    }
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(data.as_bytes());
    b.extend_from_slice(b"\n\n");
    Bytes::from(b)
}

impl StreamFixer {
    /// One upstream event (`event` name, `data` payload) → the frames for the client.
    pub fn event(&mut self, event: &str, data: &str, out: &mut Vec<Bytes>) {
        if data.trim().is_empty() {
            return;
        }
        let kind = serde_json::from_str::<Peek>(data)
            .ok()
            .and_then(|p| p.kind)
            .unwrap_or(event);
        match kind {
            "response.output_item.done" => {
                if let Ok(d) = serde_json::from_str::<ItemDone>(data) {
                    self.keep(d);
                }
            }
            "response.completed" | "response.incomplete" => {
                self.ended = true;
                if let Some(fixed) = self.rebuilt(data) {
                    out.push(frame(event, &fixed));
                    return;
                }
            }
            "response.failed" | "error" => self.ended = true,
            _ => {}
        }
        out.push(frame(event, data));
    }

    fn keep(&mut self, d: ItemDone) {
        if self.overflow {
            return;
        }
        self.kept += d.item.get().len();
        if self.kept > MAX_KEPT {
            self.overflow = true;
            self.items = Vec::new();
            return;
        }
        let index = d.output_index.unwrap_or(self.items.len() as u64);
        self.items.push((index, d.item));
    }

    /// The terminal event with its empty `output` filled in (`None`: keep it as it is).
    fn rebuilt(&mut self, data: &str) -> Option<String> {
        if self.items.is_empty() || self.overflow {
            return None;
        }
        let mut ev: Map<String, Value> = serde_json::from_str(data).ok()?;
        let response = ev.get_mut("response")?.as_object_mut()?;
        let empty = response
            .get("output")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if !empty {
            return None;
        }
        let mut items = std::mem::take(&mut self.items);
        items.sort_by_key(|(i, _)| *i);
        let output = items
            .into_iter()
            .filter_map(|(_, raw)| serde_json::from_str::<Value>(raw.get()).ok())
            .collect();
        response.insert("output".into(), Value::Array(output));
        serde_json::to_string(&ev).ok()
    }

    /// A failure reported by the gateway after the first byte.
    pub fn error(&mut self, e: &ApiError, out: &mut Vec<Bytes>) {
        if !self.ended {
            self.ended = true;
            out.push(emit_stream_error(e));
        }
    }

    /// Upstream EOF: without a terminal event the client is told the stream broke.
    pub fn finish(&mut self, out: &mut Vec<Bytes>) {
        self.error(
            &ApiError::new(ErrorKind::Api, "stream closed before response.completed"),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[(&str, &str)]) -> Vec<String> {
        let mut f = StreamFixer::default();
        let mut out = Vec::new();
        for (e, d) in input {
            f.event(e, d, &mut out);
        }
        f.finish(&mut out);
        out.iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn events_pass_unchanged_and_an_empty_final_output_is_rebuilt() {
        let item1 = r#"{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hi"}]}"#;
        let item0 = r#"{"type":"reasoning","id":"rs_0","summary":[],"encrypted_content":"gAAA"}"#;
        let created = r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","output":[]}}"#;
        let done1 = format!(
            r#"{{"type":"response.output_item.done","sequence_number":1,"output_index":1,"item":{item1}}}"#
        );
        let done0 = format!(
            r#"{{"type":"response.output_item.done","sequence_number":2,"output_index":0,"item":{item0}}}"#
        );
        let completed = r#"{"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","status":"completed","output":[]}}"#;
        let out = run(&[
            ("response.created", created),
            ("response.output_item.done", &done1),
            ("response.output_item.done", &done0),
            ("response.completed", completed),
        ]);
        assert_eq!(out.len(), 4, "no error after a completed stream");
        assert_eq!(
            out[0],
            format!("event: response.created\ndata: {created}\n\n")
        );
        assert_eq!(
            out[1],
            format!("event: response.output_item.done\ndata: {done1}\n\n")
        );
        let last = out[3]
            .strip_prefix("event: response.completed\ndata: ")
            .unwrap();
        let v: Value = serde_json::from_str(last.trim()).unwrap();
        assert_eq!(
            v["response"]["output"][0]["id"], "rs_0",
            "ordered by output_index"
        );
        assert_eq!(v["response"]["output"][1]["id"], "msg_1");
        assert_eq!(v["sequence_number"], 3);
    }

    #[test]
    fn a_full_final_output_is_left_alone() {
        let completed =
            r#"{"type":"response.completed","response":{"output":[{"type":"message","id":"m"}]}}"#;
        let out = run(&[
            (
                "",
                r#"{"type":"response.output_item.done","output_index":0,"item":{"id":"x"}}"#,
            ),
            ("", completed),
        ]);
        assert_eq!(out[1], format!("data: {completed}\n\n"));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_stream_without_a_terminal_event_ends_with_an_error() {
        let out = run(&[(
            "response.created",
            r#"{"type":"response.created","response":{"id":"r"}}"#,
        )]);
        assert_eq!(out.len(), 2);
        let data = out[1].strip_prefix("event: error\ndata: ").unwrap();
        let v: Value = serde_json::from_str(data.trim()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["message"], "stream closed before response.completed");
        let failed = run(&[(
            "response.failed",
            r#"{"type":"response.failed","response":{}}"#,
        )]);
        assert_eq!(failed.len(), 1, "a failed stream already said so");
    }
}
