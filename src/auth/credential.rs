//! Credentials the gateway can route to: OAuth accounts (auth files) and API-key
//! entries from config, normalised into one shape.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::{ModelAlias, Secret};
use crate::providers::ProviderKind;

use super::{AuthFile, AuthKind};

/// Why an OAuth account cannot be used right now (shown in errors and `auth list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountState {
    Ok,
    /// Refresh was refused (`invalid_grant`, reused token): only a new login helps.
    NeedsLogin(String),
    /// Refresh failed for a transient reason; retried after `until`.
    RefreshFailed {
        reason: String,
        until: std::time::Instant,
    },
}

/// A logged-in account backed by an auth file. Kept across reloads (same name), so its
/// refresh lock and state survive a config or folder change.
pub struct OAuthAccount {
    pub name: String,
    pub kind: AuthKind,
    pub file: RwLock<AuthFile>,
    pub state: RwLock<AccountState>,
    /// Single-flight: one refresh per account at a time.
    pub refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OAuthAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAccount")
            .field("name", &self.name)
            .field("state", &*self.state.read())
            .finish_non_exhaustive()
    }
}

impl OAuthAccount {
    pub fn new(file: AuthFile) -> Self {
        OAuthAccount {
            name: file.name.clone(),
            kind: file.kind,
            file: RwLock::new(file),
            state: RwLock::new(AccountState::Ok),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn access_token(&self) -> Option<Secret> {
        self.file.read().secret_field("access_token")
    }

    pub fn expiry(&self) -> Option<jiff::Timestamp> {
        self.file.read().expiry()
    }

    pub fn email(&self) -> Option<String> {
        self.file.read().email().map(str::to_string)
    }
}

#[derive(Debug, Clone)]
pub enum CredentialSecret {
    OAuth(Arc<OAuthAccount>),
    ApiKey(Secret),
}

/// One routable credential.
#[derive(Debug)]
pub struct Credential {
    /// Stable id: the auth file name, or e.g. `claude-api-key[0]`.
    pub id: String,
    /// Human label for errors: e-mail, or the key's last four characters.
    pub label: String,
    pub provider: ProviderKind,
    /// The `openai-compatibility` entry name (for compat credentials).
    pub compat_name: Option<String>,
    /// Empty means the provider's default (configured endpoint).
    pub base_url: String,
    pub secret: CredentialSecret,
    pub headers: Vec<(String, String)>,
    /// `None`: the global proxy-url; `Some("")`/"direct"/"none": no proxy.
    pub proxy_url: Option<String>,
    pub priority: i64,
    pub prefix: String,
    /// Explicit client-visible models (alias → upstream name). Empty: the provider's catalogue.
    pub models: Vec<ModelAlias>,
    pub excluded: Vec<String>,
    pub disable_cooling: bool,
    pub disabled: bool,
}

/// Id of a configured key: its place plus a digest of what it is, so that cooldowns (kept
/// across reloads) stay with the key and upstream they were earned on, not with the slot
/// when an edit replaces or reorders keys.
fn key_id(place: &str, base_url: &str, key: &str) -> String {
    let digest = crate::store::sha256_hex(format!("{base_url}\n{key}").as_bytes());
    format!("{place}#{}", &digest[..12])
}

pub fn mask_key(key: &str) -> String {
    let n = key.chars().count();
    if n <= 8 {
        return "****".to_string();
    }
    let tail: String = key.chars().skip(n - 4).collect();
    format!("…{tail}")
}

/// Matches CLIProxyAPI's exclusion patterns: exact, `prefix*`, `*suffix`, `*sub*`,
/// case-insensitive.
pub fn excluded(patterns: &[String], model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match (p.strip_prefix('*'), p.strip_suffix('*')) {
            (Some(_), Some(_)) if p.len() >= 2 => m.contains(&p[1..p.len() - 1]),
            (Some(suffix), None) => m.ends_with(suffix),
            (None, Some(prefix)) => m.starts_with(prefix),
            _ => m == p,
        }
    })
}

impl Credential {
    pub fn from_claude_key(i: usize, e: &crate::config::ApiKeyEntry) -> Credential {
        Credential {
            id: key_id(
                &format!("claude-api-key[{i}]"),
                &e.base_url,
                e.api_key.expose(),
            ),
            label: format!("claude-api-key[{i}] {}", mask_key(e.api_key.expose())),
            provider: ProviderKind::Claude,
            compat_name: None,
            base_url: e.base_url.trim_end_matches('/').to_string(),
            secret: CredentialSecret::ApiKey(e.api_key.clone()),
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            proxy_url: (!e.proxy_url.is_empty()).then(|| e.proxy_url.clone()),
            priority: e.priority,
            prefix: e.prefix.clone(),
            models: e.models.clone(),
            excluded: e.excluded_models.clone(),
            disable_cooling: e.disable_cooling,
            disabled: false,
        }
    }

    pub fn from_compat(
        entry: &crate::config::OpenAiCompat,
        i: usize,
        key: &crate::config::CompatKey,
    ) -> Credential {
        Credential {
            id: key_id(
                &format!("openai-compatibility[{}][{i}]", entry.name),
                &entry.base_url,
                key.api_key.expose(),
            ),
            label: format!("{} key {}", entry.name, mask_key(key.api_key.expose())),
            provider: ProviderKind::OpenAiCompat,
            compat_name: Some(entry.name.clone()),
            base_url: entry.base_url.trim_end_matches('/').to_string(),
            secret: CredentialSecret::ApiKey(key.api_key.clone()),
            headers: entry
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            proxy_url: (!key.proxy_url.is_empty()).then(|| key.proxy_url.clone()),
            priority: entry.priority,
            prefix: entry.prefix.clone(),
            models: entry.models.clone(),
            excluded: Vec::new(),
            disable_cooling: entry.disable_cooling,
            disabled: false,
        }
    }

    /// An OAuth account as a credential. Only provider kinds the gateway can serve
    /// today get one; other auth files are listed but not routed yet.
    pub fn from_account(acc: Arc<OAuthAccount>) -> Option<Credential> {
        let provider = match acc.kind {
            AuthKind::Claude => ProviderKind::Claude,
            _ => return None,
        };
        let f = acc.file.read();
        let label = f
            .email()
            .map(str::to_string)
            .unwrap_or_else(|| f.name.clone());
        let prefix = f.str_field("prefix").unwrap_or_default().to_string();
        let proxy_url = f.str_field("proxy_url").map(str::to_string);
        let cred = Credential {
            id: f.name.clone(),
            label,
            provider,
            compat_name: None,
            base_url: String::new(),
            secret: CredentialSecret::OAuth(acc.clone()),
            headers: f.headers(),
            proxy_url,
            priority: f.int_field("priority").unwrap_or(0),
            prefix,
            models: Vec::new(),
            excluded: f.excluded_models(),
            disable_cooling: f.bool_field("disable_cooling"),
            disabled: f.bool_field("disabled"),
        };
        drop(f);
        Some(cred)
    }

    pub fn oauth(&self) -> Option<&Arc<OAuthAccount>> {
        match &self.secret {
            CredentialSecret::OAuth(a) => Some(a),
            CredentialSecret::ApiKey(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_patterns() {
        let p = vec![
            "claude-3*".to_string(),
            "*-preview".into(),
            "*mini*".into(),
            "Exact".into(),
        ];
        assert!(excluded(&p, "claude-3-5-haiku"));
        assert!(excluded(&p, "gpt-x-preview"));
        assert!(excluded(&p, "o4-MINI-high"));
        assert!(excluded(&p, "exact"));
        assert!(!excluded(&p, "claude-sonnet-4"));
    }

    #[test]
    fn masked_keys_show_only_the_tail() {
        assert_eq!(mask_key("sk-ant-api03-abcdefgh1234"), "…1234");
        assert_eq!(mask_key("short"), "****");
    }
}
