//! Connection limits through the real binary: slow and idle clients are closed, a
//! hung upstream becomes a 504 in the route's dialect, and a flood of idle
//! connections beyond `max-connections` leaves `/healthz` answering.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;

use std::time::{Duration, Instant};

use common::*;
use standin::{Behavior, StandIn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MODEL: &str = "claude-opus-4-5-20251101";

fn upstream_key(si: &StandIn) -> String {
    format!(
        "claude-api-key:\n  - api-key: sk-ant-api03-a\n    base-url: {}\n",
        si.base_url
    )
}

/// Reads until the server closes the connection; `None` when it has not within `limit`
/// (a failure bound, not a measurement).
async fn closed_by_server(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends one GET on `s` and returns the answer's status line (the rest is left unread).
async fn first_status(s: &mut TcpStream, port: u16, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "closed before a status line: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_loris_client_is_closed_after_the_header_timeout() {
    let g = start("timeouts:\n  header-read: 1\n", &[]).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // One header byte at a time, never the blank line: without a header timeout the
    // connection would stay open as long as the client keeps trickling.
    let mut buf = [0u8; 1024];
    let mut closed = false;
    for _ in 0..300 {
        if s.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(closed, "the trickling connection was never closed");
    // A head that stops half-way is closed too.
    let mut silent = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    silent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let got = closed_by_server(&mut silent, Duration::from_secs(30))
        .await
        .expect("a half-sent head was never closed");
    assert!(got.is_empty(), "nothing is answered to it");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed() {
    let g = start("timeouts:\n  idle: 1\n", &[]).await;
    let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let got = closed_by_server(&mut s, Duration::from_secs(30))
        .await
        .expect("the idle connection was never closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("\"ok\""),
        "the request was answered first: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_upstream_is_a_504_in_the_dialect_and_long_streams_are_not_cut() {
    let si = StandIn::start().await;
    let g = start(
        &format!(
            "disable-cooling: true\ntimeouts:\n  upstream-first-byte: 1\n{}",
            upstream_key(&si)
        ),
        &[],
    )
    .await;
    si.set_behavior(
        "*",
        Behavior {
            delay_ms: 600_000,
            ..Default::default()
        },
    );
    for stream in [false, true] {
        let r = post_messages(&g, &messages_body(MODEL, stream), &[]).await;
        assert_eq!(r.status(), 504, "stream={stream}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["type"], "error", "Anthropic shape: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("upstream-first-byte"),
            "{body}"
        );
    }
    // A stream whose chunks come further apart than the first-byte timeout runs to
    // its end: no timeout covers a whole stream.
    si.set_behavior("*", Behavior::stream(3, 1500));
    let g2 = start(
        &format!(
            "timeouts:\n  upstream-first-byte: 1\n  idle: 1\n  header-read: 1\n{}",
            upstream_key(&si)
        ),
        &[],
    )
    .await;
    let r = post_messages(&g2, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("message_stop"), "{text}");
}

fn lone_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_idle_connections_beyond_the_limit_leaves_healthz_answering() {
    let si = StandIn::start().await;
    let g = start(&format!("max-connections: 4\n{}", upstream_key(&si)), &[]).await;
    // Fill the slots with kept-alive connections, each asking for the model list once,
    // until one is turned away with a 503. Nothing is closed meanwhile: a closed probe
    // (or the start-up readiness check) holds its slot until the gateway notices, which
    // under load races with the next connection. With a limit of 4 the fifth or sixth
    // (if the readiness check still held one) must be refused.
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    loop {
        let mut s = TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
        let status = first_status(&mut s, g.port, "/v1/models").await;
        statuses.push(status.clone());
        held.push(s);
        if status.starts_with("HTTP/1.1 503") {
            break;
        }
        assert!(held.len() < 6, "no 503 after {statuses:?}");
    }
    assert!(held.len() >= 5, "refused below the limit: {statuses:?}");
    for _ in 0..15 {
        held.push(TcpStream::connect(("127.0.0.1", g.port)).await.unwrap());
    }
    let r = lone_client().get(g.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = lone_client()
        .post(g.url("/v1/messages"))
        .json(&messages_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic shape: {body}");
    // Far beyond the reserve, connections are answered 503 and closed at once.
    let mut flood = Vec::new();
    for _ in 0..40 {
        flood.push(TcpStream::connect(("127.0.0.1", g.port)).await.unwrap());
    }
    let answers = futures_util::future::join_all(
        flood
            .iter_mut()
            .map(|s| closed_by_server(s, Duration::from_secs(1))),
    )
    .await;
    let refused = answers
        .iter()
        .flatten()
        .filter(|got| got.starts_with(b"HTTP/1.1 503"))
        .count();
    assert!(refused > 0, "no connection was turned away");
    drop(held);
    eventually("slots come back", Duration::from_secs(10), async || {
        lone_client()
            .get(g.url("/v1/models"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}
