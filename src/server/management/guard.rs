//! Who may use the management API: a secret (bcrypt hash or plaintext in
//! `remote-management.secret-key`, or `MANAGEMENT_PASSWORD` /
//! `CLIPROXY_MANAGEMENT_PASSWORD`) is required even from this machine; other machines
//! only with `allow-remote`; "this machine" is the TCP peer address, never a
//! forwarded-for header; a `Host` that is not a loopback name or the configured host
//! is refused from local peers (DNS rebinding); repeated failures ban the address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::reply;
use crate::server::state::AppState;

pub const MAX_FAILURES: u32 = 5;
pub const BAN: Duration = Duration::from_secs(30 * 60);
const IDLE: Duration = Duration::from_secs(2 * 3600);
/// Addresses tracked at once; the table never grows past this.
const MAX_TRACKED: usize = 4096;
/// bcrypt cost for hashing a plaintext secret (CLIProxyAPI uses Go's default, 10).
pub const BCRYPT_COST: u32 = 10;

/// The peer is this machine.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn host_name(host: &str) -> &str {
    let h = host.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => h,
    }
}

/// Whether a request's `Host` may reach management. A page that rebinds its own
/// domain to 127.0.0.1 arrives from a local peer with a foreign `Host`: refused.
pub fn host_allowed(host: Option<&str>, configured: &str, peer_local: bool) -> bool {
    if !peer_local {
        return true;
    }
    let Some(host) = host else { return true };
    let name = host_name(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    let configured = configured.trim().to_ascii_lowercase();
    !configured.is_empty()
        && !matches!(configured.as_str(), "0.0.0.0" | "::" | "[::]")
        && name == configured
}

/// The key a request offers: `Authorization: Bearer <key>` (or a bare value), else
/// `X-Management-Key`.
pub fn provided_key(headers: &HeaderMap) -> Option<String> {
    let from_auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim();
            match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                _ => v,
            }
            .to_string()
        })
        .filter(|v| !v.is_empty());
    from_auth.or_else(|| {
        headers
            .get("x-management-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

pub fn is_bcrypt(s: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$2x$"]
        .iter()
        .any(|p| s.starts_with(p))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    banned_until: Option<Instant>,
    last: Instant,
}

/// Failed attempts per address (bounded, pruned).
#[derive(Default)]
pub struct Bans {
    table: Mutex<HashMap<IpAddr, Entry>>,
}

impl Bans {
    /// Time left on `ip`'s ban.
    pub fn banned(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let t = self.table.lock();
        let until = t.get(&ip)?.banned_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns whether the address is banned now.
    pub fn fail(&self, ip: IpAddr, now: Instant) -> bool {
        let mut t = self.table.lock();
        if !t.contains_key(&ip) && t.len() >= MAX_TRACKED {
            t.retain(|_, e| e.banned_until.is_some_and(|u| u > now) || now - e.last < IDLE);
            if t.len() >= MAX_TRACKED
                && let Some(oldest) = t
                    .iter()
                    .filter(|(_, e)| e.banned_until.is_none_or(|u| u <= now))
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| *k)
            {
                t.remove(&oldest);
            }
            if t.len() >= MAX_TRACKED {
                // Every tracked address is banned: the newcomer is refused outright.
                return true;
            }
        }
        let e = t.entry(ip).or_insert(Entry {
            failures: 0,
            banned_until: None,
            last: now,
        });
        if e.banned_until.is_some_and(|u| u <= now) {
            e.banned_until = None;
            e.failures = 0;
        }
        e.failures += 1;
        e.last = now;
        if e.failures >= MAX_FAILURES {
            e.banned_until = Some(now + BAN);
            e.failures = 0;
            return true;
        }
        false
    }

    pub fn success(&self, ip: IpAddr) {
        self.table.lock().remove(&ip);
    }

    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Remembers the last key that matched the bcrypt hash, so each request does not pay
/// for a bcrypt verification (tens of milliseconds).
#[derive(Default)]
pub struct VerifiedCache {
    last: Mutex<Option<([u8; 32], String)>>,
}

impl VerifiedCache {
    fn hit(&self, key: &str, hash: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.last
            .lock()
            .as_ref()
            .is_some_and(|(d, h)| h == hash && bool::from(d.ct_eq(&digest)))
    }

    fn store(&self, key: &str, hash: &str) {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        *self.last.lock() = Some((digest, hash.to_string()));
    }
}

/// The secrets in force: the environment's plaintext one, the config's (hash or
/// plaintext).
pub struct Secrets {
    pub env: Option<String>,
    pub config: Option<String>,
}

impl Secrets {
    pub fn of(state: &AppState) -> Secrets {
        let env = state
            .env
            .get_any(&["CLIPROXY_MANAGEMENT_PASSWORD", "MANAGEMENT_PASSWORD"])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let config = Some(
            state
                .current()
                .config
                .remote_management
                .secret_key
                .expose()
                .to_string(),
        )
        .filter(|s| !s.is_empty());
        Secrets { env, config }
    }

    pub fn any(&self) -> bool {
        self.env.is_some() || self.config.is_some()
    }
}

async fn verify(secrets: &Secrets, key: &str, cache: &VerifiedCache) -> bool {
    if secrets.env.as_deref().is_some_and(|e| ct_eq(e, key)) {
        return true;
    }
    let Some(stored) = &secrets.config else {
        return false;
    };
    if !is_bcrypt(stored) {
        return ct_eq(stored, key);
    }
    if cache.hit(key, stored) {
        return true;
    }
    let (k, h) = (key.to_string(), stored.clone());
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(k, &h).unwrap_or(false))
        .await
        .unwrap_or(false);
    if ok {
        cache.store(key, stored);
    }
    ok
}

fn version_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        "x-cpa-version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    h.insert("x-cpa-commit", HeaderValue::from_static("cliproxy"));
    h.insert("x-cpa-build-date", HeaderValue::from_static("unknown"));
}

/// The rules that come before the key: a secret exists (else 404), the `Host` is
/// allowed, the address is not banned, the peer is local or remote access is on.
/// Returns the peer address to count failures against.
fn preflight(state: &AppState, req: &Request) -> Result<IpAddr, (StatusCode, String)> {
    if !Secrets::of(state).any() {
        return Err((StatusCode::NOT_FOUND, "not found".into()));
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // Without a peer address (not served from a socket) nothing is local.
    let ip = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let local = peer.is_some_and(is_local);
    let snap = state.current();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !host_allowed(host, &snap.config.host, local) {
        return Err((
            StatusCode::FORBIDDEN,
            "host not allowed: use localhost or 127.0.0.1 (or the configured host)".into(),
        ));
    }
    if let Some(left) = state.management.bans.banned(ip, Instant::now()) {
        let secs = left.as_secs().max(1);
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "IP banned due to too many failed attempts. Try again in {}m{}s",
                secs / 60,
                secs % 60
            ),
        ));
    }
    if !local && !snap.config.remote_management.allow_remote {
        return Err((StatusCode::FORBIDDEN, "remote management disabled".into()));
    }
    Ok(ip)
}

/// The status page's files: the same rules as the API except the key, which the page
/// asks for and sends with each API call (a browser navigation carries no header).
pub async fn check_page(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match preflight(&state, &req) {
        Ok(_) => next.run(req).await,
        Err((status, message)) => reply::error(status, &message),
    }
}

/// The management middleware.
pub async fn check(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let ip = match preflight(&state, &req) {
        Ok(ip) => ip,
        Err((status, message)) => return reply::error(status, &message),
    };
    let secrets = Secrets::of(&state);
    let bans = &state.management.bans;
    let now = Instant::now();
    let Some(key) = provided_key(req.headers()) else {
        bans.fail(ip, now);
        return reply::error(StatusCode::UNAUTHORIZED, "missing management key");
    };
    if !verify(&secrets, &key, &state.management.verified).await {
        bans.fail(ip, now);
        tracing::warn!(peer = %ip, "management: invalid key");
        return reply::error(StatusCode::UNAUTHORIZED, "invalid management key");
    }
    bans.success(ip);
    let mut resp = next.run(req).await;
    version_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_are_local() {
        let cases = [
            ("127.0.0.1", true),
            ("127.0.0.2", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("10.0.0.1", false),
            ("192.168.1.10", false),
            ("0.0.0.0", false),
            ("::ffff:10.0.0.1", false),
            ("fe80::1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(is_local(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn local_peers_need_a_loopback_or_configured_host() {
        let cases: &[(Option<&str>, &str, bool, bool)] = &[
            (Some("127.0.0.1:8317"), "127.0.0.1", true, true),
            (Some("localhost:8317"), "127.0.0.1", true, true),
            (Some("LOCALHOST"), "127.0.0.1", true, true),
            (Some("[::1]:8317"), "127.0.0.1", true, true),
            (Some("127.0.0.2"), "127.0.0.1", true, true),
            (Some("evil.example:8317"), "127.0.0.1", true, false),
            (Some("evil.example"), "0.0.0.0", true, false),
            (Some("gw.lan:8317"), "gw.lan", true, true),
            (Some("127.0.0.1.evil.example"), "127.0.0.1", true, false),
            (None, "127.0.0.1", true, true),
            // Remote peers are judged by allow-remote and the key, not the Host.
            (Some("evil.example"), "127.0.0.1", false, true),
        ];
        for (host, configured, local, want) in cases {
            assert_eq!(
                host_allowed(*host, configured, *local),
                *want,
                "{host:?} {configured} {local}"
            );
        }
    }

    #[test]
    fn keys_come_from_bearer_bare_authorization_or_x_management_key() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers, Option<&str>)] = &[
            (&[("authorization", "Bearer abc")], Some("abc")),
            (&[("authorization", "bearer  abc ")], Some("abc")),
            (&[("authorization", "abc")], Some("abc")),
            (&[("x-management-key", "xyz")], Some("xyz")),
            (
                &[("authorization", "Bearer a"), ("x-management-key", "b")],
                Some("a"),
            ),
            (&[("x-forwarded-for", "127.0.0.1")], None),
            (&[], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(provided_key(&h(pairs)).as_deref(), *want, "{pairs:?}");
        }
    }

    #[test]
    fn five_failures_ban_for_thirty_minutes_and_success_resets() {
        let b = Bans::default();
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(!b.fail(ip, t0));
        }
        assert!(b.banned(ip, t0).is_none());
        assert!(b.fail(ip, t0));
        assert_eq!(b.banned(ip, t0), Some(BAN));
        assert!(b.banned(ip, t0 + BAN).is_none());
        // After the ban the count starts over.
        assert!(!b.fail(ip, t0 + BAN));
        let other: IpAddr = "10.1.1.2".parse().unwrap();
        for _ in 0..4 {
            b.fail(other, t0);
        }
        b.success(other);
        assert!(!b.fail(other, t0));
    }

    #[test]
    fn the_failure_table_stays_bounded() {
        let b = Bans::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            b.fail(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), t0);
        }
        assert!(b.len() <= MAX_TRACKED);
    }

    #[test]
    fn bcrypt_hashes_are_recognised() {
        let h = bcrypt::hash("pw", 4).unwrap();
        assert!(is_bcrypt(&h));
        assert!(!is_bcrypt("plain"));
        assert!(bcrypt::verify("pw", &h).unwrap());
    }
}
