//! `--idle N`: open N keep-alive connections, make one request on each, leave them all
//! idle for `--hold` seconds, then make a second request on each: the connections that
//! answer it were held. Plain HTTP/1.1 over TCP, so every connection is one socket the
//! server must keep, with nothing pooled or multiplexed in between.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Connections being opened at once (stays under the listen backlog).
const OPENING: usize = 200;
/// Largest answer read (a `/healthz` answer is a few hundred bytes).
const MAX_ANSWER: usize = 64 * 1024;

pub async fn run(url: &url::Url, n: usize, hold: f64, timeout: Duration) -> anyhow::Result<()> {
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let request =
        Arc::new(format!("GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\n\r\n").into_bytes());
    let t0 = Instant::now();
    let gate = Arc::new(Semaphore::new(OPENING));
    let mut opening = Vec::with_capacity(n);
    for _ in 0..n {
        let (gate, request, host) = (gate.clone(), request.clone(), host.clone());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            let mut s = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
                .await
                .ok()?
                .ok()?;
            s.set_nodelay(true).ok()?;
            ask(&mut s, &request, timeout).await.ok()?;
            Some(s)
        }));
    }
    let mut held = Vec::with_capacity(n);
    for t in opening {
        if let Some(s) = t.await? {
            held.push(s);
        }
    }
    let opened = held.len();
    let open_s = t0.elapsed().as_secs_f64();
    // The bench script samples the server while the connections sit idle.
    eprintln!("IDLE {opened} connections open after {open_s:.1}s; holding {hold}s");
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;

    let mut again = Vec::with_capacity(opened);
    for mut s in held {
        let (gate, request) = (gate.clone(), request.clone());
        again.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            ask(&mut s, &request, timeout).await.ok()?;
            Some(())
        }));
    }
    let mut still = 0;
    for t in again {
        if t.await?.is_some() {
            still += 1;
        }
    }
    println!(
        "{}",
        json!({
            "mode": "idle", "url": url.as_str(), "wanted": n, "opened": opened,
            "open_s": open_s, "hold_s": hold, "held": still, "lost": opened - still,
        })
    );
    Ok(())
}

/// One request and its whole answer (a `content-length` body) on a kept-alive
/// connection; an error when the server closed it or answered other than 2xx.
async fn ask(s: &mut TcpStream, request: &[u8], timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, async {
        s.write_all(request).await?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "closed by the server");
            buf.extend_from_slice(&chunk[..n]);
            anyhow::ensure!(buf.len() <= MAX_ANSWER, "answer too large");
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                anyhow::ensure!(
                    head.starts_with("http/1.1 2"),
                    "status {}",
                    head.lines().next().unwrap_or_default()
                );
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("answer without content-length"))?;
                if buf.len() >= end + 4 + len {
                    return Ok(());
                }
            }
        }
    })
    .await?
}
