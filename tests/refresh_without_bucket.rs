//! The refresh lease exists to avoid spending a rotating token twice, not to make the
//! bucket a single point of failure: a bucket that accepts connections and never answers
//! (hang) or refuses them (refuse) costs a bounded wait, after which an expired token is
//! refreshed under the local lock, `auth list` says so, and the sync engine pushes the
//! new token when the bucket is back. The proactive loop refreshes each account on its
//! own, so one hung account never stalls the others.
#![allow(clippy::unwrap_used)]

mod common;
mod standin;
mod support_oauth;
mod support_s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cliproxy::auth::AuthFile;
use cliproxy::auth::credential::OAuthAccount;
use cliproxy::auth::lease::S3Store;
use cliproxy::auth::refresh::{self, RefreshEnv, RefreshError, Trigger, state_file};
use cliproxy::config::Config;
use cliproxy::store::s3::{S3Bucket, S3Settings, Timeouts};
use common::*;
use serde_json::json;
use standin::StandIn;
use support_oauth::AuthServer;

/// A loopback port that accepts connections and never answers (held open until the
/// returned task is dropped with the runtime).
async fn hanging_port() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (url, task)
}

/// A loopback port nothing listens on.
fn refusing_port() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

fn bucket_at(endpoint: &str) -> S3Store {
    S3Store::new(
        S3Bucket::new(
            &S3Settings {
                endpoint: endpoint.into(),
                region: "us-east-1".into(),
                bucket: support_s3::BUCKET.into(),
                access_key: "testing-access".into(),
                secret_key: "testing-secret".into(),
            },
            Timeouts::INTERACTIVE,
        ),
        "",
    )
}

fn ts(offset_secs: i64) -> String {
    cliproxy::auth::file::rfc3339(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs),
    )
}

/// Codex access tokens live about ten days: a file refreshed that long before its expiry.
const TEN_DAYS: i64 = 10 * 24 * 3600;

fn codex_account(dir: &Path, rt: &str, expires_in: i64) -> Arc<OAuthAccount> {
    let p = dir.join("codex-user@example.com.json");
    let v = json!({
        "id_token": "", "access_token": "at-old", "refresh_token": rt, "account_id": "acct-123",
        "last_refresh": ts(expires_in - TEN_DAYS), "email": "user@example.com", "type": "codex", "expired": ts(expires_in),
    });
    let bytes = serde_json::to_vec(&v).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    Arc::new(OAuthAccount::new(AuthFile::parse(&p, &bytes).unwrap()))
}

fn token_config(server: &AuthServer) -> Config {
    let mut c = Config::default();
    c.codex.token_url = server.url("/token");
    c
}

/// Refreshes an expired token with the bucket at `endpoint`: the bucket's error ends
/// the wait, the local lock guards the refresh, the new token is saved, the sync side is
/// told, and the state file says it happened without the bucket.
async fn expired_token_refreshes_without_the_bucket(endpoint: &str) {
    let server = AuthServer::start().await;
    server.seed_refresh_token("rt-0");
    let dir = tempfile::tempdir().unwrap();
    let acc = codex_account(dir.path(), "rt-0", -10);
    let cfg = token_config(&server);
    let client = reqwest::Client::new();
    let store = bucket_at(endpoint);
    let written: Arc<parking_lot::Mutex<Vec<PathBuf>>> = Default::default();
    let seen = written.clone();
    let tell_sync = move |p: &Path| seen.lock().push(p.to_path_buf());
    let on_write: &refresh::OnWrite = &tell_sync;
    let mut env = RefreshEnv::new(&client, &cfg, Some(on_write));
    env.remote = Some(&store);

    let token = refresh::refresh(&acc, Trigger::Expired, &env)
        .await
        .unwrap();

    let issued = server.inner.lock().issued.clone();
    assert_eq!(issued.len(), 1);
    assert_eq!(token.expose(), issued[0].0);
    let name = "codex-user@example.com.json";
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
    assert_eq!(saved["access_token"], issued[0].0);
    assert_eq!(saved["refresh_token"], issued[0].1);
    assert_eq!(*written.lock(), vec![dir.path().join(name)]);
    let states = state_file::load(dir.path());
    let entry = state_file::lookup(&states, &acc.file.read()).expect("state recorded");
    assert_eq!(entry.state, state_file::WITHOUT_BUCKET);
    assert!(entry.reason.contains("unreachable"), "{entry:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_refreshes_under_the_local_lock_when_the_bucket_hangs() {
    let (endpoint, _hang) = hanging_port().await;
    expired_token_refreshes_without_the_bucket(&endpoint).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_refreshes_under_the_local_lock_when_the_bucket_refuses() {
    expired_token_refreshes_without_the_bucket(&refusing_port()).await;
}

/// Ahead of expiry the refresh waits for the bucket (a lease-less refresh risks spending
/// the token another machine spends); close to expiry it goes ahead.
#[tokio::test(flavor = "multi_thread")]
async fn a_proactive_refresh_waits_for_the_bucket_until_the_token_is_close_to_expiry() {
    let server = AuthServer::start().await;
    server.seed_refresh_token("rt-far");
    server.seed_refresh_token("rt-near");
    let cfg = token_config(&server);
    let client = reqwest::Client::new();
    let store = bucket_at(&refusing_port());
    let mut env = RefreshEnv::new(&client, &cfg, None);
    env.remote = Some(&store);

    let far = tempfile::tempdir().unwrap();
    let acc = codex_account(far.path(), "rt-far", 3600);
    let e = refresh::refresh(&acc, Trigger::Proactive, &env)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RefreshError::Transient(m) if m.contains("deferred") && m.contains("bucket")),
        "{e:?}"
    );
    assert!(server.token_requests("refresh_token").is_empty());
    let states = state_file::load(far.path());
    let entry = state_file::lookup(&states, &acc.file.read()).expect("deferral recorded");
    assert_eq!(entry.state, "cooling_down");

    let near = tempfile::tempdir().unwrap();
    let acc = codex_account(near.path(), "rt-near", 5 * 60);
    refresh::refresh(&acc, Trigger::Proactive, &env)
        .await
        .unwrap();
    let spent: Vec<String> = server
        .token_requests("refresh_token")
        .iter()
        .map(|r| r.params["refresh_token"].clone())
        .collect();
    assert_eq!(spent, ["rt-near"]);
}

const NAME: &str = "claude-user@example.com.json";

/// The stand-in accepts only tokens it issued, so a 200 proves the refresh happened.
fn claude_standin(si: &StandIn) {
    si.seed_refresh_token("rt-0", "user@example.com");
    si.seed_access_token("not-the-expired-one");
}

fn claude_config(si: &StandIn, bucket_endpoint: &str, sync: &str) -> String {
    format!(
        "claude:\n  base-url: {}\n  token-url: {}\nsync:\n{sync}  ccs-dir: \"\"\n  dotfiles-dir: \"\"\n  bucket:\n    endpoint: {bucket_endpoint}\n    region: us-east-1\n    access-key: testing-access\n    secret-key: testing-secret\n",
        si.base_url,
        si.url("/v1/oauth/token")
    )
}

fn auth_list(g: &Gateway) -> String {
    let out = std::process::Command::new(BIN)
        .args([
            "--config",
            g.config_path().to_str().unwrap(),
            "auth",
            "list",
        ])
        .env("HOME", g.home())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_with_an_expired_token_while_the_bucket_hangs() {
    let (endpoint, _hang) = hanging_port().await;
    let si = StandIn::start().await;
    claude_standin(&si);
    // The engine is off: its start-up reconcile would wait out the hung bucket too, and
    // the lease is what is under test.
    let cfg = claude_config(&si, &endpoint, "  enabled: false\n");
    let file = claude_oauth_file("user@example.com", "at-expired", "rt-0", -5);
    let g = start(&cfg, &[(NAME, file)]).await;

    let r = post_messages(&g, &messages_body("claude-opus-4-5-20251101", false), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let issued = si.issued();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        g.read_auth(NAME)["access_token"],
        json!(issued[0].access_token)
    );
    assert!(
        g.logs().contains("refreshing under the local lock"),
        "{}",
        g.logs()
    );
    let list = auth_list(&g);
    assert!(list.contains("without the bucket's lease"), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refreshes_while_the_bucket_refuses_and_pushes_the_token_when_it_is_back() {
    let mut moto = require_moto!();
    moto.kill();
    let si = StandIn::start().await;
    claude_standin(&si);
    let cfg = claude_config(&si, &moto.endpoint(), "  poll-interval: 1\n");
    let file = claude_oauth_file("user@example.com", "at-expired", "rt-0", -5);
    let g = start(&cfg, &[(NAME, file)]).await;

    let r = post_messages(&g, &messages_body("claude-opus-4-5-20251101", false), &[]).await;
    assert_eq!(r.status(), 200, "{}", g.logs());
    let issued = si.issued();
    assert_eq!(issued.len(), 1);
    let list = auth_list(&g);
    assert!(list.contains("without the bucket's lease"), "{list}");

    moto.restart();
    moto.create_bucket().await;
    let want = json!(issued[0].access_token);
    eventually(
        "the sync engine pushes the refreshed token to the bucket",
        Duration::from_secs(30),
        async || {
            let got = moto.get(&format!("auths/{NAME}")).await;
            got.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["access_token"] == want)
        },
    )
    .await;
}

/// A Codex account whose token endpoint never answers comes first; the Claude account
/// behind it is still refreshed ahead of expiry.
#[tokio::test(flavor = "multi_thread")]
async fn one_hung_account_does_not_stall_the_proactive_refresh_of_the_others() {
    let (hang, _hang) = hanging_port().await;
    let server = AuthServer::start().await;
    server.seed_refresh_token("rt-claude");
    let cfg = format!(
        "claude:\n  token-url: {}\ncodex:\n  token-url: {hang}/token\n",
        server.url("/token")
    );
    let codex = json!({
        "type": "codex", "access_token": "at-codex", "refresh_token": "rt-codex",
        "email": "a@example.com", "expired": ts(3600), "last_refresh": ts(-100),
    });
    let claude = claude_oauth_file("z@example.com", "at-claude", "rt-claude", 3600);
    let g = start(
        &cfg,
        &[
            ("a-codex-a@example.com.json", codex),
            ("z-claude-z@example.com.json", claude),
        ],
    )
    .await;
    // The token request arrives before the file is rewritten: wait for both.
    eventually(
        "the claude account refreshed",
        Duration::from_secs(60),
        async || {
            server.token_requests("refresh_token").len() == 1
                && g.read_auth("z-claude-z@example.com.json")["access_token"] != "at-claude"
        },
    )
    .await;
    // Ordering, not timing: the Codex refresh (30 s request timeout) has not ended yet, so
    // the Claude refresh did not wait for it.
    let logs = g.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("a-codex-a@example.com.json") && l.contains("refresh failed")),
        "{logs}"
    );
    assert_ne!(
        g.read_auth("z-claude-z@example.com.json")["access_token"],
        "at-claude",
        "{}",
        g.logs()
    );
    assert_eq!(
        g.read_auth("a-codex-a@example.com.json")["access_token"],
        "at-codex"
    );
}
