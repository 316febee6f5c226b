//! `cliproxy auth list|show|remove|restore`.

use std::process::ExitCode;

use crate::auth::store;
use crate::cli::AuthCommand;
use crate::config::Context;

pub(super) async fn run(cmd: AuthCommand, ctx: &Context) -> ExitCode {
    match cmd {
        AuthCommand::List => {
            list(ctx);
            ExitCode::SUCCESS
        }
        AuthCommand::Show { name } => show(ctx, &name),
        AuthCommand::Remove { name } => super::sync::remove(&name, ctx).await,
        AuthCommand::Restore { name, from } => super::sync::restore(&name, from, ctx).await,
    }
}

fn list(ctx: &Context) {
    let scan = store::scan(&ctx.auth_dir);
    println!("auth folder: {}", ctx.auth_dir.display());
    println!(
        "{:<44} {:<12} {:<32} {:<26} {:<26} STATE",
        "NAME", "PROVIDER", "EMAIL", "EXPIRES", "LAST REFRESH"
    );
    let now = jiff::Timestamp::now();
    // States a running gateway recorded (needs login, cooling down after a failed refresh,
    // refreshed without the bucket).
    let recorded = crate::auth::refresh::state_file::load(&ctx.auth_dir);
    for f in &scan.files {
        let state = if f.bool_field("disabled") {
            "disabled".to_string()
        } else if let Some(e) = crate::auth::refresh::state_file::lookup(&recorded, f) {
            match e.state.as_str() {
                "needs_login" => format!("needs login: {} (run `{}`)", e.reason, e.command),
                crate::auth::refresh::state_file::WITHOUT_BUCKET => format!(
                    "ok; refreshed at {} without the bucket's lease ({}); the sync engine pushes it when the bucket is back",
                    e.at, e.reason
                ),
                _ => format!("cooling down until {}: {}", e.until, e.reason),
            }
        } else {
            match f.expiry() {
                Some(e) if e < now => "expired (refreshed on next use)".to_string(),
                _ => "ok".to_string(),
            }
        };
        println!(
            "{:<44} {:<12} {:<32} {:<26} {:<26} {}",
            f.name,
            f.type_name,
            f.email().unwrap_or("-"),
            f.expiry()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            f.last_refresh()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            state
        );
    }
    for b in &scan.broken {
        println!("{:<44} {:<12} invalid file: {}", b.path, "?", b.message);
    }
}

fn show(ctx: &Context, name: &str) -> ExitCode {
    let scan = store::scan(&ctx.auth_dir);
    let Some(f) = scan
        .files
        .iter()
        .find(|f| f.name == name || f.name == format!("{name}.json"))
    else {
        eprintln!(
            "error: no auth file named {name} in {}",
            ctx.auth_dir.display()
        );
        return ExitCode::from(1);
    };
    const SECRET: &[&str] = &[
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "token",
        "cookie",
    ];
    for (k, v) in &f.fields {
        let shown = if SECRET.contains(&k.as_str()) {
            "[redacted]".to_string()
        } else {
            v.to_string()
        };
        println!("{k}: {shown}");
    }
    ExitCode::SUCCESS
}
