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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn copy(hash: &str, refresh: Option<&str>) -> Obs {
        Obs::Present(Copy {
            hash: hash.into(),
            meta: Meta {
                valid: true,
                last_refresh: refresh.map(ts),
                ..Meta::default()
            },
        })
    }

    fn invalid(hash: &str) -> Obs {
        Obs::Present(Copy {
            hash: hash.into(),
            meta: Meta::default(),
        })
    }

    fn obs(pairs: &[(LocId, Obs)]) -> BTreeMap<LocId, Obs> {
        pairs.iter().cloned().collect()
    }

    fn base(hash: &str, refresh: Option<&str>, seen: &[(LocId, &str)]) -> BaseEntry {
        BaseEntry {
            hash: hash.into(),
            meta: Meta {
                valid: true,
                last_refresh: refresh.map(ts),
                ..Meta::default()
            },
            seen: seen.iter().map(|(l, h)| (*l, h.to_string())).collect(),
        }
    }

    fn all_seen(h: &str) -> Vec<(LocId, &str)> {
        LocId::ALL.iter().map(|l| (*l, h)).collect()
    }

    fn run(b: Option<&BaseEntry>, o: &BTreeMap<LocId, Obs>, t: Option<&Tombstone>) -> NamePlan {
        plan_name(
            &NameInput {
                name: "a.json",
                base: b,
                obs: o,
                tomb: t,
            },
            false,
        )
    }

    fn winner(p: &NamePlan) -> (&str, Vec<LocId>) {
        match &p.action {
            Action::Sync { winner, writes, .. } => (winner.as_str(), writes.clone()),
            other => panic!("expected sync, got {other:?}"),
        }
    }

    #[test]
    fn unchanged_everywhere_writes_nothing() {
        let b = base("h1", None, &all_seen("h1"));
        let o = obs(&LocId::ALL.map(|l| (l, copy("h1", None))));
        let p = run(Some(&b), &o, None);
        assert_eq!(winner(&p), ("h1", vec![]));
    }

    #[test]
    fn one_side_changed_propagates_even_if_older() {
        // A local edit (or a rollback) with an older last_refresh still wins: only it changed.
        let b = base("h1", Some("2026-01-02T00:00:00Z"), &all_seen("h1"));
        let o = obs(&[
            (LocId::Local, copy("h0", Some("2026-01-01T00:00:00Z"))),
            (LocId::Primary, copy("h1", Some("2026-01-02T00:00:00Z"))),
            (LocId::Backup, copy("h1", Some("2026-01-02T00:00:00Z"))),
        ]);
        let p = run(Some(&b), &o, None);
        assert_eq!(winner(&p), ("h0", vec![LocId::Primary, LocId::Backup]));
    }

    #[test]
    fn local_refresh_beats_stale_remote() {
        // The seed's bug: the remote copy is the old one; local refreshed since the base.
        let b = base("old", Some("2026-01-01T00:00:00Z"), &all_seen("old"));
        let o = obs(&[
            (LocId::Local, copy("new", Some("2026-01-03T00:00:00Z"))),
            (LocId::Primary, copy("old", Some("2026-01-01T00:00:00Z"))),
            (LocId::Backup, copy("old", Some("2026-01-01T00:00:00Z"))),
            (LocId::Ccs, copy("old", Some("2026-01-01T00:00:00Z"))),
            (LocId::Dotfiles, copy("old", Some("2026-01-01T00:00:00Z"))),
        ]);
        let p = run(Some(&b), &o, None);
        assert_eq!(
            winner(&p),
            (
                "new",
                vec![LocId::Primary, LocId::Backup, LocId::Ccs, LocId::Dotfiles]
            )
        );
    }

    #[test]
    fn same_change_on_two_sides_converges_silently() {
        let b = base("h1", None, &all_seen("h1"));
        let o = obs(&[
            (LocId::Local, copy("h2", None)),
            (LocId::Primary, copy("h2", None)),
            (LocId::Backup, copy("h1", None)),
        ]);
        let p = run(Some(&b), &o, None);
        match p.action {
            Action::Sync {
                winner,
                writes,
                conflict,
                keep,
                ..
            } => {
                assert_eq!(winner, "h2");
                assert_eq!(writes, vec![LocId::Backup]);
                assert!(!conflict);
                assert!(keep.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conflict_goes_to_the_freshest_and_keeps_the_loser() {
        let b = base("h1", Some("2026-01-01T00:00:00Z"), &all_seen("h1"));
        let o = obs(&[
            (LocId::Local, copy("mine", Some("2026-01-02T00:00:00Z"))),
            (LocId::Primary, copy("theirs", Some("2026-01-03T00:00:00Z"))),
        ]);
        let p = run(Some(&b), &o, None);
        match p.action {
            Action::Sync {
                winner,
                keep,
                conflict,
                source,
                ..
            } => {
                assert_eq!(winner, "theirs");
                assert_eq!(source, LocId::Primary);
                assert!(conflict);
                assert_eq!(keep, vec![(LocId::Local, "mine".to_string())]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn freshness_order_refresh_then_expiry_then_mtime_then_hash() {
        let mk = |h: &str, r: Option<&str>, e: Option<&str>, m: Option<&str>| Copy {
            hash: h.into(),
            meta: Meta {
                valid: true,
                last_refresh: r.map(ts),
                expiry: e.map(ts),
                mtime: m.map(ts),
            },
        };
        let t1 = Some("2026-01-01T00:00:00Z");
        let t2 = Some("2026-01-02T00:00:00Z");
        assert_eq!(
            freshness(&mk("a", t2, None, None), &mk("b", t1, t2, t2)),
            Ordering::Greater
        );
        assert_eq!(
            freshness(&mk("a", t1, t2, None), &mk("b", t1, t1, t2)),
            Ordering::Greater
        );
        assert_eq!(
            freshness(&mk("a", t1, t1, t2), &mk("b", t1, t1, t1)),
            Ordering::Greater
        );
        assert_eq!(
            freshness(&mk("b", t1, t1, t1), &mk("a", t1, t1, t1)),
            Ordering::Greater
        );
        let bad = Copy {
            hash: "z".into(),
            meta: Meta {
                valid: false,
                last_refresh: Some(ts("2030-01-01T00:00:00Z")),
                ..Meta::default()
            },
        };
        assert_eq!(freshness(&bad, &mk("a", None, None, None)), Ordering::Less);
    }

    #[test]
    fn invalid_json_never_wins_and_is_repaired_and_kept() {
        let b = base("good", None, &all_seen("good"));
        let o = obs(&[
            (LocId::Local, invalid("trunc")),
            (LocId::Primary, copy("good", None)),
        ]);
        let p = run(Some(&b), &o, None);
        match p.action {
            Action::Sync {
                winner,
                writes,
                keep,
                ..
            } => {
                assert_eq!(winner, "good");
                assert_eq!(writes, vec![LocId::Local]);
                assert_eq!(keep, vec![(LocId::Local, "trunc".to_string())]);
            }
            other => panic!("{other:?}"),
        }
        assert!(!p.notes.is_empty());
        // Only an invalid copy anywhere: nothing moves.
        let o = obs(&[
            (LocId::Local, invalid("trunc")),
            (LocId::Primary, Obs::Absent),
        ]);
        assert_eq!(run(None, &o, None).action, Action::None);
    }

    #[test]
    fn absence_never_deletes_it_restores() {
        let b = base("h1", None, &all_seen("h1"));
        let o = obs(&[
            (LocId::Local, Obs::Absent),
            (LocId::Primary, Obs::Absent),
            (LocId::Backup, copy("h1", None)),
            (LocId::Ccs, Obs::Unknown),
        ]);
        let p = run(Some(&b), &o, None);
        assert_eq!(winner(&p), ("h1", vec![LocId::Local, LocId::Primary]));
    }

    #[test]
    fn no_base_is_a_union_with_the_freshest_winning() {
        let o = obs(&[
            (LocId::Local, copy("l", Some("2026-01-01T00:00:00Z"))),
            (LocId::Primary, copy("p", Some("2026-01-05T00:00:00Z"))),
            (LocId::Backup, Obs::Absent),
        ]);
        let p = run(None, &o, None);
        assert_eq!(winner(&p), ("p", vec![LocId::Local, LocId::Backup]));
    }

    #[test]
    fn stale_copy_of_unknown_provenance_does_not_beat_base() {
        let b = base(
            "cur",
            Some("2026-01-05T00:00:00Z"),
            &[(LocId::Local, "cur")],
        );
        let o = obs(&[
            (LocId::Local, copy("cur", Some("2026-01-05T00:00:00Z"))),
            (LocId::Ccs, copy("old", Some("2026-01-01T00:00:00Z"))),
        ]);
        let p = run(Some(&b), &o, None);
        assert_eq!(winner(&p), ("cur", vec![LocId::Ccs]));
    }

    #[test]
    fn location_that_missed_an_update_is_brought_forward() {
        // Primary was unreachable when base moved to h2; it still holds h1 (its seen).
        let mut b = base("h2", None, &all_seen("h2"));
        b.seen.insert(LocId::Primary, "h1".into());
        let o = obs(&[
            (LocId::Local, copy("h2", None)),
            (LocId::Primary, copy("h1", None)),
        ]);
        assert_eq!(
            winner(&run(Some(&b), &o, None)),
            ("h2", vec![LocId::Primary])
        );
    }

    #[test]
    fn dotfiles_is_a_sink_unless_bootstrapping() {
        let o = obs(&[
            (LocId::Local, Obs::Absent),
            (LocId::Primary, Obs::Absent),
            (LocId::Dotfiles, copy("d", None)),
        ]);
        assert_eq!(run(None, &o, None).action, Action::None);
        let p = plan_name(
            &NameInput {
                name: "a.json",
                base: None,
                obs: &o,
                tomb: None,
            },
            true,
        );
        assert_eq!(winner(&p), ("d", vec![LocId::Local, LocId::Primary]));
        let counts: BTreeMap<LocId, Option<usize>> = [
            (LocId::Local, Some(0)),
            (LocId::Primary, None),
            (LocId::Dotfiles, Some(3)),
        ]
        .into_iter()
        .collect();
        assert!(is_bootstrap(&counts));
    }

    #[test]
    fn tombstone_deletes_everywhere_but_backup() {
        let t = Tombstone {
            name: "a.json".into(),
            deleted_at: ts("2026-01-10T00:00:00Z"),
            hash: "h1".into(),
            machine: "m".into(),
        };
        let o = obs(&[
            (LocId::Local, copy("h1", Some("2026-01-01T00:00:00Z"))),
            (LocId::Primary, copy("h1", Some("2026-01-01T00:00:00Z"))),
            (LocId::Backup, copy("h1", Some("2026-01-01T00:00:00Z"))),
            (LocId::Ccs, copy("h0", Some("2025-12-01T00:00:00Z"))),
            (LocId::Dotfiles, copy("h1", Some("2026-01-01T00:00:00Z"))),
        ]);
        let b = base("h1", None, &all_seen("h1"));
        let p = run(Some(&b), &o, Some(&t));
        assert_eq!(
            p.action,
            Action::Delete {
                from: vec![LocId::Local, LocId::Primary, LocId::Ccs, LocId::Dotfiles],
                keep: vec![(LocId::Ccs, "h0".into())],
            }
        );
    }

    #[test]
    fn old_backup_copy_never_resurrects_but_a_new_login_does() {
        let t = Tombstone {
            name: "a.json".into(),
            deleted_at: ts("2026-01-10T00:00:00Z"),
            hash: "h1".into(),
            machine: "m".into(),
        };
        let o = obs(&[
            (LocId::Local, Obs::Absent),
            (LocId::Backup, copy("h0", Some("2026-01-01T00:00:00Z"))),
        ]);
        assert_eq!(run(None, &o, Some(&t)).action, Action::None);
        let o = obs(&[
            (LocId::Local, copy("new", Some("2026-01-11T00:00:00Z"))),
            (LocId::Primary, Obs::Absent),
            (LocId::Backup, copy("h1", Some("2026-01-01T00:00:00Z"))),
        ]);
        let p = run(None, &o, Some(&t));
        assert!(p.drop_tombstone);
        assert_eq!(winner(&p), ("new", vec![LocId::Primary, LocId::Backup]));
    }

    #[test]
    fn guards_stop_mass_delete_and_empty_remote_listing() {
        let del = |n: &str| NamePlan {
            name: n.into(),
            action: Action::Delete {
                from: vec![LocId::Local],
                keep: vec![],
            },
            drop_tombstone: false,
            notes: vec![],
        };
        let keep = |n: &str| NamePlan {
            name: n.into(),
            action: Action::None,
            drop_tombstone: false,
            notes: vec![],
        };
        let base_map: BTreeMap<String, BaseEntry> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| (n.to_string(), base("h", None, &all_seen("h"))))
            .collect();
        let counts: BTreeMap<LocId, Option<usize>> =
            [(LocId::Primary, Some(4))].into_iter().collect();
        let plans = vec![del("a"), del("b"), del("c"), keep("d")];
        assert!(guard(&plans, &base_map, &counts, 0.5).is_some());
        let plans = vec![del("a"), keep("b"), keep("c"), keep("d")];
        assert!(guard(&plans, &base_map, &counts, 0.5).is_none());
        let counts: BTreeMap<LocId, Option<usize>> =
            [(LocId::Primary, Some(0))].into_iter().collect();
        assert!(guard(&plans, &base_map, &counts, 0.5).is_some());
    }

    #[test]
    fn meta_reads_fields() {
        let m = Meta::of(
            br#"{"type":"claude","last_refresh":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z"}"#,
            None,
        );
        assert!(m.valid);
        assert_eq!(m.expiry, Some(ts("2026-01-02T00:00:00Z")));
        assert!(!Meta::of(b"{\"type\":\"cla", None).valid);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod prop_tests {
    //! The planner driven by a model of the engine (observe → plan → apply → move the base)
    //! through random histories: refreshes on several machines, rollbacks, corrupt files,
    //! removals and new logins, locations that drop out for a run. Afterwards, with every
    //! location back: nothing was lost, every location converges, tombstones hold.
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    /// Where the actors of the model write (another machine's refresh lands in Primary).
    const WRITABLE: [LocId; 3] = [LocId::Local, LocId::Ccs, LocId::Primary];
    /// Locations that can be unreachable for a run (the local folder always lists).
    const FLAKY: [LocId; 4] = [LocId::Primary, LocId::Backup, LocId::Ccs, LocId::Dotfiles];

    #[derive(Debug, Clone)]
    enum Ev {
        /// A token refresh or a new login written at a location: fresher than anything before.
        Refresh(LocId, usize),
        /// An older version of the name written back (a restore, a copied file).
        Rollback(LocId, usize, prop::sample::Index),
        /// A truncated or garbage file.
        Corrupt(LocId, usize),
        /// `cliproxy auth remove`.
        Remove(usize),
        /// One reconcile; these locations are unreachable during it.
        Run(Vec<LocId>),
    }

    fn event(names: usize) -> impl Strategy<Value = Ev> {
        let loc = prop::sample::select(WRITABLE.to_vec());
        let n = 0..names;
        prop_oneof![
            4 => (loc.clone(), n.clone()).prop_map(|(l, n)| Ev::Refresh(l, n)),
            1 => (loc, n.clone(), any::<prop::sample::Index>()).prop_map(|(l, n, i)| Ev::Rollback(l, n, i)),
            1 => (prop::sample::select(vec![LocId::Local, LocId::Ccs]), n.clone()).prop_map(|(l, n)| Ev::Corrupt(l, n)),
            1 => n.prop_map(Ev::Remove),
            4 => prop::sample::subsequence(FLAKY.to_vec(), 0..=2).prop_map(Ev::Run),
        ]
    }

    fn history() -> impl Strategy<Value = (Vec<String>, Vec<Ev>)> {
        prop::collection::btree_set(any::<String>(), 1..4).prop_flat_map(|names| {
            let names: Vec<String> = names.into_iter().map(|n| format!("{n}.json")).collect();
            let k = names.len();
            (Just(names), prop::collection::vec(event(k), 1..48))
        })
    }

    #[derive(Default)]
    struct World {
        clock: i64,
        /// Content identity → what the bytes say (validity, freshness).
        versions: BTreeMap<String, Meta>,
        /// Per location: name → (hash, mtime).
        locs: BTreeMap<LocId, BTreeMap<String, (String, i64)>>,
        base: BTreeMap<String, BaseEntry>,
        tombs: BTreeMap<String, Tombstone>,
        conflicts: BTreeSet<(String, String)>,
        ever_base: BTreeSet<(String, String)>,
        ever_tomb: BTreeSet<(String, String)>,
        /// Valid versions a run found in a writable location (so sync was responsible for them).
        observed: BTreeSet<(String, String)>,
        /// Versions a run dropped without keeping them.
        lost: Vec<(String, String)>,
    }

    fn ts(t: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + t).unwrap()
    }

    impl World {
        fn tick(&mut self) -> i64 {
            self.clock += 1;
            self.clock
        }

        fn new_version(&mut self, valid: bool) -> String {
            let t = self.tick();
            let hash = format!("v{t}");
            let meta = if valid {
                Meta {
                    valid: true,
                    last_refresh: Some(ts(t)),
                    expiry: Some(ts(t + 3600)),
                    mtime: None,
                }
            } else {
                Meta::default()
            };
            self.versions.insert(hash.clone(), meta);
            hash
        }

        fn put(&mut self, l: LocId, name: &str, hash: String) {
            let t = self.tick();
            self.locs
                .entry(l)
                .or_default()
                .insert(name.to_string(), (hash, t));
        }

        fn holds(&self, l: LocId, name: &str) -> Option<&String> {
            self.locs.get(&l).and_then(|m| m.get(name)).map(|(h, _)| h)
        }

        fn obs(&self, name: &str, down: &[LocId]) -> BTreeMap<LocId, Obs> {
            LocId::ALL
                .iter()
                .map(|l| {
                    let o = if down.contains(l) {
                        Obs::Unknown
                    } else {
                        match self.locs.get(l).and_then(|m| m.get(name)) {
                            Some((h, mtime)) => Obs::Present(Copy {
                                hash: h.clone(),
                                meta: Meta {
                                    mtime: Some(ts(*mtime)),
                                    ..self.versions[h].clone()
                                },
                            }),
                            None => Obs::Absent,
                        }
                    };
                    (*l, o)
                })
                .collect()
        }

        fn names(&self) -> BTreeSet<String> {
            let mut n: BTreeSet<String> = self.base.keys().cloned().collect();
            for m in self.locs.values() {
                n.extend(m.keys().cloned());
            }
            n.extend(self.tombs.keys().cloned());
            n
        }

        fn bootstrap(&self, down: &[LocId]) -> bool {
            let counts: BTreeMap<LocId, Option<usize>> = LocId::ALL
                .iter()
                .map(|l| {
                    let c = (!down.contains(l)).then(|| self.locs.get(l).map_or(0, BTreeMap::len));
                    (*l, c)
                })
                .collect();
            is_bootstrap(&counts)
        }

        /// One reconcile, applied the way the engine applies it.
        fn run(&mut self, down: &[LocId]) -> Vec<NamePlan> {
            let bootstrap = self.bootstrap(down);
            let all_reachable = down.is_empty();
            // Valid versions in source locations before the run (dotfiles is a sink).
            let before: BTreeSet<(String, String)> = self
                .locs
                .iter()
                .filter(|(l, _)| l.is_source(bootstrap))
                .flat_map(|(_, m)| m.iter())
                .filter(|(_, (h, _))| self.versions[h].valid)
                .map(|(n, (h, _))| (n.clone(), h.clone()))
                .collect();
            let mut plans = Vec::new();
            for name in self.names() {
                let obs = self.obs(&name, down);
                for (l, c) in present(&obs) {
                    if WRITABLE.contains(&l) && c.meta.valid {
                        self.observed.insert((name.clone(), c.hash.clone()));
                    }
                }
                let p = plan_name(
                    &NameInput {
                        name: &name,
                        base: self.base.get(&name),
                        obs: &obs,
                        tomb: self.tombs.get(&name),
                    },
                    bootstrap,
                );
                if p.drop_tombstone {
                    self.tombs.remove(&name);
                }
                match &p.action {
                    Action::None => {}
                    Action::Delete { from, keep } => {
                        assert!(
                            !from.contains(&LocId::Backup),
                            "the backup is never deleted from"
                        );
                        for (_, h) in keep {
                            self.conflicts.insert((name.clone(), h.clone()));
                        }
                        for l in from {
                            self.locs.get_mut(l).map(|m| m.remove(&name));
                        }
                        self.base.remove(&name);
                    }
                    Action::Sync {
                        winner,
                        meta,
                        writes,
                        keep,
                        ..
                    } => {
                        for (_, h) in keep {
                            self.conflicts.insert((name.clone(), h.clone()));
                        }
                        let before = self.base.get(&name).cloned();
                        let mut entry = before.clone().unwrap_or_default();
                        entry.hash = winner.clone();
                        entry.meta = Meta {
                            mtime: None,
                            ..meta.clone()
                        };
                        for l in LocId::ALL {
                            if matches!(obs.get(&l), Some(Obs::Present(c)) if c.hash == *winner) {
                                entry.seen.insert(l, winner.clone());
                            }
                        }
                        for l in writes {
                            assert!(!down.contains(l), "never writes where it could not look");
                            self.put(*l, &name, winner.clone());
                            entry.seen.insert(*l, winner.clone());
                        }
                        let moves = if writes.is_empty() && !p.drop_tombstone {
                            before.as_ref() != Some(&entry) && all_reachable
                        } else {
                            all_reachable
                        };
                        if moves {
                            self.ever_base.insert((name.clone(), winner.clone()));
                            self.base.insert(name.clone(), entry);
                        }
                    }
                }
                plans.push(p);
            }
            self.tick();
            // Nothing lost by this run: each of those versions is still somewhere, kept as a
            // conflict copy, was synced everywhere (the base) before being replaced, or removed.
            for (name, h) in before {
                let key = (name.clone(), h.clone());
                let somewhere = LocId::ALL.iter().any(|l| self.holds(*l, &name) == Some(&h));
                if !(somewhere
                    || self.conflicts.contains(&key)
                    || self.ever_base.contains(&key)
                    || self.ever_tomb.contains(&key))
                {
                    self.lost.push(key);
                }
            }
            plans
        }

        fn remove(&mut self, name: &str) {
            // The engine brings the base up to date first.
            self.run(&[]);
            let hash = match (self.holds(LocId::Local, name), self.base.get(name)) {
                (Some(h), _) => h.clone(),
                (None, Some(b)) => b.hash.clone(),
                (None, None) => return, // "no account file named ..."
            };
            let t = self.tick();
            self.ever_tomb.insert((name.to_string(), hash.clone()));
            self.tombs.insert(
                name.to_string(),
                Tombstone {
                    name: name.to_string(),
                    deleted_at: ts(t),
                    hash,
                    machine: "m".into(),
                },
            );
            for l in LocId::ALL {
                if l.deletable() {
                    self.locs.get_mut(&l).map(|m| m.remove(name));
                }
            }
            self.base.remove(name);
        }
    }

    proptest! {
        // PROPTEST_CASES raises the count (long runs); 1024 is the floor.
        #![proptest_config(ProptestConfig::with_cases(1024.max(ProptestConfig::default().cases)))]

        #[test]
        fn histories_converge_lose_nothing_and_respect_tombstones((names, events) in history()) {
            let mut w = World::default();
            let mut rolled_back: BTreeSet<String> = BTreeSet::new();
            for ev in &events {
                match ev {
                    Ev::Refresh(l, n) => {
                        let h = w.new_version(true);
                        w.put(*l, &names[*n], h);
                    }
                    Ev::Rollback(l, n, pick) => {
                        let mine: Vec<String> = w
                            .observed
                            .iter()
                            .filter(|(nm, _)| *nm == names[*n])
                            .map(|(_, h)| h.clone())
                            .collect();
                        if !mine.is_empty() {
                            rolled_back.insert(names[*n].clone());
                            w.put(*l, &names[*n], mine[pick.index(mine.len())].clone());
                        }
                    }
                    Ev::Corrupt(l, n) => {
                        let h = w.new_version(false);
                        w.put(*l, &names[*n], h);
                    }
                    Ev::Remove(n) => {
                        w.remove(&names[*n]);
                    }
                    Ev::Run(down) => {
                        w.run(down);
                    }
                }
            }
            // The freshest valid version each name has in a source location now (the dotfiles
            // copy is a sink): without rollbacks, that is the one that must win.
            let bootstrap = w.bootstrap(&[]);
            let mut freshest: BTreeMap<String, (jiff::Timestamp, String)> = BTreeMap::new();
            for (l, m) in &w.locs {
                for (name, (h, _)) in m {
                    let meta = &w.versions[h];
                    if l.is_source(bootstrap) && meta.valid {
                        let lr = meta.last_refresh.unwrap();
                        if freshest.get(name).is_none_or(|(t, _)| lr > *t) {
                            freshest.insert(name.clone(), (lr, h.clone()));
                        }
                    }
                }
            }
            // Everything reachable again: a few runs settle it, then nothing moves.
            for _ in 0..3 {
                w.run(&[]);
            }
            let last = w.run(&[]);
            for p in &last {
                let idle = match &p.action {
                    Action::None => true,
                    Action::Sync { writes, keep, .. } => writes.is_empty() && keep.is_empty(),
                    Action::Delete { from, .. } => from.is_empty(),
                };
                prop_assert!(idle && !p.drop_tombstone, "not settled: {p:?}");
            }

            for name in w.names() {
                let held: BTreeMap<LocId, String> = LocId::ALL
                    .iter()
                    .filter_map(|l| w.holds(*l, &name).map(|h| (*l, h.clone())))
                    .collect();
                if let Some(t) = w.tombs.get(&name) {
                    // Tombstones respected: only the backup keeps it.
                    prop_assert!(
                        held.keys().all(|l| !l.deletable()),
                        "{name:?} removed (tomb {t:?}) but still held: {held:?}"
                    );
                    continue;
                }
                let any_valid = held.iter().any(|(l, h)| *l != LocId::Dotfiles && w.versions[h].valid);
                if !any_valid {
                    continue; // nothing valid anywhere: left as it is
                }
                // Converged: every location holds the same valid version, and the base agrees.
                let hashes: BTreeSet<&String> = held.values().collect();
                prop_assert_eq!(held.len(), LocId::ALL.len(), "{:?} missing somewhere: {:?}", name, held);
                prop_assert_eq!(hashes.len(), 1, "{:?} differs: {:?}", name, held);
                let winner = held[&LocId::Local].clone();
                prop_assert!(w.versions[&winner].valid);
                prop_assert_eq!(&w.base[&name].hash, &winner);
                // Without rollbacks the freshest refresh token wins.
                if !rolled_back.contains(&name)
                    && let Some((_, best)) = freshest.get(&name)
                {
                    prop_assert_eq!(&winner, best, "{:?}: an older token won", name);
                }
            }
            prop_assert!(w.lost.is_empty(), "lost versions: {:?}", w.lost);
        }
    }

    #[test]
    fn removing_the_last_account_is_not_an_empty_bucket() {
        let base: BTreeMap<String, BaseEntry> = [(
            "a.json".to_string(),
            BaseEntry {
                hash: "h".into(),
                meta: Meta::default(),
                seen: LocId::ALL.iter().map(|l| (*l, "h".to_string())).collect(),
            },
        )]
        .into_iter()
        .collect();
        let counts: BTreeMap<LocId, Option<usize>> =
            [(LocId::Primary, Some(0)), (LocId::Local, Some(1))]
                .into_iter()
                .collect();
        let plan = |action| NamePlan {
            name: "a.json".into(),
            action,
            drop_tombstone: false,
            notes: vec![],
        };
        let removal = plan(Action::Delete {
            from: vec![LocId::Local],
            keep: vec![],
        });
        assert_eq!(guard(&[removal], &base, &counts, 0.5), None);
        // Without a tombstone the same empty listing still stops the run.
        assert!(guard(&[plan(Action::None)], &base, &counts, 0.5).is_some());
    }
}
