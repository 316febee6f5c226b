//! Credential sync engine (SPEC §8).

pub mod cli;
pub mod config;
pub mod location;
pub mod plan;
pub mod s3;

pub use config::SyncConfig;

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

pub async fn start(
    _ctx: &crate::cli::Context,
    _cancel: tokio_util::sync::CancellationToken,
    _tracker: &tokio_util::task::TaskTracker,
) -> anyhow::Result<Option<SyncHandle>> {
    Ok(None)
}
