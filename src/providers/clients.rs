//! Outbound HTTP clients, one per proxy setting and per serving thread. Each serving
//! worker is a single-threaded runtime; a client (and so its connection pool and the
//! tasks driving its connections) stays on the thread that uses it, so a request never
//! wakes another thread.
//!
//! API requests go out through [`HttpClients::sender`], the one place that decides
//! which client sends: the pooled HTTP/1.1 client ([`super::h1`]) when no proxy applies,
//! reqwest when a `proxy-url` (HTTP or SOCKS) does. Logins, refreshes, project
//! discovery, sync and the Amp reverse proxy use reqwest.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};

thread_local! {
    static CLIENTS: RefCell<HashMap<String, reqwest::Client>> = RefCell::new(HashMap::new());
}

#[derive(Default)]
pub struct HttpClients {
    _private: (),
}

impl std::fmt::Debug for HttpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClients")
    }
}

/// Connect timeout when none is configured (`timeouts.upstream-connect`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

fn build(
    proxy: &str,
    follow_redirects: bool,
    connect: Duration,
) -> anyhow::Result<reqwest::Client> {
    let redirects = if follow_redirects {
        reqwest::redirect::Policy::default()
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut b = reqwest::Client::builder()
        .redirect(redirects)
        .connect_timeout(connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .no_proxy();
    if !proxy.is_empty() {
        b = b.proxy(reqwest::Proxy::all(proxy).map_err(|e| anyhow::anyhow!("proxy-url: {e}"))?);
    }
    Ok(b.build()?)
}

impl HttpClients {
    /// Client for an entry's `proxy-url` (`None` → the global one; `direct`/`none` → no proxy).
    pub fn get(&self, entry: Option<&str>, global: &str) -> anyhow::Result<reqwest::Client> {
        self.get_timed(entry, global, CONNECT_TIMEOUT)
    }

    /// [`HttpClients::get`] with a connect timeout.
    pub fn get_timed(
        &self,
        entry: Option<&str>,
        global: &str,
        connect: Duration,
    ) -> anyhow::Result<reqwest::Client> {
        cached(proxy_for(entry, global), true, connect)
    }

    /// The client that sends an entry's API requests (see the module comment).
    pub fn sender(
        &self,
        entry: Option<&str>,
        global: &str,
        connect: Duration,
    ) -> anyhow::Result<Sender> {
        match proxy_for(entry, global) {
            "" => Ok(Sender::Direct { connect }),
            proxy => Ok(Sender::Proxied(cached(proxy, true, connect)?)),
        }
    }

    /// Client for a reverse proxy: redirects go back to the client as they are (a
    /// browser login flow follows them itself), through the global `proxy-url`.
    pub fn passthrough(&self, global: &str) -> anyhow::Result<reqwest::Client> {
        cached(global.trim(), false, CONNECT_TIMEOUT)
    }
}

/// The proxy an entry's requests go through ("" for none): the entry's `proxy-url`
/// (`direct`/`none` → none), else the global one.
fn proxy_for<'a>(entry: Option<&'a str>, global: &'a str) -> &'a str {
    match entry.map(str::trim) {
        Some("direct") | Some("none") => "",
        Some(p) if !p.is_empty() => p,
        _ => global.trim(),
    }
}

/// Sends API requests; the answer's body is handed on unread.
#[derive(Clone)]
pub enum Sender {
    /// [`super::h1`], with the connect timeout.
    Direct {
        connect: Duration,
    },
    Proxied(reqwest::Client),
}

impl Sender {
    /// POSTs `body` with `headers` to `url`. `Err` says why no answer came (no URL in it).
    pub async fn post(
        &self,
        url: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<Body>, String> {
        match self {
            Sender::Direct { connect } => {
                let uri = parse_uri(url)?;
                // As reqwest sends it: the upstreams have only ever seen this default.
                if !headers.contains_key(header::ACCEPT) {
                    headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
                }
                let resp = super::h1::post(&uri, &headers, &body, *connect).await?;
                Ok(resp.map(Body::new))
            }
            Sender::Proxied(c) => {
                let resp = c
                    .post(url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| chain(&e.without_url()))?;
                Ok(http::Response::from(resp).map(Body::new))
            }
        }
    }
}

/// `url` for hyper; what `http::Uri` refuses goes through the URL parser (as reqwest
/// does), which escapes what needs escaping.
fn parse_uri(url: &str) -> Result<http::Uri, String> {
    if let Ok(u) = url.parse::<http::Uri>()
        && u.scheme().is_some()
        && u.authority().is_some()
    {
        return Ok(u);
    }
    let invalid = |e: &dyn std::fmt::Display| format!("invalid upstream URL: {e}");
    url::Url::parse(url)
        .map_err(|e| invalid(&e))?
        .as_str()
        .parse()
        .map_err(|e| invalid(&e))
}

/// An error with its causes ("client error (Connect): tcp connect error: Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

fn cached(
    proxy: &str,
    follow_redirects: bool,
    connect: Duration,
) -> anyhow::Result<reqwest::Client> {
    let key = format!(
        "{}{}|{proxy}",
        if follow_redirects { "" } else { "passthrough|" },
        connect.as_millis()
    );
    CLIENTS.with(|cell| {
        let mut map = cell.borrow_mut();
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let c = build(proxy, follow_redirects, connect)?;
        map.insert(key, c.clone());
        Ok(c)
    })
}
