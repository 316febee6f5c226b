//! Gemini CLI (Google Cloud Code `v1internal`): `type: gemini` / `gemini-cli` auth files,
//! which keep the OAuth token under `token{...}` (CLIProxyAPI's layout). Requests go in
//! the `{project, model, request}` envelope with Gemini CLI's own headers. Google now
//! serves Code Assist only to paid tiers, so a 403 names them and points to Antigravity.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value};

use super::cloudcode::{self, Site};
use super::oauth::{self, TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, apply_custom};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::auth::file::{rfc3339, rfc3339_ms};
use crate::config::Config;
use crate::translate::{Dialect, gemini};

pub const NAME: &str = "gemini";
pub const AUTH_TYPES: &[&str] = &["gemini", "gemini-cli"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login gemini");
pub const SERVES_AUTH_FILES: bool = true;
/// CLIProxyAPI's Gemini CLI catalog.
pub const CATALOG: &[&str] = &[
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
];
/// `oauth-model-alias` channel.
pub const ALIAS_CHANNEL: &str = "gemini-cli";
/// `X-Goog-Api-Client` as Gemini CLI sends it.
pub const API_CLIENT: &str = "google-genai-sdk/1.41.0 gl-node/v22.19.0";
/// Appended to a 403: why, and what works instead.
pub const FORBIDDEN_HINT: &str = "Google now serves Gemini CLI (Code Assist) accounts only on paid tiers (Gemini Code Assist Standard or Enterprise); log in with Antigravity instead: `cliproxy login antigravity`";
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
/// Refreshed at expiry (Google tokens live an hour).
pub const REFRESH_LEAD: Duration = Duration::ZERO;
/// Code Assist wraps every answer: `{"response": {...}, "traceId": ...}`.
pub const ENVELOPE: Option<&str> = Some("response");

pub fn config_credentials(_config: &Config) -> Vec<Credential> {
    Vec::new()
}

/// Accounts without a model list serve every `gemini-*` model.
pub fn serves_model(model: &str) -> bool {
    model.starts_with("gemini-")
}

/// Everything: other dialects are translated to Gemini's.
pub fn supports(_op: Operation) -> bool {
    true
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
    f.insert("last_refresh".into(), Value::String(rfc3339_ms(now)));
}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

/// `GeminiCLI/<version>/<model> (<os>; <arch>)`.
pub fn user_agent(config: &Config, model: &str) -> String {
    format!(
        "GeminiCLI/{}/{model} ({}; {})",
        config.gemini.client_version,
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

pub fn site(config: &Config) -> Site {
    Site {
        bases: config.gemini.hosts(),
        ide: "IDE_UNSPECIFIED",
        user_agent: user_agent(config, "gemini-2.5-pro"),
    }
}

/// The body sent upstream: `{project, model, request}` (countTokens: `{request}` only).
pub fn envelope(op: Operation, model: &str, project: &str, body: &[u8]) -> Bytes {
    let req: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    let out = if op == Operation::CountTokens {
        gemini::cloud_code_count_tokens_envelope(model, &super::antigravity::count_contents(req))
    } else {
        gemini::gemini_cli_envelope(model, project, Value::Object(req))
    };
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}

/// The hint for an upstream error status, if it has one.
pub fn error_hint(status: u16) -> Option<&'static str> {
    (status == 403).then_some(FORBIDDEN_HINT)
}

pub fn build(input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    let cfg = input.config;
    let project = input
        .cred
        .oauth()
        .and_then(|a| crate::auth::project::recorded(a))
        .unwrap_or_default();
    let base = cfg.gemini.hosts().into_iter().next().unwrap_or_default();
    let mut h = HeaderMap::with_capacity(6);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", input.token.expose())) {
        h.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&user_agent(cfg, input.model)) {
        h.insert(header::USER_AGENT, v);
    }
    h.insert("x-goog-api-client", HeaderValue::from_static(API_CLIENT));
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static(if input.stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    apply_custom(&mut h, &input.cred.headers);
    Ok(Outbound {
        url: cloudcode::url(&base, input.op, input.stream),
        headers: h,
        body: envelope(input.op, input.model, &project, &input.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_in_the_cli_envelope() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[]}"#;
        let v: Value = serde_json::from_slice(&envelope(
            Operation::GenerateContent,
            "gemini-2.5-pro",
            "p",
            body,
        ))
        .unwrap();
        assert_eq!(v["project"], "p");
        assert_eq!(v["model"], "gemini-2.5-pro");
        assert_eq!(v["request"]["contents"][0]["parts"][0]["text"], "hi");
        let ua = user_agent(&Config::default(), "gemini-2.5-pro");
        assert!(ua.starts_with("GeminiCLI/0.31.0/gemini-2.5-pro ("), "{ua}");
    }

    #[test]
    fn forbidden_names_paid_tiers_and_antigravity() {
        let hint = error_hint(403).unwrap();
        assert!(hint.contains("paid tiers") && hint.contains("cliproxy login antigravity"));
        assert_eq!(error_hint(429), None);
    }
}
