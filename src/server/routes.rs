//! Route handlers: thin — parse what routing needs, hand off to `proxy::execute`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;

use super::error::{ApiError, Kind, Rejection};
use super::proxy::{self, Call, json_response};
use super::state::AppState;
use crate::providers::Operation;
use crate::translate::{self, Dialect};

pub async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

pub async fn root() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "message": "cliproxy: CLIProxyAPI-compatible gateway",
            "endpoints": ["POST /v1/messages", "POST /v1/messages/count_tokens", "POST /v1/chat/completions", "POST /v1/completions", "POST /v1/responses", "POST /v1/responses/compact", "GET /v1/models", "GET /healthz"],
        }),
    )
}

async fn dispatch(
    state: Arc<AppState>,
    dialect: Dialect,
    op: Operation,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let probe = match translate::probe(&body) {
        Ok(p) => p,
        Err(e) => {
            return Rejection(dialect, ApiError::new(Kind::InvalidRequest, e.to_string()))
                .into_response();
        }
    };
    let call = Call {
        dialect,
        op,
        model: probe.model,
        stream: probe.stream && op.streams(),
        body,
        headers,
    };
    proxy::execute(&state, call).await
}

pub async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::Anthropic,
        Operation::Messages,
        headers,
        body,
    )
    .await
}

pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::Anthropic,
        Operation::CountTokens,
        headers,
        body,
    )
    .await
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::OpenAiChat,
        Operation::ChatCompletions,
        headers,
        body,
    )
    .await
}

/// Legacy completions, served as chat (the prompt is one user message).
pub async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::Completions,
        Operation::ChatCompletions,
        headers,
        body,
    )
    .await
}

pub async fn responses(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::Responses,
        Operation::Responses,
        headers,
        body,
    )
    .await
}

pub async fn responses_compact(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(
        state,
        Dialect::Responses,
        Operation::ResponsesCompact,
        headers,
        body,
    )
    .await
}

/// OpenAI list, or Anthropic's list for Claude Code (User-Agent `claude-cli...`).
pub async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let snap = state.current();
    let models = snap.registry.models();
    let claude_cli = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("claude-cli"));
    let created = 1_700_000_000u64;
    let body = if claude_cli {
        let data: Vec<_> = models
            .iter()
            .map(|m| json!({"type": "model", "id": m.id, "display_name": m.id, "created_at": "2025-01-01T00:00:00Z"}))
            .collect();
        json!({
            "data": data,
            "has_more": false,
            "first_id": models.first().map(|m| m.id.clone()),
            "last_id": models.last().map(|m| m.id.clone()),
        })
    } else {
        let data: Vec<_> = models
            .iter()
            .map(|m| json!({"id": m.id, "object": "model", "created": created, "owned_by": m.owned_by}))
            .collect();
        json!({"object": "list", "data": data})
    };
    json_response(StatusCode::OK, &body)
}
