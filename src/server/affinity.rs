//! Session affinity: requests of one conversation (same `prompt_cache_key` or session
//! id) go to the account that served it before, while that account is usable. Codex
//! needs it: encrypted reasoning made on one account is refused by another.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use parking_lot::Mutex;
use serde::Deserialize;

use axum::response::Response;
use bytes::Bytes;

use crate::auth::registry::Route;
use crate::providers::Provider;
use crate::translate::{Dialect, gemini};

/// Sessions remembered at most; the map starts over when full (like the cursors).
const MAX_SESSIONS: usize = 4096;
/// Longest session key kept (a client could send anything).
const MAX_KEY: usize = 256;

/// Session key → id of the credential that served it last.
#[derive(Debug, Default)]
pub struct Affinity {
    map: Mutex<HashMap<String, String>>,
    /// Which account issued each recent thought signature (shared with answer taps).
    pub signatures: Arc<Signatures>,
}

/// Signatures remembered at most, and for how long since last seen.
const MAX_SIGNATURES: usize = 16_384;
const SIGNATURE_TTL: Duration = Duration::from_secs(12 * 3600);

/// A short hash of a signature: the table never holds (or logs) the signature itself.
pub type SigHash = [u8; 16];

pub fn sig_hash(sig: &str) -> SigHash {
    use sha2::Digest;
    let d = sha2::Sha256::digest(sig.as_bytes());
    let mut h = [0u8; 16];
    h.copy_from_slice(&d[..16]);
    h
}

/// Signature hash → the credential that issued it (and when it was last seen); bounded
/// in size and age, pruned when full.
#[derive(Debug, Default)]
pub struct Signatures {
    map: Mutex<HashMap<SigHash, (Arc<str>, Instant)>>,
}

impl Signatures {
    pub fn issuer(&self, h: &SigHash, now: Instant) -> Option<Arc<str>> {
        self.map
            .lock()
            .get(h)
            .filter(|(_, at)| now.saturating_duration_since(*at) < SIGNATURE_TTL)
            .map(|(id, _)| id.clone())
    }

    pub fn record(&self, h: SigHash, cred_id: &Arc<str>, now: Instant) {
        let mut m = self.map.lock();
        if m.len() >= MAX_SIGNATURES && !m.contains_key(&h) {
            m.retain(|_, (_, at)| now.saturating_duration_since(*at) < SIGNATURE_TTL);
            if m.len() >= MAX_SIGNATURES {
                // Still full: drop the oldest eighth at once so this stays rare.
                let mut ages: Vec<Instant> = m.values().map(|(_, at)| *at).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 8];
                m.retain(|_, (_, at)| *at > cut);
            }
        }
        m.insert(h, (cred_id.clone(), now));
    }
}

/// The route to prefer for a history whose signatures were issued by `issuers`
/// (oldest first, `None` for unknown ones): the issuer of the latest known signature
/// that can serve now, else the next latest.
pub fn prefer_issuer(
    routes: &[Route],
    issuers: &[Option<Arc<str>>],
    usable: impl Fn(usize) -> bool,
) -> Option<usize> {
    issuers.iter().rev().flatten().find_map(|id| {
        routes
            .iter()
            .position(|r| r.cred.id.as_str() == &**id)
            .filter(|&i| usable(i))
    })
}

/// Whether a signature issued by `issuer` (`None`: unknown) must reach `target` as the
/// skip sentinel: Gemini models on Google upstreams refuse signatures they did not make.
pub fn needs_sentinel(target: &Route, issuer: Option<&str>) -> bool {
    target.cred.provider.dialect() == Some(crate::translate::Dialect::Gemini)
        && !crate::translate::gemini::is_claude_model(&target.upstream_model)
        && issuer != Some(target.cred.id.as_str())
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

/// The signatures in one request's history (hashed, oldest first) and who issued them.
#[derive(Debug, Default)]
pub struct History {
    sigs: Vec<(SigHash, Option<Arc<str>>)>,
}

impl History {
    pub fn of(table: &Signatures, dialect: Dialect, body: &[u8]) -> History {
        let now = Instant::now();
        History {
            sigs: gemini::request_signatures(dialect, body)
                .iter()
                .map(|s| {
                    let h = sig_hash(s);
                    (h, table.issuer(&h, now))
                })
                .collect(),
        }
    }

    pub fn issuers(&self) -> Vec<Option<Arc<str>>> {
        self.sigs.iter().map(|(_, id)| id.clone()).collect()
    }

    fn issuer_of(&self, h: &SigHash) -> Option<&str> {
        self.sigs
            .iter()
            .find(|(k, _)| k == h)
            .and_then(|(_, id)| id.as_deref())
    }

    /// The request body for `target` when some signatures must become the skip
    /// sentinel there; `None`: send the body as it came.
    pub fn body_for(&self, target: &Route, dialect: Dialect, body: &[u8]) -> Option<Bytes> {
        let foreign = self
            .sigs
            .iter()
            .filter(|(_, id)| needs_sentinel(target, id.as_deref()))
            .count();
        if foreign == 0 {
            return None;
        }
        let out = gemini::replace_signatures(dialect, body, |s| {
            !needs_sentinel(target, self.issuer_of(&sig_hash(s)))
        })?;
        let account = &target.cred.label;
        tracing::debug!(%account, foreign, "thought signatures this account did not issue sent as the skip sentinel");
        Some(Bytes::from(out))
    }

    /// The account accepted its own signatures again: they stay remembered.
    pub fn touch(&self, table: &Signatures, cred_id: &Arc<str>) {
        let now = Instant::now();
        for (h, id) in &self.sigs {
            if id.as_deref() == Some(&**cred_id) {
                table.record(*h, cred_id, now);
            }
        }
    }
}

/// Whether answers from `provider` carry signatures worth remembering.
pub fn issues_signatures(provider: Provider) -> bool {
    provider != Provider::OpenAiCompat
}

/// The answer, passed on unchanged while each signature in it is recorded as issued
/// by `cred_id` (as soon as it is seen: the client may go away before the end).
pub fn tap_answer(
    resp: Response,
    dialect: Dialect,
    table: Arc<Signatures>,
    cred_id: Arc<str>,
) -> Response {
    let Some(scanner) = gemini::SignatureScanner::new(dialect) else {
        return resp;
    };
    super::tap::tap(
        resp,
        Issued {
            scanner,
            table,
            cred_id,
        },
    )
}

/// Records each signature of the answer as issued by `cred_id`.
struct Issued {
    scanner: gemini::SignatureScanner,
    table: Arc<Signatures>,
    cred_id: Arc<str>,
}

impl super::tap::Watch for Issued {
    fn chunk(&mut self, chunk: &bytes::Bytes) {
        let Issued {
            scanner,
            table,
            cred_id,
        } = self;
        scanner.feed(chunk, |s| {
            table.record(sig_hash(s), cred_id, Instant::now())
        });
    }

    fn end(self) {}
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

    fn route(id: &str, provider: Provider) -> Route {
        route_for(id, provider, "gpt-5")
    }

    fn route_for(id: &str, provider: Provider, model: &str) -> Route {
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
            upstream_model: model.into(),
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

    #[test]
    fn the_issuer_of_the_latest_usable_signature_is_preferred() {
        let routes = [
            route_for("gemini-key-1", Provider::GeminiApi, "gemini-3-flash"),
            route_for("ag-a.json", Provider::Antigravity, "gemini-3-flash"),
            route_for("ag-b.json", Provider::Antigravity, "gemini-3-flash"),
        ];
        let id = |s: &str| Some(Arc::<str>::from(s));
        type Row = (
            &'static str,
            Vec<Option<Arc<str>>>,
            Vec<usize>,
            Option<usize>,
        );
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("no signatures", vec![], vec![0, 1, 2], None),
            ("unknown signatures only (after a restart)", vec![None, None], vec![0, 1, 2], None),
            ("one issuer, usable", vec![id("ag-a.json")], vec![0, 1, 2], Some(1)),
            ("the latest known issuer wins", vec![id("ag-a.json"), None, id("gemini-key-1"), None], vec![0, 1, 2], Some(0)),
            ("latest issuer cooling: the one before", vec![id("ag-a.json"), id("gemini-key-1")], vec![1, 2], Some(1)),
            ("issuer cooling or excluded: none preferred", vec![id("ag-b.json")], vec![0, 1], None),
            ("issuer removed from the config", vec![id("ag-gone.json")], vec![0, 1, 2], None),
        ];
        for (name, issuers, usable, want) in table {
            assert_eq!(
                prefer_issuer(&routes, &issuers, |i| usable.contains(&i)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn foreign_signatures_reach_gemini_models_on_google_upstreams_as_the_sentinel() {
        let key = route_for("gemini-key-1", Provider::GeminiApi, "gemini-3-flash");
        let ag = route_for("ag-a.json", Provider::Antigravity, "gemini-3-flash");
        let ag_claude = route_for("ag-a.json", Provider::Antigravity, "claude-sonnet-4-5");
        let cli = route_for("cli.json", Provider::Gemini, "gemini-3-pro-preview");
        let vertex = route_for("vx", Provider::Vertex, "gemini-3-pro-preview");
        let codex = route_for("codex-a.json", Provider::Codex, "gpt-5");
        let claude = route_for("claude-a.json", Provider::Claude, "claude-sonnet-4-5");
        #[rustfmt::skip]
        let table: Vec<(&str, &Route, Option<&str>, bool)> = vec![
            ("its own signature stays", &ag, Some("ag-a.json"), false),
            ("another account's signature", &ag, Some("gemini-key-1"), true),
            ("an unknown signature", &key, None, true),
            ("gemini cli", &cli, Some("ag-a.json"), true),
            ("vertex", &vertex, None, true),
            ("claude behind antigravity keeps its thinking as is", &ag_claude, Some("x"), false),
            ("codex is not google", &codex, Some("codex-b.json"), false),
            ("claude is not google", &claude, None, false),
        ];
        for (name, target, issuer, want) in table {
            assert_eq!(needs_sentinel(target, issuer), want, "{name}");
        }
    }

    #[test]
    fn the_signature_table_is_bounded_and_forgets() {
        let t = Signatures::default();
        let now = Instant::now();
        let a: Arc<str> = Arc::from("a");
        t.record(sig_hash("s1"), &a, now);
        assert_eq!(t.issuer(&sig_hash("s1"), now).as_deref(), Some("a"));
        assert_eq!(t.issuer(&sig_hash("s2"), now), None);
        assert_eq!(
            t.issuer(&sig_hash("s1"), now + SIGNATURE_TTL),
            None,
            "expired"
        );
        for i in 0..MAX_SIGNATURES + 1 {
            t.record(
                sig_hash(&format!("k{i}")),
                &a,
                now + Duration::from_millis(i as u64),
            );
        }
        let len = t.map.lock().len();
        assert!(len <= MAX_SIGNATURES, "{len}");
        let last = now + Duration::from_millis(MAX_SIGNATURES as u64);
        assert!(
            t.issuer(&sig_hash(&format!("k{MAX_SIGNATURES}")), last)
                .is_some(),
            "the newest stays"
        );
        assert!(
            t.issuer(&sig_hash("k0"), last).is_none(),
            "the oldest went first"
        );
    }
}
