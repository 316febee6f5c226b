use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` as lowercase hex: the identity of an auth file's content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Creates `dir` (and parents) with mode 0700 for the directories we create.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

const TEMP_PREFIX: &str = ".tmp-";
const TEMP_SUFFIX: &str = ".partial";
/// A temp file this old is abandoned whoever wrote it (our files take milliseconds).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Grace for a temp file whose writer is not a live process here: on a folder shared with
/// another machine (a `file://` bucket on a NAS) that pid means nothing locally.
const DEAD_WRITER_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `name` is one of [`write_atomic`]'s temp files, and the pid that wrote it.
fn temp_writer(name: &str) -> Option<Option<u32>> {
    let rest = name.strip_prefix(TEMP_PREFIX)?.strip_suffix(TEMP_SUFFIX)?;
    Some(rest.split('-').next().and_then(|p| p.parse().ok()))
}

/// Whether process `pid` is alive on this machine; `None` where that cannot be told.
fn process_alive(pid: u32) -> Option<bool> {
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return None;
    }
    Some(Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes temp files left in `dir` by a writer that died between creating and renaming
/// them (kill -9, power loss): a dead writer's after a short grace, anyone's after 15 min.
/// They are never read (names starting with `.` are skipped), only cluttered.
pub fn sweep_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(writer) = temp_writer(&name.to_string_lossy()) else {
            continue;
        };
        let age = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default();
        let dead = writer
            .filter(|pid| *pid != std::process::id())
            .and_then(process_alive)
            .is_some_and(|alive| !alive);
        if age >= ABANDONED_AFTER || (dead && age >= DEAD_WRITER_GRACE) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to `path` so that a reader (or a crash) only ever sees the old
/// content or the new one: temp file in the same folder, mode 0600, fsync,
/// rename over the target, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure_private_dir(dir)?;
    sweep_stale_temps(dir);
    // The writer's pid in the name lets a later sweep tell an abandoned temp file (its
    // writer was killed between create and rename) from one still being written.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Like [`write_atomic`], but the new content becomes visible before it is flushed: for a
/// refreshed token, whose predecessor the provider has already spent, so there is nothing
/// worth keeping on power loss and every moment before the rename is a moment in which
/// the process dying (kill -9, a crash) loses the only valid token. Still atomic for readers.
pub fn write_atomic_visible_first(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    let file = tmp.persist(path).map_err(|e| e.error)?;
    file.sync_all()?;
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    sweep_stale_temps(dir);
    Ok(())
}

/// Writes `bytes` to `path` only if the file still holds the version the caller saw:
/// `expect` is the SHA-256 of that content, or `None` for "no file". Returns whether it wrote.
///
/// Other programs (the CCS tool, another gateway's refresh) write these folders without any
/// lock, so checking and then renaming would overwrite a write landing in between. Where the
/// kernel can swap two names atomically (Linux, macOS), the new file is swapped in and what
/// came out is checked: if it is not the expected version, it is swapped back. Elsewhere it
/// falls back to check-then-rename.
pub fn replace_if(path: &Path, bytes: &[u8], expect: Option<&str>) -> std::io::Result<bool> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure_private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    let (_file, tmp_path) = tmp.keep().map_err(|e| e.error)?;
    let result = swap::replace_if(&tmp_path, path, expect, &sha256_hex(bytes));
    let _ = std::fs::remove_file(&tmp_path);
    if matches!(result, Ok(true)) {
        #[cfg(unix)]
        {
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    result
}

fn hash_of(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(sha256_hex(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod swap {
    use std::path::Path;

    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;

    use super::hash_of;

    fn unsupported(e: Errno) -> bool {
        // Filesystems without the flags (some network mounts) say so with EINVAL/ENOSYS.
        e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP
    }

    pub fn replace_if(
        tmp: &Path,
        path: &Path,
        expect: Option<&str>,
        ours: &str,
    ) -> std::io::Result<bool> {
        match expect {
            None => match renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) => Ok(false),
                Err(e) if unsupported(e) => super::fallback::replace_if(tmp, path, expect, ours),
                Err(e) => Err(e.into()),
            },
            Some(want) => {
                match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
                    Ok(()) => {}
                    Err(Errno::NOENT) => return Ok(false),
                    Err(e) if unsupported(e) => {
                        return super::fallback::replace_if(tmp, path, expect, ours);
                    }
                    Err(e) => return Err(e.into()),
                }
                // `tmp` now holds what was there: the expected version, or a write that won.
                if hash_of(tmp)?.as_deref() == Some(want) {
                    return Ok(true);
                }
                // Put the winner back. Had a third write landed meanwhile, that swap brought
                // the earlier winner back over it: one more swap restores the newest.
                renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE)?;
                if hash_of(tmp)?.as_deref() != Some(ours) {
                    renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE)?;
                }
                Ok(false)
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod swap {
    pub use super::fallback::replace_if;
}

mod fallback {
    use std::path::Path;

    use super::hash_of;

    /// Check, then rename: a write landing between the two is overwritten.
    pub fn replace_if(
        tmp: &Path,
        path: &Path,
        expect: Option<&str>,
        _ours: &str,
    ) -> std::io::Result<bool> {
        if hash_of(path)?.as_deref() != expect {
            return Ok(false);
        }
        std::fs::rename(tmp, path)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
        }
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn temp_files_of_dead_writers_are_swept_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 is never a process a folder writer could have; our own pid is alive.
        let dead = dir.path().join(".tmp-0-abc.partial");
        let live = dir
            .path()
            .join(format!(".tmp-{}-def.partial", std::process::id()));
        let other = dir.path().join(".tmp-notes.txt");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&dead)
            .unwrap()
            .set_modified(old)
            .unwrap();
        sweep_stale_temps(dir.path());
        if process_alive(1).is_some() {
            assert!(!dead.exists(), "a dead writer's temp file is removed");
        }
        assert!(live.exists(), "a live writer's temp file stays");
        assert!(other.exists(), "only our own temp files are touched");
        assert_eq!(temp_writer(".tmp-42-x1y2.partial"), Some(Some(42)));
        assert_eq!(temp_writer("a.json"), None);
    }

    #[test]
    fn replace_if_writes_only_over_the_expected_version() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        assert!(replace_if(&p, b"one", None).unwrap(), "absent as expected");
        assert!(!replace_if(&p, b"two", None).unwrap(), "no longer absent");
        assert!(!replace_if(&p, b"two", Some(&sha256_hex(b"other"))).unwrap());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"one",
            "a refused write changes nothing"
        );
        assert!(replace_if(&p, b"two", Some(&sha256_hex(b"one"))).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let missing = dir.path().join("b.json");
        assert!(!replace_if(&missing, b"x", Some(&sha256_hex(b"one"))).unwrap());
        assert!(!missing.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.json"], "no temp files left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    /// Another program renames new versions in as fast as it can while we compare-and-swap.
    /// After each of its writes it reads the file back once no swap of ours is in flight: it
    /// must find its own version, or one of ours written over exactly its version (directly or
    /// through a chain of our writes). Anything else means one of our writes landed on a
    /// version we never saw. (Mid-swap, a losing write of ours is visible for an instant
    /// before it is swapped back out; check-then-rename instead loses the other write for good.)
    #[test]
    fn replace_if_never_overwrites_a_racing_write() {
        use std::collections::HashMap;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, b"v0").unwrap();
        // Our writes: new content hash -> the hash it was written over.
        let over: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight: Arc<Mutex<()>> = Arc::default();
        let writer = {
            let (p, stop, over) = (p.clone(), stop.clone(), over.clone());
            let in_flight = in_flight.clone();
            std::thread::spawn(move || {
                let (mut n, mut lost) = (0u32, 0u32);
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let theirs = format!("theirs-{n}");
                    let tmp = p.with_extension(format!("w{n}"));
                    std::fs::write(&tmp, &theirs).unwrap();
                    std::fs::rename(&tmp, &p).unwrap();
                    let want = sha256_hex(theirs.as_bytes());
                    let settled = in_flight.lock().unwrap();
                    let mut h = sha256_hex(&std::fs::read(&p).unwrap());
                    drop(settled);
                    let over = over.lock().unwrap();
                    while h != want {
                        match over.get(&h) {
                            Some(prev) => h = prev.clone(),
                            None => {
                                lost += 1;
                                break;
                            }
                        }
                    }
                }
                (n, lost)
            })
        };
        let mut ours_won = 0;
        for i in 0..3000 {
            let seen = sha256_hex(&std::fs::read(&p).unwrap());
            let mine = format!("ours-{i}");
            let ours = sha256_hex(mine.as_bytes());
            over.lock().unwrap().insert(ours.clone(), seen.clone());
            // The temp file is ready before the race window opens (as in `replace_if`).
            let tmp = dir.path().join(format!(".tmp-ours-{i}"));
            std::fs::write(&tmp, &mine).unwrap();
            let _swap = in_flight.lock().unwrap();
            if swap::replace_if(&tmp, &p, Some(&seen), &ours).unwrap() {
                ours_won += 1;
            }
            let _ = std::fs::remove_file(&tmp);
        }
        stop.store(true, Ordering::Relaxed);
        let (theirs, lost) = writer.join().unwrap();
        assert_eq!(
            lost, 0,
            "{lost} of {theirs} racing writes were overwritten unseen"
        );
        assert!(ours_won > 0 && theirs > 0);
    }

    #[test]
    fn sha256_is_hex_of_content() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
