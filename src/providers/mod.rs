//! Upstreams, one file each, behind one closed enum: [`Provider`].
//!
//! A provider file owns every fact about its upstream: the auth-file `type`s it reads,
//! the config entries it serves, its model catalog, its native dialect, how and when
//! its OAuth token is refreshed, how a request to it is built, whether it must stream
//! upstream and how its answers are wrapped. The rest of the gateway (request loop,
//! refresh, registry, login) asks [`Provider`] and never names an upstream itself.
//!
//! # Adding a provider
//!
//! 1. Copy an existing file (`antigravity.rs` is the shortest) to
//!    `src/providers/<name>.rs` and fill in its items; every provider file defines the
//!    same set: `NAME`, `AUTH_TYPES`, `LOGIN_COMMAND`, `SERVES_AUTH_FILES`, `CATALOG`,
//!    `DIALECT`, `REFRESH_LEAD`, `ENVELOPE`, and `config_credentials`, `serves_model`,
//!    `supports`, `refresh_request`, `apply_token`, `upstream_streams`, `build`.
//!    (Optional facts have one arm each in `impl Provider`: `alias_channel`,
//!    `code_assist_site` for Cloud Code accounts, `error_hint`.)
//! 2. In this file: `pub mod <name>;`, a variant of [`Provider`] (marked
//!    `#[value(skip)]` when it has no OAuth login), the variant in [`Provider::ALL`],
//!    and one arm per method of `impl Provider` (the compiler lists the missing ones).
//!
//! Two facts only some upstreams have are answered in this file for the others
//! (`None` / `false` arms): [`Provider::limit`] (a cooldown read from the error answer
//! itself, Codex's usage limits) and [`Provider::session_affinity`] (keep a
//! conversation on one account).
//!
//! Nothing else changes: credentials, `/v1/models`, routing, cooldowns, refresh and
//! metrics pick the new provider up through these methods. (A provider with a new
//! OAuth login also needs its interactive flow, `auth/login/<name>.rs`, and an arm in
//! `auth::login::run`.) An upstream that is not served yet says so through the same
//! arms: `SERVES_AUTH_FILES = false`, no catalog, `supports` false, `build` answering
//! [`NotServed`]. Serving it later means editing only its file.

pub mod amp;
pub mod antigravity;
pub mod claude;
pub mod clients;
pub mod cloudcode;
pub mod codex;
pub mod envelope;
pub mod gemini_api;
pub mod gemini_cli;
pub mod h1;
pub mod joined;
pub mod oauth;
pub mod openai_compat;
pub mod vertex;

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::{Config, Secret};
use crate::translate::Dialect;

pub use oauth::{TokenAnswer, TokenBody, TokenRequest};

/// Every upstream the gateway knows. `cliproxy login <provider>` takes the ones with
/// an OAuth login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Provider {
    Claude,
    Codex,
    Gemini,
    Antigravity,
    /// `openai-compatibility` entries (API keys only, nothing to log in to).
    #[value(skip)]
    OpenAiCompat,
    /// `gemini-api-key` entries (the Gemini API, `v1beta`).
    #[value(skip)]
    GeminiApi,
    /// `vertex-api-key` entries (Vertex AI with an API key).
    #[value(skip)]
    Vertex,
}

/// The operation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Messages,
    /// Anthropic's `count_tokens` or Gemini's `countTokens` (the route's dialect says which).
    CountTokens,
    ChatCompletions,
    /// Gemini's `generateContent` / `streamGenerateContent`.
    GenerateContent,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/responses/compact` (never streamed).
    ResponsesCompact,
}

impl Operation {
    /// Whether the operation can be answered as a stream at all.
    pub fn streams(self) -> bool {
        !matches!(self, Operation::CountTokens | Operation::ResponsesCompact)
    }
}

/// A cooldown an upstream's own error answer asks for (a usage limit with its reset
/// time), in place of the status-based rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub duration: Duration,
    /// Shown in errors and `auth list` (`usage limit reached; resets in 2d 3h`).
    pub reason: String,
}

/// A fully built upstream request.
pub struct Outbound {
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a provider needs to build its request. `body` is already in the provider's
/// dialect with `model` set to the upstream name.
pub struct BuildInput<'a> {
    pub cred: &'a Credential,
    pub token: &'a Secret,
    /// The client's operation.
    pub op: Operation,
    /// The model name sent upstream (some upstreams carry it in the URL).
    pub model: &'a str,
    pub body: Bytes,
    pub client_headers: &'a HeaderMap,
    /// Whether the upstream is asked to stream (see [`Provider::upstream_streams`]).
    pub stream: bool,
    pub config: &'a Config,
}

/// A provider the gateway can load and refresh but does not send requests to yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("requests to {} accounts are not served yet", .0.name())]
pub struct NotServed(pub Provider);

impl Provider {
    pub const ALL: [Provider; 7] = [
        Provider::Claude,
        Provider::Codex,
        Provider::Gemini,
        Provider::Antigravity,
        Provider::OpenAiCompat,
        Provider::GeminiApi,
        Provider::Vertex,
    ];

    /// Stable name: metric label, `owned_by` in `/v1/models`, error messages.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Claude => claude::NAME,
            Provider::Codex => codex::NAME,
            Provider::Gemini => gemini_cli::NAME,
            Provider::Antigravity => antigravity::NAME,
            Provider::OpenAiCompat => openai_compat::NAME,
            Provider::GeminiApi => gemini_api::NAME,
            Provider::Vertex => vertex::NAME,
        }
    }

    /// The auth-file `type` values this provider reads.
    pub fn auth_types(self) -> &'static [&'static str] {
        match self {
            Provider::Claude => claude::AUTH_TYPES,
            Provider::Codex => codex::AUTH_TYPES,
            Provider::Gemini => gemini_cli::AUTH_TYPES,
            Provider::Antigravity => antigravity::AUTH_TYPES,
            Provider::OpenAiCompat => openai_compat::AUTH_TYPES,
            Provider::GeminiApi => gemini_api::AUTH_TYPES,
            Provider::Vertex => vertex::AUTH_TYPES,
        }
    }

    /// The provider whose auth files carry `type: <t>` (`None`: a type we do not know).
    pub fn from_auth_type(t: &str) -> Option<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.auth_types().contains(&t))
    }

    /// What to run to log in again (`None`: the provider has no login).
    pub fn login_command(self) -> Option<&'static str> {
        match self {
            Provider::Claude => claude::LOGIN_COMMAND,
            Provider::Codex => codex::LOGIN_COMMAND,
            Provider::Gemini => gemini_cli::LOGIN_COMMAND,
            Provider::Antigravity => antigravity::LOGIN_COMMAND,
            Provider::OpenAiCompat => openai_compat::LOGIN_COMMAND,
            Provider::GeminiApi => gemini_api::LOGIN_COMMAND,
            Provider::Vertex => vertex::LOGIN_COMMAND,
        }
    }

    /// Whether the provider's auth files become routable credentials.
    pub fn serves_auth_files(self) -> bool {
        match self {
            Provider::Claude => claude::SERVES_AUTH_FILES,
            Provider::Codex => codex::SERVES_AUTH_FILES,
            Provider::Gemini => gemini_cli::SERVES_AUTH_FILES,
            Provider::Antigravity => antigravity::SERVES_AUTH_FILES,
            Provider::OpenAiCompat => openai_compat::SERVES_AUTH_FILES,
            Provider::GeminiApi => gemini_api::SERVES_AUTH_FILES,
            Provider::Vertex => vertex::SERVES_AUTH_FILES,
        }
    }

    /// Credentials from the provider's config entries (`claude-api-key`, ...).
    pub fn config_credentials(self, config: &Config) -> Vec<Credential> {
        match self {
            Provider::Claude => claude::config_credentials(config),
            Provider::Codex => codex::config_credentials(config),
            Provider::Gemini => gemini_cli::config_credentials(config),
            Provider::Antigravity => antigravity::config_credentials(config),
            Provider::OpenAiCompat => openai_compat::config_credentials(config),
            Provider::GeminiApi => gemini_api::config_credentials(config),
            Provider::Vertex => vertex::config_credentials(config),
        }
    }

    /// Models `/v1/models` lists for a credential without its own model list.
    pub fn catalog(self) -> &'static [&'static str] {
        match self {
            Provider::Claude => claude::CATALOG,
            Provider::Codex => codex::CATALOG,
            Provider::Gemini => gemini_cli::CATALOG,
            Provider::Antigravity => antigravity::CATALOG,
            Provider::OpenAiCompat => openai_compat::CATALOG,
            Provider::GeminiApi => gemini_api::CATALOG,
            Provider::Vertex => vertex::CATALOG,
        }
    }

    /// Whether a credential without a model list serves `model` (its model family).
    pub fn serves_model(self, model: &str) -> bool {
        match self {
            Provider::Claude => claude::serves_model(model),
            Provider::Codex => codex::serves_model(model),
            Provider::Gemini => gemini_cli::serves_model(model),
            Provider::Antigravity => antigravity::serves_model(model),
            Provider::OpenAiCompat => openai_compat::serves_model(model),
            Provider::GeminiApi => gemini_api::serves_model(model),
            Provider::Vertex => vertex::serves_model(model),
        }
    }

    /// Whether the provider can carry out `op` (in its own dialect or translated).
    pub fn supports(self, op: Operation) -> bool {
        match self {
            Provider::Claude => claude::supports(op),
            Provider::Codex => codex::supports(op),
            Provider::Gemini => gemini_cli::supports(op),
            Provider::Antigravity => antigravity::supports(op),
            Provider::OpenAiCompat => openai_compat::supports(op),
            Provider::GeminiApi => gemini_api::supports(op),
            Provider::Vertex => vertex::supports(op),
        }
    }

    /// The dialect the upstream speaks natively (`None`: one the gateway has no
    /// translator for yet).
    pub fn dialect(self) -> Option<Dialect> {
        match self {
            Provider::Claude => claude::DIALECT,
            Provider::Codex => codex::DIALECT,
            Provider::Gemini => gemini_cli::DIALECT,
            Provider::Antigravity => antigravity::DIALECT,
            Provider::OpenAiCompat => openai_compat::DIALECT,
            Provider::GeminiApi => gemini_api::DIALECT,
            Provider::Vertex => vertex::DIALECT,
        }
    }

    /// How long before expiry an OAuth token is refreshed (zero: at expiry).
    pub fn refresh_lead(self) -> Duration {
        match self {
            Provider::Claude => claude::REFRESH_LEAD,
            Provider::Codex => codex::REFRESH_LEAD,
            Provider::Gemini => gemini_cli::REFRESH_LEAD,
            Provider::Antigravity => antigravity::REFRESH_LEAD,
            Provider::OpenAiCompat => openai_compat::REFRESH_LEAD,
            Provider::GeminiApi => gemini_api::REFRESH_LEAD,
            Provider::Vertex => vertex::REFRESH_LEAD,
        }
    }

    /// The token-endpoint request that spends `refresh_token` (`None`: no OAuth).
    pub fn refresh_request(self, config: &Config, refresh_token: &str) -> Option<TokenRequest> {
        match self {
            Provider::Claude => claude::refresh_request(config, refresh_token),
            Provider::Codex => codex::refresh_request(config, refresh_token),
            Provider::Gemini => gemini_cli::refresh_request(config, refresh_token),
            Provider::Antigravity => antigravity::refresh_request(config, refresh_token),
            Provider::OpenAiCompat => openai_compat::refresh_request(config, refresh_token),
            Provider::GeminiApi => gemini_api::refresh_request(config, refresh_token),
            Provider::Vertex => vertex::refresh_request(config, refresh_token),
        }
    }

    /// Writes a token answer into the auth file the way this provider's files keep it
    /// (unknown fields untouched).
    pub fn apply_token(self, file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
        match self {
            Provider::Claude => claude::apply_token(file, tok, now),
            Provider::Codex => codex::apply_token(file, tok, now),
            Provider::Gemini => gemini_cli::apply_token(file, tok, now),
            Provider::Antigravity => antigravity::apply_token(file, tok, now),
            Provider::OpenAiCompat => openai_compat::apply_token(file, tok, now),
            Provider::GeminiApi => gemini_api::apply_token(file, tok, now),
            Provider::Vertex => vertex::apply_token(file, tok, now),
        }
    }

    /// Whether the upstream is asked to stream, given whether the client asked to and
    /// the upstream model (some upstreams only answer streamed). Never false when the
    /// client asked for a stream.
    pub fn upstream_streams(self, model: &str, client_stream: bool) -> bool {
        match self {
            Provider::Claude => claude::upstream_streams(model, client_stream),
            Provider::Codex => codex::upstream_streams(model, client_stream),
            Provider::Gemini => gemini_cli::upstream_streams(model, client_stream),
            Provider::Antigravity => antigravity::upstream_streams(model, client_stream),
            Provider::OpenAiCompat => openai_compat::upstream_streams(model, client_stream),
            Provider::GeminiApi => gemini_api::upstream_streams(model, client_stream),
            Provider::Vertex => vertex::upstream_streams(model, client_stream),
        }
    }

    /// The upstream request: URL, headers, body rewrites.
    pub fn build(self, input: BuildInput<'_>) -> Result<Outbound, NotServed> {
        match self {
            Provider::Claude => Ok(claude::build(input)),
            Provider::Codex => codex::build(input),
            Provider::Gemini => gemini_cli::build(input),
            Provider::Antigravity => antigravity::build(input),
            Provider::OpenAiCompat => Ok(openai_compat::build(input)),
            Provider::GeminiApi => gemini_api::build(input),
            Provider::Vertex => vertex::build(input),
        }
    }

    /// The cooldown an error answer (`status`, raw upstream `body`) asks for, when the
    /// provider's answers say (`None`: the status-based rules apply).
    pub fn limit(self, status: u16, body: &[u8], now: jiff::Timestamp) -> Option<Limit> {
        match self {
            Provider::Codex => codex::limit(status, body, now),
            Provider::Claude
            | Provider::Gemini
            | Provider::Antigravity
            | Provider::GeminiApi
            | Provider::Vertex
            | Provider::OpenAiCompat => None,
        }
    }

    /// Whether requests of one session (same `prompt_cache_key` / session id) stay on
    /// the account that served it first while that account is available.
    pub fn session_affinity(self) -> bool {
        match self {
            Provider::Codex => codex::SESSION_AFFINITY,
            Provider::Claude
            | Provider::Gemini
            | Provider::Antigravity
            | Provider::GeminiApi
            | Provider::Vertex
            | Provider::OpenAiCompat => false,
        }
    }

    /// The JSON field successful answers are wrapped in (`None`: answers are bare).
    /// Streams carry the wrapper on every `data:` line.
    pub fn envelope(self) -> Option<&'static str> {
        match self {
            Provider::Claude => claude::ENVELOPE,
            Provider::Codex => codex::ENVELOPE,
            Provider::Gemini => gemini_cli::ENVELOPE,
            Provider::Antigravity => antigravity::ENVELOPE,
            Provider::OpenAiCompat => openai_compat::ENVELOPE,
            Provider::GeminiApi => gemini_api::ENVELOPE,
            Provider::Vertex => vertex::ENVELOPE,
        }
    }

    /// The `oauth-model-alias` channel of this provider's accounts (`""`: none).
    pub fn alias_channel(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Codex => "codex",
            Provider::Gemini => gemini_cli::ALIAS_CHANNEL,
            Provider::Antigravity => antigravity::ALIAS_CHANNEL,
            Provider::OpenAiCompat => "",
            Provider::GeminiApi => gemini_api::ALIAS_CHANNEL,
            Provider::Vertex => vertex::ALIAS_CHANNEL,
        }
    }

    /// Cloud Code accounts: their hosts (tried in order) and how their project is
    /// found when the auth file names none. `None`: not a Cloud Code upstream.
    pub fn code_assist_site(self, config: &Config) -> Option<cloudcode::Site> {
        match self {
            Provider::Gemini => Some(gemini_cli::site(config)),
            Provider::Antigravity => Some(antigravity::site(config)),
            Provider::Claude
            | Provider::Codex
            | Provider::OpenAiCompat
            | Provider::GeminiApi
            | Provider::Vertex => None,
        }
    }

    /// What to tell the client along with an upstream error of this status.
    pub fn error_hint(self, status: u16) -> Option<&'static str> {
        match self {
            Provider::Gemini => gemini_cli::error_hint(status),
            _ => None,
        }
    }
}

/// Sets `name: value` unless the map already holds the header.
pub(crate) fn set_default(h: &mut HeaderMap, name: &'static str, value: &str) {
    if !h.contains_key(name)
        && let Ok(v) = http::HeaderValue::from_str(value)
    {
        h.insert(name, v);
    }
}

/// Applies per-entry `headers` from config or the auth file (they win).
pub(crate) fn apply_custom(h: &mut HeaderMap, custom: &[(String, String)]) {
    for (k, v) in custom {
        if let (Ok(name), Ok(val)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            h.insert(name, val);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_types_map_to_exactly_one_provider() {
        assert_eq!(Provider::from_auth_type("claude"), Some(Provider::Claude));
        assert_eq!(Provider::from_auth_type("codex"), Some(Provider::Codex));
        assert_eq!(Provider::from_auth_type("gemini"), Some(Provider::Gemini));
        assert_eq!(
            Provider::from_auth_type("gemini-cli"),
            Some(Provider::Gemini)
        );
        assert_eq!(
            Provider::from_auth_type("antigravity"),
            Some(Provider::Antigravity)
        );
        assert_eq!(Provider::from_auth_type("qwen"), None);
        assert_eq!(Provider::from_auth_type(""), None);
        for p in Provider::ALL {
            for t in p.auth_types() {
                let owners: Vec<_> = Provider::ALL
                    .into_iter()
                    .filter(|q| q.auth_types().contains(t))
                    .collect();
                assert_eq!(owners, vec![p], "type `{t}`");
            }
        }
    }

    #[test]
    fn every_provider_with_auth_files_has_a_login_and_a_refresh_request() {
        let cfg = Config::default();
        for p in Provider::ALL {
            let has_files = !p.auth_types().is_empty();
            assert_eq!(p.login_command().is_some(), has_files, "{p:?}");
            assert_eq!(p.refresh_request(&cfg, "rt").is_some(), has_files, "{p:?}");
        }
    }

    #[test]
    fn login_commands_name_the_clap_value() {
        use clap::ValueEnum;
        for p in Provider::value_variants() {
            let value = p.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(
                p.login_command(),
                value.map(|v| format!("cliproxy login {v}")).as_deref(),
            );
        }
        assert!(
            Provider::OpenAiCompat.to_possible_value().is_none(),
            "no login for API-key providers"
        );
    }

    #[test]
    fn a_client_stream_is_always_streamed_upstream() {
        for p in Provider::ALL {
            for m in ["claude-sonnet-4-5", "gemini-3-pro-high", "gpt-5", "x"] {
                assert!(p.upstream_streams(m, true), "{p:?} {m}");
            }
        }
        assert!(!Provider::Claude.upstream_streams("claude-sonnet-4-5", false));
        assert!(
            Provider::Codex.upstream_streams("gpt-5", false),
            "Codex answers only SSE"
        );
        assert!(Provider::Antigravity.upstream_streams("claude-sonnet-4-5", false));
        assert!(!Provider::Antigravity.upstream_streams("gemini-2.5-flash", false));
    }

    #[test]
    fn refresh_leads_follow_the_reference() {
        assert_eq!(
            Provider::Claude.refresh_lead(),
            Duration::from_secs(4 * 3600)
        );
        assert_eq!(
            Provider::Codex.refresh_lead(),
            Duration::from_secs(5 * 24 * 3600)
        );
        assert_eq!(
            Provider::Antigravity.refresh_lead(),
            Duration::from_secs(300)
        );
        assert_eq!(Provider::Gemini.refresh_lead(), Duration::ZERO);
    }

    #[test]
    fn config_entries_become_credentials_with_digested_ids() {
        let key = crate::config::ApiKeyEntry {
            api_key: Secret::new("sk-test-0123456789"),
            ..Default::default()
        };
        let cfg = Config {
            claude_api_key: vec![key.clone()],
            codex_api_key: vec![key.clone()],
            gemini_api_key: vec![key.clone()],
            vertex_api_key: vec![key.clone()],
            ..Default::default()
        };
        // Every provider serves requests now; what remains checks the config entries.
        let claude = Provider::Claude.config_credentials(&cfg);
        assert_eq!(claude.len(), 1);
        // Ids carry a digest of key and upstream so cooldowns stay with the key.
        assert!(
            claude[0].id.starts_with("claude-api-key[0]#"),
            "{}",
            claude[0].id
        );
        assert!(Provider::Claude.serves_auth_files());
        assert!(Provider::Claude.supports(Operation::CountTokens));
        assert!(!Provider::OpenAiCompat.supports(Operation::CountTokens));
        assert!(Provider::OpenAiCompat.supports(Operation::Messages));
        let codex = Provider::Codex.config_credentials(&Config {
            codex_api_key: vec![crate::config::ApiKeyEntry {
                base_url: "http://127.0.0.1:9".into(),
                ..key.clone()
            }],
            ..Default::default()
        });
        assert_eq!(codex.len(), 1);
        assert!(Provider::Codex.serves_auth_files());
        assert!(Provider::Codex.supports(Operation::Messages));
        assert!(Provider::Codex.supports(Operation::ResponsesCompact));
        assert!(!Provider::Codex.supports(Operation::CountTokens));
        assert!(!Provider::Claude.supports(Operation::ResponsesCompact));
        assert!(!Provider::OpenAiCompat.supports(Operation::ResponsesCompact));
    }

    #[test]
    fn gemini_family_entries_and_files_become_credentials() {
        let key = crate::config::ApiKeyEntry {
            api_key: Secret::new("AIza-test-0123456789"),
            ..Default::default()
        };
        let cfg = Config {
            gemini_api_key: vec![key.clone()],
            vertex_api_key: vec![key.clone(), key.clone()],
            ..Default::default()
        };
        let gemini = Provider::GeminiApi.config_credentials(&cfg);
        assert!(
            gemini[0].id.starts_with("gemini-api-key[0]#"),
            "{}",
            gemini[0].id
        );
        let vertex = Provider::Vertex.config_credentials(&cfg);
        assert!(
            vertex[1].id.starts_with("vertex-api-key[1]#"),
            "{}",
            vertex[1].id
        );
        for p in [Provider::Gemini, Provider::Antigravity] {
            assert!(p.serves_auth_files(), "{p:?}");
            assert!(p.code_assist_site(&cfg).is_some(), "{p:?}");
            for op in [
                Operation::Messages,
                Operation::ChatCompletions,
                Operation::GenerateContent,
                Operation::CountTokens,
            ] {
                assert!(p.supports(op), "{p:?} {op:?}");
            }
        }
        assert!(Provider::Antigravity.serves_model("claude-sonnet-4-6"));
        assert!(!Provider::Antigravity.serves_model("claude-sonnet-4-5-20250929"));
        assert!(Provider::GeminiApi.serves_model("gemini-2.5-flash"));
        assert_eq!(Provider::Antigravity.alias_channel(), "antigravity");
        assert_eq!(Provider::Gemini.alias_channel(), "gemini-cli");
    }

    fn built(p: Provider, base_url: &str, op: Operation, stream: bool) -> Outbound {
        let key = crate::config::ApiKeyEntry {
            api_key: Secret::new("AIza-test-0123456789"),
            base_url: base_url.into(),
            ..Default::default()
        };
        let cred = Credential::from_api_key_entry(p, "x", 0, &key);
        let cfg = Config::default();
        p.build(BuildInput {
            cred: &cred,
            token: &key.api_key,
            op,
            model: "gemini-2.5-flash",
            body: Bytes::from_static(b"{}"),
            client_headers: &HeaderMap::new(),
            stream,
            config: &cfg,
        })
        .unwrap()
    }

    #[test]
    fn gemini_keys_name_the_model_and_action_in_the_url() {
        let o = built(Provider::GeminiApi, "", Operation::GenerateContent, true);
        assert_eq!(
            o.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(o.headers["x-goog-api-key"], "AIza-test-0123456789");
        assert!(o.headers.get("authorization").is_none());
        let o = built(
            Provider::GeminiApi,
            "http://127.0.0.1:9",
            Operation::CountTokens,
            false,
        );
        assert_eq!(
            o.url,
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:countTokens"
        );
        let o = built(Provider::Vertex, "", Operation::Messages, false);
        assert_eq!(
            o.url,
            "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(o.headers["x-goog-api-key"], "AIza-test-0123456789");
    }
}
