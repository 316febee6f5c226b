//! What a command starts from: the loaded config, the variables the binary sees and
//! the paths derived from them. Built from plain values (no command-line types), so
//! the commands decide where the values come from and libraries below take only the
//! pieces they need.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, EnvMap, LoadedConfig, Overrides, expand_tilde, load, template};

#[derive(Debug, Clone)]
pub struct Context {
    pub loaded: LoadedConfig,
    pub env: EnvMap,
    /// The config file in use (or where a rendered template goes).
    pub config_path: PathBuf,
    pub auth_dir: PathBuf,
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// `--config` / `CLIPROXY_CONFIG`.
    pub config: Option<&'a Path>,
    /// `--env-file` / `CLIPROXY_ENV_FILE`: a dotenv file whose variables the binary sees.
    pub env_file: Option<&'a Path>,
    /// A template to render into the config file first.
    pub template: Option<&'a Path>,
}

impl Context {
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// Loads the config (rendering the template first when one is given or configured).
    pub fn build(src: Sources<'_>, overrides: &Overrides) -> Result<Context, ConfigError> {
        let env = load_env(src.env_file)?;
        let mut path = resolve_config_path(src.config, &env);
        // A template named on the command line, or in the existing config, renders first.
        let template = match src.template {
            Some(t) => Some(t.to_path_buf()),
            None => match &path {
                Some(p) => load(Some(p), &env, overrides)?
                    .config
                    .template
                    .path
                    .map(|t| expand_tilde(&t.to_string_lossy(), &env)),
                None => None,
            },
        };
        if let Some(t) = template {
            let out = path.clone().unwrap_or_else(|| default_config_path(&env));
            template::render_file(&t, &env, &out)?;
            path = Some(out);
        }
        let loaded = load(path.as_deref(), &env, overrides)?;
        let auth_dir = loaded.config.auth_dir(&env);
        let config_path = path.unwrap_or_else(|| default_config_path(&env));
        Ok(Context {
            loaded,
            env,
            config_path,
            auth_dir,
        })
    }
}

pub fn default_config_path(env: &EnvMap) -> PathBuf {
    expand_tilde("~/.cli-proxy-api/config.yaml", env)
}

/// Finds the config file: `explicit`, else `~/.cli-proxy-api/config.yaml`, else
/// `./config.yaml`; `None` means built-in defaults.
pub fn resolve_config_path(explicit: Option<&Path>, env: &EnvMap) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let home = default_config_path(env);
    if home.is_file() {
        return Some(home);
    }
    let local = PathBuf::from("config.yaml");
    local.is_file().then_some(local)
}

/// The process environment, with `env_file`'s variables added (the process wins).
pub fn load_env(env_file: Option<&Path>) -> Result<EnvMap, ConfigError> {
    let env = EnvMap::from_process();
    Ok(match env_file {
        Some(f) => env.with_env_file(f)?,
        None => env,
    })
}
