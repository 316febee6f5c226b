//! The commands: one file each, dispatched from [`main`]. This is the top layer: it
//! turns command-line values into a [`Context`] and hands the libraries below the
//! plain values they need.

mod auth;
mod config;
mod doctor;
mod login;
mod serve;
mod sync;
pub mod usage;

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, GlobalArgs, LogFormat, LoginArgs, Provider, ServeArgs};
use crate::config::context::Sources;
use crate::config::{ConfigError, Context, Overrides};

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    // Usage errors come back as exit code 2 here (not a process::exit inside clap), so
    // `main` sees every configuration-class failure the same way.
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    let command = match (cli.command, legacy_login(&cli.global)) {
        (Some(c), _) => c,
        (None, Some(login)) => Command::Login(login),
        (None, None) => Command::Serve(ServeArgs::default()),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("CLIPROXY_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e, 1),
    };
    runtime.block_on(run(cli.global, command))
}

async fn run(global: GlobalArgs, command: Command) -> ExitCode {
    match command {
        Command::Config(cmd) => config::run(cmd, &global),
        Command::Serve(args) => serve::run(&args, &global).await,
        Command::Sync(cmd) => {
            let ctx = match context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            init_tracing(global.log_format, ctx.config().debug);
            sync::run(cmd, &ctx).await
        }
        Command::Auth(cmd) => {
            let ctx = match context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            auth::run(cmd, &ctx).await
        }
        Command::Login(args) => {
            let ctx = match context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            init_tracing(global.log_format, ctx.config().debug);
            login::run(args, &ctx).await
        }
        Command::Doctor => {
            let ctx = match context(&global, &Overrides::default(), None) {
                Ok(c) => c,
                Err(e) => return fail(e, EXIT_USAGE),
            };
            doctor::run(&ctx).await
        }
        Command::Usage(args) => match context(&global, &Overrides::default(), None) {
            Ok(ctx) => usage::run(&args, &ctx),
            Err(e) => fail(e, EXIT_USAGE),
        },
    }
}

/// Loads the configuration the global flags point at. `template` is `serve --template`:
/// given, the template is rendered first (`serve` passes `Some` even without the
/// flag, so settings from `CLIPROXY_TEMPLATE` or `template.*` render too).
fn context(
    global: &GlobalArgs,
    overrides: &Overrides,
    template: Option<Option<&std::path::Path>>,
) -> Result<Context, ConfigError> {
    Context::build(
        sources(global, template.flatten(), None),
        overrides,
        template.is_some(),
    )
}

fn sources<'a>(
    global: &'a GlobalArgs,
    template: Option<&'a std::path::Path>,
    out: Option<&'a std::path::Path>,
) -> Sources<'a> {
    Sources {
        config: global.config.as_deref(),
        env_file: global.env_file.as_deref(),
        template,
        out,
    }
}

fn legacy_login(g: &GlobalArgs) -> Option<LoginArgs> {
    let provider = if g.claude_login {
        Provider::Claude
    } else if g.codex_login || g.codex_device_login {
        Provider::Codex
    } else if g.login {
        Provider::Gemini
    } else if g.antigravity_login {
        Provider::Antigravity
    } else {
        return None;
    };
    Some(LoginArgs {
        provider,
        no_browser: g.no_browser,
        callback_port: g.oauth_callback_port,
        device: g.codex_device_login,
    })
}

pub fn init_tracing(format: LogFormat, debug: bool) {
    init_tracing_to(format, debug, None);
}

/// Logging to standard error and, with `logging-to-file`, also to `file` (plain text,
/// no colour codes).
pub fn init_tracing_to(
    format: LogFormat,
    debug: bool,
    file: Option<std::sync::Arc<crate::server::management::logfile::LogFile>>,
) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = if debug { "cliproxy=debug,info" } else { "info" };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The AWS SDK's debug output carries signing details (the access key id): never
    // below info, whatever RUST_LOG asks.
    for quiet in [
        "aws_sigv4=info",
        "aws_smithy_runtime=info",
        "aws_smithy_runtime_api=info",
        "aws_sdk_s3=info",
        "aws_config=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    use std::io::IsTerminal;
    use tracing_subscriber::{Layer, Registry, fmt};

    use crate::server::management::logfile::Line;
    type Boxed = Box<dyn Layer<Registry> + Send + Sync>;
    // Colour codes only on a terminal: service logs (launchd, journald files) stay plain.
    let ansi = std::io::stderr().is_terminal();
    let mut layers: Vec<Boxed> = Vec::new();
    match format {
        LogFormat::Json => {
            layers.push(fmt::layer().json().with_writer(std::io::stderr).boxed());
            if let Some(lf) = file {
                layers.push(
                    fmt::layer()
                        .json()
                        .with_writer(move || Line(lf.clone()))
                        .boxed(),
                );
            }
        }
        LogFormat::Text => {
            layers.push(
                fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .boxed(),
            );
            if let Some(lf) = file {
                layers.push(
                    fmt::layer()
                        .with_ansi(false)
                        .with_writer(move || Line(lf.clone()))
                        .boxed(),
                );
            }
        }
    }
    let _ = tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init();
}

fn fail(e: impl std::fmt::Display, code: u8) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(code)
}

/// Returns on Ctrl-C, SIGTERM or cancellation; cancels `cancel` either way.
async fn shutdown_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = cancel.cancelled() => {},
    }
    cancel.cancel();
}
