//! Outbound HTTP clients, one per proxy setting and per serving thread. Each serving
//! worker is a single-threaded runtime; a client (and so its connection pool and the
//! tasks driving its connections) stays on the thread that uses it, so a request never
//! wakes another thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

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
        let proxy = match entry.map(str::trim) {
            Some("direct") | Some("none") => "",
            Some(p) if !p.is_empty() => p,
            _ => global.trim(),
        };
        cached(proxy, true, connect)
    }

    /// Client for a reverse proxy: redirects go back to the client as they are (a
    /// browser login flow follows them itself), through the global `proxy-url`.
    pub fn passthrough(&self, global: &str) -> anyhow::Result<reqwest::Client> {
        cached(global.trim(), false, CONNECT_TIMEOUT)
    }
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
