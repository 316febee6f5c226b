//! `GET …/models`: Anthropic's list when `anthropic-version` is sent, else OpenAI's.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::state::Shared;
use super::{Dialect, MODELS, apply_behavior, credential, error_for, json_response};

pub(super) async fn list(sh: &Shared, headers: &HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let key = credential(headers);
    let eff = sh.effective(key, true);
    let dialect = if anthropic {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    };
    if let Some(r) = apply_behavior(&eff, dialect).await {
        return r;
    }
    if key.is_none() {
        return error_for(
            dialect,
            StatusCode::UNAUTHORIZED,
            None,
            Some("missing credential"),
        );
    }
    if anthropic {
        let data: Vec<Value> = MODELS
            .iter()
            .filter(|m| m.starts_with("claude"))
            .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}))
            .collect();
        let first = data
            .first()
            .and_then(|d| d.get("id"))
            .cloned()
            .unwrap_or(Value::Null);
        let last = data
            .last()
            .and_then(|d| d.get("id"))
            .cloned()
            .unwrap_or(Value::Null);
        return json_response(
            StatusCode::OK,
            &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
        );
    }
    let data: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000u64, "owned_by": "standin"}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}
