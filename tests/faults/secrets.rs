//! Error paths never carry a secret.

use super::*;
use crate::streams::entries;

/// Every error body the gateway produces on the way (bad client keys, upstream 401/429/500,
/// a refused refresh, translated errors) is checked here and kept for scripts/scan-secrets.
#[tokio::test(flavor = "multi_thread")]
async fn error_bodies_never_echo_a_key_or_token() {
    let si = StandIn::start().await;
    si.set_behavior(
        "sk-ant-api03-test-secret-401",
        standin::Behavior::unauthorized(),
    );
    si.set_behavior(
        "sk-ant-api03-test-secret-429",
        standin::Behavior::fail(100, 429).with_retry_after("90"),
    );
    si.set_behavior(
        "sk-ant-api03-test-secret-500",
        standin::Behavior::fail(100, 500),
    );
    let refresh = format!("rt-fault-errbody-{}", uuid::Uuid::new_v4().simple());
    let cfg = format!(
        "api-keys: [\"sk-test-secret-client\"]\nrequest-retry: 0\n\
         remote-management:\n  secret-key: \"sk-test-secret-management\"\n\
         claude:\n  base-url: {}\n  token-url: {}\n{}",
        si.base_url,
        si.url("/v1/oauth/token"),
        entries(&[
            ("sk-ant-api03-test-secret-401", &si.base_url),
            ("sk-ant-api03-test-secret-429", &si.base_url),
            ("sk-ant-api03-test-secret-500", &si.base_url),
        ])
        .replace("request-retry: 0\n", "")
    );
    let g = start(
        &cfg,
        &[(
            "claude-e@example.com.json",
            claude_oauth_file("e@example.com", "sk-ant-oat01-test-secret-at", &refresh, -5),
        )],
    )
    .await;
    let c = reqwest::Client::new();
    let msgs = g.url("/v1/messages");
    let chat = g.url("/v1/chat/completions");
    let mut bodies = Vec::new();
    let mut send = async |rb: reqwest::RequestBuilder| {
        let r = rb.send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        bodies.push((status, body));
    };
    let m = messages_body(MODEL, false);
    let s = messages_body(MODEL, true);
    let o = json!({"model": MODEL, "messages": [{"role": "user", "content": "x"}]});
    send(c.post(&msgs).json(&m)).await;
    send(
        c.post(&msgs)
            .header("x-api-key", "sk-test-secret-wrong-client")
            .json(&m),
    )
    .await;
    send(
        c.post(&chat)
            .bearer_auth("sk-test-secret-wrong-client")
            .json(&o),
    )
    .await;
    send(c.get(g.url("/v1/models?key=sk-test-secret-wrong-client"))).await;
    for _ in 0..4 {
        send(
            c.post(&msgs)
                .header("x-api-key", "sk-test-secret-client")
                .json(&m),
        )
        .await;
        send(
            c.post(&msgs)
                .header("x-api-key", "sk-test-secret-client")
                .json(&s),
        )
        .await;
        send(c.post(&chat).bearer_auth("sk-test-secret-client").json(&o)).await;
    }
    send(
        c.get(g.url("/v0/management/config"))
            .bearer_auth("sk-test-secret-wrong-management"),
    )
    .await;
    assert!(bodies.iter().any(|(st, _)| st.is_client_error()));
    assert!(
        bodies
            .iter()
            .any(|(st, _)| st.is_server_error() || *st == 429)
    );
    for (status, body) in &bodies {
        testlog::save("error-body", format!("{status}\n{body}").as_bytes());
        for secret in [
            "sk-test-secret-",
            "test-secret-401",
            "test-secret-429",
            "test-secret-500",
            "sk-ant-oat01-test-secret-at",
            refresh.as_str(),
        ] {
            assert!(
                !body.contains(secret),
                "{status} body carries {secret}: {body}"
            );
        }
    }
    let logs = g.logs();
    for secret in [
        "sk-test-secret-",
        "test-secret-4",
        "test-secret-5",
        refresh.as_str(),
    ] {
        assert!(!logs.contains(secret), "log carries {secret}");
    }
}
