//! `GET /usage` (CLIProxyAPI's snapshot, from the usage database), `GET /usage/export`
//! and `POST /usage/import` (version 1; imports skip what is already stored).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{self, Fail};
use crate::server::state::AppState;
use crate::usage::{db, report};

/// Details listed by `GET /usage` (totals cover everything).
const MAX_DETAILS: usize = 5_000;
/// Details written by an export.
const MAX_EXPORT: usize = 500_000;

fn empty() -> Value {
    json!({
        "total_requests": 0, "success_count": 0, "failure_count": 0, "total_tokens": 0,
        "apis": {}, "requests_by_day": {}, "requests_by_hour": {}, "tokens_by_day": {}, "tokens_by_hour": {},
    })
}

async fn snapshot(state: &AppState, details: usize) -> reply::Result<Value> {
    let path = crate::usage::db_path(&state.auth_dir);
    tokio::task::spawn_blocking(move || -> Result<Value, String> {
        match db::open_ro(&path).map_err(|e| e.to_string())? {
            Some(c) => report::snapshot(&c, 0, details).map_err(|e| e.to_string()),
            None => Ok(empty()),
        }
    })
    .await
    .map_err(|e| Fail::internal(e.to_string()))?
    .map_err(Fail::internal)
}

pub async fn get(State(state): State<Arc<AppState>>) -> reply::Result {
    let s = snapshot(&state, MAX_DETAILS).await?;
    let failed = s["failure_count"].clone();
    Ok(reply::ok_json(
        &json!({"usage": s, "failed_requests": failed}),
    ))
}

pub async fn export(State(state): State<Arc<AppState>>) -> reply::Result {
    let s = snapshot(&state, MAX_EXPORT).await?;
    Ok(reply::ok_json(&json!({
        "version": 1,
        "exported_at": jiff::Timestamp::now().to_string(),
        "usage": s,
    })))
}

pub async fn import(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    if !state.usage.is_enabled() {
        return Err(Fail::new(
            StatusCode::BAD_REQUEST,
            "usage statistics unavailable",
            "usage recording is off (usage.enabled) or its database could not be opened",
        ));
    }
    let payload: Value = serde_json::from_slice(&body).map_err(|_| Fail::bad("invalid json"))?;
    let (records, bad) = report::parse_import(&payload).map_err(Fail::bad)?;
    let path = crate::usage::db_path(&state.auth_dir);
    let total = records.len() as u64;
    let (added, totals) =
        tokio::task::spawn_blocking(move || -> Result<(u64, (u64, u64)), String> {
            let mut c = db::open_rw(&path).map_err(|e| e.to_string())?;
            let added = db::import(&mut c, &records).map_err(|e| e.to_string())? as u64;
            let (_, t) = report::summary(&c, 0, report::GroupBy::Key).map_err(|e| e.to_string())?;
            Ok((added, (t.requests, t.failed)))
        })
        .await
        .map_err(|e| Fail::internal(e.to_string()))?
        .map_err(Fail::internal)?;
    Ok(reply::ok_json(&json!({
        "added": added,
        "skipped": total - added + bad,
        "total_requests": totals.0,
        "failed_requests": totals.1,
    })))
}
