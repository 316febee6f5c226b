//! Locations: a local folder or an S3 prefix, behind one small interface
//! (list with a version tag, read, conditional write, delete).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::s3::S3Prefix;
use crate::config::sync::Sealing;
pub use crate::store::s3::{Cond, PutOutcome};
use crate::store::seal;

/// Request and write counters (everything the engine does to a location).
#[derive(Debug, Default)]
pub struct Counters {
    pub s3_list: AtomicU64,
    pub s3_get: AtomicU64,
    pub s3_put: AtomicU64,
    pub s3_delete: AtomicU64,
    pub file_write: AtomicU64,
    pub file_delete: AtomicU64,
    pub conflicts: AtomicU64,
    pub runs: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CounterSnapshot {
    pub s3_list: u64,
    pub s3_get: u64,
    pub s3_put: u64,
    pub s3_delete: u64,
    pub file_write: u64,
    pub file_delete: u64,
    pub conflicts: u64,
    pub runs: u64,
}

impl CounterSnapshot {
    /// Every write anywhere (PUTs, DELETEs, file writes and removals).
    pub fn writes(&self) -> u64 {
        self.s3_put + self.s3_delete + self.file_write + self.file_delete
    }

    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            s3_list: self.s3_list - earlier.s3_list,
            s3_get: self.s3_get - earlier.s3_get,
            s3_put: self.s3_put - earlier.s3_put,
            s3_delete: self.s3_delete - earlier.s3_delete,
            file_write: self.file_write - earlier.file_write,
            file_delete: self.file_delete - earlier.file_delete,
            conflicts: self.conflicts - earlier.conflicts,
            runs: self.runs - earlier.runs,
        }
    }
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            s3_list: l(&self.s3_list),
            s3_get: l(&self.s3_get),
            s3_put: l(&self.s3_put),
            s3_delete: l(&self.s3_delete),
            file_write: l(&self.file_write),
            file_delete: l(&self.file_delete),
            conflicts: l(&self.conflicts),
            runs: l(&self.runs),
        }
    }

    pub fn bump(a: &AtomicU64) {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

/// One listed object or file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Version tag: the S3 ETag (MD5 for simple PUTs), or the SHA-256 for folders.
    pub tag: String,
    pub mtime: Option<jiff::Timestamp>,
    /// Folders are read while listing (the files are small); S3 bodies are fetched on demand.
    pub content: Option<Bytes>,
}

/// Errors that never carry secrets: a location label and a short reason.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct LocError {
    pub location: String,
    pub message: String,
}

impl LocError {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        LocError {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A place auth files live.
#[derive(Clone)]
pub enum Store {
    Dir(DirStore),
    S3(S3Prefix),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Names we sync: `*.json` directly in the folder, no hidden or temp files, no separators.
pub fn valid_name(name: &str) -> bool {
    name.ends_with(".json")
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\\')
        && !name.contains("..")
        && name.len() > 5
}

impl Store {
    pub fn describe(&self) -> String {
        match self {
            Store::Dir(d) => d.dir.display().to_string(),
            Store::S3(s) => s.describe(),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Store::S3(_))
    }

    /// Version tag that a write of `bytes` produces here (to compare without reading).
    pub fn tag_of(&self, bytes: &[u8]) -> String {
        match self {
            Store::Dir(_) => crate::store::sha256_hex(bytes),
            Store::S3(_) => crate::store::s3::md5_hex(bytes),
        }
    }

    pub async fn list(&self) -> Result<BTreeMap<String, Entry>, LocError> {
        match self {
            Store::Dir(d) => d.list(true).await,
            Store::S3(s) => s.list().await,
        }
    }

    /// Lists every object under the prefix, including sub-paths (for `config/`).
    pub async fn list_all(&self) -> Result<BTreeMap<String, Entry>, LocError> {
        match self {
            Store::Dir(d) => d.list_recursive().await,
            Store::S3(s) => s.list_all().await,
        }
    }

    pub async fn get(&self, name: &str) -> Result<Option<(Bytes, String)>, LocError> {
        match self {
            Store::Dir(d) => d.get(name).await,
            Store::S3(s) => s.get(name).await,
        }
    }

    pub async fn put(&self, name: &str, body: Bytes, cond: Cond) -> Result<PutOutcome, LocError> {
        match self {
            Store::Dir(d) => d.put(name, body, cond).await,
            Store::S3(s) => s.put(name, body, Some(cond)).await,
        }
    }

    pub async fn put_unconditional(&self, name: &str, body: Bytes) -> Result<String, LocError> {
        match self {
            Store::Dir(d) => d.write(name, body).await,
            Store::S3(s) => match s.put(name, body, None).await? {
                PutOutcome::Written(t) => Ok(t),
                PutOutcome::PreconditionFailed => Err(LocError::new(
                    s.describe(),
                    "unexpected precondition failure",
                )),
            },
        }
    }

    pub async fn delete(&self, name: &str) -> Result<(), LocError> {
        match self {
            Store::Dir(d) => d.delete(name).await,
            Store::S3(s) => s.delete(name).await,
        }
    }
}

/// A local folder (auth folder, CCS, dotfiles, or a `file://` bucket prefix).
///
/// A sealed folder (the dotfiles copy) holds age files: listing and reading give the
/// plaintext (so a file's identity, the SHA-256 the engine compares, is that of the
/// plaintext and re-encryption is never seen as a change), while the version tag used
/// for compare-and-swap writes stays the SHA-256 of the bytes on disk.
#[derive(Clone)]
pub struct DirStore {
    pub dir: PathBuf,
    pub counters: Arc<Counters>,
    /// Create the folder when listing it (the working copy); others are created on first write.
    pub create: bool,
    pub sealing: Sealing,
}

fn io_err(dir: &Path, e: std::io::Error) -> LocError {
    LocError::new(dir.display().to_string(), e.to_string())
}

/// Reads a file that may still be being written: re-read until it parses and its
/// size is stable (a few short tries), so a half-written file is not taken as is.
fn read_stable(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = std::fs::read(path)?;
    for _ in 0..4 {
        if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() || seal::is_sealed(&bytes) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(40));
        let again = std::fs::read(path)?;
        if again == bytes {
            break;
        }
        bytes = again;
    }
    Ok(bytes)
}

impl DirStore {
    pub fn new(dir: PathBuf, counters: Arc<Counters>, create: bool) -> Self {
        DirStore {
            dir,
            counters,
            create,
            sealing: Sealing::Plain,
        }
    }

    pub fn with_sealing(mut self, sealing: Sealing) -> Self {
        self.sealing = sealing;
        self
    }

    /// The plaintext of the file `name` whose bytes on disk are `disk`.
    fn unseal(&self, name: &str, disk: Vec<u8>) -> Result<Vec<u8>, LocError> {
        match &self.sealing {
            Sealing::Age(k) if seal::is_sealed(&disk) => k
                .open(&disk)
                .map_err(|e| LocError::new(self.dir.display().to_string(), format!("{name}: {e}"))),
            Sealing::RefusePlain if seal::is_sealed(&disk) => Err(LocError::new(
                self.dir.display().to_string(),
                format!(
                    "{name} is age-encrypted but no key is configured: set CLIPROXY_DOTFILES_AGE_KEY or sync.dotfiles.age-key-file"
                ),
            )),
            // Plaintext: a plain folder, or a copy still to be encrypted.
            _ => Ok(disk),
        }
    }

    /// The bytes to put on disk for `plaintext`.
    fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, LocError> {
        let err = |m: String| LocError::new(self.dir.display().to_string(), m);
        match &self.sealing {
            Sealing::Plain => Ok(plaintext.to_vec()),
            Sealing::Age(k) => k.seal(plaintext).map_err(|e| err(e.to_string())),
            Sealing::RefusePlain => Err(err(Sealing::REFUSAL.to_string())),
        }
    }

    /// Encrypts the plaintext files of a sealed folder in place, each by an atomic
    /// compare-and-swap rename over the plaintext it read (a file changed meanwhile is
    /// left for the next run). Returns the names encrypted.
    pub async fn migrate_plaintext(&self) -> Result<Vec<String>, LocError> {
        let Sealing::Age(_) = &self.sealing else {
            return Ok(Vec::new());
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let dir = &this.dir;
            let mut done = Vec::new();
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
                Err(e) => return Err(io_err(dir, e)),
            };
            for ent in rd.flatten() {
                let name = ent.file_name().to_string_lossy().into_owned();
                if !valid_name(&name) || !ent.metadata().is_ok_and(|m| m.is_file()) {
                    continue;
                }
                let plain = match read_stable(&ent.path()) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(dir, e)),
                };
                if seal::is_sealed(&plain) {
                    continue;
                }
                let sealed = this.seal(&plain)?;
                let expect = crate::store::sha256_hex(&plain);
                if crate::store::replace_if(&ent.path(), &sealed, Some(&expect))
                    .map_err(|e| io_err(dir, e))?
                {
                    Counters::bump(&this.counters.file_write);
                    done.push(name);
                }
            }
            done.sort();
            Ok(done)
        })
        .await
        .map_err(|e| LocError::new(self.dir.display().to_string(), e.to_string()))?
    }

    async fn list(&self, _top: bool) -> Result<BTreeMap<String, Entry>, LocError> {
        let dir = self.dir.clone();
        let create = self.create;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            if create {
                crate::store::ensure_private_dir(&dir).map_err(|e| io_err(&dir, e))?;
            }
            crate::store::sweep_stale_temps(&dir);
            let mut out = BTreeMap::new();
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(io_err(&dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| io_err(&dir, e))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if !valid_name(&name) {
                    continue;
                }
                let Ok(meta) = ent.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let disk = match read_stable(&ent.path()) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&dir, e)),
                };
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| jiff::Timestamp::try_from(t).ok());
                let tag = crate::store::sha256_hex(&disk);
                let content = this.unseal(&name, disk)?;
                out.insert(
                    name,
                    Entry {
                        tag,
                        mtime,
                        content: Some(Bytes::from(content)),
                    },
                );
            }
            Ok(out)
        })
        .await
        .map_err(|e| LocError::new(self.dir.display().to_string(), e.to_string()))?
    }

    async fn list_recursive(&self) -> Result<BTreeMap<String, Entry>, LocError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = BTreeMap::new();
            let mut stack = vec![(dir.clone(), String::new())];
            while let Some((d, rel)) = stack.pop() {
                let rd = match std::fs::read_dir(&d) {
                    Ok(rd) => rd,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&d, e)),
                };
                for ent in rd.flatten() {
                    let name = ent.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    let Ok(meta) = ent.metadata() else { continue };
                    let key = format!("{rel}{name}");
                    if meta.is_dir() {
                        stack.push((ent.path(), format!("{key}/")));
                    } else if meta.is_file() {
                        let bytes = std::fs::read(ent.path()).map_err(|e| io_err(&d, e))?;
                        out.insert(
                            key,
                            Entry {
                                tag: crate::store::sha256_hex(&bytes),
                                mtime: meta
                                    .modified()
                                    .ok()
                                    .and_then(|t| jiff::Timestamp::try_from(t).ok()),
                                content: Some(Bytes::from(bytes)),
                            },
                        );
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| LocError::new(self.dir.display().to_string(), e.to_string()))?
    }

    async fn get(&self, name: &str) -> Result<Option<(Bytes, String)>, LocError> {
        let path = self.dir.join(name);
        match tokio::fs::read(&path).await {
            Ok(b) => {
                let tag = crate::store::sha256_hex(&b);
                Ok(Some((Bytes::from(self.unseal(name, b)?), tag)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&self.dir, e)),
        }
    }

    async fn write(&self, name: &str, body: Bytes) -> Result<String, LocError> {
        let path = self.dir.join(name);
        let body = self.seal(&body)?;
        let tag = crate::store::sha256_hex(&body);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || crate::store::write_atomic(&path, &body))
            .await
            .map_err(|e| LocError::new(dir.display().to_string(), e.to_string()))?
            .map_err(|e| io_err(&self.dir, e))?;
        Counters::bump(&self.counters.file_write);
        Ok(tag)
    }

    async fn put(&self, name: &str, body: Bytes, cond: Cond) -> Result<PutOutcome, LocError> {
        // A folder's version tag is the SHA-256 of the content: swap the new file in only over
        // that version, so a write another program makes meanwhile is never overwritten.
        let path = self.dir.join(name);
        let body = self.seal(&body)?;
        let tag = crate::store::sha256_hex(&body);
        let expect = match cond {
            Cond::IfMatch(t) => Some(t),
            Cond::IfNoneMatch => None,
        };
        let written = tokio::task::spawn_blocking(move || {
            crate::store::replace_if(&path, &body, expect.as_deref())
        })
        .await
        .map_err(|e| LocError::new(self.dir.display().to_string(), e.to_string()))?
        .map_err(|e| io_err(&self.dir, e))?;
        if !written {
            return Ok(PutOutcome::PreconditionFailed);
        }
        Counters::bump(&self.counters.file_write);
        Ok(PutOutcome::Written(tag))
    }

    async fn delete(&self, name: &str) -> Result<(), LocError> {
        match tokio::fs::remove_file(self.dir.join(name)).await {
            Ok(()) => {
                Counters::bump(&self.counters.file_delete);
                if let Ok(d) = std::fs::File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&self.dir, e)),
        }
    }
}
