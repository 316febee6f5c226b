//! `GET|DELETE /logs` and `GET /request-error-logs`: cliproxy logs to standard error
//! (journald, launchd, a terminal), never to files, so these say so plainly.

use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde_json::json;

use super::reply::{self, Fail};
use crate::server::state::AppState;

fn no_files(state: &AppState) -> Fail {
    if state.current().config.logging_to_file {
        Fail::new(
            StatusCode::NOT_IMPLEMENTED,
            "logging to file unsupported",
            "logging-to-file is set, but cliproxy writes its log to standard error only: read it where the service manager keeps it (journalctl -u cliproxy, the launchd log path, or the terminal)",
        )
    } else {
        Fail::new(
            StatusCode::BAD_REQUEST,
            "logging to file disabled",
            "the log goes to standard error (journalctl, launchd log, terminal); there is no log file to read",
        )
    }
}

pub async fn get(State(state): State<Arc<AppState>>) -> reply::Result {
    Err(no_files(&state))
}

pub async fn delete(State(state): State<Arc<AppState>>) -> reply::Result {
    Err(no_files(&state))
}

/// No request error logs are written: an empty list, as CLIProxyAPI answers then.
pub async fn request_error_logs() -> axum::response::Response {
    reply::ok_json(&json!({"files": []}))
}
