//! One token lifecycle for all providers: refresh per provider wire format, on 401,
//! single-flight, `invalid_grant` → needs login, the per-provider proactive leads in
//! the running gateway, and the cross-instance lease protocol (re-read, adopt if
//! fresher, else lease → refresh → write → push → release).
#![allow(clippy::unwrap_used)]

mod common;
mod support_oauth;
mod support_s3;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cliproxy::auth::AuthFile;
use cliproxy::auth::credential::{AccountState, OAuthAccount};
use cliproxy::auth::lease::{MemoryStore, RemoteStore};
use cliproxy::auth::refresh::{self, RefreshEnv, RefreshError, Trigger};
use cliproxy::config::{Config, Secret};
use cliproxy::store::s3::{S3Bucket, S3Settings, Timeouts};
use support_oauth::AuthServer;

fn config_for(server: &AuthServer) -> Config {
    let mut c = Config::default();
    c.claude.token_url = server.url("/token");
    c.codex.token_url = server.url("/token");
    c.gemini.token_url = server.url("/token");
    c.antigravity.token_url = server.url("/token");
    c
}

fn ts(offset_secs: i64) -> String {
    cliproxy::auth::file::rfc3339(
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs),
    )
}

fn account(dir: &Path, name: &str, v: &serde_json::Value) -> Arc<OAuthAccount> {
    let p = dir.join(name);
    let bytes = serde_json::to_vec(v).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    Arc::new(OAuthAccount::new(AuthFile::parse(&p, &bytes).unwrap()))
}

/// Codex access tokens live about ten days: a file refreshed that long before its expiry.
const TEN_DAYS: i64 = 10 * 24 * 3600;

fn codex_file(access: &str, rt: &str, expires_in: i64) -> serde_json::Value {
    serde_json::json!({
        "id_token": "", "access_token": access, "refresh_token": rt, "account_id": "acct-123",
        "last_refresh": ts(expires_in - TEN_DAYS), "email": "user@example.com", "type": "codex", "expired": ts(expires_in),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_refresh_on_401_is_form_encoded_single_flight_and_replays_once() {
    let server = AuthServer::start().await;
    server.seed_refresh_token("rt-0");
    let dir = tempfile::tempdir().unwrap();
    let acc = account(
        dir.path(),
        "codex-user@example.com.json",
        &codex_file("at-old", "rt-0", 3600),
    );
    let cfg = config_for(&server);
    let client = reqwest::Client::new();
    let env = RefreshEnv::new(&client, &cfg, None);
    // Ten requests see a 401 on the same token at once: one refresh.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let acc = acc.clone();
        let cfg = cfg.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let env = RefreshEnv::new(&client, &cfg, None);
            refresh::refresh(&acc, Trigger::Unauthorized(Secret::new("at-old")), &env)
                .await
                .unwrap()
                .expose()
                .to_string()
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    let issued = server.inner.lock().issued.clone();
    assert_eq!(issued.len(), 1);
    assert!(got.iter().all(|t| *t == issued[0].0));
    let tr = server.token_requests("refresh_token");
    assert_eq!(tr.len(), 1);
    assert!(tr[0].content_type.contains("x-www-form-urlencoded"));
    assert_eq!(tr[0].params["scope"], "openid profile email");
    assert_eq!(tr[0].params["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    let f: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("codex-user@example.com.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(f["access_token"], issued[0].0);
    assert_eq!(f["refresh_token"], issued[0].1);
    assert_eq!(f["account_id"], "acct-123");
    // A 401 on the *new* token refreshes again (one refresh per failure, not a loop).
    let t = refresh::refresh(&acc, Trigger::Unauthorized(Secret::new(&issued[0].0)), &env)
        .await
        .unwrap();
    assert_eq!(server.token_requests("refresh_token").len(), 2);
    assert_eq!(t.expose(), server.inner.lock().issued[1].0);
}

#[tokio::test(flavor = "multi_thread")]
async fn google_refresh_sends_the_client_secret_and_updates_the_nested_token() {
    let server = AuthServer::start().await;
    server.seed_refresh_token("g-rt");
    server.seed_refresh_token("a-rt");
    let dir = tempfile::tempdir().unwrap();
    let gem = account(
        dir.path(),
        "user@example.com-proj.json",
        &serde_json::json!({"type": "gemini", "email": "user@example.com", "project_id": "proj",
            "token": {"access_token": "g-at", "refresh_token": "g-rt", "expiry": ts(-5), "token_type": "Bearer", "scopes": ["x"]}}),
    );
    let ag = account(
        dir.path(),
        "antigravity-user@example.com.json",
        &serde_json::json!({"type": "antigravity", "access_token": "a-at", "refresh_token": "a-rt",
            "expires_in": 3599, "timestamp": 1, "expired": ts(-5), "email": "user@example.com"}),
    );
    let cfg = config_for(&server);
    let client = reqwest::Client::new();
    let env = RefreshEnv::new(&client, &cfg, None);
    let t = refresh::refresh(&gem, Trigger::Expired, &env)
        .await
        .unwrap();
    let f = gem.file.read().clone();
    assert_eq!(f.fields["token"]["access_token"], t.expose());
    assert_eq!(f.fields["token"]["scopes"], serde_json::json!(["x"]));
    assert!(f.expiry().unwrap() > jiff::Timestamp::now());
    refresh::refresh(&ag, Trigger::Expired, &env).await.unwrap();
    let f = ag.file.read().clone();
    assert!(f.int_field("timestamp").unwrap() > 1);
    assert_eq!(f.int_field("expires_in"), Some(3600));
    let tr = server.token_requests("refresh_token");
    assert_eq!(
        tr[0].params["client_secret"],
        "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"
    );
    assert_eq!(
        tr[1].params["client_secret"],
        "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"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_grant_marks_needs_login_once_and_auth_list_shows_it() {
    let server = AuthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let acc = account(
        dir.path(),
        "codex-user@example.com.json",
        &codex_file("at", "rt-unknown", -10),
    );
    let cfg = config_for(&server);
    let client = reqwest::Client::new();
    let env = RefreshEnv::new(&client, &cfg, None);
    let e = refresh::refresh(&acc, Trigger::Expired, &env)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RefreshError::NeedsLogin(m) if m.contains("invalid_grant")),
        "{e:?}"
    );
    assert!(matches!(&*acc.state.read(), AccountState::NeedsLogin(_)));
    // Not retried in a loop.
    let _ = refresh::refresh(&acc, Trigger::Expired, &env).await;
    assert_eq!(server.token_requests("refresh_token").len(), 1);
    // The CLI sees it.
    let cfgp = dir.path().join("config.yaml");
    std::fs::write(&cfgp, format!("auth-dir: {}\n", dir.path().display())).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--config", cfgp.to_str().unwrap(), "auth", "list"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("needs login") && text.contains("cliproxy login codex"),
        "{text}"
    );
}

/// A management edit that lands on the file while its refresh is at the token endpoint
/// survives the refresh's write, and the refresh's rotated token is what the file holds.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_made_during_a_refresh_is_kept_with_the_new_token() {
    let server = AuthServer::start().await;
    server.inner.lock().refresh_delay_ms = 400;
    server.seed_refresh_token("rt-0");
    let dir = tempfile::tempdir().unwrap();
    let name = "codex-user@example.com.json";
    let acc = account(dir.path(), name, &codex_file("at-old", "rt-0", 3600));
    let cfg = config_for(&server);
    let client = reqwest::Client::new();
    let refreshing = {
        let (acc, cfg, client) = (acc.clone(), cfg.clone(), client.clone());
        tokio::spawn(async move {
            let env = RefreshEnv::new(&client, &cfg, None);
            refresh::refresh(
                &acc,
                Trigger::Unauthorized(Secret::new("at-old".to_string())),
                &env,
            )
            .await
        })
    };
    // Wait until the token request is out, then edit the file as PATCH would.
    for _ in 0..100 {
        if !server.token_requests("refresh_token").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.token_requests("refresh_token").len(), 1);
    let mut edited = codex_file("at-old", "rt-0", 3600);
    edited["prefix"] = serde_json::json!("team");
    std::fs::write(dir.path().join(name), serde_json::to_vec(&edited).unwrap()).unwrap();
    let token = refreshing.await.unwrap().unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
    let last = server.inner.lock().issued.last().cloned().unwrap();
    assert_eq!(token.expose(), last.0);
    assert_eq!(on_disk["access_token"], last.0);
    assert_eq!(on_disk["refresh_token"], last.1);
    assert_eq!(on_disk["prefix"], "team", "{on_disk}");
}

/// Two instances (separate folders and memories) share one bucket and one token endpoint
/// that rejects reuse; each rotation both see a 401 at once.
#[tokio::test(flavor = "multi_thread")]
async fn two_refreshers_sharing_a_bucket_spend_each_refresh_token_once() {
    let server = AuthServer::start().await;
    server.inner.lock().refresh_delay_ms = 30;
    server.inner.lock().reuse_error = "refresh_token_reused".into();
    server.seed_refresh_token("rt-0");
    let store = MemoryStore::new();
    lease_rounds(&server, &store, 15).await;
}

async fn lease_rounds(server: &AuthServer, store: &dyn RemoteStore, rounds: usize) {
    let name = "codex-user@example.com.json";
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = account(d1.path(), name, &codex_file("at-0", "rt-0", 3600));
    let b = account(d2.path(), name, &codex_file("at-0", "rt-0", 3600));
    let cfg = config_for(server);
    let client = reqwest::Client::new();
    for round in 0..rounds {
        let ta = a.access_token().unwrap();
        let tb = b.access_token().unwrap();
        let run = |acc: Arc<OAuthAccount>, failed: Secret| {
            let cfg = &cfg;
            let client = &client;
            async move {
                let mut env = RefreshEnv::new(client, cfg, None);
                env.remote = Some(store);
                refresh::refresh(&acc, Trigger::Unauthorized(failed), &env).await
            }
        };
        let (ra, rb) = tokio::join!(run(a.clone(), ta), run(b.clone(), tb));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.expose(), rb.expose(), "round {round}");
        assert_eq!(
            server.token_requests("refresh_token").len(),
            round + 1,
            "round {round}"
        );
    }
    let issued = server.inner.lock().issued.clone();
    assert_eq!(issued.len(), rounds);
    let last = issued.last().unwrap();
    for d in [&d1, &d2] {
        let f: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.path().join(name)).unwrap()).unwrap();
        assert_eq!(f["access_token"], last.0);
        assert_eq!(f["refresh_token"], last.1);
    }
    assert_eq!(
        server.current_refresh_token().as_deref(),
        Some(last.1.as_str())
    );
    // The lease is released.
    assert!(
        store
            .get(&format!("config/leases/{name}"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Two processes sharing one auth folder without a bucket: the local lock plus a
/// re-read of the file keeps them from spending the same refresh token.
#[tokio::test(flavor = "multi_thread")]
async fn two_refreshers_sharing_a_folder_use_the_local_lock() {
    let server = AuthServer::start().await;
    server.inner.lock().refresh_delay_ms = 30;
    server.seed_refresh_token("rt-0");
    let dir = tempfile::tempdir().unwrap();
    let name = "codex-user@example.com.json";
    let a = account(dir.path(), name, &codex_file("at-0", "rt-0", 3600));
    let b = Arc::new(OAuthAccount::new(a.file.read().clone()));
    let cfg = config_for(&server);
    let client = reqwest::Client::new();
    for round in 0..5 {
        let ta = a.access_token().unwrap();
        let tb = b.access_token().unwrap();
        let env = RefreshEnv::new(&client, &cfg, None);
        let (ra, rb) = tokio::join!(
            refresh::refresh(&a, Trigger::Unauthorized(ta), &env),
            refresh::refresh(&b, Trigger::Unauthorized(tb), &env)
        );
        assert_eq!(ra.unwrap().expose(), rb.unwrap().expose());
        assert_eq!(server.token_requests("refresh_token").len(), round + 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_bucket_lease_protocol() {
    let m = require_moto!();
    let store = cliproxy::auth::lease::S3Store::new(
        S3Bucket::new(
            &S3Settings {
                endpoint: m.endpoint(),
                region: "us-east-1".into(),
                bucket: support_s3::BUCKET.into(),
                access_key: "test".into(),
                secret_key: "test".into(),
            },
            Timeouts::INTERACTIVE,
        ),
        "",
    );
    m.create_bucket().await;
    let server = AuthServer::start().await;
    server.inner.lock().refresh_delay_ms = 30;
    server.inner.lock().reuse_error = "refresh_token_reused".into();
    server.seed_refresh_token("rt-0");
    lease_rounds(&server, &store, 8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refreshes_each_provider_by_its_lead() {
    let server = AuthServer::start().await;
    for rt in [
        "rt-codex-due",
        "rt-codex-later",
        "rt-ag-due",
        "rt-gem-later",
        "rt-gem-due",
    ] {
        server.seed_refresh_token(rt);
    }
    let day = 24 * 3600;
    let files = [
        (
            "codex-due@example.com.json",
            codex_file("a1", "rt-codex-due", 4 * day),
        ),
        (
            "codex-later@example.com.json",
            codex_file("a2", "rt-codex-later", 6 * day),
        ),
        (
            "antigravity-due@example.com.json",
            serde_json::json!({"type": "antigravity", "access_token": "a3", "refresh_token": "rt-ag-due",
                "expires_in": 3599, "timestamp": 1, "expired": ts(4 * 60), "email": "due@example.com"}),
        ),
        (
            "later@example.com-p.json",
            serde_json::json!({"type": "gemini", "email": "later@example.com", "project_id": "p",
                "token": {"access_token": "a4", "refresh_token": "rt-gem-later", "expiry": ts(3600)}}),
        ),
        (
            "due@example.com-p.json",
            serde_json::json!({"type": "gemini", "email": "due@example.com", "project_id": "p",
                "token": {"access_token": "a5", "refresh_token": "rt-gem-due", "expiry": ts(-1)}}),
        ),
    ];
    let refs: Vec<(&str, serde_json::Value)> = files.iter().map(|(n, v)| (*n, v.clone())).collect();
    let g = common::start(&server.config_yaml(), &refs).await;
    common::eventually(
        "due tokens refreshed",
        Duration::from_secs(10),
        async || server.token_requests("refresh_token").len() >= 3,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let spent: Vec<String> = server
        .token_requests("refresh_token")
        .iter()
        .map(|r| r.params["refresh_token"].clone())
        .collect();
    let mut sorted = spent.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["rt-ag-due", "rt-codex-due", "rt-gem-due"],
        "{}",
        g.logs()
    );
    assert_ne!(
        g.read_auth("codex-due@example.com.json")["access_token"],
        "a1"
    );
    assert_eq!(
        g.read_auth("codex-later@example.com.json")["access_token"],
        "a2"
    );
    assert_eq!(
        g.read_auth("later@example.com-p.json")["token"]["access_token"],
        "a4"
    );
    assert_ne!(
        g.read_auth("due@example.com-p.json")["token"]["access_token"],
        "a5"
    );
}
