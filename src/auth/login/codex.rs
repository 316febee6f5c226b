//! Codex (ChatGPT) OAuth: authorization code with PKCE S256 (form-encoded exchange), or
//! the device flow (`--device`). E-mail, account id and plan come from the id_token's
//! claims. Saves `codex-<email>.json` (`-<plan>` for paid plans, hashed team form).

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Body, CallbackSpec, Flow, LoginError, Saved, pkce::Pkce};
use crate::auth::file::{rfc3339, rfc3339_ms};
use crate::config::CodexEndpoints;
use crate::providers::codex::identity as codex_identity;
use crate::providers::oauth::jwt_claims;

pub const SCOPE: &str = "openid email profile offline_access";

pub const CALLBACK: CallbackSpec = CallbackSpec {
    provider: "Codex (ChatGPT)",
    default_port: 1455,
    path: "/auth/callback",
};

/// CLIProxyAPI's Codex file name (`internal/auth/codex/filename.go`).
pub fn file_name(email: &str, plan: Option<&str>, account_id: Option<&str>) -> String {
    match plan.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => format!("codex-{email}.json"),
        Some("team") => {
            let h = crate::store::sha256_hex(account_id.unwrap_or_default().as_bytes());
            format!("codex-{}-{email}-team.json", &h[..8])
        }
        Some(p) => format!("codex-{email}-{p}.json"),
    }
}

/// The authorize URL for `redirect` and `state` (also used by the management API's
/// web login).
pub fn authorize_url(
    ep: &CodexEndpoints,
    redirect: &str,
    state: &str,
    pkce: &Pkce,
) -> Result<String, LoginError> {
    super::with_query(
        &ep.authorize_url,
        &[
            ("response_type", "code"),
            ("client_id", &ep.client_id),
            ("redirect_uri", redirect),
            ("scope", SCOPE),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("prompt", "login"),
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("state", state),
        ],
    )
}

pub async fn login(flow: &Flow<'_>) -> Result<Saved, LoginError> {
    let ep = &flow.config.codex;
    let pkce = Pkce::generate();
    let (code, redirect_uri) = flow
        .authorize(&CALLBACK, |redirect, state| {
            authorize_url(ep, redirect, state, &pkce)
        })
        .await?;
    finish(
        &flow.client,
        ep,
        flow.auth_dir,
        &code,
        &redirect_uri,
        &pkce.verifier,
    )
    .await
}

/// Exchanges the code and saves the auth file.
pub async fn finish(
    client: &reqwest::Client,
    ep: &CodexEndpoints,
    auth_dir: &Path,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<Saved, LoginError> {
    let tok = super::token_request(
        client,
        &ep.token_url,
        Body::Form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &ep.client_id),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]),
        "Codex token exchange",
    )
    .await?;
    let id_token = super::str_of(&tok, "id_token");
    let claims = jwt_claims(&id_token)
        .ok_or_else(|| LoginError::new("the token response has no readable id_token"))?;
    let (email, account_id, plan) = codex_identity(&claims);
    let email = email.ok_or_else(|| LoginError::new("the id_token has no e-mail claim"))?;
    let now = jiff::Timestamp::now();
    let expired = super::expiry_from(&tok, now).or_else(|| {
        jwt_claims(&super::str_of(&tok, "access_token"))
            .and_then(|c| c.get("exp").and_then(Value::as_i64))
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
    });
    let mut f = Map::new();
    f.insert("id_token".into(), json!(id_token));
    f.insert(
        "access_token".into(),
        json!(super::str_of(&tok, "access_token")),
    );
    f.insert(
        "refresh_token".into(),
        json!(super::str_of(&tok, "refresh_token")),
    );
    f.insert(
        "account_id".into(),
        json!(account_id.clone().unwrap_or_default()),
    );
    f.insert("last_refresh".into(), json!(rfc3339_ms(now)));
    f.insert("email".into(), json!(email));
    f.insert("type".into(), json!("codex"));
    f.insert(
        "expired".into(),
        json!(expired.map(rfc3339).unwrap_or_default()),
    );
    let name = file_name(&email, plan.as_deref(), account_id.as_deref());
    let acct = account_id.unwrap_or_default();
    super::save(
        auth_dir,
        &name,
        f,
        |existing| {
            existing.email() == Some(email.as_str())
                && existing.str_field("account_id").unwrap_or_default() == acct
        },
        &email,
    )
}

/// Device flow: show a code to enter on the verify page, poll until approved, then
/// exchange the authorization code it yields.
pub async fn device_login(flow: &Flow<'_>) -> Result<Saved, LoginError> {
    let ep = &flow.config.codex;
    let (status, start) = super::post_json(
        &flow.client,
        &ep.device_usercode_url,
        Body::Json(json!({"client_id": ep.client_id})),
        "Codex device code request",
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(LoginError::new(format!(
            "Codex device code request failed: HTTP {status}{}",
            super::describe_error(&start)
        )));
    }
    let device_auth_id = super::str_of(&start, "device_auth_id");
    let user_code = start
        .get("user_code")
        .or_else(|| start.get("usercode"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if device_auth_id.is_empty() || user_code.is_empty() {
        return Err(LoginError::new(
            "the device code answer has no device_auth_id or user_code",
        ));
    }
    let interval = start
        .get("interval")
        .and_then(|i| {
            i.as_u64()
                .or_else(|| i.as_str().and_then(|s| s.trim().parse().ok()))
        })
        .unwrap_or(5);
    println!(
        "To log in to Codex, open {} and enter the code:\n\n    {user_code}\n\nWaiting for approval...",
        ep.device_verify_url
    );
    // CLIProxyAPI gives the device flow 15 minutes.
    let limit = if flow.timeout == super::DEFAULT_TIMEOUT {
        Duration::from_secs(15 * 60)
    } else {
        flow.timeout
    };
    let deadline = tokio::time::Instant::now() + limit;
    let body = json!({"device_auth_id": device_auth_id, "user_code": user_code});
    loop {
        let (status, v) = super::post_json(
            &flow.client,
            &ep.device_token_url,
            Body::Json(body.clone()),
            "Codex device poll",
        )
        .await?;
        match status {
            200..=299 => {
                let code = super::str_of(&v, "authorization_code");
                let verifier = super::str_of(&v, "code_verifier");
                if code.is_empty() {
                    return Err(LoginError::new(
                        "the device poll answer has no authorization_code",
                    ));
                }
                return finish(
                    &flow.client,
                    ep,
                    flow.auth_dir,
                    &code,
                    &ep.device_redirect_uri,
                    &verifier,
                )
                .await;
            }
            403 | 404 => {}
            s => {
                return Err(LoginError::new(format!(
                    "Codex device login failed: HTTP {s}{}",
                    super::describe_error(&v)
                )));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(LoginError::new(format!(
                "timed out after {}s waiting for the device code to be approved; run the login again",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_cliproxyapi() {
        assert_eq!(file_name("a@b.c", None, None), "codex-a@b.c.json");
        assert_eq!(
            file_name("a@b.c", Some("plus"), None),
            "codex-a@b.c-plus.json"
        );
        let n = file_name("a@b.c", Some("team"), Some("acct"));
        assert!(
            n.starts_with("codex-") && n.ends_with("-a@b.c-team.json"),
            "{n}"
        );
        assert_eq!(n.len(), "codex-12345678-a@b.c-team.json".len());
    }
}
