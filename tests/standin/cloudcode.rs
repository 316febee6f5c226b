//! Stand-in Cloud Code (`v1internal`), as Gemini CLI and Antigravity accounts reach it:
//! `POST …/v1internal:loadCodeAssist` and `:onboardUser` (project discovery; onboarding
//! answers "not done" a programmable number of times first), and `:generateContent`,
//! `:streamGenerateContent?alt=sse`, `:countTokens` taking the `{model, project,
//! request}` envelope and answering every body and stream line wrapped as
//! `{"response": …, "traceId": …}`. Any path under `/unavailable/` answers 503: a host
//! that is down, so the gateway's host fallback is exercised.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::gemini::{
    Issuer, answer, bad_json, check_signatures, count_answer, error, read_request, sse_frame,
};
use super::state::Shared;
use super::{Dialect, apply_behavior, credential, json_response, sse_response};

/// What project discovery answers.
#[derive(Clone, Debug)]
pub struct CloudCode {
    /// `loadCodeAssist`'s `cloudaicompanionProject` (`None`: the account must onboard).
    pub project_on_load: Option<String>,
    /// How many `onboardUser` calls answer `done: false` before the project comes.
    pub pending_polls: u32,
    pub onboard_project: String,
}

impl Default for CloudCode {
    fn default() -> Self {
        CloudCode {
            project_on_load: None,
            pending_polls: 1,
            onboard_project: "standin-project".into(),
        }
    }
}

#[derive(Default)]
pub(super) struct CloudState {
    pub(super) config: CloudCode,
    pub(super) polls: u32,
}

fn wrapped(v: Value, sh: &Shared) -> Value {
    json!({"response": v, "traceId": sh.next_id("trace-")})
}

pub(super) fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is currently unavailable.",
    )
}

pub(super) async fn v1internal(
    sh: &Shared,
    headers: &HeaderMap,
    action: &str,
    query: Option<&str>,
    body: &Bytes,
) -> Response {
    let key = credential(headers).map(str::to_owned);
    let eff = sh.effective(key.as_deref(), true);
    if let Some(r) = apply_behavior(&eff, Dialect::Gemini).await {
        return r;
    }
    let Some(key) = key else {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request is missing required authentication credential. Expected OAuth 2 access token.",
        );
    };
    if !sh.accepts(&key) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    let Some(req) = read_request(body) else {
        return bad_json();
    };
    match action {
        "loadCodeAssist" => {
            let cfg = sh.cloud.lock().config.clone();
            let mut v = json!({
                "currentTier": null,
                "allowedTiers": [{"id": "free-tier", "isDefault": true}, {"id": "standard-tier"}],
            });
            if let Some(p) = cfg.project_on_load {
                v["cloudaicompanionProject"] = json!(p);
            }
            json_response(StatusCode::OK, &v)
        }
        "onboardUser" => {
            let mut st = sh.cloud.lock();
            st.polls += 1;
            if st.polls <= st.config.pending_polls {
                return json_response(
                    StatusCode::OK,
                    &json!({"name": "operations/onboard", "done": false}),
                );
            }
            let p = st.config.onboard_project.clone();
            json_response(
                StatusCode::OK,
                &json!({"name": "operations/onboard", "done": true, "response": {"cloudaicompanionProject": {"id": p, "name": p}}}),
            )
        }
        "countTokens" => {
            let inner = req.get("request").cloned().unwrap_or(Value::Null);
            json_response(StatusCode::OK, &count_answer(&inner))
        }
        "generateContent" | "streamGenerateContent" => {
            let model = req.get("model").and_then(Value::as_str).unwrap_or("");
            let project = req.get("project").and_then(Value::as_str).unwrap_or("");
            let inner = req.get("request").cloned().unwrap_or(Value::Null);
            if model.is_empty() || project.is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Invalid project or model: the envelope needs `model` and `project`.",
                );
            }
            if inner
                .get("contents")
                .and_then(Value::as_array)
                .is_none_or(|c| c.is_empty())
            {
                return error(StatusCode::BAD_REQUEST, "request.contents is required");
            }
            if let Some(refused) = check_signatures(&inner, model, Issuer::CloudCode) {
                return refused;
            }
            if action == "generateContent" {
                let c = answer(sh, &inner, &eff, model, false, Issuer::CloudCode);
                return json_response(StatusCode::OK, &wrapped(c[0].clone(), sh));
            }
            if !query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse")) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the stand-in streams with alt=sse only",
                );
            }
            let frames = answer(sh, &inner, &eff, model, true, Issuer::CloudCode)
                .into_iter()
                .map(|c| sse_frame(&wrapped(c, sh)))
                .collect();
            sse_response(frames, Duration::from_millis(eff.chunk_interval_ms))
        }
        _ => error(StatusCode::NOT_FOUND, "Requested entity was not found."),
    }
}
