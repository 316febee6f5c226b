//! Cross-dialect scenarios through the public entry points, with realistic payloads.

mod codex_stream;
mod errors;
mod requests;
mod response_bodies;
mod streams;

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

fn req(from: Dialect, to: Dialect, body: Value, model: &str) -> Value {
    let out = translate_request(from, to, body.to_string().as_bytes(), model).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn resp(from: Dialect, to: Dialect, body: Value, model: &str) -> Value {
    let out = translate_response(from, to, body.to_string().as_bytes(), model).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// Frames as (event name, parsed data or the raw `[DONE]`), with volatile fields removed.
fn frames(out: &[Bytes]) -> Vec<(Option<String>, Value)> {
    out.iter()
        .map(|f| {
            let s = std::str::from_utf8(f).unwrap();
            assert!(s.ends_with("\n\n"), "frame not terminated: {s:?}");
            let mut event = None;
            let mut data = None;
            for line in s.trim_end().lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(!d.trim().is_empty(), "empty data frame");
                    data = Some(if d == "[DONE]" {
                        json!("[DONE]")
                    } else {
                        let mut v: Value = serde_json::from_str(d).unwrap();
                        if let Some(o) = v.as_object_mut() {
                            o.remove("created");
                            // Responses frames carry the clock in the response object.
                            if let Some(r) = o.get_mut("response").and_then(Value::as_object_mut) {
                                r.remove("created_at");
                            }
                        }
                        v
                    });
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            (event, data.expect("frame without data"))
        })
        .collect()
}

fn run(t: &mut StreamTranslator, input: &str, step: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    for c in input.as_bytes().chunks(step) {
        out.extend(t.push(c));
    }
    out.extend(t.finish());
    out
}
