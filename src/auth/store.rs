//! Reads the auth folder: every top-level `*.json`; broken files are reported and skipped.

use std::path::Path;

use super::{AuthFile, AuthFileError};

#[derive(Debug, Default, Clone)]
pub struct AuthScan {
    pub files: Vec<AuthFile>,
    pub broken: Vec<AuthFileError>,
}

/// Scans `dir`. A missing folder is an empty scan (a fresh machine has none yet).
pub fn scan(dir: &Path) -> AuthScan {
    let mut scan = AuthScan::default();
    crate::store::sweep_stale_temps(dir);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return scan,
        Err(e) => {
            scan.broken.push(AuthFileError {
                path: dir.display().to_string(),
                message: format!("cannot read folder: {e}"),
            });
            return scan;
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for p in paths {
        match std::fs::read(&p) {
            Ok(bytes) => match AuthFile::parse(&p, &bytes) {
                Ok(f) => scan.files.push(f),
                Err(e) => scan.broken.push(e),
            },
            Err(e) => scan.broken.push(AuthFileError {
                path: p.display().to_string(),
                message: e.to_string(),
            }),
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reads_json_files_and_reports_broken_ones() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("claude-a@x.json"),
            br#"{"type":"claude","email":"a@x"}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("codex-b@x.json"), br#"{"type":"codex"}"#).unwrap();
        std::fs::write(d.path().join("broken.json"), b"{\"type\":\"cla").unwrap();
        std::fs::write(d.path().join("notes.txt"), b"hi").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/x.json"), br#"{"type":"claude"}"#).unwrap();
        let s = scan(d.path());
        let names: Vec<_> = s.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["claude-a@x.json", "codex-b@x.json"]);
        assert_eq!(s.broken.len(), 1);
        assert!(s.broken[0].path.ends_with("broken.json"));
    }

    #[test]
    fn missing_folder_is_empty() {
        let s = scan(Path::new("/nonexistent/auths"));
        assert!(s.files.is_empty() && s.broken.is_empty());
    }
}
