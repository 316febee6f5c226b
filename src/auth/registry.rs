//! Which credentials serve which client-visible model name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::config::ModelAlias;
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
    /// Credentials without a model list: they serve their provider's whole family,
    /// minus the names an `oauth-model-alias` renamed away or routes exactly.
    catch_all: Vec<(Arc<Credential>, Vec<String>)>,
    force_prefix: bool,
    listed: Vec<ListedModel>,
}

fn owner(c: &Credential) -> String {
    c.compat_name
        .clone()
        .unwrap_or_else(|| c.provider.name().to_string())
}

/// `oauth-model-alias` / `oauth-excluded-models` channels are auth-file types
/// (`claude`, `codex`, `gemini-cli`, `antigravity`) or provider names.
fn channel_provider(channel: &str) -> Option<Provider> {
    let c = channel.trim().to_ascii_lowercase();
    Provider::from_auth_type(&c).or_else(|| Provider::ALL.into_iter().find(|p| p.name() == c))
}

/// `oauth-model-alias` by provider (channels naming no provider are ignored).
pub fn oauth_aliases(
    map: &BTreeMap<String, Vec<ModelAlias>>,
) -> HashMap<Provider, Vec<ModelAlias>> {
    let mut out: HashMap<Provider, Vec<ModelAlias>> = HashMap::new();
    for (channel, list) in map {
        if let Some(p) = channel_provider(channel) {
            out.entry(p).or_default().extend(
                list.iter()
                    .filter(|a| !a.name.is_empty() && !a.alias.is_empty())
                    .cloned(),
            );
        }
    }
    out
}

/// The `oauth-excluded-models` patterns for `provider`'s OAuth accounts.
pub fn oauth_excluded(map: &BTreeMap<String, Vec<String>>, provider: Provider) -> Vec<String> {
    map.iter()
        .filter(|(channel, _)| channel_provider(channel) == Some(provider))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

impl Registry {
    pub fn build(creds: &[Arc<Credential>], force_prefix: bool) -> Registry {
        Registry::build_with(creds, force_prefix, &HashMap::new())
    }

    /// As [`build`](Self::build), with `oauth-model-alias` applied to OAuth accounts
    /// without a model list: an alias serves its model under the new name, and the old
    /// name stays only when the alias is a `fork`.
    pub fn build_with(
        creds: &[Arc<Credential>],
        force_prefix: bool,
        oauth_aliases: &HashMap<Provider, Vec<ModelAlias>>,
    ) -> Registry {
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
                let aliases: &[ModelAlias] = match c.oauth() {
                    Some(_) => oauth_aliases.get(&c.provider).map_or(&[], Vec::as_slice),
                    None => &[],
                };
                let hidden: Vec<String> = aliases
                    .iter()
                    .filter(|a| !a.fork)
                    .map(|a| a.name.clone())
                    .collect();
                // The catch-all leaves alone what the aliases route exactly.
                let skip = hidden
                    .iter()
                    .cloned()
                    .chain(aliases.iter().map(|a| a.alias.clone()))
                    .collect();
                r.catch_all.push((c.clone(), skip));
                let visible = |r: &mut Registry,
                               list: &mut dyn FnMut(&mut Registry, String, &Credential),
                               m: &str| {
                    if c.prefix.is_empty() || !force_prefix {
                        list(r, m.to_string(), c);
                    }
                    if !c.prefix.is_empty() {
                        list(r, format!("{}/{m}", c.prefix), c);
                    }
                };
                for m in c
                    .provider
                    .catalog()
                    .iter()
                    .filter(|m| !excluded(&c.excluded, m) && !hidden.iter().any(|h| h == *m))
                {
                    visible(&mut r, &mut list, m);
                }
                for a in aliases.iter().filter(|a| !excluded(&c.excluded, &a.name)) {
                    visible(&mut r, &mut list, &a.alias);
                    let mut names = Vec::new();
                    if c.prefix.is_empty() || !force_prefix {
                        names.push(a.alias.clone());
                    }
                    if !c.prefix.is_empty() {
                        names.push(format!("{}/{}", c.prefix, a.alias));
                    }
                    for n in names {
                        r.exact.entry(n).or_default().push(Route {
                            cred: c.clone(),
                            upstream_model: a.name.clone(),
                        });
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
        r.catch_all.sort_by(|a, b| a.0.id.cmp(&b.0.id));
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
        for (c, hidden) in self.catch_all.iter().filter(|(c, _)| accept(c.provider)) {
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
            if c.provider.serves_model(upstream)
                && !excluded(&c.excluded, upstream)
                && !hidden.iter().any(|h| h == upstream)
                && !out
                    .iter()
                    .any(|r| Arc::ptr_eq(&r.cred, c) && r.upstream_model == upstream)
            {
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

    fn oauth_cred(id: &str, provider: Provider) -> Arc<Credential> {
        let file = crate::auth::AuthFile::parse(
            std::path::Path::new(&format!("/x/{id}")),
            format!(
                r#"{{"type":"{}","access_token":"t"}}"#,
                provider.auth_types()[0]
            )
            .as_bytes(),
        )
        .unwrap();
        let acc = Arc::new(crate::auth::credential::OAuthAccount::new(file));
        Arc::new(Credential::from_account(acc).unwrap())
    }

    #[test]
    fn oauth_model_aliases_rename_and_fork_models_of_oauth_accounts() {
        let map: BTreeMap<String, Vec<ModelAlias>> = [
            (
                "codex".to_string(),
                vec![
                    ModelAlias {
                        name: "gpt-5-codex".into(),
                        alias: "codex-main".into(),
                        fork: false,
                    },
                    ModelAlias {
                        name: "gpt-5".into(),
                        alias: "gpt5-fork".into(),
                        fork: true,
                    },
                ],
            ),
            (
                "claude".to_string(),
                vec![ModelAlias {
                    name: "claude-sonnet-4-5-20250929".into(),
                    alias: "sonnet".into(),
                    fork: false,
                }],
            ),
            (
                "qwen".to_string(),
                vec![ModelAlias {
                    name: "q".into(),
                    alias: "qq".into(),
                    fork: false,
                }],
            ),
        ]
        .into();
        let aliases = oauth_aliases(&map);
        assert_eq!(aliases.len(), 2, "channels without a provider are ignored");
        let codex = oauth_cred("codex-a.json", Provider::Codex);
        let key = cred("claude-api-key[0]", Provider::Claude, "", &[]);
        let claude = oauth_cred("claude-a.json", Provider::Claude);
        let r = Registry::build_with(&[codex, key, claude], false, &aliases);
        let route = |m: &str| {
            r.resolve(m, Operation::Responses)
                .into_iter()
                .map(|r| (r.cred.id.clone(), r.upstream_model))
                .collect::<Vec<_>>()
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            route("codex-main"),
            vec![pair("codex-a.json", "gpt-5-codex")]
        );
        assert!(route("gpt-5-codex").is_empty(), "renamed away without fork");
        assert_eq!(route("gpt5-fork"), vec![pair("codex-a.json", "gpt-5")]);
        assert_eq!(
            route("gpt-5"),
            vec![pair("codex-a.json", "gpt-5")],
            "fork keeps the name"
        );
        // API keys are not OAuth accounts: only the OAuth account is renamed.
        assert_eq!(
            route("sonnet"),
            vec![pair("claude-a.json", "claude-sonnet-4-5-20250929")]
        );
        assert_eq!(
            route("claude-sonnet-4-5-20250929"),
            vec![pair("claude-api-key[0]", "claude-sonnet-4-5-20250929")]
        );
        let listed: Vec<_> = r.models().iter().map(|m| m.id.as_str()).collect();
        for want in [
            "codex-main",
            "gpt5-fork",
            "gpt-5",
            "sonnet",
            "gpt-5.1-codex",
        ] {
            assert!(listed.contains(&want), "{want} in {listed:?}");
        }
        assert!(!listed.contains(&"gpt-5-codex"));
    }

    #[test]
    fn oauth_excluded_models_are_read_per_channel() {
        let map: BTreeMap<String, Vec<String>> = [
            ("codex".to_string(), vec!["gpt-5-codex-mini".to_string()]),
            ("gemini-cli".to_string(), vec!["*-preview".to_string()]),
        ]
        .into();
        assert_eq!(
            oauth_excluded(&map, Provider::Codex),
            vec!["gpt-5-codex-mini"]
        );
        assert_eq!(oauth_excluded(&map, Provider::Gemini), vec!["*-preview"]);
        assert!(oauth_excluded(&map, Provider::Claude).is_empty());
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
