//! Vertex AI with an API key (`vertex-api-key` entries): `POST
//! <base>/v1/publishers/google/models/<model>:<action>` with `x-goog-api-key` (Vertex
//! express mode). Same body and answers as the Gemini API.

use std::time::Duration;

use super::gemini_api::{action, key_headers};
use super::oauth::{TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "vertex-api-key";
pub const AUTH_TYPES: &[&str] = &[];
pub const LOGIN_COMMAND: Option<&str> = None;
pub const SERVES_AUTH_FILES: bool = false;
pub const CATALOG: &[&str] = super::gemini_api::CATALOG;
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
pub const REFRESH_LEAD: Duration = Duration::ZERO;
pub const ENVELOPE: Option<&str> = None;
pub const ALIAS_CHANNEL: &str = "";
pub const DEFAULT_BASE: &str = "https://aiplatform.googleapis.com";

/// `vertex-api-key` entries.
pub fn config_credentials(config: &Config) -> Vec<Credential> {
    config
        .vertex_api_key
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Credential::from_api_key_entry(super::Provider::Vertex, "vertex-api-key", i, e)
        })
        .collect()
}

pub fn serves_model(model: &str) -> bool {
    super::gemini_api::serves_model(model)
}

pub fn supports(_op: Operation) -> bool {
    true
}

pub fn refresh_request(_config: &Config, _refresh_token: &str) -> Option<TokenRequest> {
    None
}

pub fn apply_token(_file: &mut AuthFile, _tok: &TokenAnswer, _now: jiff::Timestamp) {}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

pub fn build(input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    let base = if input.cred.base_url.is_empty() {
        DEFAULT_BASE
    } else {
        input.cred.base_url.as_str()
    };
    Ok(Outbound {
        url: format!(
            "{base}/v1/publishers/google/models/{}:{}",
            input.model,
            action(input.op, input.stream)
        ),
        headers: key_headers(&input),
        body: input.body,
    })
}
