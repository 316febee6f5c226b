//! OAuth pieces the provider files share: the token request they describe, the token
//! answer they store, and the field writes most of them have in common.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::file::{rfc3339, rfc3339_ms};

/// A request to a token endpoint, as the provider wants it sent.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    pub url: String,
    pub body: TokenBody,
}

/// JSON (Anthropic) or form-encoded (OpenAI, Google) body.
#[derive(Clone, PartialEq)]
pub enum TokenBody {
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

impl std::fmt::Debug for TokenBody {
    // The body carries the refresh token (and Google's client secret): never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenBody::Json(_) => f.write_str("TokenBody::Json(..)"),
            TokenBody::Form(_) => f.write_str("TokenBody::Form(..)"),
        }
    }
}

/// A token endpoint's answer (the fields any provider sends; unknown ones ignored).
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub account: Option<Value>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl TokenAnswer {
    pub fn expiry(&self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        self.expires_in
            .map(|secs| now + jiff::SignedDuration::from_secs(secs))
    }
}

/// Google's refresh grant (Gemini CLI and Antigravity): form with the public client secret.
pub fn google_refresh(
    url: &str,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
) -> TokenRequest {
    TokenRequest {
        url: url.to_string(),
        body: TokenBody::Form(vec![
            ("client_id", client_id.to_string()),
            ("client_secret", client_secret.to_string()),
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh_token.to_string()),
        ]),
    }
}

/// Top-level `access_token`, `refresh_token` (when sent), `id_token` (when sent) and
/// `expired`, in that order (the order new keys appear in the file).
pub fn set_top_level_tokens(f: &mut Map<String, Value>, tok: &TokenAnswer, now: jiff::Timestamp) {
    f.insert(
        "access_token".into(),
        Value::String(tok.access_token.clone()),
    );
    if let Some(r) = tok.refresh_token.as_ref().filter(|r| !r.is_empty()) {
        f.insert("refresh_token".into(), Value::String(r.clone()));
    }
    if let Some(id) = tok.id_token.as_ref().filter(|r| !r.is_empty()) {
        f.insert("id_token".into(), Value::String(id.clone()));
    }
    if let Some(e) = tok.expiry(now) {
        f.insert("expired".into(), Value::String(rfc3339(e)));
    }
}

/// `last_refresh`, and `email` from Anthropic's `account.email_address` when sent.
pub fn set_refreshed_and_account_email(
    f: &mut Map<String, Value>,
    tok: &TokenAnswer,
    now: jiff::Timestamp,
) {
    f.insert("last_refresh".into(), Value::String(rfc3339_ms(now)));
    if let Some(email) = tok
        .account
        .as_ref()
        .and_then(|a| a.get("email_address"))
        .and_then(Value::as_str)
    {
        f.insert("email".into(), Value::String(email.to_string()));
    }
}

/// The claims of a JWT (not verified: it came straight from the token endpoint over TLS).
pub fn jwt_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_never_print_their_secrets() {
        let r = google_refresh("https://t", "id", "GOCSPX-secret", "rt-secret");
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("https://t"));
    }

    #[test]
    fn jwt_claims_reads_the_payload() {
        use base64::Engine;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"email":"a@b"}"#);
        let claims = jwt_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["email"], "a@b");
        assert!(jwt_claims("no-dots").is_none());
    }
}
