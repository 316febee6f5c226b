//! Reading error bodies. Upstreams answer errors in whatever shape they like (their own
//! dialect, another's, a bare string, HTML from a proxy), so one reader accepts all of
//! them; writing is per dialect (each file's `emit_error`).
//!
//! Also the gateway's own errors of translation: [`TranslateError`] for a body that
//! cannot be converted, and the error a stream reports when it ends early.

use bytes::Bytes;
use serde::Deserialize;

use super::ir::{ApiError, ErrorKind};
use super::wire::{LaxStr, StrOr, shape};
use super::{Dialect, error_body};

/// `{"error": …}` in any dialect, plus the top-level `message`/`detail` some
/// frameworks answer with.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AnyBody {
    error: ErrorMember,
    message: LaxStr,
    detail: LaxStr,
}

/// The `error` member: a bare string or an object.
pub(crate) type ErrorMember = StrOr<ErrorObject>;

/// Anthropic `{type, message}`, OpenAI `{message, type, code}` (code a string, or the
/// HTTP status on OpenRouter), Gemini `{code, message, status}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default, rename = "type")]
    kind: LaxStr,
    #[serde(default)]
    code: Code,
    #[serde(default)]
    status: LaxStr,
    #[serde(default)]
    message: LaxStr,
}

shape!(Map: ErrorObject);

#[derive(Debug, Default)]
struct Code {
    name: Option<String>,
    number: Option<u64>,
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Code;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, s: &str) -> Result<Code, E> {
                Ok(Code {
                    name: Some(s.to_owned()),
                    number: None,
                })
            }
            fn visit_u64<E>(self, n: u64) -> Result<Code, E> {
                Ok(Code {
                    name: None,
                    number: Some(n),
                })
            }
            fn visit_i64<E>(self, _: i64) -> Result<Code, E> {
                Ok(Code::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Code, E> {
                Ok(Code::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Code, E> {
                Ok(Code::default())
            }
            fn visit_unit<E>(self) -> Result<Code, E> {
                Ok(Code::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Code, A::Error> {
                serde::de::IgnoredAny.visit_seq(a).map(|_| Code::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Code, A::Error> {
                serde::de::IgnoredAny.visit_map(a).map(|_| Code::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Error type/code/status names of every dialect (and of common compatible upstreams) → kind.
pub(crate) fn kind_from_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "invalid_request_error"
        | "INVALID_ARGUMENT"
        | "FAILED_PRECONDITION"
        | "invalid_request" => ErrorKind::InvalidRequest,
        "authentication_error" | "invalid_api_key" | "UNAUTHENTICATED" => ErrorKind::Authentication,
        "permission_error" | "permission_denied" | "PERMISSION_DENIED" => ErrorKind::Permission,
        "not_found_error" | "model_not_found" | "NOT_FOUND" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::TooLarge,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "insufficient_quota"
        | "model_cooldown"
        | "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "overloaded_error" | "overloaded" => ErrorKind::Overloaded,
        "UNAVAILABLE" => ErrorKind::Unavailable,
        "api_error" | "server_error" | "internal_server_error" | "INTERNAL" => ErrorKind::Api,
        _ => return None,
    })
}

/// Reads an `error` member; `status` is the HTTP status it came with (`None` inside a
/// stream). `None` when the member is absent or neither a string nor an object.
pub(crate) fn read_member(e: ErrorMember, status: Option<u16>) -> Option<ApiError> {
    let by_status = |s: Option<u16>| s.map_or(ErrorKind::Api, ErrorKind::from_status);
    let (kind, message) = match e {
        StrOr::Neither => return None,
        StrOr::Str(s) => (by_status(status), Some(s)),
        StrOr::Other(o) => {
            let kind = [&o.kind.0, &o.code.name, &o.status.0]
                .into_iter()
                .flatten()
                .find_map(|n| kind_from_name(n))
                // OpenRouter and Gemini put the HTTP status in a numeric `code`.
                .unwrap_or_else(|| {
                    by_status(o.code.number.and_then(|c| u16::try_from(c).ok()).or(status))
                });
            (kind, o.message.0)
        }
    };
    Some(upstream_error(kind, message, status))
}

fn upstream_error(kind: ErrorKind, message: Option<String>, status: Option<u16>) -> ApiError {
    let message = message.unwrap_or_else(|| match status {
        Some(s) => format!("upstream returned status {s}"),
        None => "upstream error".into(),
    });
    ApiError {
        status: status.filter(|s| *s != kind.status()),
        ..ApiError::new(kind, message)
    }
}

/// Any dialect's error body (or a body that is not JSON) that came with HTTP `status`.
pub fn parse_error(status: u16, body: &[u8]) -> ApiError {
    let kind = ErrorKind::from_status(status);
    match serde_json::from_slice::<AnyBody>(body) {
        Ok(b) => {
            let top = b.message.0.or(b.detail.0);
            read_member(b.error, Some(status))
                .unwrap_or_else(|| upstream_error(kind, top, Some(status)))
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = (!text.is_empty()).then(|| text.chars().take(2000).collect());
            upstream_error(kind, message, Some(status))
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranslateError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body does not have the expected shape: {0}")]
    Invalid(String),
    #[error("translation from {from:?} to {to:?} is not supported")]
    Unsupported { from: Dialect, to: Dialect },
}

impl From<serde_json::Error> for TranslateError {
    fn from(e: serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Data => TranslateError::Invalid(e.to_string()),
            _ => TranslateError::Json(e.to_string()),
        }
    }
}

/// Upstream error body (any status) in `from` → error body in `to`'s shape, keeping
/// the message and mapping the type. Bodies that are not JSON (HTML from a proxy,
/// plain text) become the message. Same-dialect bodies pass through unchanged.
pub fn translate_error(from: Dialect, to: Dialect, status: u16, body: &[u8]) -> Bytes {
    if from == to && !body.is_empty() {
        return Bytes::copy_from_slice(body);
    }
    error_body(to, &parse_error(status, body))
}

/// What encoders report when the upstream stops before the message is complete.
pub(crate) fn truncated_stream() -> ApiError {
    ApiError::new(
        ErrorKind::Api,
        "upstream closed the stream before the message completed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, body: &str) -> (ErrorKind, String, u16) {
        let e = parse_error(status, body.as_bytes());
        (e.kind, e.message.clone(), e.http_status())
    }

    #[test]
    fn every_shape_reads_to_kind_message_and_status() {
        let cases = [
            (
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                (ErrorKind::Overloaded, "Overloaded", 529),
            ),
            (
                429,
                r#"{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
                (ErrorKind::RateLimit, "slow down", 429),
            ),
            (
                200,
                r#"{"error":{"message":"Provider returned error","code":429}}"#,
                (ErrorKind::RateLimit, "Provider returned error", 200),
            ),
            (
                503,
                r#"{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}"#,
                (ErrorKind::Unavailable, "busy", 503),
            ),
            (
                403,
                r#"{"error":"Missing API key"}"#,
                (ErrorKind::Permission, "Missing API key", 403),
            ),
            (
                422,
                r#"{"detail":"bad field"}"#,
                (ErrorKind::InvalidRequest, "bad field", 422),
            ),
            (
                502,
                "<html>Bad Gateway</html>",
                (ErrorKind::Api, "<html>Bad Gateway</html>", 502),
            ),
            (
                500,
                r#"{"error":{"type":{"odd":1},"code":[1],"message":7}}"#,
                (ErrorKind::Api, "upstream returned status 500", 500),
            ),
            (
                503,
                "",
                (ErrorKind::Unavailable, "upstream returned status 503", 503),
            ),
        ];
        for (status, body, (kind, message, http)) in cases {
            assert_eq!(
                read(status, body),
                (kind, message.to_string(), http),
                "{body}"
            );
        }
    }
}
