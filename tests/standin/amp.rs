//! Stand-in Amp service (ampcode.com): its own routes, answered with small JSON
//! bodies, a held stream, and the CLI login redirect. Its model passthroughs
//! (`/api/provider/{anthropic,openai}/v1/…`) are the Anthropic and OpenAI stand-ins
//! (the paths end like theirs), so every request the gateway forwards to Amp is
//! recorded like any other, with the key it carried.
//!
//! * `GET/POST /api/{auth,user,meta,threads,telemetry,internal,ads,otel,tab}[/…]`:
//!   401 `{"error":"unauthorized"}` without a credential, else
//!   `{"ok":true,"method","path","query"}` (`/api/user` answers a user object).
//! * `GET /api/…/stream`: SSE; the first event goes out at once, the second only after
//!   [`super::StandIn::release_amp_stream`] (or `POST /_standin/amp/release`), so a test
//!   sees whether the gateway passes chunks on before the upstream has finished.
//! * `POST /api/provider/anthropic/v1/messages` with model [`HELD_MODEL`]: an Anthropic
//!   stream whose `message_start` (input usage) goes out at once and whose end
//!   (`message_delta` with the output usage, `message_stop`) waits for the same release.
//! * `GET /threads`, `/docs`, `/settings`, `/*.rss`: HTML. `GET /auth/cli-login`: 302 to
//!   `/auth/sign-in` (a reverse proxy hands redirects back, it does not follow them).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::state::Shared;
use super::{credential, json_response};

/// Amp's own service routes under `/api/`.
const API_ROUTES: &[&str] = &[
    "auth",
    "user",
    "meta",
    "threads",
    "telemetry",
    "internal",
    "ads",
    "otel",
    "tab",
];
const ROOT_ROUTES: &[&str] = &["threads", "docs", "settings", "auth"];

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `path` is one of the Amp service's routes (not a model call).
pub(super) fn handles(path: &str) -> bool {
    API_ROUTES.iter().any(|r| under(path, &format!("/api/{r}")))
        || ROOT_ROUTES.iter().any(|r| under(path, &format!("/{r}")))
        || (path.ends_with(".rss") && !path[1..].contains('/'))
}

pub(super) async fn serve(
    sh: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    if path.starts_with("/api/") {
        if credential(headers).is_none() {
            return json_response(StatusCode::UNAUTHORIZED, &json!({"error": "unauthorized"}));
        }
        if path.ends_with("/stream") && method == Method::GET {
            return held_stream(sh);
        }
        if path == "/api/user" {
            return json_response(
                StatusCode::OK,
                &json!({"id": "user-standin", "email": "amp@example.com", "displayName": "Stand-in"}),
            );
        }
        return json_response(
            StatusCode::OK,
            &json!({"ok": true, "method": method.as_str(), "path": path, "query": query}),
        );
    }
    if path == "/auth/cli-login" {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::FOUND;
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_static("/auth/sign-in?from=cli"),
        );
        return r;
    }
    let mut r = Response::new(Body::from(format!(
        "<!doctype html><title>Amp stand-in</title><p>{path}</p>"
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Two events; the second waits for a release permit.
fn held_stream(sh: &Shared) -> Response {
    let gate = sh.amp_release.clone();
    let first = futures_util::stream::once(async {
        Ok::<Bytes, Infallible>(Bytes::from_static(b"data: {\"n\":1}\n\n"))
    });
    let rest = futures_util::stream::once(async move {
        if let Ok(permit) = gate.acquire().await {
            permit.forget();
        }
        Ok::<Bytes, Infallible>(Bytes::from_static(b"data: {\"n\":2,\"done\":true}\n\n"))
    });
    let mut r = Response::new(Body::from_stream(futures_util::StreamExt::chain(
        first, rest,
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

/// The model whose Anthropic stream Amp holds (see the module comment).
pub const HELD_MODEL: &str = "amp-held-stream-model";

/// Whether a model call at `path` with `body` asks for the held stream.
pub(super) fn wants_held_messages(path: &str, body: &[u8]) -> bool {
    path.starts_with("/api/provider/")
        && path.ends_with("/v1/messages")
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["model"] == HELD_MODEL)
}

/// An Anthropic stream: 11 input tokens at once, 7 output tokens after a release.
pub(super) fn held_messages(sh: &Shared) -> Response {
    let gate = sh.amp_release.clone();
    let start = format!(
        "event: message_start\ndata: {}\n\n",
        json!({"type": "message_start", "message": {"id": "msg_amp_held", "type": "message",
            "role": "assistant", "model": HELD_MODEL, "content": [],
            "usage": {"input_tokens": 11, "output_tokens": 1}}})
    );
    let end = format!(
        "event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {}\n\n",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
        json!({"type": "message_stop"})
    );
    let first =
        futures_util::stream::once(async move { Ok::<Bytes, Infallible>(Bytes::from(start)) });
    let rest = futures_util::stream::once(async move {
        if let Ok(permit) = gate.acquire().await {
            permit.forget();
        }
        Ok::<Bytes, Infallible>(Bytes::from(end))
    });
    let mut r = Response::new(Body::from_stream(futures_util::StreamExt::chain(
        first, rest,
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}
