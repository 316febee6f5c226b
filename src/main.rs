fn main() -> std::process::ExitCode {
    cliproxy::commands::main()
}
