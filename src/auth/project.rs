//! The Cloud Code project of an account (Gemini CLI, Antigravity): read from the auth
//! file, or found once (the caller's `discover`) and saved into it — atomically, unknown
//! fields kept, sync told — so later requests and restarts skip the discovery.

use std::future::Future;

use serde_json::Value;

use super::credential::OAuthAccount;
use super::refresh::OnWrite;

/// The project id the file names (`project_id`), if any.
pub fn recorded(acc: &OAuthAccount) -> Option<String> {
    acc.file
        .read()
        .str_field("project_id")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// The account's project: recorded, or discovered (single-flight with the account's
/// refreshes) and recorded.
pub async fn ensure<F, Fut, E>(
    acc: &OAuthAccount,
    on_write: Option<&OnWrite>,
    discover: F,
) -> Result<String, E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, E>>,
{
    if let Some(p) = recorded(acc) {
        return Ok(p);
    }
    let _guard = acc.refresh_lock.lock().await;
    if let Some(p) = recorded(acc) {
        return Ok(p);
    }
    let project = discover().await?;
    let mut updated = acc.file.read().clone();
    updated
        .fields
        .insert("project_id".into(), Value::String(project.clone()));
    let bytes = updated.to_bytes();
    updated.hash = crate::store::sha256_hex(&bytes);
    if let Err(e) = crate::store::write_atomic(&updated.path, &bytes) {
        // Still usable for this run; the next start discovers it again.
        tracing::warn!(account = %acc.name, path = %updated.path.display(), error = %e, "could not save the discovered project id");
    }
    let path = updated.path.clone();
    *acc.file.write() = updated;
    if let Some(notify) = on_write {
        notify(&path);
    }
    tracing::info!(account = %acc.name, project = %project, "Cloud Code project discovered and saved");
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthFile;

    #[tokio::test]
    async fn a_discovered_project_is_saved_once_keeping_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("antigravity-a@x.json");
        let raw =
            br#"{"type":"antigravity","email":"a@x","access_token":"t","custom":{"k":[1,2]}}"#;
        std::fs::write(&path, raw).unwrap();
        let acc = OAuthAccount::new(AuthFile::parse(&path, raw).unwrap());
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let p = ensure(&acc, None, || async {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, String>("proj-1".to_string())
            })
            .await
            .unwrap();
            assert_eq!(p, "proj-1");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["project_id"], "proj-1");
        assert_eq!(saved["custom"]["k"][1], 2);
        assert_eq!(saved["email"], "a@x");
    }

    #[tokio::test]
    async fn a_failed_discovery_saves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("antigravity-b.json");
        let raw = br#"{"type":"antigravity","project_id":""}"#;
        std::fs::write(&path, raw).unwrap();
        let acc = OAuthAccount::new(AuthFile::parse(&path, raw).unwrap());
        let e = ensure(&acc, None, || async {
            Err("loadCodeAssist: HTTP 403".to_string())
        })
        .await
        .unwrap_err();
        assert!(e.contains("403"));
        assert_eq!(std::fs::read(&path).unwrap(), raw);
    }
}
