//! HTTP server: `router(state) -> Router`, routes per dialect, middleware, and the
//! gateway's background work (reloads, proactive refresh). Listeners, runtimes and
//! signals are the `serve` command's (`crate::commands::serve`).

mod error;
pub mod keys;
pub mod metrics;
mod proxy;
pub mod reload;
mod routes;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;

use crate::translate::Dialect;
pub use error::{ApiError, Kind};
pub use state::AppState;

fn dialect_for(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else if path.starts_with("/v1beta") {
        Dialect::Gemini
    } else {
        Dialect::OpenAiChat
    }
}

async fn require_client_key(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let snap = state.current();
    let dialect = dialect_for(req.uri().path());
    match keys::check(&snap.config.api_keys, req.headers(), req.uri().query()) {
        keys::KeyCheck::Open | keys::KeyCheck::Matched(_) => next.run(req).await,
        keys::KeyCheck::Missing => ApiError::new(
            dialect,
            StatusCode::UNAUTHORIZED,
            Kind::Authentication,
            "Missing API key",
        )
        .into_response(),
        keys::KeyCheck::Invalid => ApiError::new(
            dialect,
            StatusCode::UNAUTHORIZED,
            Kind::Authentication,
            "Invalid API key",
        )
        .into_response(),
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.current().config.body_limit;
    let api = Router::new()
        .route("/v1/messages", post(routes::messages))
        .route("/v1/messages/count_tokens", post(routes::count_tokens))
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/models", get(routes::models))
        .route("/metrics", get(metrics::render))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_client_key,
        ));
    Router::new()
        .route("/healthz", get(routes::healthz).head(routes::healthz))
        .route("/", get(routes::root))
        .merge(api)
        .route_layer(middleware::from_fn(metrics::track))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}
