//! Credential sync engine (SPEC §8): the local auth folder, the bucket's primary and
//! backup prefixes, the CCS folder and the dotfiles sink, reconciled by a three-way merge
//! against a persisted base, with tombstones for deliberate removal.
//!
//! Layout: settings and location resolution live in `crate::config::sync`; here are
//! `location` + `s3` (I/O), `plan` (pure decisions), `state` (base state), `engine`
//! (executor) and `watch` (triggers). The commands are in src/commands/sync.rs.
//! See `docs/sync.md`.

pub mod engine;
pub mod location;
pub mod plan;
pub mod s3;
pub mod state;
pub mod watch;

use std::sync::Arc;

pub use crate::config::sync::{Resolved, SyncConfig};
pub use engine::{Engine, Report};

struct Inner {
    trigger: Arc<tokio::sync::Notify>,
    engine: Arc<Engine>,
}

/// Handle the gateway keeps to tell the sync engine that a local file changed
/// (after a token refresh or a login), so it propagates at once.
#[derive(Clone, Default)]
pub struct SyncHandle {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandle")
            .field("active", &self.inner.is_some())
            .finish()
    }
}

impl SyncHandle {
    /// A file in the local auth folder was written by us (refresh, login).
    pub fn notify_local_change(&self, file_name: &str) {
        if let Some(i) = &self.inner {
            tracing::debug!(file = %file_name, "local change notified");
            i.trigger.notify_one();
        }
    }

    /// The engine behind the handle (for status pages and tests).
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.inner.as_ref().map(|i| &i.engine)
    }
}

/// Starts the engine from resolved settings: first reconcile, then watcher and poller.
pub async fn start_engine(
    res: Resolved,
    cancel: tokio_util::sync::CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
    bootstrap_wait: std::time::Duration,
) -> anyhow::Result<SyncHandle> {
    let engine = Arc::new(Engine::new(res)?);
    watch::bootstrap(&engine, tracker, bootstrap_wait).await;
    let trigger = Arc::new(tokio::sync::Notify::new());
    watch::spawn_watcher(engine.clone(), trigger.clone(), cancel.clone(), tracker)?;
    watch::spawn_worker(engine.clone(), trigger.clone(), cancel, tracker);
    Ok(SyncHandle {
        inner: Some(Arc::new(Inner { trigger, engine })),
    })
}

/// Starts the sync engine for `serve` when any location is configured: runs the
/// bootstrap reconcile (before accounts load), then the watcher and the poller.
pub async fn start(
    res: Resolved,
    cancel: tokio_util::sync::CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> anyhow::Result<Option<SyncHandle>> {
    if !res.enabled || !res.has_remote_locations() {
        return Ok(None);
    }
    let h = start_engine(res, cancel, tracker, std::time::Duration::from_secs(10)).await?;
    Ok(Some(h))
}
