//! Serving connections: how long a connection may sit without a request, how long a
//! request head may take, and how many connections are served at once. hyper's own
//! header timer also runs while a keep-alive connection waits for its next request,
//! so both limits are kept here instead, per connection, from what the connection
//! does: bytes read ([`Tracked`]) and requests in flight ([`InFlight`]). A request in
//! flight is never timed out: a model may think for minutes and stream for longer.
//!
//! Beyond `max-connections`, a small reserve of connections is still served, by a
//! router that answers only `/healthz` (503 elsewhere) with one request per
//! connection; beyond the reserve a connection gets a fixed 503 and is closed at once.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

/// Connections served beyond `max-connections`, for `/healthz` and quick 503s.
pub const RESERVE: usize = 32;
/// How long a reserve connection may take to send its one request.
const RESERVE_HEAD: Duration = Duration::from_secs(2);

/// Per-connection time limits (`timeouts:` in config.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From a request's first byte (or the connection's start) to its complete head.
    pub header_read: Duration,
    /// Between requests on a kept-alive connection.
    pub idle: Duration,
}

/// Where a connection stands, in milliseconds since it was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub in_flight: usize,
    /// When the last request ended (or the connection started).
    pub idle_since: u64,
    /// When the bytes of a request head started to arrive, if they have.
    pub head_since: Option<u64>,
}

/// Whether a connection in `phase` at `now` has used up its time. Never while a
/// request is in flight.
pub fn expired(phase: Phase, now: u64, limits: ConnLimits) -> bool {
    if phase.in_flight > 0 {
        return false;
    }
    match phase.head_since {
        Some(t) => now.saturating_sub(t) >= limits.header_read.as_millis() as u64,
        None => now.saturating_sub(phase.idle_since) >= limits.idle.as_millis() as u64,
    }
}

/// The connection's activity, shared by its reader, its requests and its watchdog.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    idle_since: AtomicU64,
    /// 0: no head started; else milliseconds + 1.
    head_since: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        // A new connection owes its first request head right away.
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
        })
    }
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    fn phase(&self) -> Phase {
        let head = self.head_since.load(Ordering::Acquire);
        Phase {
            in_flight: self.in_flight.load(Ordering::Acquire),
            idle_since: self.idle_since.load(Ordering::Acquire),
            head_since: head.checked_sub(1),
        }
    }
    fn read_some(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_since.compare_exchange(
                0,
                self.now() + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

/// One request of a connection, from its head until its response body is dropped
/// (sent, or the client went away).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(a: &Arc<Activity>) -> InFlight {
        a.in_flight.fetch_add(1, Ordering::AcqRel);
        a.head_since.store(0, Ordering::Release);
        InFlight(a.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is done.
struct TrackedBody {
    inner: Body,
    _req: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when request bytes arrive.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Connection slots shared by every serving thread.
#[derive(Clone)]
pub struct Slots {
    normal: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
}

impl Slots {
    pub fn new(max_connections: usize) -> Slots {
        Slots {
            normal: Arc::new(Semaphore::new(max_connections.max(1))),
            reserve: Arc::new(Semaphore::new(RESERVE)),
        }
    }
}

/// What a reserve connection is served with.
fn reserve_router() -> Router {
    Router::new()
        .route(
            "/healthz",
            axum::routing::get(super::routes::healthz).head(super::routes::healthz),
        )
        .fallback(|req: axum::extract::Request| async move {
            super::error::respond(
                super::error::route_dialect(req.uri().path()),
                &super::ApiError::new(
                    super::Kind::Unavailable,
                    "the gateway is at its connection limit (max-connections); try again shortly",
                ),
            )
        })
}

const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 84\r\n\r\n{\"error\":{\"message\":\"the gateway is at its connection limit\",\"type\":\"server_error\"}}";

/// Accepts on `listener` until `cancel`, serving each connection with `app` under the
/// limits `limits()` gives when it is accepted; in-flight requests finish on shutdown.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    slots: Slots,
    limits: impl Fn() -> ConnLimits,
    cancel: CancellationToken,
) {
    let reserve = reserve_router();
    let tracker = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or similar: the next accept may succeed.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        // SSE chunks are small writes: without TCP_NODELAY, Nagle + delayed ACK hold them ~40 ms.
        let _ = tcp.set_nodelay(true);
        let (router, limits, keep_alive, permit) = match slots.normal.clone().try_acquire_owned() {
            Ok(p) => (app.clone(), limits(), true, p),
            Err(_) => match slots.reserve.clone().try_acquire_owned() {
                Ok(p) => {
                    let l = limits();
                    let head = l.header_read.min(RESERVE_HEAD);
                    let l = ConnLimits {
                        header_read: head,
                        idle: head,
                    };
                    (reserve.clone(), l, false, p)
                }
                Err(_) => {
                    let _ = tcp.try_write(FULL);
                    continue;
                }
            },
        };
        tracker.spawn(connection(
            tcp,
            peer,
            router,
            limits,
            keep_alive,
            permit,
            cancel.clone(),
        ));
    }
    tracker.close();
    tracker.wait().await;
}

async fn connection(
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    limits: ConnLimits,
    keep_alive: bool,
    _permit: OwnedSemaphorePermit,
    cancel: CancellationToken,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Tracked {
        inner: tcp,
        activity: activity.clone(),
    });
    let per_request = activity.clone();
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let guard = InFlight::begin(&per_request);
        // The peer address decides what counts as local (management, Amp restriction).
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            let resp = match router.call(req.map(Body::new)).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody { inner, _req: guard }))
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(keep_alive)
        .header_read_timeout(None);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let tick = (limits.header_read.min(limits.idle) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep(tick) => {
                if expired(activity.phase(), activity.now(), limits) {
                    tracing::debug!("closing a connection that sent no request in time");
                    return;
                }
            }
            _ = cancel.cancelled(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_expire_only_between_requests() {
        let limits = ConnLimits {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        };
        let p = |in_flight, idle_since, head_since| Phase {
            in_flight,
            idle_since,
            head_since,
        };
        let cases = [
            (
                "new, silent, within header time",
                p(0, 0, Some(0)),
                9_999,
                false,
            ),
            (
                "new, silent past header time",
                p(0, 0, Some(0)),
                10_000,
                true,
            ),
            (
                "head trickling in too long",
                p(0, 50_000, Some(55_000)),
                65_000,
                true,
            ),
            (
                "head trickling, in time",
                p(0, 50_000, Some(55_000)),
                64_000,
                false,
            ),
            ("kept alive within idle", p(0, 1_000, None), 60_999, false),
            ("kept alive past idle", p(0, 1_000, None), 61_000, true),
            (
                "request in flight for an hour",
                p(1, 0, None),
                3_600_000,
                false,
            ),
            (
                "two streams in flight, stale head mark",
                p(2, 0, Some(0)),
                3_600_000,
                false,
            ),
        ];
        for (what, phase, now, want) in cases {
            assert_eq!(expired(phase, now, limits), want, "{what}");
        }
    }

    #[test]
    fn the_fixed_full_answer_is_well_formed() {
        let text = std::str::from_utf8(FULL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        let _: serde_json::Value = serde_json::from_str(body).unwrap();
    }
}
