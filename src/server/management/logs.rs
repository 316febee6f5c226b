//! `GET|DELETE /logs` and the request-log endpoints, in CLIProxyAPI's shapes.
//!
//! With `logging-to-file: true` at start the log also goes to a file ([`logfile`]):
//! `GET /logs` answers its newest lines (`?limit=`, at most [`MAX_LIMIT`]; `?after=`
//! a Unix time, only lines logged after it, as CLIProxyAPI's incremental cursor does),
//! `DELETE /logs` empties it. Without it, the log goes to standard error and these say
//! so. Request logs (`request-log`) are not written: their listing is empty.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde_json::{Value, json};

use super::logfile;
use super::reply::{self, Fail};
use crate::server::state::AppState;

/// Lines answered when `limit` is not given, and at most.
pub const DEFAULT_LIMIT: usize = 500;
pub const MAX_LIMIT: usize = 5000;
/// How much of the log's end is read for one answer.
const WINDOW: u64 = 4 << 20;

fn no_file(state: &AppState) -> Fail {
    if state.current().config.logging_to_file {
        Fail::new(
            StatusCode::BAD_REQUEST,
            "logging to file disabled",
            "logging-to-file was turned on after this gateway started: the log file starts with the next start",
        )
    } else {
        Fail::new(
            StatusCode::BAD_REQUEST,
            "logging to file disabled",
            "the log goes to standard error (journalctl, launchd log, terminal); set logging-to-file: true to read it here",
        )
    }
}

/// When a log line was written (Unix seconds): the leading RFC 3339 time of a text
/// line, the `timestamp` of a JSON line.
pub fn line_time(line: &str) -> Option<i64> {
    let t = line.trim_start();
    let stamp = if t.starts_with('{') {
        serde_json::from_str::<Value>(t)
            .ok()?
            .get("timestamp")?
            .as_str()?
            .to_string()
    } else {
        t.split_whitespace().next()?.to_string()
    };
    stamp
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|ts| ts.as_second())
}

/// The lines to answer: those after `after` (lines without a time of their own go
/// with the line before), the newest `limit` of them; the newest time seen.
pub fn select(text: &str, after: i64, limit: usize) -> (Vec<&str>, i64) {
    let mut out = Vec::new();
    let mut latest = 0;
    let mut include = after <= 0;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(t) = line_time(line) {
            latest = latest.max(t);
            include = after <= 0 || t > after;
        }
        if include {
            out.push(line);
        }
    }
    let skip = out.len().saturating_sub(limit);
    (out.split_off(skip), latest)
}

/// `GET /logs?limit=&after=`: `{lines, line-count, latest-timestamp}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> reply::Result {
    let lf = logfile::active().ok_or_else(|| no_file(&state))?;
    let limit = match q.get("limit").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_LIMIT),
            _ => return Err(Fail::bad(format!("invalid limit `{s}`: a positive number"))),
        },
    };
    let after = match q.get("after").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => 0,
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| Fail::bad(format!("invalid after `{s}`: a Unix time in seconds")))?,
    };
    let text = tokio::task::spawn_blocking(move || lf.tail(WINDOW))
        .await
        .map_err(|e| Fail::internal(format!("reading the log: {e}")))?
        .map_err(|e| Fail::internal(format!("reading the log: {e}")))?;
    let (lines, latest) = select(&text, after, limit);
    Ok(reply::ok_json(&json!({
        "lines": lines,
        "line-count": lines.len(),
        "latest-timestamp": latest.max(after),
    })))
}

/// `DELETE /logs`: empties the log file (and drops the rotated one).
pub async fn delete(State(state): State<Arc<AppState>>) -> reply::Result {
    let lf = logfile::active().ok_or_else(|| no_file(&state))?;
    let removed = tokio::task::spawn_blocking(move || lf.clear())
        .await
        .map_err(|e| Fail::internal(format!("clearing the log: {e}")))?
        .map_err(|e| Fail::internal(format!("clearing the log: {e}")))?;
    tracing::info!("log file cleared through the management API");
    Ok(reply::ok_json(&json!({
        "success": true,
        "message": "Logs cleared successfully",
        "removed": removed,
    })))
}

/// No request error logs are written: an empty list, as CLIProxyAPI answers then.
pub async fn request_error_logs() -> axum::response::Response {
    reply::ok_json(&json!({"files": []}))
}

/// `GET /request-error-logs/{name}` and `GET /request-log-by-id/{id}`: there are none.
pub async fn no_request_log(Path(name): Path<String>) -> reply::Result {
    Err(Fail::not_found(format!(
        "no request log `{}`: cliproxy does not write request logs (request-log)",
        crate::config::clip(&name)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_timed_in_text_and_json_formats() {
        let table: &[(&str, Option<i64>)] = &[
            (
                "2026-11-30T13:20:01.123456Z  INFO cliproxy::server: listening",
                Some(1_796_044_801),
            ),
            (
                r#"{"timestamp":"2026-11-30T13:20:01.5Z","level":"INFO","fields":{}}"#,
                Some(1_796_044_801),
            ),
            ("    at src/main.rs:3", None),
            ("", None),
        ];
        for (line, want) in table {
            assert_eq!(line_time(line), *want, "{line}");
        }
    }

    #[test]
    fn after_keeps_newer_lines_with_their_continuations_and_limit_keeps_the_newest() {
        let text = "2026-11-30T13:00:00Z INFO a\n  a continued\n2026-11-30T13:00:10Z INFO b\n  b continued\n2026-11-30T13:00:20Z INFO c\n";
        let t10 = "2026-11-30T13:00:10Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second();
        let (all, latest) = select(text, 0, 100);
        assert_eq!(all.len(), 5);
        assert_eq!(latest, t10 + 10);
        let (newer, _) = select(text, t10 - 1, 100);
        assert_eq!(
            newer,
            [
                "2026-11-30T13:00:10Z INFO b",
                "  b continued",
                "2026-11-30T13:00:20Z INFO c"
            ]
        );
        let (none, latest) = select(text, t10 + 10, 100);
        assert!(none.is_empty());
        assert_eq!(latest, t10 + 10);
        let (last2, _) = select(text, 0, 2);
        assert_eq!(last2, ["  b continued", "2026-11-30T13:00:20Z INFO c"]);
    }
}
