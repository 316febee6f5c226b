//! Prometheus metrics (`GET /metrics`): requests per route and status, latency,
//! upstream answers, cooldowns and token refreshes per provider. Labels never carry
//! keys, tokens or e-mail addresses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

type SeriesKey = (&'static str, &'static str, &'static str);

thread_local! {
    /// Per-request series by metric name and label values. A handle points at its
    /// series, so the registry's lookup (key built, hashed, found under a lock) is paid
    /// once per thread and series instead of per request; label values come from fixed
    /// sets, so these stay small. Serving threads start after [`install`].
    static COUNTERS: RefCell<HashMap<SeriesKey, metrics::Counter>> = RefCell::new(HashMap::new());
    static DURATIONS: RefCell<HashMap<&'static str, metrics::Histogram>> = RefCell::new(HashMap::new());
}

fn bump(key: SeriesKey, n: u64, make: impl FnOnce() -> metrics::Counter) {
    COUNTERS.with(|c| c.borrow_mut().entry(key).or_insert_with(make).increment(n));
}

/// Installs the process-wide recorder once (the first `serve` in a process).
pub fn install() {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0, 120.0,
        ];
        match PrometheusBuilder::new()
            .set_buckets(&buckets)
            .and_then(|b| b.install_recorder())
        {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics disabled");
                None
            }
        }
    });
}

/// Route label without allocating per request (labels are `&'static str`).
fn route_label(path: Option<&str>) -> &'static str {
    match path {
        Some("/v1/messages") => "/v1/messages",
        Some("/v1/messages/count_tokens") => "/v1/messages/count_tokens",
        Some("/v1/chat/completions") => "/v1/chat/completions",
        Some("/v1/models") => "/v1/models",
        Some("/healthz") => "/healthz",
        Some("/metrics") => "/metrics",
        Some("/") => "/",
        Some(_) => "other",
        None => "unmatched",
    }
}

fn status_label(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        413 => "413",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        529 => "529",
        c if c < 300 => "2xx",
        c if c < 500 => "4xx",
        _ => "5xx",
    }
}

/// The route label of a request that matched a route (the pattern, not the raw path).
pub fn route_of(req: &Request) -> &'static str {
    route_label(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    )
}

/// Counts and times the request `answer` answers, under `route`.
pub async fn timed(route: &'static str, answer: impl Future<Output = Response>) -> Response {
    let start = Instant::now();
    let resp = answer.await;
    observe(route, start, resp.status());
    resp
}

fn observe(route: &'static str, start: Instant, status: StatusCode) {
    let status = status_label(status);
    bump(
        ("cliproxy_requests_total", route, status),
        1,
        || metrics::counter!("cliproxy_requests_total", "route" => route, "status" => status),
    );
    let secs = start.elapsed().as_secs_f64();
    DURATIONS.with(|d| {
        d.borrow_mut()
            .entry(route)
            .or_insert_with(
                || metrics::histogram!("cliproxy_request_duration_seconds", "route" => route),
            )
            .record(secs)
    });
}

/// Counts and times every request of the routes it is layered on. The proxy routes
/// are counted by their admission layer instead (src/server/gate.rs), so that they
/// pass through one middleware, not two.
pub async fn track(req: Request, next: Next) -> Response {
    timed(route_of(&req), next.run(req)).await
}

pub async fn render(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<super::AppState>>,
) -> Response {
    let (cooldowns, cursors) = state.table_sizes();
    tables(cooldowns, cursors);
    let body = HANDLE
        .get()
        .and_then(|h| h.as_ref())
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// One upstream answer (or transport failure) for a provider.
pub fn upstream(provider: &'static str, outcome: &'static str) {
    bump(
        ("cliproxy_upstream_responses_total", provider, outcome),
        1,
        || metrics::counter!("cliproxy_upstream_responses_total", "provider" => provider, "outcome" => outcome),
    );
}

pub fn cooldown(provider: &'static str, status: u16) {
    metrics::counter!("cliproxy_cooldowns_total", "provider" => provider, "status" => status.to_string()).increment(1);
}

pub fn accounts(provider: &'static str, n: usize) {
    metrics::gauge!("cliproxy_credentials", "provider" => provider).set(n as f64);
}

/// Tokens of one finished request, by kind.
pub fn usage_tokens(t: &crate::usage::Tokens) {
    for (kind, n) in [
        ("input", t.input),
        ("output", t.output),
        ("cached", t.cached),
        ("cache_write", t.cache_write),
        ("reasoning", t.reasoning),
    ] {
        if n > 0 {
            bump(
                ("cliproxy_tokens_total", kind, ""),
                n,
                || metrics::counter!("cliproxy_tokens_total", "kind" => kind),
            );
        }
    }
}

/// Entries in the tables keyed by client input (bounded; watched for growth).
pub fn tables(cooldowns: usize, cursors: usize) {
    metrics::gauge!("cliproxy_cooldown_entries").set(cooldowns as f64);
    metrics::gauge!("cliproxy_cursor_entries").set(cursors as f64);
}
