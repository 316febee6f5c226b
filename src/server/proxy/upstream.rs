//! One attempt on one route: build the request through its provider, send it, and
//! turn the answer into an [`Attempt`]. A 2xx is committed to the client only once its
//! first byte has arrived, so a stream that dies before that can go to another account;
//! after it, chunks are passed on (unwrapped and translated where needed) as they come.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::Call;
use super::policy::{Failure, Outcome};
use super::stream::{Reframe, stream_body};
use crate::auth::project;
use crate::auth::registry::Route;
use crate::config::{Config, Secret};
use crate::providers::clients::Sender;
use crate::providers::envelope::{self, SseUnwrap};
use crate::providers::{BuildInput, Limit, NotServed, Operation, Outbound, cloudcode};
use crate::server::error::{ApiError, Kind, respond};
use crate::server::state::AppState;
use crate::translate::{self, Dialect, StreamTranslator, gemini};

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
/// common case (same dialect, same name) forwards the client's bytes as received;
/// Gemini bodies name no model (it is in the URL) and pass as they are.
fn request_body(
    call: &Call,
    upstream: Dialect,
    model: &str,
    stream: bool,
) -> Result<Bytes, String> {
    if call.op == Operation::CountTokens && upstream != call.dialect {
        translate::translate_count_request(call.dialect, upstream, &call.body, model)
            .map_err(|e| e.to_string())
    } else if upstream != call.dialect {
        translate::translate_request_streamed(call.dialect, upstream, &call.body, model, stream)
            .map_err(|e| e.to_string())
    } else if model != call.model && !upstream.model_in_path() {
        translate::rewrite_model(&call.body, model).map_err(|e| e.to_string())
    } else {
        Ok(call.body.clone())
    }
}

/// An upstream that sent nothing within `after` (`timeouts.upstream-first-byte`).
fn timed_out(dialect: Dialect, after: std::time::Duration) -> Attempt {
    let err = crate::translate::ir::ApiError {
        status: Some(504),
        ..crate::translate::ir::ApiError::new(
            crate::translate::ir::ErrorKind::Api,
            format!(
                "the upstream sent no answer within {} s (timeouts.upstream-first-byte)",
                after.as_secs()
            ),
        )
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Attempt::Upstream {
        limit: None,
        status: StatusCode::GATEWAY_TIMEOUT,
        headers,
        body: translate::error_body(dialect, &err),
    }
}

/// How the 2xx answer is to be turned into the client's.
struct Shape {
    status: StatusCode,
    upstream: Dialect,
    translating: bool,
    envelope: Option<&'static str>,
    /// When a stream's first byte is due (`timeouts.upstream-first-byte`).
    deadline: tokio::time::Instant,
    first_byte: std::time::Duration,
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
    let counting = call.op == Operation::CountTokens;
    let upstream_streams = call.op.streams() && provider.upstream_streams(model, call.stream);
    let body = match request_body(call, upstream, model, upstream_streams) {
        Ok(b) => b,
        Err(e) => return Attempt::Untranslatable(e),
    };
    let connect = cfg.timeouts.upstream_connect();
    let proxy = route.cred.proxy_url.as_deref();
    let sender = match state.clients.sender(proxy, &cfg.proxy_url, connect) {
        Ok(c) => c,
        Err(e) => return Attempt::Transport(e.to_string()),
    };
    let site = provider.code_assist_site(cfg);
    if let (Some(site), Some(acc)) = (&site, route.cred.oauth()) {
        let client = match state.clients.get_timed(proxy, &cfg.proxy_url, connect) {
            Ok(c) => c,
            Err(e) => return Attempt::Transport(e.to_string()),
        };
        if let Err(e) = project::ensure(acc, state.on_write(), || {
            cloudcode::discover_project(&client, site, token.expose())
        })
        .await
        {
            return discovery_failed(call.dialect, e);
        }
    }
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
    let alternates = match &site {
        Some(site) => cloudcode::alternate_urls(site, &out.url),
        None => Vec::new(),
    };
    let first_byte = cfg.timeouts.upstream_first_byte();
    let deadline = tokio::time::Instant::now() + first_byte;
    let resp =
        match tokio::time::timeout_at(deadline, post_in_order(&sender, out, &alternates)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Attempt::Transport(format!("upstream unreachable: {e}")),
            // Answered as the upstream's 504: it cools this route like an upstream 5xx and
            // is what the client sees when no other route answers.
            Err(_) => return timed_out(call.dialect, first_byte),
        };
    let status = resp.status();
    let translating = upstream != call.dialect;
    if !status.is_success() {
        let (parts, body) = resp.into_parts();
        let headers = parts.headers;
        let mut body = read_all(body).await.unwrap_or_default();
        let limit = provider.limit(status.as_u16(), &body, jiff::Timestamp::now());
        if let Some(hint) = provider.error_hint(status.as_u16()) {
            let mut e = translate::parse_error(status.as_u16(), &body);
            e.message = format!("{} — {hint}", e.message);
            body = translate::error_body(call.dialect, &e);
        } else if translating {
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
        deadline,
        first_byte,
    };
    if counting {
        counted(call, shape, resp).await
    } else if call.stream {
        streamed(call, cfg, shape, resp).await
    } else if upstream_streams {
        assembled(call, shape, resp).await
    } else {
        whole(call, cfg, shape, resp).await
    }
}

/// Posts to the provider's URL, then to each alternate in turn: a transport error or a
/// 5xx moves on to the next (Cloud Code's hosts); the last one's answer is the answer.
async fn post_in_order(
    sender: &Sender,
    out: Outbound,
    alternates: &[String],
) -> Result<Answer, String> {
    let Outbound {
        url: first,
        headers,
        body,
    } = out;
    let mut url = first.as_str();
    let mut rest = alternates.iter();
    loop {
        let Some(after) = rest.next() else {
            return sender.post(url, headers, body).await;
        };
        match sender.post(url, headers.clone(), body.clone()).await {
            Ok(r) if r.status().is_server_error() => {
                tracing::warn!(status = %r.status(), "upstream host failed; trying the next host");
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream host unreachable; trying the next host");
            }
            ok => return ok,
        }
        url = after;
    }
}

/// An upstream answer, whichever client fetched it; its body is handed on as it is.
type Answer = http::Response<Body>;

/// The whole body of an answer that is read before it is passed on.
async fn read_all(body: Body) -> Result<Bytes, axum::Error> {
    axum::body::to_bytes(body, usize::MAX).await
}

/// No Cloud Code project: a refused token (401) goes through the refresh-and-replay
/// path like any upstream 401; anything else skips the account.
fn discovery_failed(dialect: Dialect, e: cloudcode::DiscoveryError) -> Attempt {
    let message = format!("could not find the account's Cloud Code project: {e}");
    match e.status {
        Some(401) => Attempt::Upstream {
            status: StatusCode::UNAUTHORIZED,
            headers: HeaderMap::new(),
            body: translate::error_body(
                dialect,
                &crate::translate::ir::ApiError::new(
                    crate::translate::ir::ErrorKind::Authentication,
                    message,
                ),
            ),
            limit: None,
        },
        _ => Attempt::Skipped(message),
    }
}

/// A token count: the answer in the client's shape.
async fn counted(call: &Call, shape: Shape, resp: Answer) -> Attempt {
    let body = match read_all(resp.into_body()).await {
        Ok(b) => b,
        Err(e) => return Attempt::Transport(format!("reading upstream answer: {e}")),
    };
    let body = match shape.envelope {
        Some(field) => envelope::unwrap_body(body, field),
        None => body,
    };
    match translate::translate_count_response(shape.upstream, call.dialect, &body) {
        Ok(b) => Attempt::Done(json_body(shape.status, b)),
        Err(e) => Attempt::Transport(format!("upstream answer could not be translated: {e}")),
    }
}

/// A non-stream answer from an upstream that only streams: the whole stream is read
/// and its answer assembled (`translate::collect_stream`). Nothing has reached the
/// client yet, so a stream that broke off goes to another account.
async fn assembled(call: &Call, shape: Shape, resp: Answer) -> Attempt {
    let sse = match read_all(resp.into_body()).await {
        Ok(b) => b,
        Err(e) => return Attempt::Transport(format!("reading upstream stream: {e}")),
    };
    if shape.upstream != Dialect::Responses {
        let body = match shape.envelope {
            Some(field) => {
                let mut u = SseUnwrap::new(field);
                let mut all = u.push(&sse).to_vec();
                all.extend_from_slice(&u.finish());
                Bytes::from(all)
            }
            None => sse,
        };
        return match translate::assemble_stream(shape.upstream, call.dialect, &body, &call.model) {
            Ok(b) => Attempt::Done(json_body(shape.status, b)),
            Err(e) if e == translate::truncated_stream() => Attempt::Transport(e.message),
            Err(e) => Attempt::Upstream {
                status: StatusCode::from_u16(e.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                headers: HeaderMap::new(),
                body: translate::error_body(call.dialect, &e),
                limit: None,
            },
        };
    }
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
    Attempt::Done(json_body(shape.status, body))
}

fn json_body(status: StatusCode, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A non-stream 2xx.
async fn whole(call: &Call, cfg: &Config, shape: Shape, resp: Answer) -> Attempt {
    let Shape {
        status,
        upstream,
        translating,
        envelope,
        ..
    } = shape;
    let (parts, body) = resp.into_parts();
    if !translating && envelope.is_none() {
        // The upstream's body goes on as it arrives; clients read a sized body, so
        // keep the length.
        let mut out = passthrough(status, &parts.headers, body, cfg.passthrough_headers);
        if let Some(len) = parts.headers.get(header::CONTENT_LENGTH) {
            out.headers_mut()
                .insert(header::CONTENT_LENGTH, len.clone());
        }
        return Attempt::Done(out);
    }
    let body = match read_all(body).await {
        Ok(b) => b,
        Err(e) => return Attempt::Transport(format!("reading upstream answer: {e}")),
    };
    let body = match envelope {
        Some(field) => envelope::unwrap_body(body, field),
        None => body,
    };
    if !translating {
        return Attempt::Done(passthrough(
            status,
            &parts.headers,
            Body::from(body),
            cfg.passthrough_headers,
        ));
    }
    match translate::translate_response(upstream, call.dialect, &body, &call.model) {
        Ok(b) => Attempt::Done(json_body(status, b)),
        Err(e) => Attempt::Transport(format!("upstream answer could not be translated: {e}")),
    }
}

/// A streamed 2xx: wait for the first chunk (the commit point), then stream.
async fn streamed(call: &Call, cfg: &Config, shape: Shape, resp: Answer) -> Attempt {
    let Shape {
        status,
        upstream,
        envelope,
        deadline,
        first_byte,
        ..
    } = shape;
    let framing = if call.json_array {
        gemini::Framing::JsonArray
    } else {
        gemini::Framing::Sse
    };
    let translator =
        StreamTranslator::new(upstream, call.dialect, &call.model).with_framing(framing);
    let reframing = translator.is_translating();
    // A stream passed through never reads the request body again.
    let translator =
        translator.with_include_usage(reframing && translate::wants_usage_chunk(&call.body));
    let (parts, mut chunks) = resp.into_parts();
    let headers = (!reframing).then_some(parts.headers);
    let mut reframe = Reframe {
        unwrap: envelope.map(SseUnwrap::new),
        translate: reframing.then_some(translator),
    };
    let Ok(first) = tokio::time::timeout_at(deadline, next_data(&mut chunks)).await else {
        return timed_out(call.dialect, first_byte);
    };
    let first = match first {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Attempt::Transport(format!("stream failed before first byte: {e}"));
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
                HeaderValue::from_static(if call.json_array {
                    "application/json"
                } else {
                    "text/event-stream"
                }),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
    })
}

/// The body's next data frame (trailers are skipped).
async fn next_data(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    use http_body_util::BodyExt;
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}
