//! Shared gateway state: the current snapshot (config + accounts, swapped whole on
//! reload so in-flight requests finish on what they started with) and the runtime
//! state that must outlive reloads (cooldowns, account refresh locks, cursors).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::auth::credential::{AccountState, Credential, OAuthAccount};
use crate::auth::refresh;
use crate::auth::registry::Registry;
use crate::auth::{AuthFileError, cooldown::Cooldowns, store};
use crate::config::{self, Config, EnvMap, Overrides};
use crate::providers::Provider;
use crate::providers::clients::HttpClients;

pub struct Snapshot {
    pub config: Arc<Config>,
    pub creds: Vec<Arc<Credential>>,
    pub registry: Registry,
    /// Every auth file, including kinds not routed yet.
    pub accounts: Vec<Arc<OAuthAccount>>,
    pub broken: Vec<AuthFileError>,
    /// Usage label of each of `config.api_keys`, same order: a SHA-256 each, made once
    /// per snapshot rather than per request.
    pub key_labels: Vec<Arc<str>>,
}

fn key_labels(config: &Config) -> Vec<Arc<str>> {
    config
        .api_keys
        .iter()
        .map(|k| Arc::from(crate::usage::client_key_label(k.expose())))
        .collect()
}

/// Why a changed config.yaml was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{}", .0.message())]
    Refused(super::reload::Refusal),
}

pub struct AppState {
    pub snapshot: ArcSwap<Snapshot>,
    pub cooldowns: Cooldowns,
    /// Which account served each recent session (Codex keeps a conversation on one).
    pub affinity: super::affinity::Affinity,
    pub clients: HttpClients,
    accounts: Mutex<HashMap<String, Arc<OAuthAccount>>>,
    cursors: Mutex<HashMap<String, usize>>,
    pub sync: Option<crate::sync::SyncHandle>,
    /// Tells the sync engine about files refreshes write.
    on_write: Option<Arc<crate::auth::refresh::OnWrite>>,
    /// The shared bucket for refresh leases and adopting other machines' refreshes.
    pub remote: Option<Arc<dyn crate::auth::lease::RemoteStore>>,
    pub env: EnvMap,
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
    pub auth_dir: PathBuf,
    /// Where requests report their usage (disabled when the database is unusable).
    pub usage: crate::usage::Recorder,
    /// Management API state (failed attempts, web logins, the settings writer).
    pub management: super::management::Shared,
}

impl AppState {
    // Each argument is a separate piece of the gateway's wiring, made in `serve`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        env: EnvMap,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        auth_dir: PathBuf,
        sync: Option<crate::sync::SyncHandle>,
        remote: Option<Arc<dyn crate::auth::lease::RemoteStore>>,
        usage: crate::usage::Recorder,
    ) -> Arc<AppState> {
        let state = Arc::new(AppState {
            snapshot: ArcSwap::from_pointee(Snapshot {
                key_labels: key_labels(&config),
                config: Arc::new(config.clone()),
                creds: Vec::new(),
                registry: Registry::default(),
                accounts: Vec::new(),
                broken: Vec::new(),
            }),
            cooldowns: Cooldowns::default(),
            affinity: Default::default(),
            clients: HttpClients::default(),
            accounts: Mutex::new(HashMap::new()),
            cursors: Mutex::new(HashMap::new()),
            on_write: sync.clone().map(|h| {
                Arc::new(move |p: &std::path::Path| {
                    h.notify_local_change(&p.file_name().unwrap_or_default().to_string_lossy())
                }) as Arc<crate::auth::refresh::OnWrite>
            }),
            sync,
            remote,
            env,
            config_path,
            overrides,
            auth_dir,
            usage,
            management: Default::default(),
        });
        state.rebuild(Arc::new(config));
        state
    }

    /// Refresh settings for the current config, with the sync handle and the bucket.
    pub fn refresh_env<'a>(
        &'a self,
        client: &'a reqwest::Client,
        config: &'a Config,
    ) -> crate::auth::refresh::RefreshEnv<'a> {
        let mut env =
            crate::auth::refresh::RefreshEnv::new(client, config, self.on_write.as_deref());
        env.remote = self.remote.as_deref();
        env
    }

    /// Told of every auth file the gateway rewrites (sync propagates it).
    pub fn on_write(&self) -> Option<&crate::auth::refresh::OnWrite> {
        self.on_write.as_deref()
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Rescans the auth folder and rebuilds credentials with `config`.
    pub fn rebuild(&self, config: Arc<Config>) {
        let scan = store::scan(&self.auth_dir);
        for b in &scan.broken {
            tracing::warn!(path = %b.path, error = %b.message, "skipping broken auth file");
        }
        let accounts: Vec<Arc<OAuthAccount>> = {
            let mut map = self.accounts.lock();
            let mut next = HashMap::with_capacity(scan.files.len());
            for f in scan.files {
                let acc = match map.remove(&f.name) {
                    Some(acc) => {
                        let changed = acc.file.read().hash != f.hash;
                        if changed {
                            let new_tokens = {
                                let old = acc.file.read();
                                let tokens = |x: &crate::auth::AuthFile| {
                                    (
                                        refresh::refresh_token(x).map(|s| s.expose().to_string()),
                                        refresh::access_token(x).map(|s| s.expose().to_string()),
                                    )
                                };
                                tokens(&old) != tokens(&f)
                            };
                            *acc.file.write() = f;
                            if new_tokens {
                                // A new login or another machine's refresh: give it a fresh start.
                                *acc.state.write() = AccountState::Ok;
                            }
                        }
                        acc
                    }
                    None => Arc::new(OAuthAccount::new(f)),
                };
                next.insert(acc.name.clone(), acc);
            }
            *map = next;
            let mut v: Vec<_> = map.values().cloned().collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
        let mut creds: Vec<Arc<Credential>> = Vec::new();
        for a in &accounts {
            if let Some(mut c) = Credential::from_account(a.clone()) {
                c.excluded.extend(crate::auth::registry::oauth_excluded(
                    &config.oauth_excluded_models,
                    c.provider,
                ));
                creds.push(Arc::new(c));
            }
        }
        for p in Provider::ALL {
            creds.extend(p.config_credentials(&config).into_iter().map(Arc::new));
        }
        let registry = Registry::build_with(
            &creds,
            config.force_model_prefix,
            &crate::auth::registry::oauth_aliases(&config.oauth_model_alias),
        );
        for p in Provider::ALL {
            super::metrics::accounts(p.name(), creds.iter().filter(|c| c.provider == p).count());
        }
        tracing::info!(
            credentials = creds.len(),
            auth_files = accounts.len(),
            broken = scan.broken.len(),
            "accounts loaded"
        );
        self.snapshot.store(Arc::new(Snapshot {
            key_labels: key_labels(&config),
            config,
            creds,
            registry,
            accounts,
            broken: scan.broken,
        }));
    }

    /// Re-reads config.yaml. A broken file, or one that would drop every client key or
    /// widen the listener ([`super::reload::refusal`]), is reported and the running
    /// config kept.
    pub fn reload_config(&self) -> Result<(), ReloadError> {
        let loaded = config::load(self.config_path.as_deref(), &self.env, &self.overrides)?;
        for k in &loaded.unknown_keys {
            tracing::warn!(key = %k, "unknown config key (ignored)");
        }
        let old = self.current().config.clone();
        if let Some(why) = super::reload::refusal(&old, &loaded.config) {
            return Err(ReloadError::Refused(why));
        }
        let mut config = loaded.config;
        if old.host != config.host || old.port != config.port {
            tracing::warn!("host/port changes take effect after a restart");
            // The listener is what it was; checks that depend on it must see that.
            config.host = old.host.clone();
            config.port = old.port;
        }
        self.rebuild(Arc::new(config));
        tracing::info!("configuration reloaded");
        Ok(())
    }

    pub fn reload_auth(&self) {
        self.rebuild(self.current().config.clone());
    }

    /// Entries in the tables keyed by client input: (cooldowns, cursors).
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.cooldowns.len(), self.cursors.lock().len())
    }

    /// Round-robin cursor for a model (bounded map, like CLIProxyAPI's 4096 keys; only
    /// models some route serves get here, and their names are bounded by
    /// [`crate::translate::MAX_MODEL_LEN`]).
    pub fn next_cursor(&self, model: &str) -> usize {
        let mut c = self.cursors.lock();
        if let Some(slot) = c.get_mut(model) {
            let v = *slot;
            *slot = slot.wrapping_add(1);
            return v;
        }
        if c.len() >= 4096 {
            c.clear();
        }
        let slot = c.entry(model.to_string()).or_insert(0);
        let v = *slot;
        *slot = slot.wrapping_add(1);
        v
    }
}
