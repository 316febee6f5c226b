//! API dialects. Same-dialect traffic passes through untouched except for the fields
//! the upstream needs rewritten; translation between dialects (one internal
//! representation, one converter per dialect) slots in here.

use bytes::Bytes;
use serde::Deserialize;

/// The API shape a route speaks (decides request parsing and error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Anthropic,
    OpenAiChat,
    Gemini,
}

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
}

pub fn probe(body: &[u8]) -> Result<Probe, ProbeError> {
    let raw: RawProbe =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    let model = raw
        .model
        .filter(|m| !m.is_empty())
        .ok_or(ProbeError::NoModel)?;
    Ok(Probe {
        model,
        stream: raw.stream.unwrap_or(false),
    })
}

/// Replaces the top-level `model` (alias → upstream name). Only called when the names
/// differ, so the common case forwards the client's bytes as received.
pub fn rewrite_model(body: &Bytes, model: &str) -> Result<Bytes, ProbeError> {
    let mut v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| ProbeError::Json(e.to_string()))?;
    v.insert("model".into(), serde_json::Value::String(model.to_string()));
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| ProbeError::Json(e.to_string()))
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
    fn rewrite_keeps_other_fields_in_order() {
        let b = Bytes::from_static(br#"{"a":1,"model":"alias","z":[1]}"#);
        let out = rewrite_model(&b, "up/name").unwrap();
        assert_eq!(&out[..], br#"{"a":1,"model":"up/name","z":[1]}"#);
    }
}
