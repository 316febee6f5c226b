use std::process::ExitCode;

/// jemalloc on Linux: glibc's malloc keeps the memory of a load burst (10,000 client
/// connections left RSS at 254 MB after they closed); jemalloc's background threads give
/// unused pages back after its decay time. See bench/README.md, "memory returned after load".
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code 2 (usage or configuration error) can be remapped by the service manager's
/// environment: launchd cannot be told "do not restart after exit code 2" the way systemd's
/// `RestartPreventExitStatus=2` can, so the launchd agent sets CLIPROXY_CONFIG_ERROR_EXIT_CODE=0
/// and its `KeepAlive = { SuccessfulExit = false; }` then leaves a misconfigured gateway stopped
/// (error in the log) instead of restarting it forever.
fn main() -> ExitCode {
    let code = cliproxy::commands::main();
    if code == ExitCode::from(2)
        && let Some(c) = std::env::var("CLIPROXY_CONFIG_ERROR_EXIT_CODE")
            .ok()
            .and_then(|v| v.trim().parse::<u8>().ok())
    {
        return ExitCode::from(c);
    }
    code
}
