//! Whole (non-stream) bodies between dialects: requests, responses and token counts.

use bytes::Bytes;
use serde::Deserialize;

use super::dispatch::{emit_request, emit_response, parse_request, parse_response};
use super::probe::{ProbeError, rewrite_model};
use super::{Dialect, TranslateError, anthropic, gemini, supports, wire};

/// Client request body in `from` → upstream request body in `to`, with `model` set to
/// `upstream_model`. Fields `to` does not know are dropped. Same-dialect bodies keep
/// every byte but the model.
pub fn translate_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<Bytes, TranslateError> {
    if from == to && from.model_in_path() {
        return Ok(Bytes::copy_from_slice(body));
    }
    if from == to {
        return rewrite_model(body, upstream_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
            e @ ProbeError::ModelTooLong(_) => TranslateError::Invalid(e.to_string()),
        });
    }
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    let mut req = parse_request(from, body)?;
    req.model = upstream_model.to_string();
    emit_request(to, &req)
}

/// [`translate_request`] for an upstream asked to stream or not, whatever the client's
/// body says (Gemini bodies never say: their stream is the URL's action; some
/// upstreams stream when the client did not ask to).
pub fn translate_request_streamed(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
    stream: bool,
) -> Result<Bytes, TranslateError> {
    if from == to || !supports(from, to) {
        return translate_request(from, to, body, upstream_model);
    }
    let mut req = parse_request(from, body)?;
    req.model = upstream_model.to_string();
    if req.stream != stream {
        req.stream = stream;
        req.include_usage = stream;
    }
    emit_request(to, &req)
}

/// Upstream non-stream response body in `from` → client response body in `to`,
/// echoing `client_model`.
pub fn translate_response(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    client_model: &str,
) -> Result<Bytes, TranslateError> {
    if !supports(from, to) {
        return Err(TranslateError::Unsupported { from, to });
    }
    if from == to && from.model_in_path() {
        return Ok(Bytes::copy_from_slice(body));
    }
    if from == to {
        return rewrite_model(body, client_model).map_err(|e| match e {
            ProbeError::Json(m) => TranslateError::Json(m),
            ProbeError::NoModel => TranslateError::Invalid("no model".into()),
            e @ ProbeError::ModelTooLong(_) => TranslateError::Invalid(e.to_string()),
        });
    }
    let resp = parse_response(from, body)?;
    Ok(emit_response(to, &resp, client_model))
}

// ---------------------------------------------------------------- token counting

/// A token-count request (Anthropic `count_tokens`, Gemini `countTokens`) in `from` →
/// the same question in `to`, for `upstream_model`. OpenAI chat has no such call.
pub fn translate_count_request(
    from: Dialect,
    to: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<Bytes, TranslateError> {
    if from == to {
        return translate_request(from, to, body, upstream_model);
    }
    let mut req = match from {
        Dialect::Gemini => gemini::parse_count_tokens_request(body)?,
        Dialect::Anthropic => anthropic::parse_request(body)?,
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            return Err(TranslateError::Unsupported { from, to });
        }
    };
    req.model = upstream_model.to_string();
    match to {
        Dialect::Gemini => Ok(gemini::emit_count_tokens_request(&req)),
        Dialect::Anthropic => {
            // count_tokens takes the prompt only; generation settings are refused.
            const KEPT: &[&str] = &[
                "model",
                "messages",
                "system",
                "tools",
                "tool_choice",
                "thinking",
            ];
            let full = anthropic::emit_request(&req)?;
            let mut m: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&full)?;
            m.retain(|k, _| KEPT.contains(&k.as_str()));
            Ok(wire::to_bytes(&m))
        }
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            Err(TranslateError::Unsupported { from, to })
        }
    }
}

/// A token-count answer in `from` → the client's `to` shape.
pub fn translate_count_response(
    from: Dialect,
    to: Dialect,
    body: &[u8],
) -> Result<Bytes, TranslateError> {
    #[derive(Deserialize)]
    struct AnthropicCount {
        input_tokens: u64,
    }
    if from == to {
        return Ok(Bytes::copy_from_slice(body));
    }
    let total = match from {
        Dialect::Gemini => gemini::parse_count_tokens_response(body)?,
        Dialect::Anthropic => serde_json::from_slice::<AnthropicCount>(body)?.input_tokens,
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            return Err(TranslateError::Unsupported { from, to });
        }
    };
    match to {
        Dialect::Gemini => Ok(gemini::emit_count_tokens_response(total)),
        Dialect::Anthropic => Ok(wire::to_bytes(&serde_json::json!({"input_tokens": total}))),
        Dialect::OpenAiChat | Dialect::Responses | Dialect::Completions => {
            Err(TranslateError::Unsupported { from, to })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_cross_between_anthropic_and_gemini() {
        let g = br#"{"contents":[{"role":"user","parts":[{"text":"count me"}]}]}"#;
        let a =
            translate_count_request(Dialect::Gemini, Dialect::Anthropic, g, "claude-x").unwrap();
        let a: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(a["model"], "claude-x");
        assert_eq!(a["messages"][0]["content"][0]["text"], "count me");
        assert!(a.get("max_tokens").is_none(), "{a}");
        let back = translate_count_response(
            Dialect::Anthropic,
            Dialect::Gemini,
            br#"{"input_tokens":12}"#,
        )
        .unwrap();
        assert_eq!(&back[..], br#"{"totalTokens":12}"#);

        let a = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        let g =
            translate_count_request(Dialect::Anthropic, Dialect::Gemini, a, "gemini-x").unwrap();
        let g: serde_json::Value = serde_json::from_slice(&g).unwrap();
        assert_eq!(g["generateContentRequest"]["model"], "models/gemini-x");
        assert_eq!(
            g["generateContentRequest"]["contents"][0]["parts"][0]["text"],
            "hi"
        );
        let back = translate_count_response(
            Dialect::Gemini,
            Dialect::Anthropic,
            br#"{"response":{"totalTokens":5},"traceId":"t"}"#,
        )
        .unwrap();
        assert_eq!(&back[..], br#"{"input_tokens":5}"#);
        assert!(translate_count_request(Dialect::OpenAiChat, Dialect::Gemini, a, "g").is_err());
    }

    #[test]
    fn gemini_bodies_pass_unchanged_between_gemini_routes() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        let out = translate_request(Dialect::Gemini, Dialect::Gemini, body, "gemini-x").unwrap();
        assert_eq!(&out[..], &body[..], "the model stays in the URL");
        let resp = br#"{"candidates":[],"modelVersion":"up"}"#;
        let out = translate_response(Dialect::Gemini, Dialect::Gemini, resp, "alias").unwrap();
        assert_eq!(&out[..], &resp[..]);
    }
}
