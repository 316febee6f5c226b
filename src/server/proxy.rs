//! The request loop: pick an account, send, classify the answer, cool down and try
//! the next, refresh on 401, wait out short cooldowns, and stream the winner back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::{ApiError, Kind};
use super::state::{AppState, Snapshot};
use crate::auth::cooldown::{self, Outcome};
use crate::auth::credential::{AccountState, CredentialSecret};
use crate::auth::refresh::{self, RefreshError, Trigger};
use crate::auth::registry::Route;
use crate::auth::selector;
use crate::config::Secret;
use crate::providers::{self, BuildInput, Operation, ProviderKind};
use crate::translate::{self, Dialect, StreamTranslator};

pub struct Call {
    pub dialect: Dialect,
    pub op: Operation,
    pub providers: &'static [ProviderKind],
    pub model: String,
    pub stream: bool,
    pub body: Bytes,
    pub headers: HeaderMap,
}

/// Headers of an upstream answer that are passed to the client.
const PASSED_HEADERS: &[&str] = &[
    "content-type",
    "request-id",
    "x-request-id",
    "retry-after",
    "anthropic-organization-id",
];

/// Why one route could not serve this request (for the final error message).
fn unavailable_reason(
    state: &AppState,
    snap: &Snapshot,
    r: &Route,
    now: Instant,
) -> Option<(String, Option<Duration>)> {
    if r.cred.disabled {
        return Some(("disabled".into(), None));
    }
    if let Some(acc) = r.cred.oauth() {
        match &*acc.state.read() {
            AccountState::NeedsLogin(why) => {
                return Some((
                    format!("needs login ({why}); run `{}`", acc.kind.login_command()),
                    None,
                ));
            }
            AccountState::RefreshFailed { reason, until }
                if *until > now
                    && refresh::is_expired(&acc.file.read(), jiff::Timestamp::now()) =>
            {
                return Some((
                    format!("token expired and refresh failed ({reason})"),
                    Some(*until - now),
                ));
            }
            _ => {}
        }
    }
    let cooling_enabled = !snap.config.disable_cooling && !r.cred.disable_cooling;
    if cooling_enabled && let Some(c) = state.cooldowns.get(&r.cred.id, &r.upstream_model, now) {
        let left = c.until - now;
        return Some((
            format!("cooling down for {}s: {}", left.as_secs().max(1), c.reason),
            Some(left),
        ));
    }
    None
}

fn passthrough(
    resp_status: StatusCode,
    headers: &HeaderMap,
    body: Body,
    all_headers: bool,
) -> Response {
    let mut out = Response::new(body);
    *out.status_mut() = resp_status;
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

/// Joins chunks that were ready together into one buffer.
fn coalesce(parts: Vec<Result<Bytes, std::io::Error>>) -> Result<Bytes, std::io::Error> {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_else(|| Ok(Bytes::new()));
    }
    let mut buf = bytes::BytesMut::with_capacity(
        parts.iter().map(|p| p.as_ref().map_or(0, Bytes::len)).sum(),
    );
    for p in parts {
        buf.extend_from_slice(&p?);
    }
    Ok(buf.freeze())
}

/// An error event in the route's dialect, for failures after the first byte.
fn in_stream_error(dialect: Dialect, message: &str) -> Bytes {
    let msg = serde_json::Value::String(message.to_string());
    Bytes::from(match dialect {
        Dialect::Anthropic => format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":{msg}}}}}\n\n"
        ),
        _ => format!(
            "data: {{\"error\":{{\"message\":{msg},\"type\":\"server_error\",\"code\":\"stream_error\"}}}}\n\n"
        ),
    })
}

enum Attempt {
    Done(Response),
    /// The client's request cannot be sent (e.g. it does not translate): a 400, no retry.
    Invalid(String),
    /// Upstream answered with an error; `invalid` means return it as is.
    Upstream {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        invalid: bool,
    },
    Transport(String),
}

async fn send_once(
    state: &AppState,
    snap: &Snapshot,
    call: &Call,
    route: &Route,
    token: &Secret,
) -> Attempt {
    let cfg = &snap.config;
    let upstream = route.cred.provider.dialect();
    let translating = upstream != call.dialect;
    let body = if translating {
        match translate::translate_request(
            call.dialect,
            upstream,
            &call.body,
            &route.upstream_model,
        ) {
            Ok(b) => b,
            Err(e) => return Attempt::Invalid(e.to_string()),
        }
    } else if route.upstream_model != call.model {
        match translate::rewrite_model(&call.body, &route.upstream_model) {
            Ok(b) => b,
            Err(e) => return Attempt::Invalid(e.to_string()),
        }
    } else {
        call.body.clone()
    };
    let op = match (translating, upstream) {
        (false, _) => call.op,
        (true, Dialect::Anthropic) => Operation::Messages,
        (true, _) => Operation::ChatCompletions,
    };
    let out = providers::build(BuildInput {
        cred: &route.cred,
        token,
        op,
        body,
        client_headers: &call.headers,
        stream: call.stream,
        config: cfg,
    });
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
    if status.is_success() && translating {
        return translated_success(call, upstream, resp).await;
    }
    if status.is_success() {
        let headers = resp.headers().clone();
        let dialect = call.dialect;
        let mut stream = resp.bytes_stream();
        let body = if call.stream {
            // Wait for the first chunk before committing, so a stream that dies before
            // its first byte can still be retried on another account.
            let first = match stream.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return Attempt::Transport(format!(
                        "stream failed before first byte: {}",
                        e.without_url()
                    ));
                }
                None => return Attempt::Transport("stream ended before first byte".into()),
            };
            let rest = futures_util::stream::unfold(
                (stream, false),
                move |(mut s, done)| async move {
                    if done {
                        return None;
                    }
                    match s.next().await {
                        Some(Ok(b)) => Some((Ok::<Bytes, std::io::Error>(b), (s, false))),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e.without_url(), "upstream stream broke after first byte");
                            Some((
                                Ok(in_stream_error(dialect, "upstream stream interrupted")),
                                (s, true),
                            ))
                        }
                        None => None,
                    }
                },
            );
            // Whatever has already arrived goes out in one write (never waiting for more):
            // same latency, far fewer syscalls when the upstream is faster than the client.
            let rest = rest.ready_chunks(64).map(coalesce);
            Body::from_stream(
                futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) })
                    .chain(rest),
            )
        } else {
            Body::from_stream(stream)
        };
        let mut out = passthrough(status, &headers, body, cfg.passthrough_headers);
        if !call.stream {
            // Keep the upstream's length: clients read a sized body, not chunked framing.
            if let Some(len) = headers.get(header::CONTENT_LENGTH) {
                out.headers_mut()
                    .insert(header::CONTENT_LENGTH, len.clone());
            }
        }
        return Attempt::Done(out);
    }
    let headers = resp.headers().clone();
    let mut body = resp.bytes().await.unwrap_or_default();
    if translating {
        body = translate::translate_error(upstream, call.dialect, status.as_u16(), &body);
    }
    Attempt::Upstream {
        status,
        headers,
        invalid: matches!(
            cooldown::classify(status.as_u16(), None, 0),
            Outcome::InvalidRequest
        ),
        body,
    }
}

/// A 2xx answer from an upstream of another dialect: translate it for the client.
async fn translated_success(call: &Call, upstream: Dialect, resp: reqwest::Response) -> Attempt {
    let status = resp.status();
    if !call.stream {
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Transport(format!("reading upstream answer: {}", e.without_url()));
            }
        };
        return match translate::translate_response(upstream, call.dialect, &body, &call.model) {
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
        };
    }
    let include_usage = serde_json::from_slice::<serde_json::Value>(&call.body)
        .ok()
        .and_then(|v| {
            v.pointer("/stream_options/include_usage")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false);
    let mut tr = StreamTranslator::new(upstream, call.dialect, &call.model)
        .with_include_usage(include_usage);
    let mut stream = resp.bytes_stream();
    let first = match stream.next().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Attempt::Transport(format!(
                "stream failed before first byte: {}",
                e.without_url()
            ));
        }
        None => return Attempt::Transport("stream ended before first byte".into()),
    };
    let first_frames = tr.push(&first);
    let dialect = call.dialect;
    let rest = futures_util::stream::unfold(Some((stream, tr)), move |state| async move {
        let (mut s, mut tr) = state?;
        loop {
            match s.next().await {
                Some(Ok(b)) => {
                    let frames = tr.push(&b);
                    if !frames.is_empty() {
                        return Some((frames, Some((s, tr))));
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e.without_url(), "upstream stream broke after first byte");
                    return Some((
                        vec![in_stream_error(dialect, "upstream stream interrupted")],
                        None,
                    ));
                }
                None => return Some((tr.finish(), None)),
            }
        }
    });
    let frames = futures_util::stream::once(async move { first_frames })
        .chain(rest)
        .filter(|v| futures_util::future::ready(!v.is_empty()))
        .map(|v| coalesce(v.into_iter().map(Ok).collect()));
    let mut r = Response::new(Body::from_stream(frames));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Attempt::Done(r)
}

/// Refreshes an account's token through the account's own proxy setting.
async fn refresh_account(
    state: &AppState,
    cfg: &crate::config::Config,
    route: &Route,
    acc: &crate::auth::credential::OAuthAccount,
    trigger: Trigger,
) -> Result<Secret, RefreshError> {
    let client = state
        .clients
        .get(route.cred.proxy_url.as_deref(), &cfg.proxy_url)
        .map_err(|e| RefreshError::Transient(e.to_string()))?;
    refresh::refresh(acc, trigger, &state.refresh_env(&client, cfg)).await
}

/// Runs `call` over the routes serving its model.
pub async fn execute(state: &AppState, call: Call) -> Response {
    let snap = state.current();
    // USAGE (1/2): the trace notes each attempt's account and goes out with the
    // response; server/usage_tap.rs records the request when its body ends.
    let mut trace = super::usage_tap::Trace::new(call.dialect, &call.model, call.stream);
    let mut resp = match execute_in(state, &snap, &call, &mut trace).await {
        Ok(r) => r,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    trace.attach(&mut resp);
    resp
}

async fn execute_in(
    state: &AppState,
    snap: &Snapshot,
    call: &Call,
    trace: &mut super::usage_tap::Trace,
) -> Result<Response, ApiError> {
    let cfg = &snap.config;
    let routes = snap.registry.resolve(&call.model, call.providers);
    if routes.is_empty() {
        let others = snap.registry.served_by(&call.model);
        let msg = if others.is_empty() {
            format!(
                "no account or provider serves model `{}`; configured models are listed at /v1/models",
                call.model
            )
        } else {
            format!(
                "model `{}` is served by {}, which this endpoint does not support (count_tokens needs a Claude model)",
                call.model,
                others
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(ApiError::new(
            call.dialect,
            StatusCode::NOT_FOUND,
            Kind::NotFound,
            msg,
        ));
    }
    let max_creds = cfg.max_retry_credentials as usize;
    let mut attempt = 0u32;
    let mut last: Option<Attempt> = None;
    loop {
        // Routes tried in this round, by index into `routes`.
        let mut tried = vec![false; routes.len()];
        let mut tried_count = 0usize;
        loop {
            if max_creds > 0 && tried_count >= max_creds {
                break;
            }
            let now = Instant::now();
            let cursor = state.next_cursor(&call.model);
            let Some(i) = selector::pick(&routes, cfg.routing.strategy, cursor, |i, r| {
                !tried[i] && unavailable_reason(state, snap, r, now).is_none()
            }) else {
                break;
            };
            let route = &routes[i];
            tried[i] = true;
            tried_count += 1;
            // USAGE (2/2): this route is tried.
            trace.attempt(route);
            let token = match &route.cred.secret {
                CredentialSecret::ApiKey(k) => k.clone(),
                CredentialSecret::OAuth(acc) => {
                    let expired = refresh::is_expired(&acc.file.read(), jiff::Timestamp::now());
                    let current = acc.access_token();
                    match (expired, current) {
                        (false, Some(t)) => t,
                        _ => {
                            match refresh_account(state, cfg, route, acc, Trigger::Expired).await {
                                Ok(t) => t,
                                Err(e) => {
                                    tracing::warn!(account = %acc.name, error = %e, "skipping account");
                                    continue;
                                }
                            }
                        }
                    }
                }
            };
            let mut result = send_once(state, snap, call, route, &token).await;
            if let (Attempt::Upstream { status, .. }, Some(acc)) = (&result, route.cred.oauth())
                && *status == StatusCode::UNAUTHORIZED
            {
                // One refresh, one replay.
                match refresh_account(state, cfg, route, acc, Trigger::Unauthorized(token.clone()))
                    .await
                {
                    Ok(t) => result = send_once(state, snap, call, route, &t).await,
                    Err(RefreshError::NeedsLogin(_)) | Err(RefreshError::Transient(_)) => {}
                }
            }
            let cooling = !cfg.disable_cooling && !route.cred.disable_cooling;
            let provider = route.cred.provider.name();
            super::metrics::upstream(
                provider,
                match &result {
                    Attempt::Done(_) => "ok",
                    Attempt::Invalid(_) => "untranslatable",
                    Attempt::Upstream { status, .. } if status.is_client_error() => "4xx",
                    Attempt::Upstream { .. } => "5xx",
                    Attempt::Transport(_) => "transport",
                },
            );
            match result {
                Attempt::Done(resp) => {
                    state.cooldowns.clear(&route.cred.id, &route.upstream_model);
                    return Ok(resp);
                }
                Attempt::Invalid(msg) => {
                    return Err(ApiError::new(
                        call.dialect,
                        StatusCode::BAD_REQUEST,
                        Kind::InvalidRequest,
                        msg,
                    ));
                }
                Attempt::Upstream {
                    invalid: true,
                    status,
                    headers,
                    body,
                } => {
                    return Ok(passthrough(
                        status,
                        &headers,
                        Body::from(body),
                        cfg.passthrough_headers,
                    ));
                }
                Attempt::Upstream {
                    status,
                    headers,
                    body,
                    invalid: false,
                } => {
                    let retry_after = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| cooldown::parse_retry_after(v, jiff::Timestamp::now()));
                    let level = state.cooldowns.level(&route.cred.id, &route.upstream_model);
                    if let Outcome::Cooldown { duration, reason } =
                        cooldown::classify(status.as_u16(), retry_after, level)
                    {
                        tracing::warn!(account = %route.cred.label, model = %route.upstream_model, %status, cooldown_s = duration.as_secs(), "upstream error; trying another account");
                        if cooling {
                            super::metrics::cooldown(provider, status.as_u16());
                            state.cooldowns.set(
                                &route.cred.id,
                                &route.upstream_model,
                                duration,
                                reason,
                                status == StatusCode::TOO_MANY_REQUESTS,
                            );
                        }
                    }
                    last = Some(Attempt::Upstream {
                        status,
                        headers,
                        body,
                        invalid: false,
                    });
                }
                Attempt::Transport(msg) => {
                    tracing::warn!(account = %route.cred.label, error = %msg, "upstream failed; trying another account");
                    if cooling {
                        state.cooldowns.set(
                            &route.cred.id,
                            &route.upstream_model,
                            Duration::from_secs(60),
                            msg.clone(),
                            false,
                        );
                    }
                    last = Some(Attempt::Transport(msg));
                }
            }
        }
        // Nothing left to try now: wait out a short cooldown if allowed.
        let now = Instant::now();
        let soonest = routes
            .iter()
            .filter_map(|r| unavailable_reason(state, snap, r, now).and_then(|(_, d)| d))
            .min();
        if attempt < cfg.request_retry
            && let Some(wait) = soonest.filter(|w| w.as_secs_f64() <= cfg.max_retry_interval as f64)
        {
            attempt += 1;
            tokio::time::sleep(wait + Duration::from_millis(5)).await;
            continue;
        }
        if let Some(Attempt::Upstream {
            status,
            headers,
            body,
            ..
        }) = last
        {
            // The client sees what the upstream said (same dialect).
            return Ok(passthrough(
                status,
                &headers,
                Body::from(body),
                cfg.passthrough_headers,
            ));
        }
        return Err(final_error(state, snap, call, &routes, last));
    }
}

fn final_error(
    state: &AppState,
    snap: &Snapshot,
    call: &Call,
    routes: &[Route],
    last: Option<Attempt>,
) -> ApiError {
    let now = Instant::now();
    let mut reasons = Vec::new();
    let mut soonest: Option<Duration> = None;
    let mut seen = HashSet::new();
    for r in routes {
        if !seen.insert(r.cred.id.clone()) {
            continue;
        }
        let (why, wait) = unavailable_reason(state, snap, r, now)
            .unwrap_or_else(|| ("failed this request".into(), None));
        if let Some(w) = wait {
            soonest = Some(soonest.map_or(w, |s| s.min(w)));
        }
        reasons.push(format!("{}: {why}", r.cred.label));
    }
    if let Some(Attempt::Transport(msg)) = last {
        reasons.push(format!("last error: {msg}"));
    }
    let detail = reasons.join("; ");
    match soonest {
        Some(wait) => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut e = ApiError::new(
                call.dialect,
                StatusCode::TOO_MANY_REQUESTS,
                Kind::RateLimit,
                format!(
                    "All credentials for model {} are cooling down — {detail}",
                    call.model
                ),
            );
            e.code = Some("model_cooldown");
            e.retry_after = Some(secs.max(1));
            let mut extra = serde_json::Map::new();
            extra.insert("model".into(), call.model.clone().into());
            extra.insert("reset_seconds".into(), secs.max(1).into());
            e.extra = Some(extra);
            e
        }
        None => {
            let mut e = ApiError::new(
                call.dialect,
                StatusCode::SERVICE_UNAVAILABLE,
                Kind::Overloaded,
                format!(
                    "No credential for model {} is available — {detail}",
                    call.model
                ),
            );
            e.code = Some("auth_unavailable");
            e
        }
    }
}

/// Status-line helper for handlers that answer themselves.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
