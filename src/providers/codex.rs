//! Codex (ChatGPT backend, OpenAI Responses API): `type: codex` auth files (ChatGPT
//! OAuth) and `codex-api-key` entries. Facts from the reference study (upstreams.md §
//! Codex): the backend answers only SSE, refuses requests without `instructions` or with
//! `store` not false, and rejects the sampling fields; `/responses/compact` is
//! non-stream.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value};

use super::oauth::{self, TokenAnswer, TokenBody, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, Provider, apply_custom, set_default};
use crate::auth::AuthFile;
use crate::auth::credential::{Credential, CredentialSecret};
use crate::config::Config;
use crate::translate::Dialect;

mod limits;
pub use limits::{CAPACITY_COOLDOWN, human, limit};

pub const NAME: &str = "codex";
pub const AUTH_TYPES: &[&str] = &["codex"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login codex");
pub const SERVES_AUTH_FILES: bool = true;
pub const DIALECT: Option<Dialect> = Some(Dialect::Responses);
pub const REFRESH_LEAD: Duration = Duration::from_secs(5 * 24 * 3600);
pub const ENVELOPE: Option<&str> = None;
/// Encrypted reasoning made on one account is refused by another
/// (`invalid_encrypted_content`), so a conversation stays on its account.
pub const SESSION_AFFINITY: bool = true;

/// Models listed when Codex accounts exist without an explicit model list.
pub const CATALOG: &[&str] = &[
    "gpt-5.2-codex",
    "gpt-5.2",
    "gpt-5.1-codex-max",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "gpt-5.1",
    "gpt-5-codex",
    "gpt-5-codex-mini",
    "gpt-5",
];

/// The Codex client identity sent when the client is not Codex itself.
pub const USER_AGENT: &str =
    "codex-tui/0.146.0 (Mac OS 26.3.1; arm64) iTerm.app/3.6.6 (codex-tui; 0.146.0)";
pub const ORIGINATOR: &str = "codex-tui";

/// Client headers passed through when present.
const FORWARDED: &[&str] = &[
    "version",
    "x-codex-turn-metadata",
    "x-client-request-id",
    "x-codex-beta-features",
    "x-codex-window-id",
    "thread-id",
];

/// Fields the backend rejects.
const REJECTED: &[&str] = &[
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "context_management",
    "previous_response_id",
    "prompt_cache_retention",
    "safety_identifier",
    "stream_options",
];

/// `codex-api-key` entries. Like CLIProxyAPI, an entry needs its `base-url` (an OpenAI
/// API key is used against `https://api.openai.com/v1`, not the ChatGPT backend); one
/// without is skipped with a warning naming it.
pub fn config_credentials(config: &Config) -> Vec<Credential> {
    config
        .codex_api_key
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            let ok = !e.base_url.trim().is_empty();
            if !ok {
                tracing::warn!(entry = %format!("codex-api-key[{i}]"), "entry has no base-url; skipped");
            }
            ok
        })
        .map(|(i, e)| Credential::from_api_key_entry(Provider::Codex, "codex-api-key", i, e))
        .collect()
}

/// Accounts without a model list serve the GPT-5 family.
pub fn serves_model(model: &str) -> bool {
    model.starts_with("gpt-5") || model.starts_with("codex-")
}

/// Everything but Claude's token counting.
pub fn supports(op: Operation) -> bool {
    op != Operation::CountTokens
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

/// Tokens as Claude's, plus the new id_token, e-mail and ChatGPT account id.
pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    let f = &mut file.fields;
    oauth::set_top_level_tokens(f, tok, now);
    oauth::set_refreshed_and_account_email(f, tok, now);
    if let Some(id_token) = tok.id_token.as_deref() {
        f.insert("id_token".into(), Value::String(id_token.to_string()));
    }
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

pub fn build(input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    let BuildInput {
        cred,
        token,
        op,
        model: _,
        body,
        client_headers,
        stream: _,
        config,
    } = input;
    let compact = op == Operation::ResponsesCompact;
    let base = if cred.base_url.is_empty() {
        config.codex.base_url.trim_end_matches('/')
    } else {
        cred.base_url.as_str()
    };
    let path = if compact {
        "/responses/compact"
    } else {
        "/responses"
    };
    let (body, cache_key) = normalize_body(body, compact);
    let mut h = HeaderMap::with_capacity(16);
    for name in FORWARDED {
        if let Some(v) = client_headers.get(*name) {
            h.insert(*name, v.clone());
        }
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
        h.insert(header::AUTHORIZATION, v);
    }
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static(if compact {
            "application/json"
        } else {
            "text/event-stream"
        }),
    );
    let client_ua = client_headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match (client_ua, is_codex_client(client_headers)) {
        (Some(ua), true) => set_default(&mut h, "user-agent", ua),
        _ => set_default(&mut h, "user-agent", USER_AGENT),
    }
    let session = session_id(client_headers, cache_key.as_deref());
    if let Ok(v) = HeaderValue::from_str(&session) {
        h.insert("session_id", v);
    }
    if let CredentialSecret::OAuth(acc) = &cred.secret {
        match client_headers.get("originator") {
            Some(v) => {
                h.insert("originator", v.clone());
            }
            None => set_default(&mut h, "originator", ORIGINATOR),
        }
        if let Some(id) = account_id(&acc.file.read()) {
            set_default(&mut h, "chatgpt-account-id", &id);
        }
    }
    apply_custom(&mut h, &cred.headers);
    Ok(Outbound {
        url: format!("{base}{path}"),
        headers: h,
        body,
    })
}

/// Codex CLI (`codex_exec`, `codex-tui`, `codex_cli_rs`) sends its own identity.
fn is_codex_client(h: &HeaderMap) -> bool {
    h.contains_key("originator")
        || h.get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("codex"))
}

/// `Session_id`: the client's own, else the prompt cache key, else a fresh one.
fn session_id(h: &HeaderMap, cache_key: Option<&str>) -> String {
    ["session_id", "session-id"]
        .iter()
        .find_map(|n| h.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
        .or_else(|| cache_key.map(str::to_string))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The ChatGPT account id: the id_token's claim, else the file's `account_id`.
pub fn account_id(f: &AuthFile) -> Option<String> {
    f.str_field("id_token")
        .and_then(oauth::jwt_claims)
        .and_then(|c| identity(&c).1)
        .or_else(|| f.str_field("account_id").map(str::to_string))
}

/// The body as the backend demands it (returns the body and its `prompt_cache_key`).
/// A body that is not a JSON object is sent as it is: the backend says what is wrong.
pub fn normalize_body(body: Bytes, compact: bool) -> (Bytes, Option<String>) {
    let Ok(mut req) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return (body, None);
    };
    for k in REJECTED {
        req.remove(*k);
    }
    if req
        .get("service_tier")
        .is_some_and(|t| t.as_str() != Some("priority"))
    {
        req.remove("service_tier");
    }
    if compact {
        req.remove("stream");
        req.remove("include");
    } else {
        req.insert("stream".into(), Value::Bool(true));
        let mut include: Vec<Value> = match req.remove("include") {
            Some(Value::Array(v)) => v,
            _ => Vec::new(),
        };
        let enc = Value::String("reasoning.encrypted_content".into());
        if !include.contains(&enc) {
            include.push(enc);
        }
        req.insert("include".into(), Value::Array(include));
        req.entry("parallel_tool_calls")
            .or_insert(Value::Bool(true));
    }
    req.insert("store".into(), Value::Bool(false));
    if req.get("instructions").is_none_or(Value::is_null) {
        req.insert("instructions".into(), Value::String(String::new()));
    }
    if let Some(Value::Array(items)) = req.get_mut("input") {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            if item.get("role").and_then(Value::as_str) == Some("system") {
                item.insert("role".into(), Value::String("developer".into()));
            }
        }
    }
    if let Some(Value::Array(tools)) = req.get_mut("tools") {
        for t in tools.iter_mut().filter_map(Value::as_object_mut) {
            if t.get("type").and_then(Value::as_str) == Some("web_search_preview") {
                t.insert("type".into(), Value::String("web_search".into()));
            }
        }
    }
    let cache_key = req
        .get("prompt_cache_key")
        .and_then(Value::as_str)
        .map(str::to_string);
    match serde_json::to_vec(&req) {
        Ok(v) => (Bytes::from(v), cache_key),
        Err(_) => (body, cache_key),
    }
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
mod tests;
