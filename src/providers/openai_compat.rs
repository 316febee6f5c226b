//! OpenAI-compatible upstreams (`openai-compatibility`: OpenRouter, Z.AI, ...):
//! `POST <base-url>/chat/completions` with a Bearer key. API keys only: no auth files,
//! no login, no refresh.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};

use super::oauth::{TokenAnswer, TokenRequest};
use super::{BuildInput, Operation, Outbound, apply_custom};
use crate::auth::AuthFile;
use crate::auth::credential::{Credential, CredentialSecret, mask_key};
use crate::config::{CompatKey, Config, OpenAiCompat};
use crate::translate::Dialect;

pub const NAME: &str = "openai-compatibility";
pub const AUTH_TYPES: &[&str] = &[];
pub const LOGIN_COMMAND: Option<&str> = None;
pub const SERVES_AUTH_FILES: bool = false;
/// Entries list their models; there is no catalog.
pub const CATALOG: &[&str] = &[];
pub const DIALECT: Option<Dialect> = Some(Dialect::OpenAiChat);
pub const REFRESH_LEAD: Duration = Duration::ZERO;
pub const ENVELOPE: Option<&str> = None;

/// One credential per key of every `openai-compatibility` entry.
pub fn config_credentials(config: &Config) -> Vec<Credential> {
    config
        .openai_compatibility
        .iter()
        .flat_map(|entry| {
            entry
                .api_key_entries
                .iter()
                .enumerate()
                .map(move |(i, k)| credential(entry, i, k))
        })
        .collect()
}

fn credential(entry: &OpenAiCompat, i: usize, key: &CompatKey) -> Credential {
    Credential {
        id: crate::auth::credential::key_id(
            &format!("openai-compatibility[{}][{i}]", entry.name),
            &entry.base_url,
            key.api_key.expose(),
        ),
        label: format!("{} key {}", entry.name, mask_key(key.api_key.expose())),
        provider: super::Provider::OpenAiCompat,
        compat_name: Some(entry.name.clone()),
        base_url: entry.base_url.trim_end_matches('/').to_string(),
        secret: CredentialSecret::ApiKey(key.api_key.clone()),
        headers: entry
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        proxy_url: (!key.proxy_url.is_empty()).then(|| key.proxy_url.clone()),
        priority: entry.priority,
        prefix: entry.prefix.clone(),
        models: entry.models.clone(),
        excluded: Vec::new(),
        disable_cooling: entry.disable_cooling,
        disabled: false,
    }
}

/// Only the models an entry lists.
pub fn serves_model(_model: &str) -> bool {
    false
}

/// Chat completions, and Messages translated to it; no token counting.
pub fn supports(op: Operation) -> bool {
    !matches!(op, Operation::CountTokens | Operation::ResponsesCompact)
}

pub fn refresh_request(_config: &Config, _refresh_token: &str) -> Option<TokenRequest> {
    None
}

/// Never called: there are no auth files of this provider.
pub fn apply_token(_file: &mut AuthFile, _tok: &TokenAnswer, _now: jiff::Timestamp) {}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

pub fn build(input: BuildInput<'_>) -> Outbound {
    let mut h = HeaderMap::with_capacity(8);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", input.token.expose())) {
        h.insert(header::AUTHORIZATION, v);
    }
    if input.stream {
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
    } else {
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    for name in [
        "user-agent",
        "x-stainless-lang",
        "x-stainless-package-version",
    ] {
        if let Some(v) = input.client_headers.get(name) {
            h.insert(name, v.clone());
        }
    }
    apply_custom(&mut h, &input.cred.headers);
    Outbound {
        url: format!("{}/chat/completions", input.cred.base_url),
        headers: h,
        body: input.body,
    }
}
