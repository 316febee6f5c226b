//! The executor: observe every location, plan (pure), act, persist the base state.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;

use super::location::{Cond, CounterSnapshot, Counters, DirStore, Entry, PutOutcome, Store};
use super::plan::{self, Action, Copy, LocId, Meta, NameInput, NamePlan, Obs, Tombstone};
use super::s3::S3Prefix;
use super::state::{CachedObj, CachedTomb, State};
use crate::config::sync::{BucketTarget, Resolved};
use crate::store::s3::{S3Bucket, S3Settings, Timeouts};

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

/// Everything seen in one pass over the locations.
pub struct Observation {
    /// `None`: not configured; `Some(Err)`: unreachable.
    pub listings: BTreeMap<LocId, Result<BTreeMap<String, Entry>, String>>,
    pub copies: BTreeMap<LocId, BTreeMap<String, Copy>>,
    pub config: Result<BTreeMap<String, Entry>, String>,
    pub tombstones: BTreeMap<String, Tombstone>,
    pub content: HashMap<String, Bytes>,
}

impl Observation {
    pub fn counts(&self) -> BTreeMap<LocId, Option<usize>> {
        self.listings
            .iter()
            .map(|(l, r)| (*l, r.as_ref().ok().map(BTreeMap::len)))
            .collect()
    }

    pub fn obs_for(&self, name: &str) -> BTreeMap<LocId, Obs> {
        LocId::ALL
            .iter()
            .map(|l| {
                let o = match self.listings.get(l) {
                    Some(Ok(_)) => match self.copies.get(l).and_then(|m| m.get(name)) {
                        Some(c) => Obs::Present(c.clone()),
                        None => Obs::Absent,
                    },
                    _ => Obs::Unknown,
                };
                (*l, o)
            })
            .collect()
    }

    pub fn names(&self, state: &State) -> Vec<String> {
        let mut names: std::collections::BTreeSet<String> = state.files.keys().cloned().collect();
        for m in self.copies.values() {
            names.extend(m.keys().cloned());
        }
        names.extend(self.tombstones.keys().cloned());
        names.into_iter().collect()
    }
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

fn short_hash(h: &str) -> &str {
    &h[..8.min(h.len())]
}

impl Engine {
    pub fn new(res: Resolved) -> anyhow::Result<Engine> {
        let counters = Arc::new(Counters::default());
        let mut stores = BTreeMap::new();
        stores.insert(
            LocId::Local,
            Store::Dir(DirStore::new(res.local.clone(), counters.clone(), true)),
        );
        if let Some(d) = &res.ccs {
            stores.insert(
                LocId::Ccs,
                Store::Dir(DirStore::new(d.clone(), counters.clone(), false)),
            );
        }
        if let Some(d) = &res.dotfiles {
            stores.insert(
                LocId::Dotfiles,
                Store::Dir(
                    DirStore::new(d.clone(), counters.clone(), false)
                        .with_sealing(res.dotfiles_sealing.clone()),
                ),
            );
        }
        let config_store = match &res.bucket {
            None => Store::Dir(DirStore::new(
                res.state_dir.join("config"),
                counters.clone(),
                false,
            )),
            Some(b) => {
                let mk: Box<dyn Fn(&str) -> Store> = match &b.target {
                    BucketTarget::Dir(root) => {
                        let (root, counters) = (root.clone(), counters.clone());
                        Box::new(move |prefix| {
                            Store::Dir(DirStore::new(
                                root.join(prefix.trim_end_matches('/')),
                                counters.clone(),
                                false,
                            ))
                        })
                    }
                    BucketTarget::S3 {
                        endpoint,
                        bucket,
                        region,
                        access_key,
                        secret_key,
                    } => {
                        // One client (one connection pool) for every prefix of the bucket.
                        let bucket = S3Bucket::new(
                            &S3Settings {
                                endpoint: endpoint.clone(),
                                region: region.clone(),
                                bucket: bucket.clone(),
                                access_key: access_key.expose().to_string(),
                                secret_key: secret_key.expose().to_string(),
                            },
                            Timeouts::BACKGROUND,
                        );
                        let counters = counters.clone();
                        Box::new(move |prefix| {
                            Store::S3(S3Prefix {
                                bucket: bucket.clone(),
                                prefix: prefix.to_string(),
                                counters: counters.clone(),
                            })
                        })
                    }
                };
                stores.insert(LocId::Primary, mk(&b.primary_prefix));
                stores.insert(LocId::Backup, mk(&b.backup_prefix));
                mk(&b.config_prefix)
            }
        };
        Ok(Engine {
            res,
            stores,
            config_store,
            counters,
            run_lock: tokio::sync::Mutex::new(()),
            known: Mutex::new(HashMap::new()),
            reachable: Mutex::new(BTreeMap::new()),
            last_saved: Mutex::new(None),
            last_run: Mutex::new(None),
        })
    }

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

    fn set_reachable(&self, label: &str, ok: bool, err: Option<&str>) {
        let mut r = self.reachable.lock();
        let prev = r.insert(label.to_string(), ok);
        match (prev, ok) {
            (Some(true) | None, false) => {
                tracing::warn!(
                    location = label,
                    error = err.unwrap_or(""),
                    "sync location unreachable; other locations keep syncing"
                )
            }
            (Some(false), true) => {
                tracing::info!(location = label, "sync location reachable again")
            }
            _ => {}
        }
    }

    /// Lists every location (concurrently) and identifies each copy; S3 objects are
    /// fetched only when their ETag is not the one cached in the state.
    pub async fn observe(&self, state: &mut State) -> Observation {
        let mut futs = Vec::new();
        for (l, s) in &self.stores {
            let s = s.clone();
            let l = *l;
            futs.push(async move { (l, s.list().await) });
        }
        let cfg = self.config_store.clone();
        let (lists, config) = tokio::join!(futures_util::future::join_all(futs), cfg.list_all());
        let now = jiff::Timestamp::now();
        let mut obs = Observation {
            listings: BTreeMap::new(),
            copies: BTreeMap::new(),
            config: config.map_err(|e| e.to_string()),
            tombstones: BTreeMap::new(),
            content: HashMap::new(),
        };
        for (l, r) in lists {
            let label = l.as_str();
            match &r {
                Ok(_) => {
                    self.set_reachable(label, true, None);
                    state.last_success.insert(label.to_string(), now);
                    state.last_error.remove(label);
                }
                Err(e) => {
                    self.set_reachable(label, false, Some(&e.to_string()));
                    state.last_error.insert(label.to_string(), e.to_string());
                }
            }
            obs.listings.insert(l, r.map_err(|e| e.to_string()));
        }
        match &obs.config {
            Ok(_) => {
                self.set_reachable("config", true, None);
                state.last_success.insert("config".into(), now);
                state.last_error.remove("config");
            }
            Err(e) => {
                self.set_reachable("config", false, Some(e));
                state.last_error.insert("config".into(), e.clone());
            }
        }
        // Identify copies.
        let mut fetches = Vec::new();
        for (l, r) in &obs.listings {
            let Ok(entries) = r else { continue };
            let cache = state.remote.get(l);
            let mut m = BTreeMap::new();
            for (name, e) in entries {
                if let Some(bytes) = &e.content {
                    let hash = crate::store::sha256_hex(bytes);
                    let meta = Meta::of(bytes, e.mtime);
                    obs.content.insert(hash.clone(), bytes.clone());
                    m.insert(name.clone(), Copy { hash, meta });
                } else if let Some(c) = cache.and_then(|c| c.get(name)).filter(|c| c.etag == e.tag)
                {
                    let mut meta = c.meta.clone();
                    meta.mtime = e.mtime;
                    m.insert(
                        name.clone(),
                        Copy {
                            hash: c.hash.clone(),
                            meta,
                        },
                    );
                } else if let Some(store) = self.stores.get(l) {
                    let store = store.clone();
                    let (l, name, mtime) = (*l, name.clone(), e.mtime);
                    fetches.push(async move { (l, name.clone(), mtime, store.get(&name).await) });
                }
            }
            obs.copies.insert(*l, m);
        }
        for (l, name, mtime, r) in futures_util::future::join_all(fetches).await {
            match r {
                Ok(Some((bytes, etag))) => {
                    let hash = crate::store::sha256_hex(&bytes);
                    let meta = Meta::of(&bytes, mtime);
                    state.remote.entry(l).or_default().insert(
                        name.clone(),
                        CachedObj {
                            etag,
                            hash: hash.clone(),
                            meta: Meta {
                                mtime: None,
                                ..meta.clone()
                            },
                        },
                    );
                    obs.content.insert(hash.clone(), bytes);
                    obs.copies
                        .entry(l)
                        .or_default()
                        .insert(name, Copy { hash, meta });
                }
                Ok(None) => {}
                Err(e) => {
                    // Treat the whole location as unknown this run: a partial view could mislead.
                    obs.listings.insert(l, Err(e.to_string()));
                    obs.copies.remove(&l);
                }
            }
        }
        // Drop cache entries for objects that are gone.
        for (l, r) in &obs.listings {
            if let (Ok(entries), Some(c)) = (r, state.remote.get_mut(l)) {
                c.retain(|n, _| entries.contains_key(n));
            }
        }
        // Tombstones.
        if let Ok(entries) = &obs.config {
            let mut fresh = BTreeMap::new();
            for (key, e) in entries {
                let Some(name) = key.strip_prefix(TOMBSTONE_DIR) else {
                    continue;
                };
                if !super::location::valid_name(name) {
                    continue;
                }
                if let Some(c) = state.tombstones.get(name).filter(|c| c.tag == e.tag) {
                    fresh.insert(name.to_string(), c.clone());
                    continue;
                }
                let bytes = match &e.content {
                    Some(b) => Some(b.clone()),
                    None => match self.config_store.get(key).await {
                        Ok(r) => r.map(|(b, _)| b),
                        Err(err) => {
                            tracing::warn!(error = %err, "could not read a tombstone");
                            None
                        }
                    },
                };
                if let Some(t) = bytes.and_then(|b| serde_json::from_slice::<Tombstone>(&b).ok()) {
                    fresh.insert(
                        name.to_string(),
                        CachedTomb {
                            tag: e.tag.clone(),
                            tomb: t,
                        },
                    );
                }
            }
            state.tombstones = fresh;
        }
        obs.tombstones = state
            .tombstones
            .iter()
            .map(|(n, c)| (n.clone(), c.tomb.clone()))
            .collect();
        // Remember what the watched folders hold.
        {
            let mut k = self.known.lock();
            for l in [LocId::Local, LocId::Ccs] {
                if let Some(m) = obs.copies.get(&l) {
                    k.retain(|(kl, n), _| *kl != l || m.contains_key(n));
                    for (n, c) in m {
                        k.insert((l, n.clone()), c.hash.clone());
                    }
                }
            }
        }
        obs
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

    async fn content(
        &self,
        obs: &mut Observation,
        hash: &str,
        from: LocId,
        name: &str,
    ) -> Option<Bytes> {
        if let Some(b) = obs.content.get(hash) {
            return Some(b.clone());
        }
        let store = self.stores.get(&from)?;
        match store.get(name).await {
            Ok(Some((b, _))) if crate::store::sha256_hex(&b) == hash => {
                obs.content.insert(hash.to_string(), b.clone());
                Some(b)
            }
            _ => None,
        }
    }

    fn save_conflict(&self, name: &str, hash: &str, bytes: &[u8]) -> std::io::Result<bool> {
        let stem = name.strip_suffix(".json").unwrap_or(name);
        let path = self
            .res
            .conflicts_dir()
            .join(format!("{stem}.{}.json", short_hash(hash)));
        if path.exists() {
            return Ok(false);
        }
        crate::store::write_atomic(&path, bytes)?;
        Counters::bump(&self.counters.conflicts);
        Ok(true)
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

    async fn execute(
        &self,
        p: &NamePlan,
        obs: &mut Observation,
        state: &mut State,
        report: &mut Report,
    ) -> bool {
        let name = p.name.as_str();
        match &p.action {
            Action::None => false,
            Action::Delete { from, keep } => {
                for (l, h) in keep {
                    if let Some(b) = self.content(obs, h, *l, name).await
                        && let Err(e) = self.save_conflict(name, h, &b)
                    {
                        report.errors.push(format!("{name}: keeping a copy: {e}"));
                        return false;
                    }
                }
                let mut all = true;
                for l in from {
                    let Some(store) = self.stores.get(l) else {
                        continue;
                    };
                    match store.delete(name).await {
                        Ok(()) => {
                            report
                                .actions
                                .push(format!("delete {l} {name} (removed account)"));
                            self.known.lock().remove(&(*l, name.to_string()));
                            if let Some(c) = state.remote.get_mut(l) {
                                c.remove(name);
                            }
                        }
                        Err(e) => {
                            all = false;
                            report.errors.push(format!("{name}: {e}"));
                        }
                    }
                }
                if all {
                    state.files.remove(name);
                }
                false
            }
            Action::Sync {
                winner,
                meta,
                source,
                writes,
                keep,
                conflict,
            } => {
                let base_before = state.files.get(name).cloned();
                let mut entry = base_before.clone().unwrap_or_default();
                entry.hash = winner.clone();
                entry.meta = Meta {
                    mtime: None,
                    ..meta.clone()
                };
                // Locations already holding the winner are in sync.
                for l in LocId::ALL {
                    if let Some(Obs::Present(c)) = obs.obs_for(name).get(&l)
                        && c.hash == *winner
                    {
                        entry.seen.insert(l, winner.clone());
                    }
                }
                if writes.is_empty() && !p.drop_tombstone {
                    // The base only moves once every configured location has been seen.
                    if base_before.as_ref() != Some(&entry)
                        && obs.listings.values().all(Result::is_ok)
                    {
                        state.files.insert(name.to_string(), entry);
                    }
                    return false;
                }
                let Some(bytes) = self.content(obs, winner, *source, name).await else {
                    // The source changed under us: observe again.
                    return true;
                };
                if *conflict {
                    report.actions.push(format!(
                        "conflict {name}: kept the freshest version {} (others saved under {})",
                        short_hash(winner),
                        self.res.conflicts_dir().display()
                    ));
                }
                for (l, h) in keep {
                    if let Some(b) = self.content(obs, h, *l, name).await {
                        match self.save_conflict(name, h, &b) {
                            Ok(true) => report.actions.push(format!(
                                "kept {l}'s version of {name} as conflicts/{}.{}.json",
                                name.strip_suffix(".json").unwrap_or(name),
                                short_hash(h)
                            )),
                            Ok(false) => {}
                            Err(e) => {
                                report.errors.push(format!("{name}: keeping a copy: {e}"));
                                return false;
                            }
                        }
                    }
                }
                if p.drop_tombstone {
                    match self
                        .config_store
                        .delete(&format!("{TOMBSTONE_DIR}{name}"))
                        .await
                    {
                        Ok(()) => {
                            state.tombstones.remove(name);
                            report
                                .actions
                                .push(format!("{name}: new login replaces the removal"));
                        }
                        Err(e) => {
                            report
                                .errors
                                .push(format!("{name}: dropping tombstone: {e}"));
                            return false;
                        }
                    }
                }
                let mut retry = false;
                let mut failed = false;
                let mut primary_ok = true;
                for l in writes {
                    if *l == LocId::Backup && !primary_ok {
                        continue;
                    }
                    let Some(store) = self.stores.get(l) else {
                        continue;
                    };
                    let current = obs
                        .listings
                        .get(l)
                        .and_then(|r| r.as_ref().ok())
                        .and_then(|m| m.get(name))
                        .map(|e| e.tag.clone());
                    let cond = match current {
                        Some(t) => Cond::IfMatch(t),
                        None => Cond::IfNoneMatch,
                    };
                    match store.put(name, bytes.clone(), cond).await {
                        Ok(PutOutcome::Written(tag)) => {
                            report.actions.push(format!(
                                "write {l} {name} ({} from {source})",
                                short_hash(winner)
                            ));
                            entry.seen.insert(*l, winner.clone());
                            if store.is_remote() {
                                state.remote.entry(*l).or_default().insert(
                                    name.to_string(),
                                    CachedObj {
                                        etag: tag,
                                        hash: winner.clone(),
                                        meta: entry.meta.clone(),
                                    },
                                );
                            }
                            if matches!(l, LocId::Local | LocId::Ccs) {
                                self.known
                                    .lock()
                                    .insert((*l, name.to_string()), winner.clone());
                            }
                        }
                        Ok(PutOutcome::PreconditionFailed) => {
                            report
                                .notes
                                .push(format!("{name}: {l} changed meanwhile; re-reading"));
                            if *l == LocId::Primary {
                                primary_ok = false;
                            }
                            failed = true;
                            retry = true;
                        }
                        Err(e) => {
                            if *l == LocId::Primary {
                                primary_ok = false;
                            }
                            failed = true;
                            report.errors.push(format!("{name}: {e}"));
                        }
                    }
                }
                // The base moves only when every reachable location took the winner: a change
                // that did not reach everywhere must still count as a change next time
                // (otherwise a concurrent remote write would beat a fresher local token).
                // Nor while a configured location is unreachable: it has not seen this
                // version, and a different write landing there meanwhile must meet it as a
                // conflict (freshest wins), not as the only change.
                let all_reachable = obs.listings.values().all(Result::is_ok);
                if !failed && all_reachable {
                    state.files.insert(name.to_string(), entry);
                }
                retry
            }
        }
    }

    /// Keeps the config template (never the rendered config) in the bucket's `config/`,
    /// and restores it locally when it is missing.
    async fn sync_template(&self, obs: &Observation, report: &mut Report) {
        let Some(path) = &self.res.template else {
            return;
        };
        let Ok(listing) = &obs.config else { return };
        let remote = listing.get(TEMPLATE_KEY);
        match std::fs::read(path) {
            Ok(bytes) => {
                let tag = self.config_store.tag_of(&bytes);
                if remote.is_some_and(|e| e.tag == tag) {
                    return;
                }
                match self
                    .config_store
                    .put_unconditional(TEMPLATE_KEY, Bytes::from(bytes))
                    .await
                {
                    Ok(_) => report.actions.push(format!("write config/{TEMPLATE_KEY}")),
                    Err(e) => report.errors.push(format!("template: {e}")),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && remote.is_some() => {
                match self.config_store.get(TEMPLATE_KEY).await {
                    Ok(Some((b, _))) => match crate::store::write_atomic(path, &b) {
                        Ok(()) => report
                            .actions
                            .push(format!("restored template {}", path.display())),
                        Err(e) => report
                            .errors
                            .push(format!("template {}: {e}", path.display())),
                    },
                    Ok(None) => {}
                    Err(e) => report.errors.push(format!("template: {e}")),
                }
            }
            Err(_) => {}
        }
    }

    /// `cliproxy auth remove NAME`: tombstone, then delete everywhere except the backup.
    pub async fn remove(&self, name: &str) -> anyhow::Result<Report> {
        anyhow::ensure!(
            super::location::valid_name(name),
            "invalid auth file name `{name}` (expected NAME.json, no path)"
        );
        // Bring the base up to date first so the tombstone names the current content.
        let mut report = self.reconcile(false).await;
        let _guard = self.run_lock.lock().await;
        let state_path = self.res.state_file();
        let mut state = State::load(&state_path);
        let original = state.clone();
        let local = std::fs::read(self.res.local.join(name)).ok();
        let hash = match (&local, state.files.get(name)) {
            (Some(b), _) => crate::store::sha256_hex(b),
            (None, Some(b)) => b.hash.clone(),
            (None, None) => anyhow::bail!("no account file named `{name}` here or in the bucket"),
        };
        let tomb = Tombstone {
            name: name.to_string(),
            deleted_at: jiff::Timestamp::now(),
            hash,
            machine: self.res.machine.clone(),
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&tomb)?);
        self.config_store
            .put_unconditional(&format!("{TOMBSTONE_DIR}{name}"), body)
            .await
            .map_err(|e| anyhow::anyhow!("writing the tombstone: {e}"))?;
        report
            .actions
            .push(format!("tombstone config/{TOMBSTONE_DIR}{name}"));
        for (l, store) in &self.stores {
            if !l.deletable() {
                continue;
            }
            match store.delete(name).await {
                Ok(()) => report.actions.push(format!("delete {l} {name}")),
                Err(e) => report.errors.push(format!("{name}: {e}")),
            }
            self.known.lock().remove(&(*l, name.to_string()));
            if let Some(c) = state.remote.get_mut(l) {
                c.remove(name);
            }
        }
        state.files.remove(name);
        self.persist(&state, &original, &state_path, &mut report);
        Ok(report)
    }

    /// Candidate bytes for `auth restore`.
    pub async fn restore_source(
        &self,
        name: &str,
        from: &str,
    ) -> anyhow::Result<Option<(Bytes, String)>> {
        match from {
            "backup" => match self.stores.get(&LocId::Backup) {
                Some(s) => Ok(s
                    .get(name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .map(|(b, _)| (b, "backup".to_string()))),
                None => Ok(None),
            },
            "dotfiles" => match self.stores.get(&LocId::Dotfiles) {
                Some(s) => Ok(s
                    .get(name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .map(|(b, _)| (b, "dotfiles".to_string()))),
                None => Ok(None),
            },
            _ => {
                let stem = name.strip_suffix(".json").unwrap_or(name);
                let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
                if let Ok(rd) = std::fs::read_dir(self.res.conflicts_dir()) {
                    for e in rd.flatten() {
                        let n = e.file_name().to_string_lossy().into_owned();
                        let Some(rest) = n.strip_prefix(stem).and_then(|r| r.strip_prefix('.'))
                        else {
                            continue;
                        };
                        if rest.len() != 13 || !rest.ends_with(".json") {
                            continue;
                        }
                        let t = e
                            .metadata()
                            .and_then(|m| m.modified())
                            .unwrap_or(std::time::UNIX_EPOCH);
                        if best.as_ref().is_none_or(|(bt, _)| t > *bt) {
                            best = Some((t, e.path()));
                        }
                    }
                }
                Ok(best.and_then(|(_, p)| {
                    let label = p.display().to_string();
                    std::fs::read(p).ok().map(|b| (Bytes::from(b), label))
                }))
            }
        }
    }

    /// `cliproxy auth restore NAME [--from ...]`: make that version the current one everywhere.
    pub async fn restore(&self, name: &str, from: Option<&str>) -> anyhow::Result<Report> {
        anyhow::ensure!(
            super::location::valid_name(name),
            "invalid auth file name `{name}` (expected NAME.json, no path)"
        );
        let order: Vec<&str> = match from {
            Some(f) => vec![f],
            None => vec!["backup", "dotfiles", "conflict"],
        };
        let mut found = None;
        for f in order {
            if let Some((b, label)) = self.restore_source(name, f).await?
                && Meta::of(&b, None).valid
            {
                found = Some((b, label));
                break;
            }
        }
        let Some((bytes, label)) = found else {
            anyhow::bail!("no valid copy of `{name}` found to restore");
        };
        // Drop a tombstone, then bring the base up to date so the restored copy is the one change.
        let _ = self
            .config_store
            .delete(&format!("{TOMBSTONE_DIR}{name}"))
            .await;
        let mut report = self.reconcile(false).await;
        {
            let _guard = self.run_lock.lock().await;
            let path = self.res.local.join(name);
            let bytes2 = bytes.clone();
            tokio::task::spawn_blocking(move || crate::store::write_atomic(&path, &bytes2))
                .await??;
            Counters::bump(&self.counters.file_write);
            report
                .actions
                .push(format!("restore local {name} from {label}"));
        }
        let second = self.reconcile(false).await;
        report.actions.extend(second.actions);
        report.errors.extend(second.errors);
        report.notes.extend(second.notes);
        report.guard = second.guard;
        Ok(report)
    }
}
