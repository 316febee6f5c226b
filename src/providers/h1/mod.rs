//! The hot path's upstream client: HTTP/1.1 over TCP or rustls, pooled per serving
//! thread, whose answer body is read by the task that forwards it.
//!
//! Why not hyper's client here (it was, until the profile below): hyper drives each
//! client connection in a task of its own and hands the body over through a channel
//! that holds one chunk, so a proxied stream cost a task switch and one write to the
//! client per upstream chunk (24 `writev` per 20-event answer where nginx makes 2) —
//! most of the gap to nginx in `bench/run.sh`. Here the serving task reads the
//! upstream socket itself and hands on everything one read brought as one frame.
//! Parsing is httparse's (hyper's own parser); framing and the pool are the small
//! parts in [`wire`], [`chunked`] and [`pool`]. Only HTTP/1.1 is spoken upstream
//! (every API upstream speaks it; nginx does the same). Proxied requests stay on
//! reqwest ([`super::clients::HttpClients::sender`]).

mod body;
mod chunked;
mod conn;
mod pool;
mod wire;

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use tokio::io::AsyncWriteExt;

pub use body::ResponseBody;
use body::Return;
use conn::{Conn, Target};

/// The first read of an answer.
const HEAD_BUF: usize = 8 * 1024;

/// POSTs `body` to `uri`. A pooled connection that fails before any byte of the answer
/// arrived (the upstream closed it while it sat idle) is retried once on a new
/// connection, as Go's and browsers' clients do; any other failure is the answer.
/// `Err` says why no answer came (without the URL).
pub async fn post(
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
    connect: Duration,
) -> Result<http::Response<ResponseBody>, String> {
    let target = Target::of(uri)?;
    let head = wire::request(&http::Method::POST, uri, headers, body);
    let separate = wire::body_separate(body).then_some(&body[..]);
    let pool = pool::current();
    let mut idle = pool::take(&pool, &target);
    loop {
        let reused = idle.is_some();
        let mut c = match idle.take() {
            Some(c) => c,
            None => conn::connect(&target, connect).await?,
        };
        match exchange(&mut c, &head, separate).await {
            Ok((h, rest)) => {
                let back = h.keep_alive.then(|| Return {
                    pool: pool.clone(),
                    target: target.clone(),
                });
                let mut resp = http::Response::new(ResponseBody::new(c, rest, h.framing, back));
                *resp.status_mut() = h.status;
                *resp.version_mut() = h.version;
                *resp.headers_mut() = h.headers;
                return Ok(resp);
            }
            Err(Failed::BeforeAnswer(_)) if reused => continue,
            Err(Failed::BeforeAnswer(e)) | Err(Failed::Answer(e)) => return Err(e),
        }
    }
}

enum Failed {
    /// Nothing of an answer arrived.
    BeforeAnswer(String),
    /// The answer was unreadable.
    Answer(String),
}

/// Writes the request, reads the answer's head (past any 1xx); returns it with what
/// was read after it.
async fn exchange(
    c: &mut Conn,
    head: &[u8],
    body: Option<&[u8]>,
) -> Result<(wire::Head, BytesMut), Failed> {
    let sent = async {
        c.write_all(head).await?;
        if let Some(b) = body {
            c.write_all(b).await?;
        }
        c.flush().await
    };
    if let Err(e) = sent.await {
        // An upstream refusing a large body (413) may answer and close before reading
        // all of it; its answer is still readable. The connection is not reused.
        return match read_head(c).await {
            Ok((mut h, rest)) => {
                h.keep_alive = false;
                Ok((h, rest))
            }
            Err(_) => Err(Failed::BeforeAnswer(format!("sending the request: {e}"))),
        };
    }
    read_head(c).await
}

/// Reads the answer's head (past any 1xx).
async fn read_head(c: &mut Conn) -> Result<(wire::Head, BytesMut), Failed> {
    let mut buf = BytesMut::with_capacity(HEAD_BUF);
    let mut any = false;
    loop {
        match wire::response(&buf) {
            Ok(Some((n, h))) if h.status.is_informational() => {
                let _ = buf.split_to(n);
                continue;
            }
            Ok(Some((n, h))) => {
                let _ = buf.split_to(n);
                return Ok((h, buf));
            }
            Ok(None) => {}
            Err(e) => return Err(Failed::Answer(e.to_string())),
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(HEAD_BUF);
        }
        match tokio::io::AsyncReadExt::read_buf(c, &mut buf).await {
            Ok(0) if !any => {
                return Err(Failed::BeforeAnswer(
                    "the upstream closed the connection without answering".into(),
                ));
            }
            Ok(0) => {
                return Err(Failed::Answer(
                    "the upstream closed the connection in the middle of its answer's head".into(),
                ));
            }
            Ok(_) => any = true,
            Err(e) if !any => return Err(Failed::BeforeAnswer(read_error(&e))),
            Err(e) => return Err(Failed::Answer(read_error(&e))),
        }
    }
}

fn read_error(e: &io::Error) -> String {
    format!("reading the answer: {e}")
}

#[cfg(test)]
mod tests;
