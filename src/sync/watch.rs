//! Triggers: folder events (debounced, self-writes suppressed by hash), the bucket
//! poll, and explicit notifications; one reconcile worker, triggers coalesce.

use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::{Engine, Report};
use super::location::valid_name;

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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<std::path::PathBuf>>();
    // A fine tick so an event is delivered soon after its debounce window closes.
    let tick =
        (engine.res.debounce / 10).clamp(Duration::from_millis(5), Duration::from_millis(50));
    let mut debouncer = new_debouncer(
        engine.res.debounce,
        Some(tick),
        move |res: DebounceEventResult| match res {
            Ok(events) => {
                let paths: Vec<_> = events.into_iter().flat_map(|e| e.event.paths).collect();
                let _ = tx.send(paths);
            }
            Err(errs) => {
                for e in errs {
                    tracing::warn!(error = %e, "folder watch error");
                }
            }
        },
    )?;
    let mut dirs = engine.watched_dirs();
    for (_, d) in dirs.iter_mut() {
        crate::store::ensure_private_dir(d)?;
        // Events carry absolute, resolved paths: compare against the same form.
        if let Ok(c) = d.canonicalize() {
            *d = c;
        }
        debouncer.watch(d.as_path(), RecursiveMode::NonRecursive)?;
    }
    tracker.spawn(async move {
        let _keep = debouncer;
        loop {
            let paths = tokio::select! {
                _ = cancel.cancelled() => break,
                p = rx.recv() => match p { Some(p) => p, None => break },
            };
            let mut fire = false;
            for p in paths {
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
                let hash = std::fs::read(&p).ok().map(|b| crate::store::sha256_hex(&b));
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
