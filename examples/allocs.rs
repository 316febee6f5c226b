//! Allocations and CPU per request on the gateway's serving thread, per scenario.
//!
//! `cargo run --release --example allocs -- [--requests N] [--scenario NAME]...`
//!
//! The real router and connection loop (`server::conn::serve`, as `serve` runs it: one
//! current-thread runtime per serving thread) answer real HTTP over loopback, with the
//! stand-in upstream (`tests/standin`) in the same process on its own thread and the
//! client on the main thread. Only the serving thread is counted: allocations through
//! `allocation_counter` (per thread), CPU from `/proc/thread-self/schedstat` (on-CPU
//! nanoseconds, user + kernel). Each scenario runs twice, on fresh serving threads, with
//! N and 2N requests; the difference divided by N is the cost of one request, without the
//! fixed costs (runtime, router, first connection, client pools). Allocation counts are
//! deterministic to within a few per request; CPU moves with the machine's load.
//!
//! Usage is recorded (into a temp folder) and metrics are installed, as in `serve`.

#[path = "../tests/standin/mod.rs"]
mod standin;

use std::sync::Arc;
use std::time::Duration;

use cliproxy::config::{EnvMap, Overrides};
use cliproxy::server::{self, AppState};
use tokio_util::sync::CancellationToken;

const CLIENT_KEY: &str = "bench-client-key";
const MODEL: &str = "claude-sonnet-4-5-20250929";

struct Scenario {
    name: &'static str,
    path: &'static str,
    body: String,
}

fn scenarios() -> Vec<Scenario> {
    let anthropic = |extra: &str| {
        format!(
            r#"{{"model":"{MODEL}","max_tokens":256,{extra}"messages":[{{"role":"user","content":"Say hello."}}]}}"#
        )
    };
    let chat = |extra: &str| {
        format!(
            r#"{{"model":"{MODEL}","max_tokens":256,{extra}"messages":[{{"role":"user","content":"Say hello."}}]}}"#
        )
    };
    vec![
        Scenario {
            name: "same-dialect-json",
            path: "/v1/messages?beta=true",
            body: anthropic(""),
        },
        Scenario {
            name: "same-dialect-stream",
            path: "/v1/messages?beta=true",
            body: anthropic(r#""stream":true,"#),
        },
        Scenario {
            name: "translated-json",
            path: "/v1/chat/completions",
            body: chat(""),
        },
        Scenario {
            name: "translated-stream",
            path: "/v1/chat/completions",
            body: chat(r#""stream":true,"#),
        },
    ]
}

struct Cost {
    allocs: u64,
    bytes: u64,
    cpu_ns: u64,
}

/// On-CPU nanoseconds of the calling thread.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Starts one serving thread like `serve` does and returns its address, its stop
/// switch and what it cost once stopped.
fn serving_thread(
    state: Arc<AppState>,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    std::thread::JoinHandle<Cost>,
) {
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        tx.send(listener.local_addr().expect("addr"))
            .expect("send addr");
        let cpu0 = thread_cpu_ns();
        let info = allocation_counter::measure(|| {
            rt.block_on(async move {
                let app = server::router(state.clone());
                let slots = server::conn::Slots::new(1024);
                let limits = || server::conn::ConnLimits {
                    header_read: Duration::from_secs(30),
                    idle: Duration::from_secs(90),
                };
                server::conn::serve(listener, app, slots, limits, cancel).await;
            });
        });
        Cost {
            allocs: info.count_total,
            bytes: info.bytes_total,
            cpu_ns: thread_cpu_ns().saturating_sub(cpu0),
        }
    });
    (rx.recv().expect("serving thread started"), stop, handle)
}

async fn drive(client: &reqwest::Client, url: &str, body: &str, n: usize) {
    for _ in 0..n {
        let r = client
            .post(url)
            .header("x-api-key", CLIENT_KEY)
            .header("anthropic-version", "2023-06-01")
            .header("authorization", format!("Bearer {CLIENT_KEY}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request");
        assert!(r.status().is_success(), "status {}", r.status());
        let b = r.bytes().await.expect("body");
        assert!(!b.is_empty());
    }
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    state: &Arc<AppState>,
    client: &reqwest::Client,
    s: &Scenario,
    n: usize,
) -> Cost {
    let (addr, stop, handle) = serving_thread(state.clone());
    let url = format!("http://{addr}{}", s.path);
    rt.block_on(drive(client, &url, &s.body, n));
    stop.cancel();
    handle.join().expect("serving thread")
}

fn main() -> anyhow::Result<()> {
    let mut n = 2000usize;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--requests" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--scenario" => only.extend(args.next()),
            other => anyhow::bail!("unknown argument {other} (--requests N, --scenario NAME)"),
        }
    }
    let upstream_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stand_in = upstream_rt.block_on(standin::StandIn::start_with(standin::Options {
        record: false,
        ..Default::default()
    }))?;
    let dir = tempfile::tempdir()?;
    let yaml = format!(
        "host: 127.0.0.1\nport: 0\nauth-dir: \"{auths}\"\napi-keys: [\"{CLIENT_KEY}\"]\nclaude-api-key:\n  - api-key: upstream-key\n    base-url: \"{base}\"\n",
        auths = dir.path().join("auths").display(),
        base = stand_in.base_url,
    );
    let path = dir.path().join("config.yaml");
    let loaded = cliproxy::config::load_text(
        Some((&path, &yaml)),
        &EnvMap::default(),
        &Overrides::default(),
    )?;
    server::metrics::install();
    let usage = cliproxy::usage::Writer::start(
        dir.path().join("usage.sqlite"),
        loaded.config.usage.retention_days,
        cliproxy::usage::recorder::DEFAULT_QUEUE,
    )
    .map_err(anyhow::Error::msg)?;
    let state = AppState::new(
        loaded.config.clone(),
        EnvMap::default(),
        None,
        Overrides::default(),
        dir.path().join("auths"),
        None,
        None,
        usage.recorder(),
    );
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    println!(
        "{n} and {} requests per scenario, one connection; cost of one request on the serving thread:",
        2 * n
    );
    println!(
        "{:<22} {:>10} {:>12} {:>12}",
        "scenario", "allocs", "bytes", "cpu µs"
    );
    for s in scenarios() {
        if !only.is_empty() && !only.iter().any(|o| o == s.name) {
            continue;
        }
        let a = run_once(&client_rt, &state, &client, &s, n);
        let b = run_once(&client_rt, &state, &client, &s, 2 * n);
        let per = |x: u64, y: u64| y.saturating_sub(x) as f64 / n as f64;
        println!(
            "{:<22} {:>10.1} {:>12.0} {:>12.1}",
            s.name,
            per(a.allocs, b.allocs),
            per(a.bytes, b.bytes),
            per(a.cpu_ns, b.cpu_ns) / 1000.0
        );
    }
    drop(stand_in);
    usage.close(Duration::from_secs(5));
    Ok(())
}
