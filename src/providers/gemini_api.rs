//! The Gemini API with an API key (`gemini-api-key` entries): `POST
//! <base>/v1beta/models/<model>:<action>` with `x-goog-api-key`. Native Gemini dialect,
//! no envelope, no auth files.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};

use super::oauth::{TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, apply_custom};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "gemini-api-key";
pub const AUTH_TYPES: &[&str] = &[];
pub const LOGIN_COMMAND: Option<&str> = None;
pub const SERVES_AUTH_FILES: bool = false;
/// Listed for entries without their own `models`.
pub const CATALOG: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
];
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
pub const REFRESH_LEAD: Duration = Duration::ZERO;
pub const ENVELOPE: Option<&str> = None;
/// No OAuth accounts, so no `oauth-model-alias` channel.
pub const ALIAS_CHANNEL: &str = "";
pub const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

/// `gemini-api-key` entries.
pub fn config_credentials(config: &Config) -> Vec<Credential> {
    config
        .gemini_api_key
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Credential::from_api_key_entry(super::Provider::GeminiApi, "gemini-api-key", i, e)
        })
        .collect()
}

/// Entries without a model list serve every `gemini-*` (and `gemma-*`) model.
pub fn serves_model(model: &str) -> bool {
    model.starts_with("gemini-") || model.starts_with("gemma-")
}

pub fn supports(_op: Operation) -> bool {
    true
}

pub fn refresh_request(_config: &Config, _refresh_token: &str) -> Option<TokenRequest> {
    None
}

/// Never called: there are no auth files of this provider.
pub fn apply_token(_file: &mut AuthFile, _tok: &TokenAnswer, _now: jiff::Timestamp) {}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

/// `:generateContent`, `:streamGenerateContent?alt=sse` or `:countTokens`.
pub fn action(op: Operation, stream: bool) -> &'static str {
    match (op, stream) {
        (Operation::CountTokens, _) => "countTokens",
        (_, true) => "streamGenerateContent?alt=sse",
        (_, false) => "generateContent",
    }
}

/// Headers every Google API-key request carries.
pub(super) fn key_headers(input: &BuildInput<'_>) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(6);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(input.token.expose()) {
        h.insert("x-goog-api-key", v);
    }
    for name in ["user-agent", "x-goog-api-client"] {
        if let Some(v) = input.client_headers.get(name) {
            h.insert(name, v.clone());
        }
    }
    apply_custom(&mut h, &input.cred.headers);
    h
}

pub fn build(input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    let base = if input.cred.base_url.is_empty() {
        DEFAULT_BASE
    } else {
        input.cred.base_url.as_str()
    };
    Ok(Outbound {
        url: format!(
            "{base}/v1beta/models/{}:{}",
            input.model,
            action(input.op, input.stream)
        ),
        headers: key_headers(&input),
        body: input.body,
    })
}
