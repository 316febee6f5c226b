//! OAuth logins for `cliproxy login <provider>` (the command is in src/commands/login.rs) (authorization code with PKCE where the
//! provider uses it, a checked random `state`, a callback listener on 127.0.0.1, the
//! paste flow with `--no-browser`, Codex's device flow) that save the auth file the way
//! CLIProxyAPI writes it.

pub mod antigravity;
pub mod browser;
pub mod callback;
pub mod claude;
pub mod codex;
pub mod gemini;
pub mod pkce;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::auth::AuthFile;
use crate::config::Config;

/// A login failure, worded for the user. Never carries a token or code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoginError(pub String);

impl LoginError {
    pub fn new(m: impl Into<String>) -> Self {
        LoginError(m.into())
    }
}

/// What every flow needs.
pub struct Flow<'a> {
    /// The providers' OAuth endpoints.
    pub config: &'a Config,
    /// Where the auth file is saved.
    pub auth_dir: &'a Path,
    pub client: reqwest::Client,
    pub no_browser: bool,
    pub callback_port: Option<u16>,
    pub timeout: Duration,
}

/// Default wait for the browser (CLIProxyAPI: 5 min); `CLIPROXY_LOGIN_TIMEOUT` (seconds)
/// overrides it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a provider's browser flow listens.
pub struct CallbackSpec {
    pub provider: &'static str,
    pub default_port: u16,
    pub path: &'static str,
}

impl Flow<'_> {
    /// Runs the browser part: listen, show/open the URL built by `build(redirect_uri,
    /// state)`, wait for the callback or a pasted redirect. Returns (code, redirect_uri).
    pub async fn authorize(
        &self,
        spec: &CallbackSpec,
        build: impl FnOnce(&str, &str) -> Result<String, LoginError>,
    ) -> Result<(String, String), LoginError> {
        let port = self.callback_port.unwrap_or(spec.default_port);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                LoginError::new(format!(
                    "cannot listen on 127.0.0.1:{port} for the OAuth callback ({e}); free the port or pass --callback-port N"
                ))
            })?;
        let redirect_uri = format!("http://localhost:{port}{}", spec.path);
        let state = pkce::state();
        let url = build(&redirect_uri, &state)?;
        println!(
            "Log in to {} by opening this URL:\n\n{url}\n",
            spec.provider
        );
        let mut paste = self.no_browser;
        if !self.no_browser {
            match browser::open(&url) {
                Ok(()) => println!("Opened your browser; waiting for the login to finish..."),
                Err(e) => {
                    println!("Could not open a browser ({e}); open the URL above yourself.");
                    paste = true;
                }
            }
        }
        if paste {
            println!(
                "After you approve, the browser is sent to {redirect_uri}. If this machine is remote and that page does not load, copy the full URL from the address bar, paste it here and press Enter (or forward the port: ssh -L {port}:127.0.0.1:{port} ...)."
            );
        }
        let code = callback::wait(listener, spec.path, &state, paste, self.timeout).await?;
        Ok((code, redirect_uri))
    }
}

/// Builds `base?k=v&...` (keeping any query `base` already has).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> Result<String, LoginError> {
    let mut u = url::Url::parse(base)
        .map_err(|e| LoginError::new(format!("authorize URL `{base}` is invalid: {e}")))?;
    u.query_pairs_mut().extend_pairs(params.iter().copied());
    Ok(u.to_string())
}

/// Body of a token request.
pub enum Body<'a> {
    Json(Value),
    Form(&'a [(&'a str, &'a str)]),
}

/// POSTs to a token endpoint; non-2xx answers become errors naming the provider's
/// `error` and `error_description` (never the body's tokens).
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Body<'_>,
    what: &str,
) -> Result<(u16, Value), LoginError> {
    let rb = client
        .post(url)
        .header("accept", "application/json")
        .timeout(Duration::from_secs(30));
    let rb = match body {
        Body::Json(v) => rb.json(&v),
        Body::Form(f) => rb.form(f),
    };
    let resp = rb
        .send()
        .await
        .map_err(|e| LoginError::new(format!("{what}: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| LoginError::new(format!("{what}: {}", e.without_url())))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok((status, v))
}

/// Like [`post_json`] but any non-2xx is an error.
pub async fn token_request(
    client: &reqwest::Client,
    url: &str,
    body: Body<'_>,
    what: &str,
) -> Result<Value, LoginError> {
    let (status, v) = post_json(client, url, body, what).await?;
    if !(200..300).contains(&status) {
        return Err(LoginError::new(format!(
            "{what} failed: HTTP {status}{}",
            describe_error(&v)
        )));
    }
    if v.get("access_token").and_then(Value::as_str).is_none() {
        return Err(LoginError::new(format!(
            "{what}: the answer has no access_token"
        )));
    }
    Ok(v)
}

fn describe_error(v: &Value) -> String {
    let e = match v.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("code")
            .or_else(|| o.get("type"))
            .or_else(|| o.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    let d = v
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (e.is_empty(), d.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" ({e})"),
        (false, false) => format!(" ({e}: {d})"),
    }
}

/// A saved login.
#[derive(Debug)]
pub struct Saved {
    pub path: PathBuf,
    pub email: String,
    pub updated: bool,
}

/// Keeps an auth file name inside the folder.
pub fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c => c,
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// Writes the login's fields: into the existing file of the same account when there is
/// one (unknown fields kept, so a second login updates instead of adding a file), else
/// into `auth_dir/file_name`. Atomic, mode 0600.
pub fn save(
    auth_dir: &Path,
    file_name: &str,
    fields: Map<String, Value>,
    same_account: impl Fn(&AuthFile) -> bool,
    email: &str,
) -> Result<Saved, LoginError> {
    let type_name = fields
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let scan = crate::auth::store::scan(auth_dir);
    let existing = scan
        .files
        .into_iter()
        .find(|f| f.type_name == type_name && (same_account(f) || f.name == file_name));
    let (path, out, updated) = match existing {
        Some(mut f) => {
            for (k, v) in fields {
                f.fields.insert(k, v);
            }
            (f.path.clone(), f.to_bytes(), true)
        }
        None => {
            let mut bytes = serde_json::to_vec(&Value::Object(fields))
                .map_err(|e| LoginError::new(format!("encoding the auth file: {e}")))?;
            bytes.push(b'\n');
            (auth_dir.join(safe_name(file_name)), bytes, false)
        }
    };
    crate::store::write_atomic(&path, &out)
        .map_err(|e| LoginError::new(format!("writing {}: {e}", path.display())))?;
    if let Some(name) = path.file_name() {
        crate::auth::refresh::state_file::clear(auth_dir, &name.to_string_lossy());
    }
    Ok(Saved {
        path,
        email: email.to_string(),
        updated,
    })
}

/// `expires_in` seconds from now as CLIProxyAPI's `expired` (RFC 3339).
pub fn expiry_from(v: &Value, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
    let secs = v.get("expires_in").and_then(|e| {
        e.as_i64()
            .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
    })?;
    Some(now + jiff::SignedDuration::from_secs(secs))
}

pub fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Google: the account's e-mail from the userinfo endpoint.
pub async fn google_email(
    client: &reqwest::Client,
    userinfo_url: &str,
    access_token: &str,
) -> Result<String, LoginError> {
    let resp = client
        .get(userinfo_url)
        .bearer_auth(access_token)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| LoginError::new(format!("userinfo: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    match v.get("email").and_then(Value::as_str) {
        Some(e) if (200..300).contains(&status) => Ok(e.to_string()),
        _ => Err(LoginError::new(format!(
            "userinfo answered HTTP {status} without an e-mail"
        ))),
    }
}

/// Google Code Assist: the account's project (`loadCodeAssist`); `None` with a
/// warning when there is none yet.
pub async fn code_assist_project(
    client: &reqwest::Client,
    base_url: &str,
    access_token: &str,
    ide: &str,
) -> Option<String> {
    let url = format!(
        "{}/v1internal:loadCodeAssist",
        base_url.trim_end_matches('/')
    );
    let body = serde_json::json!({
        "metadata": {"ideType": ide, "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
    });
    let resp = client
        .post(&url)
        .bearer_auth(access_token)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    let v: Value = match resp {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        Ok(r) => {
            eprintln!(
                "warning: loadCodeAssist answered HTTP {}; no project id recorded",
                r.status().as_u16()
            );
            return None;
        }
        Err(e) => {
            eprintln!(
                "warning: loadCodeAssist failed ({}); no project id recorded",
                e.without_url()
            );
            return None;
        }
    };
    let p = v.get("cloudaicompanionProject")?;
    p.as_str()
        .map(str::to_string)
        .or_else(|| p.get("id").and_then(Value::as_str).map(str::to_string))
        .filter(|s| !s.is_empty())
}
