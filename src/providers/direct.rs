//! The hot path's upstream client: hyper-util's pooled client over rustls, one per
//! serving thread (like [`super::clients`]' reqwest clients), whose answer body
//! (`hyper::body::Incoming`) goes to the client as it is. TLS trusts what reqwest
//! trusts: the platform verifier, which reads the system roots or, when set, the
//! standard `SSL_CERT_FILE` / `SSL_CERT_DIR`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A pooled client straight to the upstream (no proxy).
pub type Direct = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

thread_local! {
    /// Per connect timeout (milliseconds): the only setting that differs.
    static DIRECT: RefCell<HashMap<u128, Arc<Direct>>> = RefCell::new(HashMap::new());
}

/// The TLS settings, built once: building the platform verifier reads the roots.
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        use rustls_platform_verifier::ConfigVerifierExt;
        rustls::ClientConfig::with_platform_verifier()
            .map(Arc::new)
            .map_err(|e| format!("TLS roots: {e}"))
    })
    .clone()
}

fn build(connect: Duration) -> anyhow::Result<Direct> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect));
    let tls = tls().map_err(anyhow::Error::msg)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}

/// This thread's direct client for a connect timeout (shared: a clone per request would
/// copy its many handles).
pub fn direct(connect: Duration) -> anyhow::Result<Arc<Direct>> {
    DIRECT.with(|cell| {
        let mut map = cell.borrow_mut();
        let key = connect.as_millis();
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let c = Arc::new(build(connect)?);
        map.insert(key, c.clone());
        Ok(c)
    })
}
