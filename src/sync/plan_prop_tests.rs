#![allow(clippy::unwrap_used)]

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
