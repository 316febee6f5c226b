//! The Cloud Code (`v1internal`) envelopes Gemini CLI and Antigravity upstreams use.
//! Requests: `{model, project, request: {…}}` (Antigravity adds `userAgent`,
//! `requestType`, `requestId` and `request.sessionId`). Responses, non-stream and per
//! stream line: `{"response": {…}, "traceId": …}`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::super::sse::SseParser;

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// The bytes of `response` when `body` is an enveloped object, else `body` itself.
pub(super) fn inner_slice(body: &[u8]) -> &[u8] {
    match serde_json::from_slice::<Probe>(body) {
        Ok(Probe { response: Some(r) }) if r.get().starts_with('{') => r.get().as_bytes(),
        _ => body,
    }
}

/// `{"response": X, "traceId": …}` → X (without copying); anything else unchanged.
pub fn unwrap_envelope(body: &Bytes) -> Bytes {
    let inner = inner_slice(body);
    if inner.len() == body.len() {
        body.clone()
    } else {
        body.slice_ref(inner)
    }
}

/// The Gemini CLI request envelope.
pub fn gemini_cli_envelope(model: &str, project: &str, request: Value) -> Value {
    json!({"model": model, "project": project, "request": request})
}

/// `{"request": {"model": "models/<m>", "contents": …}}`: Cloud Code's countTokens
/// takes no project and only the contents.
pub fn cloud_code_count_tokens_envelope(model: &str, request: &Value) -> Value {
    let contents = request.get("contents").cloned().unwrap_or(json!([]));
    json!({"request": {"model": format!("models/{model}"), "contents": contents}})
}

/// `agent-<uuid>`, the id Antigravity expects on agent requests.
pub fn antigravity_request_id(uuid: uuid::Uuid) -> String {
    format!("agent-{}", uuid.hyphenated())
}

/// The session id Antigravity derives from a conversation: `-<n>` where n is the first 8
/// bytes (big-endian, sign bit cleared) of SHA-256 of the first user content's first
/// text. Stable across turns of one conversation; `None` when there is no user text.
pub fn stable_session_id(request: &Value) -> Option<String> {
    let text = request
        .get("contents")?
        .as_array()?
        .iter()
        .filter(|c| c.get("role").and_then(Value::as_str) == Some("user"))
        .find_map(|c| {
            c.get("parts")?
                .get(0)?
                .get("text")?
                .as_str()
                .filter(|t| !t.is_empty())
        })?;
    let hash = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    let n = u64::from_be_bytes(first) & 0x7FFF_FFFF_FFFF_FFFF;
    Some(format!("-{n}"))
}

/// The Antigravity request envelope. `request` is a `generateContent` body; its
/// `safetySettings` are removed (Antigravity rejects them) and `sessionId` is set.
pub fn antigravity_envelope(
    model: &str,
    project: &str,
    mut request: Value,
    request_id: &str,
    session_id: &str,
) -> Value {
    if let Some(r) = request.as_object_mut() {
        r.remove("safetySettings");
        r.insert("sessionId".into(), json!(session_id));
    }
    let request_type = if model.contains("image") {
        "image_gen"
    } else {
        "agent"
    };
    let mut env = Map::new();
    env.insert("model".into(), json!(model));
    env.insert("userAgent".into(), json!("antigravity"));
    env.insert("requestType".into(), json!(request_type));
    if !project.is_empty() {
        env.insert("project".into(), json!(project));
    }
    env.insert("requestId".into(), json!(request_id));
    env.insert("request".into(), request);
    Value::Object(env)
}

/// Re-frames an enveloped SSE stream (`data: {"response": …}`) as a plain Gemini SSE
/// stream, for Gemini clients served by a Cloud Code upstream without translation.
#[derive(Debug, Default)]
pub struct EnvelopeUnwrapper {
    parser: SseParser,
}

fn sse_frame(data: &[u8], out: &mut Vec<Bytes>) {
    let mut buf = Vec::with_capacity(data.len() + 10);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(data);
    buf.extend_from_slice(b"\r\n\r\n");
    out.push(Bytes::from(buf));
}

impl EnvelopeUnwrapper {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.parser.feed(chunk, &mut |_event, data| {
            sse_frame(inner_slice(data.as_bytes()), &mut out)
        });
        out
    }

    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.parser
            .finish(&mut |_event, data| sse_frame(inner_slice(data.as_bytes()), &mut out));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_takes_the_response_without_copying() {
        let body = Bytes::from_static(br#"{"response": {"candidates": []}, "traceId": "abc"}"#);
        let inner = unwrap_envelope(&body);
        assert_eq!(&inner[..], br#"{"candidates": []}"#);
        assert_eq!(inner.as_ptr(), body[13..].as_ptr());
        for plain in [
            &br#"{"candidates": []}"#[..],
            b"[1,2]",
            b"not json",
            br#"{"response": "text"}"#,
        ] {
            let b = Bytes::copy_from_slice(plain);
            assert_eq!(unwrap_envelope(&b), b);
        }
    }

    #[test]
    fn envelopes_are_built_from_their_pieces() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "safetySettings": [{"category": "x", "threshold": "OFF"}]});
        assert_eq!(
            gemini_cli_envelope("gemini-2.5-pro", "proj-1", req.clone()),
            json!({"model": "gemini-2.5-pro", "project": "proj-1", "request": req})
        );
        let uuid = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let rid = antigravity_request_id(uuid);
        assert_eq!(rid, "agent-01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(
            antigravity_envelope("claude-sonnet-4-6", "proj-2", req.clone(), &rid, "-42"),
            json!({"model": "claude-sonnet-4-6", "userAgent": "antigravity", "requestType": "agent",
                   "project": "proj-2", "requestId": rid,
                   "request": {"contents": req["contents"], "sessionId": "-42"}})
        );
        let img = antigravity_envelope("gemini-3.1-flash-image", "", json!({}), "r", "s");
        assert_eq!(img["requestType"], "image_gen");
        assert!(img.get("project").is_none());
        assert_eq!(
            cloud_code_count_tokens_envelope("gemini-2.5-flash", &req),
            json!({"request": {"model": "models/gemini-2.5-flash", "contents": req["contents"]}})
        );
    }

    #[test]
    fn session_ids_are_stable_and_follow_the_first_user_text() {
        let a = json!({"contents": [
            {"role": "model", "parts": [{"text": "ignored"}]},
            {"role": "user", "parts": [{"inlineData": {}}]},
            {"role": "user", "parts": [{"text": "hello"}]}
        ]});
        let b = json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]},
                                    {"role": "model", "parts": [{"text": "hi"}]},
                                    {"role": "user", "parts": [{"text": "more"}]}]});
        let id = stable_session_id(&a).unwrap();
        assert_eq!(Some(id.clone()), stable_session_id(&b));
        // sha256("hello") = 2cf24dba5fb0a30e…; 0x2cf24dba5fb0a30e = 3238736544897475342.
        assert_eq!(id, "-3238736544897475342");
        assert_eq!(stable_session_id(&json!({"contents": []})), None);
    }

    #[test]
    fn enveloped_sse_is_reframed_at_any_split() {
        let stream = b"data: {\"response\": {\"candidates\": [1]}, \"traceId\": \"t\"}\r\n\r\ndata: {\"candidates\": [2]}\r\n\r\n";
        let whole: Vec<u8> = {
            let mut u = EnvelopeUnwrapper::default();
            let mut v: Vec<u8> = u.push(stream).concat();
            v.extend(u.finish().concat());
            v
        };
        assert_eq!(
            whole,
            b"data: {\"candidates\": [1]}\r\n\r\ndata: {\"candidates\": [2]}\r\n\r\n"
        );
        for cut in 0..stream.len() {
            let mut u = EnvelopeUnwrapper::default();
            let mut v: Vec<u8> = u.push(&stream[..cut]).concat();
            v.extend(u.push(&stream[cut..]).concat());
            v.extend(u.finish().concat());
            assert_eq!(v, whole, "split at {cut}");
        }
    }
}
