//! `cliproxy sync once|watch|status` and the sync side of `cliproxy auth remove|restore`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::EXIT_USAGE;
use crate::cli::{RestoreSource, SyncCommand};
use crate::config::Context;
use crate::config::sync::Resolved;
use crate::sync::engine::{Engine, Report};
use crate::sync::plan::{self, Action, LocId, NameInput, Obs};
use crate::sync::state::State;

fn resolve(ctx: &Context) -> anyhow::Result<Resolved> {
    ctx.sync_locations()
}

fn engine(ctx: &Context) -> Result<Engine, ExitCode> {
    let res = resolve(ctx).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_USAGE)
    })?;
    Engine::new(res).map_err(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn print_report(r: &Report) {
    for a in &r.actions {
        println!("{a}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    for e in &r.errors {
        eprintln!("error: {e}");
    }
    if let Some(g) = &r.guard {
        eprintln!("stopped: {g}");
    }
    let c = &r.counters;
    println!(
        "sync: {} change(s), {} error(s) in {} ms; requests list={} get={} put={} delete={}; file writes={} deletes={}; conflicts={}",
        r.actions.len(),
        r.errors.len(),
        r.elapsed.as_millis(),
        c.s3_list,
        c.s3_get,
        c.s3_put,
        c.s3_delete,
        c.file_write,
        c.file_delete,
        c.conflicts
    );
}

fn code(r: &Report) -> ExitCode {
    if r.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(super) async fn run(cmd: SyncCommand, ctx: &Context) -> ExitCode {
    match cmd {
        SyncCommand::Once { force } => {
            let e = match engine(ctx) {
                Ok(e) => e,
                Err(c) => return c,
            };
            let r = e.reconcile(force).await;
            print_report(&r);
            code(&r)
        }
        SyncCommand::Watch => watch(ctx).await,
        SyncCommand::Status => status(ctx).await,
    }
}

async fn watch(ctx: &Context) -> ExitCode {
    let res = match resolve(ctx) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let handle = match crate::sync::start_engine(
        res,
        cancel.clone(),
        &tracker,
        std::time::Duration::from_secs(30),
    )
    .await
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    tracing::info!("sync watch running");
    println!("watching (Ctrl-C to stop)");
    super::shutdown_signal(cancel.clone()).await;
    tracker.close();
    tracker.wait().await;
    drop(handle);
    ExitCode::SUCCESS
}

async fn status(ctx: &Context) -> ExitCode {
    let e = match engine(ctx) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut state = State::load(&e.res.state_file());
    let persisted = state.clone();
    let obs = e.observe(&mut state).await;
    println!("locations:");
    for l in LocId::ALL {
        let Some(store) = e.stores.get(&l) else {
            println!("  {:<9} not configured", l.as_str());
            continue;
        };
        let reach = match obs.listings.get(&l) {
            Some(Ok(m)) => format!("reachable, {} file(s)", m.len()),
            Some(Err(err)) => format!("UNREACHABLE ({err})"),
            None => "not configured".into(),
        };
        let last = persisted
            .last_success
            .get(l.as_str())
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into());
        println!(
            "  {:<9} {}  [{}]  last success: {}",
            l.as_str(),
            store.describe(),
            reach,
            last
        );
    }
    match &obs.config {
        Ok(m) => println!(
            "  {:<9} {}  [reachable, {} object(s)]",
            "config",
            e.config_store.describe(),
            m.len()
        ),
        Err(err) => println!(
            "  {:<9} {}  [UNREACHABLE ({err})]",
            "config",
            e.config_store.describe()
        ),
    }
    println!("state: {}", e.res.state_file().display());
    let (plans, bootstrap) = e.plan(&persisted, &obs);
    let plans: BTreeMap<&str, &plan::NamePlan> =
        plans.iter().map(|p| (p.name.as_str(), p)).collect();
    println!("files:");
    let mut pending = 0;
    for name in obs.names(&persisted) {
        let o = obs.obs_for(&name);
        let tomb = obs.tombstones.get(&name);
        let p = plans
            .get(name.as_str())
            .copied()
            .cloned()
            .unwrap_or_else(|| {
                plan::plan_name(
                    &NameInput {
                        name: &name,
                        base: persisted.files.get(&name),
                        obs: &o,
                        tomb,
                    },
                    bootstrap,
                )
            });
        let (winner, newest) = match &p.action {
            Action::Sync { winner, source, .. } => (Some(winner.clone()), source.to_string()),
            Action::Delete { .. } => (None, "removed (tombstone)".into()),
            Action::None if tomb.is_some() => (None, "removed (tombstone)".into()),
            Action::None => (None, "no valid copy".into()),
        };
        let cells: Vec<String> = LocId::ALL
            .iter()
            .filter(|l| e.stores.contains_key(l))
            .map(|l| {
                let s = match o.get(l) {
                    Some(Obs::Present(c)) if !c.meta.valid => "invalid".to_string(),
                    Some(Obs::Present(c)) if Some(&c.hash) == winner.as_ref() => "ok".to_string(),
                    Some(Obs::Present(c)) => format!("differs({})", &c.hash[..8.min(c.hash.len())]),
                    Some(Obs::Absent) => "missing".into(),
                    _ => "?".into(),
                };
                format!("{}={}", l.as_str(), s)
            })
            .collect();
        let in_sync = match &p.action {
            Action::Sync { writes, .. } => writes.is_empty(),
            Action::Delete { .. } => false,
            Action::None => true,
        };
        if !in_sync {
            pending += 1;
        }
        println!(
            "  {name}  {}  newest: {newest}{}",
            cells.join(" "),
            if in_sync { "" } else { "  (pending)" }
        );
    }
    println!("{pending} file(s) pending; run `cliproxy sync once` to reconcile");
    ExitCode::SUCCESS
}

pub(super) async fn remove(name: &str, ctx: &Context) -> ExitCode {
    let e = match engine(ctx) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match e.remove(name).await {
        Ok(r) => {
            print_report(&r);
            println!(
                "removed {name} (kept in the backup prefix; `cliproxy auth restore {name}` brings it back)"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

pub(super) async fn restore(name: &str, from: Option<RestoreSource>, ctx: &Context) -> ExitCode {
    let e = match engine(ctx) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let from = from.map(|f| match f {
        RestoreSource::Backup => "backup",
        RestoreSource::Dotfiles => "dotfiles",
        RestoreSource::Conflict => "conflict",
    });
    match e.restore(name, from).await {
        Ok(r) => {
            print_report(&r);
            code(&r)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
