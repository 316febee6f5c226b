// glibc malloc showed up as ~12% of the gateway's CPU under load (lock contention across
// worker threads); mimalloc's per-thread heaps avoid it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cliproxy::cli::main()
}
