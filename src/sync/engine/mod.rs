//! The executor: observe every location, plan (pure), act, persist the base state.
//!
//! `open` wires each configured location to its store, `observe` reads them all,
//! `execute` carries out one name's plan, `template` keeps the config template, and
//! `manual` holds the operator's `auth remove` / `auth restore`.

mod execute;
mod manual;
mod observe;
mod open;
mod template;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::location::{CounterSnapshot, Counters, Store};
use super::plan::{self, Action, LocId, NameInput, NamePlan};
use super::state::State;
use crate::config::sync::Resolved;

pub use observe::Observation;

pub const TOMBSTONE_DIR: &str = "tombstones/";
pub const TEMPLATE_KEY: &str = "config.template.yaml";

/// What one reconcile did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub actions: Vec<String>,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
    pub guard: Option<String>,
    pub counters: CounterSnapshot,
    pub elapsed: Duration,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.guard.is_none()
    }
}

/// The outcome of the newest reconcile, kept for status pages.
#[derive(Debug, Clone)]
pub struct LastRun {
    pub finished: jiff::Timestamp,
    pub report: Report,
}

pub struct Engine {
    pub res: Resolved,
    pub stores: BTreeMap<LocId, Store>,
    /// The bucket's `config/` (or `<state-dir>/config` without a bucket): tombstones, template.
    pub config_store: Store,
    counters: Arc<Counters>,
    run_lock: tokio::sync::Mutex<()>,
    /// Last known hash per (location, name) in the watched folders: self-write suppression.
    known: Mutex<HashMap<(LocId, String), String>>,
    reachable: Mutex<BTreeMap<String, bool>>,
    last_saved: Mutex<Option<Instant>>,
    last_run: Mutex<Option<LastRun>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stores", &self.stores)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// The newest reconcile's outcome (`None` before the first one ends).
    pub fn last_run(&self) -> Option<LastRun> {
        self.last_run.lock().clone()
    }

    /// Whether `hash` (None = file absent) is what we last saw or wrote at `loc/name`:
    /// such an event is our own write (or no change) and must not trigger a run.
    pub fn is_known(&self, loc: LocId, name: &str, hash: Option<&str>) -> bool {
        let k = self.known.lock();
        k.get(&(loc, name.to_string())).map(String::as_str) == hash
    }

    pub fn watched_dirs(&self) -> Vec<(LocId, PathBuf)> {
        let mut v = vec![(LocId::Local, self.res.local.clone())];
        if let Some(c) = &self.res.ccs {
            v.push((LocId::Ccs, c.clone()));
        }
        v
    }

    /// Plans every name (pure) against `state`.
    pub fn plan(&self, state: &State, obs: &Observation) -> (Vec<NamePlan>, bool) {
        let bootstrap = plan::is_bootstrap(&obs.counts());
        let plans = obs
            .names(state)
            .iter()
            .map(|name| {
                let o = obs.obs_for(name);
                plan::plan_name(
                    &NameInput {
                        name,
                        base: state.files.get(name),
                        obs: &o,
                        tomb: obs.tombstones.get(name),
                    },
                    bootstrap,
                )
            })
            .collect();
        (plans, bootstrap)
    }

    /// One full reconcile, re-run (with jitter) when a conditional write lost a race.
    pub async fn reconcile(&self, force: bool) -> Report {
        let _guard = self.run_lock.lock().await;
        let start = Instant::now();
        let before = self.counters.snapshot();
        Counters::bump(&self.counters.runs);
        let mut report = Report::default();
        for attempt in 0..5 {
            let retry = self.run_once(force, &mut report).await;
            if !retry {
                break;
            }
            if attempt == 4 {
                report.errors.push(
                    "gave up after repeated concurrent changes; will retry on the next trigger"
                        .into(),
                );
                break;
            }
            let ms = rand::random_range(20..150u64);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        report.counters = self.counters.snapshot().since(&before);
        report.elapsed = start.elapsed();
        *self.last_run.lock() = Some(LastRun {
            finished: jiff::Timestamp::now(),
            report: report.clone(),
        });
        report
    }

    /// Returns whether the run must be repeated (a precondition failed).
    async fn run_once(&self, force: bool, report: &mut Report) -> bool {
        let state_path = self.res.state_file();
        let mut state = State::load(&state_path);
        let original = state.clone();
        if let Some(Store::Dir(d)) = self.stores.get(&LocId::Dotfiles) {
            match d.migrate_plaintext().await {
                Ok(names) => report.actions.extend(
                    names
                        .into_iter()
                        .map(|n| format!("encrypt dotfiles {n} (was plaintext)")),
                ),
                Err(e) => report.errors.push(format!("dotfiles: encrypting: {e}")),
            }
        }
        let mut obs = self.observe(&mut state).await;
        for (l, r) in &obs.listings {
            if let Err(e) = r {
                let msg = format!("{l} unreachable: {e}");
                if !report.errors.contains(&msg) {
                    report.errors.push(msg);
                }
            }
        }
        if let Err(e) = &obs.config {
            let msg = format!("config unreachable: {e}");
            if !report.errors.contains(&msg) {
                report.errors.push(msg);
            }
        }
        let (plans, bootstrap) = self.plan(&state, &obs);
        if let Some(g) = plan::guard(
            &plans,
            &state.files,
            &obs.counts(),
            self.res.max_delete_fraction,
        ) {
            if !force {
                tracing::error!(reason = %g, "sync guard stopped the run");
                report.guard = Some(g);
                self.persist(&state, &original, &state_path, report);
                return false;
            }
            report
                .notes
                .push(format!("guard overridden with --force: {g}"));
        }
        if bootstrap
            && plans.iter().any(|p| {
                matches!(
                    p.action,
                    Action::Sync {
                        source: LocId::Dotfiles,
                        ..
                    }
                )
            })
        {
            report.notes.push(
                "bootstrapping from the dotfiles copy (every other location is empty)".into(),
            );
        }
        let mut retry = false;
        for p in &plans {
            for n in &p.notes {
                report.notes.push(format!("{}: {n}", p.name));
            }
            retry |= self.execute(p, &mut obs, &mut state, report).await;
        }
        self.sync_template(&obs, report).await;
        self.persist(&state, &original, &state_path, report);
        retry
    }

    fn persist(
        &self,
        state: &State,
        original: &State,
        path: &std::path::Path,
        report: &mut Report,
    ) {
        let mut last = self.last_saved.lock();
        let stale = last.is_none_or(|t| t.elapsed() > Duration::from_secs(300));
        if !state.same_data(original) || stale || !path.exists() {
            match state.save(path) {
                Ok(()) => *last = Some(Instant::now()),
                Err(e) => report
                    .errors
                    .push(format!("saving sync state {}: {e}", path.display())),
            }
        }
    }
}
