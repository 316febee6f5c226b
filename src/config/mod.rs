//! `config.yaml`: CLIProxyAPI's keys (kebab-case, same meanings) plus our `sync:`,
//! `template:` and per-provider endpoint sections. Loading and layering live in `load`.

mod clip;
pub mod context;
pub mod edit;
mod env;
mod load;
pub mod mask;
mod secret;
pub mod sync;
pub mod template;
pub mod template_settings;
mod usage;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use clip::{SHOWN_MAX, clip};
pub use context::Context;
pub use env::EnvMap;
pub use load::{ConfigError, ConfigSource, LoadedConfig, Overrides, expand_tilde, load, load_text};
pub use secret::Secret;
pub use usage::UsageConfig;

pub const DEFAULT_PORT: u16 = 8317;
pub const DEFAULT_HOST: &str = "127.0.0.1";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub auth_dir: String,
    pub api_keys: Vec<Secret>,
    pub debug: bool,
    pub proxy_url: String,
    pub request_retry: u32,
    pub max_retry_interval: u64,
    pub max_retry_credentials: u32,
    pub disable_cooling: bool,
    pub routing: Routing,
    pub remote_management: RemoteManagement,
    pub logging_to_file: bool,
    pub usage_statistics_enabled: bool,
    pub request_log: bool,
    pub streaming: Streaming,
    pub nonstream_keepalive_interval: u64,
    pub force_model_prefix: bool,
    pub passthrough_headers: bool,
    pub claude_api_key: Vec<ApiKeyEntry>,
    pub codex_api_key: Vec<ApiKeyEntry>,
    pub gemini_api_key: Vec<ApiKeyEntry>,
    pub vertex_api_key: Vec<ApiKeyEntry>,
    pub openai_compatibility: Vec<OpenAiCompat>,
    pub ampcode: Option<Ampcode>,
    pub oauth_model_alias: BTreeMap<String, Vec<ModelAlias>>,
    pub oauth_excluded_models: BTreeMap<String, Vec<String>>,
    pub claude_header_defaults: ClaudeHeaderDefaults,
    /// Send other clients' requests on OAuth accounts as they are (no Claude Code identity).
    pub disable_claude_cloak_mode: bool,
    /// Maximum accepted request body, in bytes.
    pub body_limit: usize,
    /// Web origins whose pages may call the gateway (`*` for any); others are refused.
    pub allowed_origins: Vec<String>,
    /// Extra `Host` names a loopback gateway answers to (besides loopback names).
    pub allowed_hosts: Vec<String>,
    /// Connections served at once (a small reserve beyond answers `/healthz`).
    pub max_connections: usize,
    pub timeouts: Timeouts,

    // CLIProxyAPI keys accepted for compatibility but not acted on yet; listed so they
    // do not produce "unknown key" warnings.
    pub tls: Option<serde::de::IgnoredAny>,
    pub pprof: Option<serde::de::IgnoredAny>,
    pub commercial_mode: Option<serde::de::IgnoredAny>,
    pub logs_max_total_size_mb: Option<serde::de::IgnoredAny>,
    pub error_logs_max_files: Option<serde::de::IgnoredAny>,
    pub auth_auto_refresh_workers: Option<serde::de::IgnoredAny>,
    pub quota_exceeded: Option<serde::de::IgnoredAny>,
    pub ws_auth: Option<serde::de::IgnoredAny>,
    pub enable_gemini_cli_endpoint: Option<serde::de::IgnoredAny>,
    pub antigravity_signature_cache_enabled: Option<serde::de::IgnoredAny>,
    pub antigravity_signature_bypass_strict: Option<serde::de::IgnoredAny>,
    pub payload: Option<serde::de::IgnoredAny>,
    pub codex_header_defaults: Option<serde::de::IgnoredAny>,

    // Our additions.
    /// Claude OAuth and upstream endpoints (tests aim these at local stand-ins).
    pub claude: ClaudeEndpoints,
    /// Codex (ChatGPT) OAuth endpoints, including the device flow.
    pub codex: CodexEndpoints,
    /// Gemini CLI (Google) OAuth endpoints.
    pub gemini: GeminiEndpoints,
    /// Antigravity (Google) OAuth endpoints.
    pub antigravity: AntigravityEndpoints,
    pub sync: sync::SyncConfig,
    pub template: TemplateConfig,
    pub usage: UsageConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            auth_dir: "~/.cli-proxy-api".to_string(),
            api_keys: Vec::new(),
            debug: false,
            proxy_url: String::new(),
            request_retry: 3,
            max_retry_interval: 30,
            max_retry_credentials: 0,
            disable_cooling: false,
            routing: Routing::default(),
            remote_management: RemoteManagement::default(),
            logging_to_file: false,
            usage_statistics_enabled: false,
            request_log: false,
            streaming: Streaming::default(),
            nonstream_keepalive_interval: 0,
            force_model_prefix: false,
            passthrough_headers: false,
            claude_api_key: Vec::new(),
            codex_api_key: Vec::new(),
            gemini_api_key: Vec::new(),
            vertex_api_key: Vec::new(),
            openai_compatibility: Vec::new(),
            ampcode: None,
            oauth_model_alias: BTreeMap::new(),
            oauth_excluded_models: BTreeMap::new(),
            claude_header_defaults: ClaudeHeaderDefaults::default(),
            disable_claude_cloak_mode: false,
            body_limit: 32 * 1024 * 1024,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            max_connections: 512,
            timeouts: Timeouts::default(),
            tls: None,
            pprof: None,
            commercial_mode: None,
            logs_max_total_size_mb: None,
            error_logs_max_files: None,
            auth_auto_refresh_workers: None,
            quota_exceeded: None,
            ws_auth: None,
            enable_gemini_cli_endpoint: None,
            antigravity_signature_cache_enabled: None,
            antigravity_signature_bypass_strict: None,
            payload: None,
            codex_header_defaults: None,
            claude: ClaudeEndpoints::default(),
            codex: CodexEndpoints::default(),
            gemini: GeminiEndpoints::default(),
            antigravity: AntigravityEndpoints::default(),
            sync: sync::SyncConfig::default(),
            template: TemplateConfig::default(),
            usage: UsageConfig::default(),
        }
    }
}

/// Header maps: YAML reads `X-Flag: yes` as a bool and `X-N: 1` as a number; a
/// header value is text either way.
fn header_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        B(bool),
        I(i64),
        F(f64),
    }
    let raw: Option<BTreeMap<String, Scalar>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::S(s) => s,
                Scalar::B(b) => b.to_string(),
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
            };
            (k, v)
        })
        .collect())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    #[default]
    RoundRobin,
    FillFirst,
}

/// `timeouts:`, in seconds. None bounds a whole request: a model stream may run for
/// as long as it keeps going.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Timeouts {
    /// For a client to send a complete request head (from its first byte, or from
    /// connecting for the first request).
    pub header_read: u64,
    /// For a kept-alive client connection to start its next request.
    pub idle: u64,
    /// To connect to an upstream.
    pub upstream_connect: u64,
    /// For an upstream to start answering (the status line of a stream, the whole
    /// answer's head otherwise) once the request is sent.
    pub upstream_first_byte: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: 30,
            idle: 120,
            upstream_connect: 15,
            upstream_first_byte: 600,
        }
    }
}

impl Timeouts {
    fn secs(s: u64) -> std::time::Duration {
        std::time::Duration::from_secs(s.max(1))
    }
    pub fn header_read(&self) -> std::time::Duration {
        Self::secs(self.header_read)
    }
    pub fn idle(&self) -> std::time::Duration {
        Self::secs(self.idle)
    }
    pub fn upstream_connect(&self) -> std::time::Duration {
        Self::secs(self.upstream_connect)
    }
    pub fn upstream_first_byte(&self) -> std::time::Duration {
        Self::secs(self.upstream_first_byte)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Routing {
    pub strategy: Strategy,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RemoteManagement {
    pub allow_remote: bool,
    pub secret_key: Secret,
    pub disable_control_panel: bool,
    pub disable_auto_update_panel: bool,
    pub panel_github_repository: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Streaming {
    pub keepalive_seconds: u64,
    pub bootstrap_retries: u32,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", default)]
pub struct ModelAlias {
    pub name: String,
    pub alias: String,
    pub fork: bool,
}

/// One `claude-api-key` / `codex-api-key` / `gemini-api-key` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ApiKeyEntry {
    pub api_key: Secret,
    pub priority: i64,
    pub prefix: String,
    pub base_url: String,
    pub proxy_url: String,
    pub models: Vec<ModelAlias>,
    #[serde(deserialize_with = "header_map")]
    pub headers: BTreeMap<String, String>,
    pub excluded_models: Vec<String>,
    pub disable_cooling: bool,
    pub cloak: Option<serde::de::IgnoredAny>,
    pub websockets: Option<serde::de::IgnoredAny>,
    pub experimental_cch_signing: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct OpenAiCompat {
    pub name: String,
    pub priority: i64,
    pub prefix: String,
    pub base_url: String,
    pub api_key_entries: Vec<CompatKey>,
    pub models: Vec<ModelAlias>,
    #[serde(deserialize_with = "header_map")]
    pub headers: BTreeMap<String, String>,
    pub disable_cooling: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CompatKey {
    pub api_key: Secret,
    pub proxy_url: String,
}

/// `ampcode:`: the Amp service behind the gateway (its routes are reverse-proxied to
/// `upstream-url`; its model calls are served by local accounts when one fits).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Ampcode {
    /// Empty means Amp's public service (`providers::amp::DEFAULT_UPSTREAM`).
    pub upstream_url: String,
    pub upstream_api_key: Secret,
    /// Client keys that use their own Amp key instead of `upstream-api-key`.
    pub upstream_api_keys: Vec<AmpUpstreamKey>,
    pub restrict_management_to_localhost: bool,
    pub model_mappings: Vec<AmpMapping>,
    /// Apply `model-mappings` before looking for a local account serving the model asked.
    pub force_model_mappings: bool,
}

/// One `ampcode.upstream-api-keys` entry: these client `api-keys` use this Amp key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AmpUpstreamKey {
    pub upstream_api_key: Secret,
    pub api_keys: Vec<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct AmpMapping {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ClaudeHeaderDefaults {
    pub user_agent: Option<String>,
    pub package_version: Option<String>,
    pub runtime_version: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub timeout: Option<String>,
    pub stabilize_device_profile: Option<serde::de::IgnoredAny>,
}

/// Where Claude lives. Defaults are Anthropic's public endpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ClaudeEndpoints {
    pub base_url: String,
    pub token_url: String,
    pub authorize_url: String,
    pub client_id: String,
}

impl Default for ClaudeEndpoints {
    fn default() -> Self {
        ClaudeEndpoints {
            base_url: "https://api.anthropic.com".to_string(),
            token_url: "https://api.anthropic.com/v1/oauth/token".to_string(),
            authorize_url: "https://claude.ai/oauth/authorize".to_string(),
            client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e".to_string(),
        }
    }
}

/// Where Codex (ChatGPT) lives. Defaults are OpenAI's public endpoints and the Codex CLI's client.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CodexEndpoints {
    pub base_url: String,
    pub token_url: String,
    pub authorize_url: String,
    pub client_id: String,
    pub device_usercode_url: String,
    pub device_token_url: String,
    pub device_verify_url: String,
    pub device_redirect_uri: String,
}

impl Default for CodexEndpoints {
    fn default() -> Self {
        CodexEndpoints {
            base_url: "https://chatgpt.com/backend-api/codex".to_string(),
            token_url: "https://auth.openai.com/oauth/token".to_string(),
            authorize_url: "https://auth.openai.com/oauth/authorize".to_string(),
            client_id: "app_EMoamEEZ73f0CkXaXp7hrann".to_string(),
            device_usercode_url: "https://auth.openai.com/api/accounts/deviceauth/usercode"
                .to_string(),
            device_token_url: "https://auth.openai.com/api/accounts/deviceauth/token".to_string(),
            device_verify_url: "https://auth.openai.com/codex/device".to_string(),
            device_redirect_uri: "https://auth.openai.com/deviceauth/callback".to_string(),
        }
    }
}

/// Google OAuth endpoints shared by Gemini CLI and Antigravity logins. The client
/// secrets are the public ones shipped in the official CLIs.
macro_rules! google_endpoints {
    ($(#[$m:meta])* $name:ident, $client_id:expr, $secret:expr, $hosts:expr, $version:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(rename_all = "kebab-case", default)]
        pub struct $name {
            pub base_url: String,
            /// Code Assist hosts requests try in order (a transport error or 5xx moves
            /// to the next); empty: `base-url` alone.
            pub base_urls: Vec<String>,
            /// The client version the upstream `User-Agent` claims (newer models are
            /// refused to old clients).
            pub client_version: String,
            pub token_url: String,
            pub authorize_url: String,
            pub userinfo_url: String,
            pub client_id: String,
            pub client_secret: Secret,
        }

        impl $name {
            /// The hosts requests go to, in order.
            pub fn hosts(&self) -> Vec<String> {
                if self.base_urls.is_empty() {
                    vec![self.base_url.clone()]
                } else {
                    self.base_urls.clone()
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    base_urls: $hosts.iter().map(|h: &&str| h.to_string()).collect(),
                    client_version: $version.to_string(),
                    base_url: "https://cloudcode-pa.googleapis.com".to_string(),
                    token_url: "https://oauth2.googleapis.com/token".to_string(),
                    authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".to_string(),
                    userinfo_url: "https://www.googleapis.com/oauth2/v1/userinfo?alt=json"
                        .to_string(),
                    client_id: $client_id.to_string(),
                    client_secret: Secret::new($secret),
                }
            }
        }
    };
}

google_endpoints!(
    /// Gemini CLI's Google OAuth client and Code Assist base (`base-url`).
    GeminiEndpoints,
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    "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",
    [] as [&str; 0],
    "0.31.0"
);
google_endpoints!(
    /// Antigravity's Google OAuth client and Code Assist base (`base-url`).
    AntigravityEndpoints,
    "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    "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",
    [
        "https://cloudcode-pa.googleapis.com",
        "https://daily-cloudcode-pa.googleapis.com",
        "https://daily-cloudcode-pa.sandbox.googleapis.com",
    ],
    "1.21.9"
);

/// `template:`: render `path` with the variables of `env-file` into `out` when `serve`
/// starts (see `template_settings` for how flags and environment variables override
/// these). Relative paths are taken from the config file's folder.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", default)]
pub struct TemplateConfig {
    pub path: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// Where the rendered config goes; required when this file holds `path` (rendering
    /// into this file would replace these settings).
    pub out: Option<PathBuf>,
}

impl Config {
    /// The folder the proxy reads auth files from: `objectstore/auths` under
    /// `OBJECTSTORE_LOCAL_PATH` (or `~/.cli-proxy-api`) when object storage is on,
    /// else `auth-dir`.
    pub fn auth_dir(&self, env: &EnvMap) -> PathBuf {
        if env.get_any(&["OBJECTSTORE_ENDPOINT"]).is_some() {
            let base = env
                .get_any(&["OBJECTSTORE_LOCAL_PATH"])
                .map(|p| expand_tilde(p, env))
                .unwrap_or_else(|| expand_tilde("~/.cli-proxy-api", env));
            return base.join("objectstore").join("auths");
        }
        expand_tilde(&self.auth_dir, env)
    }

    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "::1" | "localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}
