//! What a command starts from: the loaded config, the variables the binary sees and
//! the paths derived from them. Built from plain values (no command-line types), so
//! the commands decide where the values come from and libraries below take only the
//! pieces they need.

use std::path::{Path, PathBuf};

use super::template_settings::{self, Inputs, TemplateSettings};
use super::{Config, ConfigError, EnvMap, LoadedConfig, Overrides, expand_tilde, load, template};

#[derive(Debug, Clone)]
pub struct Context {
    pub loaded: LoadedConfig,
    pub env: EnvMap,
    /// The config file in use (or where a rendered template goes).
    pub config_path: PathBuf,
    pub auth_dir: PathBuf,
    /// The template settings, when a template is configured.
    pub template: Option<TemplateSettings>,
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// `--config` / `CLIPROXY_CONFIG`.
    pub config: Option<&'a Path>,
    /// `--env-file` / `CLIPROXY_ENV_FILE`: a dotenv file whose variables the binary sees.
    pub env_file: Option<&'a Path>,
    /// `--template` (`CLIPROXY_TEMPLATE` is read from the environment when this is unset).
    pub template: Option<&'a Path>,
    /// `config render --out`.
    pub out: Option<&'a Path>,
}

/// The variables, config path and template settings, before any config is loaded.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub env: EnvMap,
    pub config_path: Option<PathBuf>,
    pub template: Option<TemplateSettings>,
}

impl Prepared {
    /// Resolves the template settings (flags > environment > the config file's
    /// `template.*` keys) and the variables the binary sees: the process environment,
    /// plus the env file (`--env-file`, else `template.env-file`).
    pub fn new(src: Sources<'_>) -> Result<Prepared, ConfigError> {
        let env = load_env(src.env_file)?;
        let config_path = resolve_config_path(src.config, &env);
        let keys = config_path
            .as_deref()
            .and_then(template_settings::read_keys);
        let env_template = env
            .get("CLIPROXY_TEMPLATE")
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from);
        let default_out = default_config_path(&env);
        let settings = template_settings::resolve(
            &Inputs {
                flag_template: src.template,
                env_template: env_template.as_deref(),
                env_file: src.env_file,
                flag_out: src.out,
                config_path: config_path.as_deref(),
                keys: keys.as_ref(),
                default_out: &default_out,
            },
            &env,
        );
        let env = match (&settings, src.env_file) {
            (
                Some(TemplateSettings {
                    env_file: Some(f), ..
                }),
                None,
            ) => load_env(Some(&f.path))?,
            _ => env,
        };
        Ok(Prepared {
            env,
            config_path,
            template: settings,
        })
    }

    /// Renders the template (refusing an output that is one of its inputs). Returns
    /// the settings used, `None` when no template is configured.
    pub fn render(&self) -> Result<Option<&TemplateSettings>, ConfigError> {
        let Some(s) = &self.template else {
            return Ok(None);
        };
        s.check_targets()?;
        template::render_file(&s.template.path, &self.env, &s.out.path)?;
        Ok(Some(s))
    }
}

impl Context {
    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// Loads the config. With `render` (`serve`), a configured template is rendered
    /// first and its output served; otherwise the rendered output is read when it
    /// exists (commands never rewrite the config as a side effect).
    pub fn build(
        src: Sources<'_>,
        overrides: &Overrides,
        render: bool,
    ) -> Result<Context, ConfigError> {
        let prepared = Prepared::new(src)?;
        let path = match &prepared.template {
            Some(s) if render => {
                prepared.render()?;
                Some(s.out.path.clone())
            }
            Some(s) if s.out.path.is_file() => Some(s.out.path.clone()),
            _ => prepared.config_path.clone(),
        };
        let Prepared { env, template, .. } = prepared;
        let loaded = load(path.as_deref(), &env, overrides)?;
        let auth_dir = loaded.config.auth_dir(&env);
        let config_path = path.unwrap_or_else(|| default_config_path(&env));
        Ok(Context {
            loaded,
            env,
            config_path,
            auth_dir,
            template,
        })
    }

    /// The sync locations for this configuration (the template, when there is one, is
    /// kept in the bucket's `config/`).
    pub fn sync_locations(&self) -> anyhow::Result<super::sync::Resolved> {
        super::sync::resolve(
            &self.config().sync,
            &self.env,
            &self.auth_dir,
            self.template.as_ref().map(|t| t.template.path.as_path()),
        )
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
