//! Antigravity (Google Cloud Code `v1internal`, Antigravity's client): `type:
//! antigravity` auth files with `expires_in` and a millisecond `timestamp`. Serves
//! Gemini and Claude models through the Gemini dialect inside Antigravity's envelope.
//!
//! Claude Code asks for a Haiku model before every session (its small-model
//! preflight); Antigravity has none, so alias one of its models to that name with
//! `oauth-model-alias` (README: "Antigravity").

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Map, Value, json};

use super::cloudcode::{self, Site};
use super::oauth::{self, TokenAnswer, TokenRequest};
use super::{BuildInput, NotServed, Operation, Outbound, apply_custom};
use crate::auth::AuthFile;
use crate::auth::credential::Credential;
use crate::config::Config;
use crate::translate::{Dialect, gemini};

pub const NAME: &str = "antigravity";
pub const AUTH_TYPES: &[&str] = &["antigravity"];
pub const LOGIN_COMMAND: Option<&str> = Some("cliproxy login antigravity");
pub const SERVES_AUTH_FILES: bool = true;
/// CLIProxyAPI's Antigravity catalog.
pub const CATALOG: &[&str] = &[
    "claude-opus-4-6-thinking",
    "claude-sonnet-4-6",
    "gemini-3-pro-high",
    "gemini-3-pro-low",
    "gemini-3.1-pro-high",
    "gemini-3.1-pro-low",
    "gemini-3-flash",
    "gemini-3.1-flash-image",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gpt-oss-120b-medium",
];
pub const DIALECT: Option<Dialect> = Some(Dialect::Gemini);
pub const REFRESH_LEAD: Duration = Duration::from_secs(5 * 60);
/// Every answer (each stream line too) is `{"response": {...}, "traceId": ...}`.
pub const ENVELOPE: Option<&str> = Some("response");
/// `oauth-model-alias` channel.
pub const ALIAS_CHANNEL: &str = "antigravity";

pub fn config_credentials(_config: &Config) -> Vec<Credential> {
    Vec::new()
}

/// Accounts serve the catalog's models (Claude accounts serve the other `claude-*`).
pub fn serves_model(model: &str) -> bool {
    CATALOG.contains(&model)
}

/// Everything: other dialects are translated to Gemini's.
pub fn supports(_op: Operation) -> bool {
    true
}

pub fn refresh_request(config: &Config, refresh_token: &str) -> Option<TokenRequest> {
    let ep = &config.antigravity;
    Some(oauth::google_refresh(
        &ep.token_url,
        &ep.client_id,
        ep.client_secret.expose(),
        refresh_token,
    ))
}

/// Top-level tokens plus `expires_in` and `timestamp` (ms); no `last_refresh`.
pub fn apply_token(file: &mut AuthFile, tok: &TokenAnswer, now: jiff::Timestamp) {
    let f = &mut file.fields;
    oauth::set_top_level_tokens(f, tok, now);
    if let Some(secs) = tok.expires_in {
        f.insert("expires_in".into(), Value::from(secs));
    }
    f.insert("timestamp".into(), Value::from(now.as_millisecond()));
}

/// Claude and Gemini 3 Pro models answer only streamed; the rest as the client asks.
pub fn upstream_streams(model: &str, client_stream: bool) -> bool {
    client_stream || model.starts_with("claude-") || model.starts_with("gemini-3-pro")
}

/// `antigravity/<version> darwin/arm64`, as the desktop client sends it.
pub fn user_agent(config: &Config) -> String {
    format!(
        "antigravity/{} darwin/arm64",
        config.antigravity.client_version
    )
}

pub fn site(config: &Config) -> Site {
    Site {
        bases: config.antigravity.hosts(),
        ide: "ANTIGRAVITY",
        user_agent: user_agent(config),
    }
}

/// What the upstream accepts of a `generateContent` body: no `safetySettings`; Claude
/// models validate tool calls (`VALIDATED`), the others take no `maxOutputTokens`;
/// tool schemas in the subset it understands.
pub fn prepare_request(mut req: Map<String, Value>, model: &str) -> Map<String, Value> {
    req.remove("safetySettings");
    let claude = gemini::is_claude_model(model);
    if claude {
        if req.get("tools").is_some_and(|t| !t.is_null()) {
            let cfg = req
                .entry("toolConfig")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|c| {
                    c.entry("functionCallingConfig")
                        .or_insert_with(|| json!({}))
                });
            if let Some(Value::Object(f)) = cfg {
                f.insert("mode".into(), json!("VALIDATED"));
            }
        }
    } else if let Some(Value::Object(g)) = req.get_mut("generationConfig") {
        g.remove("maxOutputTokens");
    }
    if let Some(Value::Array(tools)) = req.get_mut("tools") {
        for tool in tools.iter_mut() {
            let decls = tool
                .get_mut("functionDeclarations")
                .and_then(Value::as_array_mut);
            for d in decls.into_iter().flatten() {
                let Some(d) = d.as_object_mut() else { continue };
                // Proto JSON: either spelling (the Python SDK sends snake case).
                let schema = [
                    "parametersJsonSchema",
                    "parameters_json_schema",
                    "parameters",
                ]
                .iter()
                .filter_map(|k| d.remove(*k))
                .find(|s| !s.is_null());
                if let Some(s) = schema {
                    d.insert("parameters".into(), gemini::clean_schema(&s));
                }
            }
        }
    }
    req
}

/// The body sent upstream: the client's Gemini body prepared and enveloped.
pub fn envelope(op: Operation, model: &str, project: &str, body: &[u8]) -> Bytes {
    let req: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    let out = if op == Operation::CountTokens {
        gemini::cloud_code_count_tokens_envelope(model, &count_contents(req))
    } else {
        let req = Value::Object(prepare_request(req, model));
        let session = gemini::stable_session_id(&req)
            .unwrap_or_else(|| format!("-{}", rand::random::<u64>() >> 1));
        let request_id = gemini::antigravity_request_id(uuid::Uuid::new_v4());
        gemini::antigravity_envelope(model, project, req, &request_id, &session)
    };
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}

/// A countTokens body's contents, whether bare or under `generateContentRequest`.
pub(super) fn count_contents(mut req: Map<String, Value>) -> Value {
    let contents = match req.remove("contents") {
        Some(c) if !c.is_null() => c,
        _ => req
            .get_mut("generateContentRequest")
            .and_then(|g| g.get_mut("contents"))
            .map(Value::take)
            .unwrap_or_else(|| json!([])),
    };
    json!({"contents": contents})
}

pub fn build(input: BuildInput<'_>) -> Result<Outbound, NotServed> {
    let cfg = input.config;
    let project = input
        .cred
        .oauth()
        .and_then(|a| crate::auth::project::recorded(a))
        .unwrap_or_default();
    let base = cfg
        .antigravity
        .hosts()
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut h = HeaderMap::with_capacity(6);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", input.token.expose())) {
        h.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&user_agent(cfg)) {
        h.insert(header::USER_AGENT, v);
    }
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

    fn prepared(req: Value, model: &str) -> Value {
        let Value::Object(m) = req else { panic!() };
        Value::Object(prepare_request(m, model))
    }

    #[test]
    fn claude_models_validate_calls_and_keep_max_tokens() {
        let req = json!({
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
            "generationConfig": {"maxOutputTokens": 100},
            "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema":
                {"type": "object", "$schema": "x", "additionalProperties": false,
                 "properties": {"a": {"type": "string", "minLength": 2}}}}]}]
        });
        let out = prepared(req.clone(), "claude-sonnet-4-6");
        assert!(out.get("safetySettings").is_none());
        assert_eq!(
            out["toolConfig"]["functionCallingConfig"]["mode"],
            "VALIDATED"
        );
        assert_eq!(out["generationConfig"]["maxOutputTokens"], 100);
        let decl = &out["tools"][0]["functionDeclarations"][0];
        assert!(decl.get("parametersJsonSchema").is_none());
        assert!(decl["parameters"].get("$schema").is_none());
        assert!(decl["parameters"].get("additionalProperties").is_none());
        assert_eq!(decl["parameters"]["properties"]["a"]["type"], "string");

        let out = prepared(req, "gemini-3-pro-high");
        assert!(out.get("toolConfig").is_none());
        assert!(out["generationConfig"].get("maxOutputTokens").is_none());
        assert!(out.get("safetySettings").is_none());
    }

    #[test]
    fn the_envelope_carries_project_ids_and_a_stable_session() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"first question"}]}]}"#;
        let one: Value = serde_json::from_slice(&envelope(
            Operation::GenerateContent,
            "gemini-3-flash",
            "p-1",
            body,
        ))
        .unwrap();
        let two: Value = serde_json::from_slice(&envelope(
            Operation::Messages,
            "gemini-3-flash",
            "p-1",
            body,
        ))
        .unwrap();
        assert_eq!(one["model"], "gemini-3-flash");
        assert_eq!(one["project"], "p-1");
        assert_eq!(one["userAgent"], "antigravity");
        assert_eq!(one["requestType"], "agent");
        assert!(one["requestId"].as_str().unwrap().starts_with("agent-"));
        assert_ne!(one["requestId"], two["requestId"]);
        assert_eq!(one["request"]["sessionId"], two["request"]["sessionId"]);
        assert_eq!(
            one["request"]["contents"][0]["parts"][0]["text"],
            "first question"
        );

        let count: Value = serde_json::from_slice(&envelope(
            Operation::CountTokens,
            "gemini-3-flash",
            "p-1",
            br#"{"generateContentRequest":{"model":"models/x","contents":[{"parts":[{"text":"c"}]}]}}"#,
        ))
        .unwrap();
        assert_eq!(
            count,
            json!({"request": {"model": "models/gemini-3-flash", "contents": [{"parts": [{"text": "c"}]}]}})
        );
    }

    #[test]
    fn the_user_agent_version_is_configurable() {
        let mut cfg = Config::default();
        assert_eq!(user_agent(&cfg), "antigravity/1.21.9 darwin/arm64");
        cfg.antigravity.client_version = "2.9.1".into();
        assert_eq!(user_agent(&cfg), "antigravity/2.9.1 darwin/arm64");
        assert_eq!(site(&cfg).bases.len(), 3, "three hosts by default");
    }
}
