//! The template feature's one set of settings: which template, which env file, which
//! output. Each comes from the command line, else the environment, else the `template.*`
//! keys of the config file; `serve`, `config render` and `doctor` all use [`resolve`].

use std::path::{Path, PathBuf};

use super::{EnvMap, TemplateConfig, expand_tilde};

/// Where a setting came from (shown by `doctor`, named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag or the environment variable clap reads for it.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key of the config file.
    Key { key: &'static str, file: PathBuf },
    /// The default config path.
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(s) | Origin::Env(s) => f.write_str(s),
            Origin::Key { key, file } => write!(f, "{key} in {}", file.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub path: PathBuf,
    pub origin: Origin,
}

/// A template to render, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSettings {
    pub template: Setting,
    pub env_file: Option<Setting>,
    pub out: Setting,
    /// The config file whose `template.*` keys were read (rendering must not replace it).
    pub holder: Option<PathBuf>,
}

/// What [`resolve`] starts from (plain values; the commands fill them in).
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// `--template` (a command that has the flag).
    pub flag_template: Option<&'a Path>,
    /// `CLIPROXY_TEMPLATE`.
    pub env_template: Option<&'a Path>,
    /// `--env-file` / `CLIPROXY_ENV_FILE`.
    pub env_file: Option<&'a Path>,
    /// `config render --out`.
    pub flag_out: Option<&'a Path>,
    /// `--config` / `CLIPROXY_CONFIG`, else the config file found at the usual places.
    pub config_path: Option<&'a Path>,
    /// The `template:` section of that config file, when it has one.
    pub keys: Option<&'a TemplateConfig>,
    /// Where a rendered config goes when nothing else says (`~/.cli-proxy-api/config.yaml`).
    pub default_out: &'a Path,
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        Inputs {
            flag_template: None,
            env_template: None,
            env_file: None,
            flag_out: None,
            config_path: None,
            keys: None,
            default_out: Path::new("config.yaml"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "template settings: rendering {template} into {out} would overwrite {what} {target}; choose another output ({hint})"
    )]
    SelfOverwrite {
        template: String,
        out: String,
        what: &'static str,
        target: String,
        hint: String,
    },
}

/// A config-key path: `~` expanded, relative paths taken from the config file's folder.
fn key_path(p: &Path, file: &Path, env: &EnvMap) -> PathBuf {
    let p = expand_tilde(&p.to_string_lossy(), env);
    if p.is_relative() {
        file.parent().unwrap_or(Path::new(".")).join(p)
    } else {
        p
    }
}

/// Resolves the template settings: `None` when no template is configured anywhere.
/// Pure except for `~` expansion; [`check_targets`] compares the real files.
pub fn resolve(i: &Inputs<'_>, env: &EnvMap) -> Option<TemplateSettings> {
    let holder = i.config_path.filter(|_| {
        i.keys
            .is_some_and(|k| k.path.is_some() || k.env_file.is_some() || k.out.is_some())
    });
    let key = |key: &'static str, p: &Option<PathBuf>| -> Option<Setting> {
        let (file, p) = (i.config_path?, p.as_ref()?);
        Some(Setting {
            path: key_path(p, file, env),
            origin: Origin::Key {
                key,
                file: file.to_path_buf(),
            },
        })
    };
    let keys = i.keys.cloned().unwrap_or_default();
    let given = |p: Option<&Path>, origin: Origin| {
        p.map(|p| Setting {
            path: p.to_path_buf(),
            origin,
        })
    };
    let template = given(i.flag_template, Origin::Flag("--template"))
        .or_else(|| given(i.env_template, Origin::Env("CLIPROXY_TEMPLATE")))
        .or_else(|| key("template.path", &keys.path))?;
    let env_file = given(i.env_file, Origin::Flag("--env-file / CLIPROXY_ENV_FILE"))
        .or_else(|| key("template.env-file", &keys.env_file));
    let out = given(i.flag_out, Origin::Flag("--out"))
        .or_else(|| key("template.out", &keys.out))
        .or_else(|| given(i.config_path, Origin::Flag("--config / CLIPROXY_CONFIG")))
        .unwrap_or_else(|| Setting {
            path: i.default_out.to_path_buf(),
            origin: Origin::Default,
        });
    Some(TemplateSettings {
        template,
        env_file,
        out,
        holder: holder.map(Path::to_path_buf),
    })
}

/// A path made absolute and, as far as it exists, free of symlinks and `..`, so two
/// spellings of one file compare equal.
fn real(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => real(dir).join(name),
        _ => abs,
    }
}

impl TemplateSettings {
    /// Refuses an output that is the template itself, the env file or the config file
    /// holding these settings (each render would destroy its own input).
    pub fn check_targets(&self) -> Result<(), SettingsError> {
        let out = real(&self.out.path);
        let mut inputs = vec![("its own template", &self.template)];
        if let Some(e) = &self.env_file {
            inputs.push(("its env file", e));
        }
        for (what, s) in inputs {
            if real(&s.path) == out {
                return Err(self.overwrite(what, &s.path, &s.origin));
            }
        }
        if let Some(h) = &self.holder
            && real(h) == out
        {
            return Err(self.overwrite(
                "the config file holding the template settings",
                h,
                &Origin::Key {
                    key: "template.path",
                    file: h.clone(),
                },
            ));
        }
        Ok(())
    }

    fn overwrite(&self, what: &'static str, target: &Path, origin: &Origin) -> SettingsError {
        let hint = match (&self.out.origin, &self.holder) {
            (Origin::Key { .. }, _) => format!("output from {}", self.out.origin),
            (_, Some(h)) => format!(
                "set template.out in {}, or give --out / --config",
                h.display()
            ),
            _ => format!("output from {}; input from {origin}", self.out.origin),
        };
        SettingsError::SelfOverwrite {
            template: self.template.path.display().to_string(),
            out: self.out.path.display().to_string(),
            what,
            target: target.display().to_string(),
            hint,
        }
    }
}

/// The `template:` section of a config file, read on its own so that a rendered config
/// that no longer loads can still be replaced by a new render. `None` when the file is
/// missing, does not parse or has no such section.
pub fn read_keys(config_file: &Path) -> Option<TemplateConfig> {
    let text = std::fs::read_to_string(config_file).ok()?;
    let doc: serde_json::Value = serde_saphyr::from_str_with_options(
        &text,
        serde_saphyr::options! { strict_booleans: true },
    )
    .ok()?;
    let section = doc.get("template")?.clone();
    serde_json::from_value(section).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env() -> EnvMap {
        EnvMap::from_pairs([("HOME", "/h")])
    }

    fn keys(path: Option<&str>, env_file: Option<&str>, out: Option<&str>) -> TemplateConfig {
        TemplateConfig {
            path: path.map(PathBuf::from),
            env_file: env_file.map(PathBuf::from),
            out: out.map(PathBuf::from),
        }
    }

    /// (flag, env var, config-key path) → which template wins and where it came from.
    #[test]
    fn flag_beats_env_beats_config_key() {
        let k = keys(Some("k.yaml"), None, Some("/o.yaml"));
        let cfg = Path::new("/etc/c/config.yaml");
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            bool,
            Option<(&'a str, &'a str)>,
        );
        let cases: &[Case] = &[
            (Some("/f"), Some("/e"), true, Some(("/f", "--template"))),
            (None, Some("/e"), true, Some(("/e", "CLIPROXY_TEMPLATE"))),
            (
                None,
                None,
                true,
                Some(("/etc/c/k.yaml", "template.path in /etc/c/config.yaml")),
            ),
            (None, None, false, None),
        ];
        for (flag, envt, with_keys, want) in cases {
            let i = Inputs {
                flag_template: flag.map(Path::new),
                env_template: envt.map(Path::new),
                config_path: Some(cfg),
                keys: with_keys.then_some(&k),
                default_out: Path::new("/d.yaml"),
                ..Default::default()
            };
            let got = resolve(&i, &env()).map(|s| {
                (
                    s.template.path.display().to_string(),
                    s.template.origin.to_string(),
                )
            });
            assert_eq!(
                got,
                want.map(|(p, o)| (p.to_string(), o.to_string())),
                "{flag:?} {envt:?} {with_keys}"
            );
        }
    }

    /// Output: --out, else template.out, else --config, else the default path.
    /// Env file: --env-file / CLIPROXY_ENV_FILE, else template.env-file.
    #[test]
    fn output_and_env_file_precedence() {
        let k = keys(Some("~/t.yaml"), Some("secrets.env"), Some("~/out.yaml"));
        let base = Inputs {
            config_path: Some(Path::new("/c/config.yaml")),
            keys: Some(&k),
            default_out: Path::new("/d.yaml"),
            ..Default::default()
        };
        let s = resolve(&base, &env()).unwrap();
        assert_eq!(s.template.path, Path::new("/h/t.yaml"));
        assert_eq!(s.out.path, Path::new("/h/out.yaml"));
        assert_eq!(s.env_file.unwrap().path, Path::new("/c/secrets.env"));
        assert_eq!(s.holder.as_deref(), Some(Path::new("/c/config.yaml")));

        let s = resolve(
            &Inputs {
                flag_out: Some(Path::new("/x.yaml")),
                env_file: Some(Path::new("/flag.env")),
                ..base.clone()
            },
            &env(),
        )
        .unwrap();
        assert_eq!(s.out.path, Path::new("/x.yaml"));
        assert_eq!(s.env_file.unwrap().path, Path::new("/flag.env"));

        let no_keys = Inputs {
            flag_template: Some(Path::new("/t")),
            keys: None,
            ..base.clone()
        };
        let s = resolve(&no_keys, &env()).unwrap();
        assert_eq!(s.out.path, Path::new("/c/config.yaml"));
        assert_eq!(s.holder, None);
        let s = resolve(
            &Inputs {
                config_path: None,
                ..no_keys
            },
            &env(),
        )
        .unwrap();
        assert_eq!(
            (s.out.path.as_path(), &s.out.origin),
            (Path::new("/d.yaml"), &Origin::Default)
        );
    }

    #[test]
    fn output_over_an_input_is_refused_naming_both_paths() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("t.yaml"), "a: 1\n").unwrap();
        std::fs::write(p(".env"), "A=1\n").unwrap();
        let set = |out: PathBuf, holder: Option<PathBuf>| TemplateSettings {
            template: Setting {
                path: p("t.yaml"),
                origin: Origin::Flag("--template"),
            },
            env_file: Some(Setting {
                path: p(".env"),
                origin: Origin::Flag("--env-file / CLIPROXY_ENV_FILE"),
            }),
            out: Setting {
                path: out,
                origin: Origin::Flag("--out"),
            },
            holder,
        };
        // Another spelling of the same file is the same file.
        std::fs::create_dir(p("sub")).unwrap();
        let dotted = d.path().join("sub/../t.yaml");
        let e = set(dotted, None).check_targets().unwrap_err().to_string();
        assert!(
            e.contains("its own template") && e.contains("t.yaml"),
            "{e}"
        );
        let e = set(p(".env"), None)
            .check_targets()
            .unwrap_err()
            .to_string();
        assert!(e.contains("its env file") && e.contains(".env"), "{e}");
        let e = set(p("config.yaml"), Some(p("config.yaml")))
            .check_targets()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holding the template settings") && e.contains("template.out"),
            "{e}"
        );
        assert!(set(p("config.yaml"), None).check_targets().is_ok());
    }

    #[test]
    fn keys_are_read_from_a_config_that_does_not_load() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.yaml");
        std::fs::write(
            &f,
            "port: not-a-port\ntemplate:\n  path: t.yaml\n  out: o.yaml\n",
        )
        .unwrap();
        let k = read_keys(&f).unwrap();
        assert_eq!(k.path.as_deref(), Some(Path::new("t.yaml")));
        assert_eq!(k.out.as_deref(), Some(Path::new("o.yaml")));
        std::fs::write(&f, "port: [\n").unwrap();
        assert!(read_keys(&f).is_none());
        assert!(read_keys(&d.path().join("missing.yaml")).is_none());
    }
}
