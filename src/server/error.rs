//! The one place errors become HTTP responses. There is one error type
//! ([`ApiError`], from the translation layer); its kind gives the status (one table,
//! [`Kind::status`]) and the route's dialect gives the body (that dialect file's
//! `emit_error`). The framework's own rejections (unknown route, wrong method) come
//! through here too, so every error a client sees has its dialect's shape.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

pub use crate::translate::ir::{ApiError, Cooldown, ErrorKind as Kind};
use crate::translate::{self, Dialect};

/// The dialect a path speaks, for error bodies. OpenAI's shape is the default: it is
/// what most clients (and CLIProxyAPI) expect from an unknown path.
pub fn route_dialect(path: &str) -> Dialect {
    // Amp's model calls speak their provider's dialect.
    if let Some(rest) = path.strip_prefix("/api/provider/") {
        let (provider, rest) = rest.split_once('/').unwrap_or((rest, ""));
        return match provider {
            "anthropic" => Dialect::Anthropic,
            "google" => Dialect::Gemini,
            _ if rest.starts_with("v1beta") => Dialect::Gemini,
            _ => Dialect::OpenAiChat,
        };
    }
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/v1/messages") {
        Dialect::Anthropic
    } else if under("/v1/responses") {
        Dialect::Responses
    } else if under("/v1/completions") {
        Dialect::Completions
    } else if under("/v1beta") {
        Dialect::Gemini
    } else {
        Dialect::OpenAiChat
    }
}

/// `err` as the answer of a route speaking `dialect`. Client errors are logged at
/// debug level (they are the client's problem), server errors as errors.
pub fn respond(dialect: Dialect, err: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = crate::config::clip(&err.message);
    if status.is_server_error() {
        tracing::error!(status = %status, %message, "request failed");
    } else {
        tracing::debug!(status = %status, %message, "request rejected");
    }
    let mut resp = Response::new(Body::from(translate::error_body(dialect, err)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(c) = &err.cooldown {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(c.reset_seconds));
    }
    resp
}

/// An error together with the dialect of the route it answers.
#[derive(Debug)]
pub struct Rejection(pub Dialect, pub ApiError);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        respond(self.0, &self.1)
    }
}

/// Fallback for paths no route serves.
pub async fn unknown_route(req: Request) -> Response {
    let path = req.uri().path();
    let msg = format!("no such endpoint: {} {path}", req.method());
    respond(
        route_dialect(path),
        &ApiError::new(Kind::NotFound, msg).with_code("unknown_endpoint"),
    )
}

/// Fallback for a known path asked with a method it does not serve (axum adds `Allow`).
pub async fn wrong_method(req: Request) -> Response {
    let path = req.uri().path();
    let msg = format!("{} is not allowed on {path}", req.method());
    respond(
        route_dialect(path),
        &ApiError::new(Kind::MethodNotAllowed, msg),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    async fn body(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn paths_map_to_their_dialect() {
        for (path, d) in [
            ("/v1/messages", Dialect::Anthropic),
            ("/v1/messages/count_tokens", Dialect::Anthropic),
            ("/v1/messagesx", Dialect::OpenAiChat),
            ("/v1/chat/completions", Dialect::OpenAiChat),
            ("/v1/models", Dialect::OpenAiChat),
            ("/v1/responses", Dialect::Responses),
            ("/v1/responses/compact", Dialect::Responses),
            ("/v1/responsesx", Dialect::OpenAiChat),
            ("/v1/completions", Dialect::Completions),
            (
                "/v1beta/models/gemini-2.5-pro:generateContent",
                Dialect::Gemini,
            ),
            ("/v1beta", Dialect::Gemini),
            ("/api/provider/anthropic/v1/messages", Dialect::Anthropic),
            (
                "/api/provider/openai/v1/chat/completions",
                Dialect::OpenAiChat,
            ),
            (
                "/api/provider/google/v1beta/models/g:generateContent",
                Dialect::Gemini,
            ),
            ("/api/user", Dialect::OpenAiChat),
            ("/nope", Dialect::OpenAiChat),
            ("/", Dialect::OpenAiChat),
        ] {
            assert_eq!(route_dialect(path), d, "{path}");
        }
    }

    #[tokio::test]
    async fn status_comes_from_the_kind_and_shape_from_the_dialect() {
        let e = ApiError::new(Kind::Authentication, "Invalid API key");
        assert_eq!(
            body(respond(Dialect::Anthropic, &e)).await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"type":"error","error":{"type":"authentication_error","message":"Invalid API key"}})
            )
        );
        assert_eq!(
            body(respond(Dialect::OpenAiChat, &e)).await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"error":{"message":"Invalid API key","type":"authentication_error","code":"invalid_api_key"}})
            )
        );
        assert_eq!(
            body(respond(Dialect::Gemini, &e)).await,
            (
                StatusCode::UNAUTHORIZED,
                json!({"error":{"code":401,"message":"Invalid API key","status":"UNAUTHENTICATED"}})
            )
        );
    }

    #[tokio::test]
    async fn cooldowns_carry_retry_after_and_their_facts() {
        let e = ApiError {
            cooldown: Some(Cooldown {
                model: "m".into(),
                reset_seconds: 42,
            }),
            ..ApiError::new(Kind::RateLimit, "cooling").with_code("model_cooldown")
        };
        let r = respond(Dialect::OpenAiChat, &e);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert_eq!(
            body(r).await,
            (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error":{"message":"cooling","type":"rate_limit_error","code":"model_cooldown",
                    "model":"m","reset_seconds":42}})
            )
        );
    }
}
