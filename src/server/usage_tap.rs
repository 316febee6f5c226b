//! Usage of each proxied request. The request loop fills a [`Trace`] (which account
//! served, which model was sent, how many attempts) and attaches it to its response;
//! [`finish`] then watches the response body as it goes out and, when it
//! ends (or the client goes away), hands one record to the recorder. Nothing here
//! waits: the body is passed on chunk by chunk, the record is queued without blocking.

use std::sync::Arc;
use std::time::Instant;

use axum::response::Response;
use bytes::Bytes;
use http::header;

use super::state::AppState;
use crate::auth::registry::Route;
use crate::translate::Dialect;
use crate::usage::{self, Format, Recorder, Scanner, UsageRecord};

/// The usage label of the client key a request authenticated with.
#[derive(Debug, Clone)]
pub struct ClientKey(pub Arc<str>);

/// What the request loop learned about one request, carried to [`finish`] in the
/// response's extensions.
#[derive(Debug, Clone)]
pub struct Trace {
    format: Format,
    model_requested: String,
    stream: bool,
    provider: &'static str,
    account: String,
    model_sent: String,
    attempts: u32,
}

fn format_of(d: Dialect) -> Format {
    match d {
        Dialect::Anthropic => Format::Anthropic,
        // Legacy completions carry chat's `usage` shape.
        Dialect::OpenAiChat | Dialect::Completions => Format::OpenAiChat,
        Dialect::Responses => Format::Responses,
        Dialect::Gemini => Format::Gemini,
    }
}

impl Trace {
    pub fn new(dialect: Dialect, model: &str, stream: bool) -> Trace {
        Trace {
            format: format_of(dialect),
            model_requested: model.to_string(),
            stream,
            provider: "",
            account: String::new(),
            model_sent: String::new(),
            attempts: 0,
        }
    }

    /// A call handed to a service outside the accounts (Amp's upstream): one attempt,
    /// sent as asked, the account named by `account`.
    pub fn forwarded(
        dialect: Dialect,
        model: &str,
        stream: bool,
        provider: &'static str,
        account: &str,
    ) -> Trace {
        Trace {
            provider,
            account: account.to_string(),
            model_sent: model.to_string(),
            attempts: 1,
            ..Trace::new(dialect, model, stream)
        }
    }

    /// The model the client asked for, when a mapping changed it before the call.
    pub fn set_asked(&mut self, model: &str) {
        model.clone_into(&mut self.model_requested);
    }

    /// One try on `route` (the last one is the account that answered).
    pub fn attempt(&mut self, route: &Route) {
        self.attempts += 1;
        self.provider = route.cred.provider.name();
        if self.account != route.cred.label {
            self.account.clone_from(&route.cred.label);
        }
        if self.model_sent != route.upstream_model {
            self.model_sent.clone_from(&route.upstream_model);
        }
    }

    /// Hands the trace to the usage layer with the response.
    pub fn attach(self, resp: &mut Response) {
        resp.extensions_mut().insert(self);
    }
}

/// What is known of a request before its handler runs.
pub struct Begun {
    started: Instant,
    at_ms: i64,
    client_key: Option<ClientKey>,
}

/// Notes a request's start; `None` when usage is not recorded.
pub fn begin(state: &AppState, client_key: Option<ClientKey>) -> Option<Begun> {
    state.usage.is_enabled().then(|| Begun {
        started: Instant::now(),
        at_ms: jiff::Timestamp::now().as_millisecond(),
        client_key,
    })
}

/// Wraps a proxied response's body so that its usage is recorded when it ends. The
/// admission layer (src/server/gate.rs) calls this around the proxy routes' handlers;
/// a response without a [`Trace`] (not proxied) is returned as it is.
pub fn finish(state: &AppState, begun: Begun, mut resp: Response) -> Response {
    let Some(trace) = resp.extensions_mut().remove::<Trace>() else {
        return resp;
    };
    let status = resp.status();
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let record = UsageRecord {
        at_ms: begun.at_ms,
        client_key: begun
            .client_key
            .map_or_else(|| usage::OPEN_LABEL.to_string(), |k| k.0.to_string()),
        provider: trace.provider.to_string(),
        account: trace.account,
        model_requested: trace.model_requested,
        model_sent: trace.model_sent,
        dialect: trace.format.name().to_string(),
        status: status.as_u16(),
        stream: trace.stream,
        retries: trace.attempts.saturating_sub(1),
        ..Default::default()
    };
    // Error bodies report no usage: not scanned.
    let scanner = status.is_success().then(|| Scanner::new(trace.format, sse));
    super::tap::tap(
        resp,
        Pending {
            recorder: state.usage.clone(),
            record,
            scanner,
            started: begun.started,
        },
    )
}

struct Pending {
    recorder: Recorder,
    record: UsageRecord,
    scanner: Option<Scanner>,
    started: Instant,
}

impl super::tap::Watch for Pending {
    fn chunk(&mut self, chunk: &Bytes) {
        if self.record.ttfb_ms.is_none() {
            self.record.ttfb_ms = Some(self.started.elapsed().as_millis() as u64);
        }
        if let Some(s) = &mut self.scanner {
            s.feed_bytes(chunk);
        }
    }

    /// The body ended, or the client went away before the end: record what was seen.
    fn end(mut self) {
        if let Some(s) = self.scanner.take()
            && let Some(t) = s.finish()
        {
            self.record.tokens = t;
        }
        self.record.latency_ms = self.started.elapsed().as_millis() as u64;
        super::metrics::usage_tokens(&self.record.tokens);
        self.recorder.record(self.record);
    }
}
