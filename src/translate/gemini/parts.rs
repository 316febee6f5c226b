//! Content parts: Gemini ↔ IR, shared by requests, responses and streams.
//!
//! Thought signatures. Gemini attaches an opaque `thoughtSignature` to a part: a thought
//! part, or (Gemini 3) the visible text / first `functionCall` part that follows the
//! thoughts, or an empty `{"text": "", "thoughtSignature": …}` carrier. The IR keeps
//! signatures on `Thinking` parts only, so:
//! - reading, a signature on a non-thought part signs the unsigned `Thinking` right
//!   before it, or becomes an empty `Thinking { text: "", signature }` placed before it;
//! - writing for Gemini, a signed `Thinking` directly followed by text or a call hands
//!   its signature to that part (where Gemini wants it); otherwise it stays put;
//! - writing for Claude behind Antigravity, signatures stay on thought parts and
//!   unsigned or empty thinking is dropped (Claude rejects both).
//!
//! Calls. Gemini calls usually carry no id; [`CallIds`] makes deterministic ones and
//! pairs each `functionResponse` with its call (by id if both have one, else the oldest
//! unanswered call of that name). Writing, a result's function name is looked up from
//! the call with the same id.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::ir;
use super::wire;

/// The signature CLIProxyAPI (and Gemini's own docs) use for a function call that comes
/// from a dialect without signatures: it tells Gemini 3 to skip validation.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// Assigns ids to function calls and pairs results with calls.
#[derive(Debug, Clone)]
pub(super) struct CallIds {
    prefix: String,
    next: usize,
    /// Unanswered calls: (id, name).
    pending: Vec<(String, String)>,
}

impl CallIds {
    pub(super) fn new(prefix: impl Into<String>) -> Self {
        CallIds {
            prefix: prefix.into(),
            next: 0,
            pending: Vec::new(),
        }
    }

    fn fresh(&mut self) -> String {
        let id = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        id
    }

    /// The call's own id, or the next made-up one (without remembering the call).
    pub(super) fn id_for(&mut self, id: Option<&str>) -> String {
        match id.filter(|i| !i.is_empty()) {
            Some(i) => i.to_string(),
            None => self.fresh(),
        }
    }

    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = self.id_for(id);
        self.pending.push((id.clone(), name.to_string()));
        id
    }

    fn answer(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id.filter(|i| !i.is_empty());
        let pos = id
            .and_then(|id| self.pending.iter().position(|(p, _)| p == id))
            .or_else(|| self.pending.iter().position(|(_, n)| n == name));
        match (pos, id) {
            (Some(i), _) => self.pending.remove(i).0,
            (None, Some(id)) => id.to_string(),
            (None, None) => self.fresh(),
        }
    }
}

/// Id prefix for calls in a response: unique per response, deterministic per input.
pub(super) fn response_call_prefix(response_id: &str) -> String {
    let clean: String = response_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(48)
        .collect();
    if clean.is_empty() {
        "call_".into()
    } else {
        format!("call_{clean}_")
    }
}

/// A usable signature: not empty and not the skip sentinel (which signs nothing).
pub(super) fn real_signature(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty() && *s != SKIP_THOUGHT_SIGNATURE)
}

fn attach_signature(out: &mut Vec<ir::Part>, sig: &str) {
    if let Some(ir::Part::Thinking {
        signature: s @ None,
        ..
    }) = out.last_mut()
    {
        *s = Some(sig.to_string());
        return;
    }
    out.push(ir::Part::Thinking {
        text: String::new(),
        signature: Some(sig.to_string()),
    });
}

pub(super) fn guess_image_mime(uri: &str) -> Option<&'static str> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn image_of(p: &wire::Part) -> Option<ir::Image> {
    if let Some(b) = &p.inline_data {
        return b
            .mime_type
            .starts_with("image/")
            .then(|| ir::Image::Base64 {
                media_type: b.mime_type.clone(),
                data: b.data.clone(),
            });
    }
    let f = p.file_data.as_ref()?;
    let is_image = if f.mime_type.is_empty() {
        guess_image_mime(&f.file_uri).is_some()
    } else {
        f.mime_type.starts_with("image/")
    };
    is_image.then(|| ir::Image::Url(f.file_uri.clone()))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A function response body → (text, is_error). `{"result"|"output"|"content": "…"}`
/// unwraps to its string; `{"error": …}` marks an error; anything else stays JSON.
fn response_text(resp: &Value) -> (String, bool) {
    let Value::Object(o) = resp else {
        return (value_text(resp), false);
    };
    if let Some(e) = o.get("error").filter(|e| !e.is_null()) {
        let text = if o.len() == 1 {
            value_text(e)
        } else {
            resp.to_string()
        };
        return (text, true);
    }
    if o.len() == 1
        && let Some(Value::String(s)) = ["result", "output", "content"]
            .iter()
            .find_map(|k| o.get(*k))
    {
        return (s.clone(), false);
    }
    (resp.to_string(), false)
}

/// The inverse of [`response_text`]: JSON-object text is sent as the object itself.
fn response_value(text: String, is_error: bool) -> Value {
    if is_error {
        return json!({"error": text});
    }
    if text.trim_start().starts_with('{')
        && let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&text)
    {
        return v;
    }
    json!({"result": text})
}

/// Gemini parts of one content → IR parts (appended to `out`).
pub(super) fn parse_parts(parts: Vec<wire::Part>, ids: &mut CallIds, out: &mut Vec<ir::Part>) {
    for p in parts {
        let sig = real_signature(p.thought_signature.as_deref()).map(str::to_string);
        if p.thought {
            let text = p.text.unwrap_or_default();
            match sig {
                Some(s) if text.is_empty() => attach_signature(out, &s),
                signature => out.push(ir::Part::Thinking { text, signature }),
            }
            continue;
        }
        if let Some(s) = &sig {
            attach_signature(out, s);
        }
        if let Some(fc) = p.function_call {
            let id = ids.call(fc.id.as_deref(), &fc.name);
            out.push(ir::Part::ToolCall {
                id,
                name: fc.name,
                arguments: match fc.args {
                    Some(v @ Value::Object(_)) => v,
                    _ => json!({}),
                },
            });
        } else if let Some(fr) = p.function_response {
            let call_id = ids.answer(fr.id.as_deref(), &fr.name);
            let (text, is_error) = response_text(&fr.response);
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(ir::Part::Text(text));
            }
            content.extend(fr.parts.iter().filter_map(image_of).map(ir::Part::Image));
            out.push(ir::Part::ToolResult {
                call_id,
                content,
                is_error,
            });
        } else if let Some(img) = image_of(&p) {
            out.push(ir::Part::Image(img));
        } else if let Some(t) = p.text.filter(|t| !t.is_empty()) {
            out.push(ir::Part::Text(t));
        }
    }
}

/// How signatures, ids and thinking are written for a given reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rules {
    /// Hand a thought's signature to the text / call part right after it (Gemini's place).
    pub defer_signatures: bool,
    /// The first call of a message without a signature gets [`SKIP_THOUGHT_SIGNATURE`].
    pub sentinel: bool,
    /// Claude behind Antigravity: keep signatures on thoughts, drop unsigned thinking.
    pub claude: bool,
    /// Send call ids (`functionCall.id`, `functionResponse.id`).
    pub call_ids: bool,
}

impl Rules {
    /// A request to a Gemini model.
    pub(super) const GEMINI_UPSTREAM: Rules = Rules {
        defer_signatures: true,
        sentinel: true,
        claude: false,
        call_ids: false,
    };
    /// A request to a Claude model served through the Gemini dialect (Antigravity).
    pub(super) const CLAUDE_UPSTREAM: Rules = Rules {
        defer_signatures: false,
        sentinel: false,
        claude: true,
        call_ids: true,
    };
    /// A response to a Gemini-dialect client (ids let it answer each call exactly).
    pub(super) const CLIENT: Rules = Rules {
        defer_signatures: true,
        sentinel: false,
        claude: false,
        call_ids: true,
    };
}

fn takes_signature(next: Option<&ir::Part>) -> bool {
    match next {
        Some(ir::Part::ToolCall { .. }) => true,
        Some(ir::Part::Text(t)) => !t.is_empty(),
        _ => false,
    }
}

fn carrier(sig: String) -> wire::Part {
    wire::Part {
        text: Some(String::new()),
        thought_signature: Some(sig),
        ..wire::Part::default()
    }
}

pub(super) fn image_part(img: &ir::Image) -> wire::Part {
    match img {
        ir::Image::Base64 { media_type, data } => wire::Part {
            inline_data: Some(wire::Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..wire::Part::default()
        },
        ir::Image::Url(u) => wire::Part {
            file_data: Some(wire::FileData {
                mime_type: guess_image_mime(u).unwrap_or("image/jpeg").to_string(),
                file_uri: u.clone(),
            }),
            ..wire::Part::default()
        },
    }
}

/// Function call arguments as Gemini wants them: always an object.
pub(super) fn call_args(arguments: &Value) -> Value {
    if arguments.is_object() {
        arguments.clone()
    } else {
        json!({})
    }
}

/// IR parts of one message → Gemini parts. `names` maps call ids to function names
/// (a `functionResponse` must name its function).
pub(super) fn emit_parts(
    parts: &[ir::Part],
    rules: Rules,
    names: &HashMap<&str, &str>,
) -> Vec<wire::Part> {
    let mut out = Vec::with_capacity(parts.len());
    let mut pending: Option<String> = None;
    let mut calls = 0usize;
    for (i, p) in parts.iter().enumerate() {
        match p {
            ir::Part::Thinking { text, signature } => {
                if let Some(s) = pending.take() {
                    out.push(carrier(s));
                }
                let sig = real_signature(signature.as_deref());
                if rules.claude && (sig.is_none() || text.is_empty()) {
                    continue;
                }
                if rules.defer_signatures && sig.is_some() && takes_signature(parts.get(i + 1)) {
                    pending = sig.map(str::to_string);
                    if !text.is_empty() {
                        out.push(wire::Part {
                            text: Some(text.clone()),
                            thought: true,
                            ..wire::Part::default()
                        });
                    }
                    continue;
                }
                match (text.is_empty(), sig) {
                    (true, None) => {}
                    (true, Some(s)) => out.push(carrier(s.to_string())),
                    (false, s) => out.push(wire::Part {
                        text: Some(text.clone()),
                        thought: true,
                        thought_signature: s.map(str::to_string),
                        ..wire::Part::default()
                    }),
                }
            }
            ir::Part::Text(t) => {
                if t.is_empty() {
                    continue;
                }
                out.push(wire::Part {
                    text: Some(t.clone()),
                    thought_signature: pending.take(),
                    ..wire::Part::default()
                });
            }
            ir::Part::Image(img) => {
                if let Some(s) = pending.take() {
                    out.push(carrier(s));
                }
                out.push(image_part(img));
            }
            ir::Part::ToolCall {
                id,
                name,
                arguments,
            } => {
                let sig = pending.take().or_else(|| {
                    (rules.sentinel && calls == 0).then(|| SKIP_THOUGHT_SIGNATURE.into())
                });
                calls += 1;
                out.push(wire::Part {
                    function_call: Some(wire::FunctionCall {
                        id: rules.call_ids.then(|| id.clone()).filter(|i| !i.is_empty()),
                        name: name.clone(),
                        args: Some(call_args(arguments)),
                    }),
                    thought_signature: sig,
                    ..wire::Part::default()
                });
            }
            ir::Part::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                if let Some(s) = pending.take() {
                    out.push(carrier(s));
                }
                let text = content
                    .iter()
                    .filter_map(|c| match c {
                        ir::Part::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let name = names.get(call_id.as_str()).copied().unwrap_or(call_id);
                out.push(wire::Part {
                    function_response: Some(wire::FunctionResponse {
                        id: rules
                            .call_ids
                            .then(|| call_id.clone())
                            .filter(|i| !i.is_empty()),
                        name: name.to_string(),
                        response: response_value(text, *is_error),
                        parts: Vec::new(),
                    }),
                    ..wire::Part::default()
                });
                // Older models cannot take media inside a function response; a
                // following inline part reaches every model.
                for c in content {
                    if let ir::Part::Image(img) = c {
                        out.push(image_part(img));
                    }
                }
            }
        }
    }
    if let Some(s) = pending {
        out.push(carrier(s));
    }
    out
}

/// Call id → function name over a conversation, for naming function responses.
pub(super) fn call_names(messages: &[ir::Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            ir::Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: Value) -> Vec<wire::Part> {
        serde_json::from_value(v).unwrap()
    }

    fn parse(v: Value) -> Vec<ir::Part> {
        let mut out = Vec::new();
        parse_parts(parts(v), &mut CallIds::new("c"), &mut out);
        out
    }

    fn thinking(text: &str, sig: Option<&str>) -> ir::Part {
        ir::Part::Thinking {
            text: text.into(),
            signature: sig.map(str::to_string),
        }
    }

    #[test]
    fn signatures_on_visible_parts_sign_the_thought_before_them() {
        let got = parse(json!([
            {"text": "plan", "thought": true},
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S1"},
            {"functionCall": {"name": "g"}},
            {"text": "done", "thoughtSignature": "S2"},
            {"text": "", "thoughtSignature": "S3"},
            {"text": "x", "thoughtSignature": SKIP_THOUGHT_SIGNATURE}
        ]));
        assert_eq!(
            got,
            vec![
                thinking("plan", Some("S1")),
                ir::Part::ToolCall {
                    id: "c0".into(),
                    name: "f".into(),
                    arguments: json!({"a": 1})
                },
                ir::Part::ToolCall {
                    id: "c1".into(),
                    name: "g".into(),
                    arguments: json!({})
                },
                thinking("", Some("S2")),
                ir::Part::Text("done".into()),
                thinking("", Some("S3")),
                ir::Part::Text("x".into()),
            ]
        );
    }

    #[test]
    fn gemini_writing_puts_signatures_where_gemini_put_them() {
        let original = json!([
            {"text": "plan", "thought": true},
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S1"},
            {"functionCall": {"name": "g", "args": {}}},
            {"text": "done", "thoughtSignature": "S2"},
            {"text": "", "thoughtSignature": "S3"}
        ]);
        let ir = parse(original.clone());
        let back = emit_parts(&ir, Rules::GEMINI_UPSTREAM, &HashMap::new());
        assert_eq!(serde_json::to_value(back).unwrap(), original);
    }

    #[test]
    fn unsigned_first_call_gets_the_sentinel_only_for_gemini() {
        let ir = vec![
            ir::Part::Text("calling".into()),
            ir::Part::ToolCall {
                id: "toolu_1".into(),
                name: "f".into(),
                arguments: json!("not an object"),
            },
            ir::Part::ToolCall {
                id: "toolu_2".into(),
                name: "g".into(),
                arguments: json!({}),
            },
        ];
        let g =
            serde_json::to_value(emit_parts(&ir, Rules::GEMINI_UPSTREAM, &HashMap::new())).unwrap();
        assert_eq!(
            g,
            json!([
                {"text": "calling"},
                {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
                {"functionCall": {"name": "g", "args": {}}}
            ])
        );
        let c =
            serde_json::to_value(emit_parts(&ir, Rules::CLAUDE_UPSTREAM, &HashMap::new())).unwrap();
        assert_eq!(
            c,
            json!([
                {"text": "calling"},
                {"functionCall": {"id": "toolu_1", "name": "f", "args": {}}},
                {"functionCall": {"id": "toolu_2", "name": "g", "args": {}}}
            ])
        );
    }

    #[test]
    fn claude_writing_keeps_signed_thoughts_and_drops_the_rest() {
        let ir = vec![
            thinking("unsigned", None),
            thinking("", Some("gemini-carrier")),
            thinking("reasoned", Some("claude-sig")),
            ir::Part::ToolCall {
                id: "t1".into(),
                name: "f".into(),
                arguments: json!({}),
            },
        ];
        let c =
            serde_json::to_value(emit_parts(&ir, Rules::CLAUDE_UPSTREAM, &HashMap::new())).unwrap();
        assert_eq!(
            c,
            json!([
                {"text": "reasoned", "thought": true, "thoughtSignature": "claude-sig"},
                {"functionCall": {"id": "t1", "name": "f", "args": {}}}
            ])
        );
    }

    #[test]
    fn responses_pair_with_calls_by_id_then_by_name_in_order() {
        let mut ids = CallIds::new("c");
        let mut out = Vec::new();
        parse_parts(
            parts(json!([
                {"functionCall": {"name": "read", "args": {"p": "a"}}},
                {"functionCall": {"name": "read", "args": {"p": "b"}}},
                {"functionCall": {"id": "x9", "name": "ls"}}
            ])),
            &mut ids,
            &mut out,
        );
        let mut results = Vec::new();
        parse_parts(
            parts(json!([
                {"functionResponse": {"id": "x9", "name": "ls", "response": {"output": "a b"}}},
                {"functionResponse": {"name": "read", "response": {"result": "A"}}},
                {"functionResponse": {"name": "read", "response": {"error": "denied"}}},
                {"functionResponse": {"name": "orphan", "response": {"k": [1]}}}
            ])),
            &mut ids,
            &mut results,
        );
        let got: Vec<(String, String, bool)> = results
            .into_iter()
            .map(|p| match p {
                ir::Part::ToolResult {
                    call_id,
                    content,
                    is_error,
                } => {
                    let text = match content.as_slice() {
                        [ir::Part::Text(t)] => t.clone(),
                        other => panic!("{other:?}"),
                    };
                    (call_id, text, is_error)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("x9".into(), "a b".into(), false),
                ("c0".into(), "A".into(), false),
                ("c1".into(), "denied".into(), true),
                ("c2".into(), "{\"k\":[1]}".into(), false),
            ]
        );
    }

    #[test]
    fn function_results_round_trip_their_json() {
        for resp in [
            json!({"result": "plain"}),
            json!({"error": "boom"}),
            json!({"a": 1, "b": [true]}),
            json!({"result": {"nested": 1}}),
        ] {
            let (text, err) = response_text(&resp);
            assert_eq!(response_value(text, err), resp);
        }
        assert_eq!(
            response_value("[1]".into(), false),
            json!({"result": "[1]"})
        );
    }

    #[test]
    fn result_images_follow_the_function_response() {
        let ir = vec![ir::Part::ToolResult {
            call_id: "t1".into(),
            content: vec![
                ir::Part::Text("see".into()),
                ir::Part::Image(ir::Image::Base64 {
                    media_type: "image/png".into(),
                    data: "AA==".into(),
                }),
            ],
            is_error: false,
        }];
        let names = HashMap::from([("t1", "shot")]);
        let v = serde_json::to_value(emit_parts(&ir, Rules::GEMINI_UPSTREAM, &names)).unwrap();
        assert_eq!(
            v,
            json!([
                {"functionResponse": {"name": "shot", "response": {"result": "see"}}},
                {"inlineData": {"mimeType": "image/png", "data": "AA=="}}
            ])
        );
    }

    #[test]
    fn only_image_media_enter_the_ir() {
        let got = parse(json!([
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBER"}},
            {"inline_data": {"mime_type": "image/webp", "data": "UklG"}},
            {"fileData": {"fileUri": "gs://b/cat.PNG"}},
            {"fileData": {"mimeType": "video/mp4", "fileUri": "gs://b/v.mp4"}},
            {"text": ""}
        ]));
        assert_eq!(
            got,
            vec![
                ir::Part::Image(ir::Image::Base64 {
                    media_type: "image/webp".into(),
                    data: "UklG".into()
                }),
                ir::Part::Image(ir::Image::Url("gs://b/cat.PNG".into())),
            ]
        );
    }

    #[test]
    fn response_call_prefixes_are_id_safe() {
        assert_eq!(response_call_prefix(""), "call_");
        assert_eq!(response_call_prefix("aB3-_x/+="), "call_aB3-_x_");
    }
}
