//! Credential sync engine (SPEC §8).

pub mod cli;

use serde::Deserialize;

/// `sync:` in config.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SyncConfig {
    pub enabled: Option<bool>,
    pub poll_interval: Option<u64>,
    pub ccs_dir: Option<String>,
    pub dotfiles_dir: Option<String>,
    pub bucket: Option<serde_json::Value>,
}

/// Handle the gateway keeps to tell the sync engine that a local file changed
/// (after a token refresh or a login), so it propagates at once.
#[derive(Debug, Clone, Default)]
pub struct SyncHandle {
    _private: (),
}

impl SyncHandle {
    /// A file in the local auth folder was written by us (refresh, login).
    pub fn notify_local_change(&self, _file_name: &str) {}
}

/// Starts the sync engine for `serve` when any location is configured: runs the
/// bootstrap reconcile (before accounts load), then the watcher and the poller.
pub async fn start(
    _ctx: &crate::cli::Context,
    _cancel: tokio_util::sync::CancellationToken,
    _tracker: &tokio_util::task::TaskTracker,
) -> anyhow::Result<Option<SyncHandle>> {
    Ok(None)
}
