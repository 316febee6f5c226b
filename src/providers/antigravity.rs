//! Antigravity (Google Cloud Code `v1internal`, Antigravity's client): `type:
//! antigravity` auth files with `expires_in` and a millisecond `timestamp`. Loaded and
//! refreshed; requests to it are not served yet.

use std::time::Duration;

use serde_json::Value;

use super::oauth::{self, TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, Provider};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "antigravity";
pub const AUTH_TYPES: &[&str] = &["antigravity"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login antigravity");
pub const SERVES_AUTH_FILES: bool = false;
pub const CATALOG: &[&str] = &[];
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
pub const REFRESH_LEAD: Duration = Duration::from_secs(5 * 60);
/// Every answer (each stream line too) is `{"response": {...}, "traceId": ...}`.
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
    let ep = &config.antigravity;
    Some(oauth::google_refresh(
        &ep.token_url,
        &ep.client_id,
        ep.client_secret.expose(),
        refresh_token,
    ))
}

/// Top-level tokens plus `expires_in` and `timestamp` (ms); no `last_refresh`.
pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    let f = &mut file.fields;
    oauth::set_top_level_tokens(f, tok, now);
    if let Some(secs) = tok.expires_in {
        f.insert("expires_in".into(), Value::from(secs));
    }
    f.insert("timestamp".into(), Value::from(now.as_millisecond()));
}

/// Claude and Gemini 3 Pro models answer only streamed; the rest as the client asks.
pub fn upstream_streams(model: &str, client_stream: bool) -> bool {
    client_stream || model.starts_with("claude-") || model.starts_with("gemini-3-pro")
}

pub fn build(_input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    Err(NotServed(Provider::Antigravity))
}
