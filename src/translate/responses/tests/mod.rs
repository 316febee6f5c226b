//! Tests of the Responses dialect: golden streams, requests and responses, round trips
//! through the other dialects, and chunking/truncation properties.

mod chunking;
mod golden;
mod requests;
mod round_trip;

use bytes::Bytes;
use serde_json::{Value, json};

use super::super::ir::Event;
use super::super::ir::{ApiError, Request, Response};
use super::super::sse::SseParser;
use super::{StreamDecoder, StreamEncoder};

/// The dialect's emitters, read back as JSON for assertions.
fn emit_request(r: &Request) -> Value {
    serde_json::from_slice(&super::emit_request(r).expect("request emits")).expect("JSON")
}

fn emit_response(r: &Response, model: &str) -> Value {
    serde_json::from_slice(&super::emit_response(r, model)).expect("JSON")
}

fn emit_error(e: &ApiError) -> Value {
    serde_json::from_slice(&super::emit_error(e)).expect("JSON")
}

/// SSE text for `events` (each a data object with a `type`), numbered from 0 like an
/// upstream would.
fn sse(events: &[Value]) -> String {
    let mut s = String::new();
    for (n, e) in events.iter().enumerate() {
        let mut e = e.clone();
        e["sequence_number"] = json!(n);
        let kind = e["type"].as_str().expect("event has a type").to_string();
        s.push_str(&format!("event: {kind}\ndata: {e}\n\n"));
    }
    s
}

/// Decodes a Responses stream fed in `step`-byte chunks, including the EOF check.
fn decode(input: &[u8], step: usize) -> Vec<Event> {
    decode_chunks(&input.chunks(step.max(1)).collect::<Vec<_>>())
}

fn decode_chunks(chunks: &[&[u8]]) -> Vec<Event> {
    let mut parser = SseParser::default();
    let mut d = StreamDecoder::default();
    let mut out = Vec::new();
    for c in chunks {
        parser.feed(c, &mut |_, data| d.decode(data, &mut out));
    }
    parser.finish(&mut |_, data| d.decode(data, &mut out));
    d.finish(&mut out);
    out
}

/// Encodes IR events for a client, including the EOF handling.
fn encode(events: &[Event], model: &str) -> Vec<Bytes> {
    let mut e = StreamEncoder::new(model);
    let mut out = Vec::new();
    for ev in events {
        e.encode(ev, &mut out);
    }
    e.finish(&mut out);
    out
}

/// Frames as (event name, data), checking the framing: one `event:` line naming the
/// data's `type`, one non-empty `data:` line, a blank line. `created_at` (a clock
/// reading) is removed.
fn frames(out: &[Bytes]) -> Vec<(String, Value)> {
    out.iter()
        .map(|f| {
            let s = std::str::from_utf8(f).expect("frames are UTF-8");
            let body = s
                .strip_suffix("\n\n")
                .expect("frame ends with a blank line");
            let (ev, data) = body.split_once('\n').expect("two lines");
            let ev = ev.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            assert!(!data.trim().is_empty(), "empty data frame");
            assert!(!data.contains('\n'), "one data line");
            let mut v: Value = serde_json::from_str(data).expect("data is JSON");
            assert_eq!(v["type"], ev, "event line names the data type");
            if let Some(r) = v.get_mut("response").and_then(Value::as_object_mut) {
                r.remove("created_at");
            }
            (ev.to_string(), v)
        })
        .collect()
}

/// The structural promises of an encoded stream: sequence numbers 0, 1, 2…; created and
/// in_progress first; one terminal event last; every item announced before its events,
/// closed at most once, with consistent ids and indices; deltas adding up to the done
/// values; unless the response failed, every item done and the terminal response's
/// output equal to the done items.
fn check_stream(frames: &[(String, Value)]) {
    assert!(frames.len() >= 3, "at least created, in_progress, terminal");
    for (n, (_, v)) in frames.iter().enumerate() {
        assert_eq!(v["sequence_number"], json!(n), "sequence at frame {n}");
    }
    assert_eq!(frames[0].0, "response.created");
    assert_eq!(frames[1].0, "response.in_progress");
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let last = frames.len() - 1;
    for (n, (ev, _)) in frames.iter().enumerate() {
        assert_eq!(terminal.contains(&ev.as_str()), n == last, "{ev} at {n}");
    }
    let id = frames[0].1["response"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(id.starts_with("resp_"));
    // Per output_index: (item id, open, accumulated text / arguments).
    let mut items: Vec<(String, bool, String)> = Vec::new();
    let mut done_items: Vec<Value> = Vec::new();
    for (ev, v) in &frames[2..] {
        if terminal.contains(&ev.as_str()) || ev == "error" {
            assert_eq!(v["response"]["id"].as_str().unwrap_or(&id), id);
            continue;
        }
        let index = v["output_index"].as_u64().expect("output_index") as usize;
        if ev == "response.output_item.added" {
            assert_eq!(index, items.len(), "output indices are assigned in order");
            let item_id = v["item"]["id"].as_str().expect("item id").to_string();
            items.push((item_id, true, String::new()));
            continue;
        }
        let (item_id, open, acc) = items.get_mut(index).expect("item announced first");
        assert!(*open, "{ev} after the item was done");
        if ev == "response.output_item.done" {
            assert_eq!(v["item"]["id"], json!(item_id));
            *open = false;
            match v["item"]["type"].as_str() {
                Some("message") => {
                    assert_eq!(v["item"]["content"][0]["text"], json!(acc));
                    assert_eq!(v["item"]["status"], "completed");
                }
                Some("function_call") => {
                    assert_eq!(v["item"]["arguments"], json!(acc));
                    assert_eq!(v["item"]["status"], "completed");
                }
                Some("reasoning") => {
                    let summary = v["item"]["summary"][0]["text"].as_str().unwrap_or("");
                    assert_eq!(summary, acc);
                }
                other => panic!("unexpected item type {other:?}"),
            }
            done_items.push(v["item"].clone());
            continue;
        }
        assert_eq!(v["item_id"], json!(item_id), "{ev} names its item");
        if let Some(d) = v["delta"].as_str() {
            assert!(!d.is_empty(), "no empty deltas");
            acc.push_str(d);
        }
        for key in ["text", "arguments"] {
            if let Some(t) = v[key].as_str() {
                assert_eq!(t, acc, "{ev} repeats the accumulated {key}");
            }
        }
    }
    let (ev, v) = &frames[last];
    // A failed response leaves unfinished items as they were.
    if ev != "response.failed" {
        assert!(items.iter().all(|(_, open, _)| !open), "every item is done");
        assert_eq!(v["response"]["output"], Value::Array(done_items));
    }
}
