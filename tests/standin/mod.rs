//! Stand-in upstreams for cliproxy tests and benchmarks.
//!
//! One axum server that speaks, on loopback, the wire formats of the upstreams the gateway talks to:
//!
//! * Anthropic Messages: `POST …/v1/messages` (any prefix, any query such as `?beta=true`),
//!   `POST …/v1/messages/count_tokens`, `GET …/v1/models` (Anthropic list when `anthropic-version`
//!   is sent), errors as `{"type":"error","error":{"type","message"}}`.
//! * Anthropic OAuth token endpoint: `POST …/v1/oauth/token` with rotating refresh tokens.
//! * OpenAI Chat Completions: `POST …/chat/completions` under any base path (`/v1`, `/api/v1`,
//!   `/api/coding/paas/v4`, …), `GET …/models`, errors as `{"error":{"message","type","param","code"}}`.
//! * A control surface under `/_standin/*` (see [`control`]) and the Rust API on [`StandIn`].
//!
//! Behaviour is programmable per upstream credential (the `x-api-key` value or the Bearer token),
//! with the key `"*"` as the default for credentials that have no entry of their own.
//!
//! Used in-process (`mod standin;` from `tests/*.rs`) and as the binary `examples/standin.rs`.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::Response;
use axum::serve::ListenerExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
// Public API
// ---------------------------------------------------------------------------------------------

/// Start-up options.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Record every request (off for benchmarks).
    pub record: bool,
    /// Behaviour for the key `"*"` (applies to credentials without their own entry).
    pub default_behavior: Option<Behavior>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "127.0.0.1".into(),
            port: 0,
            record: true,
            default_behavior: None,
        }
    }
}

/// Programmable behaviour for one credential. All fields are optional in JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Behavior {
    /// Fail this many of the next requests (decremented per failure).
    pub fail_next: u32,
    /// Status of those failures (0 = 500).
    pub fail_status: u16,
    /// Error message of those failures (a default per status otherwise).
    pub fail_message: Option<String>,
    /// `retry-after` header value sent with those failures.
    pub retry_after: Option<String>,
    /// Answer every request with 401.
    pub always_401: bool,
    /// Sleep this long before sending anything (status line included).
    pub delay_ms: u64,
    /// Spacing between stream chunks (after the first).
    pub chunk_interval_ms: u64,
    /// Number of content deltas in a stream (text split evenly by characters); default: one per word.
    pub chunks: Option<u32>,
    /// Text answered instead of [`DEFAULT_TEXT`].
    pub text: Option<String>,
    /// In a stream, after this many content deltas send an in-stream error event and end the stream.
    pub stream_error_after: Option<u32>,
}

impl Behavior {
    /// Fail the next `n` requests with `status`.
    pub fn fail(n: u32, status: u16) -> Self {
        Behavior {
            fail_next: n,
            fail_status: status,
            ..Default::default()
        }
    }
    /// Answer 401 to every request.
    pub fn unauthorized() -> Self {
        Behavior {
            always_401: true,
            ..Default::default()
        }
    }
    /// Stream `chunks` deltas spaced `interval_ms` apart.
    pub fn stream(chunks: u32, interval_ms: u64) -> Self {
        Behavior {
            chunks: Some(chunks),
            chunk_interval_ms: interval_ms,
            ..Default::default()
        }
    }
    pub fn with_retry_after(mut self, v: impl Into<String>) -> Self {
        self.retry_after = Some(v.into());
        self
    }
    pub fn with_delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }
    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.fail_message = Some(m.into());
        self
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub uri: String,
    /// All headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Time since the stand-in started.
    pub at: Duration,
}

impl RecordedRequest {
    /// Path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Body parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The credential used: `x-api-key`, else the Bearer token.
    pub fn credential(&self) -> Option<String> {
        let mut h = HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.append(k, v);
            }
        }
        credential(&h).map(str::to_owned)
    }
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.headers {
            match map.get_mut(k) {
                Some(Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(v);
                }
                _ => {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        json!({
            "method": self.method,
            "uri": self.uri,
            "path": self.path(),
            "query": self.query(),
            "headers": map,
            "header_list": self.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&self.body),
            "json": self.json(),
            "at_ms": self.at.as_secs_f64() * 1000.0,
        })
    }
}

/// A token issued by the OAuth endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    pub grant_type: String,
    /// The refresh token (or authorization code) that was spent.
    pub spent: String,
    pub access_token: String,
    pub refresh_token: String,
    pub email: String,
}

/// A running stand-in. Dropping it stops the server.
pub struct StandIn {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StandIn {
    /// Start on a free loopback port with recording on.
    pub async fn start() -> StandIn {
        Self::start_with(Options::default())
            .await
            .expect("stand-in: bind loopback port")
    }

    pub async fn start_with(opts: Options) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts.record));
        if let Some(b) = opts.default_behavior {
            shared.set_behavior("*", b);
        }
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        let host = if addr.ip().is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(StandIn {
            addr,
            base_url: format!("http://{host}:{}", addr.port()),
            shared,
            shutdown: Some(tx),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
    /// Everything received so far (control requests excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }
    /// Requests whose path ends with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path().ends_with(suffix))
            .collect()
    }
    pub fn clear_requests(&self) {
        self.shared.requests.lock().clear();
    }
    pub fn set_record(&self, on: bool) {
        self.shared.record.store(on, Ordering::Relaxed);
    }
    /// Set the behaviour for a credential (`"*"` = default).
    pub fn set_behavior(&self, key: &str, b: Behavior) {
        self.shared.set_behavior(key, b);
    }
    pub fn remove_behavior(&self, key: &str) {
        self.shared.behaviors.lock().remove(key);
    }
    /// Current behaviour of a key (to see how many failures are left).
    pub fn behavior(&self, key: &str) -> Option<Behavior> {
        self.shared.behaviors.lock().get(key).cloned()
    }
    /// Forget requests, behaviours and OAuth state (back to accepting any credential).
    pub fn clear(&self) {
        self.shared.reset();
    }
    /// Make `refresh_token` valid once, for `email`.
    pub fn seed_refresh_token(&self, refresh_token: &str, email: &str) {
        let mut o = self.shared.oauth.lock();
        o.refresh.insert(
            refresh_token.into(),
            RefreshEntry {
                email: email.into(),
                used: false,
            },
        );
    }
    /// Accept `access_token` on the Anthropic routes. From the first call on, only accepted
    /// credentials pass; any other gets 401 (strict mode).
    pub fn seed_access_token(&self, access_token: &str) {
        let mut o = self.shared.oauth.lock();
        o.access.insert(access_token.into());
        o.strict = true;
    }
    /// Accept a credential (API key) in strict mode too.
    pub fn allow_credential(&self, key: &str) {
        self.seed_access_token(key);
    }
    /// No longer accept `access_token` (turns strict mode on).
    pub fn revoke_access_token(&self, access_token: &str) {
        let mut o = self.shared.oauth.lock();
        o.access.remove(access_token);
        o.strict = true;
    }
    /// Make an authorization code valid once (`grant_type=authorization_code`).
    pub fn seed_auth_code(&self, code: &str, email: &str) {
        self.shared
            .oauth
            .lock()
            .codes
            .insert(code.into(), email.into());
    }
    /// `expires_in` of issued tokens (default 28800).
    pub fn set_expires_in(&self, secs: u64) {
        self.shared.oauth.lock().expires_in = secs;
    }
    /// Tokens issued so far, in order.
    pub fn issued(&self) -> Vec<Issued> {
        self.shared.oauth.lock().issued.clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct RefreshEntry {
    email: String,
    used: bool,
}

struct OAuthState {
    refresh: HashMap<String, RefreshEntry>,
    access: HashSet<String>,
    codes: HashMap<String, String>,
    strict: bool,
    expires_in: u64,
    issued: Vec<Issued>,
}

impl Default for OAuthState {
    fn default() -> Self {
        OAuthState {
            refresh: HashMap::new(),
            access: HashSet::new(),
            codes: HashMap::new(),
            strict: false,
            expires_in: 28800,
            issued: Vec::new(),
        }
    }
}

struct Shared {
    started: Instant,
    record: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    behaviors: Mutex<HashMap<String, Behavior>>,
    any_behavior: AtomicBool,
    oauth: Mutex<OAuthState>,
    seq: AtomicU64,
}

/// What to do for one request, resolved from the behaviour table.
#[derive(Default)]
struct Effective {
    fail: Option<(u16, Option<String>, Option<String>)>,
    unauthorized: bool,
    delay_ms: u64,
    chunk_interval_ms: u64,
    chunks: Option<u32>,
    text: Option<String>,
    stream_error_after: Option<u32>,
}

impl Shared {
    fn new(record: bool) -> Self {
        Shared {
            started: Instant::now(),
            record: AtomicBool::new(record),
            requests: Mutex::new(Vec::new()),
            behaviors: Mutex::new(HashMap::new()),
            any_behavior: AtomicBool::new(false),
            oauth: Mutex::new(OAuthState::default()),
            seq: AtomicU64::new(1),
        }
    }

    fn set_behavior(&self, key: &str, b: Behavior) {
        self.behaviors.lock().insert(key.to_owned(), b);
        self.any_behavior.store(true, Ordering::Release);
    }

    fn reset(&self) {
        self.requests.lock().clear();
        self.behaviors.lock().clear();
        self.any_behavior.store(false, Ordering::Release);
        *self.oauth.lock() = OAuthState::default();
    }

    fn next_id(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!(
            "{prefix}{n:012x}{:012x}",
            self.started.elapsed().as_nanos() as u64 & 0xffff_ffff_ffff
        )
    }

    /// Resolve (and consume one failure of) the behaviour for `key`; `"*"` applies when
    /// `use_default` and the key has no entry.
    fn effective(&self, key: Option<&str>, use_default: bool) -> Effective {
        if !self.any_behavior.load(Ordering::Acquire) {
            return Effective::default();
        }
        let mut map = self.behaviors.lock();
        let entry = match key.filter(|k| map.contains_key(*k)) {
            Some(k) => map.get_mut(k),
            None if use_default => map.get_mut("*"),
            None => None,
        };
        let Some(b) = entry else {
            return Effective::default();
        };
        let fail = if b.fail_next > 0 {
            b.fail_next -= 1;
            let status = if b.fail_status == 0 {
                500
            } else {
                b.fail_status
            };
            Some((status, b.retry_after.clone(), b.fail_message.clone()))
        } else {
            None
        };
        Effective {
            fail,
            unauthorized: b.always_401,
            delay_ms: b.delay_ms,
            chunk_interval_ms: b.chunk_interval_ms,
            chunks: b.chunks,
            text: b.text.clone(),
            stream_error_after: b.stream_error_after,
        }
    }

    fn accepts(&self, key: &str) -> bool {
        let o = self.oauth.lock();
        !o.strict || o.access.contains(key)
    }
}

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
}

async fn dispatch(sh: Arc<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/_standin/") {
        return control(&sh, &parts, body).await;
    }
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return anthropic_error(
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
    match parts.method {
        Method::POST if path.ends_with("/v1/messages") => {
            anthropic_messages(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/v1/messages/count_tokens") => {
            count_tokens(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/oauth/token") => {
            oauth_token(&sh, &parts.headers, &body).await
        }
        Method::POST if path.ends_with("/chat/completions") => {
            openai_chat(&sh, &parts.headers, &body).await
        }
        Method::GET if path.ends_with("/models") => models(&sh, &parts.headers).await,
        _ if path.contains("chat") || path.contains("/api/") => openai_error(
            StatusCode::NOT_FOUND,
            &format!("Unknown request URL: {} {}", parts.method, parts.uri.path()),
        ),
        _ => anthropic_error(
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
        Dialect::Anthropic => anthropic_error(status, None, msg),
        Dialect::OpenAi => openai_error(status, msg),
    };
    if let Some(ra) = retry_after
        && let Ok(v) = HeaderValue::from_str(ra)
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Response helpers
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

fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

fn anthropic_error(status: StatusCode, etype: Option<&str>, msg: &str) -> Response {
    let etype = etype.unwrap_or_else(|| anthropic_error_type(status));
    let mut r = json_response(
        status,
        &json!({"type": "error", "error": {"type": etype, "message": msg}, "request_id": "req_standin"}),
    );
    r.headers_mut()
        .insert("request-id", HeaderValue::from_static("req_standin"));
    r
}

fn openai_error(status: StatusCode, msg: &str) -> Response {
    let (etype, code): (&str, Value) = match status.as_u16() {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("insufficient_quota", json!("insufficient_quota")),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", Value::Null),
    };
    json_response(
        status,
        &json!({"error": {"message": msg, "type": etype, "param": null, "code": code}}),
    )
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

fn anthropic_event(out: &mut Vec<u8>, v: &Value) {
    let name = v.get("type").and_then(Value::as_str).unwrap_or("message");
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

fn openai_data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    let _ = serde_json::to_writer(&mut *out, v);
    out.extend_from_slice(b"\n\n");
}

// ---------------------------------------------------------------------------------------------
// Reply planning (shared by both dialects)
// ---------------------------------------------------------------------------------------------

enum Plan {
    Text(String),
    Tool { name: String, input: Value },
}

/// Text of a message `content` (a string or an array of blocks).
fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.clone()),
                _ if b.get("type").and_then(Value::as_str) == Some("text") => {
                    b.get("text").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// An input object matching a JSON schema's properties, deterministic.
fn synth_input(schema: Option<&Value>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for (name, p) in props {
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
            let lname = name.to_ascii_lowercase();
            let v = match ty {
                "string" => match p
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                {
                    Some(first) => first.clone(),
                    None if lname.contains("location") || lname.contains("city") => {
                        json!("San Francisco, CA")
                    }
                    None => json!("test"),
                },
                "number" | "integer" => json!(1),
                "boolean" => json!(true),
                "array" => json!([]),
                "object" => json!({}),
                _ => continue,
            };
            out.insert(name.clone(), v);
        }
    }
    Value::Object(out)
}

fn wants_tool(text: &str) -> bool {
    text.to_ascii_lowercase().contains("weather")
}

fn plan_anthropic(req: &Value, eff: &Effective) -> Plan {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    if let Some(last) = last.filter(|m| m.get("role").and_then(Value::as_str) == Some("user")) {
        let content = last.get("content").unwrap_or(&Value::Null);
        if let Some(blocks) = content.as_array() {
            let results: Vec<String> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| content_text(b.get("content").unwrap_or(&Value::Null)))
                .collect();
            if !results.is_empty() {
                return Plan::Text(format!("The tool returned: {}", results.join("; ")));
            }
        }
        let first_tool = req
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|t| t.iter().find(|t| t.get("name").is_some()));
        if let Some(tool) = first_tool
            && wants_tool(&content_text(content))
        {
            return Plan::Tool {
                name: tool
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("tool")
                    .to_owned(),
                input: synth_input(tool.get("input_schema")),
            };
        }
    }
    Plan::Text(eff.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_owned()))
}

fn plan_openai(req: &Value, eff: &Effective) -> Plan {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    if let Some(last) = last {
        let role = last.get("role").and_then(Value::as_str).unwrap_or("");
        let content = last.get("content").unwrap_or(&Value::Null);
        if role == "tool" {
            return Plan::Text(format!("The tool returned: {}", content_text(content)));
        }
        let first_fn = req.get("tools").and_then(Value::as_array).and_then(|t| {
            t.iter()
                .find_map(|t| t.get("function").filter(|f| f.get("name").is_some()))
        });
        if role == "user"
            && let Some(f) = first_fn
            && wants_tool(&content_text(content))
        {
            return Plan::Tool {
                name: f
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("tool")
                    .to_owned(),
                input: synth_input(f.get("parameters")),
            };
        }
    }
    Plan::Text(eff.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_owned()))
}

/// Split text into stream pieces: one per word by default, else `n` pieces by characters.
fn split_pieces(text: &str, n: Option<u32>) -> Vec<String> {
    match n {
        None => {
            let mut out = Vec::new();
            let mut cur = String::new();
            for (i, w) in text.split(' ').enumerate() {
                if i > 0 {
                    out.push(std::mem::take(&mut cur));
                    cur.push(' ');
                }
                cur.push_str(w);
            }
            out.push(cur);
            out.retain(|s| !s.is_empty());
            if out.is_empty() {
                out.push(String::new());
            }
            out
        }
        Some(n) => {
            let chars: Vec<char> = text.chars().collect();
            let n = (n.max(1) as usize).min(chars.len().max(1));
            let (base, extra) = (chars.len() / n, chars.len() % n);
            let mut out = Vec::with_capacity(n);
            let mut pos = 0;
            for i in 0..n {
                let len = base + usize::from(i < extra);
                out.push(chars[pos..pos + len].iter().collect());
                pos += len;
            }
            out
        }
    }
}

/// Rough token estimate: characters of all strings under `keys` / 4, at least 1.
fn estimate_tokens(req: &Value, keys: &[&str]) -> u64 {
    fn walk(v: &Value, n: &mut usize) {
        match v {
            Value::String(s) => *n += s.chars().count(),
            Value::Array(a) => a.iter().for_each(|x| walk(x, n)),
            Value::Object(o) => o.values().for_each(|x| walk(x, n)),
            _ => {}
        }
    }
    let mut n = 0;
    for k in keys {
        if let Some(v) = req.get(*k) {
            walk(v, &mut n);
        }
    }
    (n as u64).div_ceil(4).max(1)
}

fn count_words(s: &str) -> u64 {
    (s.split_whitespace().count() as u64).max(1)
}

// ---------------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------------

/// Common front of the Anthropic routes: behaviour, auth, version header, JSON body.
async fn anthropic_front(
    sh: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    need_max_tokens: bool,
) -> Result<(Value, Effective), Response> {
    let key = credential(headers);
    let eff = sh.effective(key, true);
    if let Some(r) = apply_behavior(&eff, Dialect::Anthropic).await {
        return Err(r);
    }
    let Some(key) = key else {
        return Err(anthropic_error(
            StatusCode::UNAUTHORIZED,
            None,
            "x-api-key header is required",
        ));
    };
    if !sh.accepts(key) {
        let msg = if headers.contains_key("x-api-key") {
            "invalid x-api-key"
        } else {
            "Invalid bearer token"
        };
        return Err(anthropic_error(StatusCode::UNAUTHORIZED, None, msg));
    }
    if !headers.contains_key("anthropic-version") {
        return Err(anthropic_error(
            StatusCode::BAD_REQUEST,
            None,
            "anthropic-version: header is required",
        ));
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(anthropic_error(
                StatusCode::BAD_REQUEST,
                None,
                "Request body is not valid JSON object",
            ));
        }
    };
    if v.get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(anthropic_error(
            StatusCode::BAD_REQUEST,
            None,
            "model: Field required",
        ));
    }
    if v.get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty())
    {
        return Err(anthropic_error(
            StatusCode::BAD_REQUEST,
            None,
            "messages: Field required",
        ));
    }
    if need_max_tokens && !v.get("max_tokens").is_some_and(Value::is_u64) {
        return Err(anthropic_error(
            StatusCode::BAD_REQUEST,
            None,
            "max_tokens: Field required",
        ));
    }
    Ok((v, eff))
}

async fn anthropic_messages(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let (req, eff) = match anthropic_front(sh, headers, body, true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let input_tokens = estimate_tokens(&req, &["system", "messages", "tools"]);
    let plan = plan_anthropic(&req, &eff);
    let id = sh.next_id("msg_01");
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        let (content, stop, out_tokens) = match &plan {
            Plan::Text(t) => (
                json!([{"type": "text", "text": t}]),
                "end_turn",
                count_words(t),
            ),
            Plan::Tool { name, input } => {
                let tid = sh.next_id("toolu_01");
                let n = estimate_tokens(&json!({"i": input.to_string()}), &["i"]) + 10;
                (
                    json!([{"type": "tool_use", "id": tid, "name": name, "input": input}]),
                    "tool_use",
                    n,
                )
            }
        };
        let v = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": out_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        });
        let mut r = json_response(StatusCode::OK, &v);
        r.headers_mut()
            .insert("request-id", HeaderValue::from_static("req_standin"));
        return r;
    }

    let mut frames = Vec::new();
    let mut first = Vec::with_capacity(512);
    anthropic_event(
        &mut first,
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
    );
    let (pieces, stop, out_tokens, delta_type) = match &plan {
        Plan::Text(t) => {
            anthropic_event(
                &mut first,
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            (
                split_pieces(t, eff.chunks),
                "end_turn",
                count_words(t),
                "text_delta",
            )
        }
        Plan::Tool { name, input } => {
            let tid = sh.next_id("toolu_01");
            anthropic_event(
                &mut first,
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "tool_use", "id": tid, "name": name, "input": {}}}),
            );
            let s = input.to_string();
            let n = eff.chunks.unwrap_or(3);
            (
                split_pieces(&s, Some(n)),
                "tool_use",
                estimate_tokens(&json!({"i": s}), &["i"]) + 10,
                "input_json_delta",
            )
        }
    };
    anthropic_event(&mut first, &json!({"type": "ping"}));
    frames.push(Bytes::from(first));
    for (i, p) in pieces.iter().enumerate() {
        if eff.stream_error_after.is_some_and(|n| i as u32 >= n) {
            let mut f = Vec::new();
            anthropic_event(
                &mut f,
                &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            );
            frames.push(Bytes::from(f));
            return sse_response(frames, Duration::from_millis(eff.chunk_interval_ms));
        }
        let delta = if delta_type == "text_delta" {
            json!({"type": "text_delta", "text": p})
        } else {
            json!({"type": "input_json_delta", "partial_json": p})
        };
        let mut f = Vec::with_capacity(128);
        anthropic_event(
            &mut f,
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        );
        frames.push(Bytes::from(f));
    }
    let mut last = Vec::with_capacity(256);
    anthropic_event(
        &mut last,
        &json!({"type": "content_block_stop", "index": 0}),
    );
    anthropic_event(
        &mut last,
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": out_tokens}}),
    );
    anthropic_event(&mut last, &json!({"type": "message_stop"}));
    frames.push(Bytes::from(last));
    sse_response(frames, Duration::from_millis(eff.chunk_interval_ms))
}

async fn count_tokens(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    match anthropic_front(sh, headers, body, false).await {
        Ok((req, _)) => json_response(
            StatusCode::OK,
            &json!({"input_tokens": estimate_tokens(&req, &["system", "messages", "tools"])}),
        ),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth token endpoint
// ---------------------------------------------------------------------------------------------

fn oauth_error(error: &str, desc: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": desc}),
    )
}

async fn oauth_token(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let params: HashMap<String, String> = if is_form {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            _ => return oauth_error("invalid_request", "Request body must be JSON"),
        }
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let grant = get("grant_type").unwrap_or("");
    let spent = match grant {
        "refresh_token" => get("refresh_token"),
        "authorization_code" => get("code").map(|c| c.split('#').next().unwrap_or(c)),
        "" => return oauth_error("invalid_request", "grant_type is required"),
        _ => return oauth_error("unsupported_grant_type", "Unsupported grant type"),
    };
    let Some(spent) = spent else {
        return oauth_error("invalid_request", "refresh_token or code is required");
    };
    let eff = sh.effective(Some(spent), false);
    if eff.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(eff.delay_ms)).await;
    }
    if let Some((status, retry_after, msg)) = &eff.fail {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(
            status,
            &json!({"error": "server_error", "error_description": msg.as_deref().unwrap_or("Stand-in failure")}),
        );
        if let Some(v) = retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    if get("client_id").is_none() {
        return oauth_error("invalid_request", "client_id is required");
    }
    let access = sh.next_id("sk-ant-oat01-standin-");
    let refresh = sh.next_id("sk-ant-ort01-standin-");
    let mut o = sh.oauth.lock();
    let email = if grant == "refresh_token" {
        match o.refresh.get_mut(spent) {
            None => return oauth_error("invalid_grant", "Invalid refresh token"),
            Some(e) if e.used => return oauth_error("invalid_grant", "Refresh token already used"),
            Some(e) => {
                e.used = true;
                e.email.clone()
            }
        }
    } else {
        if get("code_verifier").is_none() {
            return oauth_error("invalid_request", "code_verifier is required");
        }
        match o.codes.remove(spent) {
            Some(email) => email,
            None => return oauth_error("invalid_grant", "Invalid authorization code"),
        }
    };
    o.refresh.insert(
        refresh.clone(),
        RefreshEntry {
            email: email.clone(),
            used: false,
        },
    );
    o.access.insert(access.clone());
    o.strict = true;
    let expires_in = o.expires_in;
    o.issued.push(Issued {
        grant_type: grant.to_owned(),
        spent: spent.to_owned(),
        access_token: access.clone(),
        refresh_token: refresh.clone(),
        email: email.clone(),
    });
    drop(o);
    json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": expires_in,
            "refresh_token": refresh,
            "scope": "user:inference user:profile",
            "organization": {"uuid": "00000000-0000-4000-8000-000000000001", "name": "Stand-in Org"},
            "account": {"uuid": "00000000-0000-4000-8000-000000000002", "email_address": email},
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// OpenAI
// ---------------------------------------------------------------------------------------------

async fn openai_chat(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let key = credential(headers);
    let eff = sh.effective(key, true);
    if let Some(r) = apply_behavior(&eff, Dialect::OpenAi).await {
        return r;
    }
    if key.is_none() {
        return openai_error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        );
    }
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "We could not parse the JSON body of your request.",
            );
        }
    };
    let Some(model) = req
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
    else {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
        );
    };
    if req
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| m.is_empty())
    {
        return openai_error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'messages'.",
        );
    }
    let prompt_tokens = estimate_tokens(&req, &["messages", "tools"]);
    let plan = plan_openai(&req, &eff);
    let id = sh.next_id("chatcmpl-standin");
    let created = now_unix();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);

    if !stream {
        let (message, finish, completion_tokens) = match &plan {
            Plan::Text(t) => (
                json!({"role": "assistant", "content": t, "refusal": null}),
                "stop",
                count_words(t),
            ),
            Plan::Tool { name, input } => {
                let cid = sh.next_id("call_");
                (
                    json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                        {"id": cid, "type": "function", "function": {"name": name, "arguments": input.to_string()}}]}),
                    "tool_calls",
                    estimate_tokens(&json!({"i": input.to_string()}), &["i"]) + 10,
                )
            }
        };
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
                "system_fingerprint": "fp_standin",
            }),
        );
    }

    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage && let Some(o) = c.as_object_mut() {
            o.insert("usage".into(), Value::Null);
        }
        c
    };
    let mut frames = Vec::new();
    let (completion_tokens, finish) = match &plan {
        Plan::Text(t) => {
            let mut f = Vec::new();
            openai_data(
                &mut f,
                &chunk(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    Value::Null,
                ),
            );
            frames.push(Bytes::from(f));
            for (i, p) in split_pieces(t, eff.chunks).iter().enumerate() {
                if eff.stream_error_after.is_some_and(|n| i as u32 >= n) {
                    let mut f = Vec::new();
                    openai_data(
                        &mut f,
                        &json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
                    );
                    frames.push(Bytes::from(f));
                    return sse_response(frames, Duration::from_millis(eff.chunk_interval_ms));
                }
                let mut f = Vec::new();
                openai_data(&mut f, &chunk(json!({"content": p}), Value::Null));
                frames.push(Bytes::from(f));
            }
            (count_words(t), "stop")
        }
        Plan::Tool { name, input } => {
            let cid = sh.next_id("call_");
            let mut f = Vec::new();
            openai_data(
                &mut f,
                &chunk(
                    json!({"role": "assistant", "content": null, "tool_calls": [
                        {"index": 0, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ),
            );
            frames.push(Bytes::from(f));
            let s = input.to_string();
            for p in split_pieces(&s, Some(eff.chunks.unwrap_or(3))) {
                let mut f = Vec::new();
                openai_data(
                    &mut f,
                    &chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                        Value::Null,
                    ),
                );
                frames.push(Bytes::from(f));
            }
            (estimate_tokens(&json!({"i": s}), &["i"]) + 10, "tool_calls")
        }
    };
    let mut f = Vec::new();
    openai_data(&mut f, &chunk(json!({}), json!(finish)));
    if include_usage {
        openai_data(
            &mut f,
            &json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_standin", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }),
        );
    }
    f.extend_from_slice(b"data: [DONE]\n\n");
    frames.push(Bytes::from(f));
    sse_response(frames, Duration::from_millis(eff.chunk_interval_ms))
}

async fn models(sh: &Shared, headers: &HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let key = credential(headers);
    let eff = sh.effective(key, true);
    let dialect = if anthropic {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    if let Some(r) = apply_behavior(&eff, dialect).await {
        return r;
    }
    if key.is_none() {
        return error_for(
            dialect,
            StatusCode::UNAUTHORIZED,
            None,
            Some("missing credential"),
        );
    }
    if anthropic {
        let data: Vec<Value> = MODELS
            .iter()
            .filter(|m| m.starts_with("claude"))
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
            .collect();
        let first = data
            .first()
            .and_then(|d| d.get("id"))
            .cloned()
            .unwrap_or(Value::Null);
        let last = data
            .last()
            .and_then(|d| d.get("id"))
            .cloned()
            .unwrap_or(Value::Null);
        return json_response(
            StatusCode::OK,
            &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
        );
    }
    let data: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000u64, "owned_by": "standin"}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

// ---------------------------------------------------------------------------------------------
// Control surface
// ---------------------------------------------------------------------------------------------

/// `/_standin/*`:
/// * `GET  /_standin/health` → `{"status":"ok"}`
/// * `GET  /_standin/requests` → array of recorded requests (see [`RecordedRequest::to_json`]);
///   `DELETE /_standin/requests` clears them.
/// * `POST /_standin/reset` → forget requests, behaviours, OAuth state.
/// * `POST /_standin/behavior` `{"key": "...", <Behavior fields>}` sets; `{"key": "...", "remove": true}` removes.
///   `GET /_standin/behavior` lists them.
/// * `POST /_standin/oauth` `{"refresh_tokens": ["rt" | {"token","email"}], "access_tokens": [...],
///   "codes": [{"code","email"}], "expires_in": N, "strict": bool}` seeds OAuth state;
///   `GET /_standin/oauth` → `{"strict", "access_tokens", "refresh_tokens": {tok: {email, used}}, "issued": [...]}`.
/// * `POST /_standin/record` `{"enabled": bool}`.
async fn control(sh: &Shared, parts: &Parts, body: Body) -> Response {
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = || json_response(StatusCode::OK, &json!({"ok": true}));
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_standin/health") => {
            json_response(StatusCode::OK, &json!({"status": "ok"}))
        }
        (&Method::GET, "/_standin/requests") => {
            let list: Vec<Value> = sh
                .requests
                .lock()
                .iter()
                .map(RecordedRequest::to_json)
                .collect();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (&Method::DELETE, "/_standin/requests") => {
            sh.requests.lock().clear();
            ok()
        }
        (&Method::POST, "/_standin/reset") => {
            sh.reset();
            ok()
        }
        (&Method::GET, "/_standin/behavior") => {
            let map = sh.behaviors.lock().clone();
            json_response(StatusCode::OK, &json!(map))
        }
        (&Method::POST, "/_standin/behavior") => {
            let Some(key) = parsed.get("key").and_then(Value::as_str).map(str::to_owned) else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "key is required"}),
                );
            };
            if parsed.get("remove").and_then(Value::as_bool) == Some(true) {
                sh.behaviors.lock().remove(&key);
                return ok();
            }
            match serde_json::from_value::<Behavior>(parsed.clone()) {
                Ok(b) => {
                    sh.set_behavior(&key, b);
                    ok()
                }
                Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
            }
        }
        (&Method::POST, "/_standin/oauth") => {
            let mut o = sh.oauth.lock();
            for rt in parsed
                .get("refresh_tokens")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (tok, email) = match rt {
                    Value::String(s) => (s.clone(), "user@example.com".to_owned()),
                    _ => (
                        rt.get("token")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        rt.get("email")
                            .and_then(Value::as_str)
                            .unwrap_or("user@example.com")
                            .to_owned(),
                    ),
                };
                if !tok.is_empty() {
                    o.refresh.insert(tok, RefreshEntry { email, used: false });
                }
            }
            for at in parsed
                .get("access_tokens")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = at.as_str() {
                    o.access.insert(s.to_owned());
                    o.strict = true;
                }
            }
            for c in parsed
                .get("codes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(code) = c.get("code").and_then(Value::as_str) {
                    let email = c
                        .get("email")
                        .and_then(Value::as_str)
                        .unwrap_or("user@example.com");
                    o.codes.insert(code.to_owned(), email.to_owned());
                }
            }
            if let Some(n) = parsed.get("expires_in").and_then(Value::as_u64) {
                o.expires_in = n;
            }
            if let Some(s) = parsed.get("strict").and_then(Value::as_bool) {
                o.strict = s;
            }
            drop(o);
            ok()
        }
        (&Method::GET, "/_standin/oauth") => {
            let o = sh.oauth.lock();
            let refresh: serde_json::Map<String, Value> = o
                .refresh
                .iter()
                .map(|(k, e)| (k.clone(), json!({"email": e.email, "used": e.used})))
                .collect();
            let mut access: Vec<&String> = o.access.iter().collect();
            access.sort();
            json_response(
                StatusCode::OK,
                &json!({"strict": o.strict, "access_tokens": access, "refresh_tokens": refresh,
                        "issued": o.issued, "expires_in": o.expires_in}),
            )
        }
        (&Method::POST, "/_standin/record") => {
            let on = parsed
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            sh.record.store(on, Ordering::Relaxed);
            ok()
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown control endpoint"}),
        ),
    }
}
