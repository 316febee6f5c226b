//! Stand-in Anthropic OAuth token endpoint: `POST …/v1/oauth/token` (JSON or form) for
//! `refresh_token` (each refresh token valid once, rotated) and `authorization_code` grants.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::api::Issued;
use super::json_response;
use super::state::{RefreshEntry, Shared};

fn error(error: &str, desc: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": desc}),
    )
}

pub(super) async fn token(sh: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let params: HashMap<String, String> = if is_form {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            _ => return error("invalid_request", "Request body must be JSON"),
        }
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    let grant = get("grant_type").unwrap_or("");
    let spent = match grant {
        "refresh_token" => get("refresh_token"),
        "authorization_code" => get("code").map(|c| c.split('#').next().unwrap_or(c)),
        "" => return error("invalid_request", "grant_type is required"),
        _ => return error("unsupported_grant_type", "Unsupported grant type"),
    };
    let Some(spent) = spent else {
        return error("invalid_request", "refresh_token or code is required");
    };
    let eff = sh.effective(Some(spent), false);
    if eff.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(eff.delay_ms)).await;
    }
    if let Some((status, retry_after, msg)) = &eff.fail {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(
            status,
            &json!({"error": "server_error", "error_description": msg.as_deref().unwrap_or("Stand-in failure")}),
        );
        if let Some(v) = retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    if get("client_id").is_none() {
        return error("invalid_request", "client_id is required");
    }
    let access = sh.next_id("sk-ant-oat01-standin-");
    let refresh = sh.next_id("sk-ant-ort01-standin-");
    let mut o = sh.oauth.lock();
    let email = if grant == "refresh_token" {
        match o.refresh.get_mut(spent) {
            None => return error("invalid_grant", "Invalid refresh token"),
            Some(e) if e.used => return error("invalid_grant", "Refresh token already used"),
            Some(e) => {
                e.used = true;
                e.email.clone()
            }
        }
    } else {
        if get("code_verifier").is_none() {
            return error("invalid_request", "code_verifier is required");
        }
        match o.codes.remove(spent) {
            Some(email) => email,
            None => return error("invalid_grant", "Invalid authorization code"),
        }
    };
    o.refresh.insert(
        refresh.clone(),
        RefreshEntry {
            email: email.clone(),
            used: false,
        },
    );
    o.access.insert(access.clone());
    o.strict = true;
    let expires_in = o.expires_in;
    o.issued.push(Issued {
        grant_type: grant.to_owned(),
        spent: spent.to_owned(),
        access_token: access.clone(),
        refresh_token: refresh.clone(),
        email: email.clone(),
    });
    drop(o);
    json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": expires_in,
            "refresh_token": refresh,
            "scope": "user:inference user:profile",
            "organization": {"uuid": "00000000-0000-4000-8000-000000000001", "name": "Stand-in Org"},
            "account": {"uuid": "00000000-0000-4000-8000-000000000002", "email_address": email},
        }),
    )
}
