//! The persisted base state (atomic JSON in the state folder).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::plan::{BaseEntry, LocId, Meta, Tombstone};

/// What an S3 object's ETag stood for when we last read it (so unchanged objects are
/// never fetched again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedObj {
    pub etag: String,
    pub hash: String,
    pub meta: Meta,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedTomb {
    pub tag: String,
    pub tomb: Tombstone,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub version: u32,
    /// Per file name: the last synced version and what each location held.
    pub files: BTreeMap<String, BaseEntry>,
    /// Per bucket location: ETag → content identity cache.
    pub remote: BTreeMap<LocId, BTreeMap<String, CachedObj>>,
    pub tombstones: BTreeMap<String, CachedTomb>,
    /// Per location label: last successful listing.
    pub last_success: BTreeMap<String, jiff::Timestamp>,
    /// Per location label: the last error, if the last attempt failed.
    pub last_error: BTreeMap<String, String>,
}

impl State {
    /// Loads the state; a missing or unreadable file means "no base" (union, never delete).
    pub fn load(path: &Path) -> State {
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "sync state unreadable; starting without a base (union, no deletions)");
                    let _ = std::fs::rename(path, path.with_extension("json.corrupt"));
                    State::default()
                }
            },
            Err(_) => State::default(),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        crate::store::write_atomic(path, &bytes)
    }

    /// Same content apart from the timestamps of successful runs.
    pub fn same_data(&self, other: &State) -> bool {
        self.files == other.files
            && self.remote == other.remote
            && self.tombstones == other.tombstones
            && self.last_error == other.last_error
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file_means_no_base() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s/state.json");
        let mut s = State::default();
        s.files.insert(
            "a.json".into(),
            BaseEntry {
                hash: "h".into(),
                ..BaseEntry::default()
            },
        );
        s.save(&p).unwrap();
        assert_eq!(State::load(&p), s);
        std::fs::write(&p, b"{not json").unwrap();
        assert_eq!(State::load(&p), State::default());
    }
}
