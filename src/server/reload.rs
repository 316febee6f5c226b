//! Hot reload of the auth folder and config.yaml, and the proactive refresh loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::AppState;
use crate::auth::credential::AccountState;
use crate::auth::refresh::{self, Trigger};
use crate::store::watch::FolderWatch;

/// How long the watched folders stay quiet before a change is applied: a write comes
/// as several events, and editors save in several steps.
const QUIET: Duration = Duration::from_millis(150);

/// A config change the running gateway will not take: it would open the gateway wider
/// than it is (a half-written or emptied file reads as the defaults: no client keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Client keys are configured now and the new config has none.
    DropsEveryClientKey,
    /// The listener is on loopback now and the new host is not.
    WidensListener,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::DropsEveryClientKey => {
                "the new configuration has no api-keys while the running one has some; refusing to open the gateway (restart to apply on purpose)"
            }
            Refusal::WidensListener => {
                "the new configuration moves the listener from loopback to a wider address; refusing (restart to apply on purpose)"
            }
        }
    }
}

/// Whether replacing `old` by `new` on a hot reload is refused.
pub fn refusal(old: &crate::config::Config, new: &crate::config::Config) -> Option<Refusal> {
    if !old.api_keys.is_empty() && new.api_keys.is_empty() {
        return Some(Refusal::DropsEveryClientKey);
    }
    if old.is_loopback() && !new.is_loopback() {
        return Some(Refusal::WidensListener);
    }
    None
}

fn is_auth_file(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "json")
        && !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// What the auth folder holds: names and content hashes of its auth files.
fn auth_fingerprint(dir: &Path) -> Vec<(std::ffi::OsString, String)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_auth_file(&e.path()))
        .map(|e| {
            let hash = std::fs::read(e.path())
                .map(|b| crate::store::sha256_hex(&b))
                .unwrap_or_default();
            (e.file_name(), hash)
        })
        .collect();
    out.sort();
    out
}

/// Watches the auth folder and config.yaml's folder until `cancel`; each change is
/// applied by a reload.
pub fn watch(
    state: Arc<AppState>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) -> anyhow::Result<()> {
    let auth_dir = state.auth_dir.clone();
    let config_path: Option<PathBuf> = state.config_path.clone();
    let cfg_name = config_path
        .as_ref()
        .and_then(|p| p.file_name().map(|n| n.to_os_string()));
    let mut folders = FolderWatch::new()?;
    if auth_dir.is_dir() {
        folders.add(&auth_dir)?;
    }
    if let Some(parent) = config_path.as_ref().and_then(|p| p.parent()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if parent != auth_dir.as_path() {
            folders.add(parent)?;
        }
    }
    // Taken now, with the watch in place and before anything is served: taken later (in
    // the task, under load) it could already include a file the running set lacks, and
    // that file's events would then look like no change.
    let mut last_auth = auth_fingerprint(&state.auth_dir);
    tracker.spawn(async move {
        let mut last_cfg_hash = state
            .config_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| crate::store::sha256_hex(&b));
        loop {
            let batch = tokio::select! {
                b = folders.next(QUIET) => b,
                _ = cancel.cancelled() => None,
            };
            let Some(batch) = batch else { break };
            let (mut auth, mut cfg) = (batch.overflowed, batch.overflowed);
            for p in batch.changed_paths() {
                if p.parent() == Some(auth_dir.as_path()) && is_auth_file(p) {
                    auth = true;
                }
                if cfg_name.is_some() && p.file_name().map(|n| n.to_os_string()) == cfg_name {
                    cfg = true;
                }
            }
            if cfg {
                let hash = state.config_path.as_ref().and_then(|p| std::fs::read(p).ok()).map(|b| crate::store::sha256_hex(&b));
                if hash != last_cfg_hash {
                    // Each content is judged once: a rejected file is not re-read and
                    // re-reported until it changes again.
                    last_cfg_hash = hash;
                    match state.reload_config() {
                        Ok(()) => {
                            last_auth = auth_fingerprint(&state.auth_dir);
                            continue;
                        }
                        Err(e) => tracing::error!(error = %e, "config change rejected; keeping the running configuration"),
                    }
                }
            }
            if auth {
                // Events without new content (a rewrite with the same bytes) change nothing.
                // A file that changes after this fingerprint has events of its own in a
                // later batch (every event is delivered: store::watch).
                let now = auth_fingerprint(&state.auth_dir);
                if now != last_auth {
                    last_auth = now;
                    state.reload_auth();
                }
            }
        }
    });
    Ok(())
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
            let client = match state.clients.get_timed(
                entry_proxy.as_deref(),
                &snap.config.proxy_url,
                snap.config.timeouts.upstream_connect(),
            ) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Secret};

    fn cfg(host: &str, keys: &[&str]) -> Config {
        Config {
            host: host.to_string(),
            api_keys: keys.iter().map(|k| Secret::new(*k)).collect(),
            ..Config::default()
        }
    }

    #[test]
    fn reloads_that_open_the_gateway_are_refused() {
        use Refusal::*;
        let cases = [
            (
                "keys kept",
                cfg("127.0.0.1", &["a"]),
                cfg("127.0.0.1", &["b"]),
                None,
            ),
            (
                "keys dropped",
                cfg("127.0.0.1", &["a"]),
                cfg("127.0.0.1", &[]),
                Some(DropsEveryClientKey),
            ),
            (
                "keyless stays keyless",
                cfg("127.0.0.1", &[]),
                cfg("::1", &[]),
                None,
            ),
            (
                "keys added",
                cfg("127.0.0.1", &[]),
                cfg("127.0.0.1", &["a"]),
                None,
            ),
            (
                "loopback to any",
                cfg("127.0.0.1", &["a"]),
                cfg("0.0.0.0", &["a"]),
                Some(WidensListener),
            ),
            (
                "loopback to a LAN address",
                cfg("localhost", &["a"]),
                cfg("192.168.1.2", &["a"]),
                Some(WidensListener),
            ),
            (
                "wide to loopback",
                cfg("0.0.0.0", &["a"]),
                cfg("127.0.0.1", &["a"]),
                None,
            ),
            (
                "wide stays wide",
                cfg("0.0.0.0", &["a"]),
                cfg("10.0.0.1", &["a"]),
                None,
            ),
        ];
        for (what, old, new, want) in cases {
            assert_eq!(refusal(&old, &new), want, "{what}");
        }
    }
}
