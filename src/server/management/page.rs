//! The status page: HTML, CSS and JS compiled into the binary (nothing is fetched at
//! run time, no CDN), served at `/status` and `/management.html` under the management
//! API's peer and `Host` rules. The page asks for the key once, keeps it in
//! `sessionStorage` and sends it as a header to the API; the files hold no data.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, header};

use super::guard;
use crate::server::state::AppState;

const HTML: &str = include_str!("page/status.html");
const CSS: &str = include_str!("page/status.css");
const JS: &str = include_str!("page/status.js");

/// Only our own files; no inline script or style, no framing, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn html() -> Response {
    asset(HTML, "text/html; charset=utf-8")
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/status", get(html))
        .route("/management.html", get(html))
        .route("/status/status.css", get(css))
        .route("/status/status.js", get(js))
        .route_layer(middleware::from_fn_with_state(state, guard::check_page))
}
