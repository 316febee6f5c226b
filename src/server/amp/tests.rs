//! The Amp routes in-process, with peer addresses a single machine cannot produce over
//! loopback: `restrict-management-to-localhost` goes by the TCP peer, and forwarding
//! headers claiming a local client change nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use tower::ServiceExt;

use crate::config::{Ampcode, Config, EnvMap, Overrides};
use crate::server::state::AppState;

fn state(restrict: bool) -> (tempfile::TempDir, Arc<AppState>) {
    let d = tempfile::tempdir().unwrap();
    let c = Config {
        ampcode: Some(Ampcode {
            // Nothing listens there: a request that passes the restriction ends in a 502.
            upstream_url: "http://127.0.0.1:1".into(),
            restrict_management_to_localhost: restrict,
            ..Default::default()
        }),
        ..Config::default()
    };
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

async fn status(state: &Arc<AppState>, path: &str, peer: Option<&str>) -> StatusCode {
    let mut req = Request::builder()
        .uri(path)
        .header("x-forwarded-for", "127.0.0.1")
        .header("x-real-ip", "127.0.0.1")
        .header("forwarded", "for=127.0.0.1")
        .body(Body::empty())
        .unwrap();
    if let Some(p) = peer {
        let p: SocketAddr = p.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(p));
    }
    crate::server::router(state.clone())
        .oneshot(req)
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn restriction_goes_by_the_peer_address_never_forwarding_headers() {
    let (_d, on) = state(true);
    let (_d2, off) = state(false);
    let remote = Some("203.0.113.7:5000");
    let table = [
        // (state, path, peer, expected)
        (&on, "/api/user", remote, StatusCode::FORBIDDEN),
        (&on, "/api/threads/T-1", remote, StatusCode::FORBIDDEN),
        (&on, "/settings", remote, StatusCode::FORBIDDEN),
        (&on, "/auth/cli-login", remote, StatusCode::FORBIDDEN),
        (&on, "/api/user", None, StatusCode::FORBIDDEN),
        (
            &on,
            "/api/user",
            Some("127.0.0.1:5000"),
            StatusCode::BAD_GATEWAY,
        ),
        (
            &on,
            "/api/user",
            Some("[::1]:5000"),
            StatusCode::BAD_GATEWAY,
        ),
        (
            &on,
            "/api/user",
            Some("[::ffff:127.0.0.1]:5000"),
            StatusCode::BAD_GATEWAY,
        ),
        // Model calls are not management routes.
        (
            &on,
            "/api/provider/openai/v1/models",
            remote,
            StatusCode::BAD_GATEWAY,
        ),
        (&off, "/api/user", remote, StatusCode::BAD_GATEWAY),
        (&off, "/settings", remote, StatusCode::BAD_GATEWAY),
    ];
    for (st, path, peer, want) in table {
        assert_eq!(status(st, path, peer).await, want, "{path} from {peer:?}");
    }
}
