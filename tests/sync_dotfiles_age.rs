//! The dotfiles copy (a git repository) is written encrypted with age, through the real
//! binary: `sync once`, bootstrap of an empty machine from it, migration of plaintext
//! copies, refusal to write plaintext without a key or an opt-out, no rewrites of
//! unchanged tokens, and a wrong key that leaves the copy alone.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cliproxy::store::seal::{AgeKey, is_sealed};

const BIN: &str = env!("CARGO_BIN_EXE_cliproxy");

fn token(email: &str, access: &str) -> Vec<u8> {
    format!(
        "{{\"type\":\"claude\",\"email\":\"{email}\",\"access_token\":\"{access}\",\"refresh_token\":\"rt-{access}\",\"last_refresh\":\"2026-01-01T00:00:00Z\",\"expired\":\"2030-01-01T00:00:00Z\"}}\n"
    )
    .into_bytes()
}

/// One machine: a HOME with an auth folder, a dotfiles copy and a config using both.
struct Machine {
    home: tempfile::TempDir,
}

impl Machine {
    /// `dotfiles_yaml`: extra lines under `sync.dotfiles:`.
    fn new(dots: &Path, dotfiles_yaml: &str) -> Machine {
        let home = tempfile::tempdir().unwrap();
        let m = Machine { home };
        std::fs::create_dir_all(m.auths()).unwrap();
        std::fs::write(
            m.home.path().join("config.yaml"),
            format!(
                "auth-dir: {}\nsync:\n  ccs-dir: \"\"\n  dotfiles-dir: {}\n  state-dir: {}\n  dotfiles:\n    plaintext: false\n{dotfiles_yaml}",
                m.auths().display(),
                dots.display(),
                m.home.path().join("state").display()
            ),
        )
        .unwrap();
        m
    }
    fn auths(&self) -> PathBuf {
        self.home.path().join("auths")
    }
    fn env_file(&self, key: Option<&AgeKey>) -> PathBuf {
        let p = self.home.path().join(".env");
        let body = match key {
            Some(k) => format!("CLIPROXY_DOTFILES_AGE_KEY={}\n", k.secret_string()),
            None => String::new(),
        };
        std::fs::write(&p, body).unwrap();
        p
    }
    fn sync_once(&self, env_file: &Path) -> (Output, String) {
        self.run(&["sync", "once"], env_file)
    }
    fn run(&self, args: &[&str], env_file: &Path) -> (Output, String) {
        let o = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.home.path().join("config.yaml"))
            .arg("--env-file")
            .arg(env_file)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "debug")
            .current_dir(self.home.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o, text)
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn sync_once_writes_the_dotfiles_copy_encrypted_and_never_rewrites_unchanged_tokens() {
    let dots = tempfile::tempdir().unwrap();
    let key = AgeKey::generate("test");
    let m = Machine::new(dots.path(), "");
    let env = m.env_file(Some(&key));
    let (a, b) = ("claude-a@x.com.json", "claude-b@x.com.json");
    std::fs::write(m.auths().join(a), token("a@x.com", "at-secret-aaaa")).unwrap();
    std::fs::write(m.auths().join(b), token("b@x.com", "at-secret-bbbb")).unwrap();

    let (o, out) = m.sync_once(&env);
    assert!(o.status.success(), "{out}");
    assert!(
        !out.contains(&key.secret_string()),
        "the identity is never printed"
    );
    let (_, out) = m.run(&["doctor"], &env);
    assert!(
        out.contains(&format!(
            "dotfiles copy encrypted with age (recipient {}, key from CLIPROXY_DOTFILES_AGE_KEY)",
            key.recipient()
        )),
        "{out}"
    );
    assert!(!out.contains(&key.secret_string()), "{out}");
    assert_eq!(files(dots.path()), vec![a.to_string(), b.to_string()]);
    for (name, access) in [(a, "at-secret-aaaa"), (b, "at-secret-bbbb")] {
        let disk = read(&dots.path().join(name));
        assert!(is_sealed(&disk), "{name} is age-encrypted");
        assert!(!String::from_utf8_lossy(&disk).contains(access));
        assert_eq!(key.open(&disk).unwrap(), read(&m.auths().join(name)));
    }
    let before = (read(&dots.path().join(a)), read(&dots.path().join(b)));

    // Nothing changed: nothing written (re-encryption would give other bytes).
    let (o, out) = m.sync_once(&env);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("file writes=0"), "{out}");
    // Not even with the base state lost (identity is the plaintext's hash).
    std::fs::remove_dir_all(m.home.path().join("state")).unwrap();
    let (o, out) = m.sync_once(&env);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("file writes=0"), "{out}");
    assert_eq!(
        (read(&dots.path().join(a)), read(&dots.path().join(b))),
        before
    );

    // A changed token is re-encrypted; the other file's bytes stay as they were.
    std::fs::write(m.auths().join(a), token("a@x.com", "at-secret-a2")).unwrap();
    let (o, out) = m.sync_once(&env);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("file writes=1"), "{out}");
    let disk = read(&dots.path().join(a));
    assert!(is_sealed(&disk));
    assert_eq!(key.open(&disk).unwrap(), token("a@x.com", "at-secret-a2"));
    assert_eq!(read(&dots.path().join(b)), before.1);
}

#[test]
fn an_empty_machine_bootstraps_from_the_encrypted_copy_with_a_key_file() {
    let dots = tempfile::tempdir().unwrap();
    let key = AgeKey::generate("test");
    let first = Machine::new(dots.path(), "");
    let env = first.env_file(Some(&key));
    let name = "claude-a@x.com.json";
    std::fs::write(first.auths().join(name), token("a@x.com", "at-boot")).unwrap();
    let (o, out) = first.sync_once(&env);
    assert!(o.status.success(), "{out}");

    // A fresh machine: the dotfiles repository checked out, the key in a key file.
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key_file.path(),
        format!(
            "# public key: {}\n{}\n",
            key.recipient(),
            key.secret_string()
        ),
    )
    .unwrap();
    let fresh = Machine::new(
        dots.path(),
        &format!("    age-key-file: {}\n", key_file.path().display()),
    );
    let (o, out) = fresh.sync_once(&fresh.env_file(None));
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("bootstrapping from the dotfiles copy"),
        "{out}"
    );
    assert_eq!(
        read(&fresh.auths().join(name)),
        token("a@x.com", "at-boot"),
        "the auth folder gets the plaintext token"
    );
    assert!(is_sealed(&read(&dots.path().join(name))));

    // Rolling back from the encrypted copy: `auth restore --from dotfiles` decrypts it.
    std::fs::write(fresh.auths().join(name), token("a@x.com", "at-later")).unwrap();
    let (o, out) = fresh.run(&["sync", "once"], &fresh.env_file(None));
    assert!(o.status.success(), "{out}");
    let later = read(&dots.path().join(name));
    assert_eq!(key.open(&later).unwrap(), token("a@x.com", "at-later"));
    // The user checks the older (encrypted) version out of git history, then restores it.
    let older = key.seal(&token("a@x.com", "at-boot")).unwrap();
    std::fs::write(dots.path().join(name), &older).unwrap();
    let (o, out) = fresh.run(
        &["auth", "restore", name, "--from", "dotfiles"],
        &fresh.env_file(None),
    );
    assert!(o.status.success(), "{out}");
    assert_eq!(read(&fresh.auths().join(name)), token("a@x.com", "at-boot"));
}

#[test]
fn plaintext_copies_are_encrypted_in_place_and_nothing_is_lost() {
    let dots = tempfile::tempdir().unwrap();
    let key = AgeKey::generate("test");
    let m = Machine::new(dots.path(), "");
    let shared = "claude-a@x.com.json";
    let only_here = "claude-old@x.com.json";
    std::fs::write(m.auths().join(shared), token("a@x.com", "at-shared")).unwrap();
    std::fs::write(dots.path().join(shared), token("a@x.com", "at-shared")).unwrap();
    std::fs::write(dots.path().join(only_here), token("old@x.com", "at-only")).unwrap();

    let (o, out) = m.sync_once(&m.env_file(Some(&key)));
    assert!(o.status.success(), "{out}");
    for n in [shared, only_here] {
        assert!(
            out.contains(&format!("encrypt dotfiles {n} (was plaintext)")),
            "{out}"
        );
    }
    assert_eq!(
        files(dots.path()),
        vec![shared.to_string(), only_here.to_string()],
        "no temp file or plaintext left beside them"
    );
    assert_eq!(
        key.open(&read(&dots.path().join(shared))).unwrap(),
        token("a@x.com", "at-shared")
    );
    assert_eq!(
        key.open(&read(&dots.path().join(only_here))).unwrap(),
        token("old@x.com", "at-only")
    );
    let (o, out) = m.sync_once(&m.env_file(Some(&key)));
    assert!(o.status.success() && out.contains("file writes=0"), "{out}");
}

#[test]
fn without_a_key_or_an_opt_out_plaintext_is_refused_naming_the_settings() {
    let dots = tempfile::tempdir().unwrap();
    let m = Machine::new(dots.path(), "");
    let name = "claude-a@x.com.json";
    std::fs::write(m.auths().join(name), token("a@x.com", "at-refused")).unwrap();
    let (o, out) = m.sync_once(&m.env_file(None));
    assert_eq!(o.status.code(), Some(1), "{out}");
    for setting in [
        "CLIPROXY_DOTFILES_AGE_KEY",
        "sync.dotfiles.age-key-file",
        "sync.dotfiles.plaintext: true",
    ] {
        assert!(out.contains(setting), "names {setting}: {out}");
    }
    assert!(
        files(dots.path()).is_empty(),
        "nothing written in plaintext"
    );
    let (o, out) = m.run(&["doctor"], &m.env_file(None));
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("problem: refusing to write tokens in plaintext")
            && out.contains("sync.dotfiles.plaintext: true"),
        "{out}"
    );

    // The explicit opt-out writes plaintext.
    let opted = Machine::new(dots.path(), "");
    let cfg = opted.home.path().join("config.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("plaintext: false", "plaintext: true");
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(opted.auths().join(name), token("a@x.com", "at-plain")).unwrap();
    let (o, out) = opted.sync_once(&opted.env_file(None));
    assert!(o.status.success(), "{out}");
    assert_eq!(read(&dots.path().join(name)), token("a@x.com", "at-plain"));
}

#[test]
fn an_encrypted_copy_is_left_alone_without_its_key() {
    let dots = tempfile::tempdir().unwrap();
    let key = AgeKey::generate("test");
    let m = Machine::new(dots.path(), "");
    let name = "claude-a@x.com.json";
    std::fs::write(m.auths().join(name), token("a@x.com", "at-one")).unwrap();
    let (o, out) = m.sync_once(&m.env_file(Some(&key)));
    assert!(o.status.success(), "{out}");
    let sealed = read(&dots.path().join(name));

    std::fs::write(m.auths().join(name), token("a@x.com", "at-two")).unwrap();
    let other = AgeKey::generate("other");
    let (o, out) = m.sync_once(&m.env_file(Some(&other)));
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("cannot decrypt with the age key from CLIPROXY_DOTFILES_AGE_KEY"),
        "{out}"
    );
    let (o, out) = m.sync_once(&m.env_file(None));
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is age-encrypted but no key is configured"),
        "{out}"
    );
    assert_eq!(read(&dots.path().join(name)), sealed, "never overwritten");
}
