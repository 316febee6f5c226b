//! A Codex OAuth file exactly as `cliproxy login codex` writes it serves a request end
//! to end, and a 401 from the backend refreshes the token and replays the request.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_oauth;

use common::*;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};
use support_oauth::AuthServer;

/// Runs the browser login against `server`; returns (file name, file contents).
async fn login_codex(server: &AuthServer) -> (String, Value) {
    let (_home, auth, out) = run_browser_login("codex", &server.config_yaml()).await;
    assert!(out.status.success());
    let name = "codex-user@example.com-plus.json".to_string();
    let file: Value = serde_json::from_slice(&std::fs::read(auth.join(&name)).unwrap()).unwrap();
    (name, file)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_in_codex_account_serves_and_refreshes_on_401() {
    let server = AuthServer::start().await;
    let si = StandIn::start().await;
    let (name, file) = login_codex(&server).await;
    let first_token = file["access_token"].as_str().unwrap().to_string();
    // The backend says the token is no longer good.
    si.set_behavior(&first_token, Behavior::unauthorized());
    let g = start(
        &format!(
            "codex:\n  base-url: {}/backend-api/codex\n  token-url: {}\n",
            si.base_url,
            server.url("/token")
        ),
        &[(&name, file.clone())],
    )
    .await;
    let r = reqwest::Client::new()
        .post(g.url("/v1/responses"))
        .json(&json!({"model": "gpt-5-codex", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Hello from the stand-in."
    );
    let up = si.requests_to("/backend-api/codex/responses");
    assert_eq!(up.len(), 2, "sent, refreshed, replayed once");
    assert_eq!(up[0].credential().as_deref(), Some(first_token.as_str()));
    let second_token = up[1].credential().unwrap();
    assert_ne!(second_token, first_token);
    for u in &up {
        assert_eq!(u.header("chatgpt-account-id"), Some("acct-123"));
    }
    let refreshes = server.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert!(refreshes[0].content_type.contains("x-www-form-urlencoded"));
    assert_eq!(
        refreshes[0].params["refresh_token"],
        file["refresh_token"].as_str().unwrap()
    );
    let saved = g.read_auth(&name);
    assert_eq!(saved["access_token"], second_token.as_str());
    assert_ne!(saved["refresh_token"], file["refresh_token"]);
    assert_eq!(saved["account_id"], "acct-123");
    assert_eq!(saved["type"], "codex");
}
