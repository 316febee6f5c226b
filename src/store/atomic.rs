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
    fn sha256_is_hex_of_content() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
