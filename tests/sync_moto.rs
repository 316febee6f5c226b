//! Sync engine against a real S3-compatible server (moto) on loopback.
#![allow(clippy::unwrap_used)]

mod support_s3;

use std::time::Duration;

use support_s3::{Machine, read, token, wait_until};

const T1: &str = "2026-01-01T00:00:00Z";
const T2: &str = "2026-01-02T00:00:00Z";
const T3: &str = "2026-01-03T00:00:00Z";

fn seed(m: &Machine, dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("claude-u{i}.json")),
            token(&format!("u{i}@e.com"), &format!("at{i}"), T1),
        )
        .unwrap();
    }
    let _ = m;
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_machine_bootstraps_from_dotfiles_and_uploads() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.dotfiles(), 3);
    let out = m.cmd(&["sync", "once"]);
    assert!(out.status.success());
    for i in 0..3 {
        let name = format!("claude-u{i}.json");
        let want = read(&m.dotfiles().join(&name)).unwrap();
        assert_eq!(read(&m.local().join(&name)).as_ref(), Some(&want));
        assert_eq!(read(&m.ccs().join(&name)).as_ref(), Some(&want));
        assert_eq!(
            moto.get(&format!("auths/{name}")).await.as_ref(),
            Some(&want)
        );
        assert_eq!(
            moto.get(&format!("backup/auths/{name}")).await.as_ref(),
            Some(&want)
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(m.local().join("claude-u0.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn object_deleted_from_primary_is_restored_from_backup() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 3);
    let e = m.engine();
    assert!(e.reconcile(false).await.ok());
    moto.delete("auths/claude-u1.json").await;
    // Also on a machine that has lost its local copy and state: backup alone brings it back.
    let r = e.reconcile(false).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        moto.get("auths/claude-u1.json").await,
        read(&m.local().join("claude-u1.json"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wiped_local_folder_is_restored_from_the_bucket() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 3);
    assert!(m.cmd(&["sync", "once"]).status.success());
    let before = read(&m.local().join("claude-u2.json")).unwrap();
    std::fs::remove_dir_all(m.local()).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(
        read(&m.local().join("claude-u2.json")),
        Some(before.clone())
    );
    // A brand-new machine (no state, no dotfiles) recovers everything from the bucket too.
    let fresh = Machine::new(&moto.endpoint());
    assert!(fresh.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&fresh.local().join("claude-u2.json")), Some(before));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_restore_rolls_back_to_an_older_version() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    let name = "claude-u0.json";
    let old = token("u0@e.com", "old", T1);
    let new = token("u0@e.com", "new", T2);
    std::fs::create_dir_all(m.local()).unwrap();
    std::fs::write(m.local().join(name), &old).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    std::fs::write(m.local().join(name), &new).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.dotfiles().join(name)), Some(new.clone()));
    // The user checks the old version out of git history in dotfiles, then restores it.
    std::fs::write(m.dotfiles().join(name), &old).unwrap();
    let out = m.cmd(&["auth", "restore", name, "--from", "dotfiles"]);
    assert!(out.status.success());
    assert_eq!(read(&m.local().join(name)), Some(old.clone()));
    assert_eq!(read(&m.ccs().join(name)), Some(old.clone()));
    assert_eq!(moto.get(&format!("auths/{name}")).await, Some(old.clone()));
    assert_eq!(
        moto.get(&format!("backup/auths/{name}")).await,
        Some(old.clone())
    );
    // And it stays: another run does not bring the newer one back.
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&m.local().join(name)), Some(old));
}

#[tokio::test(flavor = "multi_thread")]
async fn local_refresh_beats_stale_remote_copy() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 2);
    let e = m.engine();
    assert!(e.reconcile(false).await.ok());
    let fresh = token("u0@e.com", "refreshed", T3);
    std::fs::write(m.local().join("claude-u0.json"), &fresh).unwrap();
    assert!(e.reconcile(false).await.ok());
    assert_eq!(read(&m.local().join("claude-u0.json")), Some(fresh.clone()));
    assert_eq!(read(&m.ccs().join("claude-u0.json")), Some(fresh.clone()));
    assert_eq!(
        read(&m.dotfiles().join("claude-u0.json")),
        Some(fresh.clone())
    );
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(fresh.clone()));
    assert_eq!(moto.get("backup/auths/claude-u0.json").await, Some(fresh));
}

#[tokio::test(flavor = "multi_thread")]
async fn second_reconcile_makes_no_writes_and_one_list_per_prefix() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 20);
    let e = m.engine();
    let first = e.reconcile(false).await;
    assert!(first.ok());
    assert!(first.counters.writes() > 0);
    let second = e.reconcile(false).await;
    assert!(second.ok());
    assert_eq!(second.counters.writes(), 0, "{:?}", second.counters);
    assert_eq!(second.counters.s3_put, 0);
    assert_eq!(second.counters.file_write, 0);
    assert_eq!(
        second.counters.s3_get, 0,
        "unchanged ETags are never fetched"
    );
    assert_eq!(
        second.counters.s3_list, 3,
        "one LIST per prefix (auths, backup, config)"
    );
    // A fresh engine (new process) with the persisted state: still nothing to do.
    let e2 = m.engine();
    let third = e2.reconcile(false).await;
    assert_eq!(third.counters.writes(), 0, "{:?}", third.counters);
    // The binary says so as well.
    let out = m.cmd(&["sync", "once"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("put=0") && s.contains("file writes=0"), "{s}");
}

async fn watching(
    m: &Machine,
    debounce_ms: u64,
) -> (
    cliproxy::sync::SyncHandle,
    tokio_util::sync::CancellationToken,
    tokio_util::task::TaskTracker,
) {
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let h = cliproxy::sync::start_engine(
        m.resolved(debounce_ms, 1),
        cancel.clone(),
        &tracker,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    (h, cancel, tracker)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_settles_without_echo() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 3);
    let (h, cancel, _t) = watching(&m, 200).await;
    let e = h.engine().unwrap().clone();
    let fresh = token("u1@e.com", "changed", T2);
    std::fs::write(m.local().join("claude-u1.json"), &fresh).unwrap();
    let ok = wait_until(Duration::from_secs(10), || {
        read(&m.ccs().join("claude-u1.json")).as_ref() == Some(&fresh)
            && read(&m.dotfiles().join("claude-u1.json")).as_ref() == Some(&fresh)
    })
    .await;
    assert!(ok, "change did not reach the folders");
    assert_eq!(
        moto.get("backup/auths/claude-u1.json").await,
        Some(fresh.clone())
    );
    // A change made in CCS flows back too.
    let ccs_new = token("u2@e.com", "from-ccs", T3);
    std::fs::write(m.ccs().join("claude-u2.json"), &ccs_new).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || read(
            &m.local().join("claude-u2.json")
        )
        .as_ref()
            == Some(&ccs_new))
        .await
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = e.counters();
    // Quiet window (polls every second run meanwhile): no writes anywhere.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = e.counters().since(&before);
    assert_eq!(d.writes(), 0, "echo: {d:?}");
    assert!(d.runs >= 1, "the poll keeps running: {d:?}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn burst_of_writes_uploads_a_bounded_number_and_the_last_wins() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 1);
    let (h, cancel, _t) = watching(&m, 300).await;
    let e = h.engine().unwrap().clone();
    let before = e.counters();
    let mut last = Vec::new();
    for i in 0..50 {
        last = token("u0@e.com", &format!("burst{i}"), T2);
        cliproxy::store::write_atomic(&m.local().join("claude-u0.json"), &last).unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ok = wait_until(Duration::from_secs(15), || {
        read(&m.ccs().join("claude-u0.json")).as_ref() == Some(&last)
    })
    .await;
    assert!(ok);
    assert!(wait_until(Duration::from_secs(5), || true).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(last.clone()));
    assert_eq!(moto.get("backup/auths/claude-u0.json").await, Some(last));
    let d = e.counters().since(&before);
    assert!(d.s3_put <= 10, "too many uploads for a burst: {d:?}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_json_is_never_propagated_over_a_valid_copy() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 2);
    let e = m.engine();
    assert!(e.reconcile(false).await.ok());
    let good = read(&m.local().join("claude-u0.json")).unwrap();
    std::fs::write(m.local().join("claude-u0.json"), &good[..good.len() / 2]).unwrap();
    // And a truncated object appears in the bucket for the other file.
    let good1 = read(&m.local().join("claude-u1.json")).unwrap();
    moto.put("auths/claude-u1.json", b"{\"type\":\"clau").await;
    let r = e.reconcile(false).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(good.clone()));
    assert_eq!(read(&m.ccs().join("claude-u0.json")), Some(good.clone()));
    assert_eq!(
        read(&m.local().join("claude-u0.json")),
        Some(good),
        "repaired from a valid copy"
    );
    assert_eq!(read(&m.local().join("claude-u1.json")), Some(good1.clone()));
    assert_eq!(moto.get("auths/claude-u1.json").await, Some(good1));
    // The broken version is kept, not discarded.
    let kept = std::fs::read_dir(m.home.path().join(".cli-proxy-api/sync-state/conflicts"))
        .unwrap()
        .count();
    assert!(kept >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn removed_account_stays_removed_until_a_new_login() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 3);
    assert!(m.cmd(&["sync", "once"]).status.success());
    let name = "claude-u1.json";
    let out = m.cmd(&["auth", "remove", name]);
    assert!(out.status.success());
    assert!(read(&m.local().join(name)).is_none());
    assert!(read(&m.ccs().join(name)).is_none());
    assert!(read(&m.dotfiles().join(name)).is_none());
    assert!(moto.get(&format!("auths/{name}")).await.is_none());
    assert!(
        moto.get(&format!("backup/auths/{name}")).await.is_some(),
        "backup is never deleted from"
    );
    assert!(
        moto.get(&format!("config/tombstones/{name}"))
            .await
            .is_some()
    );
    // A stale copy reappears in CCS and dotfiles (e.g. a git checkout): not resurrected.
    let stale = token("u1@e.com", "at1", T1);
    std::fs::write(m.ccs().join(name), &stale).unwrap();
    std::fs::write(m.dotfiles().join(name), &stale).unwrap();
    // Another machine that still has the old copy locally, and no state.
    let other = Machine::new(&moto.endpoint());
    std::fs::create_dir_all(other.local()).unwrap();
    std::fs::write(other.local().join(name), &stale).unwrap();
    for mm in [&m, &other] {
        assert!(mm.cmd(&["sync", "once"]).status.success());
    }
    assert!(read(&m.local().join(name)).is_none());
    assert!(read(&m.ccs().join(name)).is_none());
    assert!(read(&other.local().join(name)).is_none());
    assert!(moto.get(&format!("auths/{name}")).await.is_none());
    // A new login of the same name comes back everywhere.
    let relogin = token("u1@e.com", "relogin", &jiff::Timestamp::now().to_string());
    std::fs::write(m.local().join(name), &relogin).unwrap();
    assert!(m.cmd(&["sync", "once"]).status.success());
    assert_eq!(
        moto.get(&format!("auths/{name}")).await,
        Some(relogin.clone())
    );
    assert!(
        moto.get(&format!("config/tombstones/{name}"))
            .await
            .is_none()
    );
    assert!(other.cmd(&["sync", "once"]).status.success());
    assert_eq!(read(&other.local().join(name)), Some(relogin));
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_delete_guard_stops_the_run() {
    let moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 4);
    assert!(m.cmd(&["sync", "once"]).status.success());
    // A broken machine tombstones three of four accounts.
    for i in 0..3 {
        let name = format!("claude-u{i}.json");
        let hash = cliproxy::store::sha256_hex(&read(&m.local().join(&name)).unwrap());
        let t = serde_json::json!({"name": name, "deleted_at": "2030-01-01T00:00:00Z", "hash": hash, "machine": "broken"});
        moto.put(
            &format!("config/tombstones/{name}"),
            t.to_string().as_bytes(),
        )
        .await;
    }
    let out = m.cmd(&["sync", "once"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would delete 3 of 4"));
    for i in 0..4 {
        assert!(read(&m.local().join(format!("claude-u{i}.json"))).is_some());
        assert!(moto.get(&format!("auths/claude-u{i}.json")).await.is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_engines_sharing_a_bucket_converge() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("cliproxy=info")
        .with_test_writer()
        .try_init();
    let moto = require_moto!();
    moto.create_bucket().await;
    let a = Machine::new(&moto.endpoint());
    let b = Machine::new(&moto.endpoint());
    seed(&a, &a.local(), 3);
    let (ha, ca, _ta) = watching(&a, 150).await;
    let (hb, cb, _tb) = watching(&b, 150).await;
    // B got everything from the bucket at start or through its poll.
    assert!(
        wait_until(Duration::from_secs(10), || read(
            &b.local().join("claude-u2.json")
        )
        .is_some())
        .await
    );
    // Both change the same file at once, differently; plus one new file each.
    let va = token("u0@e.com", "from-a", T2);
    let vb = token("u0@e.com", "from-b", T3);
    std::fs::write(a.local().join("claude-u0.json"), &va).unwrap();
    std::fs::write(b.local().join("claude-u0.json"), &vb).unwrap();
    std::fs::write(a.local().join("codex-a.json"), token("a@e.com", "a", T1)).unwrap();
    std::fs::write(b.local().join("codex-b.json"), token("b@e.com", "b", T1)).unwrap();
    ha.notify_local_change("claude-u0.json");
    hb.notify_local_change("claude-u0.json");
    let names = [
        "claude-u0.json",
        "claude-u1.json",
        "claude-u2.json",
        "codex-a.json",
        "codex-b.json",
    ];
    let converged = wait_until(Duration::from_secs(20), || {
        names.iter().all(|n| {
            let x = read(&a.local().join(n));
            x.is_some() && x == read(&b.local().join(n))
        })
    })
    .await;
    assert!(converged, "did not converge");
    // The freshest token (B's, later last_refresh) won on both.
    assert_eq!(read(&a.local().join("claude-u0.json")), Some(vb.clone()));
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(vb));
    ca.cancel();
    cb.cancel();
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_down_keeps_local_sync_and_converges_when_back() {
    let mut moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 2);
    let e = m.engine();
    assert!(e.reconcile(false).await.ok());
    moto.kill();
    let fresh = token("u0@e.com", "offline-refresh", T3);
    std::fs::write(m.local().join("claude-u0.json"), &fresh).unwrap();
    let started = std::time::Instant::now();
    let r = e.reconcile(false).await;
    assert!(!r.ok());
    assert!(r.errors.iter().any(|x| x.contains("unreachable")), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(
        read(&m.ccs().join("claude-u0.json")),
        Some(fresh.clone()),
        "local locations keep syncing"
    );
    // The binary reports the outage without crashing.
    let out = m.cmd(&["sync", "once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
    // The bucket comes back (empty: moto keeps no data) and everything converges.
    moto.restart();
    moto.create_bucket().await;
    let r = e.reconcile(true).await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(fresh.clone()));
    assert_eq!(moto.get("backup/auths/claude-u0.json").await, Some(fresh));
    assert!(moto.get("auths/claude-u1.json").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_made_during_an_outage_beats_an_older_remote_write_made_meanwhile() {
    let mut moto = require_moto!();
    moto.create_bucket().await;
    let m = Machine::new(&moto.endpoint());
    seed(&m, &m.local(), 2);
    let e = m.engine();
    assert!(e.reconcile(false).await.ok());
    // The bucket goes away; this machine refreshes (fresher token, T3).
    moto.kill();
    let fresh = token("u0@e.com", "local-refresh", T3);
    std::fs::write(m.local().join("claude-u0.json"), &fresh).unwrap();
    // Two runs during the outage (the poller keeps running): the second has nothing to write.
    assert!(!e.reconcile(false).await.ok());
    assert!(!e.reconcile(false).await.ok());
    // Meanwhile another machine wrote an older, different copy (T2) to the bucket.
    moto.restart();
    moto.create_bucket().await;
    let older = token("u0@e.com", "other-machine", T2);
    moto.put("auths/claude-u0.json", &older).await;
    moto.put("backup/auths/claude-u0.json", &older).await;
    moto.put("auths/claude-u1.json", &token("u1@e.com", "at1", T1))
        .await;
    let r = e.reconcile(true).await;
    assert!(r.errors.is_empty(), "{r:?}");
    // Both sides changed since the last full sync: the fresher token wins everywhere.
    assert_eq!(read(&m.local().join("claude-u0.json")), Some(fresh.clone()));
    assert_eq!(moto.get("auths/claude-u0.json").await, Some(fresh.clone()));
    assert_eq!(moto.get("backup/auths/claude-u0.json").await, Some(fresh));
}
