//! Real upstreams speak TLS. The gateway trusts a root named by the standard
//! `SSL_CERT_FILE` (no test-only code path), and its pooled upstream connections are
//! reused: the TLS stand-in counts completed handshakes, which grow with connections,
//! not with requests (streams included).
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use common::*;
use futures_util::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use standin::{Options, StandIn, TlsIdentity};

const MODEL: &str = "claude-opus-4-5-20251101";
const CLIENT_KEY: &str = "tls-test-client-key";

/// A test root and a server certificate for 127.0.0.1/localhost it signed: (root PEM,
/// server identity).
fn test_pki() -> (String, TlsIdentity) {
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name
        .push(DnType::CommonName, "cliproxy test root");
    root.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let root_cert = root.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root, root_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "stand-in upstream");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (
        root_cert.pem(),
        TlsIdentity {
            cert_pem: leaf_cert.pem().into_bytes(),
            key_pem: leaf_key.serialize_pem().into_bytes(),
        },
    )
}

async fn tls_stand_in(id: TlsIdentity) -> StandIn {
    StandIn::start_with(Options {
        tls: Some(id),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn config(si: &StandIn) -> String {
    assert!(si.base_url.starts_with("https://"), "{}", si.base_url);
    format!(
        "api-keys: [\"{CLIENT_KEY}\"]\nclaude-api-key:\n  - api-key: sk-ant-api03-tls\n    base-url: {}\n",
        si.base_url
    )
}

/// One answer read to its end; a stream must carry its closing event.
async fn answer(client: &reqwest::Client, g: &Gateway, stream: bool) {
    let r = client
        .post(g.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&messages_body(MODEL, stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "log:\n{}", g.logs());
    if stream {
        let mut body = Vec::new();
        let mut chunks = r.bytes_stream();
        while let Some(c) = chunks.next().await {
            body.extend_from_slice(&c.unwrap());
        }
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("event: message_stop"), "{text}");
    } else {
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["type"], "message", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pooled_upstream_connections_are_reused_one_handshake_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (root_pem, id) = test_pki();
    let root = dir.path().join("test-root.pem");
    std::fs::write(&root, root_pem).unwrap();
    let si = tls_stand_in(id).await;
    // One serving thread, so one pool: connections are not spread over per-thread pools.
    let g = start_with_env(
        &config(&si),
        &[],
        &[
            ("SSL_CERT_FILE", root.to_str().unwrap()),
            ("CLIPROXY_WORKER_THREADS", "1"),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    answer(&client, &g, false).await;
    let first = si.tls_handshakes();
    assert!(first >= 1, "the upstream was reached over TLS");
    for i in 0..20 {
        answer(&client, &g, i % 2 == 1).await;
    }
    assert_eq!(
        si.tls_handshakes(),
        first,
        "20 more requests (10 streamed) on a warm pool: no new handshake"
    );

    // Concurrent streams from 8 client connections: at most one upstream connection
    // each, every one handshaken once, and reused by a second round.
    let clients: Vec<reqwest::Client> = (0..8)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect();
    let round = || {
        futures_util::future::join_all(clients.iter().map(|c| async {
            for i in 0..3 {
                answer(c, &g, i != 1).await;
            }
        }))
    };
    round().await;
    let after_one = si.tls_handshakes();
    assert!(
        after_one <= first + 8,
        "24 requests over 8 connections made {} handshakes",
        after_one - first
    );
    assert_eq!(
        si.tls_handshakes(),
        si.connections(),
        "every accepted connection completed one handshake"
    );
    round().await;
    let after_two = si.tls_handshakes();
    assert!(
        after_two <= first + 8,
        "48 requests over at most 8 pooled connections: {} handshakes",
        after_two - first
    );
    assert_eq!(si.tls_handshakes(), si.connections());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_certificate_from_an_untrusted_root_is_refused() {
    let (_, id) = test_pki();
    let si = tls_stand_in(id).await;
    // No SSL_CERT_FILE: the system roots do not know the test root.
    let g = start(&config(&si), &[]).await;
    let r = post_messages(
        &g,
        &messages_body(MODEL, false),
        &[("x-api-key", CLIENT_KEY)],
    )
    .await;
    // The route failed (and cools down): no answer from the upstream reached the client.
    assert!(
        !r.status().is_success(),
        "{} log:\n{}",
        r.status(),
        g.logs()
    );
    assert_eq!(si.tls_handshakes(), 0, "no handshake completed");
    let logs = g.logs();
    assert!(
        logs.to_lowercase().contains("certificate"),
        "the log says why:\n{logs}"
    );
}
