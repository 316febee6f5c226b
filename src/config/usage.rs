//! `usage:`: per-request usage kept in SQLite beside the auth files.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct UsageConfig {
    /// Record usage at all.
    pub enabled: bool,
    /// Records older than this are removed (at start and daily); 0 keeps everything.
    pub retention_days: u32,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            enabled: true,
            retention_days: 90,
        }
    }
}
