//! Hot reload of the auth folder and config.yaml, and the proactive refresh loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::AppState;
use crate::auth::credential::AccountState;
use crate::auth::refresh::{self, Trigger};

enum Change {
    Auth,
    Config,
}

fn is_auth_file(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "json")
        && !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Keeps the returned watcher alive for as long as reloads should happen.
pub fn watch(
    state: Arc<AppState>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<impl Drop> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    let auth_dir = state.auth_dir.clone();
    let config_path: Option<PathBuf> = state.config_path.clone();
    let cfg_name = config_path
        .as_ref()
        .and_then(|p| p.file_name().map(|n| n.to_os_string()));
    let auth_dir_c = auth_dir.clone();
    let mut debouncer = new_debouncer(
        Duration::from_millis(150),
        None,
        move |res: DebounceEventResult| {
            let Ok(events) = res else { return };
            let mut auth = false;
            let mut cfg = false;
            for ev in events {
                for p in &ev.paths {
                    if p.parent() == Some(auth_dir_c.as_path()) && is_auth_file(p) {
                        auth = true;
                    }
                    if cfg_name.is_some() && p.file_name().map(|n| n.to_os_string()) == cfg_name {
                        cfg = true;
                    }
                }
            }
            if auth {
                let _ = tx.send(Change::Auth);
            }
            if cfg {
                let _ = tx.send(Change::Config);
            }
        },
    )?;
    if auth_dir.is_dir() {
        debouncer.watch(&auth_dir, RecursiveMode::NonRecursive)?;
    }
    if let Some(parent) = config_path.as_ref().and_then(|p| p.parent()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if parent != auth_dir.as_path() {
            debouncer.watch(parent, RecursiveMode::NonRecursive)?;
        }
    }
    tracker.spawn(async move {
        let mut last_cfg_hash = state
            .config_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| crate::store::sha256_hex(&b));
        loop {
            let change = tokio::select! {
                c = rx.recv() => c,
                _ = cancel.cancelled() => None,
            };
            let Some(first) = change else { break };
            // Coalesce what arrived together.
            let (mut auth, mut cfg) = (matches!(first, Change::Auth), matches!(first, Change::Config));
            while let Ok(c) = rx.try_recv() {
                match c {
                    Change::Auth => auth = true,
                    Change::Config => cfg = true,
                }
            }
            if cfg {
                let hash = state.config_path.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| crate::store::sha256_hex(&b));
                if hash != last_cfg_hash {
                    match state.reload_config() {
                        Ok(()) => {
                            last_cfg_hash = hash;
                            continue;
                        }
                        Err(e) => tracing::error!(error = %e, "config change rejected; keeping the running configuration"),
                    }
                }
            }
            if auth {
                state.reload_auth();
            }
        }
    });
    Ok(debouncer)
}

/// How often accounts are checked for a due refresh.
fn check_interval() -> Duration {
    Duration::from_secs(15)
}

/// Refreshes OAuth tokens ahead of expiry (Claude 4 h, Codex 5 days, Antigravity
/// 5 min before `expired`; Gemini at expiry). Each account refreshes in its own task,
/// so one whose token endpoint or bucket hangs never holds up the others; an account
/// still refreshing is not started again.
pub async fn refresh_loop(state: Arc<AppState>, cancel: CancellationToken) {
    let mut first = true;
    let mut running = tokio::task::JoinSet::new();
    // Accounts refreshing now, by task (a task that panicked is forgotten too).
    let mut busy: std::collections::HashMap<tokio::task::Id, String> = Default::default();
    loop {
        let wait = if first {
            Duration::from_millis(500)
        } else {
            check_interval()
        };
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = cancel.cancelled() => return,
        }
        while let Some(done) = running.try_join_next_with_id() {
            busy.remove(&done.map_or_else(|e| e.id(), |(id, ())| id));
        }
        let snap = state.current();
        let now = jiff::Timestamp::now();
        for acc in &snap.accounts {
            // Every OAuth kind, each with its own lead (refresh::lead).
            if acc.provider.is_none() || acc.file.read().bool_field("disabled") {
                continue;
            }
            let skip = match &*acc.state.read() {
                AccountState::NeedsLogin(_) => true,
                AccountState::RefreshFailed { until, .. } => *until > std::time::Instant::now(),
                AccountState::Ok => false,
            };
            let refreshing = busy.values().any(|n| *n == acc.name);
            if skip || refreshing || !refresh::due(&acc.file.read(), now) {
                continue;
            }
            let entry_proxy = acc.file.read().str_field("proxy_url").map(str::to_string);
            let client = match state
                .clients
                .get(entry_proxy.as_deref(), &snap.config.proxy_url)
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "no HTTP client for refresh");
                    continue;
                }
            };
            let (state, snap, acc) = (state.clone(), snap.clone(), acc.clone());
            let name = acc.name.clone();
            let task = running.spawn(async move {
                let env = state.refresh_env(&client, &snap.config);
                let _ = refresh::refresh(&acc, Trigger::Proactive, &env).await;
            });
            busy.insert(task.id(), name);
        }
    }
}
