//! `GET /auth-files/models?name=` (what an account serves) and
//! `PATCH /auth-files/fields` (the routing fields of an auth file, as CLIProxyAPI v6.9
//! allows: `prefix`, `proxy_url`, `headers`, `priority`, `note`). Tokens and identity
//! are not editable here: a changed token comes from a login or a refresh, never from
//! a form. The file is rewritten only if nobody wrote it meanwhile (compare and swap),
//! every other field kept; the sync engine is told, the accounts reload.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::auth_files::check_name;
use super::reply::{self, Fail};
use crate::auth::AuthFile;
use crate::providers::Operation;
use crate::server::state::AppState;

/// The fields `PATCH /auth-files/fields` may set.
pub const EDITABLE: &[&str] = &["prefix", "proxy_url", "headers", "priority", "note"];
/// Most headers one file may carry, and the longest text value.
const MAX_HEADERS: usize = 64;
const MAX_TEXT: usize = 4096;

/// `GET /auth-files/models?name=`: `{"models": [{id, owned_by, type}]}`, the names
/// clients can ask for that this account serves (none while it is disabled).
pub async fn models(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> reply::Result {
    let name = q
        .get("name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Fail::bad("name is required"))?;
    let snap = state.current();
    let known =
        snap.accounts.iter().any(|a| a.name == name) || snap.creds.iter().any(|c| c.id == name);
    if !known {
        return Err(Fail::not_found(format!("no auth file named {name}")));
    }
    const OPS: [Operation; 4] = [
        Operation::Messages,
        Operation::ChatCompletions,
        Operation::GenerateContent,
        Operation::Responses,
    ];
    let mut out = Vec::new();
    for m in snap.registry.models() {
        let cred = OPS.iter().find_map(|op| {
            snap.registry
                .resolve(&m.id, *op)
                .into_iter()
                .find(|r| r.cred.id == name)
        });
        if let Some(route) = cred {
            out.push(json!({
                "id": m.id,
                "owned_by": m.owned_by,
                "type": route.cred.provider.name(),
            }));
        }
    }
    Ok(reply::ok_json(&json!({ "models": out })))
}

fn text(field: &str, v: &Value) -> Result<Value, String> {
    match v.as_str() {
        Some(s) if s.len() > MAX_TEXT => Err(format!("{field}: longer than {MAX_TEXT} bytes")),
        Some(s) => Ok(Value::String(s.trim().to_string())),
        None => Err(format!("{field}: expected a string (or null to remove it)")),
    }
}

/// The checked value of one editable field; `None` removes the field.
pub fn check_field(field: &str, v: &Value) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let value = match field {
        // CLIProxyAPI trims the separators off a prefix.
        "prefix" => {
            let t = text(field, v)?;
            let p = t.as_str().unwrap_or_default().trim_matches('/').to_string();
            if p.contains('/') {
                return Err("prefix: one segment, without `/` inside".into());
            }
            Value::String(p)
        }
        "proxy_url" => {
            let t = text(field, v)?;
            let p = t.as_str().unwrap_or_default();
            if !p.is_empty() && !matches!(p, "direct" | "none") && url::Url::parse(p).is_err() {
                return Err(format!(
                    "proxy_url: `{p}` is not a URL (or `direct` / `none`)"
                ));
            }
            t
        }
        "note" => text(field, v)?,
        "priority" => match v.as_i64() {
            Some(n) => json!(n),
            None => return Err("priority: expected an integer".into()),
        },
        "headers" => {
            let Some(m) = v.as_object() else {
                return Err("headers: expected an object of name → value".into());
            };
            if m.len() > MAX_HEADERS {
                return Err(format!("headers: more than {MAX_HEADERS}"));
            }
            for (k, hv) in m {
                let Some(s) = hv.as_str() else {
                    return Err(format!("headers.{k}: expected a string"));
                };
                if http::HeaderName::from_bytes(k.as_bytes()).is_err()
                    || http::HeaderValue::from_str(s).is_err()
                {
                    return Err(format!("headers.{k}: not a valid header"));
                }
            }
            v.clone()
        }
        other => {
            return Err(format!(
                "field `{other}` cannot be changed here; editable fields: {}",
                EDITABLE.join(", ")
            ));
        }
    };
    Ok(Some(value))
}

/// `fields` (the request without `name`) applied to an auth file's fields.
pub fn apply(fields: &Map<String, Value>, target: &mut Map<String, Value>) -> Result<(), String> {
    if fields.is_empty() {
        return Err(format!(
            "no fields to update; editable fields: {}",
            EDITABLE.join(", ")
        ));
    }
    let mut checked = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        checked.push((k, check_field(k, v)?));
    }
    for (k, v) in checked {
        match v {
            Some(v) => {
                target.insert(k.clone(), v);
            }
            None => {
                target.remove(k);
            }
        }
    }
    Ok(())
}

/// Tries before giving up when the file keeps changing under us (a refresh landing).
const CAS_TRIES: usize = 5;

/// Changes fields of the auth file `name` by compare-and-swap: read, change, and write
/// only if the file is still what was read — a refresh that lands meanwhile is never
/// overwritten with the token it replaced; the edit is redone on top of it instead.
pub(super) fn edit_fields(
    state: &AppState,
    name: &str,
    change: impl Fn(&mut Map<String, Value>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let path = state.auth_dir.join(name);
    for _ in 0..CAS_TRIES {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Fail::not_found(format!("no auth file named {name}")));
            }
            Err(e) => return Err(Fail::internal(format!("reading {name}: {e}"))),
        };
        let mut f = AuthFile::parse(&path, &bytes).map_err(|e| Fail::bad(e.message))?;
        change(&mut f.fields)?;
        let seen = crate::store::sha256_hex(&bytes);
        let written = crate::store::replace_if(&path, &f.to_bytes(), Some(&seen))
            .map_err(|e| Fail::internal(format!("writing {name}: {e}")))?;
        if written {
            if let Some(s) = &state.sync {
                s.notify_local_change(name);
            }
            state.reload_auth();
            return Ok(());
        }
    }
    Err(Fail::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("{name} kept changing while it was edited; try again"),
    ))
}

/// `PATCH /auth-files/fields {name, prefix?, proxy_url?, headers?, priority?, note?}`.
pub async fn patch_fields(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let mut req: Map<String, Value> = serde_json::from_slice(&body)
        .map_err(|_| Fail::bad("invalid request body: expected a JSON object"))?;
    let name = check_name(
        req.remove("name")
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or(""),
    )?;
    edit_fields(&state, &name, |fields| {
        apply(&req, fields).map_err(|e| Fail::bad(format!("{name}: {e}")))
    })?;
    Ok(reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(name: &str, file: &Value) -> (tempfile::TempDir, Arc<AppState>) {
        let d = tempfile::tempdir().unwrap();
        let auths = d.path().join("auths");
        std::fs::create_dir_all(&auths).unwrap();
        std::fs::write(auths.join(name), serde_json::to_vec(file).unwrap()).unwrap();
        let s = AppState::new(
            crate::config::Config::default(),
            crate::config::EnvMap::default(),
            None,
            crate::config::Overrides::default(),
            auths,
            None,
            None,
            crate::usage::Recorder::disabled(),
        );
        (d, s)
    }

    #[test]
    fn an_edit_redone_on_a_refresh_that_landed_meanwhile_keeps_the_new_token() {
        let name = "claude-a@example.com.json";
        let old = json!({"type": "claude", "email": "a@example.com", "access_token": "at-old", "refresh_token": "rt-old"});
        let (_d, state) = state_with(name, &old);
        let path = state.auth_dir.join(name);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        edit_fields(&state, name, |fields| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                // A refresh rotates the tokens between this edit's read and its write.
                let mut new = old.clone();
                new["access_token"] = json!("at-new");
                new["refresh_token"] = json!("rt-new");
                std::fs::write(&path, serde_json::to_vec(&new).unwrap()).unwrap();
            }
            fields.insert("disabled".into(), json!(true));
            Ok(())
        })
        .unwrap();
        let on_disk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk["refresh_token"], "rt-new", "{on_disk}");
        assert_eq!(on_disk["access_token"], "at-new");
        assert_eq!(on_disk["disabled"], true);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_file_that_keeps_changing_is_a_conflict_and_is_left_as_the_last_writer_left_it() {
        let name = "claude-b@example.com.json";
        let (_d, state) = state_with(name, &json!({"type": "claude", "refresh_token": "rt-0"}));
        let path = state.auth_dir.join(name);
        let n = std::sync::atomic::AtomicUsize::new(0);
        let err = edit_fields(&state, name, |fields| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let body = json!({"type": "claude", "refresh_token": format!("rt-{i}")});
            std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
            fields.insert("disabled".into(), json!(true));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        let on_disk: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk["refresh_token"], format!("rt-{CAS_TRIES}"));
        assert!(on_disk.get("disabled").is_none());
    }

    #[test]
    fn only_routing_fields_are_editable_and_each_is_checked() {
        type Case<'a> = (&'a str, Value, Result<Option<Value>, &'a str>);
        let table: &[Case] = &[
            ("prefix", json!("/team/"), Ok(Some(json!("team")))),
            ("prefix", json!("a/b"), Err("prefix: one segment")),
            (
                "proxy_url",
                json!("socks5://127.0.0.1:1080"),
                Ok(Some(json!("socks5://127.0.0.1:1080"))),
            ),
            ("proxy_url", json!("direct"), Ok(Some(json!("direct")))),
            (
                "proxy_url",
                json!("not a url"),
                Err("proxy_url: `not a url` is not a URL"),
            ),
            ("priority", json!(3), Ok(Some(json!(3)))),
            (
                "priority",
                json!("high"),
                Err("priority: expected an integer"),
            ),
            (
                "note",
                json!(" work laptop "),
                Ok(Some(json!("work laptop"))),
            ),
            ("note", Value::Null, Ok(None)),
            (
                "headers",
                json!({"X-Team": "a"}),
                Ok(Some(json!({"X-Team": "a"}))),
            ),
            (
                "headers",
                json!({"X-Team": 1}),
                Err("headers.X-Team: expected a string"),
            ),
            (
                "headers",
                json!({"bad name": "a"}),
                Err("headers.bad name: not a valid header"),
            ),
            (
                "access_token",
                json!("sk-new"),
                Err("field `access_token` cannot be changed here"),
            ),
            (
                "refresh_token",
                json!("r"),
                Err("field `refresh_token` cannot be changed here"),
            ),
            (
                "email",
                json!("x@y"),
                Err("field `email` cannot be changed here"),
            ),
            (
                "disabled",
                json!(true),
                Err("field `disabled` cannot be changed here"),
            ),
        ];
        for (field, v, want) in table {
            let got = check_field(field, v);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{field}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{field}: {g}"),
                (g, w) => panic!("{field}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn a_patch_with_one_bad_field_changes_nothing_and_unknown_fields_stay() {
        let mut target: Map<String, Value> = serde_json::from_value(
            json!({"type": "claude", "access_token": "tok", "custom": {"kept": 1}, "note": "old"}),
        )
        .unwrap();
        let before = target.clone();
        let bad: Map<String, Value> =
            serde_json::from_value(json!({"note": "new", "access_token": "x"})).unwrap();
        assert!(apply(&bad, &mut target).is_err());
        assert_eq!(target, before);
        assert!(apply(&Map::new(), &mut target).is_err());

        let good: Map<String, Value> =
            serde_json::from_value(json!({"note": null, "priority": 5, "prefix": "team"})).unwrap();
        apply(&good, &mut target).unwrap();
        assert_eq!(
            Value::Object(target),
            json!({"type": "claude", "access_token": "tok", "custom": {"kept": 1}, "priority": 5, "prefix": "team"})
        );
    }
}
