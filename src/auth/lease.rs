//! Refresh leases: who may spend an account's refresh token right now.
//!
//! Across machines sharing a bucket, a refresh is guarded by a short lease object
//! `config/leases/<name>` created with `If-None-Match: *`; it carries an expiry so a
//! crashed holder blocks the others for at most the lease's lifetime. Without a bucket
//! the same guard is a local advisory file lock on `<auth_dir>/.locks/<name>.lock`.
//!
//! The bucket is reached through [`RemoteStore`], a four-call trait: an in-memory
//! implementation (tests, single process) and an S3 one ([`S3Store`], over the same
//! adapter the sync engine uses) are provided.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use crate::store::s3::{Cond, PutOutcome, S3Bucket};

/// An object's version tag (S3 ETag, or a content hash for other stores).
pub type ETag = String;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

pub type StoreResult<T> = Result<T, StoreError>;

/// The bucket operations a lease and a remote refresh need.
pub trait RemoteStore: Send + Sync {
    /// The object and its tag, or `None` when it does not exist.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<(Bytes, ETag)>>>;
    /// Creates `key` only if it does not exist; `false` when it already did.
    fn put_if_none_match<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Writes `key`; with `if_match`, only if its tag still equals it (`false` otherwise).
    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Removes `key` (absent is fine).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
}

/// Bucket key of an auth file.
pub fn auth_key(name: &str) -> String {
    format!("auths/{name}")
}

/// Bucket key of an account's refresh lease.
pub fn lease_key(name: &str) -> String {
    format!("config/leases/{name}")
}

/// How long a lease is valid: long enough for one token request with retries.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// This process's identity in leases.
pub fn holder_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        format!("{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4())
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    holder: String,
    expires: jiff::Timestamp,
    /// Unique per acquisition: the holder checks the bucket still has *its* lease.
    #[serde(default)]
    nonce: String,
}

/// A lease held in the bucket. Release it with [`RemoteLease::release`]; if dropped
/// without release it simply expires.
pub struct RemoteLease<'a> {
    store: &'a dyn RemoteStore,
    key: String,
    body: Bytes,
}

impl RemoteLease<'_> {
    pub async fn release(self) {
        // Only our own lease: one that expired and was taken over is the new holder's.
        match self.store.get(&self.key).await {
            Ok(Some((cur, _))) if cur == self.body => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(lease = %self.key, error = %e, "could not release refresh lease (it expires by itself)");
                return;
            }
        }
        if let Err(e) = self.store.delete(&self.key).await {
            tracing::warn!(lease = %self.key, error = %e, "could not release refresh lease (it expires by itself)");
        }
    }
}

/// After a write that should have made us the holder: the bucket must now hold exactly
/// our lease. (A store that let a second conditional write through, or a stale delete that
/// removed a lease which was then re-taken, would otherwise let two holders refresh.)
async fn confirm<'a>(
    store: &'a dyn RemoteStore,
    key: String,
    body: Bytes,
) -> StoreResult<Option<TryLease<'a>>> {
    match store.get(&key).await? {
        Some((cur, _)) if cur == body => {
            Ok(Some(TryLease::Acquired(RemoteLease { store, key, body })))
        }
        Some((cur, _)) => {
            let other: Option<LeaseBody> = serde_json::from_slice(&cur).ok();
            Ok(Some(TryLease::Held {
                holder: other
                    .as_ref()
                    .map_or("unknown".into(), |o| o.holder.clone()),
                until: other.map_or_else(jiff::Timestamp::now, |o| o.expires),
            }))
        }
        None => Ok(None),
    }
}

/// Outcome of one attempt to take a lease.
pub enum TryLease<'a> {
    Acquired(RemoteLease<'a>),
    /// Someone else holds it until this time.
    Held {
        holder: String,
        until: jiff::Timestamp,
    },
}

/// Tries once to take the lease for `name`; an expired lease is broken (conditionally,
/// so two breakers cannot both win).
pub async fn try_acquire<'a>(
    store: &'a dyn RemoteStore,
    name: &str,
    ttl: Duration,
) -> StoreResult<TryLease<'a>> {
    let key = lease_key(name);
    for _ in 0..3 {
        let body = LeaseBody {
            holder: holder_id().to_string(),
            expires: jiff::Timestamp::now()
                + jiff::SignedDuration::try_from(ttl).unwrap_or(jiff::SignedDuration::ZERO),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        };
        let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        if store.put_if_none_match(&key, bytes.clone()).await? {
            match confirm(store, key.clone(), bytes).await? {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
        let Some((cur, etag)) = store.get(&key).await? else {
            continue; // released in between: try again
        };
        let held: Option<LeaseBody> = serde_json::from_slice(&cur).ok();
        match held {
            Some(h) if h.expires > jiff::Timestamp::now() => {
                return Ok(TryLease::Held {
                    holder: h.holder,
                    until: h.expires,
                });
            }
            _ => {
                // Expired or unreadable: take it over only if nobody else did first.
                tracing::warn!(lease = %key, "breaking an expired refresh lease");
                if store.put(&key, bytes.clone(), Some(&etag)).await? {
                    match confirm(store, key.clone(), bytes).await? {
                        Some(outcome) => return Ok(outcome),
                        None => continue,
                    }
                }
            }
        }
    }
    Ok(TryLease::Held {
        holder: "unknown".into(),
        until: jiff::Timestamp::now(),
    })
}

/// An advisory lock on `<auth_dir>/.locks/<name>.lock`, held until dropped.
pub struct LocalLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

/// Path of an account's local lock file.
pub fn local_lock_path(auth_dir: &Path, name: &str) -> PathBuf {
    auth_dir.join(".locks").join(format!("{name}.lock"))
}

/// Takes the local lock for `name`, waiting up to `wait`. The kernel drops it if the
/// process dies, so there is nothing to expire.
pub async fn lock_local(auth_dir: &Path, name: &str, wait: Duration) -> std::io::Result<LocalLock> {
    let path = local_lock_path(auth_dir, name);
    if let Some(dir) = path.parent() {
        crate::store::ensure_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(&path)?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LocalLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("{} is held by another process", path.display()),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// In-memory store with atomic conditional writes (tests; one process).
#[derive(Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<HashMap<String, (Bytes, u64)>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn tag(&self) -> u64 {
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    /// Current content of `key` (tests).
    pub fn snapshot(&self, key: &str) -> Option<Bytes> {
        self.inner.lock().get(key).map(|(b, _)| b.clone())
    }
}

impl RemoteStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<(Bytes, ETag)>>> {
        Box::pin(async move {
            Ok(self
                .inner
                .lock()
                .get(key)
                .map(|(b, t)| (b.clone(), format!("\"{t}\""))))
        })
    }

    fn put_if_none_match<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let tag = self.tag();
            let mut m = self.inner.lock();
            if m.contains_key(key) {
                return Ok(false);
            }
            m.insert(key.to_string(), (bytes, tag));
            Ok(true)
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let tag = self.tag();
            let mut m = self.inner.lock();
            if let Some(want) = if_match {
                match m.get(key) {
                    Some((_, t)) if format!("\"{t}\"") == want => {}
                    _ => return Ok(false),
                }
            }
            m.insert(key.to_string(), (bytes, tag));
            Ok(true)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.inner.lock().remove(key);
            Ok(())
        })
    }
}

/// The bucket through the shared S3 adapter ([`crate::store::s3`]: conditional writes,
/// bounded timeouts), every key under `prefix`.
#[derive(Clone, Debug)]
pub struct S3Store {
    bucket: S3Bucket,
    prefix: String,
}

impl S3Store {
    /// `prefix` is prepended to every key (e.g. `"team/"`); empty for none.
    pub fn new(bucket: S3Bucket, prefix: &str) -> Self {
        S3Store {
            bucket,
            prefix: prefix.to_string(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn store_err(e: crate::store::s3::S3Error) -> StoreError {
    StoreError(format!("S3 {e}"))
}

impl RemoteStore for S3Store {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<(Bytes, ETag)>>> {
        Box::pin(async move { self.bucket.get(&self.key(key)).await.map_err(store_err) })
    }

    fn put_if_none_match<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let out = self
                .bucket
                .put(&self.key(key), bytes, Some(Cond::IfNoneMatch))
                .await
                .map_err(store_err)?;
            Ok(matches!(out, PutOutcome::Written(_)))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        bytes: Bytes,
        if_match: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let cond = if_match.map(|t| Cond::IfMatch(crate::store::s3::clean_etag(t)));
            let out = self
                .bucket
                .put(&self.key(key), bytes, cond)
                .await
                .map_err(store_err)?;
            Ok(matches!(out, PutOutcome::Written(_)))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { self.bucket.delete(&self.key(key)).await.map_err(store_err) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_expired_leases_are_broken() {
        let s = MemoryStore::new();
        let a = match try_acquire(&s, "x.json", LEASE_TTL).await.unwrap() {
            TryLease::Acquired(l) => l,
            TryLease::Held { .. } => panic!("first acquire must win"),
        };
        assert!(matches!(
            try_acquire(&s, "x.json", LEASE_TTL).await.unwrap(),
            TryLease::Held { .. }
        ));
        a.release().await;
        let b = try_acquire(&s, "x.json", Duration::ZERO).await.unwrap();
        assert!(matches!(b, TryLease::Acquired(_)));
        // b's lease expired at once: a newcomer breaks it.
        assert!(matches!(
            try_acquire(&s, "x.json", LEASE_TTL).await.unwrap(),
            TryLease::Acquired(_)
        ));
    }

    #[tokio::test]
    async fn local_lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock_local(dir.path(), "x.json", Duration::from_secs(1))
            .await
            .unwrap();
        let e = lock_local(dir.path(), "x.json", Duration::from_millis(100)).await;
        assert!(e.is_err());
        drop(a);
        lock_local(dir.path(), "x.json", Duration::from_millis(100))
            .await
            .unwrap();
    }
}
