//! Session affinity: requests of one conversation (same `prompt_cache_key` or session
//! id) go to the account that served it before, while that account is usable. Codex
//! needs it: encrypted reasoning made on one account is refused by another.

use std::collections::HashMap;

use http::HeaderMap;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::auth::registry::Route;

/// Sessions remembered at most; the map starts over when full (like the cursors).
const MAX_SESSIONS: usize = 4096;
/// Longest session key kept (a client could send anything).
const MAX_KEY: usize = 256;

/// Session key → id of the credential that served it last.
#[derive(Debug, Default)]
pub struct Affinity {
    map: Mutex<HashMap<String, String>>,
}

impl Affinity {
    pub fn get(&self, key: &str) -> Option<String> {
        self.map.lock().get(key).cloned()
    }

    pub fn set(&self, key: &str, cred_id: &str) {
        let mut m = self.map.lock();
        if m.get(key).is_some_and(|id| id == cred_id) {
            return;
        }
        if m.len() >= MAX_SESSIONS && !m.contains_key(key) {
            m.clear();
        }
        m.insert(key.to_string(), cred_id.to_string());
    }
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(default, borrow)]
    prompt_cache_key: Option<&'a str>,
}

/// The conversation a request belongs to: the client's session header, else the
/// body's `prompt_cache_key` (Responses and Chat clients send it).
pub fn session_key(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let from_header = ["session_id", "session-id", "x-claude-code-session-id"]
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(str::to_string);
    from_header
        .or_else(|| {
            serde_json::from_slice::<Body>(body)
                .ok()
                .and_then(|b| b.prompt_cache_key.map(str::to_string))
        })
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY)
}

/// The route of the remembered credential, when it may be tried now.
pub fn prefer(routes: &[Route], cred_id: &str, usable: impl Fn(usize) -> bool) -> Option<usize> {
    routes
        .iter()
        .position(|r| r.cred.id == cred_id && r.cred.provider.session_affinity())
        .filter(|&i| usable(i))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;

    use super::*;
    use crate::auth::credential::{Credential, CredentialSecret};
    use crate::config::Secret;
    use crate::providers::Provider;

    fn route(id: &str, provider: Provider) -> Route {
        Route {
            cred: Arc::new(Credential {
                id: id.into(),
                label: id.into(),
                provider,
                compat_name: None,
                base_url: String::new(),
                secret: CredentialSecret::ApiKey(Secret::new("k")),
                headers: vec![],
                proxy_url: None,
                priority: 0,
                prefix: String::new(),
                models: vec![],
                excluded: vec![],
                disable_cooling: false,
                disabled: false,
            }),
            upstream_model: "gpt-5".into(),
        }
    }

    #[test]
    fn the_remembered_account_is_preferred_while_usable() {
        let routes = [
            route("codex-a.json", Provider::Codex),
            route("codex-b.json", Provider::Codex),
            route("claude-a.json", Provider::Claude),
        ];
        #[rustfmt::skip]
        let table: Vec<(&str, &str, Vec<usize>, Option<usize>)> = vec![
            ("remembered and usable", "codex-b.json", vec![0, 1], Some(1)),
            ("remembered but cooling or tried", "codex-b.json", vec![0], None),
            ("forgotten account", "codex-gone.json", vec![0, 1], None),
            ("providers without affinity are not pinned", "claude-a.json", vec![2], None),
        ];
        for (name, id, usable, want) in table {
            assert_eq!(prefer(&routes, id, |i| usable.contains(&i)), want, "{name}");
        }
    }

    #[test]
    fn session_keys_come_from_headers_then_the_cache_key() {
        let mut h = HeaderMap::new();
        let body = br#"{"model":"m","prompt_cache_key":"conv-1"}"#;
        assert_eq!(session_key(&h, body).as_deref(), Some("conv-1"));
        assert_eq!(session_key(&h, br#"{"model":"m"}"#), None);
        assert_eq!(session_key(&h, b"not json"), None);
        let long = format!(r#"{{"prompt_cache_key":"{}"}}"#, "k".repeat(MAX_KEY + 1));
        assert_eq!(session_key(&h, long.as_bytes()), None, "bounded");
        h.insert("session_id", HeaderValue::from_static("sess-7"));
        assert_eq!(session_key(&h, body).as_deref(), Some("sess-7"));
    }

    #[test]
    fn the_map_is_bounded() {
        let a = Affinity::default();
        for i in 0..MAX_SESSIONS {
            a.set(&format!("s{i}"), "x");
        }
        assert_eq!(a.get("s0").as_deref(), Some("x"));
        a.set("s0", "y");
        assert_eq!(
            a.get("s1").as_deref(),
            Some("x"),
            "an update does not clear"
        );
        a.set("new", "z");
        assert_eq!(a.get("s1"), None, "full: starts over");
        assert_eq!(a.get("new").as_deref(), Some("z"));
    }
}
