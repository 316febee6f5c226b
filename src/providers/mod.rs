//! Upstreams, one file each, dispatched through a closed enum.

pub mod claude;
pub mod clients;
pub mod openai_compat;

use bytes::Bytes;
use http::HeaderMap;

use crate::auth::credential::Credential;
use crate::config::{Config, Secret};
use crate::translate::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Claude,
    OpenAiCompat,
}

impl ProviderKind {
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Claude => "claude",
            ProviderKind::OpenAiCompat => "openai-compatibility",
        }
    }

    /// The dialect this upstream speaks natively.
    pub fn dialect(self) -> Dialect {
        match self {
            ProviderKind::Claude => Dialect::Anthropic,
            ProviderKind::OpenAiCompat => Dialect::OpenAiChat,
        }
    }
}

/// The operation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Messages,
    CountTokens,
    ChatCompletions,
}

/// A fully built upstream request.
pub struct Outbound {
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a provider needs to build its request.
pub struct BuildInput<'a> {
    pub cred: &'a Credential,
    pub token: &'a Secret,
    pub op: Operation,
    pub body: Bytes,
    pub client_headers: &'a HeaderMap,
    pub stream: bool,
    pub config: &'a Config,
}

pub fn build(input: BuildInput<'_>) -> Outbound {
    match input.cred.provider {
        ProviderKind::Claude => claude::build(input),
        ProviderKind::OpenAiCompat => openai_compat::build(input),
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
