//! `cliproxy login <provider>`: OAuth logins (issue 5).

use std::process::ExitCode;

use crate::cli::{Context, LoginArgs};

pub async fn run(args: LoginArgs, _ctx: &Context) -> ExitCode {
    eprintln!(
        "error: `cliproxy login {:?}` is not built yet (issue 5)",
        args.provider
    );
    ExitCode::from(1)
}
