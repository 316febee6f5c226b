//! Sync benchmark (SPEC §11): 20 auth files, five locations on loopback (moto for the
//! bucket). Prints the no-change reconcile time and request counts, and the time for one
//! change to reach every location after the debounce. Usage:
//!   MOTO_ENDPOINT=http://127.0.0.1:PORT cargo run --release --example syncbench -- WORKDIR
//! (`bench/sync.sh` starts moto, runs this, and runs the seed's `aws s3 sync` cycle.)

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cliproxy::config::EnvMap;
use cliproxy::config::sync::{SyncConfig, resolve};
use cliproxy::sync::engine::Engine;

const BUCKET: &str = "cliproxyapi";

fn token(i: usize, access: &str) -> Vec<u8> {
    format!(
        "{{\"type\":\"claude\",\"email\":\"u{i}@example.com\",\"access_token\":\"{access}\",\"refresh_token\":\"rt-{i}-{access}\",\"last_refresh\":\"{}\",\"expired\":\"2030-01-01T00:00:00Z\"}}\n",
        jiff::Timestamp::now()
    )
    .into_bytes()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let endpoint = std::env::var("MOTO_ENDPOINT")?;
    let work = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "bench/out".into()),
    );
    let home = work.join("home");
    let _ = std::fs::remove_dir_all(&home);
    let local = home.join(".cli-proxy-api/objectstore/auths");
    let ccs = home.join(".ccs/cliproxy/auth");
    let dots = home.join("dotfiles/objectstore/auths");
    for d in [&local, &ccs, &dots] {
        cliproxy::store::ensure_private_dir(d)?;
    }
    for i in 0..20 {
        std::fs::write(local.join(format!("claude-u{i}.json")), token(i, "a"))?;
    }
    let env = EnvMap::from_pairs([
        ("HOME", home.to_string_lossy().to_string()),
        ("OBJECTSTORE_ENDPOINT", endpoint.clone()),
        ("OBJECTSTORE_BUCKET", BUCKET.to_string()),
        ("OBJECTSTORE_ACCESS_KEY", "bench".to_string()),
        ("OBJECTSTORE_SECRET_KEY", "bench".to_string()),
    ]);
    let debounce_ms = 300u64;
    let cfg: SyncConfig = serde_json::from_value(serde_json::json!({
        "debounce-ms": debounce_ms, "poll-interval": 3600,
        // Compares the dotfiles copy's bytes: opted out of encryption.
        "dotfiles": {"plaintext": true}
    }))?;
    let res = resolve(&cfg, &env, &local, None)?;
    let engine = Engine::new(res.clone())?;
    let first = engine.reconcile(false).await;
    anyhow::ensure!(first.ok(), "first reconcile failed: {:?}", first.errors);

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..20 {
        let r = engine.reconcile(false).await;
        times.push(r.elapsed);
        last = Some(r.counters);
    }
    times.sort();
    let c = last.unwrap_or_default();
    println!(
        "no-change reconcile (20 files, 5 locations): median {:.1} ms, p90 {:.1} ms; LIST={} GET={} PUT={} DELETE={} file writes={}",
        times[10].as_secs_f64() * 1e3,
        times[18].as_secs_f64() * 1e3,
        c.s3_list,
        c.s3_get,
        c.s3_put,
        c.s3_delete,
        c.file_write
    );
    println!("BENCH no_change_ms={:.2}", times[10].as_secs_f64() * 1e3);

    // One change, watched.
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let _h = cliproxy::sync::start_engine(res, cancel.clone(), &tracker, Duration::from_secs(10))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s3 = cliproxy::store::s3::client(
        &endpoint,
        "us-east-1",
        "bench",
        "bench",
        cliproxy::store::s3::Timeouts::BACKGROUND,
    );
    let mut samples = Vec::new();
    for round in 0..5 {
        let body = token(7, &format!("changed{round}"));
        let t0 = Instant::now();
        cliproxy::store::write_atomic(&local.join("claude-u7.json"), &body)?;
        let has = |p: &Path| std::fs::read(p).ok().as_deref() == Some(&body[..]);
        loop {
            if has(&ccs.join("claude-u7.json")) && has(&dots.join("claude-u7.json")) {
                let get = |k: &'static str| {
                    let s3 = s3.clone();
                    async move {
                        match s3.get_object().bucket(BUCKET).key(k).send().await {
                            Ok(o) => o.body.collect().await.ok().map(|b| b.into_bytes().to_vec()),
                            Err(_) => None,
                        }
                    }
                };
                let a = get("auths/claude-u7.json").await;
                let b = get("backup/auths/claude-u7.json").await;
                if a.as_deref() == Some(&body[..]) && b.as_deref() == Some(&body[..]) {
                    break;
                }
            }
            if t0.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("change did not propagate");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let total = t0.elapsed();
        samples.push(total.saturating_sub(Duration::from_millis(debounce_ms)));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    samples.sort();
    println!(
        "one change visible in all 5 locations: median {:.1} ms after the {debounce_ms} ms debounce (max {:.1} ms)",
        samples[2].as_secs_f64() * 1e3,
        samples[4].as_secs_f64() * 1e3
    );
    println!(
        "BENCH change_after_debounce_ms={:.2}",
        samples[2].as_secs_f64() * 1e3
    );
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}
