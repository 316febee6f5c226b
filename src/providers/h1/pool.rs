//! Idle upstream connections, one pool per serving thread (each serving worker is a
//! single-threaded runtime, so a request never touches another thread's pool or
//! wakes another thread). Most recently used first; connections idle longer than
//! [`IDLE_TIMEOUT`] are closed by a sweeper task that runs while the pool holds any.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::conn::{Conn, Target};

/// How long an idle connection is kept (reqwest's and hyper's default).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream per thread; more are closed when returned.
pub const MAX_IDLE_PER_TARGET: usize = 128;
/// A connection idle at least this long is checked before it is used (one `recv`
/// peek); a younger one closed meanwhile is caught by the retry in [`super::post`].
const CHECK_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Idle {
    by_target: HashMap<Target, Vec<(Conn, Instant)>>,
    sweeping: bool,
}

pub type Pool = Arc<Mutex<Idle>>;

thread_local! {
    static POOL: Pool = Pool::default();
}

/// This thread's pool.
pub fn current() -> Pool {
    POOL.with(Arc::clone)
}

/// An idle connection to `t`, if a usable one is kept.
pub fn take(pool: &Pool, t: &Target) -> Option<Conn> {
    let now = Instant::now();
    let mut idle = pool.lock();
    let list = idle.by_target.get_mut(t)?;
    while let Some((conn, since)) = list.pop() {
        let age = now.saturating_duration_since(since);
        if age < IDLE_TIMEOUT && (age < CHECK_AFTER || conn.usable()) {
            return Some(conn);
        }
    }
    None
}

/// Keeps `conn` for the next request to `t`.
pub fn put(pool: &Pool, t: &Target, conn: Conn) {
    let mut idle = pool.lock();
    let list = idle.by_target.entry(t.clone()).or_default();
    if list.len() >= MAX_IDLE_PER_TARGET {
        return;
    }
    list.push((conn, Instant::now()));
    if !idle.sweeping && tokio::runtime::Handle::try_current().is_ok() {
        idle.sweeping = true;
        tokio::spawn(sweep(Arc::clone(pool)));
    }
}

/// Closes connections idle past [`IDLE_TIMEOUT`]; ends when the pool is empty.
async fn sweep(pool: Pool) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 3).await;
        let mut idle = pool.lock();
        expire(&mut idle, Instant::now());
        if idle.by_target.is_empty() {
            idle.sweeping = false;
            return;
        }
    }
}

fn expire(idle: &mut Idle, now: Instant) {
    idle.by_target.retain(|_, list| {
        list.retain(|(_, since)| now.saturating_duration_since(*since) < IDLE_TIMEOUT);
        !list.is_empty()
    });
}

/// Idle connections held (all targets).
#[cfg(test)]
pub fn idle_count(pool: &Pool) -> usize {
    pool.lock().by_target.values().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Conn, tokio::net::TcpStream, Target) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = Target {
            tls: false,
            host: "127.0.0.1".into(),
            port,
        };
        let c = super::super::conn::connect(&t, Duration::from_secs(5))
            .await
            .expect("connect");
        let (peer, _) = l.accept().await.expect("accept");
        (c, peer, t)
    }

    #[tokio::test]
    async fn the_most_recently_returned_connection_is_used_first_and_limits_hold() {
        let pool = Pool::default();
        let (a, _pa, t) = pair().await;
        put(&pool, &t, a);
        assert_eq!(idle_count(&pool), 1);
        assert!(take(&pool, &t).is_some());
        assert!(take(&pool, &t).is_none());
        let other = Target {
            port: t.port.wrapping_add(1),
            ..t.clone()
        };
        assert!(take(&pool, &other).is_none());
    }

    #[tokio::test]
    async fn expired_connections_are_dropped() {
        let pool = Pool::default();
        let (a, _pa, t) = pair().await;
        put(&pool, &t, a);
        let later = Instant::now() + IDLE_TIMEOUT + Duration::from_secs(1);
        expire(&mut pool.lock(), later);
        assert_eq!(idle_count(&pool), 0);
    }

    #[tokio::test]
    async fn no_more_than_the_limit_is_kept_per_target() {
        let pool = Pool::default();
        let mut peers = Vec::new();
        let (first, p, t) = pair().await;
        peers.push(p);
        put(&pool, &t, first);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let t2 = Target {
            port: l.local_addr().expect("addr").port(),
            ..t.clone()
        };
        for _ in 0..MAX_IDLE_PER_TARGET + 3 {
            let c = super::super::conn::connect(&t2, Duration::from_secs(5))
                .await
                .expect("connect");
            peers.push(l.accept().await.expect("accept").0);
            put(&pool, &t2, c);
        }
        assert_eq!(idle_count(&pool), MAX_IDLE_PER_TARGET + 1);
    }
}
