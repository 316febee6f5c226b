//! Carrying out one name's plan: deletions, conditional writes, and the losing
//! versions kept under `conflicts/`.

use super::{Engine, Observation, Report, TOMBSTONE_DIR};
use crate::sync::location::{Cond, Counters, PutOutcome};
use crate::sync::plan::{Action, LocId, Meta, NamePlan, Obs};
use crate::sync::state::{CachedObj, State};

fn short_hash(h: &str) -> &str {
    &h[..8.min(h.len())]
}

impl Engine {
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

    pub(super) async fn execute(
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
}
