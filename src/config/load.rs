use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized};
use serde::Serialize;

use super::{Config, EnvMap};

/// Command-line values, the top layer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No config file exists yet: built-in defaults (no accounts, loopback, 8317).
    BuiltinDefault,
}

#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: ConfigSource,
    /// Unknown keys (dotted paths) found in the file; they load, with a warning.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Yaml { path: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    EnvFile(#[from] super::env::EnvFileError),
    #[error(transparent)]
    Template(#[from] super::template::TemplateError),
    #[error(transparent)]
    TemplateSettings(#[from] super::template_settings::SettingsError),
}

/// Expands a leading `~` to `$HOME` (from `env`, so tests and services control it).
pub fn expand_tilde(path: &str, env: &EnvMap) -> PathBuf {
    let home = env.get("HOME").unwrap_or("");
    if path == "~" {
        return PathBuf::from(home);
    }
    match path.strip_prefix("~/") {
        Some(rest) if !home.is_empty() => Path::new(home).join(rest),
        _ => PathBuf::from(path),
    }
}

fn yaml_options() -> serde_saphyr::Options {
    // YAML 1.2 booleans only (like CLIProxyAPI's yaml.v3): `X-Flag: yes` stays the text "yes".
    serde_saphyr::options! { strict_booleans: true }
}

fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// figment format backed by serde-saphyr with our YAML options.
struct Yaml;

impl figment::providers::Format for Yaml {
    type Error = serde_saphyr::Error;
    const NAME: &'static str = "YAML";
    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        from_yaml(string)
    }
}

/// Parses YAML text into `Config`, with errors that carry line and column.
fn parse_yaml(path: &Path, text: &str) -> Result<Vec<String>, ConfigError> {
    let yaml_err = |e: serde_saphyr::Error| ConfigError::Yaml {
        path: path.display().to_string(),
        message: yaml_message(&e),
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Typed parse first: type errors are reported with the position in the file.
    from_yaml::<Config>(text).map_err(yaml_err)?;
    let value: serde_json::Value = from_yaml(text).map_err(yaml_err)?;
    let mut unknown = Vec::new();
    if value.is_object() {
        let _: Result<Config, _> = serde_ignored::deserialize(value, |p| {
            unknown.push(p.to_string());
        });
    }
    Ok(unknown)
}

/// Loads the configuration: defaults < `path` (YAML) < `CLIPROXY_*` environment
/// (`__` nests, `_` stands for `-`) < command-line overrides.
pub fn load(
    path: Option<&Path>,
    env: &EnvMap,
    overrides: &Overrides,
) -> Result<LoadedConfig, ConfigError> {
    let text = match path {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.display().to_string(),
                source,
            })?,
        ),
        None => None,
    };
    load_text(path.zip(text.as_deref()), env, overrides)
}

/// Like [`load`], with the file's `text` given (to check an edit before it is saved;
/// errors name `path`).
pub fn load_text(
    file: Option<(&Path, &str)>,
    env: &EnvMap,
    overrides: &Overrides,
) -> Result<LoadedConfig, ConfigError> {
    let mut figment = Figment::new();
    let mut unknown_keys = Vec::new();
    let source = match file {
        Some((p, text)) => {
            unknown_keys = parse_yaml(p, text)?;
            if !text.trim().is_empty() {
                figment = figment.merge(Yaml::string(text));
            }
            ConfigSource::File(p.to_path_buf())
        }
        None => ConfigSource::BuiltinDefault,
    };
    figment = figment
        .merge(
            Env::prefixed("CLIPROXY_")
                // `CLIPROXY_TEMPLATE` names the template file (like `--template`), not the
                // `template:` section.
                .filter(|k| !k.as_str().eq_ignore_ascii_case("template"))
                .split("__")
                .map(|k| k.as_str().replace('_', "-").into()),
        )
        .merge(Serialized::defaults(overrides));
    let config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(describe(e, &source)))?;
    validate(&config).map_err(|e| match (e, &source) {
        (ConfigError::Invalid(m), ConfigSource::File(p)) => {
            ConfigError::Invalid(format!("config file {}: {m}", p.display()))
        }
        (e, _) => e,
    })?;
    let _ = env;
    Ok(LoadedConfig {
        config,
        source,
        unknown_keys,
    })
}

/// Names the culprit of a layering error: the environment variable, or the file and key.
fn describe(err: figment::Error, source: &ConfigSource) -> String {
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            if from_env {
                let var = e
                    .path
                    .iter()
                    .map(|p| p.to_ascii_uppercase().replace('-', "_"))
                    .collect::<Vec<_>>()
                    .join("__");
                format!(
                    "environment variable CLIPROXY_{var}: {}",
                    without_value(&e.kind)
                )
            } else {
                match source {
                    ConfigSource::File(p) => {
                        format!(
                            "config file {}: key `{key}`: {}",
                            p.display(),
                            without_value(&e.kind)
                        )
                    }
                    ConfigSource::BuiltinDefault => {
                        format!("key `{key}`: {}", without_value(&e.kind))
                    }
                }
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is wrong, without the value: a bad value is often a secret in the wrong place.
fn without_value(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    // The kind of value found (`string`, `integer`), never the value itself.
    let found = |a: &Actual| {
        let s = a.to_string();
        s.split_whitespace().next().unwrap_or("value").to_string()
    };
    match kind {
        Kind::InvalidType(a, expected) => {
            format!("invalid type: found a {}, expected {expected}", found(a))
        }
        Kind::InvalidValue(a, expected) => {
            format!("invalid value: found a {}, expected {expected}", found(a))
        }
        Kind::InvalidLength(n, expected) => format!("invalid length {n}, expected {expected}"),
        Kind::UnknownVariant(_, expected) => {
            format!("unknown variant, expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(_, expected) => {
            format!("unknown field, expected one of {}", expected.join(", "))
        }
        Kind::MissingField(f) => format!("missing field `{f}`"),
        Kind::DuplicateField(f) => format!("duplicate field `{f}`"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".into(),
        Kind::Unsupported(a) => format!("unsupported {}", found(a)),
        Kind::UnsupportedKey(a, _) => format!("unsupported key type {}", found(a)),
        Kind::Message(_) => "invalid value".into(),
    }
}

/// A YAML error as its position and what was wrong, with no source lines (the
/// neighbouring lines may hold keys) and no quoted values.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let text = redact_quoted(text.lines().next().unwrap_or(""));
    match e.location() {
        Some(l) if !text.contains(" line ") => {
            format!("line {} column {}: {text}", l.line(), l.column())
        }
        _ => text,
    }
}

/// `text` with every quoted part (`"…"`, `'…'`, `` `…` ``) longer than one character
/// replaced by `…` (a single character, like a misplaced `[`, is kept).
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<(char, String)> = None;
    for c in text.chars() {
        match &mut open {
            Some((q, inner)) if c == *q => {
                if inner.chars().count() <= 1 {
                    out.push_str(inner);
                } else {
                    out.push('…');
                }
                out.push(c);
                open = None;
            }
            Some((_, inner)) => inner.push(c),
            None if matches!(c, '"' | '\'' | '`') => {
                out.push(c);
                open = Some((c, String::new()));
            }
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

fn validate(c: &Config) -> Result<(), ConfigError> {
    for (i, compat) in c.openai_compatibility.iter().enumerate() {
        if compat.name.trim().is_empty() {
            return Err(ConfigError::Invalid(format!(
                "openai-compatibility[{i}].name: required"
            )));
        }
        if compat.base_url.trim().is_empty() {
            return Err(ConfigError::Invalid(format!(
                "openai-compatibility[{i}] ({}).base-url: required",
                compat.name
            )));
        }
    }
    for (section, entries) in [("claude-api-key", &c.claude_api_key)] {
        for (i, e) in entries.iter().enumerate() {
            if e.api_key.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{section}[{i}].api-key: required"
                )));
            }
            if e.prefix.contains('/') {
                return Err(ConfigError::Invalid(format!(
                    "{section}[{i}].prefix: must not contain '/'"
                )));
            }
        }
    }
    if let Some(amp) = &c.ampcode {
        validate_ampcode(amp)?;
    }
    Ok(())
}

fn validate_ampcode(amp: &super::Ampcode) -> Result<(), ConfigError> {
    let u = amp.upstream_url.trim();
    if !u.is_empty() {
        let ok = url::Url::parse(u)
            .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
        if !ok {
            return Err(ConfigError::Invalid(format!(
                "ampcode.upstream-url: `{u}` is not an http(s) URL"
            )));
        }
    }
    for (i, m) in amp.model_mappings.iter().enumerate() {
        if m.from.trim().is_empty() || m.to.trim().is_empty() {
            return Err(ConfigError::Invalid(format!(
                "ampcode.model-mappings[{i}]: `from` and `to` are both required"
            )));
        }
    }
    for (i, e) in amp.upstream_api_keys.iter().enumerate() {
        if e.upstream_api_key.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "ampcode.upstream-api-keys[{i}].upstream-api-key: required"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted_and_single_characters_kept() {
        for (text, want) in [
            (
                "unknown variant `sk-1`, expected x",
                "unknown variant `…`, expected x",
            ),
            (
                "illegal placement of '[' indicator",
                "illegal placement of '[' indicator",
            ),
            ("invalid type: string \"abc\"", "invalid type: string \"…\""),
            ("unterminated \"abc", "unterminated \"…"),
            ("no quotes", "no quotes"),
        ] {
            assert_eq!(redact_quoted(text), want);
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.yaml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_are_loopback_8317() {
        let l = load(None, &EnvMap::default(), &Overrides::default()).unwrap();
        assert_eq!(l.config.port, 8317);
        assert_eq!(l.config.host, "127.0.0.1");
        assert_eq!(l.source, ConfigSource::BuiltinDefault);
    }

    #[test]
    fn yaml_keys_are_read_and_overrides_win() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "port: 9000\nrequest-retry: 5\nrouting:\n  strategy: fill-first\napi-keys: [\"k1\"]\n",
        );
        let o = Overrides {
            port: Some(9100),
            ..Default::default()
        };
        let l = load(Some(&p), &EnvMap::default(), &o).unwrap();
        assert_eq!(l.config.port, 9100);
        assert_eq!(l.config.request_retry, 5);
        assert_eq!(l.config.routing.strategy, super::super::Strategy::FillFirst);
        assert!(l.config.api_keys[0].ct_eq("k1"));
    }

    #[test]
    fn unknown_keys_load_with_warning_paths() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "port: 9000\nfancy-new-key: 1\nrouting:\n  strategy: round-robin\n  sticky: true\n",
        );
        let l = load(Some(&p), &EnvMap::default(), &Overrides::default()).unwrap();
        assert_eq!(l.config.port, 9000);
        assert_eq!(l.unknown_keys, vec!["fancy-new-key", "routing.sticky"]);
    }

    #[test]
    fn yaml_errors_name_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "host: 127.0.0.1\nport: not-a-number\n");
        let e = load(Some(&p), &EnvMap::default(), &Overrides::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("config.yaml"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("column"), "{msg}");

        let p = write(d.path(), "host: [unclosed\n");
        let msg = load(Some(&p), &EnvMap::default(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("config.yaml") && msg.contains("line"), "{msg}");
    }

    #[test]
    fn missing_required_field_names_the_key() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "openai-compatibility:\n  - name: openrouter\n    models: []\n",
        );
        let msg = load(Some(&p), &EnvMap::default(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("openai-compatibility[0]"), "{msg}");
        assert!(msg.contains("base-url"), "{msg}");
    }

    #[test]
    fn ampcode_section_is_read_and_checked() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "ampcode:\n  upstream-api-key: amp-k\n  upstream-api-keys:\n    - upstream-api-key: amp-2\n      api-keys: [c1, c2]\n  model-mappings:\n    - {from: a, to: b}\n  force-model-mappings: true\n",
        );
        let loaded = load(Some(&p), &EnvMap::default(), &Overrides::default()).unwrap();
        let amp = loaded.config.ampcode.unwrap();
        assert_eq!(amp.upstream_api_key.expose(), "amp-k");
        assert_eq!(amp.upstream_api_keys[0].api_keys.len(), 2);
        assert_eq!(amp.model_mappings[0].to, "b");
        assert!(amp.force_model_mappings);
        for (text, names) in [
            (
                "ampcode:\n  upstream-url: ftp://x\n",
                "ampcode.upstream-url",
            ),
            (
                "ampcode:\n  model-mappings:\n    - {from: a}\n",
                "ampcode.model-mappings[0]",
            ),
            (
                "ampcode:\n  upstream-api-keys:\n    - api-keys: [c]\n",
                "ampcode.upstream-api-keys[0]",
            ),
        ] {
            let p = write(d.path(), text);
            let msg = load(Some(&p), &EnvMap::default(), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(msg.contains(names), "{msg}");
        }
    }

    #[test]
    fn tilde_expands_from_env_home() {
        let env = EnvMap::from_pairs([("HOME", "/home/u")]);
        assert_eq!(expand_tilde("~/x", &env), PathBuf::from("/home/u/x"));
        assert_eq!(expand_tilde("/abs", &env), PathBuf::from("/abs"));
    }
}
