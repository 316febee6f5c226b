//! A local OAuth authorization server standing in for Anthropic, OpenAI and Google in
//! tests: authorize (302 back to the redirect URI), token (code exchange with PKCE
//! checks, rotating refresh tokens that are rejected on reuse), Codex's device flow,
//! Google's userinfo and Code Assist `loadCodeAssist`. Runs in-process on loopback and
//! records every request.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    /// The body as a flat map (JSON object or form), for assertions.
    pub params: HashMap<String, String>,
    pub authorization: String,
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
}

/// Knobs and state.
pub struct Inner {
    pub requests: Vec<Recorded>,
    grants: HashMap<String, Grant>,
    /// refresh token → still usable?
    pub refresh_tokens: HashMap<String, bool>,
    /// The refresh token the server currently considers valid (latest issued).
    pub issued: Vec<(String, String)>,
    counter: u64,
    pub email: String,
    pub account_id: String,
    pub plan: String,
    pub project: String,
    pub expires_in: i64,
    pub authorize_error: Option<(String, String)>,
    /// Error code for a reused refresh token.
    pub reuse_error: String,
    pub device_pending_polls: u32,
    device_polls: u32,
    device_redirect: String,
    /// Artificial delay for refresh answers (widens race windows).
    pub refresh_delay_ms: u64,
}

#[derive(Clone)]
pub struct AuthServer {
    pub base: String,
    pub inner: Arc<Mutex<Inner>>,
}

pub fn jwt(claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{h}.{p}.sig")
}

pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn flat(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn query_map(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn err(status: u16, code: &str, desc: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error": code, "error_description": desc})),
    )
        .into_response()
}

impl AuthServer {
    pub async fn start() -> AuthServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            requests: Vec::new(),
            grants: HashMap::new(),
            refresh_tokens: HashMap::new(),
            issued: Vec::new(),
            counter: 0,
            email: "user@example.com".into(),
            account_id: "acct-123".into(),
            plan: "plus".into(),
            project: "proj-42".into(),
            expires_in: 3600,
            authorize_error: None,
            reuse_error: "invalid_grant".into(),
            device_pending_polls: 2,
            device_polls: 0,
            device_redirect: format!("{base}/deviceauth/callback"),
            refresh_delay_ms: 0,
        }));
        let server = AuthServer { base, inner };
        let s = server.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move { s.handle(method, uri, headers, body).await }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        server
    }

    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    /// config.yaml sections aiming every provider's OAuth endpoints here.
    pub fn config_yaml(&self) -> String {
        let b = &self.base;
        format!(
            "claude:\n  authorize-url: {b}/authorize\n  token-url: {b}/token\n  base-url: {b}\n\
codex:\n  authorize-url: {b}/authorize\n  token-url: {b}/token\n  device-usercode-url: {b}/deviceauth/usercode\n  device-token-url: {b}/deviceauth/token\n  device-verify-url: {b}/codex/device\n  device-redirect-uri: {b}/deviceauth/callback\n\
gemini:\n  authorize-url: {b}/authorize\n  token-url: {b}/token\n  userinfo-url: {b}/userinfo\n  base-url: {b}\n\
antigravity:\n  authorize-url: {b}/authorize\n  token-url: {b}/token\n  userinfo-url: {b}/userinfo\n  base-url: {b}\n"
        )
    }

    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub fn token_requests(&self, grant_type: &str) -> Vec<Recorded> {
        self.requests("/token")
            .into_iter()
            .filter(|r| r.params.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }

    /// Makes `rt` a valid refresh token (for pre-written auth files).
    pub fn seed_refresh_token(&self, rt: &str) {
        self.inner
            .lock()
            .refresh_tokens
            .insert(rt.to_string(), true);
    }

    /// The refresh token currently valid (the latest issued).
    pub fn current_refresh_token(&self) -> Option<String> {
        let i = self.inner.lock();
        i.refresh_tokens
            .iter()
            .find(|(_, ok)| **ok)
            .map(|(k, _)| k.clone())
    }

    fn mint(&self, i: &mut Inner) -> Value {
        i.counter += 1;
        let n = i.counter;
        let access = format!("at-{n}-{}", uuid::Uuid::new_v4().simple());
        let refresh = format!("rt-{n}-{}", uuid::Uuid::new_v4().simple());
        i.refresh_tokens.insert(refresh.clone(), true);
        i.issued.push((access.clone(), refresh.clone()));
        let id_token = jwt(&json!({
            "email": i.email,
            "https://api.openai.com/auth": {
                "chatgpt_account_id": i.account_id,
                "chatgpt_plan_type": i.plan,
            },
        }));
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": i.expires_in,
            "token_type": "Bearer",
            "id_token": id_token,
            "account": {"email_address": i.email, "uuid": "acc-uuid"},
            "organization": {"uuid": "org-uuid", "name": "Org"},
        })
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let params = if ct.contains("json") {
            flat(&serde_json::from_slice(&body).unwrap_or(Value::Null))
        } else {
            query_map(&String::from_utf8_lossy(&body))
        };
        let rec = Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query_map(uri.query().unwrap_or_default()),
            content_type: ct,
            params: params.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        };
        self.inner.lock().requests.push(rec.clone());
        match (method.as_str(), uri.path()) {
            ("GET", "/authorize") => self.authorize(&rec.query),
            ("POST", "/token") => self.token(&params).await,
            ("GET", "/userinfo") => {
                if !rec.authorization.starts_with("Bearer at-") {
                    return err(401, "invalid_token", "no bearer");
                }
                axum::Json(json!({"email": self.inner.lock().email})).into_response()
            }
            ("POST", "/v1internal:loadCodeAssist") => axum::Json(
                json!({"cloudaicompanionProject": self.inner.lock().project, "currentTier": {"id": "free-tier"}}),
            )
            .into_response(),
            ("POST", "/deviceauth/usercode") => axum::Json(
                json!({"device_auth_id": "dev-1", "user_code": "ABCD-EFGH", "interval": "1"}),
            )
            .into_response(),
            ("POST", "/deviceauth/token") => {
                let mut i = self.inner.lock();
                if params.get("device_auth_id").map(String::as_str) != Some("dev-1") {
                    return err(400, "bad_device", "unknown device_auth_id");
                }
                i.device_polls += 1;
                if i.device_polls <= i.device_pending_polls {
                    return err(403, "authorization_pending", "not yet");
                }
                let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
                let challenge = s256(&verifier);
                let code = format!("dev-code-{}", uuid::Uuid::new_v4().simple());
                let redirect = i.device_redirect.clone();
                i.grants.insert(
                    code.clone(),
                    Grant {
                        client_id: "app_EMoamEEZ73f0CkXaXp7hrann".into(),
                        redirect_uri: redirect,
                        challenge: Some(challenge.clone()),
                    },
                );
                axum::Json(json!({"authorization_code": code, "code_verifier": verifier, "code_challenge": challenge}))
                    .into_response()
            }
            _ => err(404, "not_found", "no such endpoint"),
        }
    }

    fn authorize(&self, q: &HashMap<String, String>) -> Response {
        let mut i = self.inner.lock();
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        let state = q.get("state").cloned().unwrap_or_default();
        let mut u = url::Url::parse(&redirect).unwrap();
        if let Some((e, d)) = i.authorize_error.clone() {
            u.query_pairs_mut()
                .append_pair("error", &e)
                .append_pair("error_description", &d)
                .append_pair("state", &state);
        } else {
            let code = format!("code-{}", uuid::Uuid::new_v4().simple());
            i.grants.insert(
                code.clone(),
                Grant {
                    client_id: q.get("client_id").cloned().unwrap_or_default(),
                    redirect_uri: redirect.clone(),
                    challenge: q.get("code_challenge").cloned(),
                },
            );
            u.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &state);
        }
        (StatusCode::FOUND, [("location", u.to_string())]).into_response()
    }

    async fn token(&self, p: &HashMap<String, String>) -> Response {
        let get = |k: &str| p.get(k).cloned().unwrap_or_default();
        match get("grant_type").as_str() {
            "authorization_code" => {
                let mut i = self.inner.lock();
                let Some(g) = i.grants.remove(&get("code")) else {
                    return err(400, "invalid_grant", "unknown or used code");
                };
                if g.client_id != get("client_id") {
                    return err(400, "invalid_client", "client_id mismatch");
                }
                if g.redirect_uri != get("redirect_uri") {
                    return err(400, "invalid_grant", "redirect_uri mismatch");
                }
                if let Some(ch) = &g.challenge
                    && s256(&get("code_verifier")) != *ch
                {
                    return err(400, "invalid_grant", "PKCE verification failed");
                }
                let v = self.mint(&mut i);
                axum::Json(v).into_response()
            }
            "refresh_token" => {
                let delay = self.inner.lock().refresh_delay_ms;
                if delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                let mut i = self.inner.lock();
                let rt = get("refresh_token");
                match i.refresh_tokens.get(&rt).copied() {
                    Some(true) => {
                        i.refresh_tokens.insert(rt, false);
                        let v = self.mint(&mut i);
                        axum::Json(v).into_response()
                    }
                    Some(false) => {
                        let code = i.reuse_error.clone();
                        err(400, &code, "refresh token already used")
                    }
                    None => err(400, "invalid_grant", "unknown refresh token"),
                }
            }
            _ => err(400, "unsupported_grant_type", "?"),
        }
    }
}
