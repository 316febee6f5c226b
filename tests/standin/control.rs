//! The control surface under `/_standin/*` (for the binary and non-Rust tests).

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Behavior, RecordedRequest};
use super::state::{RefreshEntry, Shared};
use super::{BODY_LIMIT, json_response};

/// `/_standin/*`:
/// * `GET  /_standin/health` → `{"status":"ok"}`
/// * `GET  /_standin/stats` → `{"connections": N, "tls_handshakes": N}` (accepted since start).
/// * `GET  /_standin/requests` → array of recorded requests (see [`RecordedRequest::to_json`]);
///   `DELETE /_standin/requests` clears them.
/// * `POST /_standin/reset` → forget requests, behaviours, OAuth state.
/// * `POST /_standin/behavior` `{"key": "...", <Behavior fields>}` sets; `{"key": "...", "remove": true}` removes.
///   `GET /_standin/behavior` lists them.
/// * `POST /_standin/oauth` `{"refresh_tokens": ["rt" | {"token","email"}], "access_tokens": [...],
///   "codes": [{"code","email"}], "expires_in": N, "strict": bool}` seeds OAuth state;
///   `GET /_standin/oauth` → `{"strict", "access_tokens", "refresh_tokens": {tok: {email, used}}, "issued": [...]}`.
/// * `POST /_standin/record` `{"enabled": bool}`.
/// * `POST /_standin/amp/release` lets one held Amp stream finish.
pub(super) async fn control(sh: &Shared, parts: &Parts, body: Body) -> Response {
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ok = || json_response(StatusCode::OK, &json!({"ok": true}));
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_standin/health") => {
            json_response(StatusCode::OK, &json!({"status": "ok"}))
        }
        (&Method::GET, "/_standin/stats") => json_response(
            StatusCode::OK,
            &json!({
                "connections": sh.connections.load(std::sync::atomic::Ordering::Relaxed),
                "tls_handshakes": sh.tls_handshakes.load(std::sync::atomic::Ordering::Relaxed),
            }),
        ),
        (&Method::GET, "/_standin/requests") => {
            let list: Vec<Value> = sh
                .requests
                .lock()
                .iter()
                .map(RecordedRequest::to_json)
                .collect();
            json_response(StatusCode::OK, &Value::Array(list))
        }
        (&Method::DELETE, "/_standin/requests") => {
            sh.requests.lock().clear();
            ok()
        }
        (&Method::POST, "/_standin/amp/release") => {
            sh.amp_release.add_permits(1);
            ok()
        }
        (&Method::POST, "/_standin/reset") => {
            sh.reset();
            ok()
        }
        (&Method::GET, "/_standin/behavior") => {
            let map = sh.behaviors.lock().clone();
            json_response(StatusCode::OK, &json!(map))
        }
        (&Method::POST, "/_standin/behavior") => {
            let Some(key) = parsed.get("key").and_then(Value::as_str).map(str::to_owned) else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "key is required"}),
                );
            };
            if parsed.get("remove").and_then(Value::as_bool) == Some(true) {
                sh.behaviors.lock().remove(&key);
                return ok();
            }
            match serde_json::from_value::<Behavior>(parsed.clone()) {
                Ok(b) => {
                    sh.set_behavior(&key, b);
                    ok()
                }
                Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
            }
        }
        (&Method::POST, "/_standin/oauth") => {
            let mut o = sh.oauth.lock();
            for rt in parsed
                .get("refresh_tokens")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (tok, email) = match rt {
                    Value::String(s) => (s.clone(), "user@example.com".to_owned()),
                    _ => (
                        rt.get("token")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        rt.get("email")
                            .and_then(Value::as_str)
                            .unwrap_or("user@example.com")
                            .to_owned(),
                    ),
                };
                if !tok.is_empty() {
                    o.refresh.insert(tok, RefreshEntry { email, used: false });
                }
            }
            for at in parsed
                .get("access_tokens")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = at.as_str() {
                    o.access.insert(s.to_owned());
                    o.strict = true;
                }
            }
            for c in parsed
                .get("codes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(code) = c.get("code").and_then(Value::as_str) {
                    let email = c
                        .get("email")
                        .and_then(Value::as_str)
                        .unwrap_or("user@example.com");
                    o.codes.insert(code.to_owned(), email.to_owned());
                }
            }
            if let Some(n) = parsed.get("expires_in").and_then(Value::as_u64) {
                o.expires_in = n;
            }
            if let Some(s) = parsed.get("strict").and_then(Value::as_bool) {
                o.strict = s;
            }
            drop(o);
            ok()
        }
        (&Method::GET, "/_standin/oauth") => {
            let o = sh.oauth.lock();
            let refresh: serde_json::Map<String, Value> = o
                .refresh
                .iter()
                .map(|(k, e)| (k.clone(), json!({"email": e.email, "used": e.used})))
                .collect();
            let mut access: Vec<&String> = o.access.iter().collect();
            access.sort();
            json_response(
                StatusCode::OK,
                &json!({"strict": o.strict, "access_tokens": access, "refresh_tokens": refresh,
                        "issued": o.issued, "expires_in": o.expires_in}),
            )
        }
        (&Method::POST, "/_standin/record") => {
            let on = parsed
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            sh.record.store(on, Ordering::Relaxed);
            ok()
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "unknown control endpoint"}),
        ),
    }
}
