//! Gemini CLI (Google Cloud Code `v1internal`): `type: gemini` / `gemini-cli` auth files,
//! which keep the OAuth token under `token{...}`. Loaded and refreshed; requests to it
//! are not served yet.

use std::time::Duration;

use serde_json::Value;

use super::oauth::{self, TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, Provider};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::auth::file::rfc3339;
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "gemini";
pub const AUTH_TYPES: &[&str] = &["gemini", "gemini-cli"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login gemini");
pub const SERVES_AUTH_FILES: bool = false;
pub const CATALOG: &[&str] = &[];
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
/// Refreshed at expiry (Google tokens live an hour).
pub const REFRESH_LEAD: Duration = Duration::ZERO;
/// Code Assist wraps every answer: `{"response": {...}, "traceId": ...}`.
pub const ENVELOPE: Option<&str> = Some("response");

pub fn config_credentials(_config: &Config) -> Vec<Credential> {
    Vec::new()
}

pub fn serves_model(_model: &str) -> bool {
    false
}

pub fn supports(_op: Operation) -> bool {
    false
}

pub fn refresh_request(config: &Config, refresh_token: &str) -> Option<TokenRequest> {
    let ep = &config.gemini;
    Some(oauth::google_refresh(
        &ep.token_url,
        &ep.client_id,
        ep.client_secret.expose(),
        refresh_token,
    ))
}

/// Gemini CLI files keep the oauth2 token under `token`.
pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    let f = &mut file.fields;
    let token = f
        .entry("token")
        .or_insert_with(|| Value::Object(Default::default()));
    if !token.is_object() {
        *token = Value::Object(Default::default());
    }
    if let Value::Object(t) = token {
        t.insert(
            "access_token".into(),
            Value::String(tok.access_token.clone()),
        );
        if let Some(r) = tok.refresh_token.as_ref().filter(|r| !r.is_empty()) {
            t.insert("refresh_token".into(), Value::String(r.clone()));
        }
        if let Some(e) = tok.expiry(now) {
            t.insert("expiry".into(), Value::String(rfc3339(e)));
        }
        t.entry("token_type")
            .or_insert_with(|| Value::String("Bearer".into()));
    }
    f.insert("last_refresh".into(), Value::String(rfc3339(now)));
}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

pub fn build(_input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    Err(NotServed(Provider::Gemini))
}
