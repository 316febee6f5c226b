//! Usage recorded by the real gateway survives a restart and is read back by
//! `cliproxy usage`; two gateways on one folder share the database without losses.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use standin::StandIn;

const MODEL: &str = "claude-opus-4-5-20251101";
const CLIENT_KEY: &str = "client-key-usage-test-1234";

fn config(si: &StandIn) -> String {
    format!(
        "api-keys: [\"{CLIENT_KEY}\"]\nclaude-api-key:\n  - api-key: sk-ant-api03-usage\n    base-url: {}\n",
        si.base_url
    )
}

fn auth() -> [(&'static str, &'static str); 1] {
    [("authorization", "Bearer client-key-usage-test-1234")]
}

/// `cliproxy usage --json` against the gateway's config.
fn usage_json(g: &Gateway, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(g.config_path())
        .arg("usage")
        .arg("--json")
        .args(args)
        .env_clear()
        .env("HOME", g.home())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Stops the gateway with SIGTERM (a graceful stop) and starts it again on the same
/// folder and port.
async fn restart(g: &mut Gateway) {
    let pid = g.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = g.child.wait();
    let logf = std::fs::OpenOptions::new()
        .append(true)
        .open(&g.log)
        .unwrap();
    g.child = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(g.config_path())
        .env_clear()
        .env("HOME", g.home())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "cliproxy=debug,info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .unwrap();
    wait_healthy(g).await;
}

async fn send(g: &Gateway, stream: bool, model: &str) -> (u16, String) {
    let r = post_messages(g, &messages_body(model, stream), &auth()).await;
    let status = r.status().as_u16();
    let mut body = String::new();
    let mut s = r.bytes_stream();
    while let Some(c) = s.next().await {
        body.push_str(&String::from_utf8_lossy(&c.unwrap()));
    }
    (status, body)
}

/// Output tokens of a Messages stream (its last `message_delta`).
fn stream_output_tokens(body: &str) -> u64 {
    body.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "message_delta")
        .find_map(|v| v["usage"]["output_tokens"].as_u64())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_recorded_across_a_restart_and_read_by_the_usage_command() {
    let si = StandIn::start().await;
    si.allow_credential("sk-ant-api03-usage");
    let mut g = start(&config(&si), &[]).await;

    let (status, body) = send(&g, false, MODEL).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let input = v["usage"]["input_tokens"].as_u64().unwrap();
    let output = v["usage"]["output_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0);
    let (status, body) = send(&g, true, MODEL).await;
    assert_eq!(status, 200, "{body}");
    let stream_output = stream_output_tokens(&body);
    // Gateway-made answers keep a sized body through the usage tap.
    let r = post_messages(&g, &messages_body("no-such-model", false), &auth()).await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers().contains_key("content-length"),
        "{:?}",
        r.headers()
    );
    assert!(r.headers().get("transfer-encoding").is_none());
    let _ = r.bytes().await.unwrap();

    restart(&mut g).await;
    let (status, _) = send(&g, false, MODEL).await;
    assert_eq!(status, 200);

    let mut by_model = Value::Null;
    eventually("4 requests recorded", Duration::from_secs(20), async || {
        by_model = usage_json(&g, &["--since", "1h", "--by", "model"]);
        by_model["total"]["requests"] == 4
    })
    .await;
    let rows = by_model["rows"].as_array().unwrap();
    let served = rows.iter().find(|r| r["key"] == MODEL).unwrap();
    assert_eq!(served["requests"], 3);
    assert_eq!(served["failed"], 0);
    assert_eq!(served["input_tokens"], 3 * input);
    assert_eq!(served["output_tokens"], 2 * output + stream_output);
    let missing = rows.iter().find(|r| r["key"] == "no-such-model").unwrap();
    assert_eq!(
        (missing["requests"].as_u64(), missing["failed"].as_u64()),
        (Some(1), Some(1))
    );

    // The client key appears as a label, the account by provider and masked name.
    let by_key = usage_json(&g, &["--since", "1h", "--by", "key"]);
    let text = by_key.to_string();
    assert!(!text.contains(CLIENT_KEY), "{text}");
    assert!(!text.contains("usage-test"), "{text}");
    assert_eq!(by_key["rows"].as_array().unwrap().len(), 1);
    assert!(
        by_key["rows"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with("key-")
    );
    let by_account = usage_json(&g, &["--since", "1h", "--by", "account"]);
    let text = by_account.to_string();
    assert!(text.contains("claude:"), "{text}");
    assert!(!text.contains("sk-ant-api03-usage"), "{text}");

    // Tokens by kind in /metrics.
    let m = reqwest::Client::new()
        .get(g.url("/metrics"))
        .header("authorization", format!("Bearer {CLIENT_KEY}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("cliproxy_tokens_total{kind=\"input\"}"), "{m}");
    assert!(m.contains("cliproxy_usage_records_dropped_total 0"), "{m}");

    // The database is invisible to the auth scan and the sync engine's names.
    assert!(g.auth_dir().join(".cliproxy-usage.sqlite").is_file());
    assert!(
        !g.logs().contains("skipping broken auth file"),
        "{}",
        g.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_on_one_folder_record_every_request() {
    let si = StandIn::start().await;
    si.allow_credential("sk-ant-api03-usage");
    let a = start(&config(&si), &[]).await;
    // The second gateway's config points at the first one's auth folder.
    let b = start(&format!("{}\n", config(&si)), &[]).await;
    let shared = a.auth_dir();
    std::fs::write(
        b.config_path(),
        format!(
            "host: 127.0.0.1\nport: {}\nauth-dir: {}\n{}",
            b.port,
            shared.display(),
            config(&si)
        ),
    )
    .unwrap();
    let mut b = b;
    restart(&mut b).await;

    let per_gateway = 15;
    let mut tasks = Vec::new();
    for g in [&a, &b] {
        let url = g.url("/v1/messages");
        for _ in 0..per_gateway {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .header("authorization", format!("Bearer {CLIENT_KEY}"))
                    .header("anthropic-version", "2023-06-01")
                    .json(&json!({"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    eventually(
        "every request of both gateways recorded",
        Duration::from_secs(20),
        async || usage_json(&a, &["--since", "1h"])["total"]["requests"] == 2 * per_gateway,
    )
    .await;
    assert!(!a.logs().contains("could not be written"), "{}", a.logs());
    assert!(!b.logs().contains("could not be written"), "{}", b.logs());
}
