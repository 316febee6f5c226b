//! `sync:` in config.yaml and the resolution of every location from config + env.
//! Settings live here (below the sync engine) so config does not depend on sync.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{EnvMap, Secret, expand_tilde};

/// `sync:` in config.yaml (kebab-case keys).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SyncConfig {
    /// `false` turns the engine off even when locations are configured.
    pub enabled: Option<bool>,
    /// Seconds between bucket polls (default 60; 0 disables polling).
    pub poll_interval: Option<u64>,
    /// Debounce of folder events in milliseconds (default 300).
    pub debounce_ms: Option<u64>,
    /// Where the base state and the conflict copies live
    /// (default `~/.cli-proxy-api/sync-state`).
    pub state_dir: Option<String>,
    /// CCS folder (default `~/.ccs/cliproxy/auth`, used when `~/.ccs` exists); "" disables.
    pub ccs_dir: Option<String>,
    /// Dotfiles sink (default `~/dotfiles/objectstore/auths`, used when `~/dotfiles` exists); "" disables.
    pub dotfiles_dir: Option<String>,
    /// How the dotfiles copy is written (encrypted unless opted out).
    pub dotfiles: DotfilesConfig,
    pub bucket: Option<BucketConfig>,
    /// A run that would delete more than this fraction of the files stops (default 0.5).
    pub max_delete_fraction: Option<f64>,
}

impl std::fmt::Debug for SyncConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncConfig")
            .field("enabled", &self.enabled)
            .field("poll_interval", &self.poll_interval)
            .field("debounce_ms", &self.debounce_ms)
            .field("state_dir", &self.state_dir)
            .field("ccs_dir", &self.ccs_dir)
            .field("dotfiles_dir", &self.dotfiles_dir)
            .field("dotfiles", &self.dotfiles)
            .field("bucket", &self.bucket)
            .field("max_delete_fraction", &self.max_delete_fraction)
            .finish()
    }
}

/// `sync.dotfiles`: the dotfiles copy is a git repository, so tokens are written there
/// encrypted with age. The identity comes from `age-key-file`, else the variable
/// `CLIPROXY_DOTFILES_AGE_KEY` (process or `.env`). Without either, nothing is written
/// there unless `plaintext: true` says plaintext is wanted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct DotfilesConfig {
    /// An `age-keygen` key file (`AGE-SECRET-KEY-1…`).
    pub age_key_file: Option<String>,
    /// Opt out of encryption: write the dotfiles copy in plaintext.
    pub plaintext: bool,
}

/// The variable holding the dotfiles copy's age identity.
pub const DOTFILES_KEY_VAR: &str = "CLIPROXY_DOTFILES_AGE_KEY";

/// How a folder's files are stored.
#[derive(Debug, Clone, Default)]
pub enum Sealing {
    /// As they are (the auth folder, CCS, a `file://` bucket, an opted-out dotfiles copy).
    #[default]
    Plain,
    /// Encrypted with age; plaintext copies found there are encrypted in place.
    Age(std::sync::Arc<crate::store::seal::AgeKey>),
    /// A dotfiles copy with no key and no opt-out: read, never written.
    RefusePlain,
}

impl Sealing {
    /// Why a `RefusePlain` folder is not written (names every setting that fixes it).
    pub const REFUSAL: &'static str = "refusing to write tokens in plaintext to the dotfiles copy (a git repository): set CLIPROXY_DOTFILES_AGE_KEY to an age identity (in the .env) or sync.dotfiles.age-key-file to an age-keygen key file, or opt out with sync.dotfiles.plaintext: true";
}

/// The dotfiles copy's sealing from `sync.dotfiles` and the environment.
fn dotfiles_sealing(cfg: &DotfilesConfig, env: &EnvMap) -> anyhow::Result<Sealing> {
    use crate::store::seal::AgeKey;
    let key = match cfg.age_key_file.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(f) => {
            let path = expand_tilde(f, env);
            let source = format!("sync.dotfiles.age-key-file {}", path.display());
            let text =
                std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
            Some(AgeKey::parse(&text, &source)?)
        }
        None => match env.get(DOTFILES_KEY_VAR).filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(AgeKey::parse(v, DOTFILES_KEY_VAR)?),
            None => None,
        },
    };
    Ok(match key {
        Some(k) => Sealing::Age(std::sync::Arc::new(k)),
        None if cfg.plaintext => Sealing::Plain,
        None => Sealing::RefusePlain,
    })
}

/// `sync.bucket`: an S3-compatible bucket (`http(s)://` endpoint) or a folder (`file://`).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct BucketConfig {
    pub endpoint: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<Secret>,
    pub secret_key: Option<Secret>,
    pub primary_prefix: Option<String>,
    pub backup_prefix: Option<String>,
    pub config_prefix: Option<String>,
}

impl std::fmt::Debug for BucketConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketConfig")
            .field("endpoint", &self.endpoint)
            .field("name", &self.name)
            .field("region", &self.region)
            .field(
                "access_key",
                &self.access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("primary_prefix", &self.primary_prefix)
            .field("backup_prefix", &self.backup_prefix)
            .field("config_prefix", &self.config_prefix)
            .finish()
    }
}

/// A resolved bucket.
#[derive(Clone)]
pub enum BucketTarget {
    S3 {
        endpoint: String,
        bucket: String,
        region: String,
        access_key: Secret,
        secret_key: Secret,
    },
    /// `file:///path`: prefixes become sub-folders of `path`.
    Dir(PathBuf),
}

impl std::fmt::Debug for BucketTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketTarget::S3 {
                endpoint,
                bucket,
                region,
                ..
            } => write!(f, "s3 {endpoint} bucket {bucket} (region {region})"),
            BucketTarget::Dir(p) => write!(f, "file://{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedBucket {
    pub target: BucketTarget,
    pub primary_prefix: String,
    pub backup_prefix: String,
    pub config_prefix: String,
}

/// Every location, resolved. `None` = not configured.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub enabled: bool,
    pub local: PathBuf,
    pub ccs: Option<PathBuf>,
    pub dotfiles: Option<PathBuf>,
    /// How the dotfiles copy is written.
    pub dotfiles_sealing: Sealing,
    pub bucket: Option<ResolvedBucket>,
    pub state_dir: PathBuf,
    pub poll_interval: std::time::Duration,
    pub debounce: std::time::Duration,
    pub max_delete_fraction: f64,
    /// The config template to keep in the bucket's `config/`.
    pub template: Option<PathBuf>,
    pub machine: String,
}

impl Resolved {
    /// Whether any location besides the local folder is configured.
    pub fn has_remote_locations(&self) -> bool {
        self.ccs.is_some() || self.dotfiles.is_some() || self.bucket.is_some()
    }

    /// The state file of this local folder (several local folders may share a state dir).
    pub fn state_file(&self) -> PathBuf {
        let key = crate::store::sha256_hex(self.local.to_string_lossy().as_bytes());
        self.state_dir
            .join(format!("state-{}.json", &key[..12.min(key.len())]))
    }

    pub fn conflicts_dir(&self) -> PathBuf {
        self.state_dir.join("conflicts")
    }
}

fn norm_prefix(p: &str) -> String {
    let p = p.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

fn optional_dir(
    configured: Option<&str>,
    default: &str,
    guard: &str,
    env: &EnvMap,
) -> Option<PathBuf> {
    match configured {
        Some(s) if s.trim().is_empty() || s == "none" || s == "off" => None,
        Some(s) => Some(expand_tilde(s, env)),
        None => {
            let guard = expand_tilde(guard, env);
            guard.is_dir().then(|| expand_tilde(default, env))
        }
    }
}

fn machine_name(env: &EnvMap) -> String {
    env.get_any(&["CLIPROXY_MACHINE", "HOSTNAME", "HOST"])
        .map(str::to_string)
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Resolves the locations from the `sync:` section, the seed's environment variables and
/// defaults that reproduce the seed's layout.
pub fn resolve(
    cfg: &SyncConfig,
    env: &EnvMap,
    local: &Path,
    template: Option<&Path>,
) -> anyhow::Result<Resolved> {
    let b = cfg.bucket.clone().unwrap_or_default();
    let endpoint = b.endpoint.clone().filter(|s| !s.is_empty()).or_else(|| {
        env.get_any(&["OBJECTSTORE_ENDPOINT", "AWS_S3_ENDPOINT"])
            .map(str::to_string)
    });
    let bucket = match endpoint {
        None => None,
        Some(ep) => {
            let target = if let Some(path) = ep.strip_prefix("file://") {
                BucketTarget::Dir(expand_tilde(path, env))
            } else {
                let endpoint = if ep.starts_with("http://") || ep.starts_with("https://") {
                    ep.clone()
                } else if ep.contains("://") {
                    anyhow::bail!(
                        "sync.bucket.endpoint / OBJECTSTORE_ENDPOINT: unsupported scheme (use http://, https:// or file://)"
                    );
                } else {
                    format!("https://{ep}")
                };
                let name = b
                    .name
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        env.get_any(&["OBJECTSTORE_BUCKET", "AWS_S3_BUCKET"])
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "cliproxyapi".to_string());
                let access_key = b
                    .access_key
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        env.get_any(&["OBJECTSTORE_ACCESS_KEY", "AWS_ACCESS_KEY_ID"])
                            .map(Secret::new)
                    })
                    .unwrap_or_default();
                let secret_key = b
                    .secret_key
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| {
                        env.get_any(&["OBJECTSTORE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"])
                            .map(Secret::new)
                    })
                    .unwrap_or_default();
                let region = b
                    .region
                    .clone()
                    .filter(|s| !s.is_empty())
                    .or_else(|| env.get_any(&["OBJECTSTORE_REGION"]).map(str::to_string))
                    .unwrap_or_else(|| "auto".to_string());
                BucketTarget::S3 {
                    endpoint,
                    bucket: name,
                    region,
                    access_key,
                    secret_key,
                }
            };
            Some(ResolvedBucket {
                target,
                primary_prefix: norm_prefix(b.primary_prefix.as_deref().unwrap_or("auths/")),
                backup_prefix: norm_prefix(b.backup_prefix.as_deref().unwrap_or("backup/auths/")),
                config_prefix: norm_prefix(b.config_prefix.as_deref().unwrap_or("config/")),
            })
        }
    };
    let fraction = cfg.max_delete_fraction.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&fraction) {
        anyhow::bail!("sync.max-delete-fraction must be between 0 and 1");
    }
    let dotfiles = optional_dir(
        cfg.dotfiles_dir.as_deref(),
        "~/dotfiles/objectstore/auths",
        "~/dotfiles",
        env,
    );
    let dotfiles_sealing = match dotfiles {
        Some(_) => dotfiles_sealing(&cfg.dotfiles, env)?,
        None => Sealing::Plain,
    };
    Ok(Resolved {
        enabled: cfg.enabled.unwrap_or(true),
        local: local.to_path_buf(),
        ccs: optional_dir(
            cfg.ccs_dir.as_deref(),
            "~/.ccs/cliproxy/auth",
            "~/.ccs",
            env,
        ),
        dotfiles,
        dotfiles_sealing,
        bucket,
        state_dir: expand_tilde(
            cfg.state_dir
                .as_deref()
                .unwrap_or("~/.cli-proxy-api/sync-state"),
            env,
        ),
        poll_interval: std::time::Duration::from_secs(cfg.poll_interval.unwrap_or(60)),
        debounce: std::time::Duration::from_millis(cfg.debounce_ms.unwrap_or(300)),
        max_delete_fraction: fraction,
        template: template.map(Path::to_path_buf),
        machine: machine_name(env),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Key file, else the variable, else the opt-out, else refusal; errors name the
    /// source and never the key.
    #[test]
    fn dotfiles_sealing_comes_from_key_file_then_variable_then_opt_out() {
        use crate::store::seal::AgeKey;
        let d = tempfile::tempdir().unwrap();
        let (k1, k2) = (AgeKey::generate("a"), AgeKey::generate("b"));
        let file = d.path().join("key.txt");
        std::fs::write(&file, format!("# c\n{}\n", k1.secret_string())).unwrap();
        let with_var = EnvMap::from_pairs([(DOTFILES_KEY_VAR, k2.secret_string())]);
        let cfg = |f: Option<&Path>, plaintext: bool| DotfilesConfig {
            age_key_file: f.map(|p| p.display().to_string()),
            plaintext,
        };
        let recipient = |s: Sealing| match s {
            Sealing::Age(k) => Some(k.recipient()),
            _ => None,
        };
        let r = dotfiles_sealing(&cfg(Some(&file), false), &with_var).unwrap();
        assert_eq!(recipient(r), Some(k1.recipient()));
        let r = dotfiles_sealing(&cfg(None, true), &with_var).unwrap();
        assert_eq!(
            recipient(r),
            Some(k2.recipient()),
            "a key beats the opt-out"
        );
        assert!(matches!(
            dotfiles_sealing(&cfg(None, true), &EnvMap::default()).unwrap(),
            Sealing::Plain
        ));
        assert!(matches!(
            dotfiles_sealing(&cfg(None, false), &EnvMap::default()).unwrap(),
            Sealing::RefusePlain
        ));
        let bad = EnvMap::from_pairs([(DOTFILES_KEY_VAR, "AGE-SECRET-KEY-1WRONGBUTSECRET")]);
        let e = dotfiles_sealing(&cfg(None, false), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(DOTFILES_KEY_VAR) && !e.contains("WRONGBUTSECRET"),
            "{e}"
        );
        let missing = d.path().join("nope.txt");
        let e = dotfiles_sealing(&cfg(Some(&missing), false), &with_var)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sync.dotfiles.age-key-file") && e.contains("nope.txt"),
            "{e}"
        );
    }

    #[test]
    fn env_fallbacks_and_seed_defaults() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".ccs")).unwrap();
        let env = EnvMap::from_pairs([
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_S3_ENDPOINT", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "AKIDSECRETVALUE"),
            ("OBJECTSTORE_SECRET_KEY", "topsecretvalue"),
        ]);
        let r = resolve(&SyncConfig::default(), &env, Path::new("/x/auths"), None).unwrap();
        let b = r.bucket.as_ref().unwrap();
        assert_eq!(b.primary_prefix, "auths/");
        assert_eq!(b.backup_prefix, "backup/auths/");
        assert_eq!(b.config_prefix, "config/");
        match &b.target {
            BucketTarget::S3 { bucket, region, .. } => {
                assert_eq!(bucket, "cliproxyapi");
                assert_eq!(region, "auto");
            }
            BucketTarget::Dir(_) => panic!("expected s3"),
        }
        assert_eq!(r.ccs, Some(home.path().join(".ccs/cliproxy/auth")));
        assert_eq!(r.dotfiles, None);
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("AKIDSECRETVALUE") && !dbg.contains("topsecretvalue"));
    }

    #[test]
    fn file_endpoint_and_disabled_dirs() {
        let env = EnvMap::from_pairs([("HOME", "/h")]);
        let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
            "ccs-dir": "", "dotfiles-dir": "~/dots",
            "bucket": {"endpoint": "file:///tmp/b", "primary-prefix": "p"}
        }))
        .unwrap();
        let r = resolve(&cfg, &env, Path::new("/x"), None).unwrap();
        assert!(r.ccs.is_none());
        assert_eq!(r.dotfiles, Some(PathBuf::from("/h/dots")));
        let b = r.bucket.unwrap();
        assert!(matches!(b.target, BucketTarget::Dir(ref p) if p == Path::new("/tmp/b")));
        assert_eq!(b.primary_prefix, "p/");
    }

    #[test]
    fn debug_redacts_keys() {
        let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
            "bucket": {"access-key": "AKIA123456", "secret-key": "s3cr3tvalue"}
        }))
        .unwrap();
        let d = format!("{cfg:?}");
        assert!(
            !d.contains("AKIA123456") && !d.contains("s3cr3tvalue"),
            "{d}"
        );
    }
}
