//! The reverse proxy to Amp: the request goes out with Amp's key instead of the
//! client's, the answer comes back as it arrives, chunk by chunk (never collected:
//! Amp streams model answers and thread events). Request bodies were already read
//! within `body-limit` by the route, like every other route's.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::config::{Config, Secret};
use crate::providers::amp::{self as facts, KeySource};
use crate::server::error::{ApiError, Kind, respond};
use crate::server::keys;
use crate::server::state::AppState;
use crate::translate::Dialect;

/// The client's gateway key, when it authenticated with one of `api-keys`.
fn client_key<'a>(cfg: &'a Config, headers: &HeaderMap, query: Option<&str>) -> Option<&'a str> {
    match keys::check(&cfg.api_keys, headers, query) {
        keys::KeyCheck::Matched(i) => cfg.api_keys.get(i).map(Secret::expose),
        _ => None,
    }
}

/// Amp's key from its secrets file under `HOME`; a missing file is no key, a broken
/// one is logged (without its content) and is no key either.
async fn secrets_file_key(state: &AppState) -> Option<Secret> {
    let home = state.env.get("HOME")?;
    let path = facts::secrets_path(std::path::Path::new(home));
    let meta = tokio::fs::metadata(&path).await.ok()?;
    if meta.len() > facts::SECRETS_MAX_BYTES {
        tracing::warn!(path = %path.display(), "Amp secrets file is too large; ignored");
        return None;
    }
    let text = tokio::fs::read_to_string(&path).await.ok()?;
    match facts::key_from_secrets(&text) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "Amp secrets file unreadable; ignored");
            None
        }
    }
}

async fn amp_key(
    state: &AppState,
    cfg: &Config,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<(Secret, KeySource)> {
    let amp = cfg.ampcode.clone().unwrap_or_default();
    let env = state.env.get(facts::ENV_KEY);
    let ck = client_key(cfg, headers, query);
    // The file comes last in the precedence: read it only when nothing else gave a key.
    if let Some(k) = facts::choose_key(&amp, ck, env, || None) {
        return Some(k);
    }
    let file = secrets_file_key(state).await;
    facts::choose_key(&amp, ck, env, || file)
}

/// Forwards one request to Amp. `dialect` shapes the gateway's own errors.
pub async fn forward(
    state: &AppState,
    dialect: Dialect,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let snap = state.current();
    let cfg = &snap.config;
    let amp = cfg.ampcode.clone().unwrap_or_default();
    let query = uri.query();
    let key = amp_key(state, cfg, headers, query).await;
    match &key {
        Some((_, source)) => tracing::debug!(path = %uri.path(), ?source, "forwarding to Amp"),
        None => tracing::warn!(
            path = %uri.path(),
            "forwarding to Amp without a key: set ampcode.upstream-api-key, AMP_API_KEY or log in with `amp login`"
        ),
    }
    let mut url = format!("{}{}", facts::upstream_url(&amp), uri.path());
    if let Some(q) = facts::upstream_query(query, client_key(cfg, headers, query)) {
        url.push('?');
        url.push_str(&q);
    }
    let client = match state.clients.passthrough(&cfg.proxy_url) {
        Ok(c) => c,
        Err(e) => return failed(dialect, &e.to_string()),
    };
    let mut req = client
        .request(method.clone(), &url)
        .headers(facts::upstream_headers(
            headers,
            key.as_ref().map(|(k, _)| k),
        ));
    if !body.is_empty() || !matches!(method, Method::GET | Method::HEAD) {
        req = req.body(body);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            // reqwest's message names the URL (no secrets: keys travel in headers).
            return failed(dialect, &e.without_url().to_string());
        }
    };
    let status = resp.status();
    if status.is_server_error() {
        tracing::warn!(%status, path = %uri.path(), "Amp answered with an error");
    }
    let headers = facts::client_headers(resp.headers());
    let stream = resp.bytes_stream().map_err(std::io::Error::other);
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

fn failed(dialect: Dialect, why: &str) -> Response {
    let mut e = ApiError::new(
        Kind::Api,
        format!("could not reach the Amp upstream: {why}"),
    )
    .with_code("amp_upstream_proxy_error");
    e.status = Some(StatusCode::BAD_GATEWAY.as_u16());
    respond(dialect, &e)
}
