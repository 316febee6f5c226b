//! Claude (Anthropic) OAuth: authorization code with PKCE S256, JSON token exchange,
//! e-mail from `account.email_address`. Saves `claude-<email>.json`.

use serde_json::{Map, Value, json};

use super::{Body, CallbackSpec, Flow, LoginError, Saved, pkce::Pkce};
use std::path::Path;

use crate::auth::file::{rfc3339, rfc3339_ms};
use crate::config::ClaudeEndpoints;

pub const SCOPES: &str =
    "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload";

pub const CALLBACK: CallbackSpec = CallbackSpec {
    provider: "Claude",
    default_port: 54545,
    path: "/callback",
};

/// The authorize URL for `redirect` and `state` (also used by the management API's
/// web login).
pub fn authorize_url(
    ep: &ClaudeEndpoints,
    redirect: &str,
    state: &str,
    pkce: &Pkce,
) -> Result<String, LoginError> {
    super::with_query(
        &ep.authorize_url,
        &[
            ("code", "true"),
            ("client_id", &ep.client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", SCOPES),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
        ],
    )
}

pub async fn login(flow: &Flow<'_>) -> Result<Saved, LoginError> {
    let ep = &flow.config.claude;
    let pkce = Pkce::generate();
    let mut sent_state = String::new();
    let (code, redirect_uri) = flow
        .authorize(&CALLBACK, |redirect, state| {
            sent_state = state.to_string();
            authorize_url(ep, redirect, state, &pkce)
        })
        .await?;
    finish(
        &flow.client,
        ep,
        flow.auth_dir,
        &code,
        &sent_state,
        &redirect_uri,
        &pkce.verifier,
    )
    .await
}

/// Exchanges the code and saves the auth file.
pub async fn finish(
    client: &reqwest::Client,
    ep: &ClaudeEndpoints,
    auth_dir: &Path,
    code: &str,
    sent_state: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Saved, LoginError> {
    let tok = super::token_request(
        client,
        &ep.token_url,
        Body::Json(json!({
            "code": code,
            "state": sent_state,
            "grant_type": "authorization_code",
            "client_id": ep.client_id,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        })),
        "Claude token exchange",
    )
    .await?;
    let email = tok
        .pointer("/account/email_address")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| LoginError::new("the token response has no account e-mail"))?
        .to_string();
    let now = jiff::Timestamp::now();
    let mut f = Map::new();
    f.insert("id_token".into(), json!(super::str_of(&tok, "id_token")));
    f.insert(
        "access_token".into(),
        json!(super::str_of(&tok, "access_token")),
    );
    f.insert(
        "refresh_token".into(),
        json!(super::str_of(&tok, "refresh_token")),
    );
    f.insert("last_refresh".into(), json!(rfc3339_ms(now)));
    f.insert("email".into(), json!(email));
    f.insert("type".into(), json!("claude"));
    f.insert(
        "expired".into(),
        json!(
            super::expiry_from(&tok, now)
                .map(rfc3339)
                .unwrap_or_default()
        ),
    );
    let name = format!("claude-{email}.json");
    super::save(
        auth_dir,
        &name,
        f,
        |existing| existing.email() == Some(email.as_str()),
        &email,
    )
}
