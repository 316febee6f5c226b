//! Picking a route: availability, priority groups, round-robin or fill-first.

use crate::config::Strategy;

use super::registry::Route;

/// Index into `routes` of the route to try next, or `None` when none is usable.
/// `usable(index, route)` says whether a route may be tried now (not disabled, tried
/// or cooling).
/// Only the highest priority among usable routes is considered.
pub fn pick(
    routes: &[Route],
    strategy: Strategy,
    cursor: usize,
    usable: impl Fn(usize, &Route) -> bool,
) -> Option<usize> {
    let candidates: Vec<usize> = (0..routes.len())
        .filter(|&i| usable(i, &routes[i]))
        .collect();
    let top = candidates.iter().map(|&i| routes[i].cred.priority).max()?;
    let group: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| routes[i].cred.priority == top)
        .collect();
    match strategy {
        Strategy::FillFirst => group.first().copied(),
        Strategy::RoundRobin => group.get(cursor % group.len()).copied(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::credential::{Credential, CredentialSecret};
    use crate::config::Secret;
    use crate::providers::Provider;

    fn route(id: &str, priority: i64) -> Route {
        Route {
            cred: Arc::new(Credential {
                id: id.into(),
                label: id.into(),
                provider: Provider::Claude,
                compat_name: None,
                base_url: String::new(),
                secret: CredentialSecret::ApiKey(Secret::new("k")),
                headers: vec![],
                proxy_url: None,
                priority,
                prefix: String::new(),
                models: vec![],
                excluded: vec![],
                disable_cooling: false,
                disabled: false,
            }),
            upstream_model: "m".into(),
        }
    }

    #[test]
    fn round_robin_cycles_within_top_priority() {
        let rs = vec![route("a", 0), route("b", 5), route("c", 5)];
        let picks: Vec<_> = (0..4)
            .map(|c| {
                rs[pick(&rs, Strategy::RoundRobin, c, |_, _| true).unwrap()]
                    .cred
                    .id
                    .clone()
            })
            .collect();
        assert_eq!(picks, vec!["b", "c", "b", "c"]);
    }

    #[test]
    fn lower_priority_used_when_top_group_unusable() {
        let rs = vec![route("a", 0), route("b", 5)];
        let i = pick(&rs, Strategy::RoundRobin, 0, |_, r| r.cred.id != "b").unwrap();
        assert_eq!(rs[i].cred.id, "a");
        assert_eq!(pick(&rs, Strategy::RoundRobin, 0, |_, _| false), None);
    }

    #[test]
    fn fill_first_sticks_to_first_usable() {
        let rs = vec![route("a", 0), route("b", 0)];
        for c in 0..3 {
            assert_eq!(pick(&rs, Strategy::FillFirst, c, |_, _| true), Some(0));
        }
        assert_eq!(
            pick(&rs, Strategy::FillFirst, 0, |_, r| r.cred.id == "b"),
            Some(1)
        );
    }
}
