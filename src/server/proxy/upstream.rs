//! One attempt on one route: build the request through its provider, send it, and
//! turn the answer into an [`Attempt`]. A 2xx is committed to the client only once its
//! first byte has arrived, so a stream that dies before that can go to another account;
//! after it, chunks are passed on (unwrapped and translated where needed) as they come.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Call;
use super::policy::{Failure, Outcome};
use super::stream::{Reframe, stream_body};
use crate::auth::registry::Route;
use crate::config::{Config, Secret};
use crate::providers::envelope::{self, SseUnwrap};
use crate::providers::{BuildInput, Limit, NotServed};
use crate::server::error::{ApiError, Kind, respond};
use crate::server::state::AppState;
use crate::translate::{self, Dialect, StreamTranslator};

/// How one attempt ended, with what the client may be shown.
pub enum Attempt {
    /// A 2xx, committed: the response streams to the client.
    Done(Response),
    /// The client's request cannot be put in the upstream's dialect.
    Untranslatable(String),
    /// The route could not be used; nothing was sent.
    Skipped(String),
    /// The upstream's error answer (already in the client's dialect), with the
    /// cooldown the provider read from it.
    Upstream {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        limit: Option<Limit>,
    },
    /// No answer: connection failed or the stream died before its first byte.
    Transport(String),
}

impl Attempt {
    /// What the policy needs to know; `level` is asked only for upstream errors.
    pub fn outcome(&self, level: impl FnOnce() -> u32) -> Outcome {
        match self {
            Attempt::Done(_) => Outcome::Success,
            Attempt::Untranslatable(_) => Outcome::Untranslatable,
            Attempt::Skipped(_) => Outcome::Skipped,
            Attempt::Upstream {
                status,
                headers,
                limit,
                ..
            } => Outcome::Upstream {
                limit: limit.clone(),
                status: status.as_u16(),
                retry_after: headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        crate::auth::cooldown::parse_retry_after(v, jiff::Timestamp::now())
                    }),
                level: level(),
            },
            Attempt::Transport(m) => Outcome::Transport(m.clone()),
        }
    }

    /// The failure kind kept for the final answer.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            Attempt::Upstream { .. } => Some(Failure::Upstream),
            Attempt::Transport(_) => Some(Failure::Transport),
            _ => None,
        }
    }

    /// `cliproxy_upstream_responses_total` outcome label (`None`: nothing was sent).
    pub fn metric_label(&self) -> Option<&'static str> {
        match self {
            Attempt::Done(_) => Some("ok"),
            Attempt::Untranslatable(_) => Some("untranslatable"),
            Attempt::Upstream { status, .. } if status.is_client_error() => Some("4xx"),
            Attempt::Upstream { .. } => Some("5xx"),
            Attempt::Transport(_) => Some("transport"),
            Attempt::Skipped(_) => None,
        }
    }

    /// The answer for the client: the response, the upstream's error as received, or
    /// the gateway's own error in the route's dialect.
    pub fn into_response(self, dialect: Dialect, all_headers: bool) -> Response {
        let own = |status: StatusCode, kind, msg: String| {
            let mut e = ApiError::new(kind, msg);
            if status.as_u16() != kind.status() {
                e.status = Some(status.as_u16());
            }
            respond(dialect, &e)
        };
        match self {
            Attempt::Done(r) => r,
            Attempt::Upstream {
                status,
                headers,
                body,
                ..
            } => passthrough(status, &headers, Body::from(body), all_headers),
            Attempt::Untranslatable(m) => own(StatusCode::BAD_REQUEST, Kind::InvalidRequest, m),
            Attempt::Transport(m) => own(StatusCode::BAD_GATEWAY, Kind::Api, m),
            Attempt::Skipped(m) => own(StatusCode::SERVICE_UNAVAILABLE, Kind::Unavailable, m),
        }
    }
}

/// Headers of an upstream answer that are passed to the client.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "request-id",
    "x-request-id",
    "retry-after",
    "anthropic-organization-id",
];

fn passthrough(status: StatusCode, headers: &HeaderMap, body: Body, all_headers: bool) -> Response {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    let h = out.headers_mut();
    if all_headers {
        for (k, v) in headers {
            if !matches!(
                k.as_str(),
                "connection"
                    | "transfer-encoding"
                    | "content-length"
                    | "keep-alive"
                    | "content-encoding"
            ) {
                h.append(k.clone(), v.clone());
            }
        }
    } else {
        for name in PASSED_HEADERS {
            if let Some(v) = headers.get(*name) {
                h.insert(*name, v.clone());
            }
        }
    }
    out
}

/// The request body in the upstream's dialect, with the upstream model name. The
/// common case (same dialect, same name) forwards the client's bytes as received.
fn request_body(call: &Call, upstream: Dialect, model: &str) -> Result<Bytes, String> {
    if upstream != call.dialect {
        translate::translate_request(call.dialect, upstream, &call.body, model)
            .map_err(|e| e.to_string())
    } else if model != call.model {
        translate::rewrite_model(&call.body, model).map_err(|e| e.to_string())
    } else {
        Ok(call.body.clone())
    }
}

/// How the 2xx answer is to be turned into the client's.
struct Shape {
    status: StatusCode,
    upstream: Dialect,
    translating: bool,
    envelope: Option<&'static str>,
}

/// Sends `call` on `route` with `token`.
pub async fn send(
    state: &AppState,
    cfg: &Config,
    call: &Call,
    route: &Route,
    token: &Secret,
) -> Attempt {
    let provider = route.cred.provider;
    let Some(upstream) = provider.dialect() else {
        return Attempt::Skipped(NotServed(provider).to_string());
    };
    let model = route.upstream_model.as_str();
    let body = match request_body(call, upstream, model) {
        Ok(b) => b,
        Err(e) => return Attempt::Untranslatable(e),
    };
    let upstream_streams = call.op.streams() && provider.upstream_streams(model, call.stream);
    let out = match provider.build(BuildInput {
        cred: &route.cred,
        token,
        op: call.op,
        model,
        body,
        client_headers: &call.headers,
        stream: upstream_streams,
        config: cfg,
    }) {
        Ok(o) => o,
        Err(e) => return Attempt::Skipped(e.to_string()),
    };
    let client = match state
        .clients
        .get(route.cred.proxy_url.as_deref(), &cfg.proxy_url)
    {
        Ok(c) => c,
        Err(e) => return Attempt::Transport(e.to_string()),
    };
    let resp = match client
        .post(&out.url)
        .headers(out.headers)
        .body(out.body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Attempt::Transport(format!("upstream unreachable: {}", e.without_url())),
    };
    let status = resp.status();
    let translating = upstream != call.dialect;
    if !status.is_success() {
        let headers = resp.headers().clone();
        let mut body = resp.bytes().await.unwrap_or_default();
        let limit = provider.limit(status.as_u16(), &body, jiff::Timestamp::now());
        if translating {
            body = translate::translate_error(upstream, call.dialect, status.as_u16(), &body);
        }
        return Attempt::Upstream {
            status,
            headers,
            body,
            limit,
        };
    }
    let shape = Shape {
        status,
        upstream,
        translating,
        envelope: provider.envelope(),
    };
    if call.stream {
        streamed(call, cfg, shape, resp).await
    } else if upstream_streams {
        assembled(call, shape, resp).await
    } else {
        whole(call, cfg, shape, resp).await
    }
}

/// A non-stream answer from an upstream that only streams: the whole stream is read
/// and its answer assembled (`translate::collect_stream`). Nothing has reached the
/// client yet, so a stream that broke off goes to another account.
async fn assembled(call: &Call, shape: Shape, resp: reqwest::Response) -> Attempt {
    let sse = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Attempt::Transport(format!("reading upstream stream: {}", e.without_url()));
        }
    };
    let body = match translate::collect_stream(shape.upstream, &sse) {
        Ok(b) => b,
        Err(e) if e.kind == Kind::Api => return Attempt::Transport(e.message),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Attempt::Upstream {
                status,
                headers,
                body: translate::error_body(call.dialect, &e),
                limit: None,
            };
        }
    };
    let body = if shape.translating {
        match translate::translate_response(shape.upstream, call.dialect, &body, &call.model) {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Transport(format!("upstream answer could not be translated: {e}"));
            }
        }
    } else {
        body
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = shape.status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Attempt::Done(r)
}

/// A non-stream 2xx.
async fn whole(call: &Call, cfg: &Config, shape: Shape, resp: reqwest::Response) -> Attempt {
    let Shape {
        status,
        upstream,
        translating,
        envelope,
    } = shape;
    if !translating && envelope.is_none() {
        // Streamed through as it arrives; clients read a sized body, so keep the length.
        let headers = resp.headers().clone();
        let mut out = passthrough(
            status,
            &headers,
            Body::from_stream(resp.bytes_stream()),
            cfg.passthrough_headers,
        );
        if let Some(len) = headers.get(header::CONTENT_LENGTH) {
            out.headers_mut()
                .insert(header::CONTENT_LENGTH, len.clone());
        }
        return Attempt::Done(out);
    }
    let headers = (!translating).then(|| resp.headers().clone());
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Attempt::Transport(format!("reading upstream answer: {}", e.without_url()));
        }
    };
    let body = match envelope {
        Some(field) => envelope::unwrap_body(body, field),
        None => body,
    };
    if let Some(headers) = headers {
        return Attempt::Done(passthrough(
            status,
            &headers,
            Body::from(body),
            cfg.passthrough_headers,
        ));
    }
    match translate::translate_response(upstream, call.dialect, &body, &call.model) {
        Ok(b) => {
            let mut r = Response::new(Body::from(b));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Attempt::Done(r)
        }
        Err(e) => Attempt::Transport(format!("upstream answer could not be translated: {e}")),
    }
}

/// A streamed 2xx: wait for the first chunk (the commit point), then stream.
async fn streamed(call: &Call, cfg: &Config, shape: Shape, resp: reqwest::Response) -> Attempt {
    let Shape {
        status,
        upstream,
        translating,
        envelope,
    } = shape;
    let headers = (!translating).then(|| resp.headers().clone());
    let translator = StreamTranslator::new(upstream, call.dialect, &call.model)
        .with_include_usage(include_usage(&call.body));
    let mut reframe = Reframe {
        unwrap: envelope.map(SseUnwrap::new),
        translate: translator.is_translating().then_some(translator),
    };
    let mut chunks = resp.bytes_stream();
    let first = match chunks.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Attempt::Transport(format!(
                "stream failed before first byte: {}",
                e.without_url()
            ));
        }
        None => return Attempt::Transport("stream ended before first byte".into()),
    };
    let head = reframe.push(first);
    let body = stream_body(head, chunks, reframe, call.dialect);
    Attempt::Done(match headers {
        Some(headers) => passthrough(status, &headers, body, cfg.passthrough_headers),
        None => {
            let mut r = Response::new(body);
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
    })
}

/// `stream_options.include_usage` of an OpenAI request.
fn include_usage(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/stream_options/include_usage")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false)
}
