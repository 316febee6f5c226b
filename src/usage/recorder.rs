//! The recorder handle (cheap to clone, never blocks) and the one writer thread that
//! drains its queue into SQLite in batches, one transaction each, and prunes old rows
//! at start and daily.
//!
//! Waking the writer costs the serving thread a futex call, so it is not woken per
//! record: the first record of a burst wakes it, it then gathers for up to [`GATHER`]
//! (or until [`WAKE_EVERY`] records wait, or a flush asks) and writes them together.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::UsageRecord;
use super::db;

/// Records waiting for the writer; past this, new ones are dropped (and counted).
pub const DEFAULT_QUEUE: usize = 4096;
/// Most records written in one transaction.
const MAX_BATCH: usize = 512;
/// Longest a record waits for the records after it before it is written.
const GATHER: Duration = Duration::from_millis(200);
/// Records waiting that wake the writer before [`GATHER`] is up.
const WAKE_EVERY: usize = 256;
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Prometheus counters (through the `metrics` facade, rendered by `GET /metrics`).
pub const DROPPED_METRIC: &str = "cliproxy_usage_records_dropped_total";
pub const WRITE_FAILED_METRIC: &str = "cliproxy_usage_write_failures_total";
/// At most one "dropped" warning per this interval.
const WARN_EVERY_MS: u64 = 60_000;

enum Msg {
    Record(Box<UsageRecord>),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<()>),
}

struct Inner {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
    /// Milliseconds since `epoch` of the last "dropped" warning (+1; 0 = never).
    last_warn: AtomicU64,
    epoch: Instant,
    /// Records queued and not yet taken by the writer.
    queued: AtomicUsize,
    /// Write now, do not gather (a full batch or a flush waits).
    urgent: AtomicBool,
    /// The writer thread, once started.
    writer: OnceLock<Thread>,
}

impl Inner {
    fn wake(&self, urgent: bool) {
        if urgent {
            self.urgent.store(true, Ordering::Release);
        }
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }
}

impl Drop for Inner {
    /// The last handle is gone: let the writer see the closed queue and end.
    fn drop(&mut self) {
        self.wake(true);
    }
}

/// Where requests report their usage. `Recorder::disabled()` records nothing.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("enabled", &self.inner.is_some())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Recorder {
    pub fn disabled() -> Recorder {
        Recorder::default()
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `r` for the writer. Never waits: when the queue is full the record is
    /// dropped, counted (`cliproxy_usage_records_dropped_total`) and warned about.
    pub fn record(&self, r: UsageRecord) {
        let Some(inner) = &self.inner else { return };
        // Counted before it is sent, so the writer never takes more than was counted.
        let n = inner.queued.fetch_add(1, Ordering::AcqRel) + 1;
        match inner.tx.try_send(Msg::Record(Box::new(r))) {
            Ok(()) => {
                if n == 1 || n.is_multiple_of(WAKE_EVERY) {
                    inner.wake(n > 1);
                }
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                inner.queued.fetch_sub(1, Ordering::AcqRel);
                let n = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!(DROPPED_METRIC).increment(1);
                let now = inner.epoch.elapsed().as_millis() as u64 + 1;
                let last = inner.last_warn.load(Ordering::Relaxed);
                if (last == 0 || now.saturating_sub(last) >= WARN_EVERY_MS)
                    && inner
                        .last_warn
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        dropped_total = n,
                        "usage queue full: dropping usage records (the database is slow or locked)"
                    );
                }
            }
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.dropped.load(Ordering::Relaxed))
    }

    /// Waits (up to `timeout`) until everything queued so far is written.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(inner) = &self.inner else {
            return true;
        };
        let (tx, rx) = sync_channel(1);
        let deadline = Instant::now() + timeout;
        let mut msg = Msg::Flush(tx);
        loop {
            match inner.tx.try_send(msg) {
                Ok(()) => {
                    inner.wake(true);
                    break;
                }
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    inner.wake(true);
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return false,
            }
        }
        rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// A recorder and the receiving end of its queue (for the writer, and for tests).
fn channel(capacity: usize) -> (Recorder, Receiver<Msg>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    let r = Recorder {
        inner: Some(Arc::new(Inner {
            tx,
            dropped: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            epoch: Instant::now(),
            queued: AtomicUsize::new(0),
            urgent: AtomicBool::new(false),
            writer: OnceLock::new(),
        })),
    };
    (r, rx)
}

/// The writer thread; [`Writer::close`] writes what is queued and stops it.
pub struct Writer {
    recorder: Recorder,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    /// Opens the database at `path` and starts the writer. An unusable database is
    /// reported and usage is not recorded; the gateway serves on regardless.
    pub fn start(path: PathBuf, retention_days: u32, capacity: usize) -> Result<Writer, String> {
        let conn = db::open_rw(&path).map_err(|e| e.to_string())?;
        let (recorder, rx) = channel(capacity);
        // Registered at zero so dashboards see the series before the first drop.
        metrics::counter!(DROPPED_METRIC).increment(0);
        // The writer holds the state weakly: its last strong handle going away is
        // what tells it to finish.
        let weak = recorder.inner.as_ref().map(Arc::downgrade);
        let handle = std::thread::Builder::new()
            .name("cliproxy-usage".into())
            .spawn(move || run(conn, rx, weak, retention_days))
            .map_err(|e| format!("starting the usage writer: {e}"))?;
        if let Some(inner) = &recorder.inner {
            let _ = inner.writer.set(handle.thread().clone());
        }
        Ok(Writer {
            recorder,
            handle: Some(handle),
        })
    }

    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// Writes what is queued (waiting at most `timeout`) and lets the thread end once
    /// the last recorder handle is gone.
    pub fn close(mut self, timeout: Duration) {
        if !self.recorder.flush(timeout) {
            tracing::warn!("usage writer did not finish in time; recent records may be missing");
        }
        // The thread ends when every sender is dropped; do not wait for handles held
        // elsewhere (a worker still finishing a stream).
        self.handle.take();
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn prune(conn: &rusqlite::Connection, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    match db::prune(conn, now_ms(), retention_days) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            removed = n,
            retention_days,
            "usage records past retention removed"
        ),
        Err(e) => tracing::warn!(error = %e, "pruning usage records failed"),
    }
}

fn write(conn: &mut rusqlite::Connection, batch: &mut Vec<UsageRecord>) {
    if batch.is_empty() {
        return;
    }
    // One retry covers a lock held past the busy timeout by another gateway.
    for attempt in 0..2 {
        match db::insert(conn, batch) {
            Ok(_) => {
                batch.clear();
                return;
            }
            Err(e) if attempt == 0 => {
                tracing::debug!(error = %e, "usage write failed; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                tracing::warn!(error = %e, lost = batch.len(), "usage records could not be written");
                metrics::counter!(WRITE_FAILED_METRIC).increment(batch.len() as u64);
            }
        }
    }
    batch.clear();
}

/// Waits until there is something to write: parked while idle, then (unless a flush
/// or a full batch asks for it now) gathering for up to [`GATHER`].
fn wait_for_work(inner: &std::sync::Weak<Inner>, next_prune: Instant) {
    let busy = |i: &Inner| i.queued.load(Ordering::Acquire) > 0;
    let urgent = |i: &Inner| i.urgent.swap(false, Ordering::AcqRel);
    match inner.upgrade() {
        Some(i) if urgent(&i) => return,
        Some(i) if busy(&i) => {}
        Some(_) => {
            std::thread::park_timeout(next_prune.saturating_duration_since(Instant::now()));
            match inner.upgrade() {
                Some(i) if urgent(&i) => return,
                Some(i) if busy(&i) => {}
                _ => return,
            }
        }
        None => return,
    }
    let deadline = Instant::now() + GATHER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::park_timeout(left);
        match inner.upgrade() {
            Some(i) if !urgent(&i) => {}
            _ => return,
        }
    }
}

fn run(
    mut conn: rusqlite::Connection,
    rx: Receiver<Msg>,
    inner: Option<std::sync::Weak<Inner>>,
    retention_days: u32,
) {
    prune(&conn, retention_days);
    let inner = inner.unwrap_or_default();
    let mut next_prune = Instant::now() + PRUNE_EVERY;
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(64);
    loop {
        wait_for_work(&inner, next_prune);
        // Everything queued is written, in transactions of up to MAX_BATCH records;
        // a flush is answered once what was queued before it is written.
        let mut closed = false;
        loop {
            let mut acks = Vec::new();
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(Msg::Record(r)) => batch.push(*r),
                    Ok(Msg::Flush(ack)) => acks.push(ack),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let taken = batch.len();
            if let Some(i) = inner.upgrade() {
                i.queued.fetch_sub(taken, Ordering::AcqRel);
            }
            write(&mut conn, &mut batch);
            for a in acks {
                let _ = a.try_send(());
            }
            if taken < MAX_BATCH {
                break;
            }
        }
        if closed {
            return;
        }
        if Instant::now() >= next_prune {
            prune(&conn, retention_days);
            next_prune = Instant::now() + PRUNE_EVERY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: i64) -> UsageRecord {
        UsageRecord {
            at_ms: n,
            client_key: "open".into(),
            model_requested: "m".into(),
            status: 200,
            ..Default::default()
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        // Nobody drains this queue: it stands for a writer stuck on a locked database.
        let (r, rx) = channel(3);
        for n in 0..10 {
            r.record(rec(n));
        }
        assert_eq!(r.dropped(), 7);
        let queued = rx.try_iter().count();
        assert_eq!(queued, 3);
        // Room again: records are queued, the drop count stays.
        r.record(rec(11));
        assert_eq!(r.dropped(), 7);
        assert_eq!(rx.try_iter().count(), 1);
    }

    #[test]
    fn a_disabled_recorder_ignores_records() {
        let r = Recorder::disabled();
        r.record(rec(1));
        assert_eq!(r.dropped(), 0);
        assert!(r.flush(Duration::from_millis(10)));
    }

    #[test]
    fn the_writer_stores_records_and_flush_waits_for_them() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("u.sqlite");
        let w = Writer::start(p.clone(), 90, 64).unwrap();
        let r = w.recorder();
        let now = now_ms();
        for n in 0..25 {
            r.record(rec(now + n));
        }
        assert!(r.flush(Duration::from_secs(30)));
        let c = db::open_ro(&p).unwrap().unwrap();
        assert_eq!(db::count(&c, 0).unwrap(), 25);
        w.close(Duration::from_secs(30));
    }
}
