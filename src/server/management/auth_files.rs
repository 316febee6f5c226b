//! Auth files: list (state, never tokens), download, upload (multipart or raw JSON),
//! delete (through the sync engine's tombstone when sync runs, so other machines do not
//! bring the account back), and enable / disable.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::reply::{self, Fail};
use crate::auth::AuthFile;
use crate::auth::credential::AccountState;
use crate::server::state::AppState;

/// Largest auth file accepted (real ones are a few KB).
const MAX_FILE: usize = 1 << 20;
/// Most files in one upload.
const MAX_FILES: usize = 100;

/// A name that stays inside the auth folder (`NAME.json`, no separators, no `..`).
pub fn check_name(name: &str) -> reply::Result<String> {
    let name = name.trim();
    if crate::sync::location::valid_name(name) {
        Ok(name.to_string())
    } else {
        Err(Fail::bad(format!(
            "invalid auth file name `{name}`: expected NAME.json without path separators or `..`"
        )))
    }
}

fn rfc(t: Option<jiff::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(crate::auth::file::rfc3339(t)))
}

/// `GET /auth-files`.
pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.current();
    let now = std::time::Instant::now();
    let mut files = Vec::new();
    for (i, acc) in snap.accounts.iter().enumerate() {
        let f = acc.file.read();
        let disabled = f.bool_field("disabled");
        let (status, message, unavailable) = match (disabled, &*acc.state.read()) {
            (true, _) => ("disabled", String::new(), true),
            (false, AccountState::NeedsLogin(why)) => (
                "error",
                format!(
                    "needs login ({why}); run `{}`",
                    acc.file.read().login_command()
                ),
                true,
            ),
            (false, AccountState::RefreshFailed { reason, until }) if *until > now => {
                ("error", format!("token refresh failed: {reason}"), false)
            }
            _ => ("active", String::new(), false),
        };
        let meta = std::fs::metadata(&f.path).ok();
        files.push(json!({
            "id": f.name,
            "name": f.name,
            "type": f.type_name,
            "provider": f.type_name,
            "label": f.email().unwrap_or(&f.name),
            "email": f.email(),
            "account_type": "oauth",
            "status": status,
            "status_message": message,
            "disabled": disabled,
            "unavailable": unavailable,
            "runtime_only": false,
            "source": "file",
            "size": meta.as_ref().map(|m| m.len()),
            "modtime": rfc(meta.and_then(|m| m.modified().ok()).and_then(|t| jiff::Timestamp::try_from(t).ok())),
            "expired": rfc(f.expiry()),
            "last_refresh": rfc(f.last_refresh()),
            "auth_index": i.to_string(),
        }));
    }
    for b in &snap.broken {
        let name = std::path::Path::new(&b.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| b.path.clone());
        files.push(json!({
            "id": name, "name": name, "type": "unknown", "provider": "unknown",
            "status": "error", "status_message": b.message, "disabled": false,
            "unavailable": true, "runtime_only": false, "source": "file",
        }));
    }
    reply::ok_json(&json!({ "files": files }))
}

/// `GET /auth-files/download?name=`: the file itself (it holds the tokens: that is
/// what a download is for).
pub async fn download(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> reply::Result {
    let name = check_name(q.get("name").map_or("", String::as_str))?;
    let bytes = match std::fs::read(state.auth_dir.join(&name)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Fail::not_found(format!("no auth file named {name}")));
        }
        Err(e) => return Err(Fail::internal(format!("reading {name}: {e}"))),
    };
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Checks and writes one uploaded file.
fn store(state: &AppState, name: &str, bytes: &[u8]) -> reply::Result<String> {
    let name = check_name(name)?;
    if bytes.len() > MAX_FILE {
        return Err(Fail::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file too large",
            format!("{name} is over {MAX_FILE} bytes"),
        ));
    }
    let path = state.auth_dir.join(&name);
    AuthFile::parse(&path, bytes).map_err(|e| Fail::bad(format!("{name}: {}", e.message)))?;
    crate::store::write_atomic(&path, bytes)
        .map_err(|e| Fail::internal(format!("writing {name}: {e}")))?;
    crate::auth::refresh::state_file::clear(&state.auth_dir, &name);
    if let Some(s) = &state.sync {
        s.notify_local_change(&name);
    }
    Ok(name)
}

/// `POST /auth-files`: multipart (every file part) or a raw JSON body with `?name=`.
pub async fn upload(State(state): State<Arc<AppState>>, req: Request) -> reply::Result {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let mut saved = Vec::new();
    if is_multipart {
        let mut mp = Multipart::from_request(req, &state)
            .await
            .map_err(|e| Fail::bad(format!("invalid multipart form: {e}")))?;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| Fail::bad(format!("invalid multipart form: {e}")))?
        {
            let Some(name) = field.file_name().map(str::to_string) else {
                continue;
            };
            if saved.len() >= MAX_FILES {
                return Err(Fail::bad(format!("at most {MAX_FILES} files per upload")));
            }
            let bytes = field
                .bytes()
                .await
                .map_err(|e| Fail::bad(format!("reading {name}: {e}")))?;
            saved.push(store(&state, &name, &bytes)?);
        }
        if saved.is_empty() {
            return Err(Fail::bad("no file in the form (send it as a file part)"));
        }
    } else {
        let name = req
            .uri()
            .query()
            .and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "name")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| Fail::bad("raw uploads need ?name=NAME.json"))?;
        let bytes = Bytes::from_request(req, &state)
            .await
            .map_err(|e| Fail::bad(format!("reading the body: {e}")))?;
        saved.push(store(&state, &name, &bytes)?);
    }
    state.reload_auth();
    Ok(reply::ok_json(&json!({"status": "ok", "files": saved})))
}

async fn remove_one(state: &AppState, name: &str) -> reply::Result<()> {
    match state.sync.as_ref().and_then(|s| s.engine()) {
        Some(engine) => {
            let report = engine
                .remove(name)
                .await
                .map_err(|e| Fail::new(StatusCode::NOT_FOUND, "not found", format!("{e:#}")))?;
            for e in &report.errors {
                tracing::warn!(file = %name, error = %e, "removing an auth file: a location failed");
            }
        }
        None => match std::fs::remove_file(state.auth_dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fail::not_found(format!("no auth file named {name}")));
            }
            Err(e) => return Err(Fail::internal(format!("removing {name}: {e}"))),
        },
    }
    crate::auth::refresh::state_file::clear(&state.auth_dir, name);
    Ok(())
}

/// `DELETE /auth-files?name=` (or `?all=true`).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> reply::Result {
    let names: Vec<String> = if q.get("all").is_some_and(|v| v == "true" || v == "1") {
        crate::auth::store::scan(&state.auth_dir)
            .files
            .into_iter()
            .map(|f| f.name)
            .collect()
    } else {
        vec![check_name(q.get("name").map_or("", String::as_str))?]
    };
    for n in &names {
        remove_one(&state, n).await?;
    }
    state.reload_auth();
    Ok(reply::ok_json(
        &json!({"status": "ok", "deleted": names.len()}),
    ))
}

/// `PATCH /auth-files/status {name, disabled}`.
pub async fn set_status(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let v: Value = serde_json::from_slice(&body).map_err(|_| Fail::bad("invalid request body"))?;
    let name = check_name(v.get("name").and_then(Value::as_str).unwrap_or(""))?;
    let disabled = v
        .get("disabled")
        .and_then(Value::as_bool)
        .ok_or_else(|| Fail::bad("disabled is required"))?;
    // Compare-and-swap: a refresh landing meanwhile keeps its new token.
    super::auth_fields::edit_fields(&state, &name, |fields| {
        fields.insert("disabled".into(), json!(disabled));
        Ok(())
    })?;
    Ok(reply::ok_json(
        &json!({"status": "ok", "disabled": disabled}),
    ))
}
