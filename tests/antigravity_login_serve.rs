//! An Antigravity account exactly as `cliproxy login antigravity` writes it when Code
//! Assist names no project yet serves requests end to end: the first request finds the
//! project (loadCodeAssist, then onboardUser polled until done) and saves it into the
//! file, keeping every field the login wrote; a 401 refreshes the token and replays.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_oauth;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, CloudCode, StandIn};
use support_oauth::AuthServer;

/// Runs the browser login against `server`; returns (file name, file contents).
async fn login_antigravity(server: &AuthServer) -> (String, Value) {
    let (_home, auth, out) = run_browser_login("antigravity", &server.config_yaml()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no project id recorded") || stderr.is_empty(),
        "{stderr}"
    );
    let name = "antigravity-user@example.com.json".to_string();
    let file: Value = serde_json::from_slice(&std::fs::read(auth.join(&name)).unwrap()).unwrap();
    (name, file)
}

fn gateway_config(si: &StandIn, server: &AuthServer) -> String {
    format!(
        "antigravity:\n  base-urls: [\"{}\"]\n  token-url: {}\n",
        si.base_url,
        server.url("/token")
    )
}

async fn generate(g: &Gateway) -> Value {
    let r = reqwest::Client::new()
        .post(g.url("/v1beta/models/gemini-3-flash:generateContent"))
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    r.json().await.unwrap()
}

fn text_of(v: &Value) -> String {
    v["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_in_antigravity_account_finds_its_project_once_and_refreshes_on_401() {
    let server = AuthServer::start().await;
    // Code Assist knows no project for this account yet: the login records none.
    server.inner.lock().project = String::new();
    let (name, file) = login_antigravity(&server).await;
    assert_eq!(file["type"], "antigravity");
    assert_eq!(file["project_id"], "", "{file}");
    let first_token = file["access_token"].as_str().unwrap().to_string();
    assert_eq!(first_token, server.inner.lock().issued[0].0);

    let si = StandIn::start().await;
    si.set_cloud_code(CloudCode {
        project_on_load: None,
        pending_polls: 2,
        onboard_project: "proj-onboarded".into(),
    });
    // Google says the token is no longer good.
    si.set_behavior(&first_token, Behavior::unauthorized());
    let g = start(&gateway_config(&si, &server), &[(&name, file.clone())]).await;

    let v = generate(&g).await;
    assert_eq!(text_of(&v), standin::DEFAULT_TEXT);
    let refreshes = server.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh");
    assert_eq!(
        refreshes[0].params["refresh_token"],
        file["refresh_token"].as_str().unwrap()
    );
    assert_eq!(
        refreshes[0].params["client_id"],
        "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
    );
    let new_token = server.inner.lock().issued[1].0.clone();
    let bearer = format!("Bearer {new_token}");
    let load = si.requests_to("/v1internal:loadCodeAssist");
    assert_eq!(
        load.last().unwrap().header("authorization"),
        Some(bearer.as_str())
    );
    let onboard = si.requests_to("/v1internal:onboardUser");
    assert_eq!(onboard.len(), 3, "polled until done");
    let sent = si.requests_to("/v1internal:generateContent");
    let last = sent.last().unwrap();
    assert_eq!(last.header("authorization"), Some(bearer.as_str()));
    let env = last.json().unwrap();
    assert_eq!(env["project"], "proj-onboarded");
    assert_eq!(env["model"], "gemini-3-flash");

    let saved = g.read_auth(&name);
    assert_eq!(saved["project_id"], "proj-onboarded");
    assert_eq!(saved["access_token"], new_token.as_str());
    assert_ne!(saved["refresh_token"], file["refresh_token"]);
    for (k, v) in file.as_object().unwrap() {
        assert!(saved.get(k).is_some(), "the login's `{k}` is kept: {saved}");
        if ["type", "email"].contains(&k.as_str()) {
            assert_eq!(&saved[k], v);
        }
    }
    let no_temp_files: Vec<String> = std::fs::read_dir(g.auth_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != &name && !n.starts_with('.'))
        .collect();
    assert!(no_temp_files.is_empty(), "{no_temp_files:?}");

    // Discovery happened once: later requests, and a gateway started on the saved
    // file, go straight to generateContent.
    let loads = load.len();
    generate(&g).await;
    let g2 = start(&gateway_config(&si, &server), &[(&name, saved)]).await;
    generate(&g2).await;
    assert_eq!(si.requests_to("/v1internal:loadCodeAssist").len(), loads);
    assert_eq!(si.requests_to("/v1internal:onboardUser").len(), 3);
    assert_eq!(server.token_requests("refresh_token").len(), 1);
    let sent = si.requests_to("/v1internal:generateContent");
    assert_eq!(
        sent.last().unwrap().json().unwrap()["project"],
        "proj-onboarded"
    );
}
