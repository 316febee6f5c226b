//! Which credentials serve which client-visible model name.

use std::collections::HashMap;
use std::sync::Arc;

use crate::providers::{Operation, Provider};

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

#[derive(Debug, Default)]
pub struct Registry {
    exact: HashMap<String, Vec<Route>>,
    /// Credentials without a model list: they serve their provider's whole family.
    catch_all: Vec<Arc<Credential>>,
    force_prefix: bool,
    listed: Vec<ListedModel>,
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
                for m in c
                    .provider
                    .catalog()
                    .iter()
                    .filter(|m| !excluded(&c.excluded, m))
                {
                    if c.prefix.is_empty() || !force_prefix {
                        list(&mut r, m.to_string(), c);
                    }
                    if !c.prefix.is_empty() {
                        list(&mut r, format!("{}/{m}", c.prefix), c);
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

    /// Routes for `model` whose provider can carry out `op`, in a stable order.
    pub fn resolve(&self, model: &str, op: Operation) -> Vec<Route> {
        self.resolve_where(model, |p| p.supports(op))
    }

    fn resolve_where(&self, model: &str, accept: impl Fn(Provider) -> bool) -> Vec<Route> {
        let mut out: Vec<Route> = self
            .exact
            .get(model)
            .map(|v| {
                v.iter()
                    .filter(|r| accept(r.cred.provider))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for c in self.catch_all.iter().filter(|c| accept(c.provider)) {
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
            if c.provider.serves_model(upstream) && !excluded(&c.excluded, upstream) {
                out.push(Route {
                    cred: c.clone(),
                    upstream_model: upstream.to_string(),
                });
            }
        }
        out
    }

    /// Which providers serve `model` for any operation (for a clearer error).
    pub fn served_by(&self, model: &str) -> Vec<Provider> {
        let mut v: Vec<Provider> = self
            .resolve_where(model, |_| true)
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
        provider: Provider,
        prefix: &str,
        models: &[(&str, &str)],
    ) -> Arc<Credential> {
        Arc::new(Credential {
            id: id.into(),
            label: id.into(),
            provider,
            compat_name: (provider == Provider::OpenAiCompat).then(|| "openrouter".into()),
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
            Provider::OpenAiCompat,
            "",
            &[("up/model-x", "model-x"), ("up/y", "")],
        );
        let r = Registry::build(&[c], false);
        let routes = r.resolve("model-x", Operation::ChatCompletions);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].upstream_model, "up/model-x");
        assert_eq!(
            r.resolve("up/y", Operation::ChatCompletions)[0].upstream_model,
            "up/y"
        );
        assert!(
            r.resolve("up/model-x", Operation::ChatCompletions)
                .is_empty()
        );
        // count_tokens is Claude's alone.
        assert!(r.resolve("model-x", Operation::CountTokens).is_empty());
        assert_eq!(r.served_by("model-x"), vec![Provider::OpenAiCompat]);
    }

    #[test]
    fn claude_accounts_serve_the_family_and_prefixes_strip() {
        let a = cred("a", Provider::Claude, "", &[]);
        let b = cred("b", Provider::Claude, "team", &[]);
        let r = Registry::build(&[a, b], false);
        let routes = r.resolve("claude-opus-4-5-20251101", Operation::CountTokens);
        assert_eq!(routes.len(), 2);
        let routes = r.resolve("team/claude-x", Operation::Messages);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].cred.id, "b");
        assert_eq!(routes[0].upstream_model, "claude-x");
        assert!(r.resolve("gpt-4o", Operation::Messages).is_empty());
        assert!(
            r.models()
                .iter()
                .any(|m| m.id == "team/claude-opus-4-5-20251101")
        );

        let forced = Registry::build(&[cred("b", Provider::Claude, "team", &[])], true);
        assert!(forced.resolve("claude-x", Operation::Messages).is_empty());
        assert_eq!(
            forced.resolve("team/claude-x", Operation::Messages).len(),
            1
        );
    }

    #[test]
    fn alias_pools_list_every_upstream() {
        let c = cred(
            "or",
            Provider::OpenAiCompat,
            "",
            &[("up/a", "pool"), ("up/b", "pool")],
        );
        let r = Registry::build(&[c], false);
        let ups: Vec<_> = r
            .resolve("pool", Operation::ChatCompletions)
            .into_iter()
            .map(|r| r.upstream_model)
            .collect();
        assert_eq!(ups, vec!["up/a", "up/b"]);
        assert_eq!(r.models().len(), 1);
    }
}
