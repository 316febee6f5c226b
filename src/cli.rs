//! Command line (clap types only; the commands themselves are in `crate::commands`).
//! `cliproxy` with no subcommand serves; CLIProxyAPI's old flags (`--claude-login`,
//! `--codex-login`, `--login`, ...) still work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Sync(SyncCommand),
    /// Render or check configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List, show, remove or restore accounts (auth files)
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Check config, environment, paths, permissions, bucket and tokens
    Doctor,
    /// Requests and tokens the gateway recorded (today unless --since)
    Usage(UsageArgs),
}

#[derive(Debug, Args, Clone)]
pub struct UsageArgs {
    /// Start: today, YYYY-MM-DD, an RFC 3339 time, or a duration back (24h, 7d) [default: today]
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Group rows by
    #[arg(long, value_enum, default_value_t = UsageBy::Model)]
    pub by: UsageBy,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum UsageBy {
    Day,
    Model,
    Account,
    Key,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// Address to bind [config: host, default 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Port [config: port, default 8317]
    #[arg(long)]
    pub port: Option<u16>,
    /// Template rendered at start (placeholders __NAME__ and ${NAME}) into --config, or
    /// template.out [env: CLIPROXY_TEMPLATE; config: template.path]
    #[arg(long, value_name = "PATH")]
    pub template: Option<PathBuf>,
}

pub use crate::providers::Provider;

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
    /// Render a template with values from an env file, atomically, mode 0600 (the same
    /// settings `serve` renders with: flag, else environment, else `template.*` keys)
    Render {
        /// [env: CLIPROXY_TEMPLATE; config: template.path]
        #[arg(long, value_name = "PATH")]
        template: Option<PathBuf>,
        /// dotenv file (the process environment is used too) [env: CLIPROXY_ENV_FILE; config: template.env-file]
        #[arg(long = "env-file", value_name = "PATH")]
        env_file: Option<PathBuf>,
        /// [config: template.out; else --config / CLIPROXY_CONFIG; else ~/.cli-proxy-api/config.yaml]
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
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
        from: Option<RestoreSource>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// One full reconcile of every location, printing what it did
    Once {
        /// Act even when a guard (mass deletion, empty bucket listing) would stop the run
        #[arg(long)]
        force: bool,
    },
    /// Keep watching the folders and polling the bucket
    Watch,
    /// Every location and file with its state
    Status,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RestoreSource {
    Backup,
    Dotfiles,
    Conflict,
}
