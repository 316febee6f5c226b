//! Stand-in upstreams for cliproxy tests and benchmarks.
//!
//! One axum server that speaks, on loopback, the wire formats of the upstreams the gateway talks to:
//!
//! * Anthropic Messages: `POST …/v1/messages` (any prefix, any query such as `?beta=true`),
//!   `POST …/v1/messages/count_tokens`, `GET …/v1/models` (Anthropic list when `anthropic-version`
//!   is sent), errors as `{"type":"error","error":{"type","message"}}`.
//! * Anthropic OAuth token endpoint: `POST …/v1/oauth/token` with rotating refresh tokens.
//! * Codex (ChatGPT backend, Responses API): `POST …/responses` (SSE only) and
//!   `POST …/responses/compact`, refusing what the real backend refuses (see `codex.rs`).
//! * OpenAI Chat Completions: `POST …/chat/completions` under any base path (`/v1`, `/api/v1`,
//!   `/api/coding/paas/v4`, …), `GET …/models`, errors as `{"error":{"message","type","param","code"}}`.
//! * Gemini API: `POST …/v1beta/models/{model}:{generateContent|streamGenerateContent|countTokens}`
//!   (and Vertex's `…/v1/publishers/google/models/…`) with `x-goog-api-key` (see `gemini.rs`).
//! * Cloud Code `v1internal` (Gemini CLI, Antigravity): project discovery and wrapped answers,
//!   and a host that is down under `/unavailable/` (see `cloudcode.rs`).
//! * Amp (ampcode.com): its service routes (`/api/user`, `/api/threads`, …, `/threads`, `/auth`),
//!   see [`amp`]; its model passthroughs are the two above.
//! * A control surface under `/_standin/*` (see [`control`]) and the Rust API on [`StandIn`].
//!
//! Layout: this file routes requests and holds the helpers every upstream shares; one file per
//! stand-in upstream (`claude.rs`, `oauth.rs`, `openai.rs`), `models.rs` (both model lists),
//! `control.rs` (the control surface), `api.rs` (the Rust API), `state.rs` (programmed
//! behaviour and OAuth state) and `reply.rs` (reply planning shared by the dialects).
//!
//! Behaviour is programmable per upstream credential (the `x-api-key` value or the Bearer token),
//! with the key `"*"` as the default for credentials that have no entry of their own.
//!
//! Used in-process (`mod standin;` from `tests/*.rs`) and as the binary `examples/standin.rs`.
#![allow(dead_code)]

mod amp;
mod api;
mod claude;
mod cloudcode;
mod codex;
mod control;
mod gemini;
mod models;
mod oauth;
mod openai;
mod reply;
mod state;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

// Each test binary uses a different part of the API.
#[allow(unused_imports)]
pub use amp::HELD_MODEL as AMP_HELD_MODEL;
#[allow(unused_imports)]
pub use api::{Behavior, Issued, Options, RecordedRequest, StandIn, TlsIdentity};
#[allow(unused_imports)]
pub use cloudcode::CloudCode;
#[allow(unused_imports)]
pub use gemini::{
    Issuer as GeminiIssuer, SIGNATURE as GEMINI_SIGNATURE, signature_for as gemini_signature_for,
};
use state::{Effective, Shared};

/// Text answered when nothing more specific applies.
pub const DEFAULT_TEXT: &str = "Hello from the stand-in.";
/// Models listed by `GET /v1/models`.
pub const MODELS: &[&str] = &[
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "gpt-4o-mini",
    "upstream/model-x",
];
const BODY_LIMIT: usize = 64 << 20;

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(move |req: Request| {
        let sh = shared.clone();
        async move { dispatch(sh, req).await }
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    Anthropic,
    OpenAi,
    Gemini,
}

async fn dispatch(sh: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/_standin/") {
        return control::control(&sh, &parts, body).await;
    }
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return claude::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "request body too large or unreadable",
            );
        }
    };
    if sh.record.load(Ordering::Relaxed) {
        let rec = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            uri: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.clone(),
            at: sh.started.elapsed(),
        };
        sh.requests.lock().push(rec);
    }
    let path = parts.uri.path();
    let path = path.strip_suffix('/').unwrap_or(path);
    if amp::handles(path) {
        return amp::serve(&sh, &parts.method, path, parts.uri.query(), &parts.headers).await;
    }
    if amp::wants_held_messages(path, &body) {
        return amp::held_messages(&sh);
    }
    if path.starts_with("/unavailable/") {
        return cloudcode::unavailable();
    }
    if parts.method == Method::POST
        && let Some((_, action)) = path.rsplit_once("/v1internal:")
    {
        return cloudcode::v1internal(&sh, &parts.headers, action, parts.uri.query(), &body).await;
    }
    if parts.method == Method::POST
        && (path.contains("/v1beta/models/") || path.contains("/publishers/google/models/"))
    {
        return gemini::models_action(&sh, &parts.headers, path, parts.uri.query(), &body).await;
    }
    match parts.method {
        Method::POST if path.ends_with("/v1/messages") => {
            claude::messages(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/v1/messages/count_tokens") => {
            claude::count_tokens(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/responses") => {
            codex::responses(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/responses/compact") => {
            codex::compact(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/oauth/token") => {
            oauth::token(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/chat/completions") => {
            openai::chat(&sh, &parts.headers, &body).await
        }
        Method::GET if path.ends_with("/models") => models::list(&sh, &parts.headers).await,
        _ if path.contains("chat") || path.contains("/api/") => openai::error(
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {} {}", parts.method, parts.uri.path()),
        ),
        _ => claude::error(
            StatusCode::NOT_FOUND,
            None,
            &format!("Not found: {} {}", parts.method, parts.uri.path()),
        ),
    }
}

/// `x-api-key`, else the Bearer token of `Authorization`.
fn credential(h: &HeaderMap) -> Option<&str> {
    if let Some(v) = h
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        return Some(v);
    }
    let auth = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let tok = match auth.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => auth.trim(),
    };
    (!tok.is_empty()).then_some(tok)
}

// ---------------------------------------------------------------------------------------------
// Shared response helpers
// ---------------------------------------------------------------------------------------------

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn sse_response(frames: Vec<Bytes>, interval: Duration) -> Response {
    let body = if interval.is_zero() {
        Body::from_stream(futures_util::stream::iter(
            frames.into_iter().map(Ok::<Bytes, Infallible>),
        ))
    } else {
        // Frame i is due at start + i * interval (absolute schedule: no drift from timer rounding).
        let start = tokio::time::Instant::now();
        Body::from_stream(futures_util::stream::unfold(
            (frames.into_iter(), 0u32),
            move |(mut it, i)| async move {
                let f = it.next()?;
                if i > 0 {
                    tokio::time::sleep_until(start + interval * i).await;
                }
                Some((Ok::<Bytes, Infallible>(f), (it, i + 1)))
            },
        ))
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("request-id", HeaderValue::from_static("req_standin"));
    r
}

/// Apply delay, always-401 and fail-next; `Some(response)` when the request ends here.
async fn apply_behavior(eff: &Effective, dialect: Dialect) -> Option<Response> {
    if eff.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(eff.delay_ms)).await;
    }
    if eff.unauthorized {
        return Some(error_for(dialect, StatusCode::UNAUTHORIZED, None, None));
    }
    if let Some((status, retry_after, msg)) = &eff.fail {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Some(error_for(
            dialect,
            status,
            retry_after.as_deref(),
            msg.as_deref(),
        ));
    }
    None
}

fn error_for(
    dialect: Dialect,
    status: StatusCode,
    retry_after: Option<&str>,
    msg: Option<&str>,
) -> Response {
    let default_msg = match status.as_u16() {
        401 => "invalid x-api-key",
        403 => "Your credit balance is too low to access the API.",
        404 => "model not found",
        429 => "This request would exceed your account's rate limit. Please try again later.",
        529 => "Overloaded",
        500 => "Internal server error",
        _ => "Stand-in failure",
    };
    let msg = msg.unwrap_or(default_msg);
    let mut resp = match dialect {
        Dialect::Anthropic => claude::error(status, None, msg),
        Dialect::OpenAi => openai::error(status, msg),
        Dialect::Gemini => gemini::error(status, msg),
    };
    if let Some(ra) = retry_after
        && let Ok(v) = HeaderValue::from_str(ra)
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}
