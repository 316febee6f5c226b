//! Amp (ampcode.com): the facts about its service. Amp is not a [`super::Provider`]:
//! it holds no accounts the registry routes models to. It is a service the gateway
//! stands in front of: its routes are reverse-proxied with the Amp key, and its model
//! calls are served by the user's own accounts when one fits (`server/amp`).
//!
//! Everything here is pure: which key to use, which headers go upstream and which come
//! back. The I/O (reading the secrets file, sending) is the server's.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::{Ampcode, Secret};

/// Amp's public service, used when `ampcode.upstream-url` is empty.
pub const DEFAULT_UPSTREAM: &str = "https://ampcode.com";
/// Environment variable Amp's own CLI reads its key from.
pub const ENV_KEY: &str = "AMP_API_KEY";
/// Amp's secrets file under the home folder (written by `amp login`).
pub const SECRETS_FILE: &str = ".local/share/amp/secrets.json";
/// The member of the secrets file holding the key for the public service.
pub const SECRETS_MEMBER: &str = "apiKey@https://ampcode.com/";
/// The secrets file is a few hundred bytes; anything far larger is not Amp's file.
pub const SECRETS_MAX_BYTES: u64 = 64 * 1024;

/// The upstream base URL without a trailing slash.
pub fn upstream_url(cfg: &Ampcode) -> String {
    let u = cfg.upstream_url.trim();
    let u = if u.is_empty() { DEFAULT_UPSTREAM } else { u };
    u.trim_end_matches('/').to_string()
}

pub fn secrets_path(home: &Path) -> PathBuf {
    home.join(SECRETS_FILE)
}

/// The key in Amp's secrets file (`{"apiKey@https://ampcode.com/": "…"}`).
pub fn key_from_secrets(text: &str) -> Result<Option<Secret>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "not a JSON object".to_string())?;
    Ok(obj
        .get(SECRETS_MEMBER)
        .and_then(|k| k.as_str())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::new))
}

/// Where the Amp key of one request came from (for logs; never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `upstream-api-keys`: the client's own Amp key.
    ClientMapping,
    Config,
    Env,
    SecretsFile,
}

/// The Amp key for a request from `client_key` (the gateway key it authenticated
/// with, if any), in CLIProxyAPI's precedence: the client's mapped key, then
/// `upstream-api-key`, then `AMP_API_KEY`, then the secrets file (read only when
/// needed, hence the closure). A key equal to the client's own is skipped: an
/// `AMP_API_KEY` meant for the Amp CLI (a gateway key) must not be sent to Amp.
pub fn choose_key(
    cfg: &Ampcode,
    client_key: Option<&str>,
    env_key: Option<&str>,
    secrets_file: impl FnOnce() -> Option<Secret>,
) -> Option<(Secret, KeySource)> {
    let client_key = client_key.filter(|c| !c.is_empty());
    let not_clients = |k: &Secret| !k.is_empty() && !client_key.is_some_and(|c| k.ct_eq(c));
    if let Some(ck) = client_key {
        // First entry wins when a client key is listed twice, as in CLIProxyAPI.
        let mapped = cfg
            .upstream_api_keys
            .iter()
            .find(|e| !e.upstream_api_key.is_empty() && e.api_keys.iter().any(|k| k.ct_eq(ck)));
        if let Some(e) = mapped {
            return Some((e.upstream_api_key.clone(), KeySource::ClientMapping));
        }
    }
    if not_clients(&cfg.upstream_api_key) {
        return Some((cfg.upstream_api_key.clone(), KeySource::Config));
    }
    if let Some(k) = env_key.map(|k| Secret::new(k.trim())).filter(not_clients) {
        return Some((k, KeySource::Env));
    }
    secrets_file()
        .filter(not_clients)
        .map(|k| (k, KeySource::SecretsFile))
}

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), plus the ones
/// the HTTP client sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Client credentials for the gateway: they must never reach Amp.
const CLIENT_CREDENTIALS: &[&str] = &["authorization", "x-api-key", "x-goog-api-key"];

/// What the client's network path says about it; Amp has no business with it.
const FORWARDING: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

fn named_in_connection(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(name.as_str()))
}

/// The headers sent to Amp: the client's, minus hop-by-hop headers, its gateway
/// credentials and forwarding headers, plus Amp's key as Amp's CLI sends it (Bearer)
/// and as its provider passthroughs read it (`x-api-key`).
pub fn upstream_headers(client: &HeaderMap, key: Option<&Secret>) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 2);
    for (name, value) in client {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || CLIENT_CREDENTIALS.contains(&n)
            || FORWARDING.contains(&n)
            || n.starts_with("x-forwarded-")
            || named_in_connection(client, name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(k) = key
        && let (Ok(bearer), Ok(raw)) = (
            HeaderValue::from_str(&format!("Bearer {}", k.expose())),
            HeaderValue::from_str(k.expose()),
        )
    {
        let (mut bearer, mut raw) = (bearer, raw);
        bearer.set_sensitive(true);
        raw.set_sensitive(true);
        out.insert(header::AUTHORIZATION, bearer);
        out.insert("x-api-key", raw);
    }
    out
}

/// The headers of Amp's answer passed to the client (all but hop-by-hop ones; the
/// body is passed on as received, so `content-length` and `content-encoding` hold).
pub fn client_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        let n = name.as_str();
        if (HOP_BY_HOP.contains(&n) && n != "content-length") || named_in_connection(upstream, name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The query sent to Amp: the client's, without `key` / `auth_token` values that are
/// the client's gateway key (other values of those names are Amp's business).
pub fn upstream_query(query: Option<&str>, client_key: Option<&str>) -> Option<String> {
    let q = query.filter(|q| !q.is_empty())?;
    let Some(ck) = client_key.filter(|k| !k.is_empty()) else {
        return Some(q.to_string());
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            !(matches!(name, "key" | "auth_token") && value.trim() == ck)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AmpUpstreamKey;

    fn cfg(key: &str) -> Ampcode {
        Ampcode {
            upstream_api_key: Secret::new(key),
            upstream_api_keys: vec![AmpUpstreamKey {
                upstream_api_key: Secret::new("amp-for-c1"),
                api_keys: vec![Secret::new("c1")],
            }],
            ..Default::default()
        }
    }

    fn file(k: &str) -> impl FnOnce() -> Option<Secret> + '_ {
        move || Some(Secret::new(k))
    }

    #[test]
    fn key_precedence_is_client_mapping_config_env_file() {
        let pick = |c: &Ampcode, client, env| {
            choose_key(c, client, env, file("from-file")).map(|(k, s)| (k.expose().to_string(), s))
        };
        type Row<'a> = (
            Ampcode,
            Option<&'a str>,
            Option<&'a str>,
            Option<(&'a str, KeySource)>,
        );
        let table: &[Row] = &[
            (
                cfg("cfg"),
                Some("c1"),
                Some("env"),
                Some(("amp-for-c1", KeySource::ClientMapping)),
            ),
            (
                cfg("cfg"),
                Some("other"),
                Some("env"),
                Some(("cfg", KeySource::Config)),
            ),
            (
                cfg("cfg"),
                None,
                Some("env"),
                Some(("cfg", KeySource::Config)),
            ),
            (cfg(""), None, Some(" env "), Some(("env", KeySource::Env))),
            (
                cfg(""),
                None,
                Some("  "),
                Some(("from-file", KeySource::SecretsFile)),
            ),
            (
                cfg(""),
                Some("c1"),
                None,
                Some(("amp-for-c1", KeySource::ClientMapping)),
            ),
        ];
        for (c, client, env, want) in table {
            let got = pick(c, *client, *env);
            let want = want.map(|(k, s)| (k.to_string(), s));
            assert_eq!(got, want, "client {client:?} env {env:?}");
        }
        assert!(choose_key(&cfg(""), None, None, || None).is_none());
    }

    #[test]
    fn a_key_equal_to_the_clients_is_never_chosen() {
        let got = choose_key(&cfg("same"), Some("same"), Some("same"), file("same"));
        assert!(got.is_none());
        let got = choose_key(&cfg(""), Some("ck"), Some("ck"), file("from-file")).unwrap();
        assert_eq!(
            (got.0.expose(), got.1),
            ("from-file", KeySource::SecretsFile)
        );
    }

    #[test]
    fn the_secrets_file_is_read_only_when_needed() {
        let mut read = false;
        choose_key(&cfg("cfg"), None, None, || {
            read = true;
            None
        });
        assert!(!read);
    }

    #[test]
    fn secrets_file_member_is_read() {
        let k = key_from_secrets(r#"{"apiKey@https://ampcode.com/": " sgamp_1 ", "x": 1}"#)
            .unwrap()
            .unwrap();
        assert_eq!(k.expose(), "sgamp_1");
        assert!(key_from_secrets(r#"{"other": "k"}"#).unwrap().is_none());
        assert!(key_from_secrets("[1]").unwrap_err().contains("object"));
        assert!(key_from_secrets("{").unwrap_err().contains("JSON"));
    }

    #[test]
    fn client_credentials_and_hop_headers_never_go_upstream() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer client-key"),
            ("x-api-key", "client-key"),
            ("x-goog-api-key", "client-key"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-host", "evil"),
            ("x-real-ip", "10.0.0.1"),
            ("connection", "keep-alive, x-drop-me"),
            ("x-drop-me", "1"),
            ("host", "127.0.0.1:8317"),
            ("content-length", "12"),
            ("transfer-encoding", "chunked"),
            ("x-amp-thread-id", "T-1"),
            ("cookie", "session=s"),
            ("content-type", "application/json"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let out = upstream_headers(&h, Some(&Secret::new("amp-key")));
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-amp-thread-id",
                "cookie",
                "content-type",
                "authorization",
                "x-api-key"
            ]
        );
        assert_eq!(out["authorization"], "Bearer amp-key");
        assert_eq!(out["x-api-key"], "amp-key");
        let bare = upstream_headers(&h, None);
        assert!(bare.get("authorization").is_none() && bare.get("x-api-key").is_none());
    }

    #[test]
    fn answers_keep_their_length_and_encoding_but_not_hop_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("content-length", "5"),
            ("content-encoding", "gzip"),
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
            ("set-cookie", "a=b"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let out = client_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-length", "content-encoding", "set-cookie"]);
    }

    #[test]
    fn the_client_key_is_dropped_from_the_query_and_nothing_else() {
        let table = [
            (Some("key=ck&alt=sse"), Some("ck"), Some("alt=sse")),
            (Some("auth_token=ck"), Some("ck"), None),
            (Some("key=other&x=1"), Some("ck"), Some("key=other&x=1")),
            (Some("key=c%6B"), Some("ck"), None),
            (Some("key=ck"), None, Some("key=ck")),
            (None, Some("ck"), None),
        ];
        for (q, ck, want) in table {
            assert_eq!(upstream_query(q, ck).as_deref(), want, "{q:?}");
        }
    }

    /// The seed's `.env` carries `AMP_UPSTREAM_API_KEY`; the shipped template puts it
    /// in `ampcode.upstream-api-key`, where the key precedence finds it first.
    #[test]
    fn the_seed_template_carries_the_amp_key() {
        use crate::config::{EnvMap, Overrides, load_text, template};
        let env = EnvMap::from_pairs([
            ("CLIPROXY_MANAGEMENT_PASSWORD", "pw"),
            ("OPENROUTER_API_KEY", "or"),
            ("ZAI_API_KEY", "zai"),
            ("AMP_UPSTREAM_API_KEY", "sgamp_user_seed"),
        ]);
        let text = template::render_str(
            include_str!("../../templates/config.template.yaml"),
            &env,
            "config.template.yaml",
        )
        .unwrap();
        let path = std::path::Path::new("config.yaml");
        let cfg = load_text(Some((path, &text)), &env, &Overrides::default())
            .unwrap()
            .config;
        let amp = cfg.ampcode.unwrap();
        assert_eq!(upstream_url(&amp), DEFAULT_UPSTREAM);
        let (key, source) = choose_key(&amp, None, Some("env-key"), || None).unwrap();
        assert_eq!(
            (key.expose(), source),
            ("sgamp_user_seed", KeySource::Config)
        );
    }

    #[test]
    fn upstream_url_defaults_to_ampcode() {
        assert_eq!(upstream_url(&Ampcode::default()), "https://ampcode.com");
        let c = Ampcode {
            upstream_url: "http://127.0.0.1:9/".into(),
            ..Default::default()
        };
        assert_eq!(upstream_url(&c), "http://127.0.0.1:9");
    }
}
