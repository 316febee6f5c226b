//! Reading and rewriting client request bodies without translating them: the routing
//! fields ([`probe`]) and the model name ([`rewrite_model`]).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::wire;

/// The few request fields routing needs; the rest of the body is not interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub model: String,
    pub stream: bool,
}

#[derive(Deserialize)]
struct RawProbe {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("request body is not valid JSON: {0}")]
    Json(String),
    #[error("request body has no `model` field")]
    NoModel,
    #[error("`model` is {0} bytes long; model names are at most {MAX_MODEL_LEN}")]
    ModelTooLong(usize),
}

/// Longest model name accepted: real names are far shorter, and names become keys of
/// the gateway's cooldown and cursor tables and appear in logs.
pub const MAX_MODEL_LEN: usize = 256;

/// A request body must be an object (serde would also read a struct from an array).
pub fn require_object(body: &[u8]) -> Result<(), ProbeError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(ProbeError::Json(
            "request body must be a JSON object".into(),
        )),
    }
}

/// Reads `model` and `stream`; the rest of the body is skipped without being built.
pub fn probe(body: &[u8]) -> Result<Probe, ProbeError> {
    require_object(body)?;
    let raw: RawProbe = serde_json::from_slice(body)
        .map_err(|e| ProbeError::Json(crate::config::clip(&e.to_string()).into_owned()))?;
    let model = raw
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ProbeError::NoModel)?;
    if model.len() > MAX_MODEL_LEN {
        return Err(ProbeError::ModelTooLong(model.len()));
    }
    Ok(Probe {
        model,
        stream: raw.stream.unwrap_or(false),
    })
}

/// Whether an OpenAI client asked for the separate usage chunk
/// (`stream_options.include_usage`).
pub fn wants_usage_chunk(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        stream_options: wire::Lax<Options>,
    }
    #[derive(Deserialize)]
    struct Options {
        #[serde(default)]
        include_usage: wire::Lax<bool>,
    }
    wire::shape!(Map: Options);
    serde_json::from_slice::<Body>(body)
        .ok()
        .and_then(|b| b.stream_options.0)
        .and_then(|o| o.include_usage.0)
        .unwrap_or(false)
}

/// The top-level `model` member as it appears in the body (null included).
#[derive(Deserialize)]
struct ModelSpan<'a> {
    #[serde(default, borrow, deserialize_with = "raw_member")]
    model: Option<&'a RawValue>,
}

fn raw_member<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Replaces the top-level `model` (alias → upstream name), or adds it. Every other byte
/// is kept as received: the body is scanned once, never built into a tree.
pub fn rewrite_model(body: &[u8], model: &str) -> Result<Bytes, ProbeError> {
    require_object(body)?;
    let span: ModelSpan =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    let quoted = serde_json::to_string(model).map_err(|e| ProbeError::Json(e.to_string()))?;
    let (start, end, insert) = match span.model {
        Some(raw) => {
            // `raw` borrows from `body`, so its address gives its place in it.
            let raw = raw.get().as_bytes();
            let start = (raw.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
            if body.get(start..start.wrapping_add(raw.len())) != Some(raw) {
                return Err(ProbeError::Json("cannot locate `model` in the body".into()));
            }
            (start, start + raw.len(), false)
        }
        None => {
            let open = body.iter().position(|b| *b == b'{').unwrap_or(0) + 1;
            (open, open, true)
        }
    };
    let mut out = Vec::with_capacity(body.len() + quoted.len() + 10);
    out.extend_from_slice(&body[..start]);
    if insert {
        out.extend_from_slice(b"\"model\":");
    }
    out.extend_from_slice(quoted.as_bytes());
    if insert
        && body[end..]
            .iter()
            .any(|b| !b.is_ascii_whitespace() && *b != b'}')
    {
        out.push(b',');
    }
    out.extend_from_slice(&body[end..]);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reads_model_and_stream_only() {
        let p = probe(br#"{"messages":[{"role":"user","content":"x"}],"model":"m","stream":true,"x":{"y":1}}"#).unwrap();
        assert_eq!(
            p,
            Probe {
                model: "m".into(),
                stream: true
            }
        );
        assert_eq!(probe(br#"{"messages":[]}"#), Err(ProbeError::NoModel));
        assert!(matches!(probe(b"{"), Err(ProbeError::Json(_))));
    }

    #[test]
    fn probe_wants_an_object() {
        assert!(matches!(probe(br#"["m", true]"#), Err(ProbeError::Json(_))));
        assert!(matches!(probe(b" 5"), Err(ProbeError::Json(_))));
    }

    #[test]
    fn rewrite_keeps_other_fields_in_order() {
        let b = Bytes::from_static(br#"{"a":1,"model":"alias","z":[1]}"#);
        let out = rewrite_model(&b, "up/name").unwrap();
        assert_eq!(&out[..], br#"{"a":1,"model":"up/name","z":[1]}"#);
    }

    #[test]
    fn rewrite_touches_only_the_top_level_model_bytes() {
        let cases: [(&str, &str, &str); 6] = [
            // Spacing, escapes and nested `model` members stay as sent.
            (
                "{ \"messages\": [{\"model\": \"inner\"}],\n  \"model\" : \"a\\u0062\" , \"x\":1.50}",
                "up\"q",
                "{ \"messages\": [{\"model\": \"inner\"}],\n  \"model\" : \"up\\\"q\" , \"x\":1.50}",
            ),
            (r#"{"model":null}"#, "m", r#"{"model":"m"}"#),
            (r#"{"model":7,"a":1}"#, "m", r#"{"model":"m","a":1}"#),
            (r#"{"a":1}"#, "m", r#"{"model":"m","a":1}"#),
            (r#" { } "#, "m", r#" {"model":"m" } "#),
            (
                r#"{"id":"x","model":"claude"}"#,
                "alias",
                r#"{"id":"x","model":"alias"}"#,
            ),
        ];
        for (body, model, want) in cases {
            let out = rewrite_model(body.as_bytes(), model).unwrap();
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{body}");
            serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        }
        assert!(rewrite_model(b"[1]", "m").is_err());
        assert!(rewrite_model(b"{\"model\":", "m").is_err());
    }

    #[test]
    fn usage_chunk_wish_is_read_without_failing_on_odd_bodies() {
        assert!(wants_usage_chunk(
            br#"{"model":"m","stream_options":{"include_usage":true}}"#
        ));
        for body in [
            &br#"{"stream_options":{"include_usage":"yes"}}"#[..],
            br#"{"stream_options":null}"#,
            br#"{"model":"m"}"#,
            b"nope",
        ] {
            assert!(!wants_usage_chunk(body));
        }
    }
}
