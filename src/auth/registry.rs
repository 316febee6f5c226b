//! Which credentials serve which client-visible model name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::providers::ProviderKind;

use super::credential::{Credential, excluded};

/// One way to serve a request: a credential and the model name to send upstream.
#[derive(Debug, Clone)]
pub struct Route {
    pub cred: Arc<Credential>,
    pub upstream_model: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    pub id: String,
    pub owned_by: String,
}

/// Claude models listed when Claude accounts exist without an explicit model list.
pub const CLAUDE_CATALOG: &[&str] = &[
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
];

#[derive(Debug, Default)]
pub struct Registry {
    exact: HashMap<String, Vec<Route>>,
    /// Credentials without a model list: they serve their provider's whole family.
    catch_all: Vec<Arc<Credential>>,
    force_prefix: bool,
    listed: Vec<ListedModel>,
}

fn family_matches(provider: ProviderKind, model: &str) -> bool {
    match provider {
        ProviderKind::Claude => model.starts_with("claude-"),
        ProviderKind::OpenAiCompat => false,
    }
}

fn owner(c: &Credential) -> String {
    c.compat_name
        .clone()
        .unwrap_or_else(|| c.provider.name().to_string())
}

impl Registry {
    pub fn build(creds: &[Arc<Credential>], force_prefix: bool) -> Registry {
        let mut r = Registry {
            force_prefix,
            ..Default::default()
        };
        let mut seen = std::collections::HashSet::new();
        let mut list = |r: &mut Registry, id: String, c: &Credential| {
            if seen.insert(id.clone()) {
                r.listed.push(ListedModel {
                    id,
                    owned_by: owner(c),
                });
            }
        };
        for c in creds.iter().filter(|c| !c.disabled) {
            if c.models.is_empty() {
                r.catch_all.push(c.clone());
                if c.provider == ProviderKind::Claude {
                    for m in CLAUDE_CATALOG.iter().filter(|m| !excluded(&c.excluded, m)) {
                        if c.prefix.is_empty() || !force_prefix {
                            list(&mut r, m.to_string(), c);
                        }
                        if !c.prefix.is_empty() {
                            list(&mut r, format!("{}/{m}", c.prefix), c);
                        }
                    }
                }
                continue;
            }
            for m in &c.models {
                if m.name.is_empty() || excluded(&c.excluded, &m.name) {
                    continue;
                }
                let visible = if m.alias.is_empty() {
                    &m.name
                } else {
                    &m.alias
                };
                let mut names = Vec::new();
                if c.prefix.is_empty() || !force_prefix || c.prefix == *visible {
                    names.push(visible.clone());
                }
                if !c.prefix.is_empty() {
                    names.push(format!("{}/{visible}", c.prefix));
                }
                if m.fork && !m.alias.is_empty() {
                    names.push(m.name.clone());
                }
                for n in names {
                    list(&mut r, n.clone(), c);
                    r.exact.entry(n).or_default().push(Route {
                        cred: c.clone(),
                        upstream_model: m.name.clone(),
                    });
                }
            }
        }
        for routes in r.exact.values_mut() {
            routes.sort_by(|a, b| {
                a.cred
                    .id
                    .cmp(&b.cred.id)
                    .then(a.upstream_model.cmp(&b.upstream_model))
            });
        }
        r.catch_all.sort_by(|a, b| a.id.cmp(&b.id));
        r
    }

    /// Routes for `model` among `providers`, in a stable order.
    pub fn resolve(&self, model: &str, providers: &[ProviderKind]) -> Vec<Route> {
        let mut out: Vec<Route> = self
            .exact
            .get(model)
            .map(|v| {
                v.iter()
                    .filter(|r| providers.contains(&r.cred.provider))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for c in self
            .catch_all
            .iter()
            .filter(|c| providers.contains(&c.provider))
        {
            let upstream = if !c.prefix.is_empty() {
                match model
                    .strip_prefix(&c.prefix)
                    .and_then(|m| m.strip_prefix('/'))
                {
                    Some(m) => m,
                    None if !self.force_prefix => model,
                    None => continue,
                }
            } else {
                model
            };
            if family_matches(c.provider, upstream) && !excluded(&c.excluded, upstream) {
                out.push(Route {
                    cred: c.clone(),
                    upstream_model: upstream.to_string(),
                });
            }
        }
        out
    }

    /// Whether any provider at all serves `model` (for a clearer error).
    pub fn served_by(&self, model: &str) -> Vec<ProviderKind> {
        let mut v: Vec<ProviderKind> = self
            .resolve(model, &[ProviderKind::Claude, ProviderKind::OpenAiCompat])
            .iter()
            .map(|r| r.cred.provider)
            .collect();
        v.dedup();
        v
    }

    pub fn models(&self) -> &[ListedModel] {
        &self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credential::CredentialSecret;
    use crate::config::{ModelAlias, Secret};

    fn cred(
        id: &str,
        provider: ProviderKind,
        prefix: &str,
        models: &[(&str, &str)],
    ) -> Arc<Credential> {
        Arc::new(Credential {
            id: id.into(),
            label: id.into(),
            provider,
            compat_name: (provider == ProviderKind::OpenAiCompat).then(|| "openrouter".into()),
            base_url: String::new(),
            secret: CredentialSecret::ApiKey(Secret::new("k")),
            headers: vec![],
            proxy_url: None,
            priority: 0,
            prefix: prefix.into(),
            models: models
                .iter()
                .map(|(n, a)| ModelAlias {
                    name: n.to_string(),
                    alias: a.to_string(),
                    fork: false,
                })
                .collect(),
            excluded: vec![],
            disable_cooling: false,
            disabled: false,
        })
    }

    #[test]
    fn aliases_map_to_upstream_names() {
        let c = cred(
            "or",
            ProviderKind::OpenAiCompat,
            "",
            &[("up/model-x", "model-x"), ("up/y", "")],
        );
        let r = Registry::build(&[c], false);
        let routes = r.resolve("model-x", &[ProviderKind::OpenAiCompat]);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].upstream_model, "up/model-x");
        assert_eq!(
            r.resolve("up/y", &[ProviderKind::OpenAiCompat])[0].upstream_model,
            "up/y"
        );
        assert!(
            r.resolve("up/model-x", &[ProviderKind::OpenAiCompat])
                .is_empty()
        );
        assert!(r.resolve("model-x", &[ProviderKind::Claude]).is_empty());
    }

    #[test]
    fn claude_accounts_serve_the_family_and_prefixes_strip() {
        let a = cred("a", ProviderKind::Claude, "", &[]);
        let b = cred("b", ProviderKind::Claude, "team", &[]);
        let r = Registry::build(&[a, b], false);
        let routes = r.resolve("claude-opus-4-5-20251101", &[ProviderKind::Claude]);
        assert_eq!(routes.len(), 2);
        let routes = r.resolve("team/claude-x", &[ProviderKind::Claude]);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].cred.id, "b");
        assert_eq!(routes[0].upstream_model, "claude-x");
        assert!(r.resolve("gpt-4o", &[ProviderKind::Claude]).is_empty());
        assert!(
            r.models()
                .iter()
                .any(|m| m.id == "team/claude-opus-4-5-20251101")
        );

        let forced = Registry::build(&[cred("b", ProviderKind::Claude, "team", &[])], true);
        assert!(
            forced
                .resolve("claude-x", &[ProviderKind::Claude])
                .is_empty()
        );
        assert_eq!(
            forced
                .resolve("team/claude-x", &[ProviderKind::Claude])
                .len(),
            1
        );
    }

    #[test]
    fn alias_pools_list_every_upstream() {
        let c = cred(
            "or",
            ProviderKind::OpenAiCompat,
            "",
            &[("up/a", "pool"), ("up/b", "pool")],
        );
        let r = Registry::build(&[c], false);
        let ups: Vec<_> = r
            .resolve("pool", &[ProviderKind::OpenAiCompat])
            .into_iter()
            .map(|r| r.upstream_model)
            .collect();
        assert_eq!(ups, vec!["up/a", "up/b"]);
        assert_eq!(r.models().len(), 1);
    }
}
