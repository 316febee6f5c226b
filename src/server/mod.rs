//! HTTP server: `router(state) -> Router`, routes per dialect, middleware, and the
//! gateway's background work (reloads, proactive refresh). Listeners, runtimes and
//! signals are the `serve` command's (src/commands/serve.rs).

mod affinity;
mod amp;
pub mod browser;
pub mod conn;
mod error;
mod gate;
pub mod keys;
pub mod management;
pub mod metrics;
mod proxy;
pub mod reload;
mod routes;
pub mod state;
mod tap;
mod usage_tap;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

pub use error::{ApiError, Kind};
pub use state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.current().config.body_limit;
    let gate = gate::Gate {
        state: state.clone(),
        body_limit: limit,
        usage: true,
        metrics: true,
    };
    let amp = amp::router(state.clone(), gate.clone());
    // The proxy routes pass through one middleware, the gate, which also counts them
    // and records their usage, and reads their bodies within `body-limit` itself.
    let api = Router::new()
        .route("/v1/messages", post(routes::messages))
        .route("/v1/messages/count_tokens", post(routes::count_tokens))
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/completions", post(routes::completions))
        .route("/v1/responses", post(routes::responses))
        .route("/v1/responses/compact", post(routes::responses_compact))
        .route("/v1/models", get(routes::models))
        .route("/v1beta/models", get(routes::gemini_models))
        .route(
            "/v1beta/models/{*rest}",
            get(routes::gemini_model).post(routes::gemini_action),
        )
        .route("/metrics", get(metrics::render))
        // Before the gate is layered on, so a wrong method is still behind the key check.
        .method_not_allowed_fallback(error::wrong_method)
        .route_layer(middleware::from_fn_with_state(gate, gate::admit));
    Router::new()
        .route("/healthz", get(routes::healthz).head(routes::healthz))
        .route("/", get(routes::root))
        .method_not_allowed_fallback(error::wrong_method)
        .merge(amp)
        .merge(management::router(state.clone()))
        .fallback(error::unknown_route)
        .route_layer(middleware::from_fn(metrics::track))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .merge(api)
        .with_state(state)
}
