//! Amp through the real gateway binary, with the stand-in playing both Amp
//! (`ampcode.upstream-url`) and the user's own Anthropic account (`claude-api-key`).
//! The stand-in records every request, so each test says where a call went and with
//! which key.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::{RecordedRequest, StandIn};

const CLIENT_KEY: &str = "client-key-for-amp";
const AMP_KEY: &str = "sgamp_user_from_config";
const LOCAL_KEY: &str = "sk-ant-local-account";
const LOCAL_MODEL: &str = "claude-opus-4-5-20251101";

fn config(si: &StandIn, ampcode_extra: &str) -> String {
    format!(
        "api-keys:\n  - {CLIENT_KEY}\n  - second-client\n\
         claude-api-key:\n  - api-key: {LOCAL_KEY}\n    base-url: {base}\n\
         ampcode:\n  upstream-url: {base}\n{ampcode_extra}",
        base = si.base_url
    )
}

fn with_key(ampcode_extra: &str) -> String {
    format!("  upstream-api-key: {AMP_KEY}\n{ampcode_extra}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// No header value of `r` contains `secret`.
fn never_carries(r: &RecordedRequest, secret: &str) {
    for (k, v) in &r.headers {
        assert!(!v.contains(secret), "{k} carried the client key upstream");
    }
    assert!(!r.uri.contains(secret), "the URI carried the client key");
}

fn only(si: &StandIn, path: &str) -> RecordedRequest {
    let got: Vec<_> = si
        .requests()
        .into_iter()
        .filter(|r| r.path() == path)
        .collect();
    assert_eq!(got.len(), 1, "requests to {path}: {:?}", si.requests());
    got.into_iter().next().unwrap()
}

async fn post_json(g: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(g.url(path))
        .bearer_auth(CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn amp_routes_go_upstream_with_the_amp_key_and_never_the_clients() {
    let si = StandIn::start().await;
    let g = start(&config(&si, &with_key("")), &[]).await;

    let r = client()
        .get(g.url(&format!("/api/user?key={CLIENT_KEY}&x=1")))
        .bearer_auth(CLIENT_KEY)
        .header("x-api-key", CLIENT_KEY)
        .header("x-goog-api-key", CLIENT_KEY)
        .header("x-forwarded-for", "10.9.8.7")
        .header("x-amp-client", "cli")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", g.logs());
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["email"], "amp@example.com");
    let up = only(&si, "/api/user");
    assert_eq!(
        up.header("authorization"),
        Some(&*format!("Bearer {AMP_KEY}"))
    );
    assert_eq!(up.header("x-api-key"), Some(AMP_KEY));
    assert_eq!(up.header("x-goog-api-key"), None);
    assert_eq!(up.header("x-forwarded-for"), None);
    assert_eq!(up.header("x-amp-client"), Some("cli"));
    assert_eq!(up.query(), Some("x=1"));
    never_carries(&up, CLIENT_KEY);

    // A body goes through as sent, with the method.
    let r = client()
        .post(g.url("/api/threads/T-1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let up = only(&si, "/api/threads/T-1/messages");
    assert_eq!(up.method, "POST");
    assert_eq!(up.json().unwrap(), json!({"text": "hello"}));
    never_carries(&up, CLIENT_KEY);

    // `/api/…` needs a client key; nothing reaches Amp without one.
    let r = client().get(g.url("/api/meta")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(si.requests_to("/api/meta").is_empty());

    // The browser pages carry no key, and redirects come back unfollowed.
    let r = client().get(g.url("/settings")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("/settings"));
    assert_eq!(
        only(&si, "/settings").header("authorization"),
        Some(&*format!("Bearer {AMP_KEY}"))
    );
    let r = client().get(g.url("/auth/cli-login")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/auth/sign-in?from=cli");
    assert!(si.requests_to("/auth/sign-in").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_client_key_can_have_its_own_amp_key() {
    let si = StandIn::start().await;
    let extra = with_key(
        "  upstream-api-keys:\n    - upstream-api-key: sgamp_second\n      api-keys: [second-client]\n",
    );
    let g = start(&config(&si, &extra), &[]).await;
    for (client_key, amp_key) in [("second-client", "sgamp_second"), (CLIENT_KEY, AMP_KEY)] {
        si.clear_requests();
        let r = client()
            .get(g.url("/api/internal"))
            .bearer_auth(client_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let up = only(&si, "/api/internal");
        assert_eq!(up.header("x-api-key"), Some(amp_key));
        never_carries(&up, client_key);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_key_amp_api_key_then_the_secrets_file_is_used() {
    let si = StandIn::start().await;
    let g = start_with_env(&config(&si, ""), &[], &[("AMP_API_KEY", "sgamp_from_env")]).await;
    let r = client()
        .get(g.url("/api/user"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        only(&si, "/api/user").header("x-api-key"),
        Some("sgamp_from_env")
    );
    drop(g);

    si.clear_requests();
    let g = start(&config(&si, ""), &[]).await;
    // Amp's CLI writes this file on `amp login`; it is read when the request needs it.
    write_file(
        &g.home().join(".local/share/amp/secrets.json"),
        br#"{"apiKey@https://ampcode.com/": "sgamp_from_file"}"#,
    );
    let r = client()
        .get(g.url("/api/user"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        only(&si, "/api/user").header("x-api-key"),
        Some("sgamp_from_file")
    );
    assert!(!g.logs().contains("sgamp_from_file"), "the key was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_calls_use_a_local_account_when_one_serves_the_model_else_amp() {
    let si = StandIn::start().await;
    let g = start(&config(&si, &with_key("")), &[]).await;

    // A Claude model the local account serves: the account's key, the provider path.
    let r = post_json(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body(LOCAL_MODEL, false),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = only(&si, "/v1/messages");
    assert_eq!(up.header("x-api-key"), Some(LOCAL_KEY));
    assert!(
        si.requests_to("/api/provider/anthropic/v1/messages")
            .is_empty()
    );
    never_carries(&up, CLIENT_KEY);

    // A model nothing local serves: Amp, with Amp's key and the body as sent.
    si.clear_requests();
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let r = post_json(&g, "/api/provider/openai/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = only(&si, "/api/provider/openai/v1/chat/completions");
    assert_eq!(
        up.header("authorization"),
        Some(&*format!("Bearer {AMP_KEY}"))
    );
    assert_eq!(up.json().unwrap(), body);
    never_carries(&up, CLIENT_KEY);
    assert!(si.requests_to("/v1/messages").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn mappings_send_unserved_models_to_local_ones_and_force_puts_them_first() {
    let si = StandIn::start().await;
    let mappings = "  model-mappings:\n    - from: amp-only-model\n      to: claude-haiku-4-5-20251001\n    - from: claude-opus-4-5-20251101\n      to: claude-sonnet-4-5-20250929\n";
    let g = start(&config(&si, &with_key(mappings)), &[]).await;

    // Unserved model with a mapping: served locally as the mapped model.
    let r = post_json(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body("amp-only-model", false),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let up = only(&si, "/v1/messages");
    assert_eq!(up.json().unwrap()["model"], "claude-haiku-4-5-20251001");
    assert_eq!(up.header("x-api-key"), Some(LOCAL_KEY));

    // A served model keeps its name unless mappings are forced.
    si.clear_requests();
    post_json(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body(LOCAL_MODEL, false),
    )
    .await;
    assert_eq!(
        only(&si, "/v1/messages").json().unwrap()["model"],
        LOCAL_MODEL
    );

    g.write_config(&config(
        &si,
        &with_key(&format!("{mappings}  force-model-mappings: true\n")),
    ));
    eventually(
        "force-model-mappings applies",
        Duration::from_secs(15),
        async || {
            si.clear_requests();
            let r = post_json(
                &g,
                "/api/provider/anthropic/v1/messages",
                &messages_body(LOCAL_MODEL, false),
            )
            .await;
            assert_eq!(r.status(), 200);
            only(&si, "/v1/messages").json().unwrap()["model"] == "claude-sonnet-4-5-20250929"
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn amp_streams_pass_through_chunk_by_chunk() {
    let si = StandIn::start().await;
    let g = start(&config(&si, &with_key("")), &[]).await;
    let r = client()
        .get(g.url("/api/threads/T-1/stream"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.bytes_stream();
    // The stand-in holds its last event until released: the first one can only
    // arrive here if the gateway passes chunks on as they come. (The timeout turns a
    // buffering gateway into a failure instead of a hang.)
    let first = tokio::time::timeout(Duration::from_secs(30), body.next())
        .await
        .expect("the first event did not arrive while the upstream was still open")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: {\"n\":1}\n\n");
    si.release_amp_stream();
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(rest, b"data: {\"n\":2,\"done\":true}\n\n");

    // A model stream Amp serves comes back as Amp's SSE.
    let r = post_json(
        &g,
        "/api/provider/anthropic/v1/messages",
        &messages_body("amp-hosted-model", true),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    assert_eq!(
        si.requests_to("/api/provider/anthropic/v1/messages").len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restricted_amp_routes_answer_local_peers_whatever_the_headers_say() {
    let si = StandIn::start().await;
    let g = start(
        &config(&si, &with_key("  restrict-management-to-localhost: true\n")),
        &[],
    )
    .await;
    // Over loopback the peer is local: served, forwarding headers notwithstanding.
    let r = client()
        .get(g.url("/api/user"))
        .bearer_auth(CLIENT_KEY)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-real-ip", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Remote peers are refused: see server::amp::tests (peer addresses that loopback
    // cannot produce).
}

#[tokio::test(flavor = "multi_thread")]
async fn google_model_calls_use_a_local_gemini_key_when_one_serves_the_model_else_amp() {
    let si = StandIn::start().await;
    let cfg = format!(
        "{}gemini-api-key:\n  - api-key: AIza-local-gemini\n    base-url: {}\n    models:\n      - name: gemini-2.5-flash\n",
        config(&si, &with_key("")),
        si.base_url
    );
    let g = start(&cfg, &[]).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});

    let r = post_json(
        &g,
        "/api/provider/google/v1beta/models/gemini-2.5-flash:generateContent",
        &body,
    )
    .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}\n{}", g.logs());
    let up = only(&si, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(up.header("x-goog-api-key"), Some("AIza-local-gemini"));
    never_carries(&up, CLIENT_KEY);
    never_carries(&up, AMP_KEY);

    si.clear_requests();
    let path = "/api/provider/google/v1beta/models/gemini-not-local:generateContent";
    // The stand-in plays Amp here with its Gemini handler, which wants a Google key and
    // answers 403 to Amp's bearer: what matters is where the call went and with which key.
    let _ = post_json(&g, path, &body).await;
    let up = only(&si, path);
    assert_eq!(
        up.header("authorization"),
        Some(&*format!("Bearer {AMP_KEY}"))
    );
    never_carries(&up, CLIENT_KEY);
    assert!(
        si.requests_to("/v1beta/models/gemini-2.5-flash:generateContent")
            .is_empty()
    );
}
