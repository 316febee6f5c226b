use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use super::*;
use crate::auth::credential::OAuthAccount;
use crate::config::{ApiKeyEntry, Secret};

fn jwt(claims: Value) -> String {
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    format!("h.{payload}.s")
}

#[test]
fn refresh_reads_identity_from_the_new_id_token() {
    let id_token = jwt(json!({
        "email": "new@example.com",
        "https://api.openai.com/auth": {"chatgpt_account_id": "acct-9", "chatgpt_plan_type": "plus"},
    }));
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
        id_token: Some(id_token.clone()),
    };
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    apply_token(&mut f, &tok, now);
    assert_eq!(f.str_field("email"), Some("new@example.com"));
    assert_eq!(f.str_field("account_id"), Some("acct-9"));
    assert_eq!(f.str_field("id_token"), Some(id_token.as_str()));
    assert_eq!(f.str_field("refresh_token"), Some("r2"));
    assert_eq!(f.str_field("expired"), Some("2026-01-01T00:01:00Z"));
    assert_eq!(
        f.str_field("last_refresh"),
        Some("2026-01-01T00:00:00.000Z")
    );
}

fn normalized(body: Value, compact: bool) -> (Value, Option<String>) {
    let (b, key) = normalize_body(Bytes::from(body.to_string()), compact);
    (serde_json::from_slice(&b).unwrap(), key)
}

#[test]
fn bodies_are_normalised_as_the_backend_demands() {
    let (out, key) = normalized(
        json!({
            "model": "gpt-5-codex",
            "input": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"}
            ],
            "max_output_tokens": 100, "max_completion_tokens": 5, "temperature": 0.2, "top_p": 1,
            "truncation": "auto", "user": "u", "previous_response_id": "resp_1",
            "prompt_cache_retention": "24h", "safety_identifier": "s", "stream_options": {},
            "context_management": [], "service_tier": "flex", "store": true,
            "include": ["file_search_call.results"],
            "tools": [{"type": "web_search_preview"}, {"type": "function", "name": "f"}],
            "prompt_cache_key": "conv-1", "parallel_tool_calls": false
        }),
        false,
    );
    assert_eq!(
        out,
        json!({
            "model": "gpt-5-codex",
            "input": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"}
            ],
            "stream": true, "store": false, "instructions": "",
            "include": ["file_search_call.results", "reasoning.encrypted_content"],
            "tools": [{"type": "web_search"}, {"type": "function", "name": "f"}],
            "prompt_cache_key": "conv-1", "parallel_tool_calls": false
        })
    );
    assert_eq!(key.as_deref(), Some("conv-1"));

    let (out, key) = normalized(
        json!({"model": "m", "instructions": "You are Codex.", "input": "hi", "stream": false,
               "service_tier": "priority", "include": ["reasoning.encrypted_content"]}),
        false,
    );
    assert_eq!(
        out,
        json!({"model": "m", "instructions": "You are Codex.", "input": "hi", "stream": true,
               "service_tier": "priority", "include": ["reasoning.encrypted_content"],
               "store": false, "parallel_tool_calls": true})
    );
    assert_eq!(key, None);

    let (out, _) = normalized(
        json!({"model": "m", "instructions": null, "input": [], "stream": true, "include": []}),
        true,
    );
    assert_eq!(
        out,
        json!({"model": "m", "instructions": "", "input": [], "store": false}),
        "compact is not streamed"
    );

    let (raw, key) = normalize_body(Bytes::from_static(b"[1,2]"), false);
    assert_eq!(&raw[..], b"[1,2]", "not an object: sent as it is");
    assert_eq!(key, None);
}

fn oauth_cred(fields: Value) -> Credential {
    let file = AuthFile::parse(
        std::path::Path::new("/x/codex-a.json"),
        fields.to_string().as_bytes(),
    )
    .unwrap();
    Credential::from_account(Arc::new(OAuthAccount::new(file))).unwrap()
}

fn built(cred: &Credential, op: Operation, client: &[(&str, &str)]) -> Outbound {
    let mut headers = HeaderMap::new();
    for (k, v) in client {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let cfg = Config::default();
    build(BuildInput {
        cred,
        token: &Secret::new("tok-123"),
        op,
        model: "gpt-5",
        body: Bytes::from_static(br#"{"model":"gpt-5","input":"hi","prompt_cache_key":"pck"}"#),
        client_headers: &headers,
        stream: true,
        config: &cfg,
    })
    .unwrap()
}

fn header<'a>(o: &'a Outbound, name: &str) -> Option<&'a str> {
    o.headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn oauth_requests_carry_the_account_and_a_codex_identity() {
    let id_token = jwt(json!({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-jwt"}}));
    let cred = oauth_cred(
        json!({"type": "codex", "id_token": id_token, "account_id": "acct-file",
                                 "access_token": "tok-123"}),
    );
    let o = built(
        &cred,
        Operation::Responses,
        &[
            ("user-agent", "OpenAI/Python 2.0"),
            ("x-codex-turn-metadata", "{\"turn\":1}"),
            ("version", "0.146.0"),
            ("x-client-request-id", "req-1"),
            ("authorization", "Bearer client-key"),
        ],
    );
    assert_eq!(o.url, "https://chatgpt.com/backend-api/codex/responses");
    assert_eq!(header(&o, "authorization"), Some("Bearer tok-123"));
    assert_eq!(header(&o, "chatgpt-account-id"), Some("acct-jwt"));
    assert_eq!(header(&o, "originator"), Some(ORIGINATOR));
    assert_eq!(header(&o, "user-agent"), Some(USER_AGENT));
    assert_eq!(header(&o, "session_id"), Some("pck"));
    assert_eq!(header(&o, "accept"), Some("text/event-stream"));
    assert_eq!(header(&o, "x-codex-turn-metadata"), Some("{\"turn\":1}"));
    assert_eq!(header(&o, "version"), Some("0.146.0"));
    assert_eq!(header(&o, "x-client-request-id"), Some("req-1"));
    let body: Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(body["store"], false);
    assert_eq!(body["stream"], true);

    // Codex CLI keeps its own identity and session.
    let o = built(
        &cred,
        Operation::ResponsesCompact,
        &[
            ("user-agent", "codex_exec/0.169.0 (Linux)"),
            ("originator", "codex_exec"),
            ("session_id", "sess-9"),
        ],
    );
    assert_eq!(
        o.url,
        "https://chatgpt.com/backend-api/codex/responses/compact"
    );
    assert_eq!(header(&o, "user-agent"), Some("codex_exec/0.169.0 (Linux)"));
    assert_eq!(header(&o, "originator"), Some("codex_exec"));
    assert_eq!(header(&o, "session_id"), Some("sess-9"));
    assert_eq!(header(&o, "accept"), Some("application/json"));

    let no_jwt = oauth_cred(json!({"type": "codex", "account_id": "acct-file"}));
    let o = built(&no_jwt, Operation::Responses, &[]);
    assert_eq!(header(&o, "chatgpt-account-id"), Some("acct-file"));
}

#[test]
fn api_key_entries_use_their_base_url_and_no_account_headers() {
    let cfg = Config {
        codex_api_key: vec![
            ApiKeyEntry {
                api_key: Secret::new("sk-codex-0123456789"),
                base_url: "http://127.0.0.1:9/v1/".into(),
                headers: [("X-Team".to_string(), "blue".to_string())].into(),
                ..Default::default()
            },
            ApiKeyEntry {
                api_key: Secret::new("sk-no-base-0123456789"),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let creds = config_credentials(&cfg);
    assert_eq!(creds.len(), 1, "an entry without base-url is skipped");
    assert!(
        creds[0].id.starts_with("codex-api-key[0]#"),
        "{}",
        creds[0].id
    );
    let o = built(&creds[0], Operation::Responses, &[]);
    assert_eq!(o.url, "http://127.0.0.1:9/v1/responses");
    assert_eq!(header(&o, "authorization"), Some("Bearer tok-123"));
    assert_eq!(header(&o, "x-team"), Some("blue"));
    assert_eq!(header(&o, "originator"), None);
    assert_eq!(header(&o, "chatgpt-account-id"), None);
    assert_eq!(header(&o, "user-agent"), Some(USER_AGENT));
}
