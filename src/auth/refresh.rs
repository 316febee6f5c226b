//! OAuth token refresh: proactive (ahead of expiry) and on demand (expired token or
//! upstream 401), single-flight per account, atomic rewrite keeping unknown fields.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::credential::{AccountState, OAuthAccount};
use super::file::AuthFile;
use super::lease::{self, RemoteStore, TryLease};
use crate::config::{Config, Secret};
use crate::providers::{Provider, TokenAnswer, TokenBody};

/// How long before expiry a file's token is refreshed (its provider's lead).
pub fn lead(file: &AuthFile) -> Duration {
    file.provider.map_or(Duration::ZERO, Provider::refresh_lead)
}

/// After a transient refresh failure, wait this long before trying again.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Why a refresh is wanted.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Ahead of expiry, from the background loop.
    Proactive,
    /// The token is expired (checked before use).
    Expired,
    /// Upstream answered 401 to this access token.
    Unauthorized(Secret),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    #[error("{0}")]
    NeedsLogin(String),
    #[error("{0}")]
    Transient(String),
}

/// Pure: does this file need a refresh now (`refresh_interval_seconds` or the lead)?
pub fn due(file: &AuthFile, now: jiff::Timestamp) -> bool {
    let kind_lead = lead(file);
    if let Some(secs) = file
        .int_field("refresh_interval_seconds")
        .filter(|s| *s > 0)
    {
        let interval = jiff::SignedDuration::from_secs(secs);
        let expiring = file.expiry().is_some_and(|e| e <= now + interval);
        let stale = file.last_refresh().is_none_or(|l| l + interval <= now);
        return expiring || stale;
    }
    match file.expiry() {
        Some(e) => {
            let mut lead = jiff::SignedDuration::try_from(kind_lead).unwrap_or_default();
            // A token that lives shorter than the provider's lead (a Codex token of an
            // hour against a 5-day lead) would be due again the moment it was refreshed,
            // and the background loop would spend a refresh token every tick: such a
            // token is due in the second half of its life instead.
            if let Some(l) = file.last_refresh().filter(|l| *l < e) {
                lead = lead.min(e.duration_since(l) / 2);
            }
            e.duration_since(now) <= lead
        }
        None => match file.last_refresh() {
            Some(l) if !kind_lead.is_zero() => {
                now.duration_since(l)
                    >= jiff::SignedDuration::try_from(kind_lead).unwrap_or_default()
            }
            _ => false,
        },
    }
}

pub fn is_expired(file: &AuthFile, now: jiff::Timestamp) -> bool {
    file.expiry().is_some_and(|e| e <= now)
}

/// The access token of a file (top level, or Gemini's `token.access_token`).
pub fn access_token(file: &AuthFile) -> Option<Secret> {
    file.secret_field("access_token")
        .or_else(|| nested(file, "access_token"))
}

/// The refresh token of a file (top level, or Gemini's `token.refresh_token`).
pub fn refresh_token(file: &AuthFile) -> Option<Secret> {
    file.secret_field("refresh_token")
        .or_else(|| nested(file, "refresh_token"))
}

/// The file as it is on disk, when it changed since memory's copy was read (a
/// management edit: `disabled`, `prefix`, ...) but still holds the refresh token being
/// spent: the new token is put on top of it, so the edit is not undone by the refresh.
fn edited_on_disk(mem: &AuthFile, spent: &Secret) -> Option<AuthFile> {
    let bytes = std::fs::read(&mem.path).ok()?;
    if crate::store::sha256_hex(&bytes) == mem.hash {
        return None;
    }
    let disk = AuthFile::parse(&mem.path, &bytes).ok()?;
    refresh_token(&disk)
        .is_some_and(|t| t.expose() == spent.expose())
        .then_some(disk)
}

fn nested(file: &AuthFile, key: &str) -> Option<Secret> {
    file.fields
        .get("token")
        .and_then(|t| t.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(Secret::new)
}

/// When this copy was last refreshed: `last_refresh`, or Antigravity's `timestamp` (ms).
pub fn refreshed_at(file: &AuthFile) -> Option<jiff::Timestamp> {
    file.last_refresh().or_else(|| {
        file.int_field("timestamp")
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
    })
}

/// Is `other` a newer copy of the same account than `mine` (compare `last_refresh`,
/// then `expired`)?
pub fn is_fresher(other: &AuthFile, mine: &AuthFile) -> bool {
    if other.hash == mine.hash {
        return false;
    }
    match (refreshed_at(other), refreshed_at(mine)) {
        (Some(a), Some(b)) if a != b => return a > b,
        (Some(_), None) => return true,
        (None, Some(_)) => return false,
        _ => {}
    }
    match (other.expiry(), mine.expiry()) {
        (Some(a), Some(b)) if a != b => return a > b,
        (Some(_), None) => return true,
        (None, Some(_)) => return false,
        _ => {}
    }
    // Times are kept to the second, so two refreshes within one second tie. Every
    // refresh is written back to the shared copy, so a shared copy whose tokens differ
    // from ours at equal times is the newer one.
    let tokens = |f: &AuthFile| {
        (
            refresh_token(f).map(|s| s.expose().to_string()),
            access_token(f).map(|s| s.expose().to_string()),
        )
    };
    tokens(other) != tokens(mine)
}

/// Classifies a failed token-endpoint answer: refused grants need a new login.
pub fn classify_failure(status: u16, body: &str) -> RefreshError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .map(|e| match e {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("type")
                .or_else(|| o.get("code"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let desc = parsed
        .as_ref()
        .and_then(|v| {
            v.get("error_description")
                .or_else(|| v.get("error").and_then(|e| e.get("message")))
        })
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let refused = matches!(
        code.as_str(),
        "invalid_grant" | "refresh_token_reused" | "invalid_client" | "unauthorized_client"
    ) || body.contains("refresh_token_reused");
    let detail = if desc.is_empty() {
        code.clone()
    } else {
        format!("{code}: {desc}")
    };
    if refused || status == 401 {
        RefreshError::NeedsLogin(format!("refresh token rejected ({status} {detail})"))
    } else {
        RefreshError::Transient(format!("token endpoint answered {status} {detail}"))
    }
}

/// Told the path of every auth file a refresh writes, so the sync engine (or whoever
/// cares) propagates it at once. Auth does not know who listens.
pub type OnWrite = dyn Fn(&std::path::Path) + Send + Sync;

/// What a refresh needs from its surroundings.
pub struct RefreshEnv<'a> {
    pub client: &'a reqwest::Client,
    /// Where each provider's token endpoint is (and its client id).
    pub config: &'a Config,
    pub on_write: Option<&'a OnWrite>,
    /// The shared bucket, when there is one: refreshes then adopt fresher remote copies
    /// and take a lease there; without it a local file lock guards the refresh.
    pub remote: Option<&'a dyn RemoteStore>,
}

impl<'a> RefreshEnv<'a> {
    pub fn new(
        client: &'a reqwest::Client,
        config: &'a Config,
        on_write: Option<&'a OnWrite>,
    ) -> Self {
        RefreshEnv {
            client,
            config,
            on_write,
            remote: None,
        }
    }
}

/// How long a refresher waits for another holder's lease or lock before giving up.
pub const LEASE_WAIT: Duration = Duration::from_secs(75);

/// The token to use if `acc` needs no refresh for this trigger.
fn still_fresh(acc: &OAuthAccount, trigger: &Trigger, now: jiff::Timestamp) -> Option<Secret> {
    let file = acc.file.read();
    let current = access_token(&file);
    let fresh = match trigger {
        Trigger::Proactive => !due(&file, now),
        Trigger::Expired => !is_expired(&file, now),
        Trigger::Unauthorized(failed) => current
            .as_ref()
            .is_some_and(|c| !failed.ct_eq(c.expose()) && !is_expired(&file, now)),
    };
    if fresh { current } else { None }
}

/// Refreshes `acc` once (single-flight) and returns the access token to use.
pub async fn refresh(
    acc: &OAuthAccount,
    trigger: Trigger,
    env: &RefreshEnv<'_>,
) -> Result<Secret, RefreshError> {
    let _guard = acc.refresh_lock.lock().await;
    // Someone else may have refreshed while we waited for the lock.
    if let Some(t) = still_fresh(acc, &trigger, jiff::Timestamp::now()) {
        return Ok(t);
    }
    match &*acc.state.read() {
        AccountState::NeedsLogin(r) => return Err(RefreshError::NeedsLogin(r.clone())),
        AccountState::RefreshFailed { reason, until } if *until > Instant::now() => {
            return Err(RefreshError::Transient(reason.clone()));
        }
        _ => {}
    }
    let mut without_bucket = None;
    let result = guarded_refresh(acc, &trigger, env, &mut without_bucket).await;
    let new_state = match &result {
        Ok(_) => AccountState::Ok,
        Err(RefreshError::NeedsLogin(r)) => {
            tracing::error!(account = %acc.name, reason = %r, "refresh refused; run `{}`", acc.file.read().login_command());
            AccountState::NeedsLogin(r.clone())
        }
        Err(RefreshError::Transient(r)) => {
            tracing::warn!(account = %acc.name, reason = %r, "token refresh failed; retrying later");
            AccountState::RefreshFailed {
                reason: r.clone(),
                until: Instant::now() + FAILURE_BACKOFF,
            }
        }
    };
    let outcome = match &result {
        Ok(_) => "ok",
        Err(RefreshError::NeedsLogin(_)) => "needs_login",
        Err(RefreshError::Transient(_)) => "failed",
    };
    metrics::counter!("cliproxy_token_refreshes_total", "provider" => acc.provider.map_or("other", Provider::name), "result" => outcome)
        .increment(1);
    *acc.state.write() = new_state.clone();
    let file = acc.file.read().clone();
    if let Some(dir) = file.path.parent() {
        match &without_bucket {
            Some(why) => state_file::record_without_bucket(dir, &file, why),
            None => state_file::record(dir, &file, &new_state),
        }
    }
    result
}

/// With the bucket unusable, a refresh happens without the lease only this close to
/// expiry: without the lease another machine may spend the same rotating token, so it
/// is done only when the token must be replaced. Longer than [`FAILURE_BACKOFF`], so a
/// proactive refresh deferred once comes back before the token expires.
pub const WITHOUT_BUCKET_MARGIN: Duration = Duration::from_secs(10 * 60);
const _: () = assert!(WITHOUT_BUCKET_MARGIN.as_secs() > FAILURE_BACKOFF.as_secs());

/// Pure: the bucket (lease) cannot be used; refresh now under the local lock (`true`),
/// or wait for the bucket (`false`)? Now when the token is expired, was refused
/// upstream, or expires within [`WITHOUT_BUCKET_MARGIN`].
pub fn refresh_without_bucket(
    trigger: &Trigger,
    expiry: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> bool {
    match trigger {
        Trigger::Expired | Trigger::Unauthorized(_) => true,
        Trigger::Proactive => expiry.is_some_and(|e| {
            e.duration_since(now)
                <= jiff::SignedDuration::try_from(WITHOUT_BUCKET_MARGIN).unwrap_or_default()
        }),
    }
}

/// Refresh under the lease (bucket) or the local lock, adopting a fresher copy instead
/// when someone else already refreshed. When the bucket cannot be used, the local lock
/// stands in once the token is close to expiry (`without_bucket` is then set to why),
/// and the sync engine pushes the new token when the bucket is back.
async fn guarded_refresh(
    acc: &OAuthAccount,
    trigger: &Trigger,
    env: &RefreshEnv<'_>,
    without_bucket: &mut Option<String>,
) -> Result<Secret, RefreshError> {
    let Some(store) = env.remote else {
        return under_local_lock(acc, trigger, env).await.map(|(t, _)| t);
    };
    let down = match leased_refresh(acc, trigger, env, store).await {
        Leased::Done(r) => return r,
        Leased::BucketDown(e) => e,
    };
    let expiry = acc.file.read().expiry();
    if !refresh_without_bucket(trigger, expiry, jiff::Timestamp::now()) {
        return Err(RefreshError::Transient(format!(
            "the bucket cannot be used ({down}); refresh deferred until the token is close to expiry"
        )));
    }
    tracing::warn!(account = %acc.name, error = %down, "the bucket cannot be used: refreshing under the local lock without its lease; the sync engine pushes the new token when the bucket is back");
    let (token, refreshed) = under_local_lock(acc, trigger, env).await?;
    if refreshed {
        *without_bucket = Some(down.to_string());
    }
    Ok(token)
}

/// Refresh guarded by the local file lock (processes sharing this auth folder).
/// `true` with the token when this call refreshed (not adopted) it.
async fn under_local_lock(
    acc: &OAuthAccount,
    trigger: &Trigger,
    env: &RefreshEnv<'_>,
) -> Result<(Secret, bool), RefreshError> {
    let dir = acc
        .file
        .read()
        .path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let _lock = lease::lock_local(&dir, &acc.name, LEASE_WAIT)
        .await
        .map_err(|e| RefreshError::Transient(format!("refresh lock: {e}")))?;
    // Another process sharing this folder may have refreshed meanwhile.
    adopt_disk(acc, env);
    if let Some(t) = still_fresh(acc, trigger, jiff::Timestamp::now()) {
        return Ok((t, false));
    }
    Ok((do_refresh(acc, env, jiff::Timestamp::now()).await?, true))
}

enum Leased {
    Done(Result<Secret, RefreshError>),
    /// The bucket could not be read or written: nothing was refreshed.
    BucketDown(lease::StoreError),
}

/// Refresh under the bucket's lease: re-read, adopt if fresher, else lease → refresh →
/// push → release.
async fn leased_refresh(
    acc: &OAuthAccount,
    trigger: &Trigger,
    env: &RefreshEnv<'_>,
    store: &dyn RemoteStore,
) -> Leased {
    let deadline = tokio::time::Instant::now() + LEASE_WAIT;
    loop {
        match adopt_remote(acc, store, env).await {
            Err(e) => return Leased::BucketDown(e),
            Ok(true) => {
                if let Some(t) = still_fresh(acc, trigger, jiff::Timestamp::now()) {
                    return Leased::Done(Ok(t));
                }
            }
            Ok(false) => {}
        }
        match lease::try_acquire(store, &acc.name, lease::LEASE_TTL).await {
            Ok(TryLease::Acquired(l)) => {
                // Someone may have finished between our read and our lease.
                if let Ok(true) = adopt_remote(acc, store, env).await
                    && let Some(t) = still_fresh(acc, trigger, jiff::Timestamp::now())
                {
                    l.release().await;
                    return Leased::Done(Ok(t));
                }
                let result = do_refresh(acc, env, jiff::Timestamp::now()).await;
                if result.is_ok() {
                    let bytes = bytes::Bytes::from(acc.file.read().to_bytes());
                    if let Err(e) = store.put(&lease::auth_key(&acc.name), bytes, None).await {
                        tracing::error!(account = %acc.name, error = %e, "could not push the refreshed token to the bucket (the sync engine pushes it when the bucket is back)");
                    }
                }
                l.release().await;
                return Leased::Done(result);
            }
            Ok(TryLease::Held { holder, until }) => {
                if tokio::time::Instant::now() >= deadline {
                    return Leased::Done(Err(RefreshError::Transient(format!(
                        "another instance ({holder}) holds the refresh lease until {until}"
                    ))));
                }
                tracing::debug!(account = %acc.name, %holder, "waiting for another instance's refresh");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Leased::BucketDown(e),
        }
    }
}

/// Replaces the in-memory copy with `new` (and writes `write` to the local file).
fn adopt(acc: &OAuthAccount, env: &RefreshEnv<'_>, new: AuthFile, write: Option<&[u8]>) {
    if let Some(bytes) = write {
        if let Err(e) = crate::store::write_atomic(&new.path, bytes) {
            tracing::error!(account = %acc.name, error = %e, "could not save the adopted token");
        } else if let Some(notify) = env.on_write {
            notify(&new.path);
        }
    }
    *acc.file.write() = new;
}

/// Re-reads the local file; adopts it if it is fresher than memory.
fn adopt_disk(acc: &OAuthAccount, env: &RefreshEnv<'_>) {
    let path = acc.file.read().path.clone();
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let Ok(disk) = AuthFile::parse(&path, &bytes) else {
        return;
    };
    if is_fresher(&disk, &acc.file.read()) {
        tracing::info!(account = %acc.name, "adopting a token another process refreshed");
        adopt(acc, env, disk, None);
    }
}

/// Reads the bucket's copy; adopts it (and writes it locally) when it is fresher.
/// `Err` when the bucket cannot be read.
async fn adopt_remote(
    acc: &OAuthAccount,
    store: &dyn RemoteStore,
    env: &RefreshEnv<'_>,
) -> Result<bool, lease::StoreError> {
    let Some((bytes, _)) = store.get(&lease::auth_key(&acc.name)).await? else {
        return Ok(false);
    };
    let path = acc.file.read().path.clone();
    let Ok(remote) = AuthFile::parse(&path, &bytes) else {
        return Ok(false);
    };
    if !is_fresher(&remote, &acc.file.read()) {
        return Ok(false);
    }
    tracing::info!(account = %acc.name, "adopting a token another instance refreshed");
    adopt(acc, env, remote, Some(&bytes));
    Ok(true)
}

async fn do_refresh(
    acc: &OAuthAccount,
    env: &RefreshEnv<'_>,
    now: jiff::Timestamp,
) -> Result<Secret, RefreshError> {
    let refresh_token = refresh_token(&acc.file.read())
        .ok_or_else(|| RefreshError::NeedsLogin("auth file has no refresh_token".into()))?;
    let Some((provider, req)) = acc
        .provider
        .and_then(|p| Some((p, p.refresh_request(env.config, refresh_token.expose())?)))
    else {
        return Err(RefreshError::Transient(format!(
            "refresh for `{}` accounts is not supported",
            acc.file.read().type_name
        )));
    };
    let (url, body) = (req.url.as_str(), &req.body);
    let send = || async {
        let rb = env
            .client
            .post(url)
            .header("accept", "application/json")
            .timeout(Duration::from_secs(30));
        match body {
            TokenBody::Json(v) => rb.json(v),
            TokenBody::Form(f) => rb.form(f),
        }
        .send()
        .await
    };
    use backon::Retryable;
    // Retry the transport only (EOF, reset): an answered refresh is never repeated,
    // since the refresh token may already be spent.
    let resp = send
        .retry(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_times(2),
        )
        .when(|e: &reqwest::Error| e.is_connect() || e.is_request() && !e.is_timeout())
        .await
        .map_err(|e| {
            RefreshError::Transient(format!("token endpoint unreachable: {}", e.without_url()))
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| {
        RefreshError::Transient(format!("reading token response: {}", e.without_url()))
    })?;
    if !(200..300).contains(&status) {
        return Err(classify_failure(status, &text));
    }
    let tok: TokenAnswer = serde_json::from_str(&text)
        .map_err(|e| RefreshError::Transient(format!("token response is not valid: {e}")))?;
    let mut updated = acc.file.read().clone();
    if let Some(disk) = edited_on_disk(&updated, &refresh_token) {
        updated = disk;
    }
    provider.apply_token(&mut updated, &tok, now);
    let bytes = updated.to_bytes();
    updated.hash = crate::store::sha256_hex(&bytes);
    if let Err(e) = crate::store::write_atomic_visible_first(&updated.path, &bytes) {
        // The old refresh token is spent: keep the new one in memory and say so loudly.
        tracing::error!(account = %acc.name, path = %updated.path.display(), error = %e, "could not save refreshed token");
    }
    let path = updated.path.clone();
    *acc.file.write() = updated;
    if let Some(notify) = env.on_write {
        notify(&path);
    }
    tracing::info!(account = %acc.name, "token refreshed");
    Ok(Secret::new(tok.access_token))
}

/// `.cliproxy-state.json` next to the auth files: account states a running gateway
/// found that the files alone do not show (needs login, cooling down after a failed
/// refresh), so `cliproxy auth list` can report them. Written atomically; an entry
/// applies only while the file still holds the refresh token it was recorded for.
pub mod state_file {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde::{Deserialize, Serialize};

    use super::super::credential::AccountState;
    use super::super::file::{AuthFile, rfc3339};

    pub const NAME: &str = ".cliproxy-state.json";

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct States {
        #[serde(default)]
        pub accounts: BTreeMap<String, Entry>,
    }

    /// State of a token refreshed without the bucket's lease (the bucket was unusable).
    pub const WITHOUT_BUCKET: &str = "refreshed_without_bucket";

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
    pub struct Entry {
        /// `needs_login`, `cooling_down` or [`WITHOUT_BUCKET`].
        pub state: String,
        pub reason: String,
        /// What to run (needs login).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub command: String,
        /// Until when (cooling down), RFC 3339.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub until: String,
        pub at: String,
        /// First 16 hex digits of SHA-256 of the refresh token the state is about.
        pub refresh_token_sha256: String,
    }

    static WRITE: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

    pub fn token_tag(file: &AuthFile) -> String {
        let rt = super::refresh_token(file);
        let h = crate::store::sha256_hex(rt.as_ref().map(|s| s.expose()).unwrap_or("").as_bytes());
        h[..16].to_string()
    }

    pub fn load(dir: &Path) -> States {
        std::fs::read(dir.join(NAME))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The recorded state for `file`, if it still applies to the file's token.
    pub fn lookup(states: &States, file: &AuthFile) -> Option<Entry> {
        let e = states.accounts.get(&file.name)?;
        if e.refresh_token_sha256 != token_tag(file) {
            return None;
        }
        if e.state == "cooling_down"
            && e.until
                .parse::<jiff::Timestamp>()
                .is_ok_and(|u| u <= jiff::Timestamp::now())
        {
            return None;
        }
        Some(e.clone())
    }

    /// Records (or clears, for `Ok`) the state of `file`'s account.
    pub fn record(dir: &Path, file: &AuthFile, state: &AccountState) {
        let _g = WRITE.lock();
        let mut all = load(dir);
        let now = jiff::Timestamp::now();
        let entry = match state {
            AccountState::Ok => None,
            AccountState::NeedsLogin(r) => Some(Entry {
                state: "needs_login".into(),
                reason: r.clone(),
                command: file.login_command().to_string(),
                until: String::new(),
                at: rfc3339(now),
                refresh_token_sha256: token_tag(file),
            }),
            AccountState::RefreshFailed { reason, until } => {
                let left = until.saturating_duration_since(std::time::Instant::now());
                let until = now + jiff::SignedDuration::try_from(left).unwrap_or_default();
                Some(Entry {
                    state: "cooling_down".into(),
                    reason: reason.clone(),
                    command: String::new(),
                    until: rfc3339(until),
                    at: rfc3339(now),
                    refresh_token_sha256: token_tag(file),
                })
            }
        };
        let changed = match entry {
            Some(e) => all.accounts.insert(file.name.clone(), e.clone()) != Some(e),
            None => all.accounts.remove(&file.name).is_some(),
        };
        if !changed {
            return;
        }
        let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
        if let Err(e) = crate::store::write_atomic(&dir.join(NAME), &bytes) {
            tracing::warn!(error = %e, "could not write {NAME}");
        }
    }

    /// Records that `file`'s account is cooling down until `until` because its upstream
    /// said so (a usage limit), so `auth list` shows it while the gateway waits.
    pub fn record_limit(dir: &Path, file: &AuthFile, reason: &str, until: jiff::Timestamp) {
        let _g = WRITE.lock();
        let mut all = load(dir);
        all.accounts.insert(
            file.name.clone(),
            Entry {
                state: "cooling_down".into(),
                reason: reason.to_string(),
                command: String::new(),
                until: rfc3339(until),
                at: rfc3339(jiff::Timestamp::now()),
                refresh_token_sha256: token_tag(file),
            },
        );
        let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
        if let Err(e) = crate::store::write_atomic(&dir.join(NAME), &bytes) {
            tracing::warn!(error = %e, "could not write {NAME}");
        }
    }

    /// Records that `file`'s token was refreshed under the local lock because the bucket
    /// could not be used (`why`). The next refresh through the bucket, or a login,
    /// clears it.
    pub fn record_without_bucket(dir: &Path, file: &AuthFile, why: &str) {
        let _g = WRITE.lock();
        let mut all = load(dir);
        all.accounts.insert(
            file.name.clone(),
            Entry {
                state: WITHOUT_BUCKET.into(),
                reason: why.to_string(),
                command: String::new(),
                until: String::new(),
                at: rfc3339(jiff::Timestamp::now()),
                refresh_token_sha256: token_tag(file),
            },
        );
        let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
        if let Err(e) = crate::store::write_atomic(&dir.join(NAME), &bytes) {
            tracing::warn!(error = %e, "could not write {NAME}");
        }
    }

    /// Forgets `name` (a new login).
    pub fn clear(dir: &Path, name: &str) {
        let _g = WRITE.lock();
        let mut all = load(dir);
        if all.accounts.remove(name).is_some() {
            let bytes = serde_json::to_vec_pretty(&all).unwrap_or_default();
            if let Err(e) = crate::store::write_atomic(&dir.join(NAME), &bytes) {
                tracing::warn!(error = %e, "could not write {NAME}");
            }
        }
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
