//! Upstreams that break streams on the wire, and clients that read slowly.

use super::*;

/// API-key accounts tried in the order given (fill-first), no waiting retries.
pub(crate) fn entries(list: &[(&str, &str)]) -> String {
    let mut s =
        String::from("request-retry: 0\nrouting:\n  strategy: fill-first\nclaude-api-key:\n");
    for (k, url) in list {
        s.push_str(&format!("  - api-key: {k}\n    base-url: {url}\n"));
    }
    s
}

async fn read_all(r: reqwest::Response) -> String {
    let mut s = String::new();
    let mut body = r.bytes_stream();
    while let Some(c) = body.next().await {
        match c {
            Ok(b) => s.push_str(&String::from_utf8_lossy(&b)),
            Err(e) => {
                s.push_str(&format!("\n<transport error: {e}>"));
                break;
            }
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_reset_before_its_first_byte_moves_to_the_next_account() {
    let fu = FaultyUpstream::start().await;
    fu.set("sk-ant-api03-reset-early", Fault::ResetBeforeHeaders);
    fu.set("sk-ant-api03-reset-headers", Fault::ResetAfterHeaders);
    let si = StandIn::start().await;
    let g = start(
        &entries(&[
            ("sk-ant-api03-reset-early", &fu.base_url),
            ("sk-ant-api03-reset-headers", &fu.base_url),
            ("sk-ant-api03-good", &si.base_url),
        ]),
        &[],
    )
    .await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let text = read_all(r).await;
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(!text.contains("event: error"), "{text}");
    assert_eq!(
        fu.keys(),
        vec!["sk-ant-api03-reset-early", "sk-ant-api03-reset-headers"],
        "both broken accounts were tried first"
    );
    assert_eq!(si.requests_to("/v1/messages").len(), 1);
    // Both are cooling now: the next request goes straight to the good one.
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    assert!(read_all(r).await.contains("event: message_stop"));
    assert_eq!(fu.keys().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_broken_after_its_first_byte_ends_with_an_error_and_is_never_replayed() {
    for fault in [
        Fault::ResetMidBody { deltas: 2 },
        Fault::TruncatedChunked { deltas: 2 },
    ] {
        let fu = FaultyUpstream::start().await;
        fu.set("sk-ant-api03-breaks", fault);
        let si = StandIn::start().await;
        let g = start(
            &entries(&[
                ("sk-ant-api03-breaks", &fu.base_url),
                ("sk-ant-api03-spare", &si.base_url),
            ]),
            &[],
        )
        .await;
        // Anthropic client, same dialect.
        let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
        assert_eq!(r.status(), 200);
        let text = read_all(r).await;
        assert!(
            text.contains("part1"),
            "{fault:?}: what arrived is forwarded: {text}"
        );
        assert!(
            text.contains("event: error") && text.contains("upstream stream interrupted"),
            "{fault:?}: {text}"
        );
        assert!(!text.contains("message_stop"), "{fault:?}: {text}");
        // OpenAI client, translated.
        let r = reqwest::Client::new()
            .post(g.url("/v1/chat/completions"))
            .json(&json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap();
        let text = read_all(r).await;
        assert!(text.contains("part1"), "{fault:?}: {text}");
        assert!(
            text.contains("upstream stream interrupted"),
            "{fault:?}: {text}"
        );
        assert!(
            !text.contains("\"finish_reason\":\"stop\""),
            "{fault:?}: {text}"
        );
        // Bytes already reached the client: a replay elsewhere would duplicate them.
        assert!(
            si.requests_to("/v1/messages").is_empty(),
            "{fault:?}: replayed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_stops_early_is_not_dressed_up_as_complete() {
    let fu = FaultyUpstream::start().await;
    fu.set("sk-ant-api03-short", Fault::EndsWithoutStop { deltas: 2 });
    let g = start(&entries(&[("sk-ant-api03-short", &fu.base_url)]), &[]).await;
    let r = post_messages(&g, &messages_body(MODEL, true), &[]).await;
    let text = read_all(r).await;
    assert!(text.contains("part1"), "{text}");
    assert!(
        !text.contains("message_stop"),
        "passed through as it came: {text}"
    );
    let r = reqwest::Client::new()
        .post(g.url("/v1/chat/completions"))
        .json(&json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let text = read_all(r).await;
    assert!(
        text.contains("closed the stream before the message completed"),
        "{text}"
    );
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
}

#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A client that asks for a stream and then reads nothing for a while, then very little.
#[cfg(target_os = "linux")]
async fn slow_reader(port: u16, stalled: Duration, reading: Duration) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(&messages_body(MODEL, true)).unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // A small receive buffer, like a client on a slow link.
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         anthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    tokio::time::sleep(stalled).await;
    let mut got = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    let end = tokio::time::Instant::now() + reading;
    while tokio::time::Instant::now() < end {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n as u64,
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    got
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn slow_readers_do_not_make_the_gateway_buffer_their_streams() {
    const CLIENTS: u64 = 4;
    const PER_STREAM: u64 = 1 << 30; // what the upstream would push if nothing held it back
    let fu = FaultyUpstream::start().await;
    fu.set(
        "sk-ant-api03-firehose",
        Fault::Firehose {
            chunk: 16 * 1024,
            max_bytes: PER_STREAM,
        },
    );
    let g = start(&entries(&[("sk-ant-api03-firehose", &fu.base_url)]), &[]).await;
    let pid = g.child.id();
    // Warm up (allocator arenas, both serving threads), then take the baseline.
    for _ in 0..8 {
        let r = reqwest::get(g.url("/healthz")).await.unwrap();
        let _ = r.bytes().await;
    }
    let baseline = rss_kib(pid);
    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(slow_reader(
                g.port,
                Duration::from_secs(3),
                Duration::from_secs(2),
            ))
        })
        .collect();
    let mut peak = baseline;
    let mut samples = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = rss_kib(pid);
        samples.push(r);
        peak = peak.max(r);
    }
    let mut read = 0;
    for r in readers {
        read += r.await.unwrap();
    }
    let pushed = fu.firehose_bytes();
    eprintln!(
        "faults: {CLIENTS} slow readers: RSS baseline {baseline} KiB, peak {peak} KiB; upstream pushed {} MiB, clients read {} MiB",
        pushed >> 20,
        read >> 20
    );
    testlog::save("slow-reader-rss", format!("{samples:?}").as_bytes());
    // Generous bounds, not timings: without backpressure the gateway would hold what the
    // upstream pushed (GiBs); with it, socket buffers cap what leaves the upstream.
    assert!(
        peak - baseline < 64 * 1024,
        "gateway RSS grew by {} KiB while clients did not read",
        peak - baseline
    );
    assert!(
        pushed < CLIENTS * (128 << 20),
        "the upstream pushed {pushed} bytes: the gateway read ahead of its clients"
    );
    // Clients gone: the gateway lets go of the upstream streams too.
    eventually(
        "upstream streams closed after their clients left",
        Duration::from_secs(10),
        async || fu.firehose_cut() == CLIENTS,
    )
    .await;
}
