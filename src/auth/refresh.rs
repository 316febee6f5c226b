//! OAuth token refresh: proactive (ahead of expiry) and on demand (expired token or
//! upstream 401), single-flight per account, atomic rewrite keeping unknown fields.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::credential::{AccountState, OAuthAccount};
use super::file::{AuthFile, AuthKind, rfc3339};
use crate::config::{ClaudeEndpoints, Secret};

/// How long before expiry a token is refreshed.
pub fn lead(kind: AuthKind) -> Duration {
    match kind {
        AuthKind::Claude => Duration::from_secs(4 * 3600),
        AuthKind::Codex => Duration::from_secs(5 * 24 * 3600),
        AuthKind::Antigravity => Duration::from_secs(5 * 60),
        AuthKind::Gemini | AuthKind::Other => Duration::ZERO,
    }
}

/// After a transient refresh failure, wait this long before trying again.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Why a refresh is wanted.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Ahead of expiry, from the background loop.
    Proactive,
    /// The token is expired (checked before use).
    Expired,
    /// Upstream answered 401 to this access token.
    Unauthorized(Secret),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    #[error("{0}")]
    NeedsLogin(String),
    #[error("{0}")]
    Transient(String),
}

/// Pure: does this file need a refresh now (`refresh_interval_seconds` or the lead)?
pub fn due(file: &AuthFile, now: jiff::Timestamp) -> bool {
    let kind_lead = lead(file.kind);
    if let Some(secs) = file
        .int_field("refresh_interval_seconds")
        .filter(|s| *s > 0)
    {
        let interval = jiff::SignedDuration::from_secs(secs);
        let expiring = file.expiry().is_some_and(|e| e <= now + interval);
        let stale = file.last_refresh().is_none_or(|l| l + interval <= now);
        return expiring || stale;
    }
    match file.expiry() {
        Some(e) => {
            e.duration_since(now) <= jiff::SignedDuration::try_from(kind_lead).unwrap_or_default()
        }
        None => match file.last_refresh() {
            Some(l) if !kind_lead.is_zero() => {
                now.duration_since(l)
                    >= jiff::SignedDuration::try_from(kind_lead).unwrap_or_default()
            }
            _ => false,
        },
    }
}

pub fn is_expired(file: &AuthFile, now: jiff::Timestamp) -> bool {
    file.expiry().is_some_and(|e| e <= now)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    account: Option<Value>,
    #[serde(default)]
    id_token: Option<String>,
}

/// Applies a token response to the file's fields (unknown fields untouched).
fn apply_token(file: &mut AuthFile, tok: &TokenResponse, now: jiff::Timestamp) {
    let f = &mut file.fields;
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
    if let Some(secs) = tok.expires_in {
        let exp = now + jiff::SignedDuration::from_secs(secs);
        f.insert("expired".into(), Value::String(rfc3339(exp)));
    }
    f.insert("last_refresh".into(), Value::String(rfc3339(now)));
    if let Some(email) = tok
        .account
        .as_ref()
        .and_then(|a| a.get("email_address"))
        .and_then(Value::as_str)
    {
        f.insert("email".into(), Value::String(email.to_string()));
    }
}

/// Classifies a failed token-endpoint answer: refused grants need a new login.
pub fn classify_failure(status: u16, body: &str) -> RefreshError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .map(|e| match e {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("type")
                .or_else(|| o.get("code"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let desc = parsed
        .as_ref()
        .and_then(|v| {
            v.get("error_description")
                .or_else(|| v.get("error").and_then(|e| e.get("message")))
        })
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let refused = matches!(
        code.as_str(),
        "invalid_grant" | "refresh_token_reused" | "invalid_client" | "unauthorized_client"
    ) || body.contains("refresh_token_reused");
    let detail = if desc.is_empty() {
        code.clone()
    } else {
        format!("{code}: {desc}")
    };
    if refused || status == 401 {
        RefreshError::NeedsLogin(format!("refresh token rejected ({status} {detail})"))
    } else {
        RefreshError::Transient(format!("token endpoint answered {status} {detail}"))
    }
}

/// What a refresh needs from its surroundings.
pub struct RefreshEnv<'a> {
    pub client: &'a reqwest::Client,
    pub claude: &'a ClaudeEndpoints,
    pub sync: Option<&'a crate::sync::SyncHandle>,
}

/// Refreshes `acc` once (single-flight) and returns the access token to use.
pub async fn refresh(
    acc: &OAuthAccount,
    trigger: Trigger,
    env: &RefreshEnv<'_>,
) -> Result<Secret, RefreshError> {
    let _guard = acc.refresh_lock.lock().await;
    let now = jiff::Timestamp::now();
    // Someone else may have refreshed while we waited for the lock.
    {
        let file = acc.file.read();
        let current = file.secret_field("access_token");
        let fresh = match &trigger {
            Trigger::Proactive => !due(&file, now),
            Trigger::Expired => !is_expired(&file, now),
            Trigger::Unauthorized(failed) => current
                .as_ref()
                .is_some_and(|c| !failed.ct_eq(c.expose()) && !is_expired(&file, now)),
        };
        if fresh && let Some(c) = current {
            return Ok(c);
        }
    }
    match &*acc.state.read() {
        AccountState::NeedsLogin(r) => return Err(RefreshError::NeedsLogin(r.clone())),
        AccountState::RefreshFailed { reason, until } if *until > Instant::now() => {
            return Err(RefreshError::Transient(reason.clone()));
        }
        _ => {}
    }
    let result = do_refresh(acc, env, now).await;
    match &result {
        Ok(_) => *acc.state.write() = AccountState::Ok,
        Err(RefreshError::NeedsLogin(r)) => {
            tracing::error!(account = %acc.name, reason = %r, "refresh refused; run `{}`", acc.kind.login_command());
            *acc.state.write() = AccountState::NeedsLogin(r.clone());
        }
        Err(RefreshError::Transient(r)) => {
            tracing::warn!(account = %acc.name, reason = %r, "token refresh failed; retrying later");
            *acc.state.write() = AccountState::RefreshFailed {
                reason: r.clone(),
                until: Instant::now() + FAILURE_BACKOFF,
            };
        }
    }
    result
}

async fn do_refresh(
    acc: &OAuthAccount,
    env: &RefreshEnv<'_>,
    now: jiff::Timestamp,
) -> Result<Secret, RefreshError> {
    let (url, client_id) = match acc.kind {
        AuthKind::Claude => (env.claude.token_url.as_str(), env.claude.client_id.as_str()),
        other => {
            return Err(RefreshError::Transient(format!(
                "refresh for {other:?} accounts is not supported yet"
            )));
        }
    };
    let refresh_token = acc
        .file
        .read()
        .secret_field("refresh_token")
        .ok_or_else(|| RefreshError::NeedsLogin("auth file has no refresh_token".into()))?;
    let body = serde_json::json!({
        "grant_type": "refresh_token",
        "refresh_token": refresh_token.expose(),
        "client_id": client_id,
    });
    let send = || async {
        env.client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .timeout(Duration::from_secs(30))
            .json(&body)
            .send()
            .await
    };
    use backon::Retryable;
    // Retry the transport only (EOF, reset): an answered refresh is never repeated,
    // since the refresh token may already be spent.
    let resp = send
        .retry(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_times(2),
        )
        .when(|e: &reqwest::Error| e.is_connect() || e.is_request() && !e.is_timeout())
        .await
        .map_err(|e| {
            RefreshError::Transient(format!("token endpoint unreachable: {}", e.without_url()))
        })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| {
        RefreshError::Transient(format!("reading token response: {}", e.without_url()))
    })?;
    if !(200..300).contains(&status) {
        return Err(classify_failure(status, &text));
    }
    let tok: TokenResponse = serde_json::from_str(&text)
        .map_err(|e| RefreshError::Transient(format!("token response is not valid: {e}")))?;
    let mut updated = acc.file.read().clone();
    apply_token(&mut updated, &tok, now);
    let bytes = updated.to_bytes();
    updated.hash = crate::store::sha256_hex(&bytes);
    if let Err(e) = crate::store::write_atomic(&updated.path, &bytes) {
        // The old refresh token is spent: keep the new one in memory and say so loudly.
        tracing::error!(account = %acc.name, path = %updated.path.display(), error = %e, "could not save refreshed token");
    }
    *acc.file.write() = updated;
    if let Some(sync) = env.sync {
        sync.notify_local_change(&acc.name);
    }
    tracing::info!(account = %acc.name, "token refreshed");
    Ok(Secret::new(tok.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(json: &str) -> AuthFile {
        AuthFile::parse(Path::new("/x/claude-a.json"), json.as_bytes()).unwrap()
    }

    #[test]
    fn due_follows_the_provider_lead() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(due(
            &file(r#"{"type":"claude","expired":"2026-01-01T03:59:00Z"}"#),
            now
        ));
        assert!(!due(
            &file(r#"{"type":"claude","expired":"2026-01-01T04:01:00Z"}"#),
            now
        ));
        assert!(due(
            &file(r#"{"type":"codex","expired":"2026-01-05T00:00:00Z"}"#),
            now
        ));
        assert!(!due(
            &file(r#"{"type":"antigravity","expired":"2026-01-01T00:06:00Z"}"#),
            now
        ));
        assert!(due(
            &file(r#"{"type":"antigravity","expired":"2026-01-01T00:04:00Z"}"#),
            now
        ));
        assert!(!due(&file(r#"{"type":"claude"}"#), now));
    }

    #[test]
    fn refresh_interval_seconds_overrides_lead() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let f = file(
            r#"{"type":"claude","expired":"2026-02-01T00:00:00Z","last_refresh":"2025-12-31T23:00:00Z","refresh_interval_seconds":1800}"#,
        );
        assert!(due(&f, now));
        let f = file(
            r#"{"type":"claude","expired":"2026-02-01T00:00:00Z","last_refresh":"2025-12-31T23:50:00Z","refresh_interval_seconds":1800}"#,
        );
        assert!(!due(&f, now));
    }

    #[test]
    fn refused_grants_need_login() {
        assert!(
            matches!(classify_failure(400, r#"{"error":"invalid_grant","error_description":"Refresh token already used"}"#), RefreshError::NeedsLogin(m) if m.contains("invalid_grant"))
        );
        assert!(matches!(
            classify_failure(400, r#"{"error":{"code":"refresh_token_reused"}}"#),
            RefreshError::NeedsLogin(_)
        ));
        assert!(matches!(
            classify_failure(503, "busy"),
            RefreshError::Transient(_)
        ));
    }

    #[test]
    fn token_response_updates_fields_and_keeps_the_rest() {
        let mut f = file(
            r#"{"type":"claude","custom":"keep","access_token":"old","refresh_token":"r1","email":"a@x"}"#,
        );
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let tok = TokenResponse {
            access_token: "new".into(),
            refresh_token: Some("r2".into()),
            expires_in: Some(3600),
            account: None,
            id_token: None,
        };
        apply_token(&mut f, &tok, now);
        assert_eq!(f.str_field("access_token"), Some("new"));
        assert_eq!(f.str_field("refresh_token"), Some("r2"));
        assert_eq!(f.str_field("expired"), Some("2026-01-01T01:00:00Z"));
        assert_eq!(f.str_field("last_refresh"), Some("2026-01-01T00:00:00Z"));
        assert_eq!(f.str_field("custom"), Some("keep"));
    }
}
