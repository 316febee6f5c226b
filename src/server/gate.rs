//! Admission of API requests, before any handler: the client key, the header budget
//! and the body size. Each rejection is answered in the route's dialect (axum's own
//! rejections would be plain text).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::browser;
use super::error::{ApiError, Kind, respond, route_dialect};
use super::keys;
use super::metrics;
use super::state::{AppState, Snapshot};
use super::usage_tap::{self, ClientKey};
use crate::config::Config;
use crate::translate::Dialect;

/// Total bytes of header names and values a request may carry. Far above what API
/// clients send; hyper's own hard limit (about 400 KiB, answered with an empty 431
/// before any route is known) stays behind it.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct Gate {
    pub state: Arc<AppState>,
    /// `body-limit` as the router was built with.
    pub body_limit: usize,
    /// Record the usage of what passes ([`usage_tap`]).
    pub usage: bool,
    /// Count and time what passes ([`metrics::timed`]), for routes that no outer
    /// [`metrics::track`] layer counts: one middleware per proxied request, not three.
    pub metrics: bool,
}

/// What the gate admitted, for the handler: the request's headers (moved, not cloned)
/// and its whole body as read within `body-limit`. Must be the handler's last argument.
pub struct Admitted {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The body the gate read, carried to [`Admitted`] without re-wrapping it in a `Body`.
#[derive(Clone)]
struct ReadBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for Admitted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let body = match parts.extensions.remove::<ReadBody>() {
            Some(ReadBody(b)) => b,
            // Bodies the gate does not read (GET, HEAD; routes it does not guard) are
            // read here, within the router's `DefaultBodyLimit`.
            None => Bytes::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?,
        };
        Ok(Admitted { headers, body })
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(Kind::Permission, message)
}

/// The request's host name: the `Host` header, or the URI authority (HTTP/2).
fn request_host<'a>(headers: &'a HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
    headers
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or(""))
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// What browsers may send ([`browser`]): the `Host` a loopback gateway answers to and
/// the page origin.
fn check_browser(cfg: &Config, headers: &HeaderMap, uri: &http::Uri) -> Result<(), ApiError> {
    if !browser::host_allowed(request_host(headers, uri), &cfg.host, &cfg.allowed_hosts) {
        return Err(forbidden(
            "this gateway listens on loopback and answers only to loopback host names (add the name to allowed-hosts)",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !browser::origin_allowed(origin, &cfg.allowed_origins) {
            return Err(forbidden(
                "requests from web pages are refused unless their origin is listed in allowed-origins",
            ));
        }
    }
    Ok(())
}

/// The answer to a CORS preflight from an allowed origin: what the page may send.
fn preflight(origin: &HeaderValue, headers: &HeaderMap) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}

/// Why a request is turned away before its handler runs.
/// `Ok` carries the usage label of the client key that matched (none when keys are off).
fn check_head(
    snap: &Snapshot,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<ClientKey>, ApiError> {
    let size: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            Kind::HeadersTooLarge,
            format!("request headers total {size} bytes; the limit is {MAX_HEADER_BYTES}"),
        ));
    }
    match keys::check(&snap.config.api_keys, headers, query) {
        keys::KeyCheck::Open => Ok(None),
        keys::KeyCheck::Matched(i) => Ok(snap.key_labels.get(i).cloned().map(ClientKey)),
        keys::KeyCheck::Missing => Err(ApiError::new(Kind::Authentication, "Missing API key")),
        keys::KeyCheck::Invalid => Err(ApiError::new(Kind::Authentication, "Invalid API key")),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        Kind::TooLarge,
        format!("request body is larger than the limit of {limit} bytes (body-limit)"),
    )
}

/// Reads the whole body within `limit`. A body that arrives in one chunk is kept as is;
/// only a body in several chunks is copied into one buffer.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut buf: Option<bytes::BytesMut> = None;
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                Kind::InvalidRequest,
                format!("could not read the request body: {e}"),
            )
        })?;
        total += chunk.len();
        if total > limit {
            return Err(too_large(limit));
        }
        match (&mut buf, first.take()) {
            (Some(b), _) => b.extend_from_slice(&chunk),
            (None, None) => first = Some(chunk),
            (None, Some(f)) => {
                let mut b = bytes::BytesMut::with_capacity(f.len() + chunk.len());
                b.extend_from_slice(&f);
                b.extend_from_slice(&chunk);
                buf = Some(b);
            }
        }
    }
    Ok(buf
        .map(bytes::BytesMut::freeze)
        .or(first)
        .unwrap_or_default())
}

pub async fn admit(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    if !gate.metrics {
        return admit_request(&gate, req, next).await;
    }
    metrics::timed(metrics::route_of(&req), admit_request(&gate, req, next)).await
}

async fn admit_request(gate: &Gate, req: Request, next: Next) -> Response {
    let dialect = route_dialect(req.uri().path());
    let snap = gate.state.current();
    if let Err(e) = check_browser(&snap.config, req.headers(), req.uri()) {
        return respond(dialect, &e);
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let Some(origin) = &origin
        && req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        // Preflights carry no key; only allowed origins get this far.
        return preflight(origin, req.headers());
    }
    let key = match check_head(&snap, req.headers(), req.uri().query()) {
        Ok(key) => key,
        Err(e) => return respond(dialect, &e),
    };
    // Not held for the request's life: the handler takes its own snapshot.
    drop(snap);
    let mut resp = admit_body(gate, dialect, req, key, next).await;
    if let Some(origin) = origin {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

async fn admit_body(
    gate: &Gate,
    dialect: Dialect,
    req: Request,
    key: Option<ClientKey>,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return run(gate, req, key, next).await;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    if req.method() == Method::POST && !browser::is_json(content_type) {
        return respond(
            dialect,
            &ApiError {
                status: Some(415),
                ..ApiError::new(
                    Kind::InvalidRequest,
                    "the request body must be JSON (Content-Type: application/json)",
                )
            },
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > gate.body_limit as u64) {
        return respond(dialect, &too_large(gate.body_limit));
    }
    let (mut parts, body) = req.into_parts();
    match read_body(body, gate.body_limit).await {
        Ok(bytes) => {
            parts.extensions.insert(ReadBody(bytes));
            run(gate, Request::from_parts(parts, Body::empty()), key, next).await
        }
        Err(e) => respond(dialect, &e),
    }
}

/// The handler, with its usage recorded when the gate records usage.
async fn run(gate: &Gate, req: Request, key: Option<ClientKey>, next: Next) -> Response {
    let begun = if gate.usage {
        usage_tap::begin(&gate.state, key)
    } else {
        None
    };
    let resp = next.run(req).await;
    match begun {
        Some(b) => usage_tap::finish(&gate.state, b, resp),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn bodies_are_joined_and_bounded() {
        let b = read_body(chunked(&[b"{\"a\":", b"1}"]), 7).await.unwrap();
        assert_eq!(&b[..], b"{\"a\":1}");
        let e = read_body(chunked(&[b"{\"a\":", b"12}"]), 7)
            .await
            .unwrap_err();
        assert_eq!(e.kind, Kind::TooLarge);
        assert!(read_body(chunked(&[]), 7).await.unwrap().is_empty());
        let one = Bytes::from_static(b"{}");
        let got = read_body(Body::from(one.clone()), 7).await.unwrap();
        assert_eq!(got.as_ptr(), one.as_ptr(), "a single chunk is not copied");
    }
}
