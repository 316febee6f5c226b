//! The Rust API: start-up options, programmable behaviour, recorded requests, issued
//! tokens and [`StandIn`] itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::{RefreshEntry, Shared};
use super::{credential, router};

/// Start-up options.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Record every request (off for benchmarks).
    pub record: bool,
    /// Behaviour for the key `"*"` (applies to credentials without their own entry).
    pub default_behavior: Option<Behavior>,
    /// Serve HTTPS with this certificate chain and key (PEM), like a real upstream:
    /// ALPN offers `h2` and `http/1.1`; completed handshakes are counted (`/_standin/stats`).
    pub tls: Option<TlsIdentity>,
}

/// A server certificate chain and its private key, both PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(..)")
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "127.0.0.1".into(),
            port: 0,
            record: true,
            default_behavior: None,
            tls: None,
        }
    }
}

/// Programmable behaviour for one credential. All fields are optional in JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Behavior {
    /// Fail this many of the next requests (decremented per failure).
    pub fail_next: u32,
    /// Status of those failures (0 = 500).
    pub fail_status: u16,
    /// Error message of those failures (a default per status otherwise).
    pub fail_message: Option<String>,
    /// `retry-after` header value sent with those failures.
    pub retry_after: Option<String>,
    /// Answer every request with 401.
    pub always_401: bool,
    /// Sleep this long before sending anything (status line included).
    pub delay_ms: u64,
    /// Spacing between stream chunks (after the first).
    pub chunk_interval_ms: u64,
    /// Number of content deltas in a stream (text split evenly by characters); default: one per word.
    pub chunks: Option<u32>,
    /// Text answered instead of [`DEFAULT_TEXT`].
    pub text: Option<String>,
    /// In a stream, after this many content deltas send an in-stream error event and end the stream.
    pub stream_error_after: Option<u32>,
    /// Codex: answer 429 `usage_limit_reached` with this `resets_in_seconds`.
    pub usage_limit_resets_in: Option<u64>,
}

impl Behavior {
    /// Fail the next `n` requests with `status`.
    pub fn fail(n: u32, status: u16) -> Self {
        Behavior {
            fail_next: n,
            fail_status: status,
            ..Default::default()
        }
    }
    /// Answer 401 to every request.
    pub fn unauthorized() -> Self {
        Behavior {
            always_401: true,
            ..Default::default()
        }
    }
    /// Stream `chunks` deltas spaced `interval_ms` apart.
    pub fn stream(chunks: u32, interval_ms: u64) -> Self {
        Behavior {
            chunks: Some(chunks),
            chunk_interval_ms: interval_ms,
            ..Default::default()
        }
    }
    pub fn with_retry_after(mut self, v: impl Into<String>) -> Self {
        self.retry_after = Some(v.into());
        self
    }
    pub fn with_delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into());
        self
    }
    /// Codex: a usage limit that resets in `secs`.
    pub fn usage_limit(secs: u64) -> Self {
        Behavior {
            usage_limit_resets_in: Some(secs),
            ..Default::default()
        }
    }
    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.fail_message = Some(m.into());
        self
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub uri: String,
    /// All headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Time since the stand-in started.
    pub at: Duration,
}

impl RecordedRequest {
    /// Path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Body parsed as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The credential used: `x-api-key`, else the Bearer token.
    pub fn credential(&self) -> Option<String> {
        let mut h = HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.append(k, v);
            }
        }
        credential(&h).map(str::to_owned)
    }
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.headers {
            match map.get_mut(k) {
                Some(Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(v);
                }
                _ => {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        json!({
            "method": self.method,
            "uri": self.uri,
            "path": self.path(),
            "query": self.query(),
            "headers": map,
            "header_list": self.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&self.body),
            "json": self.json(),
            "at_ms": self.at.as_secs_f64() * 1000.0,
        })
    }
}

/// A token issued by the OAuth endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    pub grant_type: String,
    /// The refresh token (or authorization code) that was spent.
    pub spent: String,
    pub access_token: String,
    pub refresh_token: String,
    pub email: String,
}

/// A running stand-in. Dropping it stops the server.
pub struct StandIn {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StandIn {
    /// Start on a free loopback port with recording on.
    pub async fn start() -> StandIn {
        Self::start_with(Options::default())
            .await
            .expect("stand-in: bind loopback port")
    }

    pub async fn start_with(opts: Options) -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(opts.record));
        if let Some(b) = opts.default_behavior {
            shared.set_behavior("*", b);
        }
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let scheme = match &opts.tls {
            Some(id) => {
                let acceptor = tls_acceptor(id)?;
                tokio::spawn(serve_tls(listener, app, acceptor, shared.clone(), rx));
                "https"
            }
            None => {
                let counted = shared.clone();
                let listener = listener.tap_io(move |tcp| {
                    let _ = tcp.set_nodelay(true);
                    counted.connections.fetch_add(1, Ordering::Relaxed);
                });
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = rx.await;
                        })
                        .await;
                });
                "http"
            }
        };
        let host = if addr.ip().is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        Ok(StandIn {
            addr,
            base_url: format!("{scheme}://{host}:{}", addr.port()),
            shared,
            shutdown: Some(tx),
        })
    }

    /// TLS handshakes completed since start (0 without TLS).
    pub fn tls_handshakes(&self) -> u64 {
        self.shared.tls_handshakes.load(Ordering::Relaxed)
    }
    /// Connections accepted since start.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
    /// Everything received so far (control requests excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }
    /// Requests whose path ends with `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path().ends_with(suffix))
            .collect()
    }
    /// Lets one held Amp stream (`GET /api/…/stream`) send its last event.
    pub fn release_amp_stream(&self) {
        self.shared.amp_release.add_permits(1);
    }
    pub fn clear_requests(&self) {
        self.shared.requests.lock().clear();
    }
    pub fn set_record(&self, on: bool) {
        self.shared.record.store(on, Ordering::Relaxed);
    }
    /// Set the behaviour for a credential (`"*"` = default).
    pub fn set_behavior(&self, key: &str, b: Behavior) {
        self.shared.set_behavior(key, b);
    }
    pub fn remove_behavior(&self, key: &str) {
        self.shared.behaviors.lock().remove(key);
    }
    /// Current behaviour of a key (to see how many failures are left).
    pub fn behavior(&self, key: &str) -> Option<Behavior> {
        self.shared.behaviors.lock().get(key).cloned()
    }
    /// Forget requests, behaviours and OAuth state (back to accepting any credential).
    pub fn clear(&self) {
        self.shared.reset();
    }
    /// Make `refresh_token` valid once, for `email`.
    pub fn seed_refresh_token(&self, refresh_token: &str, email: &str) {
        let mut o = self.shared.oauth.lock();
        o.refresh.insert(
            refresh_token.into(),
            RefreshEntry {
                email: email.into(),
                used: false,
            },
        );
    }
    /// Accept `access_token` on the Anthropic routes. From the first call on, only accepted
    /// credentials pass; any other gets 401 (strict mode).
    pub fn seed_access_token(&self, access_token: &str) {
        let mut o = self.shared.oauth.lock();
        o.access.insert(access_token.into());
        o.strict = true;
    }
    /// Accept a credential (API key) in strict mode too.
    pub fn allow_credential(&self, key: &str) {
        self.seed_access_token(key);
    }
    /// No longer accept `access_token` (turns strict mode on).
    pub fn revoke_access_token(&self, access_token: &str) {
        let mut o = self.shared.oauth.lock();
        o.access.remove(access_token);
        o.strict = true;
    }
    /// Make an authorization code valid once (`grant_type=authorization_code`).
    pub fn seed_auth_code(&self, code: &str, email: &str) {
        self.shared
            .oauth
            .lock()
            .codes
            .insert(code.into(), email.into());
    }
    /// `expires_in` of issued tokens (default 28800).
    pub fn set_expires_in(&self, secs: u64) {
        self.shared.oauth.lock().expires_in = secs;
    }
    /// What Cloud Code project discovery answers (and restart the onboarding count).
    pub fn set_cloud_code(&self, c: super::cloudcode::CloudCode) {
        let mut st = self.shared.cloud.lock();
        st.config = c;
        st.polls = 0;
    }
    /// Tokens issued so far, in order.
    pub fn issued(&self) -> Vec<Issued> {
        self.shared.oauth.lock().issued.clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn tls_acceptor(id: &TlsIdentity) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_slice_iter(&id.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("TLS certificate (PEM)", &e))?;
    let key = PrivateKeyDer::from_pem_slice(&id.key_pem).map_err(|e| bad("TLS key (PEM)", &e))?;
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("TLS certificate and key", &e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Accepts until `stop`: each connection's handshake, counted once it completes, then
/// HTTP/1.1 or HTTP/2 (ALPN) on it.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let _ = tcp.set_nodelay(true);
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let (acceptor, app, shared) = (acceptor.clone(), app.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            shared.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
        });
    }
}
