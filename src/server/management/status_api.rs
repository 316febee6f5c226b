//! What the status page reads and does: `GET /status` (every account with its state,
//! usage today and the 24-hour series, and sync), `GET /sync/status`,
//! `POST /auth-files/refresh` (refresh a token now) and `POST /cooldowns/clear`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use super::auth_files::check_name;
use super::reply::{self, Fail};
use super::status_view::{self, Cooling, StateInput};
use crate::auth::credential::{AccountState, Credential};
use crate::auth::refresh::{self, RefreshError, Trigger};
use crate::server::state::{AppState, Snapshot};
use crate::sync::plan::LocId;
use crate::usage::{db, live};

/// A sync observation (which lists every location) is reused for this long, so an open
/// page does not list the bucket on every poll.
const SYNC_CHECK_EVERY: Duration = Duration::from_secs(10);

fn rfc(t: Option<jiff::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(crate::auth::file::rfc3339(t)))
}

fn rfc_ms(ms: Option<i64>) -> Value {
    rfc(ms.and_then(|m| jiff::Timestamp::from_millisecond(m).ok()))
}

/// Running cooldowns per credential id.
fn cooling_by_id(
    state: &AppState,
    now: Instant,
    now_ts: jiff::Timestamp,
) -> BTreeMap<String, Vec<Cooling>> {
    let mut out: BTreeMap<String, Vec<Cooling>> = BTreeMap::new();
    for (id, model, c) in state.cooldowns.active(now) {
        let left = c.until.saturating_duration_since(now);
        let until = jiff::SignedDuration::try_from(left)
            .ok()
            .and_then(|d| now_ts.checked_add(d).ok());
        out.entry(id).or_default().push(Cooling {
            model,
            reason: c.reason,
            remaining_s: status_view::secs_up(left).max(1),
            until: until.map(crate::auth::file::rfc3339).unwrap_or_default(),
        });
    }
    out
}

fn usage_of(usage: &BTreeMap<String, live::AccountUse>, cred: &Credential) -> Value {
    let key = format!("{}:{}", cred.provider.name(), cred.label);
    let u = usage.get(&key).cloned().unwrap_or_default();
    json!({
        "requests": u.requests, "failed": u.failed, "tokens": u.tokens,
        "last_used": rfc_ms(u.last_used_ms),
    })
}

fn accounts(
    state: &AppState,
    snap: &Snapshot,
    usage: &BTreeMap<String, live::AccountUse>,
) -> Vec<Value> {
    let now = Instant::now();
    let now_ts = jiff::Timestamp::now();
    let cooling = cooling_by_id(state, now, now_ts);
    let none = Vec::new();
    let mut out = Vec::new();
    for acc in &snap.accounts {
        let f = acc.file.read();
        let cool = cooling.get(&acc.name).unwrap_or(&none);
        let account_state = acc.state.read().clone();
        let view = status_view::account_state(
            &StateInput {
                disabled: f.bool_field("disabled"),
                state: &account_state,
                cooling: cool,
                expiry: f.expiry(),
                login_command: f.login_command(),
            },
            now,
            now_ts,
        );
        let cred = snap
            .creds
            .iter()
            .find(|c| c.oauth().is_some_and(|a| a.name == acc.name));
        let login = super::oauth::Provider::parse(&f.type_name).map(|p| p.start_route());
        out.push(json!({
            "name": acc.name,
            "kind": "oauth",
            "provider": f.type_name,
            "email": f.email(),
            "plan": status_view::plan_of(&f.fields),
            "disabled": f.bool_field("disabled"),
            "expiry": rfc(f.expiry()),
            "expires_in_s": f.expiry().map(|e| e.as_second() - now_ts.as_second()),
            "last_refresh": rfc(f.last_refresh()),
            "state": view,
            "cooling": cool,
            "usage": cred.map_or_else(|| json!({"requests": 0, "failed": 0, "tokens": 0, "last_used": null}), |c| usage_of(usage, c)),
            "login_route": login,
            "refreshable": acc.provider.is_some(),
        }));
    }
    // API-key entries from the config: shown with their masked label, never the key.
    for c in snap.creds.iter().filter(|c| c.oauth().is_none()) {
        let cool = cooling.get(&c.id).unwrap_or(&none);
        let view = status_view::account_state(
            &StateInput {
                disabled: c.disabled,
                state: &AccountState::Ok,
                cooling: cool,
                expiry: None,
                login_command: "",
            },
            now,
            now_ts,
        );
        out.push(json!({
            "name": c.id,
            "kind": "api-key",
            "provider": c.compat_name.clone().unwrap_or_else(|| c.provider.name().to_string()),
            "email": null,
            "label": c.label,
            "plan": null,
            "disabled": c.disabled,
            "expiry": null,
            "expires_in_s": null,
            "state": view,
            "cooling": cool,
            "usage": usage_of(usage, c),
            "login_route": null,
            "refreshable": false,
        }));
    }
    for b in &snap.broken {
        let name = std::path::Path::new(&b.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(json!({
            "name": name, "kind": "broken", "provider": "unknown",
            "state": {"state": "broken", "message": b.message},
            "cooling": [], "usage": {"requests": 0, "failed": 0, "tokens": 0, "last_used": null},
            "refreshable": false,
        }));
    }
    out
}

/// Today's per-account numbers and the 24-hour series (empty without a database).
async fn usage(
    state: &AppState,
) -> reply::Result<(BTreeMap<String, live::AccountUse>, live::Hourly)> {
    let path = crate::usage::db_path(&state.auth_dir);
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let today_ms = jiff::Zoned::now()
        .start_of_day()
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now_ms - live::HOUR_MS * 24);
    tokio::task::spawn_blocking(move || -> Result<_, String> {
        match db::open_ro(&path).map_err(|e| e.to_string())? {
            Some(c) => Ok((
                live::per_account(&c, today_ms).map_err(|e| e.to_string())?,
                live::hourly(&c, now_ms).map_err(|e| e.to_string())?,
            )),
            None => Ok((BTreeMap::new(), live::empty(now_ms))),
        }
    })
    .await
    .map_err(|e| Fail::internal(e.to_string()))?
    .map_err(Fail::internal)
}

/// Each location: where it is, last success, the newest run's result, pending names,
/// last error. Lists every location (at most every [`SYNC_CHECK_EVERY`]).
async fn sync_status(state: &AppState) -> Value {
    let Some(engine) = state.sync.as_ref().and_then(|s| s.engine()).cloned() else {
        return json!({"enabled": false, "locations": []});
    };
    let mut cache = state.management.sync_status.lock().await;
    if let Some((at, v)) = &*cache
        && at.elapsed() < SYNC_CHECK_EVERY
    {
        return v.clone();
    }
    let state_path = engine.res.state_file();
    let persisted = crate::sync::state::State::load(&state_path);
    let mut scratch = persisted.clone();
    let obs = engine.observe(&mut scratch).await;
    let (plans, _) = engine.plan(&persisted, &obs);
    let pending = status_view::pending_per_location(&plans);
    let last = engine.last_run();
    let mut locations = Vec::new();
    for l in LocId::ALL {
        let Some(store) = engine.stores.get(&l) else {
            continue;
        };
        let prefix = format!("{l} ");
        let run_error = last.as_ref().and_then(|r| {
            r.report
                .errors
                .iter()
                .find(|e| e.starts_with(&prefix))
                .cloned()
        });
        let (result, error) = match obs.listings.get(&l) {
            Some(Err(e)) => ("unreachable", Some(format!("{l} unreachable: {e}"))),
            _ if run_error.is_some() => ("error", run_error),
            _ if last.as_ref().is_some_and(|r| r.report.guard.is_some()) => (
                "stopped",
                last.as_ref().and_then(|r| r.report.guard.clone()),
            ),
            _ if last.is_none() => ("not run yet", None),
            _ => ("ok", None),
        };
        locations.push(json!({
            "id": l.as_str(),
            "where": store.describe(),
            "last_success": rfc(persisted.last_success.get(l.as_str()).copied()),
            "last_run": rfc(last.as_ref().map(|r| r.finished)),
            "result": result,
            "pending": pending.get(&l).copied().unwrap_or(0),
            "last_error": error,
        }));
    }
    let v = json!({
        "enabled": true,
        "checked_at": rfc(Some(jiff::Timestamp::now())),
        "locations": locations,
        "last_run": last.map(|r| json!({
            "finished": rfc(Some(r.finished)),
            "ok": r.report.ok(),
            "actions": r.report.actions.len(),
            "errors": r.report.errors,
            "guard": r.report.guard,
        })),
    });
    *cache = Some((Instant::now(), v.clone()));
    v
}

/// `GET /status`: everything the status page shows, in one answer.
pub async fn get(State(state): State<Arc<AppState>>) -> reply::Result {
    let snap = state.current();
    let (per_account, hourly) = usage(&state).await?;
    let accounts = accounts(&state, &snap, &per_account);
    let today = per_account.values().fold((0u64, 0u64, 0u64), |t, u| {
        (t.0 + u.requests, t.1 + u.failed, t.2 + u.tokens)
    });
    Ok(reply::ok_json(&json!({
        "now": rfc(Some(jiff::Timestamp::now())),
        "version": env!("CARGO_PKG_VERSION"),
        "accounts": accounts,
        "today": {"requests": today.0, "failed": today.1, "tokens": today.2},
        "hourly": hourly,
        "usage_recording": state.usage.is_enabled(),
        "sync": sync_status(&state).await,
    })))
}

/// `GET /sync/status`.
pub async fn get_sync(State(state): State<Arc<AppState>>) -> reply::Result {
    Ok(reply::ok_json(&sync_status(&state).await))
}

fn body_name(body: &Bytes) -> reply::Result<(Value, String)> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| Fail::bad("invalid request body: expected JSON {\"name\": ...}"))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return Err(Fail::bad("name is required"));
    }
    Ok((v, name))
}

/// `POST /auth-files/refresh {name}`: refresh the account's token now, even when it is
/// not due (a transient failure's back-off is skipped; a refused login is not retried).
pub async fn refresh_now(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let (_, name) = body_name(&body)?;
    let name = check_name(&name)?;
    let snap = state.current();
    let acc = snap
        .accounts
        .iter()
        .find(|a| a.name == name)
        .cloned()
        .ok_or_else(|| Fail::not_found(format!("no auth file named {name}")))?;
    if acc.provider.is_none() {
        return Err(Fail::bad(format!(
            "{name}: type `{}` is not a provider cliproxy can refresh",
            acc.file.read().type_name
        )));
    }
    {
        let mut st = acc.state.write();
        if let AccountState::NeedsLogin(why) = &*st {
            return Err(Fail::new(
                StatusCode::CONFLICT,
                "needs login",
                format!(
                    "{name} needs a new login ({why}): run `{}` or start a login here",
                    acc.file.read().login_command()
                ),
            ));
        }
        if matches!(*st, AccountState::RefreshFailed { .. }) {
            *st = AccountState::Ok;
        }
    }
    let trigger = match acc.access_token() {
        // Refreshing "because this token was refused" forces a new one.
        Some(t) => Trigger::Unauthorized(t),
        None => Trigger::Expired,
    };
    let proxy = acc.file.read().str_field("proxy_url").map(str::to_string);
    let client = state
        .clients
        .get(proxy.as_deref(), &snap.config.proxy_url)
        .map_err(|e| Fail::internal(format!("no HTTP client: {e}")))?;
    let result = refresh::refresh(&acc, trigger, &state.refresh_env(&client, &snap.config)).await;
    match result {
        Ok(_) => {
            state.reload_auth();
            Ok(reply::ok_json(&json!({
                "status": "ok",
                "expiry": rfc(acc.expiry()),
            })))
        }
        Err(RefreshError::NeedsLogin(why)) => Err(Fail::new(
            StatusCode::CONFLICT,
            "needs login",
            format!(
                "{name}: refresh refused ({why}): run `{}`",
                acc.file.read().login_command()
            ),
        )),
        Err(RefreshError::Transient(why)) => Err(Fail::new(
            StatusCode::BAD_GATEWAY,
            "refresh failed",
            format!("{name}: token refresh failed: {why}"),
        )),
    }
}

/// `POST /cooldowns/clear {name, model?}`: the account (auth file name or API-key
/// entry id such as `claude-api-key[0]`) is tried again at once.
pub async fn clear_cooldown(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let (v, name) = body_name(&body)?;
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let snap = state.current();
    if !snap.creds.iter().any(|c| c.id == name) && !snap.accounts.iter().any(|a| a.name == name) {
        return Err(Fail::not_found(format!("no account named {name}")));
    }
    let cleared = state.cooldowns.clear_account(&name, model, Instant::now());
    Ok(reply::ok_json(&json!({"status": "ok", "cleared": cleared})))
}
