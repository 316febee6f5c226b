//! The operator's commands: `auth remove` and `auth restore`.

use std::path::PathBuf;

use bytes::Bytes;

use super::{Engine, Report, TOMBSTONE_DIR};
use crate::sync::location::Counters;
use crate::sync::plan::{LocId, Meta, Tombstone};
use crate::sync::state::State;

impl Engine {
    /// `cliproxy auth remove NAME`: tombstone, then delete everywhere except the backup.
    pub async fn remove(&self, name: &str) -> anyhow::Result<Report> {
        anyhow::ensure!(
            crate::sync::location::valid_name(name),
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
            crate::sync::location::valid_name(name),
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
