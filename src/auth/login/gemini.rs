//! Gemini CLI (Google) OAuth: authorization code without PKCE, form-encoded exchange
//! with the public client secret, e-mail from userinfo, project from Code Assist.
//! Saves `<email>-<project>.json` with the token under `token{...}`.

use serde_json::{Map, json};

use super::{Body, CallbackSpec, Flow, LoginError, Saved};
use std::path::Path;

use crate::auth::file::rfc3339;
use crate::config::GeminiEndpoints;

pub const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
];

pub const CALLBACK: CallbackSpec = CallbackSpec {
    provider: "Gemini (Google)",
    default_port: 8085,
    path: "/oauth2callback",
};

/// Google's authorize URL (Gemini CLI and Antigravity).
pub fn google_authorize_url(
    authorize_url: &str,
    client_id: &str,
    redirect: &str,
    state: &str,
    scopes: &str,
) -> Result<String, LoginError> {
    super::with_query(
        authorize_url,
        &[
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", scopes),
            ("state", state),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ],
    )
}

/// Google's code exchange: the token answer.
pub async fn google_exchange(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
) -> Result<serde_json::Value, LoginError> {
    super::token_request(
        client,
        token_url,
        Body::Form(&[
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
        ]),
        "Google token exchange",
    )
    .await
}

/// Google authorization-code flow shared with Antigravity: returns the token answer.
pub async fn google_code(
    flow: &Flow<'_>,
    spec: &CallbackSpec,
    authorize_url: &str,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    scopes: &str,
) -> Result<serde_json::Value, LoginError> {
    let (code, redirect_uri) = flow
        .authorize(spec, |redirect, state| {
            google_authorize_url(authorize_url, client_id, redirect, state, scopes)
        })
        .await?;
    google_exchange(
        &flow.client,
        token_url,
        client_id,
        client_secret,
        &code,
        &redirect_uri,
    )
    .await
}

pub async fn login(flow: &Flow<'_>) -> Result<Saved, LoginError> {
    let ep = &flow.config.gemini;
    let scopes = SCOPES.join(" ");
    let tok = google_code(
        flow,
        &CALLBACK,
        &ep.authorize_url,
        &ep.token_url,
        &ep.client_id,
        ep.client_secret.expose(),
        &scopes,
    )
    .await?;
    finish(&flow.client, ep, flow.auth_dir, &tok).await
}

/// Reads the account behind the token answer `tok` and saves the auth file.
pub async fn finish(
    client: &reqwest::Client,
    ep: &GeminiEndpoints,
    auth_dir: &Path,
    tok: &serde_json::Value,
) -> Result<Saved, LoginError> {
    let access = super::str_of(tok, "access_token");
    let email = super::google_email(client, &ep.userinfo_url, &access).await?;
    let project =
        super::code_assist_project(client, &ep.base_url, &access, "IDE_UNSPECIFIED").await;
    let now = jiff::Timestamp::now();
    let token_type = match super::str_of(tok, "token_type") {
        t if t.is_empty() => "Bearer".to_string(),
        t => t,
    };
    let mut f = Map::new();
    f.insert(
        "token".into(),
        json!({
            "access_token": access,
            "token_type": token_type,
            "refresh_token": super::str_of(tok, "refresh_token"),
            "expiry": super::expiry_from(tok, now).map(rfc3339).unwrap_or_default(),
            "token_uri": ep.token_url,
            "client_id": ep.client_id,
            "client_secret": ep.client_secret.expose(),
            "scopes": SCOPES,
            "universe_domain": "googleapis.com",
        }),
    );
    let project_id = project.clone().unwrap_or_default();
    f.insert("project_id".into(), json!(project_id));
    f.insert("email".into(), json!(email));
    f.insert("auto".into(), json!(false));
    f.insert("checked".into(), json!(project.is_some()));
    f.insert("type".into(), json!("gemini"));
    let name = match &project {
        Some(p) => format!("{email}-{p}.json"),
        None => format!("gemini-{email}.json"),
    };
    super::save(
        auth_dir,
        &name,
        f,
        |existing| {
            existing.email() == Some(email.as_str())
                && existing.str_field("project_id").unwrap_or_default() == project_id
        },
        &email,
    )
}
