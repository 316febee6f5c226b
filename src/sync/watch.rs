//! Triggers: folder events (debounced, self-writes suppressed by hash), the bucket
//! poll, and explicit notifications; one reconcile worker, triggers coalesce.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::{Engine, Report};
use super::location::valid_name;
use crate::store::watch::FolderWatch;

fn log_report(r: &Report) {
    for a in &r.actions {
        tracing::info!(action = %a, "sync");
    }
    for n in &r.notes {
        tracing::debug!(note = %n, "sync");
    }
    if let Some(g) = &r.guard {
        tracing::error!(guard = %g, "sync stopped by a guard");
    }
    for e in &r.errors {
        tracing::debug!(error = %e, "sync error");
    }
}

/// Runs reconciles whenever `trigger` fires (coalescing) or the poll interval passes.
pub fn spawn_worker(
    engine: Arc<Engine>,
    trigger: Arc<Notify>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let poll = engine.res.poll_interval;
    tracker.spawn(async move {
        let mut tick = (!poll.is_zero()).then(|| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            let polled = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = trigger.notified() => {}
                _ = polled => {}
            }
            let r = engine.reconcile(false).await;
            log_report(&r);
        }
    });
}

/// Watches the local auth folder and the CCS folder; an event whose file content is
/// what we last saw or wrote (our own write) does not trigger a run.
pub fn spawn_watcher(
    engine: Arc<Engine>,
    trigger: Arc<Notify>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<()> {
    let mut folders = FolderWatch::new()?;
    let mut dirs = engine.watched_dirs();
    for (_, d) in dirs.iter_mut() {
        crate::store::ensure_private_dir(d)?;
        // Events carry absolute, resolved paths: compare against the same form.
        if let Ok(c) = d.canonicalize() {
            *d = c;
        }
        folders.add(d.as_path())?;
    }
    let quiet = engine.res.debounce;
    tracker.spawn(async move {
        loop {
            let batch = tokio::select! {
                _ = cancel.cancelled() => break,
                b = folders.next(quiet) => match b { Some(b) => b, None => break },
            };
            if batch.overflowed {
                trigger.notify_one();
                continue;
            }
            let mut fire = false;
            for p in batch.changed_paths() {
                let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                    continue;
                };
                if !valid_name(&name) {
                    continue;
                }
                let Some((loc, _)) = dirs.iter().find(|(_, d)| p.parent() == Some(d.as_path()))
                else {
                    continue;
                };
                let hash = std::fs::read(p).ok().map(|b| crate::store::sha256_hex(&b));
                if !engine.is_known(*loc, &name, hash.as_deref()) {
                    tracing::debug!(file = %name, location = %loc, "folder change");
                    fire = true;
                }
            }
            if fire {
                trigger.notify_one();
            }
        }
    });
    Ok(())
}

/// Runs the first reconcile, waiting for it at most `wait` (a slow bucket must not hold
/// up the gateway); it finishes in the background if it takes longer.
pub async fn bootstrap(engine: &Arc<Engine>, tracker: &TaskTracker, wait: Duration) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let e = engine.clone();
    tracker.spawn(async move {
        let r = e.reconcile(false).await;
        log_report(&r);
        for err in &r.errors {
            tracing::warn!(error = %err, "sync at start");
        }
        let _ = tx.send(());
    });
    if tokio::time::timeout(wait, rx).await.is_err() {
        tracing::warn!(
            "initial sync is slow (bucket unreachable?); serving with the local folder meanwhile"
        );
    }
}
