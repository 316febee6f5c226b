//! `cliproxy doctor`: config, environment, paths, permissions, bucket and tokens.

use std::process::ExitCode;

use crate::auth::store;
use crate::config::Context;

pub(super) async fn run(ctx: &Context) -> ExitCode {
    let mut problems = 0;
    println!("config: {:?}", ctx.loaded.source);
    for k in &ctx.loaded.unknown_keys {
        println!("warning: unknown config key `{k}`");
    }
    if !ctx.config().is_loopback() && ctx.config().api_keys.is_empty() {
        problems += 1;
        println!(
            "problem: bound to {} with no api-keys: anyone on the network can use your accounts. Fix: add api-keys or set host: 127.0.0.1",
            ctx.config().host
        );
    }
    problems += doctor_template(ctx);
    #[cfg(unix)]
    if let Ok(m) = std::fs::metadata(&ctx.auth_dir) {
        use std::os::unix::fs::PermissionsExt;
        if m.permissions().mode() & 0o077 != 0 {
            problems += 1;
            println!(
                "problem: auth folder {} is accessible by others. Fix: chmod 700 {}",
                ctx.auth_dir.display(),
                ctx.auth_dir.display()
            );
        }
    }
    problems += doctor_sync(ctx).await;
    let scan = store::scan(&ctx.auth_dir);
    println!(
        "auth folder: {} ({} files)",
        ctx.auth_dir.display(),
        scan.files.len()
    );
    #[cfg(unix)]
    for f in &scan.files {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(&f.path)
            && m.permissions().mode() & 0o077 != 0
        {
            problems += 1;
            println!(
                "problem: {} is readable by others. Fix: chmod 600 {}",
                f.path.display(),
                f.path.display()
            );
        }
    }
    for b in &scan.broken {
        problems += 1;
        println!(
            "problem: {} — {}. Fix: restore it with `cliproxy auth restore` or log in again",
            b.path, b.message
        );
    }
    let now = jiff::Timestamp::now();
    for f in &scan.files {
        if let Some(e) = f.expiry()
            && e < now
            && f.secret_field("refresh_token").is_none()
        {
            problems += 1;
            println!(
                "problem: {} expired and has no refresh token. Fix: {}",
                f.name,
                f.login_command()
            );
        }
    }
    if problems == 0 {
        println!("ok");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Sync locations: configured, reachable, with how many files. Returns the problem count.
async fn doctor_sync(ctx: &Context) -> usize {
    let res = match ctx.sync_locations() {
        Ok(r) => r,
        Err(e) => {
            println!("problem: sync configuration: {e:#}");
            return 1;
        }
    };
    if !res.has_remote_locations() {
        println!(
            "sync: no bucket, CCS or dotfiles location configured (tokens live only in {})",
            ctx.auth_dir.display()
        );
        return 0;
    }
    let mut problems = 0;
    if res.dotfiles.is_some() {
        use crate::config::sync::Sealing;
        match &res.dotfiles_sealing {
            Sealing::Age(k) => println!(
                "sync: dotfiles copy encrypted with age (recipient {}, key from {})",
                k.recipient(),
                k.source()
            ),
            Sealing::Plain => {
                println!("sync: dotfiles copy written in plaintext (sync.dotfiles.plaintext: true)")
            }
            Sealing::RefusePlain => {
                problems += 1;
                println!("problem: {}", Sealing::REFUSAL);
            }
        }
    }
    let engine = match crate::sync::engine::Engine::new(res) {
        Ok(e) => e,
        Err(e) => {
            println!("problem: sync: {e:#}");
            return problems + 1;
        }
    };
    let mut state = crate::sync::state::State::load(&engine.res.state_file());
    let obs = engine.observe(&mut state).await;
    for (loc, listing) in &obs.listings {
        match listing {
            Ok(files) => println!("sync: {} reachable ({} files)", loc.as_str(), files.len()),
            Err(e) => {
                problems += 1;
                println!(
                    "problem: sync location {} unreachable: {e}. Fix: check OBJECTSTORE_ENDPOINT/keys or the folder, then `cliproxy sync once`",
                    loc.as_str()
                );
            }
        }
    }
    problems
}

/// The template settings `serve` would render with, and whether that render would work
/// (a dry run: nothing is written). Returns the problem count.
fn doctor_template(ctx: &Context) -> usize {
    let Some(t) = &ctx.template else {
        println!("template: none (the config file is used as it is)");
        return 0;
    };
    println!(
        "template: {} (from {})",
        t.template.path.display(),
        t.template.origin
    );
    match &t.env_file {
        Some(e) => println!(
            "template env file: {} (from {})",
            e.path.display(),
            e.origin
        ),
        None => println!("template env file: none (process environment only)"),
    }
    println!(
        "template output: {} (from {})",
        t.out.path.display(),
        t.out.origin
    );
    if let Err(e) = t.check_targets() {
        println!("problem: {e}");
        return 1;
    }
    let path = t.template.path.display().to_string();
    let text = match std::fs::read_to_string(&t.template.path) {
        Ok(text) => text,
        Err(e) => {
            println!(
                "problem: template {path}: {e}. Fix: correct {}",
                t.template.origin
            );
            return 1;
        }
    };
    match crate::config::template::render_str(&text, &ctx.env, &path) {
        Ok(_) => 0,
        Err(e) => {
            println!("problem: {e}. Fix: define them in the env file or the environment");
            1
        }
    }
}
