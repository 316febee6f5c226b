//! Command line (clap). `cliproxy` with no subcommand serves; CLIProxyAPI's old flags
//! (`--claude-login`, `--codex-login`, `--login`, ...) still work.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError, EnvMap, LoadedConfig, Overrides};

#[derive(Debug, Parser)]
#[command(name = "cliproxy", version, about = "Local AI-API gateway (CLIProxyAPI drop-in) that keeps OAuth token files safe", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// config.yaml to use [default: ~/.cli-proxy-api/config.yaml, else ./config.yaml, else built-in defaults]
    #[arg(long, global = true, env = "CLIPROXY_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// dotenv file whose variables the binary sees (parsed, never executed; process env wins)
    #[arg(long, global = true, env = "CLIPROXY_ENV_FILE", value_name = "PATH")]
    pub env_file: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    // CLIProxyAPI's flags, kept so existing scripts work.
    /// Old flag: same as `cliproxy login claude`
    #[arg(long, hide_short_help = true)]
    pub claude_login: bool,
    /// Old flag: same as `cliproxy login codex`
    #[arg(long, hide_short_help = true)]
    pub codex_login: bool,
    /// Old flag: same as `cliproxy login codex --device`
    #[arg(long, hide_short_help = true)]
    pub codex_device_login: bool,
    /// Old flag: same as `cliproxy login gemini`
    #[arg(long, hide_short_help = true)]
    pub login: bool,
    /// Old flag: same as `cliproxy login antigravity`
    #[arg(long, hide_short_help = true)]
    pub antigravity_login: bool,
    /// Old flag: print the login URL instead of opening a browser
    #[arg(long, hide_short_help = true)]
    pub no_browser: bool,
    /// Old flag: OAuth callback port
    #[arg(long, hide_short_help = true, value_name = "PORT")]
    pub oauth_callback_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default when no command is given)
    Serve(ServeArgs),
    /// Log in to a provider with OAuth and save the auth file
    Login(LoginArgs),
    /// Sync auth files between the local folder, the bucket, CCS and dotfiles
    #[command(subcommand)]
    Sync(crate::sync::cli::SyncCommand),
    /// Render or check configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List, show, remove or restore accounts (auth files)
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Check config, environment, paths, permissions, bucket and tokens
    Doctor,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to bind [config: host, default 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Port [config: port, default 8317]
    #[arg(long)]
    pub port: Option<u16>,
    /// Template rendered into --config at start (placeholders __NAME__ and ${NAME})
    #[arg(long, env = "CLIPROXY_TEMPLATE", value_name = "PATH")]
    pub template: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Provider {
    Claude,
    Codex,
    Gemini,
    Antigravity,
}

#[derive(Debug, Args, Clone)]
pub struct LoginArgs {
    pub provider: Provider,
    /// Print the URL instead of opening a browser; paste the final redirect URL on stdin
    #[arg(long)]
    pub no_browser: bool,
    /// Local callback port [default: the provider's usual port]
    #[arg(long, alias = "oauth-callback-port", value_name = "PORT")]
    pub callback_port: Option<u16>,
    /// Device-code flow (Codex)
    #[arg(long)]
    pub device: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Render a template with values from an env file, atomically, mode 0600
    Render {
        #[arg(long, value_name = "PATH")]
        template: PathBuf,
        /// dotenv file (optional: the process environment is used too)
        #[arg(long = "env-file", value_name = "PATH")]
        env_file: Option<PathBuf>,
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Load the configuration and report errors and unknown keys
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Accounts with provider, e-mail, expiry and state
    List,
    /// One account's details (secrets redacted)
    Show { name: String },
    /// Remove an account everywhere (writes a tombstone so sync does not resurrect it)
    Remove { name: String },
    /// Bring back a version of an account
    Restore {
        name: String,
        #[arg(long, value_enum)]
        from: Option<crate::sync::cli::RestoreSource>,
    },
}

/// What every command needs: the loaded config and the variables the binary sees.
#[derive(Debug, Clone)]
pub struct Context {
    pub loaded: LoadedConfig,
    pub env: EnvMap,
    /// The config file in use (or where a rendered template goes).
    pub config_path: PathBuf,
    pub auth_dir: PathBuf,
}

impl Context {
    pub fn config(&self) -> &config::Config {
        &self.loaded.config
    }
}

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

pub fn default_config_path(env: &EnvMap) -> PathBuf {
    config::expand_tilde("~/.cli-proxy-api/config.yaml", env)
}

/// Finds the config file: `--config`, else `~/.cli-proxy-api/config.yaml`, else
/// `./config.yaml`; `None` means built-in defaults.
pub fn resolve_config_path(global: &GlobalArgs, env: &EnvMap) -> Option<PathBuf> {
    if let Some(p) = &global.config {
        return Some(p.clone());
    }
    let home = default_config_path(env);
    if home.is_file() {
        return Some(home);
    }
    let local = PathBuf::from("config.yaml");
    local.is_file().then_some(local)
}

pub fn load_env(global: &GlobalArgs) -> Result<EnvMap, ConfigError> {
    let env = EnvMap::from_process();
    Ok(match &global.env_file {
        Some(f) => env.with_env_file(f)?,
        None => env,
    })
}

/// Loads config (rendering the template first when one is given) into a `Context`.
pub fn build_context(
    global: &GlobalArgs,
    overrides: &Overrides,
    template: Option<&Path>,
) -> Result<Context, ConfigError> {
    let env = load_env(global)?;
    let mut path = resolve_config_path(global, &env);
    // A template named on the command line, or in the existing config, renders first.
    let template = match template {
        Some(t) => Some(t.to_path_buf()),
        None => match &path {
            Some(p) => config::load(Some(p), &env, overrides)?
                .config
                .template
                .path
                .map(|t| config::expand_tilde(&t.to_string_lossy(), &env)),
            None => None,
        },
    };
    if let Some(t) = template {
        let out = path.clone().unwrap_or_else(|| default_config_path(&env));
        config::template::render_file(&t, &env, &out)?;
        path = Some(out);
    }
    let loaded = config::load(path.as_deref(), &env, overrides)?;
    let auth_dir = loaded.config.auth_dir(&env);
    let config_path = path.unwrap_or_else(|| default_config_path(&env));
    Ok(Context {
        loaded,
        env,
        config_path,
        auth_dir,
    })
}

fn legacy_login(g: &GlobalArgs) -> Option<LoginArgs> {
    let provider = if g.claude_login {
        Provider::Claude
    } else if g.codex_login || g.codex_device_login {
        Provider::Codex
    } else if g.login {
        Provider::Gemini
    } else if g.antigravity_login {
        Provider::Antigravity
    } else {
        return None;
    };
    Some(LoginArgs {
        provider,
        no_browser: g.no_browser,
        callback_port: g.oauth_callback_port,
        device: g.codex_device_login,
    })
}

pub fn init_tracing(format: LogFormat, debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "cliproxy=debug,info" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    // Colour codes only on a terminal: service logs (launchd, journald files) stay plain.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn fail(e: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    // Usage errors come back as exit code 2 here (not a process::exit inside clap), so the
    // caller sees every configuration-class failure the same way.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.use_stderr() {
                true => ExitCode::from(EXIT_USAGE),
                false => ExitCode::SUCCESS, // --help, --version
            };
        }
    };
    let command = match (cli.command, legacy_login(&cli.global)) {
        (Some(c), _) => c,
        (None, Some(login)) => Command::Login(login),
        (None, None) => Command::Serve(ServeArgs::default()),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("CLIPROXY_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e, 1),
    };
    runtime.block_on(run(cli.global, command))
}

async fn run(global: GlobalArgs, command: Command) -> ExitCode {
    match command {
        Command::Config(ConfigCommand::Render {
            template,
            env_file,
            out,
        }) => {
            let mut env = EnvMap::from_process();
            if let Some(f) = env_file.as_ref().or(global.env_file.as_ref()) {
                env = match env.with_env_file(f) {
                    Ok(e) => e,
                    Err(e) => return fail(e, EXIT_USAGE),
                };
            }
            match config::template::render_file(&template, &env, &out) {
                Ok(()) => {
                    eprintln!("rendered {} -> {}", template.display(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e, EXIT_USAGE),
            }
        }
        Command::Config(ConfigCommand::Check) => {
            match build_context(&global, &Overrides::default(), None) {
                Ok(ctx) => {
                    match &ctx.loaded.source {
                        config::ConfigSource::File(p) => println!("config: {}", p.display()),
                        config::ConfigSource::BuiltinDefault => {
                            println!("config: built-in defaults (no config file found)")
                        }
                    }
                    for k in &ctx.loaded.unknown_keys {
                        println!("warning: unknown key `{k}` (ignored)");
                    }
                    println!("listen: {}:{}", ctx.config().host, ctx.config().port);
                    println!("auth folder: {}", ctx.auth_dir.display());
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e, EXIT_USAGE),
            }
        }
        Command::Serve(args) => {
            let overrides = Overrides {
                host: args.host.clone(),
                port: args.port,
                ..Default::default()
            };
            let ctx = match build_context(&global, &overrides, args.template.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            init_tracing(global.log_format, ctx.config().debug);
            match crate::server::serve(ctx).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}"), 1),
            }
        }
        Command::Sync(cmd) => {
            let ctx = match build_context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            init_tracing(global.log_format, ctx.config().debug);
            crate::sync::cli::run(cmd, &ctx).await
        }
        Command::Auth(cmd) => {
            let ctx = match build_context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            crate::auth::cli::run(cmd, &ctx).await
        }
        Command::Login(args) => {
            let ctx = match build_context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            init_tracing(global.log_format, ctx.config().debug);
            crate::auth::login::run(args, &ctx).await
        }
        Command::Doctor => {
            let ctx = match build_context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            crate::auth::cli::doctor(&ctx).await
        }
    }
}
