//! The request loop: pick a route, send, and let [`policy`] say what comes next (answer,
//! refresh and replay once, cool down and try the next, wait out a short cooldown, give
//! up with which error). Sending and the first-byte commit live in [`upstream`], the
//! streamed body in [`stream`].

mod policy;
mod stream;
mod upstream;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::{ApiError, Cooldown, Kind, respond};
use super::state::{AppState, Snapshot};
use crate::auth::credential::{AccountState, CredentialSecret, OAuthAccount};
use crate::auth::refresh::{self, RefreshError, Trigger};
use crate::auth::registry::Route;
use crate::auth::selector;
use crate::config::{Config, Secret};
use crate::providers::Operation;
use crate::translate::Dialect;
use policy::{Exhausted, Limits, LoopState, Step};
use upstream::Attempt;

pub struct Call {
    pub dialect: Dialect,
    pub op: Operation,
    pub model: String,
    pub stream: bool,
    pub body: Bytes,
    pub headers: HeaderMap,
    /// A Gemini client streaming without `alt=sse`: it reads one JSON array.
    pub json_array: bool,
}

/// Runs `call` over the routes serving its model.
pub async fn execute(state: &AppState, call: Call) -> Response {
    let snap = state.current();
    // The trace notes each attempt's account and goes out with the response;
    // server/usage_tap.rs records the request when its body ends.
    let mut trace = super::usage_tap::Trace::new(call.dialect, &call.model, call.stream);
    let mut resp = match execute_in(state, &snap, &call, &mut trace).await {
        Ok(r) => r,
        Err(e) => respond(call.dialect, &e),
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
    let routes = snap.registry.resolve(&call.model, call.op);
    if routes.is_empty() {
        return Err(no_route(snap, call));
    }
    let session = routes
        .iter()
        .any(|r| r.cred.provider.session_affinity())
        .then(|| super::affinity::session_key(&call.headers, &call.body))
        .flatten();
    // Thought signatures in the history: their issuer is preferred, and the others
    // become the skip sentinel on Google upstreams.
    let history = if call.op != Operation::CountTokens
        && crate::translate::gemini::carries_signatures(call.dialect)
    {
        super::affinity::History::of(&state.affinity.signatures, call.dialect, &call.body)
    } else {
        super::affinity::History::default()
    };
    let issuers = history.issuers();
    let mut st = LoopState::new(Limits::of(cfg));
    // Routes tried in this round, by index into `routes`.
    let mut tried = vec![false; routes.len()];
    let mut last: Option<Attempt> = None;
    loop {
        let picked = if st.may_try_another() {
            let now = Instant::now();
            let usable =
                |i: usize| !tried[i] && unavailable_reason(state, snap, &routes[i], now).is_none();
            let signed = super::affinity::prefer_issuer(&routes, &issuers, usable);
            let sticky = || {
                session
                    .as_deref()
                    .and_then(|k| state.affinity.get(k))
                    .and_then(|id| super::affinity::prefer(&routes, &id, usable))
            };
            signed.or_else(sticky).or_else(|| {
                let cursor = state.next_cursor(&call.model);
                selector::pick(&routes, cfg.routing.strategy, cursor, |i, _| usable(i))
            })
        } else {
            None
        };
        let Some(i) = picked else {
            let now = Instant::now();
            let soonest = routes
                .iter()
                .filter_map(|r| unavailable_reason(state, snap, r, now).and_then(|(_, d)| d))
                .min();
            let wait = match policy::when_exhausted(&st, soonest) {
                Exhausted::Wait(d) => {
                    tokio::time::sleep(d).await;
                    st.begin_round();
                    tried.fill(false);
                    continue;
                }
                Exhausted::LastAnswer => {
                    if let Some(a) = last {
                        // The client sees what the upstream said (same dialect).
                        return Ok(a.into_response(call.dialect, cfg.passthrough_headers));
                    }
                    None
                }
                Exhausted::AllCooling(wait) => Some(wait),
                Exhausted::Unavailable => None,
            };
            return Err(final_error(state, snap, call, &routes, last.as_ref(), wait));
        };
        let route = &routes[i];
        tried[i] = true;
        trace.attempt(route);
        st.begin_route(
            route.cred.oauth().is_some(),
            !cfg.disable_cooling && !route.cred.disable_cooling,
        );
        let resigned = history
            .body_for(route, call.dialect, &call.body)
            .map(|body| Call {
                body,
                headers: call.headers.clone(),
                model: call.model.clone(),
                ..*call
            });
        let call = resigned.as_ref().unwrap_or(call);
        let token = token_for(state, cfg, route).await;
        let mut attempt = match &token {
            Ok(t) => upstream::send(state, cfg, call, route, t).await,
            Err(why) => Attempt::Skipped(why.clone()),
        };
        let provider = route.cred.provider.name();
        loop {
            let outcome =
                attempt.outcome(|| state.cooldowns.level(&route.cred.id, &route.upstream_model));
            match policy::after_attempt(&st, outcome) {
                Step::RefreshAndReplay => {
                    st.replayed = true;
                    if let (Some(acc), Ok(used)) = (route.cred.oauth(), &token)
                        && let Ok(fresh) = refresh_account(
                            state,
                            cfg,
                            route,
                            acc,
                            Trigger::Unauthorized(used.clone()),
                        )
                        .await
                    {
                        attempt = upstream::send(state, cfg, call, route, &fresh).await;
                    }
                }
                Step::Answer { clear_cooldown } => {
                    record(provider, &attempt);
                    if clear_cooldown {
                        state.cooldowns.clear(&route.cred.id, &route.upstream_model);
                        if let Some(k) = &session
                            && route.cred.provider.session_affinity()
                        {
                            state.affinity.set(k, &route.cred.id);
                        }
                    }
                    let resp = attempt.into_response(call.dialect, cfg.passthrough_headers);
                    if !clear_cooldown
                        || call.op == Operation::CountTokens
                        || !super::affinity::issues_signatures(route.cred.provider)
                    {
                        return Ok(resp);
                    }
                    let table = &state.affinity.signatures;
                    let id: std::sync::Arc<str> = route.cred.id.as_str().into();
                    history.touch(table, &id);
                    return Ok(super::affinity::tap_answer(
                        resp,
                        call.dialect,
                        table.clone(),
                        id,
                    ));
                }
                Step::Next { cool, keep } => {
                    record(provider, &attempt);
                    log_failure(route, &attempt, cool.as_ref());
                    if let Some(c) = cool {
                        if let Attempt::Upstream { status, .. } = &attempt {
                            super::metrics::cooldown(provider, status.as_u16());
                        }
                        if let (Attempt::Upstream { limit: Some(l), .. }, Some(acc)) =
                            (&attempt, route.cred.oauth())
                            && l.duration >= LONG_LIMIT
                        {
                            let until = jiff::Timestamp::now()
                                + jiff::SignedDuration::try_from(l.duration).unwrap_or_default();
                            refresh::state_file::record_limit(
                                &state.auth_dir,
                                &acc.file.read(),
                                &l.reason,
                                until,
                            );
                        }
                        state.cooldowns.set(
                            &route.cred.id,
                            &route.upstream_model,
                            c.duration,
                            c.reason,
                            c.quota,
                        );
                    }
                    if keep {
                        st.last = attempt.failure();
                        last = Some(attempt);
                    }
                    break;
                }
            }
        }
    }
}

/// Provider limits at least this long are recorded for `auth list` (short ones, such
/// as a model at capacity, are over before anyone looks).
const LONG_LIMIT: Duration = Duration::from_secs(300);

/// Counts the attempt's final answer (after any replay) per provider.
fn record(provider: &'static str, attempt: &Attempt) {
    if let Some(label) = attempt.metric_label() {
        super::metrics::upstream(provider, label);
    }
}

fn log_failure(route: &Route, attempt: &Attempt, cool: Option<&policy::Cool>) {
    let account = &route.cred.label;
    match attempt {
        Attempt::Upstream { status, .. } => {
            let cooldown_s = cool.map_or(0, |c| c.duration.as_secs());
            let model = crate::config::clip(&route.upstream_model);
            tracing::warn!(%account, %model, %status, cooldown_s, "upstream error; trying another account");
        }
        Attempt::Transport(msg) => {
            let error = crate::config::clip(msg);
            tracing::warn!(%account, %error, "upstream failed; trying another account");
        }
        Attempt::Skipped(why) => {
            let error = crate::config::clip(why);
            tracing::warn!(%account, %error, "skipping account");
        }
        Attempt::Done(_) | Attempt::Untranslatable(_) => {}
    }
}

/// The access token for a route: the API key, or the account's token (refreshed first
/// when expired). `Err` says why the account is skipped.
async fn token_for(state: &AppState, cfg: &Config, route: &Route) -> Result<Secret, String> {
    match &route.cred.secret {
        CredentialSecret::ApiKey(k) => Ok(k.clone()),
        CredentialSecret::OAuth(acc) => {
            let expired = refresh::is_expired(&acc.file.read(), jiff::Timestamp::now());
            match (expired, acc.access_token()) {
                (false, Some(t)) => Ok(t),
                _ => refresh_account(state, cfg, route, acc, Trigger::Expired)
                    .await
                    .map_err(|e| e.to_string()),
            }
        }
    }
}

/// Refreshes an account's token through the account's own proxy setting.
async fn refresh_account(
    state: &AppState,
    cfg: &Config,
    route: &Route,
    acc: &OAuthAccount,
    trigger: Trigger,
) -> Result<Secret, RefreshError> {
    let client = state
        .clients
        .get(route.cred.proxy_url.as_deref(), &cfg.proxy_url)
        .map_err(|e| RefreshError::Transient(e.to_string()))?;
    refresh::refresh(acc, trigger, &state.refresh_env(&client, cfg)).await
}

/// Why one route cannot serve this request now, and for how long (for the final
/// error and for waiting).
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
                    format!(
                        "needs login ({why}); run `{}`",
                        acc.file.read().login_command()
                    ),
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

/// 404: nothing serves the model for this operation.
fn no_route(snap: &Snapshot, call: &Call) -> ApiError {
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
    ApiError::new(Kind::NotFound, msg)
}

/// 429 `model_cooldown` (when `wait` says the first route is free again) or 503
/// `auth_unavailable`, naming every account and why it could not serve.
fn final_error(
    state: &AppState,
    snap: &Snapshot,
    call: &Call,
    routes: &[Route],
    last: Option<&Attempt>,
    wait: Option<Duration>,
) -> ApiError {
    let now = Instant::now();
    let mut reasons = Vec::new();
    let mut seen = HashSet::new();
    for r in routes {
        if !seen.insert(r.cred.id.clone()) {
            continue;
        }
        let why = unavailable_reason(state, snap, r, now)
            .map_or_else(|| "failed this request".into(), |(why, _)| why);
        reasons.push(format!("{}: {why}", r.cred.label));
    }
    if let Some(Attempt::Transport(msg)) = last {
        reasons.push(format!("last error: {msg}"));
    }
    let detail = reasons.join("; ");
    match wait {
        Some(wait) => {
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            ApiError {
                cooldown: Some(Cooldown {
                    model: call.model.clone(),
                    reset_seconds: secs,
                }),
                ..ApiError::new(
                    Kind::RateLimit,
                    format!(
                        "All credentials for model {} are cooling down — {detail}",
                        call.model
                    ),
                )
                .with_code("model_cooldown")
            }
        }
        None => ApiError::new(
            Kind::Unavailable,
            format!(
                "No credential for model {} is available — {detail}",
                call.model
            ),
        )
        .with_code("auth_unavailable"),
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
