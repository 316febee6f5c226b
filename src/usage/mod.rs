//! Usage that survives restarts: one [`UsageRecord`] per proxied request, handed to a
//! [`Recorder`] that never blocks the request (a bounded queue; a full queue drops and
//! counts), written in batches by one writer thread into SQLite (`db`), read back by
//! `cliproxy usage` and the management API (`report`).
//!
//! Records carry labels, never secrets: the client key as a short hash, the account as
//! provider + label (e-mail or entry name).

pub mod db;
mod fields;
pub mod live;
pub mod recorder;
pub mod report;
pub mod tokens;

use serde::{Deserialize, Serialize};

pub use recorder::{Recorder, Writer};
pub use tokens::{Format, Scanner, Tokens};

/// File name of the usage database inside the auth folder. The leading dot keeps it
/// out of the auth scan, the reload watcher and the sync engine (they take `*.json`
/// without a leading dot only).
pub const DB_FILE: &str = ".cliproxy-usage.sqlite";

/// The usage database of an auth folder.
pub fn db_path(auth_dir: &std::path::Path) -> std::path::PathBuf {
    auth_dir.join(DB_FILE)
}

/// One proxied request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Start of the request, Unix milliseconds.
    pub at_ms: i64,
    /// Which client key was used: [`client_key_label`], or `open` without keys.
    pub client_key: String,
    /// Provider of the account that served the request (`claude`, `openai-compat`...),
    /// empty when none was reached.
    pub provider: String,
    /// The account's label (e-mail or entry name), never its token.
    pub account: String,
    pub model_requested: String,
    pub model_sent: String,
    /// The client's dialect (`anthropic`, `openai-chat`, ...).
    pub dialect: String,
    pub status: u16,
    pub stream: bool,
    pub tokens: Tokens,
    /// Until the body was fully sent.
    pub latency_ms: u64,
    /// Until the first body byte was sent.
    pub ttfb_ms: Option<u64>,
    /// Attempts beyond the first (other accounts, replays after a refresh, waits).
    pub retries: u32,
}

impl UsageRecord {
    pub fn failed(&self) -> bool {
        self.status >= 400
    }
}

/// A short, stable name for a client key: enough to tell keys apart in reports,
/// useless for recovering the key.
pub fn client_key_label(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("cliproxy-client-key:{key}").as_bytes());
    format!("key-{}", hex::encode(&h[..4]))
}

/// Label for requests made while no client keys are configured.
pub const OPEN_LABEL: &str = "open";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_labels_are_short_stable_and_do_not_contain_the_key() {
        let a = client_key_label("sk-secret-123");
        assert_eq!(a, client_key_label("sk-secret-123"));
        assert_ne!(a, client_key_label("sk-secret-124"));
        assert!(a.starts_with("key-") && a.len() == 12, "{a}");
        assert!(!a.contains("secret"));
    }
}
