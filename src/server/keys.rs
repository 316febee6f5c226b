//! Client keys (`api-keys`), read from the five places CLIProxyAPI accepts.

use http::HeaderMap;

use crate::config::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// `api-keys` is empty: the gateway is open (only allowed on loopback).
    Open,
    /// Index of the matched key.
    Matched(usize),
    Missing,
    Invalid,
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Candidates in CLIProxyAPI's order: Bearer, x-goog-api-key, x-api-key, ?key=, ?auth_token=.
pub fn candidates(headers: &HeaderMap, query: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(2);
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = match v.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => v,
        };
        out.push(token.to_string());
    }
    for h in ["x-goog-api-key", "x-api-key"] {
        if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
            out.push(v.trim().to_string());
        }
    }
    if let Some(q) = query {
        for name in ["key", "auth_token"] {
            if let Some(v) = query_param(q, name) {
                out.push(v.trim().to_string());
            }
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

pub fn check(keys: &[Secret], headers: &HeaderMap, query: Option<&str>) -> KeyCheck {
    if keys.is_empty() {
        return KeyCheck::Open;
    }
    let cands = candidates(headers, query);
    if cands.is_empty() {
        return KeyCheck::Missing;
    }
    for c in &cands {
        // Every key is compared (constant time each) so timing does not reveal which matched.
        let mut found = None;
        for (i, k) in keys.iter().enumerate() {
            if k.ct_eq(c) && found.is_none() {
                found = Some(i);
            }
        }
        if let Some(i) = found {
            return KeyCheck::Matched(i);
        }
    }
    KeyCheck::Invalid
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys() -> Vec<Secret> {
        vec![Secret::new("k1"), Secret::new("k2")]
    }

    #[test]
    fn all_five_sources_are_accepted() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("bearer k2"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Matched(1));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("k1"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Matched(0));
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("k1"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Matched(0));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Matched(1));
        let h = HeaderMap::new();
        assert_eq!(
            check(&keys(), &h, Some("alt=sse&key=k1")),
            KeyCheck::Matched(0)
        );
        assert_eq!(
            check(&keys(), &h, Some("auth_token=k2")),
            KeyCheck::Matched(1)
        );
    }

    #[test]
    fn missing_invalid_and_open() {
        let h = HeaderMap::new();
        assert_eq!(check(&keys(), &h, None), KeyCheck::Missing);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("nope"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Invalid);
        assert_eq!(check(&[], &h, None), KeyCheck::Open);
    }

    #[test]
    fn a_later_source_can_match_when_an_earlier_one_does_not() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sdk-placeholder"),
        );
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert_eq!(check(&keys(), &h, None), KeyCheck::Matched(0));
    }
}
