//! generateContent responses and error bodies ↔ IR.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::super::TranslateError;
use super::super::ir::{self, ApiError, ErrorKind, StopReason};
use super::parts::{self, CallIds, Rules, response_call_prefix};
use super::wire;

pub(super) fn parse_finish(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => StopReason::Refusal,
        // STOP, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED, …
        _ => StopReason::EndTurn,
    }
}

pub(super) fn finish_name(s: &StopReason) -> &'static str {
    match s {
        // Gemini says STOP after function calls and stop sequences too.
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse => "STOP",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::Refusal => "SAFETY",
    }
}

/// Gemini's `promptTokenCount` includes cached tokens; the IR's `input` does not.
/// Thinking tokens (`thoughtsTokenCount`, not part of `candidatesTokenCount`) count as
/// output, as in every other dialect, and are the IR's `reasoning`.
pub(super) fn usage_from(m: &wire::UsageMetadata) -> ir::Usage {
    let mut u = ir::Usage::default();
    u.cache_read = m.cached_content_token_count;
    u.input = m
        .prompt_token_count
        .map(|p| p.saturating_sub(u.cache_read.unwrap_or(0)));
    u.output = match (m.candidates_token_count, m.thoughts_token_count) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0).saturating_add(t.unwrap_or(0))),
    };
    u.reasoning = m.thoughts_token_count;
    u
}

pub(super) fn usage_to(u: &ir::Usage) -> wire::UsageMetadata {
    let prompt = [u.input, u.cache_read, u.cache_creation]
        .into_iter()
        .flatten()
        .fold(0u64, u64::saturating_add);
    let output = u.output.unwrap_or(0);
    let thoughts = u.reasoning.filter(|r| *r > 0).map(|r| r.min(output));
    wire::UsageMetadata {
        prompt_token_count: Some(prompt),
        candidates_token_count: Some(output - thoughts.unwrap_or(0)),
        cached_content_token_count: u.cache_read,
        thoughts_token_count: thoughts,
        total_token_count: Some(prompt.saturating_add(output)),
    }
}

/// The stop reason of a candidate (or of a prompt blocked before any candidate).
pub(super) fn stop_of(finish: Option<&str>, blocked: bool, saw_call: bool) -> Option<StopReason> {
    let s = match finish {
        Some(f) => parse_finish(f),
        None if blocked => StopReason::Refusal,
        None => return None,
    };
    Some(if saw_call && s == StopReason::EndTurn {
        StopReason::ToolUse
    } else {
        s
    })
}

/// A `generateContent` response (also inside a Cloud Code `{"response": …}` envelope)
/// → IR.
pub fn parse_response(body: &[u8]) -> Result<ir::Response, TranslateError> {
    let inner = super::envelope::inner_slice(body);
    let w: wire::GenerateContentResponse = serde_json::from_slice(inner)
        .map_err(|e| TranslateError::Invalid(format!("Gemini response: {e}")))?;
    if let Some(e) = w.error {
        return Err(TranslateError::Invalid(format!(
            "Gemini response is an error: {}",
            e.message
        )));
    }
    let blocked = w
        .prompt_feedback
        .as_ref()
        .is_some_and(|f| f.block_reason.is_some());
    if w.candidates.is_empty() && !blocked {
        return Err(TranslateError::Invalid(
            "Gemini response has no `candidates`".into(),
        ));
    }
    let id = w.response_id.unwrap_or_default();
    let mut ids = CallIds::new(response_call_prefix(&id));
    let mut out_parts = Vec::new();
    let mut finish = None;
    if let Some(c) = w.candidates.into_iter().next() {
        if let Some(content) = c.content {
            parts::parse_parts(content.parts, &mut ids, &mut out_parts);
        }
        finish = c.finish_reason;
    }
    let saw_call = out_parts
        .iter()
        .any(|p| matches!(p, ir::Part::ToolCall { .. }));
    Ok(ir::Response {
        id,
        model: w.model_version.unwrap_or_default(),
        stop: stop_of(finish.as_deref(), blocked, saw_call),
        usage: w
            .usage_metadata
            .as_ref()
            .map(usage_from)
            .unwrap_or_default(),
        parts: out_parts,
    })
}

pub(super) fn response_id(id: &str) -> String {
    if id.is_empty() {
        super::super::new_id()
    } else {
        id.to_string()
    }
}

/// IR → `generateContent` response for a Gemini client, naming `client_model`.
pub fn emit_response(r: &ir::Response, client_model: &str) -> Bytes {
    let names = std::collections::HashMap::new();
    let w = wire::GenerateContentResponse {
        candidates: vec![wire::Candidate {
            content: Some(wire::Content {
                role: Some("model".into()),
                parts: parts::emit_parts(&r.parts, Rules::CLIENT, &names),
            }),
            finish_reason: r.stop.as_ref().map(|s| finish_name(s).to_string()),
            index: Some(0),
        }],
        prompt_feedback: None,
        usage_metadata: Some(usage_to(&r.usage)),
        model_version: Some(client_model.to_string()),
        response_id: Some(response_id(&r.id)),
        error: None,
    };
    crate::translate::wire::to_bytes(&w)
}

// ---------------------------------------------------------------- errors

/// Google's canonical status name for an error kind.
pub fn status_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::MethodNotAllowed
        | ErrorKind::TooLarge
        | ErrorKind::HeadersTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::Permission => "PERMISSION_DENIED",
        ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "UNAVAILABLE",
        ErrorKind::Api => "INTERNAL",
    }
}

fn kind_from_status_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::Permission,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "UNAVAILABLE" | "DEADLINE_EXCEEDED" => ErrorKind::Unavailable,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorKind::Api,
        _ => return None,
    })
}

/// `{"error": {"code", "message", "status"}}`; `code` is the HTTP status the error is
/// answered with.
pub fn emit_error(e: &ApiError) -> Bytes {
    crate::translate::wire::to_bytes(&wire::ErrorEnvelope {
        error: error_body(e),
    })
}

/// The same body as one `data:` frame (Gemini streams have no event names).
pub fn emit_stream_error(e: &ApiError) -> Bytes {
    crate::translate::sse::frame(
        None,
        &wire::ErrorEnvelope {
            error: error_body(e),
        },
    )
}

pub(super) fn error_body(e: &ApiError) -> wire::ErrorBody {
    wire::ErrorBody {
        code: Some(e.http_status()),
        message: e.message.clone(),
        status: Some(status_name(e.kind).into()),
        details: Vec::new(),
    }
}

pub(super) fn api_error(e: &wire::ErrorBody, http_status: u16) -> ApiError {
    // The numeric code is the most specific (413 vs 400); then the status name.
    let kind = e
        .code
        .filter(|c| *c >= 400)
        .map(ErrorKind::from_status)
        .filter(|k| *k != ErrorKind::Api || e.status.is_none())
        .or_else(|| e.status.as_deref().and_then(kind_from_status_name))
        .unwrap_or_else(|| ErrorKind::from_status(http_status));
    let message = if e.message.is_empty() {
        format!("upstream returned status {http_status}")
    } else {
        e.message.clone()
    };
    let status = e.code.filter(|c| *c >= 400).unwrap_or(http_status);
    let mut err = ApiError::new(kind, message);
    if status >= 400 && status != kind.status() {
        err.status = Some(status);
    }
    err
}

/// Error bodies come as `{"error": …}`, or as `[{"error": …}]` from the JSON-array
/// stream form, or wrapped in a Cloud Code envelope.
fn error_of(body: &[u8]) -> Option<wire::ErrorBody> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(wire::ErrorEnvelope),
        Many(Vec<wire::ErrorEnvelope>),
    }
    match serde_json::from_slice::<Shape>(super::envelope::inner_slice(body)).ok()? {
        Shape::One(e) => Some(e.error),
        Shape::Many(v) => v.into_iter().next().map(|e| e.error),
    }
}

/// A Gemini error body (or any body at all) with its HTTP status → [`ApiError`].
pub fn parse_error(http_status: u16, body: &[u8]) -> ApiError {
    if let Some(e) = error_of(body) {
        return api_error(&e, http_status);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let kind = ErrorKind::from_status(http_status);
    let message: String = if text.is_empty() {
        format!("upstream returned status {http_status}")
    } else {
        text.chars().take(2000).collect()
    };
    let mut err = ApiError::new(kind, message);
    if http_status != kind.status() {
        err.status = Some(http_status);
    }
    err
}

/// How long Google asks the caller to wait (`google.rpc.RetryInfo.retryDelay`, "30s").
pub fn retry_delay(body: &[u8]) -> Option<Duration> {
    let e = error_of(body)?;
    e.details.iter().find_map(|d| {
        let is_retry_info = d
            .get("@type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
        let delay = d.get("retryDelay").and_then(Value::as_str)?;
        let secs: f64 = delay.strip_suffix('s')?.parse().ok()?;
        (is_retry_info && secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(7.0 * 86_400.0)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn golden_response_parses() {
        let body = json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "Thinking about it", "thought": true},
                    {"text": "It is sunny.", "thoughtSignature": "sig-a"},
                    {"functionCall": {"name": "log", "args": {"x": 1}}}
                ]},
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": []
            }],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20,
                "cachedContentTokenCount": 30, "thoughtsTokenCount": 5, "totalTokenCount": 125},
            "modelVersion": "gemini-2.5-pro",
            "responseId": "resp-1"
        });
        let r = parse_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            r,
            ir::Response {
                id: "resp-1".into(),
                model: "gemini-2.5-pro".into(),
                parts: vec![
                    ir::Part::Thinking {
                        text: "Thinking about it".into(),
                        signature: Some("sig-a".into())
                    },
                    ir::Part::Text("It is sunny.".into()),
                    ir::Part::ToolCall {
                        id: "call_resp-1_0".into(),
                        name: "log".into(),
                        arguments: json!({"x": 1})
                    },
                ],
                stop: Some(StopReason::ToolUse),
                usage: ir::Usage {
                    reasoning: Some(5),
                    input: Some(70),
                    output: Some(25),
                    cache_read: Some(30),
                    cache_creation: None
                },
            }
        );
    }

    #[test]
    fn enveloped_and_blocked_responses() {
        let r = parse_response(
            br#"{"response": {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "MAX_TOKENS"}]}, "traceId": "t"}"#,
        )
        .unwrap();
        assert_eq!(r.parts, vec![ir::Part::Text("hi".into())]);
        assert_eq!(r.stop, Some(StopReason::MaxTokens));
        let r = parse_response(br#"{"promptFeedback": {"blockReason": "SAFETY"}}"#).unwrap();
        assert_eq!(r.stop, Some(StopReason::Refusal));
        assert!(r.parts.is_empty());
        let r = parse_response(
            br#"{"candidates": [{"content": {"role": "model", "parts": null}, "finishReason": "STOP"}]}"#,
        )
        .unwrap();
        assert!(r.parts.is_empty());
        let r = parse_response(
            br#"{"candidates": [{"content": {"parts": [{"text": "a", "thought": null}]}}]}"#,
        )
        .unwrap();
        assert_eq!(r.parts, vec![ir::Part::Text("a".into())]);
        assert!(parse_response(b"{}").is_err());
        assert!(parse_response(br#"{"error": {"code": 400, "message": "bad"}}"#).is_err());
    }

    #[test]
    fn finish_reasons_table() {
        for (wire, want) in [
            ("STOP", StopReason::EndTurn),
            ("MAX_TOKENS", StopReason::MaxTokens),
            ("SAFETY", StopReason::Refusal),
            ("RECITATION", StopReason::Refusal),
            ("PROHIBITED_CONTENT", StopReason::Refusal),
            ("MALFORMED_FUNCTION_CALL", StopReason::EndTurn),
            ("OTHER", StopReason::EndTurn),
        ] {
            assert_eq!(parse_finish(wire), want, "{wire}");
        }
        for s in [
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::Refusal,
        ] {
            assert_eq!(parse_finish(finish_name(&s)), s);
        }
        assert_eq!(finish_name(&StopReason::ToolUse), "STOP");
        assert_eq!(
            stop_of(Some("STOP"), false, true),
            Some(StopReason::ToolUse)
        );
        assert_eq!(stop_of(None, false, true), None);
    }

    #[test]
    fn usage_maps_thoughts_to_reasoning_both_ways() {
        let meta = |p: u64, c: u64, cached: Option<u64>, t: Option<u64>| wire::UsageMetadata {
            prompt_token_count: Some(p),
            candidates_token_count: Some(c),
            cached_content_token_count: cached,
            thoughts_token_count: t,
            total_token_count: Some(p + c + t.unwrap_or(0)),
        };
        let usage = |i: u64, o: u64, cached: Option<u64>, r: Option<u64>| ir::Usage {
            input: Some(i),
            output: Some(o),
            cache_read: cached,
            cache_creation: None,
            reasoning: r,
        };
        for (wire, ir) in [
            (
                meta(100, 20, Some(30), Some(5)),
                usage(70, 25, Some(30), Some(5)),
            ),
            (meta(10, 3, None, None), usage(10, 3, None, None)),
            (meta(7, 0, None, Some(4)), usage(7, 4, None, Some(4))),
        ] {
            assert_eq!(usage_from(&wire), ir);
            assert_eq!(usage_to(&ir), wire);
        }
        // Reasoning larger than the output (a dialect that counts them apart) is capped.
        let odd = usage_to(&usage(1, 2, None, Some(9)));
        assert_eq!(
            (odd.candidates_token_count, odd.thoughts_token_count),
            (Some(0), Some(2))
        );
    }

    #[test]
    fn golden_response_emitted() {
        let r = ir::Response {
            id: "msg_1".into(),
            model: "claude".into(),
            parts: vec![
                ir::Part::Thinking {
                    text: "hmm".into(),
                    signature: Some("S".into()),
                },
                ir::Part::ToolCall {
                    id: "toolu_9".into(),
                    name: "f".into(),
                    arguments: json!({"a": "b"}),
                },
            ],
            stop: Some(StopReason::ToolUse),
            usage: ir::Usage {
                reasoning: None,
                input: Some(10),
                output: Some(4),
                cache_read: Some(2),
                cache_creation: Some(1),
            },
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&emit_response(&r, "gemini-2.5-pro")).unwrap(),
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "hmm", "thought": true},
                        {"functionCall": {"id": "toolu_9", "name": "f", "args": {"a": "b"}}, "thoughtSignature": "S"}
                    ]},
                    "finishReason": "STOP",
                    "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 13, "candidatesTokenCount": 4,
                    "cachedContentTokenCount": 2, "totalTokenCount": 17},
                "modelVersion": "gemini-2.5-pro",
                "responseId": "msg_1"
            })
        );
    }

    #[test]
    fn errors_round_trip_every_kind() {
        for kind in ErrorKind::ALL {
            let e = ApiError::new(kind, format!("{kind:?} happened"));
            let body = emit_error(&e);
            let back = parse_error(kind.status(), &body);
            assert_eq!(back.message, e.message, "{kind:?}");
            assert_eq!(back.http_status(), kind.status(), "{kind:?}");
            assert_eq!(status_name(back.kind), status_name(kind), "{kind:?}");
        }
        assert_eq!(
            serde_json::from_slice::<Value>(&emit_error(&ApiError::new(
                ErrorKind::RateLimit,
                "slow down"
            )))
            .unwrap(),
            json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}})
        );
        let frame = emit_stream_error(&ApiError::new(ErrorKind::Api, "boom"));
        assert!(
            frame.starts_with(b"data: {\"error\":{\"code\":500"),
            "{frame:?}"
        );
    }

    #[test]
    fn error_shapes_seen_from_google() {
        let array = br#"[{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "32.5s"}]}}]"#;
        assert_eq!(
            parse_error(429, array),
            ApiError::new(ErrorKind::RateLimit, "Quota exceeded")
        );
        assert_eq!(retry_delay(array), Some(Duration::from_millis(32_500)));
        let status_only = br#"{"error": {"message": "no", "status": "PERMISSION_DENIED"}}"#;
        assert_eq!(parse_error(400, status_only).kind, ErrorKind::Permission);
        let html = b"<html>502 Bad Gateway</html>";
        assert_eq!(
            parse_error(502, html),
            ApiError {
                status: Some(502),
                ..ApiError::new(ErrorKind::Api, "<html>502 Bad Gateway</html>")
            }
        );
        assert_eq!(parse_error(503, b"").kind, ErrorKind::Unavailable);
        assert_eq!(retry_delay(status_only), None);
        assert_eq!(
            retry_delay(
                br#"{"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": "-3s"}]}}"#
            ),
            None
        );
    }
}
