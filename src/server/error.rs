//! The one place errors become HTTP responses, in the route's dialect.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::translate::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    Overloaded,
    Api,
}

impl Kind {
    fn anthropic(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "invalid_request_error",
            Kind::Authentication => "authentication_error",
            Kind::Permission => "permission_error",
            Kind::NotFound => "not_found_error",
            Kind::RateLimit => "rate_limit_error",
            Kind::Overloaded => "overloaded_error",
            Kind::Api => "api_error",
        }
    }

    fn openai(self) -> (&'static str, &'static str) {
        match self {
            Kind::InvalidRequest => ("invalid_request_error", "invalid_request"),
            Kind::Authentication => ("authentication_error", "invalid_api_key"),
            Kind::Permission => ("permission_error", "forbidden"),
            Kind::NotFound => ("invalid_request_error", "model_not_found"),
            Kind::RateLimit => ("rate_limit_error", "rate_limit_exceeded"),
            Kind::Overloaded => ("server_error", "overloaded"),
            Kind::Api => ("server_error", "internal_server_error"),
        }
    }
}

/// An error produced by the gateway itself (upstream errors pass through as received).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub dialect: Dialect,
    pub status: StatusCode,
    pub kind: Kind,
    pub message: String,
    /// Overrides the OpenAI `code` field (e.g. `model_cooldown`).
    pub code: Option<&'static str>,
    pub retry_after: Option<u64>,
    /// Extra top-level fields inside `error` (model, reset_seconds, ...).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(
        dialect: Dialect,
        status: StatusCode,
        kind: Kind,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            dialect,
            status,
            kind,
            message: message.into(),
            code: None,
            retry_after: None,
            extra: None,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        match self.dialect {
            Dialect::Anthropic => {
                let mut e = json!({"type": self.kind.anthropic(), "message": self.message});
                if let (Some(code), Some(o)) = (self.code, e.as_object_mut()) {
                    o.insert("code".into(), code.into());
                }
                if let (Some(x), Some(o)) = (&self.extra, e.as_object_mut()) {
                    o.extend(x.clone());
                }
                json!({"type": "error", "error": e})
            }
            Dialect::OpenAiChat => {
                let (t, c) = self.kind.openai();
                let mut e =
                    json!({"message": self.message, "type": t, "code": self.code.unwrap_or(c)});
                if let (Some(x), Some(o)) = (&self.extra, e.as_object_mut()) {
                    o.extend(x.clone());
                }
                json!({"error": e})
            }
            Dialect::Gemini => {
                let status = match self.kind {
                    Kind::InvalidRequest => "INVALID_ARGUMENT",
                    Kind::Authentication => "UNAUTHENTICATED",
                    Kind::Permission => "PERMISSION_DENIED",
                    Kind::NotFound => "NOT_FOUND",
                    Kind::RateLimit => "RESOURCE_EXHAUSTED",
                    Kind::Overloaded => "UNAVAILABLE",
                    Kind::Api => "INTERNAL",
                };
                json!({"error": {"code": self.status.as_u16(), "message": self.message, "status": status}})
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, message = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, message = %self.message, "request rejected");
        }
        let body = self.body().to_string();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_dialect() {
        let a = ApiError::new(
            Dialect::Anthropic,
            StatusCode::UNAUTHORIZED,
            Kind::Authentication,
            "Invalid API key",
        );
        assert_eq!(
            a.body(),
            json!({"type":"error","error":{"type":"authentication_error","message":"Invalid API key"}})
        );
        let o = ApiError {
            dialect: Dialect::OpenAiChat,
            ..a
        };
        assert_eq!(
            o.body(),
            json!({"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}})
        );
    }
}
