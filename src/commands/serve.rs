//! `cliproxy serve` (the default): start-up (sync bootstrap, accounts, background work),
//! one listener and runtime per serving thread, and shutdown on a signal.

use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{EXIT_USAGE, context, fail, init_tracing_to};
use crate::auth::lease::{RemoteStore, S3Store};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::config::sync::{BucketTarget, Resolved};
use crate::config::{ConfigSource, Context, Overrides};
use crate::server::{self, AppState};
use crate::store::s3::{S3Bucket, S3Settings, Timeouts};

pub(super) async fn run(args: &ServeArgs, global: &GlobalArgs) -> ExitCode {
    let overrides = Overrides {
        host: args.host.clone(),
        port: args.port,
        ..Default::default()
    };
    let ctx = match context(global, &overrides, Some(args.template.as_deref())) {
        Ok(c) => c,
        Err(e) => return fail(e, EXIT_USAGE),
    };
    // `logging-to-file`: the log also goes to a file the management API serves.
    let mut file_error = None;
    let log_file = if ctx.config().logging_to_file {
        let dir = server::management::logfile::dir(
            std::env::var("WRITABLE_PATH").ok().as_deref(),
            &ctx.auth_dir,
        );
        match server::management::logfile::install(&dir) {
            Ok(f) => Some(f),
            Err(e) => {
                file_error = Some(format!("{}: {e}", dir.display()));
                None
            }
        }
    } else {
        None
    };
    init_tracing_to(global.log_format, ctx.config().debug, log_file);
    if let Some(e) = file_error {
        tracing::warn!(error = %e, "logging-to-file: the log file cannot be opened; logging to standard error only");
    }
    match serve(ctx, overrides).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}"), 1),
    }
}

/// The bucket refreshes coordinate through (leases, fresher copies), when one is
/// configured. Its calls are short ([`Timeouts::INTERACTIVE`]): a client may be waiting.
fn lease_store(res: &Resolved) -> Option<Arc<dyn RemoteStore>> {
    let BucketTarget::S3 {
        endpoint,
        bucket,
        region,
        access_key,
        secret_key,
    } = &res.bucket.as_ref()?.target
    else {
        return None;
    };
    let settings = S3Settings {
        endpoint: endpoint.clone(),
        region: region.clone(),
        bucket: bucket.clone(),
        access_key: access_key.expose().to_string(),
        secret_key: secret_key.expose().to_string(),
    };
    Some(Arc::new(S3Store::new(
        S3Bucket::new(&settings, Timeouts::INTERACTIVE),
        "",
    )))
}

/// Serving threads: one per core (`CLIPROXY_WORKER_THREADS` overrides). Where the
/// kernel does not spread connections over SO_REUSEPORT sockets (not Linux), one.
fn worker_count() -> usize {
    if let Some(n) = std::env::var("CLIPROXY_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    if cfg!(target_os = "linux") {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

fn listen(
    addr: std::net::SocketAddr,
    reuse_port: bool,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Starts `workers` threads, each a single-threaded runtime accepting on its own
/// SO_REUSEPORT socket (like nginx's worker processes): a request is parsed, proxied
/// and answered on one thread, with no cross-thread wake-ups. Returns the bound address
/// once every worker listens.
fn bind_workers(
    host: &str,
    port: u16,
    workers: usize,
    state: Arc<AppState>,
    cancel: CancellationToken,
) -> anyhow::Result<(std::net::SocketAddr, Vec<std::thread::JoinHandle<()>>)> {
    let addr: std::net::SocketAddr = {
        use std::net::ToSocketAddrs;
        (host, port)
            .to_socket_addrs()
            .map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port}: {e}"))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("cannot listen on {host}:{port}: no address"))?
    };
    // SO_REUSEPORT would let a second gateway share the port silently; a plain bind
    // first fails as usual when anything else listens there (and resolves port 0).
    let mut bound = std::net::TcpListener::bind(addr)
        .and_then(|probe| probe.local_addr())
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let mut handles = Vec::with_capacity(workers);
    let slots = server::conn::Slots::new(state.current().config.max_connections);
    for i in 0..workers {
        let slots = slots.clone();
        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<std::net::SocketAddr>>();
        let state = state.clone();
        let cancel = cancel.clone();
        let target = bound;
        let handle = std::thread::Builder::new()
            .name(format!("cliproxy-http-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match listen(target, workers > 1) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = tx.send(listener.local_addr());
                    let app = server::router(state.clone());
                    let limits = move || {
                        let snap = state.current();
                        let t = &snap.config.timeouts;
                        server::conn::ConnLimits {
                            header_read: t.header_read(),
                            idle: t.idle(),
                        }
                    };
                    server::conn::serve(listener, app, slots, limits, cancel).await;
                });
            })?;
        let got = rx
            .recv()
            .map_err(|_| anyhow::anyhow!("server worker {i} failed to start"))?
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        handles.push(handle);
        // Port 0: every later worker binds the port the first one got.
        bound = got;
    }
    Ok((bound, handles))
}

async fn serve(ctx: Context, cli: Overrides) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    server::metrics::install();
    for k in &ctx.loaded.unknown_keys {
        tracing::warn!(key = %k, "unknown config key (ignored)");
    }
    let locations = ctx.sync_locations()?;
    // Bootstrap: pull tokens from the other locations before accounts load.
    let sync = crate::sync::start(locations.clone(), cancel.clone(), &tracker).await?;
    if let Err(e) = crate::store::ensure_private_dir(&ctx.auth_dir) {
        tracing::warn!(path = %ctx.auth_dir.display(), error = %e, "cannot create auth folder");
    }
    let config = ctx.loaded.config.clone();
    if config.api_keys.is_empty() && !config.is_loopback() {
        tracing::error!(host = %config.host, "NO api-keys configured while listening beyond loopback: anyone who can reach this port can use your accounts");
    }
    let config_path = match &ctx.loaded.source {
        ConfigSource::File(p) => Some(p.clone()),
        ConfigSource::BuiltinDefault => None,
    };
    // Reloads layer the command line on top again; the listener itself is pinned by
    // `AppState::reload_config`.
    let overrides = cli;
    let remote = lease_store(&locations);
    let usage_writer = start_usage(&ctx);
    // CLIProxyAPI's rule: a plaintext management secret is stored as its bcrypt hash.
    let secret_hashed = match &ctx.loaded.source {
        ConfigSource::File(p) => match server::management::doc::hash_secret_in_file(p) {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "could not hash the management secret in the config file");
                false
            }
        },
        ConfigSource::BuiltinDefault => false,
    };
    let state = AppState::new(
        config.clone(),
        ctx.env.clone(),
        config_path,
        overrides,
        ctx.auth_dir.clone(),
        sync,
        remote,
        usage_writer
            .as_ref()
            .map_or_else(crate::usage::Recorder::disabled, |w| w.recorder()),
    );
    if secret_hashed {
        tracing::info!("management secret stored as a bcrypt hash in the config file");
        if let Err(e) = state.reload_config() {
            tracing::warn!(error = %e, "reloading after hashing the management secret");
        }
    }
    server::reload::watch(state.clone(), cancel.clone(), &tracker)?;
    tracker.spawn(server::reload::refresh_loop(state.clone(), cancel.clone()));

    let workers = worker_count();
    let (local, handles) = bind_workers(&config.host, config.port, workers, state, cancel.clone())?;
    tracing::info!(auth_dir = %ctx.auth_dir.display(), workers, "listening on http://{local}");
    super::shutdown_signal(cancel.clone()).await;
    // Let in-flight requests finish (graceful shutdown in each worker).
    let _ = tokio::task::spawn_blocking(move || {
        for h in handles {
            let _ = h.join();
        }
    })
    .await;
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    if let Some(w) = usage_writer {
        let _ =
            tokio::task::spawn_blocking(move || w.close(std::time::Duration::from_secs(10))).await;
    }
    Ok(())
}

/// The usage database beside the auth files (`usage.enabled`, `usage.retention-days`).
fn start_usage(ctx: &Context) -> Option<crate::usage::Writer> {
    let cfg = &ctx.config().usage;
    if !cfg.enabled {
        return None;
    }
    let path = crate::usage::db_path(&ctx.auth_dir);
    match crate::usage::Writer::start(
        path.clone(),
        cfg.retention_days,
        crate::usage::recorder::DEFAULT_QUEUE,
    ) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "usage is not recorded");
            None
        }
    }
}
