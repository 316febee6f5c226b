//! Route handlers: thin — parse what routing needs, hand off to `proxy::execute`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;

use super::error::{ApiError, Kind, Rejection};
use super::gate::Admitted;
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
            "endpoints": ["POST /v1/messages", "POST /v1/messages/count_tokens", "POST /v1/chat/completions", "POST /v1/completions", "POST /v1/responses", "POST /v1/responses/compact", "GET /v1/models", "GET /v1beta/models", "POST /v1beta/models/{model}:generateContent", "POST /v1beta/models/{model}:streamGenerateContent", "POST /v1beta/models/{model}:countTokens", "GET /healthz"],
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
        json_array: false,
    };
    proxy::execute(&state, call).await
}

pub async fn messages(
    State(state): State<Arc<AppState>>,
    Admitted { headers, body }: Admitted,
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
    Admitted { headers, body }: Admitted,
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
    Admitted { headers, body }: Admitted,
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
    Admitted { headers, body }: Admitted,
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
    Admitted { headers, body }: Admitted,
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
    Admitted { headers, body }: Admitted,
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

// ---------------------------------------------------------------- Gemini (`/v1beta`)

/// A Gemini model path segment (`models/{model}:{action}`) split into its parts.
fn split_action(rest: &str) -> Option<(&str, &str)> {
    let rest = rest.strip_prefix("models/").unwrap_or(rest);
    rest.rsplit_once(':')
        .filter(|(m, a)| !m.is_empty() && !a.is_empty())
}

/// `alt=sse` in the query: SSE instead of the JSON-array stream.
fn wants_sse(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "alt" && v == "sse")
    })
}

/// `POST /v1beta/models/{model}:{generateContent|streamGenerateContent|countTokens}`.
pub async fn gemini_action(
    State(state): State<Arc<AppState>>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    Admitted { headers, body }: Admitted,
) -> Response {
    match gemini_call(&rest, query.as_deref(), headers, body) {
        Ok(call) => proxy::execute(&state, call).await,
        Err(e) => Rejection(Dialect::Gemini, e).into_response(),
    }
}

/// The call a Gemini model path (`models/{model}:{action}`) asks for (also used by
/// Amp's `/api/provider/google/v1beta/...`).
pub fn gemini_call(
    rest: &str,
    query: Option<&str>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Call, ApiError> {
    let Some((model, action)) = split_action(rest) else {
        return Err(ApiError::new(
            Kind::NotFound,
            format!("`{rest}` is not `{{model}}:{{action}}`"),
        ));
    };
    let (op, stream) = match action {
        "generateContent" => (Operation::GenerateContent, false),
        "streamGenerateContent" => (Operation::GenerateContent, true),
        "countTokens" => (Operation::CountTokens, false),
        other => {
            return Err(ApiError::new(
                Kind::NotFound,
                format!(
                    "unknown action `{other}`: this gateway serves generateContent, streamGenerateContent and countTokens"
                ),
            ));
        }
    };
    if let Err(e) = translate::require_object(&body) {
        return Err(ApiError::new(Kind::InvalidRequest, e.to_string()));
    }
    Ok(Call {
        dialect: Dialect::Gemini,
        op,
        model: model.to_string(),
        stream,
        json_array: stream && !wants_sse(query),
        body,
        headers,
    })
}

fn gemini_model_json(id: &str) -> serde_json::Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "version": "001",
        "displayName": id,
        "description": id,
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    })
}

/// `GET /v1beta/models`: every model, in Gemini's list shape.
pub async fn gemini_models(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.current();
    let models: Vec<_> = snap
        .registry
        .models()
        .iter()
        .map(|m| gemini_model_json(&m.id))
        .collect();
    json_response(StatusCode::OK, &json!({ "models": models }))
}

/// `GET /v1beta/models/{model}`.
pub async fn gemini_model(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    let id = name.strip_prefix("models/").unwrap_or(&name);
    let snap = state.current();
    if snap.registry.models().iter().any(|m| m.id == id) {
        json_response(StatusCode::OK, &gemini_model_json(id))
    } else {
        Rejection(
            Dialect::Gemini,
            ApiError::new(
                Kind::NotFound,
                format!("model `{id}` is not served here; GET /v1beta/models lists the models"),
            ),
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_paths_split_into_model_and_action() {
        assert_eq!(
            split_action("gemini-2.5-pro:generateContent"),
            Some(("gemini-2.5-pro", "generateContent"))
        );
        assert_eq!(
            split_action("team/gemini-x:countTokens"),
            Some(("team/gemini-x", "countTokens"))
        );
        assert_eq!(
            split_action("models/m:streamGenerateContent"),
            Some(("m", "streamGenerateContent"))
        );
        assert_eq!(split_action("gemini-2.5-pro"), None);
        assert_eq!(split_action(":generateContent"), None);
        assert!(wants_sse(Some("alt=sse&key=k")));
        assert!(!wants_sse(Some("key=k")) && !wants_sse(None));
    }
}
