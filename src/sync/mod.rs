//! Credential sync engine (SPEC §8).

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
