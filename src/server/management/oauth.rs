//! Web logins (CLIProxyAPI's `*-auth-url`): the API hands out the provider's authorize
//! URL and a `state`; the browser comes back to `/{provider}/callback` on this server
//! (or, with `?is_webui=true`, to a short-lived listener on the provider's usual
//! callback port), or the user pastes the final URL into `POST /oauth-callback`; the
//! code is exchanged and the auth file saved by the same functions `cliproxy login`
//! uses; `GET /get-auth-status?state=` tells how it went.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::reply::{self, Fail};
use crate::auth::login::pkce::{self, Pkce};
use crate::auth::login::{CallbackSpec, LoginError, antigravity, claude, codex, gemini};
use crate::server::state::AppState;

/// How long a started login waits for its callback (CLIProxyAPI: 10 minutes).
const TTL: Duration = Duration::from_secs(600);
/// Logins pending at once; the oldest is dropped past this.
const MAX_SESSIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    Codex,
    GeminiCli,
    Antigravity,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Anthropic,
        Provider::Codex,
        Provider::GeminiCli,
        Provider::Antigravity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Codex => "codex",
            Provider::GeminiCli => "gemini-cli",
            Provider::Antigravity => "antigravity",
        }
    }

    /// CLIProxyAPI's provider names in `POST /oauth-callback`, and ours.
    pub fn parse(s: &str) -> Option<Provider> {
        match s.trim().to_ascii_lowercase().as_str() {
            "anthropic" | "claude" => Some(Provider::Anthropic),
            "codex" | "openai" => Some(Provider::Codex),
            "gemini-cli" | "gemini" | "google" => Some(Provider::GeminiCli),
            "antigravity" => Some(Provider::Antigravity),
            _ => None,
        }
    }

    fn spec(self) -> &'static CallbackSpec {
        match self {
            Provider::Anthropic => &claude::CALLBACK,
            Provider::Codex => &codex::CALLBACK,
            Provider::GeminiCli => &gemini::CALLBACK,
            Provider::Antigravity => &antigravity::CALLBACK,
        }
    }

    /// The management route that starts it.
    pub fn start_route(self) -> &'static str {
        match self {
            Provider::Anthropic => "/anthropic-auth-url",
            Provider::Codex => "/codex-auth-url",
            Provider::GeminiCli => "/gemini-cli-auth-url",
            Provider::Antigravity => "/antigravity-auth-url",
        }
    }

    /// The callback route on the gateway's own port.
    pub fn callback_route(self) -> &'static str {
        match self {
            Provider::Anthropic => "/anthropic/callback",
            Provider::Codex => "/codex/callback",
            Provider::GeminiCli => "/google/callback",
            Provider::Antigravity => "/antigravity/callback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Pending,
    Running,
    Failed(String),
}

struct Session {
    provider: Provider,
    verifier: String,
    redirect: String,
    created: Instant,
    status: Status,
}

/// Logins in progress, by `state`.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn insert(&self, state: String, s: Session) {
        let mut m = self.map.lock();
        let now = Instant::now();
        m.retain(|_, v| now - v.created < TTL);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, v)| v.created)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(state, s);
    }

    /// Claims a pending login for its callback: its PKCE verifier and redirect URI.
    fn claim(&self, state: &str, provider: Provider) -> reply::Result<(String, String)> {
        let mut m = self.map.lock();
        let s = m
            .get_mut(state)
            .filter(|s| s.created.elapsed() < TTL)
            .ok_or_else(|| Fail::not_found("unknown or expired state"))?;
        if s.provider != provider {
            return Err(Fail::bad("provider does not match state"));
        }
        if s.status != Status::Pending {
            return Err(Fail::new(
                StatusCode::CONFLICT,
                "conflict",
                "oauth flow is not pending",
            ));
        }
        s.status = Status::Running;
        Ok((s.verifier.clone(), s.redirect.clone()))
    }

    fn finish(&self, state: &str, result: Result<(), String>) {
        let mut m = self.map.lock();
        match result {
            Ok(()) => {
                m.remove(state);
            }
            Err(e) => {
                if let Some(s) = m.get_mut(state) {
                    s.status = Status::Failed(e);
                }
            }
        }
    }

    fn status(&self, state: &str) -> Option<Status> {
        self.map
            .lock()
            .get(state)
            .filter(|s| s.created.elapsed() < TTL)
            .map(|s| s.status.clone())
    }
}

fn authorize_url(
    state: &AppState,
    p: Provider,
    redirect: &str,
    st: &str,
    pkce: &Pkce,
) -> Result<String, LoginError> {
    let cfg = &state.current().config;
    match p {
        Provider::Anthropic => claude::authorize_url(&cfg.claude, redirect, st, pkce),
        Provider::Codex => codex::authorize_url(&cfg.codex, redirect, st, pkce),
        Provider::GeminiCli => gemini::google_authorize_url(
            &cfg.gemini.authorize_url,
            &cfg.gemini.client_id,
            redirect,
            st,
            &gemini::SCOPES.join(" "),
        ),
        Provider::Antigravity => gemini::google_authorize_url(
            &cfg.antigravity.authorize_url,
            &cfg.antigravity.client_id,
            redirect,
            st,
            &antigravity::SCOPES.join(" "),
        ),
    }
}

/// `GET /{provider}-auth-url`: `{status, url, state}`.
pub async fn start(state: Arc<AppState>, p: Provider, q: HashMap<String, String>) -> reply::Result {
    let spec = p.spec();
    let redirect = format!("http://localhost:{}{}", spec.default_port, spec.path);
    let st = pkce::state();
    let verifier = Pkce::generate();
    let url = authorize_url(&state, p, &redirect, &st, &verifier)
        .map_err(|e| Fail::internal(e.to_string()))?;
    state.management.oauth.insert(
        st.clone(),
        Session {
            provider: p,
            verifier: verifier.verifier.clone(),
            redirect,
            created: Instant::now(),
            status: Status::Pending,
        },
    );
    if q.get("is_webui").is_some_and(|v| v == "true" || v == "1") {
        listen_on_provider_port(state.clone(), p).await?;
    }
    Ok(reply::ok_json(
        &json!({"status": "ok", "url": url, "state": st}),
    ))
}

/// Exchanges `code` in the background and records the outcome for `get-auth-status`.
fn exchange(
    state: Arc<AppState>,
    p: Provider,
    st: String,
    code: String,
    verifier: String,
    redirect: String,
) {
    tokio::spawn(async move {
        let result = run_exchange(&state, p, &st, &code, &verifier, &redirect).await;
        match &result {
            Ok(name) => {
                tracing::info!(provider = p.name(), file = %name, "web login saved");
                if let Some(s) = &state.sync {
                    s.notify_local_change(name);
                }
                state.reload_auth();
            }
            Err(e) => tracing::warn!(provider = p.name(), error = %e, "web login failed"),
        }
        state.management.oauth.finish(&st, result.map(|_| ()));
    });
}

async fn run_exchange(
    state: &AppState,
    p: Provider,
    st: &str,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> Result<String, String> {
    let cfg = state.current().config.clone();
    let client = state
        .clients
        .get(None, &cfg.proxy_url)
        .map_err(|e| e.to_string())?;
    let dir = &state.auth_dir;
    let saved = match p {
        Provider::Anthropic => {
            claude::finish(&client, &cfg.claude, dir, code, st, redirect, verifier).await
        }
        Provider::Codex => codex::finish(&client, &cfg.codex, dir, code, redirect, verifier).await,
        Provider::GeminiCli => {
            let ep = &cfg.gemini;
            match gemini::google_exchange(
                &client,
                &ep.token_url,
                &ep.client_id,
                ep.client_secret.expose(),
                code,
                redirect,
            )
            .await
            {
                Ok(tok) => gemini::finish(&client, ep, dir, &tok).await,
                Err(e) => Err(e),
            }
        }
        Provider::Antigravity => {
            let ep = &cfg.antigravity;
            match gemini::google_exchange(
                &client,
                &ep.token_url,
                &ep.client_id,
                ep.client_secret.expose(),
                code,
                redirect,
            )
            .await
            {
                Ok(tok) => antigravity::finish(&client, ep, dir, &tok).await,
                Err(e) => Err(e),
            }
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(saved
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Hands a callback (code or error) to its pending login.
fn complete(
    state: &Arc<AppState>,
    p: Provider,
    st: &str,
    code: &str,
    error: &str,
) -> reply::Result<()> {
    if st.is_empty() {
        return Err(Fail::bad("state is required"));
    }
    if code.is_empty() && error.is_empty() {
        return Err(Fail::bad("code or error is required"));
    }
    let (verifier, redirect) = state.management.oauth.claim(st, p)?;
    if !error.is_empty() {
        state
            .management
            .oauth
            .finish(st, Err(format!("the provider refused the login: {error}")));
        return Ok(());
    }
    exchange(
        state.clone(),
        p,
        st.to_string(),
        code.to_string(),
        verifier,
        redirect,
    );
    Ok(())
}

/// The parameters of a callback (Claude's `code#state` form included).
fn callback_params(q: &HashMap<String, String>) -> (String, String, String) {
    let mut code = q.get("code").cloned().unwrap_or_default();
    let mut st = q.get("state").cloned().unwrap_or_default();
    if let Some((c, s)) = code.clone().split_once('#') {
        code = c.to_string();
        if st.is_empty() {
            st = s.to_string();
        }
    }
    let error = q
        .get("error")
        .filter(|e| !e.is_empty())
        .or_else(|| q.get("error_description"))
        .cloned()
        .unwrap_or_default();
    (code.trim().to_string(), st.trim().to_string(), error)
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>{title}</title><h1>{title}</h1><p>{text}</p>"
        )),
    )
        .into_response()
}

/// `GET /{provider}/callback` on the gateway's port (no management key: the unguessable
/// `state` ties it to a login started with one).
pub async fn callback(state: Arc<AppState>, p: Provider, q: HashMap<String, String>) -> Response {
    let (code, st, error) = callback_params(&q);
    match complete(&state, p, &st, &code, &error) {
        Ok(()) if error.is_empty() => {
            page(StatusCode::OK, "Login received", "You can close this tab.")
        }
        Ok(()) => page(
            StatusCode::OK,
            "Login refused",
            "The provider refused the login; you can close this tab.",
        ),
        Err(f) => page(f.status, "Login not accepted", &f.message),
    }
}

/// `POST /oauth-callback {provider, redirect_url | code + state | error}`.
pub async fn post_callback(State(state): State<Arc<AppState>>, body: Bytes) -> reply::Result {
    let v: Value = serde_json::from_slice(&body).map_err(|_| Fail::bad("invalid body"))?;
    let p = v
        .get("provider")
        .and_then(Value::as_str)
        .and_then(Provider::parse)
        .ok_or_else(|| Fail::bad("unsupported provider"))?;
    let mut q: HashMap<String, String> = HashMap::new();
    if let Some(u) = v
        .get("redirect_url")
        .and_then(Value::as_str)
        .filter(|u| !u.trim().is_empty())
    {
        let url = url::Url::parse(u.trim()).map_err(|_| Fail::bad("invalid redirect_url"))?;
        q.extend(url.query_pairs().into_owned());
    }
    for k in ["code", "state", "error"] {
        if let Some(x) = v
            .get(k)
            .and_then(Value::as_str)
            .filter(|x| !x.trim().is_empty())
        {
            q.insert(k.to_string(), x.to_string());
        }
    }
    let (code, st, error) = callback_params(&q);
    complete(&state, p, &st, &code, &error)?;
    Ok(reply::ok())
}

/// `GET /get-auth-status?state=`: `wait` while the login runs, `error` with why, `ok`
/// once done (or for a state no longer known, as CLIProxyAPI answers).
pub async fn status(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = q.get("state").map(|s| s.trim()).unwrap_or("");
    match state.management.oauth.status(st) {
        Some(Status::Pending | Status::Running) => reply::ok_json(&json!({"status": "wait"})),
        Some(Status::Failed(e)) => reply::ok_json(&json!({"status": "error", "error": e})),
        None => reply::ok_json(&json!({"status": "ok"})),
    }
}

/// For `?is_webui=true`: the browser returns to `localhost:<provider port>`, where
/// nothing of ours listens otherwise; a listener there takes one callback (or gives up
/// with the session's TTL).
async fn listen_on_provider_port(state: Arc<AppState>, p: Provider) -> reply::Result<()> {
    let spec = p.spec();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", spec.default_port))
        .await
        .map_err(|e| {
            Fail::internal(format!(
                "cannot listen on 127.0.0.1:{} for the callback ({e}); paste the final URL into POST /oauth-callback instead",
                spec.default_port
            ))
        })?;
    let done = Arc::new(tokio::sync::Notify::new());
    let app = axum::Router::new().route(
        spec.path,
        axum::routing::get({
            let done = done.clone();
            move |Query(q): Query<HashMap<String, String>>| {
                let state = state.clone();
                let done = done.clone();
                async move {
                    let r = callback(state, p, q).await;
                    done.notify_one();
                    r
                }
            }
        }),
    );
    tokio::spawn(async move {
        let stop = async move {
            let _ = tokio::time::timeout(TTL, done.notified()).await;
            // Let the page reach the browser.
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_parse_by_either_name() {
        for (s, p) in [
            ("anthropic", Some(Provider::Anthropic)),
            ("Claude", Some(Provider::Anthropic)),
            ("codex", Some(Provider::Codex)),
            ("gemini-cli", Some(Provider::GeminiCli)),
            ("gemini", Some(Provider::GeminiCli)),
            ("antigravity", Some(Provider::Antigravity)),
            ("qwen", None),
        ] {
            assert_eq!(Provider::parse(s), p, "{s}");
        }
    }

    #[test]
    fn callback_parameters_include_claudes_code_hash_state() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            callback_params(&q(&[("code", "c1"), ("state", "s1")])),
            ("c1".into(), "s1".into(), String::new())
        );
        assert_eq!(
            callback_params(&q(&[("code", "c1#s1")])),
            ("c1".into(), "s1".into(), String::new())
        );
        assert_eq!(
            callback_params(&q(&[("error", "access_denied"), ("state", "s")])),
            (String::new(), "s".into(), "access_denied".into())
        );
    }

    #[test]
    fn a_session_is_claimed_once_and_by_its_provider_only() {
        let s = Sessions::default();
        let new = |p| Session {
            provider: p,
            verifier: "v".into(),
            redirect: "r".into(),
            created: Instant::now(),
            status: Status::Pending,
        };
        s.insert("st".into(), new(Provider::Codex));
        assert_eq!(
            s.claim("st", Provider::Anthropic).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            s.claim("st", Provider::Codex).unwrap(),
            ("v".into(), "r".into())
        );
        assert_eq!(
            s.claim("st", Provider::Codex).unwrap_err().status,
            StatusCode::CONFLICT
        );
        assert_eq!(s.status("st"), Some(Status::Running));
        s.finish("st", Err("bad".into()));
        assert_eq!(s.status("st"), Some(Status::Failed("bad".into())));
        assert_eq!(
            s.claim("nope", Provider::Codex).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        for i in 0..(MAX_SESSIONS + 5) {
            s.insert(format!("k{i}"), new(Provider::Codex));
        }
        assert!(s.map.lock().len() <= MAX_SESSIONS);
    }
}
