//! Codex (ChatGPT backend, OpenAI Responses API): `type: codex` auth files. Loaded and
//! refreshed; requests to it are not served yet (no Responses dialect), and neither
//! are `codex-api-key` entries.

use std::time::Duration;

use serde_json::Value;

use super::oauth::{self, TokenAnswer, TokenBody, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, Provider};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "codex";
pub const AUTH_TYPES: &[&str] = &["codex"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login codex");
pub const SERVES_AUTH_FILES: bool = false;
pub const CATALOG: &[&str] = &[];
/// The Responses API, which the gateway cannot translate to yet.
pub const DIALECT: Option<Dialect> = None;
pub const REFRESH_LEAD: Duration = Duration::from_secs(5 * 24 * 3600);
pub const ENVELOPE: Option<&str> = None;

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
    Some(TokenRequest {
        url: config.codex.token_url.clone(),
        body: TokenBody::Form(vec![
            ("client_id", config.codex.client_id.clone()),
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh_token.to_string()),
            ("scope", "openid profile email".into()),
        ]),
    })
}

/// Tokens as Claude's, plus e-mail and ChatGPT account id from the new id_token.
pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    let f = &mut file.fields;
    oauth::set_top_level_tokens(f, tok, now);
    oauth::set_refreshed_and_account_email(f, tok, now);
    if let Some(claims) = tok.id_token.as_deref().and_then(oauth::jwt_claims) {
        let (email, account_id, _) = identity(&claims);
        if let Some(e) = email {
            f.insert("email".into(), Value::String(e));
        }
        if let Some(a) = account_id {
            f.insert("account_id".into(), Value::String(a));
        }
    }
}

/// The backend answers in SSE only; non-stream answers are assembled from the stream.
pub fn upstream_streams(_model: &str, _client_stream: bool) -> bool {
    true
}

pub fn build(_input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    Err(NotServed(Provider::Codex))
}

/// Codex id_token claims: (email, ChatGPT account id, plan type).
pub fn identity(claims: &Value) -> (Option<String>, Option<String>, Option<String>) {
    let auth = claims.get("https://api.openai.com/auth");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    (
        s(claims.get("email")),
        s(auth.and_then(|a| a.get("chatgpt_account_id"))),
        s(auth.and_then(|a| a.get("chatgpt_plan_type"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_reads_identity_from_the_new_id_token() {
        use base64::Engine;
        let claims = serde_json::json!({
            "email": "new@example.com",
            "https://api.openai.com/auth": {"chatgpt_account_id": "acct-9", "chatgpt_plan_type": "plus"},
        });
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
        let mut f = AuthFile::parse(
            std::path::Path::new("/x/codex-a.json"),
            br#"{"type":"codex","email":"old@example.com","account_id":"acct-1","refresh_token":"r1"}"#,
        )
        .unwrap();
        let tok = TokenAnswer {
            access_token: "at".into(),
            refresh_token: Some("r2".into()),
            expires_in: Some(60),
            account: None,
            id_token: Some(format!("h.{payload}.s")),
        };
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        apply_token(&mut f, &tok, now);
        assert_eq!(f.str_field("email"), Some("new@example.com"));
        assert_eq!(f.str_field("account_id"), Some("acct-9"));
        assert_eq!(f.str_field("refresh_token"), Some("r2"));
        assert_eq!(f.str_field("expired"), Some("2026-01-01T00:01:00Z"));
        assert_eq!(f.str_field("last_refresh"), Some("2026-01-01T00:00:00Z"));
    }
}
