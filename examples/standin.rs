//! Stand-in upstream server (Anthropic, Anthropic OAuth, Codex Responses, OpenAI-compatible, Gemini, Cloud Code, Amp) for tests and benchmarks.
//!
//! `cargo run --example standin -- --port 0 [--no-record]` prints `LISTENING http://127.0.0.1:PORT`.
//! With `--tls-cert PATH --tls-key PATH` (PEM) it serves HTTPS (ALPN `h2`, `http/1.1`), prints
//! `LISTENING https://127.0.0.1:PORT`, and counts completed handshakes: `GET /_standin/stats`
//! answers `{"connections": N, "tls_handshakes": N}`.
//! See `tests/standin/mod.rs` for routes and `tests/standin/control.rs` for the `/_standin/*` control surface.

#[path = "../tests/standin/mod.rs"]
mod standin;

use std::io::Write;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Stand-in upstream for cliproxy tests and benchmarks")]
struct Args {
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Do not record requests (benchmarks).
    #[arg(long)]
    no_record: bool,
    /// Default number of content deltas per stream.
    #[arg(long)]
    chunks: Option<u32>,
    /// Default spacing between stream chunks in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Default answer text.
    #[arg(long)]
    text: Option<String>,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

fn read(what: &str, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display())))
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(standin::TlsIdentity {
            cert_pem: read("--tls-cert", cert)?,
            key_pem: read("--tls-key", key)?,
        }),
        _ => None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    rt.build()?.block_on(async move {
        let default_behavior = (args.chunks.is_some()
            || args.chunk_interval_ms > 0
            || args.text.is_some())
        .then(|| standin::Behavior {
            chunks: args.chunks,
            chunk_interval_ms: args.chunk_interval_ms,
            text: args.text.clone(),
            ..Default::default()
        });
        let s = standin::StandIn::start_with(standin::Options {
            host: args.host.clone(),
            port: args.port,
            record: !args.no_record,
            default_behavior,
            tls,
        })
        .await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING {}", s.base_url)?;
        out.flush()?;
        drop(out);
        let _ = tokio::signal::ctrl_c().await;
        drop(s);
        Ok(())
    })
}
