//! `GET /config` (JSON), `GET|PUT /config.yaml` (the file, secrets masked on the way
//! out and put back on the way in), and the scalar settings (`/debug`,
//! `/request-retry`, `/routing/strategy`, ...): GET, PUT / PATCH `{"value": ...}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::doc;
use super::reply::{self, Fail};
use crate::config::mask;
use crate::server::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A whole number, at least 0.
    Count,
    Text,
    Strategy,
    /// Any JSON value (lists, maps).
    Any,
}

/// One setting reachable at `/v0/management{route}`.
#[derive(Debug)]
pub struct Scalar {
    pub route: &'static str,
    pub path: &'static [&'static str],
    pub kind: Kind,
    /// Key of the GET answer (CLIProxyAPI's).
    pub answer: &'static str,
    pub default: fn() -> Value,
    /// DELETE resets it.
    pub deletable: bool,
}

macro_rules! scalar {
    ($route:expr, [$($p:expr),+], $kind:ident, $answer:expr, $default:tt, $del:expr) => {
        Scalar {
            route: $route,
            path: &[$($p),+],
            kind: Kind::$kind,
            answer: $answer,
            default: || json!($default),
            deletable: $del,
        }
    };
}

pub const SCALARS: &[Scalar] = &[
    scalar!("/debug", ["debug"], Bool, "debug", false, false),
    scalar!(
        "/logging-to-file",
        ["logging-to-file"],
        Bool,
        "logging-to-file",
        false,
        false
    ),
    scalar!(
        "/usage-statistics-enabled",
        ["usage-statistics-enabled"],
        Bool,
        "usage-statistics-enabled",
        false,
        false
    ),
    scalar!(
        "/request-log",
        ["request-log"],
        Bool,
        "request-log",
        false,
        false
    ),
    scalar!("/ws-auth", ["ws-auth"], Bool, "ws-auth", false, false),
    scalar!(
        "/force-model-prefix",
        ["force-model-prefix"],
        Bool,
        "force-model-prefix",
        false,
        false
    ),
    scalar!(
        "/disable-cooling",
        ["disable-cooling"],
        Bool,
        "disable-cooling",
        false,
        false
    ),
    scalar!("/proxy-url", ["proxy-url"], Text, "proxy-url", "", true),
    scalar!(
        "/request-retry",
        ["request-retry"],
        Count,
        "request-retry",
        3,
        false
    ),
    scalar!(
        "/max-retry-interval",
        ["max-retry-interval"],
        Count,
        "max-retry-interval",
        30,
        false
    ),
    scalar!(
        "/max-retry-credentials",
        ["max-retry-credentials"],
        Count,
        "max-retry-credentials",
        0,
        false
    ),
    scalar!(
        "/logs-max-total-size-mb",
        ["logs-max-total-size-mb"],
        Count,
        "logs-max-total-size-mb",
        0,
        false
    ),
    scalar!(
        "/error-logs-max-files",
        ["error-logs-max-files"],
        Count,
        "error-logs-max-files",
        10,
        false
    ),
    scalar!(
        "/routing/strategy",
        ["routing", "strategy"],
        Strategy,
        "strategy",
        "round-robin",
        false
    ),
    scalar!(
        "/quota-exceeded/switch-project",
        ["quota-exceeded", "switch-project"],
        Bool,
        "switch-project",
        false,
        false
    ),
    scalar!(
        "/quota-exceeded/switch-preview-model",
        ["quota-exceeded", "switch-preview-model"],
        Bool,
        "switch-preview-model",
        false,
        false
    ),
    scalar!(
        "/ampcode/upstream-url",
        ["ampcode", "upstream-url"],
        Text,
        "upstream-url",
        "",
        true
    ),
    scalar!(
        "/ampcode/upstream-api-key",
        ["ampcode", "upstream-api-key"],
        Text,
        "upstream-api-key",
        "",
        true
    ),
    scalar!(
        "/ampcode/upstream-api-keys",
        ["ampcode", "upstream-api-keys"],
        Any,
        "upstream-api-keys",
        [],
        true
    ),
    scalar!(
        "/ampcode/restrict-management-to-localhost",
        ["ampcode", "restrict-management-to-localhost"],
        Bool,
        "restrict-management-to-localhost",
        false,
        false
    ),
    scalar!(
        "/ampcode/model-mappings",
        ["ampcode", "model-mappings"],
        Any,
        "model-mappings",
        [],
        true
    ),
    scalar!(
        "/ampcode/force-model-mappings",
        ["ampcode", "force-model-mappings"],
        Bool,
        "force-model-mappings",
        false,
        false
    ),
];

/// CLIProxyAPI's spellings of the routing strategies.
pub fn strategy(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "round-robin" | "roundrobin" | "rr" => Some("round-robin"),
        "fill-first" | "fillfirst" | "ff" => Some("fill-first"),
        _ => None,
    }
}

/// The value a PUT/PATCH body sets, checked against the setting's kind.
pub fn value_of(kind: Kind, body: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let Some(v) = v.get("value").cloned() else {
        return Err("expected {\"value\": ...}".into());
    };
    match kind {
        Kind::Bool if v.is_boolean() => Ok(v),
        Kind::Count if v.as_u64().is_some() => Ok(v),
        Kind::Text if v.is_string() => Ok(v),
        Kind::Strategy => v
            .as_str()
            .and_then(strategy)
            .map(|s| json!(s))
            .ok_or_else(|| "invalid strategy (round-robin or fill-first)".into()),
        Kind::Any => Ok(v),
        Kind::Bool => Err("value must be true or false".into()),
        Kind::Count => Err("value must be a whole number, 0 or more".into()),
        Kind::Text => Err("value must be a string".into()),
    }
}

fn current(doc: &doc::Doc, s: &Scalar) -> Value {
    doc.get(s.path).cloned().unwrap_or_else(s.default)
}

async fn get_scalar(state: Arc<AppState>, s: &'static Scalar) -> reply::Result {
    let d = doc::read(&state)?;
    let last = s.path[s.path.len() - 1];
    // Masked by the key's own name (`upstream-api-key` is a secret).
    let masked = mask::mask_value(&json!({ last: current(&d, s) }));
    Ok(reply::ok_json(&json!({ s.answer: masked[last].clone() })))
}

async fn put_scalar(state: Arc<AppState>, s: &'static Scalar, body: Bytes) -> reply::Result {
    let v = value_of(s.kind, &body).map_err(Fail::bad)?;
    doc::set_path(&state, s.path, v).await
}

async fn delete_scalar(state: Arc<AppState>, s: &'static Scalar) -> reply::Result {
    doc::set_path(&state, s.path, (s.default)()).await
}

/// The routes of one setting.
pub fn route(s: &'static Scalar) -> MethodRouter<Arc<AppState>> {
    let mut r = get(move |State(st): State<Arc<AppState>>| get_scalar(st, s))
        .put(move |State(st): State<Arc<AppState>>, b: Bytes| put_scalar(st, s, b))
        .patch(move |State(st): State<Arc<AppState>>, b: Bytes| put_scalar(st, s, b));
    if s.deletable {
        r = r.delete(move |State(st): State<Arc<AppState>>| delete_scalar(st, s));
    }
    r
}

/// Defaults of the keys CLIProxyAPI's panel reads, under what the file sets.
fn with_defaults(file: &Value) -> Value {
    let mut out = json!({
        "host": crate::config::DEFAULT_HOST,
        "port": crate::config::DEFAULT_PORT,
        "auth-dir": "~/.cli-proxy-api",
        "api-keys": [],
        "debug": false,
        "proxy-url": "",
        "request-retry": 3,
        "max-retry-interval": 30,
        "max-retry-credentials": 0,
        "disable-cooling": false,
        "logging-to-file": false,
        "usage-statistics-enabled": false,
        "request-log": false,
        "force-model-prefix": false,
        "ws-auth": false,
        "routing": {"strategy": "round-robin"},
        "remote-management": {"allow-remote": false, "secret-key": ""},
        "claude-api-key": [],
        "codex-api-key": [],
        "gemini-api-key": [],
        "vertex-api-key": [],
        "openai-compatibility": [],
        "oauth-excluded-models": {},
        "oauth-model-alias": {},
    });
    if let (Some(o), Some(f)) = (out.as_object_mut(), file.as_object()) {
        for (k, v) in f {
            match (o.get_mut(k), v) {
                (Some(Value::Object(d)), Value::Object(fv)) => {
                    for (k2, v2) in fv {
                        d.insert(k2.clone(), v2.clone());
                    }
                }
                _ => {
                    o.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

/// `GET /config`: the settings as JSON, secrets masked.
pub async fn get_config(State(state): State<Arc<AppState>>) -> reply::Result {
    let d = doc::read(&state)?;
    Ok(reply::ok_json(&mask::mask_value(&with_defaults(&d.value))))
}

/// `GET /config.yaml`: the file as written (comments and all), secrets masked.
pub async fn get_yaml(State(state): State<Arc<AppState>>) -> reply::Result {
    let d = doc::read(&state)?;
    if !d.path.exists() {
        return Err(Fail::not_found("config file not found"));
    }
    let body = mask::mask_text(&d.text, &d.secrets());
    let mut r = Response::new(axum::body::Body::from(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

/// `PUT /config.yaml`: replaces the file after checking it; masked secrets in it are
/// put back to the values they stand for.
pub async fn put_yaml(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| Fail::new(StatusCode::BAD_REQUEST, "invalid_yaml", "body is not UTF-8"))?;
    doc::edit_with(&state, |d| {
        mask::unmask_text(&text, &d.secrets())
            .map_err(|e| Fail::new(StatusCode::BAD_REQUEST, "invalid_yaml", e))
    })
    .await?;
    Ok(reply::ok_json(&json!({"ok": true, "changed": ["config"]})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_setting_kind() {
        let cases: &[(Kind, &str, Result<Value, ()>)] = &[
            (Kind::Bool, r#"{"value":true}"#, Ok(json!(true))),
            (Kind::Bool, r#"{"value":"true"}"#, Err(())),
            (Kind::Count, r#"{"value":5}"#, Ok(json!(5))),
            (Kind::Count, r#"{"value":-1}"#, Err(())),
            (Kind::Count, r#"{"value":1.5}"#, Err(())),
            (
                Kind::Text,
                r#"{"value":"socks5://h:1"}"#,
                Ok(json!("socks5://h:1")),
            ),
            (Kind::Strategy, r#"{"value":"ff"}"#, Ok(json!("fill-first"))),
            (Kind::Strategy, r#"{"value":"random"}"#, Err(())),
            (
                Kind::Any,
                r#"{"value":[{"from":"a","to":"b"}]}"#,
                Ok(json!([{"from":"a","to":"b"}])),
            ),
            (Kind::Bool, r#"{"other":true}"#, Err(())),
            (Kind::Bool, "nope", Err(())),
        ];
        for (kind, body, want) in cases {
            assert_eq!(
                value_of(*kind, body.as_bytes()).map_err(|_| ()),
                *want,
                "{kind:?} {body}"
            );
        }
    }

    #[test]
    fn config_json_fills_defaults_under_the_file() {
        let v = with_defaults(&json!({"port": 9000, "routing": {"session-affinity": true}}));
        assert_eq!(v["port"], 9000);
        assert_eq!(v["request-retry"], 3);
        assert_eq!(v["routing"]["strategy"], "round-robin");
        assert_eq!(v["routing"]["session-affinity"], true);
    }

    #[test]
    fn every_route_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in SCALARS {
            assert!(seen.insert(s.route), "{}", s.route);
            assert!(s.route.starts_with('/'));
        }
    }
}
