//! `GET /latest-version` and `POST /api-call`, in CLIProxyAPI's shapes.
//!
//! `api-call` is the Management Center's way to ask a provider something with an
//! account's credentials (quotas, model lists). It is bounded so it cannot become an
//! open proxy: the URL must be on one of the chosen account's own upstreams (its
//! `base-url`, or its provider's configured endpoints), redirects are not followed,
//! the `Host` cannot be overridden, and the answer is cut off at [`MAX_ANSWER`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use futures_util::StreamExt;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::reply::{self, Fail};
use crate::auth::credential::{Credential, CredentialSecret};
use crate::auth::refresh::{self, Trigger};
use crate::config::Config;
use crate::providers::Provider;
use crate::server::state::AppState;

/// Environment variable naming the release feed `latest-version` reads (a GitHub-style
/// "latest release" JSON: `{"tag_name": ...}`).
pub const RELEASE_URL_ENV: &str = "CLIPROXY_RELEASE_URL";
/// A release feed answer larger than this is not a release description.
const MAX_RELEASE_BODY: usize = 256 << 10;
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest upstream answer `api-call` hands back.
pub const MAX_ANSWER: usize = 2 << 20;
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The access token placeholder in `api-call` headers (CLIProxyAPI's).
const TOKEN_PLACEHOLDER: &str = "$TOKEN$";

/// Reads at most `limit` bytes of `resp`'s body; `None` when it is longer.
async fn bounded_body(resp: reqwest::Response, limit: usize) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.without_url().to_string())?;
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// The version a release feed names: its tag, else its name, without a leading `v`
/// kept as written (CLIProxyAPI answers the tag as is).
pub fn release_version(feed: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(feed).ok()?;
    ["tag_name", "name"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /latest-version`: `{"latest-version": "v1.2.3"}` from the release feed.
pub async fn latest_version(State(state): State<Arc<AppState>>) -> reply::Result {
    let Some(url) = state
        .env
        .get(RELEASE_URL_ENV)
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return Err(Fail::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "release_url_unset",
            format!(
                "no release feed configured: set {RELEASE_URL_ENV} to a GitHub-style latest-release URL (https://api.github.com/repos/OWNER/REPO/releases/latest)"
            ),
        ));
    };
    let parsed = url::Url::parse(url).map_err(|e| {
        Fail::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "release_url_invalid",
            format!("{RELEASE_URL_ENV} is not a URL: {e}"),
        )
    })?;
    let snap = state.current();
    let client = state
        .clients
        .passthrough(&snap.config.proxy_url)
        .map_err(|e| Fail::internal(format!("no HTTP client: {e}")))?;
    let unreachable = |why: String| {
        Fail::new(
            StatusCode::BAD_GATEWAY,
            "request_failed",
            format!("could not read the release feed {parsed}: {why}"),
        )
    };
    let resp = client
        .get(parsed.clone())
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header(
            http::header::USER_AGENT,
            concat!("cliproxy/", env!("CARGO_PKG_VERSION")),
        )
        .timeout(RELEASE_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(e.without_url().to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(unreachable(format!("it answered {status}")));
    }
    let body = bounded_body(resp, MAX_RELEASE_BODY)
        .await
        .map_err(unreachable)?
        .ok_or_else(|| unreachable(format!("the answer is over {MAX_RELEASE_BODY} bytes")))?;
    let version = release_version(&body)
        .ok_or_else(|| unreachable("the answer names no tag_name or name".into()))?;
    Ok(reply::ok_json(&json!({
        "latest-version": version,
        "current-version": env!("CARGO_PKG_VERSION"),
    })))
}

#[derive(Debug, Deserialize)]
struct CallRequest {
    #[serde(default, alias = "authIndex", alias = "AuthIndex")]
    auth_index: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    header: Map<String, Value>,
    #[serde(default)]
    data: String,
}

/// The origins (scheme, host, port) an account's requests go to: its own `base-url`,
/// else its provider's configured endpoints (with their defaults).
pub fn account_origins(cfg: &Config, cred: &Credential) -> Vec<url::Origin> {
    let mut urls: Vec<&str> = vec![&cred.base_url];
    match cred.provider {
        Provider::Claude => urls.push(&cfg.claude.base_url),
        Provider::Codex => urls.push(&cfg.codex.base_url),
        Provider::Gemini => {
            urls.push(&cfg.gemini.base_url);
            urls.extend(cfg.gemini.base_urls.iter().map(String::as_str));
        }
        Provider::Antigravity => {
            urls.push(&cfg.antigravity.base_url);
            urls.extend(cfg.antigravity.base_urls.iter().map(String::as_str));
        }
        Provider::GeminiApi => urls.push(crate::providers::gemini_api::DEFAULT_BASE),
        Provider::Vertex => urls.push(crate::providers::vertex::DEFAULT_BASE),
        Provider::OpenAiCompat => {}
    }
    let mut out: Vec<url::Origin> = urls
        .into_iter()
        .filter(|u| !u.trim().is_empty())
        .filter_map(|u| url::Url::parse(u.trim()).ok())
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple)
        .collect();
    out.dedup();
    out
}

/// Whether `target` may be called for an account going to `allowed`.
pub fn check_target(target: &str, allowed: &[url::Origin]) -> Result<url::Url, String> {
    let u = url::Url::parse(target.trim()).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "invalid url: scheme `{}` is not http(s)",
            u.scheme()
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("invalid url: credentials in the URL are not accepted".into());
    }
    if allowed.contains(&u.origin()) {
        Ok(u)
    } else {
        Err(format!(
            "{} is not one of this account's upstreams ({}): api-call only reaches the account's own provider",
            u.origin().ascii_serialization(),
            allowed
                .iter()
                .map(url::Origin::ascii_serialization)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Headers a caller may not set: the target is fixed by the URL, and the transport's
/// own framing is not theirs to choose.
fn refused_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "upgrade"
            | "te"
            | "trailer"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-connection"
    )
}

/// The credential an `api-call` names: `auth_index` (as `GET /auth-files` lists it)
/// or `name` (an auth file or an API-key entry id).
fn pick(state: &AppState, req: &CallRequest) -> reply::Result<Arc<Credential>> {
    let snap = state.current();
    let index = match &req.auth_index {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let name = match (&index, &req.name) {
        (Some(i), _) => {
            let acc = i
                .parse::<usize>()
                .ok()
                .and_then(|i| snap.accounts.get(i))
                .ok_or_else(|| Fail::not_found(format!("no auth file has auth_index {i}")))?;
            acc.name.clone()
        }
        (None, Some(n)) if !n.trim().is_empty() => n.trim().to_string(),
        _ => {
            return Err(Fail::bad(
                "auth_index (or name) is required: api-call only calls with an account's credentials",
            ));
        }
    };
    snap.creds
        .iter()
        .find(|c| c.id == name)
        .cloned()
        .ok_or_else(|| {
            Fail::not_found(format!(
                "{name} is not an account cliproxy routes to (unknown provider type, or disabled)"
            ))
        })
}

/// The credential's current token (an expired OAuth token is refreshed first).
async fn token_of(state: &AppState, cfg: &Config, cred: &Credential) -> reply::Result<String> {
    match &cred.secret {
        CredentialSecret::ApiKey(k) => Ok(k.expose().to_string()),
        CredentialSecret::OAuth(acc) => {
            let expired = refresh::is_expired(&acc.file.read(), jiff::Timestamp::now());
            if !expired && let Some(t) = acc.access_token() {
                return Ok(t.expose().to_string());
            }
            let client = state
                .clients
                .get(cred.proxy_url.as_deref(), &cfg.proxy_url)
                .map_err(|e| Fail::internal(format!("no HTTP client: {e}")))?;
            let fresh = refresh::refresh(acc, Trigger::Expired, &state.refresh_env(&client, cfg))
                .await
                .map_err(|e| {
                    Fail::new(
                        StatusCode::BAD_REQUEST,
                        "auth token refresh failed",
                        format!("{}: {e}", cred.id),
                    )
                })?;
            Ok(fresh.expose().to_string())
        }
    }
}

/// `POST /api-call {auth_index | name, method, url, header, data}` →
/// `{status_code, header, body}`.
pub async fn api_call(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let req: CallRequest =
        serde_json::from_slice(&body).map_err(|e| Fail::bad(format!("invalid body: {e}")))?;
    let method = req.method.trim().to_ascii_uppercase();
    let method = match method.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" => {
            reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| Fail::bad("missing method"))?
        }
        "" => return Err(Fail::bad("missing method")),
        other => return Err(Fail::bad(format!("method {other} is not accepted"))),
    };
    if req.url.trim().is_empty() {
        return Err(Fail::bad("missing url"));
    }
    let cred = pick(&state, &req)?;
    let snap = state.current();
    let cfg = &snap.config;
    let target = check_target(&req.url, &account_origins(cfg, &cred))
        .map_err(|why| Fail::new(StatusCode::FORBIDDEN, "url not allowed", why))?;
    let mut headers = http::HeaderMap::new();
    let mut token: Option<String> = None;
    for (k, v) in &req.header {
        let Some(v) = v.as_str() else {
            return Err(Fail::bad(format!("header {k}: the value must be a string")));
        };
        if refused_header(k) {
            return Err(Fail::bad(format!(
                "header {k} cannot be set through api-call"
            )));
        }
        let v = if v.contains(TOKEN_PLACEHOLDER) {
            if token.is_none() {
                token = Some(token_of(&state, cfg, &cred).await?);
            }
            v.replace(TOKEN_PLACEHOLDER, token.as_deref().unwrap_or_default())
        } else {
            v.to_string()
        };
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Fail::bad(format!("header name {k} is not valid")))?;
        let value = http::HeaderValue::from_str(&v)
            .map_err(|_| Fail::bad(format!("header {k}: the value is not valid")))?;
        headers.insert(name, value);
    }
    // The account's own proxy, else the global one; redirects come back unfollowed so
    // the call cannot be bounced to another host.
    let proxy = match cred.proxy_url.as_deref().map(str::trim) {
        Some("direct") | Some("none") => "",
        Some(p) if !p.is_empty() => p,
        _ => cfg.proxy_url.trim(),
    };
    let client = state
        .clients
        .passthrough(proxy)
        .map_err(|e| Fail::internal(format!("no HTTP client: {e}")))?;
    let mut rb = client
        .request(method, target.clone())
        .headers(headers)
        .timeout(CALL_TIMEOUT);
    if !req.data.is_empty() {
        rb = rb.body(req.data);
    }
    let origin = target.origin().ascii_serialization();
    let resp = rb.send().await.map_err(|e| {
        let why = e.without_url().to_string();
        tracing::debug!(%origin, error = %why, "management api-call failed");
        Fail::new(
            StatusCode::BAD_GATEWAY,
            "request failed",
            format!("{origin}: {why}"),
        )
    })?;
    let status = resp.status().as_u16();
    let mut out_headers = Map::new();
    for (k, v) in resp.headers() {
        if k == http::header::SET_COOKIE {
            continue;
        }
        let entry = out_headers
            .entry(k.as_str().to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ));
        }
    }
    let body = bounded_body(resp, MAX_ANSWER)
        .await
        .map_err(|e| Fail::new(StatusCode::BAD_GATEWAY, "failed to read response", e))?
        .ok_or_else(|| {
            Fail::new(
                StatusCode::BAD_GATEWAY,
                "response too large",
                format!("{origin} answered more than {MAX_ANSWER} bytes"),
            )
        })?;
    Ok(reply::ok_json(&json!({
        "status_code": status,
        "header": out_headers,
        "body": String::from_utf8_lossy(&body),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_feeds_name_their_version_by_tag_then_name() {
        let table: &[(&str, Option<&str>)] = &[
            (
                r#"{"tag_name":"v1.4.0","name":"Release 1.4"}"#,
                Some("v1.4.0"),
            ),
            (r#"{"tag_name":"  ","name":"v2.0.0"}"#, Some("v2.0.0")),
            (r#"{"name":"0.3.1"}"#, Some("0.3.1")),
            (r#"{"message":"Not Found"}"#, None),
            ("<html>", None),
        ];
        for (feed, want) in table {
            assert_eq!(release_version(feed.as_bytes()).as_deref(), *want, "{feed}");
        }
    }

    fn origins(urls: &[&str]) -> Vec<url::Origin> {
        urls.iter()
            .map(|u| url::Url::parse(u).unwrap().origin())
            .collect()
    }

    #[test]
    fn api_call_reaches_only_the_accounts_own_upstreams() {
        let allowed = origins(&["https://api.anthropic.com", "http://127.0.0.1:4000/base"]);
        let table: &[(&str, bool)] = &[
            ("https://api.anthropic.com/api/oauth/usage", true),
            ("https://API.anthropic.com:443/v1/models", true),
            ("http://127.0.0.1:4000/other/path?x=1", true),
            ("http://127.0.0.1:4001/", false),
            ("http://api.anthropic.com/v1/models", false),
            ("https://api.anthropic.com.evil.example/", false),
            ("https://evil.example/?https://api.anthropic.com", false),
            ("https://user:pw@api.anthropic.com/", false),
            ("file:///etc/passwd", false),
            ("not a url", false),
        ];
        for (target, ok) in table {
            assert_eq!(check_target(target, &allowed).is_ok(), *ok, "{target}");
        }
    }

    #[test]
    fn an_account_goes_to_its_base_url_or_its_providers_endpoints() {
        use crate::auth::credential::CredentialSecret;
        use crate::config::Secret;
        let cfg = Config::default();
        let cred = |provider, base: &str| Credential {
            id: "x".into(),
            label: "x".into(),
            provider,
            compat_name: None,
            base_url: base.into(),
            secret: CredentialSecret::ApiKey(Secret::new("k")),
            headers: vec![],
            proxy_url: None,
            priority: 0,
            prefix: String::new(),
            models: vec![],
            excluded: vec![],
            disable_cooling: false,
            disabled: false,
        };
        let o = |p, b: &str| {
            account_origins(&cfg, &cred(p, b))
                .iter()
                .map(url::Origin::ascii_serialization)
                .collect::<Vec<_>>()
        };
        assert_eq!(o(Provider::Claude, ""), ["https://api.anthropic.com"]);
        assert_eq!(
            o(Provider::Claude, "http://127.0.0.1:9/x"),
            ["http://127.0.0.1:9", "https://api.anthropic.com"]
        );
        assert_eq!(o(Provider::Codex, ""), ["https://chatgpt.com"]);
        assert_eq!(
            o(Provider::GeminiApi, ""),
            ["https://generativelanguage.googleapis.com"]
        );
        assert_eq!(
            o(Provider::OpenAiCompat, "https://llm.example/v1"),
            ["https://llm.example"]
        );
        assert!(o(Provider::OpenAiCompat, "").is_empty());
    }
}
