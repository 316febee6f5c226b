//! `cliproxy sync ...` and the sync side of `cliproxy auth remove|restore`.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::cli::Context;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// One full reconcile of every location, printing what it did
    Once,
    /// Keep watching the folders and polling the bucket
    Watch,
    /// Every location and file with its state
    Status,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RestoreSource {
    Backup,
    Dotfiles,
    Conflict,
}

pub async fn run(cmd: SyncCommand, _ctx: &Context) -> ExitCode {
    eprintln!("error: `cliproxy sync {cmd:?}` is not built yet (issue 3)");
    ExitCode::from(1)
}

pub async fn remove(name: &str, _ctx: &Context) -> ExitCode {
    eprintln!("error: `cliproxy auth remove {name}` needs the sync engine (issue 3)");
    ExitCode::from(1)
}

pub async fn restore(name: &str, _from: Option<RestoreSource>, _ctx: &Context) -> ExitCode {
    eprintln!("error: `cliproxy auth restore {name}` needs the sync engine (issue 3)");
    ExitCode::from(1)
}
