//! A broken Anthropic upstream on loopback, written on raw TCP so it can fail the way real
//! networks do: reset the connection before or after the first byte, end a chunked body
//! without its last chunk, stop a stream before `message_stop`, or push a stream as fast as
//! the socket takes it (to see whether the gateway buffers what a slow client does not read).
//! Behaviour is chosen per credential (`x-api-key`); the rest gets a complete stream.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A complete, well-formed stream.
    Complete,
    /// Read the request, then reset the connection: no status line.
    ResetBeforeHeaders,
    /// `200` and the SSE headers, then a reset before the first body byte.
    ResetAfterHeaders,
    /// `message_start` and this many text deltas, then a reset mid-body.
    ResetMidBody { deltas: usize },
    /// This many deltas, then a clean close without the chunked body's last chunk.
    TruncatedChunked { deltas: usize },
    /// This many deltas and a properly ended body, but no `message_delta`/`message_stop`.
    EndsWithoutStop { deltas: usize },
    /// Deltas of `chunk` bytes of text, written as fast as the socket accepts them, up to
    /// `max_bytes` (then a normal end).
    Firehose { chunk: usize, max_bytes: u64 },
    /// Hold the answer until [`FaultyUpstream::release`], then answer 529 (overloaded).
    HoldThenOverloaded,
}

#[derive(Default)]
struct Shared {
    faults: Mutex<HashMap<String, Fault>>,
    /// (credential, path) of every request, in order.
    requests: Mutex<Vec<(String, String)>>,
    /// Body bytes the firehose managed to write.
    firehose_bytes: AtomicU64,
    /// Firehose streams that ended because the reader went away.
    firehose_cut: AtomicU64,
    /// Requests waiting in `HoldThenOverloaded`.
    held: AtomicU64,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

pub struct FaultyUpstream {
    pub base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultyUpstream {
    pub async fn start() -> FaultyUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let sh = sh.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, sh).await;
                });
            }
        });
        FaultyUpstream {
            base_url,
            shared,
            task,
        }
    }

    pub fn set(&self, key: &str, f: Fault) {
        self.shared.faults.lock().insert(key.to_string(), f);
    }

    /// Credentials of the requests received, in order.
    pub fn keys(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many requests are being held right now.
    pub fn held(&self) -> u64 {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Lets every held request (and later ones) answer.
    pub fn release(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
        self.shared.release.notify_waiters();
    }

    pub fn firehose_bytes(&self) -> u64 {
        self.shared.firehose_bytes.load(Ordering::Relaxed)
    }

    pub fn firehose_cut(&self) -> u64 {
        self.shared.firehose_cut.load(Ordering::Relaxed)
    }
}

/// Reads one request (head and Content-Length body); returns the credential and path.
async fn read_request(sock: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 256 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string();
    let mut key = String::new();
    let mut len = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "x-api-key" => key = v.to_string(),
                "authorization" if key.is_empty() => {
                    key = v.trim_start_matches("Bearer ").to_string()
                }
                "content-length" => len = v.parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut have = buf.len() - head_end;
    while have < len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Ok((key, path))
}

fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn start_events() -> String {
    event(
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_faulty","type":"message","role":"assistant","model":"claude-opus-4-5-20251101","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":0}}}"#,
    ) + &event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    )
}

fn delta(text: &str) -> String {
    event(
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
            serde_json::Value::String(text.to_string())
        ),
    )
}

fn end_events() -> String {
    event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ) + &event(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}"#,
    ) + &event("message_stop", r#"{"type":"message_stop"}"#)
}

fn chunk(s: &str) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", s.len()).into_bytes();
    v.extend_from_slice(s.as_bytes());
    v.extend_from_slice(b"\r\n");
    v
}

const HEADERS: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";

/// Resets the connection (RST, not FIN).
fn reset(sock: TcpStream) {
    let _ = sock.set_zero_linger();
    drop(sock);
}

async fn serve(mut sock: TcpStream, sh: Arc<Shared>) -> std::io::Result<()> {
    let (key, path) = read_request(&mut sock).await?;
    sh.requests.lock().push((key.clone(), path));
    let fault = sh
        .faults
        .lock()
        .get(&key)
        .copied()
        .unwrap_or(Fault::Complete);
    let deltas = |n: usize| -> String { (0..n).map(|i| delta(&format!("part{i} "))).collect() };
    match fault {
        Fault::HoldThenOverloaded => {
            sh.held.fetch_add(1, Ordering::SeqCst);
            let wait = sh.release.notified();
            if !sh.released.load(Ordering::SeqCst) {
                wait.await;
            }
            sh.held.fetch_sub(1, Ordering::SeqCst);
            let body =
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
            let head = format!(
                "HTTP/1.1 529 Overloaded\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(body.as_bytes()).await?;
            sock.shutdown().await?;
        }
        Fault::ResetBeforeHeaders => {
            reset(sock);
        }
        Fault::ResetAfterHeaders => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.flush().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            reset(sock);
        }
        Fault::ResetMidBody { deltas: n } => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.write_all(&chunk(&(start_events() + &deltas(n))))
                .await?;
            sock.flush().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            reset(sock);
        }
        Fault::TruncatedChunked { deltas: n } => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.write_all(&chunk(&(start_events() + &deltas(n))))
                .await?;
            // Half of a chunk, then FIN: the body ends in the middle of a chunk.
            sock.write_all(b"40\r\nevent: content_block_delta\n")
                .await?;
            sock.flush().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            sock.shutdown().await?;
        }
        Fault::EndsWithoutStop { deltas: n } => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.write_all(&chunk(&(start_events() + &deltas(n))))
                .await?;
            sock.write_all(b"0\r\n\r\n").await?;
            sock.shutdown().await?;
        }
        Fault::Complete => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.write_all(&chunk(&(start_events() + &deltas(3) + &end_events())))
                .await?;
            sock.write_all(b"0\r\n\r\n").await?;
            sock.shutdown().await?;
        }
        Fault::Firehose {
            chunk: size,
            max_bytes,
        } => {
            sock.write_all(HEADERS.as_bytes()).await?;
            sock.write_all(&chunk(&start_events())).await?;
            let piece = chunk(&delta(&"x".repeat(size)));
            let mut sent = 0u64;
            while sent < max_bytes {
                if sock.write_all(&piece).await.is_err() {
                    sh.firehose_cut.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                sent += piece.len() as u64;
                sh.firehose_bytes
                    .fetch_add(piece.len() as u64, Ordering::Relaxed);
            }
            sock.write_all(&chunk(&end_events())).await?;
            sock.write_all(b"0\r\n\r\n").await?;
            sock.shutdown().await?;
        }
    }
    Ok(())
}
