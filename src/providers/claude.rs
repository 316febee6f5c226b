//! Anthropic Messages upstream (api.anthropic.com or a configured base URL), for
//! Claude OAuth accounts (`type: claude`) and `claude-api-key` entries (reference §2.5).

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use serde_json::json;

use super::oauth::{self, TokenAnswer, TokenBody, TokenRequest};
use super::{BuildInput, Operation, Outbound, apply_custom, set_default};
use crate::auth::AuthFile;
use crate::auth::credential::{Credential, CredentialSecret};
use crate::config::Config;
use crate::translate::Dialect;

pub const NAME: &str = "claude";
pub const AUTH_TYPES: &[&str] = &["claude"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login claude");
pub const SERVES_AUTH_FILES: bool = true;
pub const DIALECT: Option<Dialect> = Some(Dialect::Anthropic);
pub const REFRESH_LEAD: Duration = Duration::from_secs(4 * 3600);
pub const ENVELOPE: Option<&str> = None;

/// Claude models listed when Claude accounts exist without an explicit model list.
pub const CATALOG: &[&str] = &[
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];

/// `claude-api-key` entries.
pub fn config_credentials(config: &Config) -> Vec<Credential> {
    config
        .claude_api_key
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Credential::from_api_key_entry(super::Provider::Claude, "claude-api-key", i, e)
        })
        .collect()
}

/// Accounts without a model list serve every `claude-*` model.
pub fn serves_model(model: &str) -> bool {
    model.starts_with("claude-")
}

/// Every operation but the Responses API's compaction (Codex's own); `count_tokens`
/// only Claude has.
pub fn supports(op: Operation) -> bool {
    op != Operation::ResponsesCompact
}

pub fn refresh_request(config: &Config, refresh_token: &str) -> Option<TokenRequest> {
    Some(TokenRequest {
        url: config.claude.token_url.clone(),
        body: TokenBody::Json(json!({
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": config.claude.client_id,
        })),
    })
}

pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    oauth::set_top_level_tokens(&mut file.fields, tok, now);
    oauth::set_refreshed_and_account_email(&mut file.fields, tok, now);
}

pub fn upstream_streams(_model: &str, client_stream: bool) -> bool {
    client_stream
}

pub const DEFAULT_VERSION: &str = "2023-06-01";
pub const CLI_VERSION: &str = "2.1.63";

/// Betas sent for OAuth requests when the client names none.
pub const DEFAULT_BETAS: &[&str] = &[
    "claude-code-20250219",
    "oauth-2025-04-20",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "prompt-caching-scope-2026-01-05",
    "structured-outputs-2025-12-15",
    "fast-mode-2026-02-01",
    "redact-thinking-2026-02-12",
    "token-efficient-tools-2026-03-28",
];

/// Betas an OAuth token cannot work without; added to a client's own list.
pub const REQUIRED_OAUTH_BETAS: &[&str] = &["oauth-2025-04-20", "interleaved-thinking-2025-05-14"];

/// Client headers forwarded as they are (the rest, such as the client's own key, is not).
const FORWARDED: &[&str] = &[
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "user-agent",
    "x-app",
    "x-claude-code-session-id",
    "x-client-request-id",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-lang",
    "x-stainless-timeout",
    "x-stainless-runtime-version",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-arch",
    "x-stainless-helper-method",
];

/// The `anthropic-beta` value for an OAuth request.
pub fn oauth_betas(client: Option<&str>, want_1m: bool) -> String {
    let mut list: Vec<String> = match client.map(str::trim).filter(|s| !s.is_empty()) {
        Some(c) => c
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => DEFAULT_BETAS.iter().map(|s| s.to_string()).collect(),
    };
    for req in REQUIRED_OAUTH_BETAS {
        if !list.iter().any(|b| b == req) {
            list.push(req.to_string());
        }
    }
    if want_1m && !list.iter().any(|b| b == "context-1m-2025-08-07") {
        list.push("context-1m-2025-08-07".to_string());
    }
    list.join(",")
}

/// The first system block Claude subscription (OAuth) tokens require.
pub const CLAUDE_CODE_IDENTITY: &str = "You are Claude Code, Anthropic's official CLI for Claude.";

/// Makes a request from another client look like Claude Code's, as CLIProxyAPI's
/// "cloak" (auto mode) does for OAuth accounts: the identity block leads the system
/// prompt (the client's own system text follows it unchanged), and a stable
/// `metadata.user_id` is set when the client sent none. Bodies that are not JSON
/// objects are left alone (the upstream will say what is wrong with them).
pub fn cloak(body: bytes::Bytes, account: &str) -> bytes::Bytes {
    use serde_json::{Map, Value, json};
    let Ok(mut req) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return body;
    };
    let identity = json!({"type": "text", "text": CLAUDE_CODE_IDENTITY});
    let system = match req.remove("system") {
        None | Some(Value::Null) => vec![identity],
        Some(Value::String(s)) if s.trim().is_empty() => vec![identity],
        Some(Value::String(s)) if s.starts_with(CLAUDE_CODE_IDENTITY) => {
            vec![json!({"type": "text", "text": s})]
        }
        Some(Value::String(s)) => vec![identity, json!({"type": "text", "text": s})],
        Some(Value::Array(blocks)) => {
            let already = blocks
                .first()
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with(CLAUDE_CODE_IDENTITY));
            if already {
                blocks
            } else {
                std::iter::once(identity).chain(blocks).collect()
            }
        }
        Some(other) => vec![identity, other],
    };
    req.insert("system".into(), Value::Array(system));
    let meta = req
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = meta
        && !m.contains_key("user_id")
    {
        let digest = crate::store::sha256_hex(account.as_bytes());
        m.insert(
            "user_id".into(),
            Value::String(format!(
                "user_{digest}_account__session_{}",
                uuid::Uuid::new_v4()
            )),
        );
    }
    serde_json::to_vec(&req)
        .map(bytes::Bytes::from)
        .unwrap_or(body)
}

pub fn build(input: BuildInput<'_>) -> Outbound {
    let BuildInput {
        cred,
        token,
        op,
        model: _,
        mut body,
        client_headers,
        stream,
        config,
    } = input;
    let base = if cred.base_url.is_empty() {
        config.claude.base_url.trim_end_matches('/')
    } else {
        cred.base_url.as_str()
    };
    let path = match op {
        Operation::CountTokens => "/v1/messages/count_tokens?beta=true",
        _ => "/v1/messages?beta=true",
    };
    let mut h = HeaderMap::with_capacity(24);
    for name in FORWARDED {
        if let Some(v) = client_headers.get(*name) {
            h.insert(*name, v.clone());
        }
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set_default(&mut h, "anthropic-version", DEFAULT_VERSION);
    match &cred.secret {
        CredentialSecret::OAuth(_) => {
            let betas = oauth_betas(
                client_headers
                    .get("anthropic-beta")
                    .and_then(|v| v.to_str().ok()),
                client_headers.contains_key("x-cpa-claude-1m"),
            );
            if let Ok(v) = HeaderValue::from_str(&betas) {
                h.insert("anthropic-beta", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
                h.insert(header::AUTHORIZATION, v);
            }
            // Claude Code identity, unless the client is Claude Code and sent its own.
            let d = &config.claude_header_defaults;
            let ua = d
                .user_agent
                .clone()
                .unwrap_or_else(|| format!("claude-cli/{CLI_VERSION} (external, cli)"));
            let client_is_cc = client_headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|u| u.starts_with("claude-cli"));
            if !client_is_cc && let Ok(v) = HeaderValue::from_str(&ua) {
                h.insert(header::USER_AGENT, v);
            }
            if !client_is_cc && !config.disable_claude_cloak_mode && op != Operation::CountTokens {
                body = cloak(body, &cred.id);
            }
            set_default(&mut h, "anthropic-dangerous-direct-browser-access", "true");
            set_default(&mut h, "x-app", "cli");
            set_default(&mut h, "x-stainless-retry-count", "0");
            set_default(&mut h, "x-stainless-runtime", "node");
            set_default(&mut h, "x-stainless-lang", "js");
            set_default(
                &mut h,
                "x-stainless-timeout",
                d.timeout.as_deref().unwrap_or("600"),
            );
            set_default(
                &mut h,
                "x-stainless-runtime-version",
                d.runtime_version.as_deref().unwrap_or("v24.3.0"),
            );
            set_default(
                &mut h,
                "x-stainless-package-version",
                d.package_version.as_deref().unwrap_or("0.74.0"),
            );
            set_default(&mut h, "x-stainless-os", d.os.as_deref().unwrap_or("MacOS"));
            set_default(
                &mut h,
                "x-stainless-arch",
                d.arch.as_deref().unwrap_or("arm64"),
            );
        }
        CredentialSecret::ApiKey(_) => {
            if let Ok(v) = HeaderValue::from_str(token.expose()) {
                h.insert("x-api-key", v);
            }
        }
    }
    if stream {
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    } else {
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    apply_custom(&mut h, &cred.headers);
    Outbound {
        url: format!("{base}{path}"),
        headers: h,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloak_prepends_the_identity_and_keeps_the_client_system_text() {
        let out = cloak(
            bytes::Bytes::from_static(br#"{"model":"m","system":"Be terse.","messages":[]}"#),
            "claude-a.json",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["system"][0]["text"], CLAUDE_CODE_IDENTITY);
        assert_eq!(v["system"][1]["text"], "Be terse.");
        assert!(
            v["metadata"]["user_id"]
                .as_str()
                .unwrap()
                .starts_with("user_")
        );
        let again = cloak(out.clone(), "claude-a.json");
        let w: serde_json::Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(w["system"].as_array().unwrap().len(), 2, "idempotent");
        assert_eq!(w["metadata"], v["metadata"]);
        let none = cloak(
            bytes::Bytes::from_static(
                br#"{"model":"m","messages":[],"metadata":{"user_id":"mine"}}"#,
            ),
            "x",
        );
        let n: serde_json::Value = serde_json::from_slice(&none).unwrap();
        assert_eq!(n["system"].as_array().unwrap().len(), 1);
        assert_eq!(n["metadata"]["user_id"], "mine");
    }

    #[test]
    fn default_betas_include_oauth() {
        let b = oauth_betas(None, false);
        assert!(b.starts_with("claude-code-20250219,oauth-2025-04-20"));
    }

    #[test]
    fn client_betas_are_kept_and_required_ones_added() {
        assert_eq!(
            oauth_betas(Some("prompt-caching-2024-07-31"), false),
            "prompt-caching-2024-07-31,oauth-2025-04-20,interleaved-thinking-2025-05-14"
        );
        assert_eq!(
            oauth_betas(
                Some("oauth-2025-04-20, interleaved-thinking-2025-05-14"),
                true
            ),
            "oauth-2025-04-20,interleaved-thinking-2025-05-14,context-1m-2025-08-07"
        );
    }
}
