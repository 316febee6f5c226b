//! The guard in-process, with peer addresses a single machine cannot produce over
//! loopback: a remote peer stays remote whatever forwarding headers claim.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use tower::ServiceExt;

use crate::config::{Config, EnvMap, Overrides, Secret};
use crate::server::state::AppState;

fn state(allow_remote: bool) -> (tempfile::TempDir, Arc<AppState>) {
    let d = tempfile::tempdir().unwrap();
    let mut c = Config::default();
    c.remote_management.secret_key = Secret::new("plain-secret-for-tests");
    c.remote_management.allow_remote = allow_remote;
    let s = AppState::new(
        c,
        EnvMap::default(),
        None,
        Overrides::default(),
        d.path().join("auths"),
        None,
        None,
        crate::usage::Recorder::disabled(),
    );
    (d, s)
}

async fn call(state: &Arc<AppState>, peer: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = Request::builder().uri("/v0/management/get-auth-status");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = crate::server::router(state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

const SPOOF: &[(&str, &str)] = &[
    ("x-forwarded-for", "127.0.0.1"),
    ("x-real-ip", "127.0.0.1"),
    ("forwarded", "for=127.0.0.1"),
    ("host", "127.0.0.1:8317"),
    ("authorization", "Bearer plain-secret-for-tests"),
];

#[tokio::test]
async fn a_remote_peer_claiming_to_be_local_is_still_remote() {
    let (_d, s) = state(false);
    let (status, body) = call(&s, "203.0.113.7:5555", SPOOF).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("remote management disabled"), "{body}");
    // The same request from a loopback peer passes.
    let (status, body) = call(&s, "127.0.0.1:5555", SPOOF).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn remote_peers_pass_with_allow_remote_and_the_key_only() {
    let (_d, s) = state(true);
    let key = [("authorization", "Bearer plain-secret-for-tests")];
    assert_eq!(call(&s, "203.0.113.7:1", &key).await.0, StatusCode::OK);
    let wrong = [
        ("authorization", "Bearer nope"),
        ("x-forwarded-for", "127.0.0.1"),
    ];
    assert_eq!(
        call(&s, "203.0.113.7:1", &wrong).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Four more failures ban the address, even with the right key afterwards.
    for _ in 0..4 {
        call(&s, "203.0.113.7:1", &wrong).await;
    }
    let (status, body) = call(&s, "203.0.113.7:1", &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("banned"), "{body}");
    // Another address is not affected.
    assert_eq!(call(&s, "203.0.113.8:1", &key).await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_a_peer_address_nothing_is_local() {
    let (_d, s) = state(false);
    let req = Request::builder()
        .uri("/v0/management/get-auth-status")
        .header("authorization", "Bearer plain-secret-for-tests")
        .body(Body::empty())
        .unwrap();
    let resp = crate::server::router(s).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_status_page_follows_the_same_peer_rules_without_needing_the_key() {
    let (_d, s) = state(false);
    let page = |peer: &str, host: &str| {
        let mut req = Request::builder()
            .uri("/status")
            .header("host", host)
            .header("x-forwarded-for", "127.0.0.1")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        crate::server::router(s.clone()).oneshot(req)
    };
    let resp = page("127.0.0.1:5555", "127.0.0.1:8317").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = page("203.0.113.7:5555", "127.0.0.1:8317").await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = page("127.0.0.1:5555", "evil.example").await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_helper_routes_follow_the_peer_rules_whatever_the_headers_claim() {
    let (_d, s) = state(false);
    let routes = [
        ("GET", "/v0/management/latest-version"),
        ("POST", "/v0/management/api-call"),
        ("GET", "/v0/management/auth-files/models?name=a.json"),
        ("PATCH", "/v0/management/auth-files/fields"),
        ("GET", "/v0/management/logs"),
        ("DELETE", "/v0/management/logs"),
        ("GET", "/v0/management/request-error-logs/error-a.log"),
    ];
    for (method, uri) in routes {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in SPOOF {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from("{}")).unwrap();
        req.extensions_mut().insert(ConnectInfo(
            "203.0.113.7:5555".parse::<SocketAddr>().unwrap(),
        ));
        let resp = crate::server::router(s.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{method} {uri}");
    }
}
