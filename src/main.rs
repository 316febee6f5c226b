fn main() -> std::process::ExitCode {
    cliproxy::cli::main()
}
