//! Stand-in Gemini API (`v1beta`, and Vertex's `v1/publishers/google/models/…`):
//! `POST …/models/{model}:generateContent`, `:streamGenerateContent` (`alt=sse`: one
//! `data:` line of single-line JSON per chunk, `\r\n\r\n` separators, no `[DONE]`;
//! without it the progressively written JSON array), `:countTokens`; errors as
//! `{"error":{"code","message","status"}}`. The answer builders are shared with the Cloud
//! Code stand-in (`cloudcode.rs`), which wraps them in `{"response": …}`.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::reply::{Plan, count_words, estimate_tokens, split_pieces, synth_input, wants_tool};
use super::state::{Effective, Shared};
use super::{DEFAULT_TEXT, Dialect, apply_behavior, json_response, sse_response};

/// The thought signature on the signed thought the stand-in puts first when asked for
/// thoughts (where Claude models behind Antigravity put it).
pub const SIGNATURE: &str = "c3RhbmRpbi1zaWduYXR1cmU=";

const SIGNED: &str = "standin-signature:";

/// Which upstream made a signature: each refuses the other's, as Google's do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// The Gemini API (`v1beta`) and Vertex.
    GeminiApi,
    /// Cloud Code `v1internal` (Antigravity, Gemini CLI).
    CloudCode,
}

impl Issuer {
    fn tag(self) -> &'static str {
        match self {
            Issuer::GeminiApi => "gemini-api",
            Issuer::CloudCode => "cloudcode",
        }
    }
}

/// The signature the stand-in puts on the first visible part of an answer: base64 like
/// Google's, unique per answer, and naming its issuer and what it signs (a function or
/// `text`) so a replay can be checked without remembering anything (benchmarks run for
/// hours).
pub fn signature_for(issuer: Issuer, what: &str, response_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(format!("{SIGNED}{}:{what}:{response_id}", issuer.tag()))
}

/// Who made a signature made by [`signature_for`] and what it signs; `None` for anything
/// else.
fn signed_target(sig: &str) -> Option<(String, String)> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(sig).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let rest = text.strip_prefix(SIGNED)?;
    let (issuer, rest) = rest.split_once(':')?;
    Some((issuer.to_owned(), rest.rsplit_once(':')?.0.to_owned()))
}

/// The skip sentinel Google accepts in place of a signature on a call it did not make.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Gemini 3's check of the history it gets back: the first function call of every model
/// turn carries the thought signature it was answered with (or the skip sentinel), and
/// every signature is one it issued, for that call. `None`: the history is acceptable.
pub(super) fn check_signatures(req: &Value, model: &str, issuer: Issuer) -> Option<Response> {
    if !model.starts_with("gemini-3") {
        return None;
    }
    let contents = req.get("contents").and_then(Value::as_array)?;
    for (turn, c) in contents.iter().enumerate() {
        if c.get("role").and_then(Value::as_str) != Some("model") {
            continue;
        }
        let parts = c
            .get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut first_call = true;
        for (pos, p) in parts.iter().enumerate() {
            let sig = p.get("thoughtSignature").and_then(Value::as_str);
            let call = p
                .get("functionCall")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            if call.is_some() && first_call && sig.is_none() {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "Function call is missing a thought_signature in functionCall parts. Additional data, function call `default_api:{}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                        call.unwrap_or_default(),
                        pos + 1
                    ),
                ));
            }
            first_call &= call.is_none();
            let Some(sig) = sig.filter(|s| *s != SKIP_SIGNATURE && *s != SIGNATURE) else {
                continue;
            };
            let ok = match (signed_target(sig), call) {
                (Some((by, _)), _) if by != issuer.tag() => false,
                (Some((_, t)), Some(name)) => t == name,
                (Some((_, t)), None) => t == "text",
                (None, _) => false,
            };
            if !ok {
                return Some(error(
                    StatusCode::BAD_REQUEST,
                    &format!("Corrupted thought signature (contents[{turn}].parts[{pos}])."),
                ));
            }
        }
    }
    None
}

pub(super) fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

pub(super) fn error(status: StatusCode, msg: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": status.as_u16(), "message": msg, "status": status_name(status.as_u16())}}),
    )
}

/// What to answer: a call to the first declared function when the last user text asks
/// about the weather, the function's result echoed when the last turn is one, else text.
pub(super) fn plan(req: &Value, eff: &Effective) -> Plan {
    let last = req
        .get("contents")
        .and_then(Value::as_array)
        .and_then(|c| c.last());
    let parts = last
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(fr) = parts.iter().find_map(|p| p.get("functionResponse")) {
        return Plan::Text(format!(
            "The tool returned: {}",
            fr.get("response").cloned().unwrap_or(Value::Null)
        ));
    }
    let text: String = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let first_fn = req.get("tools").and_then(Value::as_array).and_then(|t| {
        t.iter().find_map(|t| {
            t.get("functionDeclarations")
                .and_then(Value::as_array)
                .and_then(|d| d.first())
        })
    });
    if let Some(f) = first_fn
        && wants_tool(&text)
    {
        // Google accepts proto field names in either spelling (the Python SDK sends
        // `parameters_json_schema`).
        let schema = [
            "parameters",
            "parametersJsonSchema",
            "parameters_json_schema",
        ]
        .iter()
        .find_map(|k| f.get(*k).filter(|v| v.is_object()));
        return Plan::Tool {
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("tool")
                .to_owned(),
            input: synth_input(schema.map(lower_types).as_ref()),
        };
    }
    Plan::Text(eff.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_owned()))
}

/// Gemini schemas may spell types in upper case (`STRING`).
fn lower_types(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("type", Value::String(s)) => (k.clone(), json!(s.to_ascii_lowercase())),
                    _ => (k.clone(), lower_types(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(lower_types).collect()),
        other => other.clone(),
    }
}

fn usage(prompt: u64, out: u64) -> Value {
    json!({"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out})
}

fn chunk(parts: Value, finish: Option<&str>, usage: Option<Value>, model: &str, id: &str) -> Value {
    let mut cand = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    let mut c = json!({"candidates": [cand], "modelVersion": model, "responseId": id});
    if let Some(u) = usage {
        c["usageMetadata"] = u;
    }
    c
}

/// The answer as Gemini chunks (one when `stream` is false).
pub(super) fn answer(
    sh: &Shared,
    req: &Value,
    eff: &Effective,
    model: &str,
    stream: bool,
    issuer: Issuer,
) -> Vec<Value> {
    let prompt = estimate_tokens(req, &["contents", "systemInstruction", "tools"]);
    let id = sh.next_id("standin-");
    let mut chunks = answer_parts(sh, req, eff, model, stream, prompt, &id, issuer);
    // Asked for thoughts: one thought first. Claude models sign the thought itself;
    // Gemini models keep the signature on the first visible part after it.
    if req.pointer("/generationConfig/thinkingConfig/includeThoughts") == Some(&json!(true))
        && let Some(parts) = chunks[0]
            .pointer_mut("/candidates/0/content/parts")
            .and_then(Value::as_array_mut)
    {
        if model.starts_with("claude") {
            if let Some(first) = parts.first_mut().and_then(Value::as_object_mut) {
                first.remove("thoughtSignature");
            }
            parts.insert(
                0,
                json!({"text": "Thinking it over.", "thought": true, "thoughtSignature": SIGNATURE}),
            );
        } else {
            parts.insert(0, json!({"text": "Thinking it over.", "thought": true}));
        }
    }
    chunks
}

#[allow(clippy::too_many_arguments)]
fn answer_parts(
    sh: &Shared,
    req: &Value,
    eff: &Effective,
    model: &str,
    stream: bool,
    prompt: u64,
    id: &str,
    issuer: Issuer,
) -> Vec<Value> {
    let _ = sh;
    let id = id.to_string();
    match plan(req, eff) {
        Plan::Text(t) => {
            let out = count_words(&t);
            if !stream {
                return vec![chunk(
                    json!([{"text": t, "thoughtSignature": signature_for(issuer, "text", &id)}]),
                    Some("STOP"),
                    Some(usage(prompt, out)),
                    model,
                    &id,
                )];
            }
            let pieces = split_pieces(&t, eff.chunks);
            let n = pieces.len();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut part = json!({"text": p});
                    if i == 0 {
                        part["thoughtSignature"] = json!(signature_for(issuer, "text", &id));
                    }
                    let last = i + 1 == n;
                    chunk(
                        json!([part]),
                        last.then_some("STOP"),
                        last.then(|| usage(prompt, out)),
                        model,
                        &id,
                    )
                })
                .collect()
        }
        Plan::Tool { name, input } => vec![chunk(
            json!([{"functionCall": {"name": name, "args": input}, "thoughtSignature": signature_for(issuer, &name, &id)}]),
            Some("STOP"),
            Some(usage(prompt, 10)),
            model,
            &id,
        )],
    }
}

/// One SSE frame of the documented shape.
pub(super) fn sse_frame(v: &Value) -> Bytes {
    let mut f = b"data: ".to_vec();
    let _ = serde_json::to_writer(&mut f, v);
    f.extend_from_slice(b"\r\n\r\n");
    Bytes::from(f)
}

/// The JSON-array stream (no `alt=sse`): `[` chunk `,\r\n` chunk … `]`.
fn array_frames(chunks: &[Value]) -> Vec<Bytes> {
    let n = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut f = if i == 0 {
                b"[".to_vec()
            } else {
                b",\r\n".to_vec()
            };
            let _ = serde_json::to_writer(&mut f, c);
            if i + 1 == n {
                f.extend_from_slice(b"]");
            }
            Bytes::from(f)
        })
        .collect()
}

/// `models/{model}:{action}` at the end of `path`.
pub(super) fn model_action(path: &str) -> Option<(&str, &str)> {
    let rest = &path[path.rfind("/models/")? + "/models/".len()..];
    rest.rsplit_once(':')
}

/// The request body as a JSON object (`None`: answer [`bad_json`]).
pub(super) fn read_request(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

pub(super) fn bad_json() -> Response {
    error(StatusCode::BAD_REQUEST, "Invalid JSON payload received.")
}

fn has_contents(req: &Value) -> bool {
    req.get("contents")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
}

pub(super) fn count_answer(req: &Value) -> Value {
    let inner = req.get("generateContentRequest").unwrap_or(req);
    json!({"totalTokens": estimate_tokens(inner, &["contents", "systemInstruction", "tools"])})
}

/// `POST …/models/{model}:{action}` with `x-goog-api-key` (or `?key=`).
pub(super) async fn models_action(
    sh: &Shared,
    headers: &HeaderMap,
    path: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Response {
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "key")
                    .map(|(_, v)| v.into_owned())
            })
        });
    let eff = sh.effective(key.as_deref(), true);
    if let Some(r) = apply_behavior(&eff, Dialect::Gemini).await {
        return r;
    }
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return error(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
    };
    if !sh.accepts(&key) {
        return error(
            StatusCode::BAD_REQUEST,
            "API key not valid. Please pass a valid API key.",
        );
    }
    let Some((model, action)) = model_action(path) else {
        return error(StatusCode::NOT_FOUND, "Requested entity was not found.");
    };
    let Some(req) = read_request(body) else {
        return bad_json();
    };
    if action == "countTokens" {
        return json_response(StatusCode::OK, &count_answer(&req));
    }
    if !has_contents(&req) {
        return error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified",
        );
    }
    if let Some(refused) = check_signatures(&req, model, Issuer::GeminiApi) {
        return refused;
    }
    match action {
        "generateContent" => {
            let c = answer(sh, &req, &eff, model, false, Issuer::GeminiApi);
            json_response(StatusCode::OK, &c[0])
        }
        "streamGenerateContent" => {
            let chunks = answer(sh, &req, &eff, model, true, Issuer::GeminiApi);
            let sse = query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
            let interval = Duration::from_millis(eff.chunk_interval_ms);
            if sse {
                sse_response(chunks.iter().map(sse_frame).collect(), interval)
            } else {
                let mut r = sse_response(array_frames(&chunks), interval);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=UTF-8"),
                );
                r
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Requested entity was not found."),
    }
}
