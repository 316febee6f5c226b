//! The log file of `logging-to-file: true`: every line the gateway logs to standard
//! error also goes to `main.log` (no colour codes), rotated to `main.log.1` past
//! [`MAX_BYTES`]. The management `logs` endpoints read it and clear it. The lines are
//! the same as on standard error: they carry no secrets.
//!
//! One per process, set when logging starts ([`install`]); the endpoints find it with
//! [`active`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// File name of the current log, as CLIProxyAPI names it.
pub const MAIN: &str = "main.log";
/// Size at which `main.log` becomes `main.log.1` (CLIProxyAPI rotates at 10 MB).
pub const MAX_BYTES: u64 = 10 << 20;

/// Where the log goes: `$WRITABLE_PATH/logs` when set (CLIProxyAPI's variable), else a
/// `.logs` folder in the auth folder (the dot keeps it out of the auth scan, the
/// reload watcher and every sync location).
pub fn dir(writable_path: Option<&str>, auth_dir: &Path) -> PathBuf {
    match writable_path.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Path::new(p).join("logs"),
        None => auth_dir.join(".logs"),
    }
}

pub struct LogFile {
    dir: PathBuf,
    max: u64,
    file: Mutex<Option<(File, u64)>>,
}

static ACTIVE: OnceLock<Arc<LogFile>> = OnceLock::new();

/// The process's log file, when logging to file is on.
pub fn active() -> Option<Arc<LogFile>> {
    ACTIVE.get().cloned()
}

/// Opens `dir/main.log` for appending and makes it the process's log file.
pub fn install(dir: &Path) -> io::Result<Arc<LogFile>> {
    let lf = Arc::new(LogFile::open(dir, MAX_BYTES)?);
    Ok(ACTIVE.get_or_init(|| lf).clone())
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl LogFile {
    pub fn open(dir: &Path, max: u64) -> io::Result<LogFile> {
        crate::store::ensure_private_dir(dir)?;
        let f = open_append(&dir.join(MAIN))?;
        let len = f.metadata()?.len();
        Ok(LogFile {
            dir: dir.to_path_buf(),
            max,
            file: Mutex::new(Some((f, len))),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn main_path(&self) -> PathBuf {
        self.dir.join(MAIN)
    }

    fn rotated_path(&self) -> PathBuf {
        self.dir.join(format!("{MAIN}.1"))
    }

    fn write_line(&self, buf: &[u8]) -> io::Result<()> {
        let mut g = self.file.lock();
        if g.as_ref()
            .is_some_and(|(_, len)| *len + buf.len() as u64 > self.max)
        {
            *g = None;
            std::fs::rename(self.main_path(), self.rotated_path())?;
        }
        if g.is_none() {
            *g = Some((open_append(&self.main_path())?, 0));
        }
        if let Some((f, len)) = g.as_mut() {
            f.write_all(buf)?;
            *len += buf.len() as u64;
        }
        Ok(())
    }

    /// Empties `main.log` and removes the rotated file; answers how many files went.
    pub fn clear(&self) -> io::Result<usize> {
        let mut g = self.file.lock();
        let f = open_append(&self.main_path())?;
        f.set_len(0)?;
        *g = Some((f, 0));
        match std::fs::remove_file(self.rotated_path()) {
            Ok(()) => Ok(1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// The last `window` bytes of the log (the rotated file first), cut to whole lines.
    pub fn tail(&self, window: u64) -> io::Result<String> {
        let _g = self.file.lock();
        let mut out = Vec::new();
        let mut left = window;
        let mut parts = Vec::new();
        for path in [self.main_path(), self.rotated_path()] {
            if left == 0 {
                break;
            }
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let len = f.metadata()?.len();
            let take = len.min(left);
            f.seek(SeekFrom::Start(len - take))?;
            let mut buf = Vec::with_capacity(take as usize);
            f.take(take).read_to_end(&mut buf)?;
            left -= take;
            parts.push((buf, take < len));
        }
        for (i, (buf, cut)) in parts.iter().rev().enumerate() {
            // A window that starts mid-line drops that partial line.
            let start = if *cut && i == 0 {
                buf.iter()
                    .position(|b| *b == b'\n')
                    .map_or(buf.len(), |p| p + 1)
            } else {
                0
            };
            out.extend_from_slice(&buf[start..]);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// One log line going to the file (tracing's writer for the file layer).
pub struct Line(pub Arc<LogFile>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_rotate_past_the_limit_and_clear_empties_both_files() {
        let d = tempfile::tempdir().unwrap();
        let lf = Arc::new(LogFile::open(d.path(), 64).unwrap());
        let mut w = Line(lf.clone());
        for i in 0..6 {
            w.write_all(format!("line {i:02} ......................\n").as_bytes())
                .unwrap();
        }
        assert!(lf.rotated_path().is_file());
        assert!(std::fs::metadata(lf.main_path()).unwrap().len() <= 64);
        let all = lf.tail(1 << 20).unwrap();
        assert!(all.ends_with("line 05 ......................\n"), "{all}");
        assert!(all.contains("line 03"), "{all}");
        // A small window keeps only whole lines.
        let tail = lf.tail(40).unwrap();
        assert_eq!(tail, "line 05 ......................\n");

        assert_eq!(lf.clear().unwrap(), 1);
        assert_eq!(lf.tail(1 << 20).unwrap(), "");
        w.write_all(b"after\n").unwrap();
        assert_eq!(lf.tail(1 << 20).unwrap(), "after\n");
    }

    #[test]
    fn the_log_goes_to_writable_path_else_a_hidden_folder_of_the_auth_dir() {
        let auth = Path::new("/a/auths");
        assert_eq!(dir(Some("/w"), auth), Path::new("/w/logs"));
        assert_eq!(dir(Some(" "), auth), Path::new("/a/auths/.logs"));
        assert_eq!(dir(None, auth), Path::new("/a/auths/.logs"));
    }
}
