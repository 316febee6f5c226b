//! The management API (`/v0/management/...`), CLIProxyAPI-compatible: settings,
//! auth files, usage, web logins, and the status page (`page`, `status_api`). Guarded by [`guard::check`]; see README
//! "Management API" for the list of endpoints.

mod auth_fields;
mod auth_files;
mod config_api;
pub mod doc;
pub mod guard;
mod lists;
pub mod logfile;
mod logs;
pub mod oauth;
mod page;
mod reply;
mod status_api;
mod status_view;
#[cfg(test)]
mod tests;
mod tools;
mod usage_api;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::middleware;
use axum::routing::{get, patch, post};

use super::state::AppState;

/// Management state shared by every serving thread.
#[derive(Default)]
pub struct Shared {
    pub bans: guard::Bans,
    pub verified: guard::VerifiedCache,
    /// One settings write at a time (read, change, check, save, reload).
    pub write_lock: tokio::sync::Mutex<()>,
    pub oauth: oauth::Sessions,
    /// The newest sync status and when it was taken (the status page polls it).
    pub sync_status: tokio::sync::Mutex<Option<(std::time::Instant, serde_json::Value)>>,
}

/// Routes under `/v0/management`.
fn api(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let mut r = Router::new()
        .route("/config", get(config_api::get_config))
        .route(
            "/config.yaml",
            get(config_api::get_yaml).put(config_api::put_yaml),
        )
        .route(
            "/auth-files",
            get(auth_files::list)
                .post(auth_files::upload)
                .delete(auth_files::delete),
        )
        .route("/auth-files/download", get(auth_files::download))
        .route("/auth-files/status", patch(auth_files::set_status))
        .route("/auth-files/models", get(auth_fields::models))
        .route("/auth-files/fields", patch(auth_fields::patch_fields))
        .route("/latest-version", get(tools::latest_version))
        .route("/api-call", post(tools::api_call))
        .route("/usage", get(usage_api::get))
        .route("/usage/export", get(usage_api::export))
        .route("/usage/import", post(usage_api::import))
        .route("/logs", get(logs::get).delete(logs::delete))
        .route("/request-error-logs", get(logs::request_error_logs))
        .route("/request-error-logs/{name}", get(logs::no_request_log))
        .route("/request-log-by-id/{id}", get(logs::no_request_log))
        .route("/oauth-callback", post(oauth::post_callback))
        .route("/get-auth-status", get(oauth::status))
        .route("/status", get(status_api::get))
        .route("/sync/status", get(status_api::get_sync))
        .route("/auth-files/refresh", post(status_api::refresh_now))
        .route("/cooldowns/clear", post(status_api::clear_cooldown));
    for s in config_api::SCALARS {
        r = r.route(s.route, config_api::route(s));
    }
    for l in lists::LISTS {
        r = r.route(l.route, lists::route(l));
    }
    for p in oauth::Provider::ALL {
        r = r.route(
            p.start_route(),
            get(
                move |State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>| {
                    oauth::start(st, p, q)
                },
            ),
        );
    }
    r.route_layer(middleware::from_fn_with_state(state, guard::check))
}

/// The management API plus the OAuth callback routes on the gateway's own port.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let mut r = Router::new()
        .nest("/v0/management", api(state.clone()))
        .merge(page::router(state));
    for p in oauth::Provider::ALL {
        r = r.route(
            p.callback_route(),
            get(
                move |State(st): State<Arc<AppState>>, Query(q): Query<HashMap<String, String>>| {
                    oauth::callback(st, p, q)
                },
            ),
        );
    }
    r
}
