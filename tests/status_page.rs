//! The status page and the management endpoints behind it, through the real gateway
//! binary over HTTP with the stand-in upstream.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use standin::{Behavior, StandIn};

const SECRET: &str = "status-page-secret-0001";
const MODEL: &str = "claude-opus-4-5-20251101";
const A: &str = "claude-a@example.com.json";
const B: &str = "claude-b@example.com.json";
/// Token lifetime: far from the refresh lead, so nothing refreshes on its own.
const DAY: i64 = 24 * 3600;

fn config(si: &StandIn, extra: &str) -> String {
    format!(
        "remote-management:\n  secret-key: {SECRET}\nclaude:\n  base-url: {}\n  token-url: {}\n{extra}",
        si.base_url,
        si.url("/v1/oauth/token")
    )
}

fn accounts() -> Vec<(&'static str, Value)> {
    let mut a = claude_oauth_file("a@example.com", "at-a", "rt-a", DAY);
    a["plan"] = json!("max");
    let b = claude_oauth_file("b@example.com", "at-b", "rt-b", DAY);
    vec![(A, a), (B, b)]
}

async fn gateway(extra: &str) -> (StandIn, Gateway) {
    let si = StandIn::start().await;
    let g = start(&config(&si, extra), &accounts()).await;
    (si, g)
}

fn mgmt(g: &Gateway, method: Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, g.url(&format!("/v0/management{path}")))
        .header("x-management-key", SECRET)
}

async fn json_of(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn status(g: &Gateway) -> Value {
    let (code, v) = json_of(mgmt(g, Method::GET, "/status")).await;
    assert_eq!(code, 200, "{v}");
    v
}

fn account<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_is_embedded_and_served_under_the_management_rules() {
    let (_si, g) = gateway("").await;
    let client = reqwest::Client::new();
    for path in ["/status", "/management.html"] {
        let r = client.get(g.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert!(
            h["content-type"].to_str().unwrap().starts_with("text/html"),
            "{h:?}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("/status/status.js"), "{body}");
        // The shell holds no data: no account, no secret.
        assert!(!body.contains("a@example.com") && !body.contains(SECRET));
        // Nothing from another origin.
        assert!(!body.contains("http://") && !body.contains("https://"));
    }
    for (path, ty) in [
        ("/status/status.js", "text/javascript"),
        ("/status/status.css", "text/css"),
    ] {
        let r = client.get(g.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(ty)
        );
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("https://"),
            "{path} refers to another origin"
        );
    }
    // A page that rebinds its own name to this machine cannot load it.
    let r = client
        .get(g.url("/status"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The data needs the key.
    let r = client
        .get(g.url("/v0/management/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_management_secret_there_is_no_page() {
    let si = StandIn::start().await;
    let g = start(
        &format!("claude:\n  base-url: {}\n", si.base_url),
        &accounts(),
    )
    .await;
    let r = reqwest::get(g.url("/status")).await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_accounts_a_cooldown_with_its_reason_and_clearing_it() {
    let (si, g) = gateway("").await;
    let v = status(&g).await;
    let a = account(&v, A);
    assert_eq!(a["email"], "a@example.com");
    assert_eq!(a["provider"], "claude");
    assert_eq!(a["plan"], "max");
    assert_eq!(a["state"]["state"], "ok");
    let left = a["expires_in_s"].as_i64().unwrap();
    assert!((DAY - 600..=DAY).contains(&left), "{a}");
    assert_eq!(a["login_route"], "/anthropic-auth-url");
    assert_eq!(v["sync"]["enabled"], false);
    assert_eq!(v["hourly"]["hours"].as_array().unwrap().len(), 24);
    // No token in the answer.
    let text = v.to_string();
    for secret in ["at-a", "rt-a", "at-b", SECRET] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    si.set_behavior("at-a", Behavior::fail(10, 429).with_retry_after("300"));
    // Round robin: within a few requests account A gets one and cools down; B serves.
    let mut cooling = Value::Null;
    for _ in 0..4 {
        let r = post_messages(&g, &messages_body(MODEL, false), &[]).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let v = status(&g).await;
        if account(&v, A)["state"]["state"] == "cooling" {
            cooling = account(&v, A).clone();
            break;
        }
    }
    assert_eq!(cooling["state"]["state"], "cooling", "A never cooled down");
    let c = &cooling["cooling"][0];
    assert_eq!(c["model"], MODEL, "{cooling}");
    assert_eq!(c["reason"], "rate limited (429)");
    let left = c["remaining_s"].as_u64().unwrap();
    assert!((1..=300).contains(&left), "{c}");
    assert!(c["until"].as_str().unwrap().ends_with('Z'));
    assert!(
        cooling["state"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limited (429)")
    );

    // The requests show up in today's numbers and the hourly series.
    eventually("requests counted", Duration::from_secs(10), async || {
        let v = status(&g).await;
        let b = account(&v, B);
        b["usage"]["requests"].as_u64().unwrap() >= 1
            && b["usage"]["last_used"].is_string()
            && v["today"]["requests"].as_u64().unwrap() >= 1
            && v["hourly"]["by_model"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == MODEL && s["requests"][23].as_u64().unwrap() >= 1)
    })
    .await;

    let (code, body) =
        json_of(mgmt(&g, Method::POST, "/cooldowns/clear").json(&json!({"name": A}))).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["cleared"], 1);
    let v = status(&g).await;
    assert_eq!(account(&v, A)["state"]["state"], "ok", "{v}");
    assert_eq!(account(&v, A)["cooling"], json!([]));

    let (code, body) =
        json_of(mgmt(&g, Method::POST, "/cooldowns/clear").json(&json!({"name": "nobody.json"})))
            .await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = json_of(mgmt(&g, Method::POST, "/cooldowns/clear").body("{")).await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_now_renews_the_token_and_a_refused_one_names_the_login_command() {
    let (si, g) = gateway("").await;
    si.seed_refresh_token("rt-a", "a@example.com");
    let (code, body) =
        json_of(mgmt(&g, Method::POST, "/auth-files/refresh").json(&json!({"name": A}))).await;
    assert_eq!(code, 200, "{body}");
    let file = g.read_auth(A);
    assert_ne!(file["access_token"], "at-a", "{file}");
    assert_ne!(file["refresh_token"], "rt-a");
    assert_eq!(file["custom_field"], json!({"kept": true}));

    // B's refresh token is unknown upstream: refused, so only a new login helps.
    let (code, body) =
        json_of(mgmt(&g, Method::POST, "/auth-files/refresh").json(&json!({"name": B}))).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cliproxy login claude"),
        "{body}"
    );
    let v = status(&g).await;
    let b = account(&v, B);
    assert_eq!(b["state"]["state"], "needs_login", "{b}");
    assert_eq!(b["state"]["command"], "cliproxy login claude");

    for (name, want) in [("nobody.json", 404), ("../x.json", 400)] {
        let (code, body) =
            json_of(mgmt(&g, Method::POST, "/auth-files/refresh").json(&json!({"name": name})))
                .await;
        assert_eq!(code, want, "{name}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn disabling_an_account_shows_in_status() {
    let (_si, g) = gateway("").await;
    let (code, body) = json_of(
        mgmt(&g, Method::PATCH, "/auth-files/status").json(&json!({"name": A, "disabled": true})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = status(&g).await;
    assert_eq!(account(&v, A)["state"]["state"], "disabled", "{v}");
    assert_eq!(account(&v, A)["disabled"], true);
    assert_eq!(account(&v, B)["state"]["state"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_status_lists_each_location_with_its_last_run() {
    let ccs = tempfile::tempdir().unwrap();
    let extra = format!(
        "sync:\n  poll-interval: 1\n  ccs-dir: {:?}\n  dotfiles-dir: \"\"\n",
        ccs.path().display().to_string()
    );
    let (_si, g) = gateway(&extra).await;
    let mut last = Value::Null;
    eventually("a reconcile has run", Duration::from_secs(15), async || {
        let (code, v) = json_of(mgmt(&g, Method::GET, "/sync/status")).await;
        assert_eq!(code, 200, "{v}");
        last = v.clone();
        v["last_run"].is_object()
    })
    .await;
    assert_eq!(last["enabled"], true);
    let locs = last["locations"].as_array().unwrap();
    let ids: Vec<&str> = locs.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["local", "ccs"], "{last}");
    for l in locs {
        assert_eq!(l["result"], "ok", "{l}");
        assert!(l["last_run"].is_string(), "{l}");
        assert!(l["pending"].is_u64(), "{l}");
        assert!(l["last_error"].is_null(), "{l}");
    }
    let ccs_row = &locs[1];
    assert_eq!(
        ccs_row["where"].as_str().unwrap(),
        ccs.path().display().to_string()
    );
    // The aggregate carries the same section.
    let v = status(&g).await;
    assert_eq!(v["sync"]["enabled"], true);
}
