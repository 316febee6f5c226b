//! Fixed-concurrency HTTP load generator for the cliproxy benchmark (loopback only).
//!
//! `loadgen --url URL [-c 16] [-n 10000 | -d 5] [--body JSON | --body-file F] [-H 'k: v']... [--stream]`
//!
//! Every connection runs requests back to back; each request's latency (send → last body byte) and
//! time to first body byte are recorded. Prints one JSON object with counts, requests/s and
//! percentiles in milliseconds, and the server-sent events received. `--gaps` also records the
//! spacing of events (SSE pacing: the first event of each read is timed from the previous event,
//! events that came in the same read count as 0 ms apart). `--stagger S` spreads the connections'
//! starts over S seconds (streams paced by a clock would otherwise all tick at once).
//! `--idle N --hold S` is a different mode: N idle keep-alive connections held S seconds (idle.rs).

mod hist;
mod idle;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Target URL (must be loopback).
    #[arg(long)]
    url: String,
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Total requests (ignored when --duration is set).
    #[arg(short = 'n', long, default_value_t = 1000)]
    requests: u64,
    /// Run for this many seconds instead of a request count.
    #[arg(short = 'd', long)]
    duration: Option<f64>,
    /// Warm-up requests per connection before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Request body (POST); without a body the request is a GET.
    #[arg(long)]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
    /// Record gaps between server-sent events.
    #[arg(long)]
    gaps: bool,
    /// Spread the connections' first requests evenly over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    stagger: f64,
    /// Idle mode: open this many keep-alive connections and hold them (GET --url on each).
    #[arg(long)]
    idle: Option<usize>,
    /// Idle mode: seconds to hold the connections before asking on each again.
    #[arg(long, default_value_t = 10.0)]
    hold: f64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Worker threads (default 1: leave the cores to the servers under test).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Default)]
struct Samples {
    latency_us: Vec<u64>,
    ttfb_us: Vec<u64>,
    events: u64,
    ok: u64,
    errors: u64,
    non_2xx: u64,
    bytes: u64,
    first_error: Option<String>,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

fn summary(v: &mut [u64]) -> serde_json::Value {
    v.sort_unstable();
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0
    };
    json!({
        "p50": pct(v, 50.0), "p90": pct(v, 90.0), "p99": pct(v, 99.0),
        "mean": mean, "max": v.last().map_or(0.0, |m| *m as f64 / 1000.0), "count": v.len(),
    })
}

async fn one(
    client: &reqwest::Client,
    args: &Args,
    body: &Option<bytes::Bytes>,
    headers: &reqwest::header::HeaderMap,
    s: &mut Samples,
    gaps: &hist::Histogram,
    record: bool,
) {
    let t0 = Instant::now();
    let req = match body {
        Some(b) => client.post(&args.url).body(b.clone()),
        None => client.get(&args.url),
    };
    let res = req.headers(headers.clone()).send().await;
    let mut resp = match res {
        Ok(r) => r,
        Err(e) => {
            s.errors += 1;
            s.first_error.get_or_insert_with(|| format!("{e:?}"));
            return;
        }
    };
    let status = resp.status();
    let mut ttfb = None;
    let mut last_event: Option<Instant> = None;
    let mut counter = hist::EventCounter::default();
    let mut events = 0u64;
    let mut n = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let now = Instant::now();
                ttfb.get_or_insert(now - t0);
                let e = counter.feed(&c);
                if e > 0 {
                    if record && args.gaps {
                        if let Some(prev) = last_event {
                            gaps.record((now - prev).as_micros() as u64);
                        }
                        for _ in 1..e {
                            gaps.record(0);
                        }
                    }
                    last_event = Some(now);
                }
                events += e;
                n += c.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                s.errors += 1;
                s.first_error.get_or_insert_with(|| format!("body: {e:?}"));
                return;
            }
        }
    }
    if !record {
        return;
    }
    let lat = t0.elapsed();
    s.bytes += n;
    s.events += events;
    if status.is_success() {
        s.ok += 1;
        s.latency_us.push(lat.as_micros() as u64);
        s.ttfb_us.push(ttfb.unwrap_or(lat).as_micros() as u64);
    } else {
        s.non_2xx += 1;
        s.first_error
            .get_or_insert_with(|| format!("status {status}"));
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = url::Url::parse(&args.url)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    anyhow::ensure!(
        host == "localhost" || host.starts_with("127.") || host == "[::1]",
        "loadgen only targets loopback, not {host}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    match args.idle {
        Some(n) => rt.block_on(idle::run(
            &url,
            n,
            args.hold,
            Duration::from_secs_f64(args.timeout),
        )),
        None => rt.block_on(run(args)),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Some(bytes::Bytes::from(b.clone())),
        (None, Some(f)) => Some(bytes::Bytes::from(std::fs::read(f)?)),
        (None, None) => None,
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("bad header {h:?}"))?;
        headers.append(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes())?,
            v.trim().parse()?,
        );
    }
    if body.is_some() && !headers.contains_key("content-type") {
        headers.insert("content-type", "application/json".parse()?);
    }
    let client = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs_f64(args.timeout))
        .build()?;
    let args = Arc::new(args);
    let body = Arc::new(body);
    let headers = Arc::new(headers);
    let gaps = Arc::new(hist::Histogram::new());

    // Warm-up: open every connection.
    let mut warm = Vec::new();
    for _ in 0..args.concurrency {
        let (c, a, b, h, g) = (
            client.clone(),
            args.clone(),
            body.clone(),
            headers.clone(),
            gaps.clone(),
        );
        warm.push(tokio::spawn(async move {
            let mut s = Samples::default();
            for _ in 0..a.warmup {
                one(&c, &a, &b, &h, &mut s, &g, false).await;
            }
        }));
    }
    for w in warm {
        w.await?;
    }

    let issued = Arc::new(AtomicU64::new(0));
    let cpu0 = self_cpu_s();
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d));
    let mut tasks = Vec::new();
    for i in 0..args.concurrency {
        let (c, a, b, h, g, issued) = (
            client.clone(),
            args.clone(),
            body.clone(),
            headers.clone(),
            gaps.clone(),
            issued.clone(),
        );
        let delay = Duration::from_secs_f64(args.stagger * i as f64 / args.concurrency as f64);
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            tokio::time::sleep(delay).await;
            loop {
                match deadline {
                    Some(d) if Instant::now() >= d => break,
                    None if issued.fetch_add(1, Ordering::Relaxed) >= a.requests => break,
                    _ => {}
                }
                one(&c, &a, &b, &h, &mut s, &g, true).await;
            }
            s
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await?;
        all.latency_us.extend(s.latency_us);
        all.ttfb_us.extend(s.ttfb_us);
        all.events += s.events;
        all.ok += s.ok;
        all.errors += s.errors;
        all.non_2xx += s.non_2xx;
        all.bytes += s.bytes;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu0.zip(self_cpu_s()).map(|(a, b)| b - a);
    let out = json!({
        "label": args.label,
        "url": args.url,
        "concurrency": args.concurrency,
        "elapsed_s": elapsed,
        "ok": all.ok,
        "non_2xx": all.non_2xx,
        "errors": all.errors,
        "requests": all.ok + all.non_2xx + all.errors,
        // Sent before the measured window but inside the bench script's CPU window.
        "warmup_requests": args.warmup * args.concurrency as u64,
        "rps": all.ok as f64 / elapsed,
        "bytes": all.bytes,
        "events": all.events,
        "latency_ms": summary(&mut all.latency_us),
        "ttfb_ms": summary(&mut all.ttfb_us),
        "gaps_ms": if args.gaps { gaps.summary() } else { serde_json::Value::Null },
        "first_error": all.first_error,
        // The load generator's own CPU over the measured window: when it nears the window's
        // length times its threads, the client, not the server, sets the figures.
        "client_cpu_s": cpu,
    });
    println!("{out}");
    Ok(())
}

/// utime+stime of this process in seconds (Linux `/proc`, which counts in USER_HZ = 100).
fn self_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ').skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
