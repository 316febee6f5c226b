//! The config file as the management API edits it: read, change one key in the text
//! (comments kept), check the result like a start would, save atomically, reload.

use std::path::{Path, PathBuf};

use http::StatusCode;
use serde_json::{Value, json};

use super::reply::{self, Fail};
use crate::config::{edit, mask};
use crate::server::state::AppState;

pub struct Doc {
    pub path: PathBuf,
    pub text: String,
    /// The file as a JSON tree (`{}` when empty).
    pub value: Value,
}

impl Doc {
    pub fn secrets(&self) -> Vec<String> {
        mask::secrets(&self.value)
    }

    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(&self.value, |v, k| v.get(*k))
    }
}

pub fn parse(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    // YAML 1.2 booleans, as the loader reads the file (`yes` stays text).
    let v: Value =
        serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
            .map_err(|e| e.to_string())?;
    Ok(if v.is_object() { v } else { json!({}) })
}

pub fn config_path(state: &AppState) -> reply::Result<PathBuf> {
    state.config_path.clone().ok_or_else(|| {
        Fail::new(
            StatusCode::CONFLICT,
            "no config file",
            "the gateway runs on built-in defaults; start it with --config PATH to change settings",
        )
    })
}

pub fn read(state: &AppState) -> reply::Result<Doc> {
    let path = config_path(state)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Fail::internal(format!("reading {}: {e}", path.display()))),
    };
    let value = parse(&text).map_err(|e| {
        Fail::internal(format!(
            "{} does not parse ({e}); fix it by hand or replace it with PUT /config.yaml",
            path.display()
        ))
    })?;
    Ok(Doc { path, text, value })
}

/// A plaintext `remote-management.secret-key` in `text` replaced by its bcrypt hash
/// (as CLIProxyAPI does on load); `None` when there is nothing to hash.
pub fn hash_plain_secret(text: &str) -> Result<Option<String>, String> {
    let root = parse(text)?;
    let Some(plain) = root
        .pointer("/remote-management/secret-key")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && !super::guard::is_bcrypt(s))
    else {
        return Ok(None);
    };
    let hash = bcrypt::hash(plain, super::guard::BCRYPT_COST)
        .map_err(|e| format!("hashing the management secret: {e}"))?;
    let mut new_root = root.clone();
    new_root["remote-management"]["secret-key"] = json!(hash);
    edit::set_nested(
        text,
        "remote-management",
        "secret-key",
        &json!(hash),
        &new_root,
    )
    .map(Some)
}

/// Hashes a plaintext management secret in the config file at start.
pub fn hash_secret_in_file(path: &Path) -> Result<bool, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => return Ok(false),
    };
    match hash_plain_secret(&text)? {
        Some(new) => {
            crate::store::write_atomic(path, new.as_bytes())
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Checks `text` as the gateway would load it, saves it atomically and reloads.
pub async fn commit(state: &AppState, path: &Path, text: String) -> reply::Result<()> {
    let text = match tokio::task::spawn_blocking({
        let t = text.clone();
        move || hash_plain_secret(&t)
    })
    .await
    {
        Ok(Ok(Some(hashed))) => hashed,
        Ok(Ok(None)) => text,
        Ok(Err(e)) => {
            return Err(Fail::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                e,
            ));
        }
        Err(e) => return Err(Fail::internal(e.to_string())),
    };
    crate::config::load_text(Some((path, &text)), &state.env, &state.overrides).map_err(|e| {
        Fail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!("{e} (nothing was changed)"),
        )
    })?;
    crate::store::write_atomic(path, text.as_bytes())
        .map_err(|e| Fail::internal(format!("writing {}: {e}", path.display())))?;
    state
        .reload_config()
        .map_err(|e| Fail::internal(format!("saved, but the reload failed: {e}")))?;
    Ok(())
}

/// Read, change (`f` returns the new text), check, save, reload; one at a time.
pub async fn edit_with(
    state: &AppState,
    f: impl FnOnce(&Doc) -> reply::Result<String>,
) -> reply::Result {
    let _one_writer = state.management.write_lock.lock().await;
    let doc = read(state)?;
    let text = f(&doc)?;
    commit(state, &doc.path, text).await?;
    Ok(reply::ok())
}

/// Sets top-level `key` to `value` (masked parts of it put back to their secrets).
pub async fn set_key(state: &AppState, key: &str, value: Value) -> reply::Result {
    edit_with(state, |doc| {
        let mut value = value;
        mask::unmask_value(&mut value, &doc.secrets()).map_err(Fail::bad)?;
        edit::set_top(&doc.text, key, &value).map_err(Fail::internal)
    })
    .await
}

/// Sets `path` (one or two keys deep) to `value`.
pub async fn set_path(state: &AppState, path: &[&str], value: Value) -> reply::Result {
    match path {
        [key] => set_key(state, key, value).await,
        [parent, child] => {
            edit_with(state, |doc| {
                let mut value = value;
                mask::unmask_value(&mut value, &doc.secrets()).map_err(Fail::bad)?;
                let mut root = doc.value.clone();
                if !root.get(*parent).is_some_and(Value::is_object) {
                    root[*parent] = json!({});
                }
                root[*parent][*child] = value.clone();
                edit::set_nested(&doc.text, parent, child, &value, &root).map_err(Fail::internal)
            })
            .await
        }
        _ => Err(Fail::internal("settings are at most two keys deep")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_secrets_are_hashed_and_comments_kept() {
        let text = "# mine\nremote-management:\n  allow-remote: false\n  secret-key: hunter2 # change me\nport: 1\n";
        let out = hash_plain_secret(text).unwrap().unwrap();
        let v = parse(&out).unwrap();
        let h = v["remote-management"]["secret-key"].as_str().unwrap();
        assert!(super::super::guard::is_bcrypt(h));
        assert!(bcrypt::verify("hunter2", h).unwrap());
        assert!(
            out.starts_with("# mine\n") && out.contains("# change me\nport: 1\n"),
            "{out}"
        );
        // Already hashed, or none: nothing to do.
        assert!(hash_plain_secret(&out).unwrap().is_none());
        assert!(hash_plain_secret("port: 1\n").unwrap().is_none());
    }
}
