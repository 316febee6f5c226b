//! Where spawned binaries leave their logs, so scripts/scan-secrets can read them after the
//! test's temporary folders are gone: `$CLIPROXY_TEST_LOG_DIR` (set by scripts/test), else
//! the fallback folder the caller names (inside the test's own temp folder).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The log level spawned binaries run with: debug for our own code, so anything a debug line
/// might leak is in the scanned logs.
pub const RUST_LOG: &str = "cliproxy=debug,info";

fn unique(label: &str, ext: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{label}-{}-{nanos}-{n}.{ext}", std::process::id())
}

/// The shared log folder, when scripts/test asked for one.
pub fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(std::env::var_os("CLIPROXY_TEST_LOG_DIR")?);
    std::fs::create_dir_all(&d).ok()?;
    Some(d)
}

/// A fresh log file path for one spawned process.
pub fn log_path(fallback_dir: &Path, label: &str) -> PathBuf {
    match dir() {
        Some(d) => d.join(unique(label, "log")),
        None => fallback_dir.join(format!("{label}.log")),
    }
}

/// Keeps `bytes` (captured output, an error body) for the scanner; a no-op without the folder.
pub fn save(label: &str, bytes: &[u8]) {
    if let Some(d) = dir() {
        let _ = std::fs::write(d.join(unique(label, "txt")), bytes);
    }
}
