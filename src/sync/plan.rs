//! The pure part of a reconcile: from the base state and what each location holds,
//! decide per file name what the winner is, where to write it, what to keep as a
//! conflict copy and what a tombstone deletes. No I/O here.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The auth-file locations, in the order they are written (backup after primary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocId {
    Local,
    Primary,
    Backup,
    Ccs,
    Dotfiles,
}

impl LocId {
    pub const ALL: [LocId; 5] = [
        LocId::Local,
        LocId::Primary,
        LocId::Backup,
        LocId::Ccs,
        LocId::Dotfiles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LocId::Local => "local",
            LocId::Primary => "primary",
            LocId::Backup => "backup",
            LocId::Ccs => "ccs",
            LocId::Dotfiles => "dotfiles",
        }
    }

    /// Whether the location's content counts as a version (dotfiles only to bootstrap).
    pub fn is_source(self, bootstrap: bool) -> bool {
        self != LocId::Dotfiles || bootstrap
    }

    /// Whether a tombstone may delete here (never from the backup prefix).
    pub fn deletable(self) -> bool {
        self != LocId::Backup
    }

    /// Locations where a copy newer than a tombstone counts as a new login.
    fn can_resurrect(self) -> bool {
        matches!(self, LocId::Local | LocId::Primary | LocId::Ccs)
    }
}

impl std::fmt::Display for LocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the freshness order looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<jiff::Timestamp>,
}

impl Meta {
    /// Parses auth-file bytes: invalid JSON (or not an auth file) is `valid: false`.
    pub fn of(bytes: &[u8], mtime: Option<jiff::Timestamp>) -> Meta {
        match crate::auth::file::AuthFile::parse(std::path::Path::new("x.json"), bytes) {
            Ok(f) => {
                let ts = |k: &str| {
                    f.str_field(k)
                        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                };
                Meta {
                    valid: true,
                    // Antigravity files carry `timestamp` (ms) instead of `last_refresh`.
                    last_refresh: f.last_refresh().or_else(|| {
                        f.int_field("timestamp")
                            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                    }),
                    expiry: f
                        .expiry()
                        .or_else(|| ts("expiry"))
                        .or_else(|| ts("expires_at")),
                    mtime,
                }
            }
            Err(_) => Meta {
                valid: false,
                mtime,
                ..Meta::default()
            },
        }
    }
}

/// One location's copy of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub hash: String,
    pub meta: Meta,
}

/// What a location holds under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obs {
    /// Not configured or unreachable: neither a source nor a target this run.
    Unknown,
    Absent,
    Present(Copy),
}

/// The base of the three-way merge: the last synced version and, per location, the
/// hash it held when it was last in sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseEntry {
    pub hash: String,
    pub meta: Meta,
    #[serde(default)]
    pub seen: BTreeMap<LocId, String>,
}

/// `config/tombstones/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub name: String,
    pub deleted_at: jiff::Timestamp,
    /// SHA-256 of the content that was removed.
    pub hash: String,
    pub machine: String,
}

/// Freshness order (SPEC §8): valid beats invalid, then `last_refresh`, then expiry,
/// then modification time, then the hash, so every machine picks the same winner.
pub fn freshness(a: &Copy, b: &Copy) -> Ordering {
    a.meta
        .valid
        .cmp(&b.meta.valid)
        .then_with(|| a.meta.last_refresh.cmp(&b.meta.last_refresh))
        .then_with(|| a.meta.expiry.cmp(&b.meta.expiry))
        .then_with(|| a.meta.mtime.cmp(&b.meta.mtime))
        .then_with(|| a.hash.cmp(&b.hash))
}

/// Freshness without the mtime and hash tie-breaks (used against the base, whose mtime
/// is not comparable across locations).
fn token_fresher(a: &Meta, b: &Meta) -> bool {
    (a.valid, a.last_refresh, a.expiry) > (b.valid, b.last_refresh, b.expiry)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing valid anywhere, or nothing known: leave everything as it is.
    None,
    /// Make every reachable location hold `winner`.
    Sync {
        winner: String,
        meta: Meta,
        /// Where the winner's bytes can be read.
        source: LocId,
        /// Locations to write, in order (backup after primary).
        writes: Vec<LocId>,
        /// Versions to keep under `conflicts/` before they are overwritten: (location, hash).
        keep: Vec<(LocId, String)>,
        /// Several locations changed differently.
        conflict: bool,
    },
    /// A tombstone applies: remove the name from these locations.
    Delete {
        from: Vec<LocId>,
        keep: Vec<(LocId, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePlan {
    pub name: String,
    pub action: Action,
    /// A new login of a removed name: the tombstone goes.
    pub drop_tombstone: bool,
    /// Things worth reporting (invalid copies, ...).
    pub notes: Vec<String>,
}

pub struct NameInput<'a> {
    pub name: &'a str,
    pub base: Option<&'a BaseEntry>,
    pub obs: &'a BTreeMap<LocId, Obs>,
    pub tomb: Option<&'a Tombstone>,
}

fn present(obs: &BTreeMap<LocId, Obs>) -> impl Iterator<Item = (LocId, &Copy)> {
    obs.iter().filter_map(|(l, o)| match o {
        Obs::Present(c) => Some((*l, c)),
        _ => None,
    })
}

/// Decides one name.
pub fn plan_name(inp: &NameInput<'_>, bootstrap: bool) -> NamePlan {
    let mut notes = Vec::new();
    for (l, c) in present(inp.obs) {
        if !c.meta.valid {
            notes.push(format!("{l}: invalid or truncated JSON, never propagated"));
        }
    }
    let sources: Vec<(LocId, &Copy)> = present(inp.obs)
        .filter(|(l, c)| l.is_source(bootstrap) && c.meta.valid)
        .collect();
    let mut base = inp.base;
    let mut candidates = sources.clone();
    let mut drop_tombstone = false;

    if let Some(t) = inp.tomb {
        let resurrect: Vec<(LocId, &Copy)> = sources
            .iter()
            .filter(|(l, c)| {
                l.can_resurrect()
                    && c.hash != t.hash
                    && c.meta
                        .last_refresh
                        .or(c.meta.mtime)
                        .is_some_and(|ts| ts > t.deleted_at)
            })
            .cloned()
            .collect();
        if resurrect.is_empty() {
            let from: Vec<LocId> = present(inp.obs)
                .filter(|(l, _)| l.deletable())
                .map(|(l, _)| l)
                .collect();
            let mut keep = Vec::new();
            let mut kept = BTreeSet::new();
            for (l, c) in present(inp.obs) {
                if l.deletable()
                    && l != LocId::Dotfiles
                    && c.hash != t.hash
                    && kept.insert(c.hash.clone())
                {
                    keep.push((l, c.hash.clone()));
                }
            }
            let action = if from.is_empty() {
                Action::None
            } else {
                Action::Delete { from, keep }
            };
            return NamePlan {
                name: inp.name.to_string(),
                action,
                drop_tombstone: false,
                notes,
            };
        }
        notes.push("a newer login replaces the removal (tombstone dropped)".into());
        drop_tombstone = true;
        candidates = resurrect;
        base = None;
    }

    let mut conflict = false;
    let winner: Option<(LocId, Copy)> = match base {
        Some(b) => {
            let changed: Vec<(LocId, &Copy)> = candidates
                .iter()
                .filter(|(l, c)| {
                    if c.hash == b.hash {
                        return false;
                    }
                    match b.seen.get(l) {
                        Some(s) => *s != c.hash,
                        // Unknown provenance: only a fresher token counts as a change.
                        None => token_fresher(&c.meta, &b.meta),
                    }
                })
                .cloned()
                .collect();
            if changed.is_empty() {
                match candidates.iter().find(|(_, c)| c.hash == b.hash) {
                    Some((l, c)) => Some((*l, (*c).clone())),
                    None => candidates
                        .iter()
                        .max_by(|x, y| freshness(x.1, y.1))
                        .map(|(l, c)| (*l, (*c).clone())),
                }
            } else {
                let distinct: BTreeSet<&str> =
                    changed.iter().map(|(_, c)| c.hash.as_str()).collect();
                conflict = distinct.len() > 1;
                changed
                    .iter()
                    .max_by(|x, y| freshness(x.1, y.1))
                    .map(|(l, c)| (*l, (*c).clone()))
            }
        }
        None => {
            let distinct: BTreeSet<&str> =
                candidates.iter().map(|(_, c)| c.hash.as_str()).collect();
            conflict = distinct.len() > 1;
            candidates
                .iter()
                .max_by(|x, y| freshness(x.1, y.1))
                .map(|(l, c)| (*l, (*c).clone()))
        }
    };
    let Some((source, win)) = winner else {
        return NamePlan {
            name: inp.name.to_string(),
            action: Action::None,
            drop_tombstone: false,
            notes,
        };
    };
    // Prefer a folder as the source: its bytes are already in memory.
    let source = present(inp.obs)
        .filter(|(_, c)| c.hash == win.hash)
        .map(|(l, _)| l)
        .find(|l| matches!(l, LocId::Local | LocId::Ccs | LocId::Dotfiles))
        .unwrap_or(source);

    let mut writes = Vec::new();
    let mut keep = Vec::new();
    let mut kept = BTreeSet::new();
    for l in LocId::ALL {
        match inp.obs.get(&l).unwrap_or(&Obs::Unknown) {
            Obs::Unknown => {}
            Obs::Absent => writes.push(l),
            Obs::Present(c) if c.hash == win.hash => {}
            Obs::Present(c) => {
                writes.push(l);
                let known = base.is_some_and(|b| {
                    b.hash == c.hash || b.seen.get(&l).is_some_and(|s| *s == c.hash)
                });
                let worth_keeping = if c.meta.valid {
                    l != LocId::Dotfiles && !known
                } else {
                    matches!(l, LocId::Local | LocId::Ccs)
                };
                if worth_keeping && kept.insert(c.hash.clone()) {
                    keep.push((l, c.hash.clone()));
                }
            }
        }
    }
    NamePlan {
        name: inp.name.to_string(),
        action: Action::Sync {
            winner: win.hash,
            meta: win.meta,
            source,
            writes,
            keep,
            conflict,
        },
        drop_tombstone,
        notes,
    }
}

/// Dotfiles is read only to bootstrap a machine where every other location is empty.
pub fn is_bootstrap(counts: &BTreeMap<LocId, Option<usize>>) -> bool {
    counts
        .iter()
        .filter(|(l, _)| **l != LocId::Dotfiles)
        .all(|(_, c)| c.unwrap_or(0) == 0)
}

/// Guards (SPEC §8): a remote listing that is empty where the base says files exist,
/// or a run that would delete more than `max_fraction` of the files, stops the run.
pub fn guard(
    plans: &[NamePlan],
    base: &BTreeMap<String, BaseEntry>,
    counts: &BTreeMap<LocId, Option<usize>>,
    max_fraction: f64,
) -> Option<String> {
    // Names a tombstone removes are expected to be gone (removing the last account must not
    // look like a wiped bucket to the other machines).
    let removed: BTreeSet<&str> = plans
        .iter()
        .filter(|p| matches!(p.action, Action::Delete { .. }))
        .map(|p| p.name.as_str())
        .collect();
    for l in [LocId::Primary, LocId::Backup] {
        if counts.get(&l).copied().flatten() == Some(0) {
            let expected = base
                .iter()
                .filter(|(n, b)| b.seen.contains_key(&l) && !removed.contains(n.as_str()))
                .count();
            if expected > 0 {
                return Some(format!(
                    "{l} lists no files but {expected} were there at the last sync; \
                     not acting (check the bucket and prefix, then `cliproxy sync once --force`)"
                ));
            }
        }
    }
    let deletes = plans
        .iter()
        .filter(|p| matches!(p.action, Action::Delete { .. }))
        .count();
    let total = plans.len().max(base.len());
    if deletes > 1 && deletes as f64 > max_fraction * total as f64 {
        return Some(format!(
            "this run would delete {deletes} of {total} files (more than {:.0}%); not acting \
             (check config/tombstones/, then `cliproxy sync once --force`)",
            max_fraction * 100.0
        ));
    }
    None
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plan_prop_tests.rs"]
mod prop_tests;
