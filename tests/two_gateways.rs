//! Two gateway processes sharing one bucket and one Claude account whose refresh token
//! rotates: every refresh token is spent exactly once (SPEC §7).
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_s3;

use std::time::Duration;

use common::*;
use serde_json::json;
use standin::StandIn;

const NAME: &str = "claude-shared@example.com.json";

async fn gateway(si: &StandIn, moto: &support_s3::Moto) -> (Gateway, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let local = home.path().to_string_lossy().to_string();
    let endpoint = moto.endpoint();
    let cfg = format!(
        "claude:\n  base-url: {}\n  token-url: {}\nsync:\n  poll-interval: 1\n  ccs-dir: \"\"\n  dotfiles-dir: \"\"\n",
        si.base_url,
        si.url("/v1/oauth/token")
    );
    let g = start_with_env(
        &cfg,
        &[],
        &[
            ("OBJECTSTORE_ENDPOINT", endpoint.as_str()),
            ("OBJECTSTORE_BUCKET", support_s3::BUCKET),
            ("OBJECTSTORE_ACCESS_KEY", "testing-access"),
            ("OBJECTSTORE_SECRET_KEY", "testing-secret"),
            ("OBJECTSTORE_LOCAL_PATH", local.as_str()),
        ],
    )
    .await;
    // With object storage on, the auth folder is <OBJECTSTORE_LOCAL_PATH>/objectstore/auths.
    let dir = home.keep().join("objectstore/auths");
    (g, dir)
}

fn local_file(dir: &std::path::Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(dir.join(NAME)).ok()?).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_sharing_a_bucket_spend_each_refresh_token_once() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let si = StandIn::start().await;
    si.set_expires_in(2);
    si.seed_refresh_token("rt-0", "shared@example.com");
    si.seed_access_token("not-this-one");
    let file = claude_oauth_file("shared@example.com", "at-0", "rt-0", -5);
    moto.put(
        &format!("auths/{NAME}"),
        &serde_json::to_vec(&file).unwrap(),
    )
    .await;

    let (g1, d1) = gateway(&si, &moto).await;
    let (g2, d2) = gateway(&si, &moto).await;
    let body = messages_body("claude-opus-4-5-20251101", false);
    for round in 0..6 {
        // Both see an expired token at about the same time.
        let (a, b) = tokio::join!(
            post_messages(&g1, &body, &[]),
            post_messages(&g2, &body, &[])
        );
        assert_eq!(a.status(), 200, "round {round} g1: {}", g1.logs());
        assert_eq!(b.status(), 200, "round {round} g2: {}", g2.logs());
        tokio::time::sleep(Duration::from_millis(2300)).await;
    }
    let token_calls = si.requests_to("/v1/oauth/token").len();
    let issued = si.issued();
    assert!(
        issued.len() >= 6,
        "each round needed a new token: {}",
        issued.len()
    );
    assert_eq!(
        token_calls,
        issued.len(),
        "a refresh token was presented twice (rejected reuse)"
    );
    let mut spent: Vec<_> = issued.iter().map(|i| i.spent.clone()).collect();
    spent.sort();
    spent.dedup();
    assert_eq!(spent.len(), issued.len(), "every refresh token spent once");

    // Both machines end on the same, latest token.
    eventually("both gateways hold the latest token", Duration::from_secs(10), async || {
        let latest = si.issued().last().unwrap().access_token.clone();
        let (f1, f2) = (local_file(&d1), local_file(&d2));
        matches!((f1, f2), (Some(a), Some(b)) if a["access_token"] == json!(latest) && b["access_token"] == json!(latest))
    })
    .await;
}

/// Every token is born expired, so every request through either gateway rotates the refresh
/// token once: both gateways race for the same account a hundred times (a thousand with
/// CLIPROXY_FAULTS_LONG=1), and the provider never sees a refresh token twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_rotate_one_account_a_hundred_times_without_invalid_grant() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let si = StandIn::start().await;
    si.set_expires_in(0);
    si.seed_refresh_token("rt-rot-seed-00000000", "shared@example.com");
    si.seed_access_token("not-this-one");
    let file = claude_oauth_file("shared@example.com", "at-0", "rt-rot-seed-00000000", -5);
    moto.put(
        &format!("auths/{NAME}"),
        &serde_json::to_vec(&file).unwrap(),
    )
    .await;
    let (g1, d1) = gateway(&si, &moto).await;
    let (g2, d2) = gateway(&si, &moto).await;
    let target = if std::env::var_os("CLIPROXY_FAULTS_LONG").is_some() {
        1000
    } else {
        100
    };
    let body = messages_body("claude-opus-4-5-20251101", false);
    let mut rounds = 0;
    while si.issued().len() < target {
        rounds += 1;
        assert!(rounds <= target, "too few rotations: {}", si.issued().len());
        let (a, b) = tokio::join!(
            post_messages(&g1, &body, &[]),
            post_messages(&g2, &body, &[])
        );
        assert_eq!(a.status(), 200, "round {rounds} g1: {}", g1.logs());
        assert_eq!(b.status(), 200, "round {rounds} g2: {}", g2.logs());
    }
    let issued = si.issued();
    assert_eq!(
        si.requests_to("/v1/oauth/token").len(),
        issued.len(),
        "a refresh token was presented twice"
    );
    let mut spent: Vec<_> = issued.iter().map(|i| i.spent.clone()).collect();
    spent.sort();
    spent.dedup();
    assert_eq!(spent.len(), issued.len(), "every refresh token spent once");
    for g in [&g1, &g2] {
        assert!(!g.logs().contains("invalid_grant"), "{}", g.logs());
    }
    eventually("both machines hold the last token", Duration::from_secs(15), async || {
        let last = si.issued().last().unwrap().refresh_token.clone();
        let (f1, f2) = (local_file(&d1), local_file(&d2));
        matches!((f1, f2), (Some(a), Some(b)) if a["refresh_token"] == json!(last) && b["refresh_token"] == json!(last))
    })
    .await;
    eprintln!(
        "faults: two gateways rotated one account {} times in {rounds} rounds, 0 invalid_grant",
        issued.len()
    );
}
