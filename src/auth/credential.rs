//! Credentials the gateway can route to: OAuth accounts (auth files) and API-key
//! entries from config, normalised into one shape.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::{ApiKeyEntry, ModelAlias, Secret};
use crate::providers::Provider;

use super::AuthFile;

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
    /// `None`: an auth file of a type we do not know (listed, never refreshed).
    pub provider: Option<Provider>,
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
            provider: file.provider,
            file: RwLock::new(file),
            state: RwLock::new(AccountState::Ok),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The access token (top level, or Gemini CLI's `token.access_token`).
    pub fn access_token(&self) -> Option<Secret> {
        super::refresh::access_token(&self.file.read())
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
    pub provider: Provider,
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
pub fn key_id(place: &str, base_url: &str, key: &str) -> String {
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
    /// A `<section>[i]` API-key entry (`claude-api-key`, later `codex-api-key`, ...).
    pub fn from_api_key_entry(
        provider: Provider,
        section: &str,
        i: usize,
        e: &ApiKeyEntry,
    ) -> Credential {
        Credential {
            id: key_id(&format!("{section}[{i}]"), &e.base_url, e.api_key.expose()),
            label: format!("{section}[{i}] {}", mask_key(e.api_key.expose())),
            provider,
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

    /// An OAuth account as a credential. Only providers that serve their auth files
    /// get one; other auth files are listed and refreshed but not routed.
    pub fn from_account(acc: Arc<OAuthAccount>) -> Option<Credential> {
        let provider = acc.provider.filter(|p| p.serves_auth_files())?;
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

    /// Applies `oauth-model-alias` for the account's channel: the catalog becomes the
    /// explicit model list, each aliased model under its alias (and, with `fork`, its
    /// own name too); aliases of models outside the catalog are added as given.
    /// Credentials without aliases keep serving their provider's whole family.
    pub fn with_oauth_aliases(
        mut self,
        aliases: &std::collections::BTreeMap<String, Vec<ModelAlias>>,
    ) -> Credential {
        let channel = self.provider.alias_channel();
        let Some(list) = aliases
            .get(channel)
            .filter(|l| !channel.is_empty() && !l.is_empty())
        else {
            return self;
        };
        let list: Vec<&ModelAlias> = list
            .iter()
            .filter(|a| !a.name.is_empty() && !a.alias.is_empty())
            .collect();
        let mut models = Vec::new();
        for m in self.provider.catalog() {
            let mine: Vec<_> = list.iter().filter(|a| a.name == *m).collect();
            if mine.is_empty() {
                models.push(ModelAlias {
                    name: m.to_string(),
                    ..Default::default()
                });
            }
            for a in mine {
                models.push((*a).clone());
            }
        }
        for a in list {
            if !self.provider.catalog().contains(&a.name.as_str()) {
                models.push(a.clone());
            }
        }
        self.models = models;
        self
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
    fn oauth_aliases_rename_catalog_models_for_their_channel() {
        let file = AuthFile::parse(
            std::path::Path::new("/x/antigravity-a.json"),
            br#"{"type":"antigravity","access_token":"t"}"#,
        )
        .unwrap();
        let cred = Credential::from_account(Arc::new(OAuthAccount::new(file))).unwrap();
        let alias = |name: &str, alias: &str, fork| ModelAlias {
            name: name.into(),
            alias: alias.into(),
            fork,
        };
        let mut map = std::collections::BTreeMap::new();
        map.insert(
            "antigravity".to_string(),
            vec![
                alias("gemini-3-flash", "claude-haiku-4-5-20251001", false),
                alias("claude-sonnet-4-6", "sonnet", true),
                alias("not-listed", "extra", false),
            ],
        );
        map.insert("claude".to_string(), vec![alias("x", "y", false)]);
        let cred = cred.with_oauth_aliases(&map);
        let has = |name: &str, alias: &str| {
            cred.models
                .iter()
                .any(|m| m.name == name && m.alias == alias)
        };
        assert!(has("gemini-3-flash", "claude-haiku-4-5-20251001"));
        assert!(!has("gemini-3-flash", ""), "renamed without fork");
        assert!(has("claude-sonnet-4-6", "sonnet") && cred.models.iter().any(|m| m.fork));
        assert!(has("gemini-2.5-flash", ""), "other catalog models stay");
        assert!(has("not-listed", "extra"));
        assert!(!has("x", "y"), "other channels do not apply");
    }

    #[test]
    fn masked_keys_show_only_the_tail() {
        assert_eq!(mask_key("sk-ant-api03-abcdefgh1234"), "…1234");
        assert_eq!(mask_key("short"), "****");
    }
}
