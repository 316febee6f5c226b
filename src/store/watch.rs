//! Folder watching with a quiet-period debounce that keeps every event.
//!
//! notify-debouncer-full nets out a file created and removed inside one window: neither
//! event is delivered. A reader that saw the file in between (a reload or a sync run
//! started by another change) would then never learn it went away; under load, when
//! the debouncer's timer thread runs late, that window is wide. Here every event from
//! the OS reaches the reader, batched until the folders have been quiet for a moment.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Events held between batches; beyond this a batch only says that something changed.
const QUEUE: usize = 4096;
/// A folder written without pause still yields a batch this many quiet periods after
/// its first event.
const MAX_WAIT_QUIETS: u32 = 10;

/// What changed since the last batch.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<notify::Event>,
    /// More events came than were kept: treat every watched file as changed.
    pub overflowed: bool,
}

impl Batch {
    /// The paths of events that may mean new content, each once.
    pub fn changed_paths(&self) -> std::collections::BTreeSet<&Path> {
        self.events
            .iter()
            .filter(|e| changes_content(&e.kind))
            .flat_map(|e| e.paths.iter().map(|p| p.as_path()))
            .collect()
    }
}

/// Whether an event can mean new content. Reads (opens, closes without writing,
/// access times) cannot: counting them made the watcher wake itself by reading.
pub fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
    match kind {
        // Closing a file written in place is the end of a write.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

pub struct FolderWatch {
    // Dropping the watcher ends the watch and closes the channel.
    watcher: notify::RecommendedWatcher,
    rx: mpsc::Receiver<notify::Event>,
    overflowed: Arc<AtomicBool>,
}

impl FolderWatch {
    pub fn new() -> notify::Result<FolderWatch> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let flag = overflowed.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            match res {
                Ok(ev) => {
                    if tx.try_send(ev).is_err() {
                        flag.store(true, Ordering::Release);
                    }
                }
                // The OS dropped events (queue overflow): the reader rescans.
                Err(e) => {
                    tracing::warn!(error = %e, "folder watch error");
                    flag.store(true, Ordering::Release);
                }
            }
        })?;
        Ok(FolderWatch {
            watcher,
            rx,
            overflowed,
        })
    }

    /// Watches `dir` (not its subfolders).
    pub fn add(&mut self, dir: &Path) -> notify::Result<()> {
        self.watcher.watch(dir, RecursiveMode::NonRecursive)
    }

    /// Waits for a change, then until no event has come for `quiet` (or ten quiet
    /// periods since the first): what came meanwhile. `None` once the watch has ended.
    pub async fn next(&mut self, quiet: Duration) -> Option<Batch> {
        let first = self.rx.recv().await?;
        let mut batch = Batch {
            events: vec![first],
            overflowed: false,
        };
        let until = tokio::time::Instant::now() + quiet * MAX_WAIT_QUIETS;
        loop {
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(ev) if batch.events.len() < QUEUE => batch.events.push(ev),
                    Some(_) => batch.overflowed = true,
                    None => break,
                },
                _ = tokio::time::sleep(quiet) => break,
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        batch.overflowed |= self.overflowed.swap(false, Ordering::AcqRel);
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_events_that_can_change_content_count() {
        use notify::EventKind;
        use notify::event::{
            AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, ModifyKind, RemoveKind,
            RenameMode,
        };
        let cases = [
            (EventKind::Access(AccessKind::Open(AccessMode::Read)), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (EventKind::Access(AccessKind::Read), false),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
                false,
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                true,
            ),
            (EventKind::Create(CreateKind::File), true),
            (
                EventKind::Modify(ModifyKind::Data(DataChange::Content)),
                true,
            ),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (EventKind::Remove(RemoveKind::File), true),
            (EventKind::Any, true),
        ];
        for (kind, want) in cases {
            assert_eq!(changes_content(&kind), want, "{kind:?}");
        }
    }

    fn names(b: &Batch) -> Vec<String> {
        b.events
            .iter()
            .flat_map(|e| &e.paths)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }

    #[tokio::test]
    async fn a_file_created_and_removed_within_one_window_is_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FolderWatch::new().unwrap();
        w.add(dir.path()).unwrap();
        let p = dir.path().join("short-lived.json");
        std::fs::write(&p, b"{}").unwrap();
        std::fs::remove_file(&p).unwrap();
        let b = tokio::time::timeout(Duration::from_secs(10), w.next(Duration::from_millis(100)))
            .await
            .unwrap()
            .unwrap();
        let kinds: Vec<_> = b.events.iter().map(|e| e.kind).collect();
        assert!(names(&b).iter().all(|n| n == "short-lived.json"), "{b:?}");
        assert!(
            kinds.iter().any(|k| k.is_create()) && kinds.iter().any(|k| k.is_remove()),
            "both the creation and the removal come through: {kinds:?}"
        );
    }

    #[tokio::test]
    async fn events_that_come_together_make_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FolderWatch::new().unwrap();
        w.add(dir.path()).unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.json")), b"{}").unwrap();
        }
        let b = tokio::time::timeout(Duration::from_secs(10), w.next(Duration::from_millis(300)))
            .await
            .unwrap()
            .unwrap();
        let mut seen = names(&b);
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["0.json", "1.json", "2.json", "3.json", "4.json"]);
        // Nothing else is pending.
        assert!(
            tokio::time::timeout(
                Duration::from_millis(400),
                w.next(Duration::from_millis(50))
            )
            .await
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_reported_as_overflow_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FolderWatch::new().unwrap();
        w.add(dir.path()).unwrap();
        let p = dir.path().join("busy.json");
        // Each write makes several events (create/modify/close): well past the queue.
        for _ in 0..QUEUE {
            std::fs::write(&p, b"{}").unwrap();
        }
        let b = tokio::time::timeout(Duration::from_secs(20), w.next(Duration::from_millis(200)))
            .await
            .unwrap()
            .unwrap();
        assert!(b.events.len() <= QUEUE);
        assert!(b.overflowed, "{} events kept", b.events.len());
    }
}
