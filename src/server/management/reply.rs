//! JSON answers of the management API (CLIProxyAPI's shapes: `{"status":"ok"}`,
//! `{"error": "..."}`).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

pub fn json(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn ok_json(v: &Value) -> Response {
    json(StatusCode::OK, v)
}

pub fn ok() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

pub fn error(status: StatusCode, message: &str) -> Response {
    json(status, &json!({"error": message}))
}

/// A failed management call: status, short error code, and what went wrong.
#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl Fail {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Fail {
        Fail {
            status,
            error,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> Fail {
        Fail::new(StatusCode::BAD_REQUEST, "invalid body", message)
    }

    pub fn not_found(message: impl Into<String>) -> Fail {
        Fail::new(StatusCode::NOT_FOUND, "not found", message)
    }

    pub fn internal(message: impl Into<String>) -> Fail {
        Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", message)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(error = self.error, message = %self.message, "management call failed");
        }
        json(
            self.status,
            &json!({"error": self.error, "message": self.message}),
        )
    }
}

pub type Result<T = Response> = std::result::Result<T, Fail>;
