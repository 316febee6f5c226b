//! Antigravity (Google) OAuth: like Gemini's with Antigravity's client and scopes.
//! Saves `antigravity-<email>.json` with `expires_in`, `timestamp` (ms) and `expired`.

use serde_json::{Map, json};

use super::{CallbackSpec, Flow, LoginError, Saved};
use std::path::Path;

use crate::auth::file::rfc3339;
use crate::config::AntigravityEndpoints;

pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
];

pub const CALLBACK: CallbackSpec = CallbackSpec {
    provider: "Antigravity (Google)",
    default_port: 51121,
    path: "/oauth-callback",
};

pub async fn login(flow: &Flow<'_>) -> Result<Saved, LoginError> {
    let ep = &flow.config.antigravity;
    let tok = super::gemini::google_code(
        flow,
        &CALLBACK,
        &ep.authorize_url,
        &ep.token_url,
        &ep.client_id,
        ep.client_secret.expose(),
        &SCOPES.join(" "),
    )
    .await?;
    finish(&flow.client, ep, flow.auth_dir, &tok).await
}

/// Reads the account behind the token answer `tok` and saves the auth file.
pub async fn finish(
    client: &reqwest::Client,
    ep: &AntigravityEndpoints,
    auth_dir: &Path,
    tok: &serde_json::Value,
) -> Result<Saved, LoginError> {
    let access = super::str_of(tok, "access_token");
    let email = super::google_email(client, &ep.userinfo_url, &access).await?;
    let project = super::code_assist_project(client, &ep.base_url, &access, "ANTIGRAVITY").await;
    let now = jiff::Timestamp::now();
    let expires_in = tok
        .get("expires_in")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    let mut f = Map::new();
    f.insert("type".into(), json!("antigravity"));
    f.insert("access_token".into(), json!(access));
    f.insert(
        "refresh_token".into(),
        json!(super::str_of(tok, "refresh_token")),
    );
    f.insert("expires_in".into(), json!(expires_in));
    f.insert("timestamp".into(), json!(now.as_millisecond()));
    f.insert(
        "expired".into(),
        json!(
            super::expiry_from(tok, now)
                .map(rfc3339)
                .unwrap_or_default()
        ),
    );
    f.insert("email".into(), json!(email));
    f.insert("project_id".into(), json!(project.unwrap_or_default()));
    let name = format!("antigravity-{email}.json");
    super::save(
        auth_dir,
        &name,
        f,
        |existing| existing.email() == Some(email.as_str()),
        &email,
    )
}
