//! Reading every location: listings, the identity of each copy (fetched only when the
//! cached ETag cannot vouch for it), tombstones, and what the watched folders hold.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::{Engine, TOMBSTONE_DIR};
use crate::sync::location::Entry;
use crate::sync::plan::{Copy, LocId, Meta, Obs, Tombstone};
use crate::sync::state::{CachedObj, CachedTomb, State};

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

impl Engine {
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
                if !crate::sync::location::valid_name(name) {
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

    pub(super) async fn content(
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
}
