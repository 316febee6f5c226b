//! What the stand-in remembers: recorded requests, programmed behaviour per credential and
//! the OAuth state (refresh tokens, accepted access tokens, authorization codes).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::api::{Behavior, Issued, RecordedRequest};

pub(super) struct RefreshEntry {
    pub(super) email: String,
    pub(super) used: bool,
}

pub(super) struct OAuthState {
    pub(super) refresh: HashMap<String, RefreshEntry>,
    pub(super) access: HashSet<String>,
    pub(super) codes: HashMap<String, String>,
    pub(super) strict: bool,
    pub(super) expires_in: u64,
    pub(super) issued: Vec<Issued>,
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

pub(super) struct Shared {
    pub(super) started: Instant,
    pub(super) record: AtomicBool,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    pub(super) behaviors: Mutex<HashMap<String, Behavior>>,
    pub(super) any_behavior: AtomicBool,
    pub(super) oauth: Mutex<OAuthState>,
    pub(super) cloud: Mutex<super::cloudcode::CloudState>,
    pub(super) seq: AtomicU64,
    /// Permits for the Amp stand-in's held streams to finish (see `amp.rs`).
    pub(super) amp_release: std::sync::Arc<tokio::sync::Semaphore>,
    /// TLS handshakes completed (TLS mode), and connections accepted (either mode):
    /// pooled connections are reused when these grow by one per connection, not per request.
    pub(super) tls_handshakes: AtomicU64,
    pub(super) connections: AtomicU64,
}

/// What to do for one request, resolved from the behaviour table.
#[derive(Default)]
pub(super) struct Effective {
    pub(super) fail: Option<(u16, Option<String>, Option<String>)>,
    pub(super) unauthorized: bool,
    pub(super) delay_ms: u64,
    pub(super) chunk_interval_ms: u64,
    pub(super) chunks: Option<u32>,
    pub(super) text: Option<String>,
    pub(super) stream_error_after: Option<u32>,
    pub(super) usage_limit_resets_in: Option<u64>,
}

impl Shared {
    pub(super) fn new(record: bool) -> Self {
        Shared {
            started: Instant::now(),
            record: AtomicBool::new(record),
            requests: Mutex::new(Vec::new()),
            behaviors: Mutex::new(HashMap::new()),
            any_behavior: AtomicBool::new(false),
            oauth: Mutex::new(OAuthState::default()),
            cloud: Mutex::new(Default::default()),
            seq: AtomicU64::new(1),
            amp_release: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
            tls_handshakes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        }
    }

    pub(super) fn set_behavior(&self, key: &str, b: Behavior) {
        self.behaviors.lock().insert(key.to_owned(), b);
        self.any_behavior.store(true, Ordering::Release);
    }

    pub(super) fn reset(&self) {
        self.requests.lock().clear();
        self.behaviors.lock().clear();
        self.any_behavior.store(false, Ordering::Release);
        *self.oauth.lock() = OAuthState::default();
        *self.cloud.lock() = Default::default();
    }

    pub(super) fn next_id(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!(
            "{prefix}{n:012x}{:012x}",
            self.started.elapsed().as_nanos() as u64 & 0xffff_ffff_ffff
        )
    }

    /// Resolve (and consume one failure of) the behaviour for `key`; `"*"` applies when
    /// `use_default` and the key has no entry.
    pub(super) fn effective(&self, key: Option<&str>, use_default: bool) -> Effective {
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
            usage_limit_resets_in: b.usage_limit_resets_in,
        }
    }

    pub(super) fn accepts(&self, key: &str) -> bool {
        let o = self.oauth.lock();
        !o.strict || o.access.contains(key)
    }
}
