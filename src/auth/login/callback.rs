//! The local callback listener on 127.0.0.1 (the redirect target of the browser), and
//! the paste flow: the final redirect URL typed on standard input.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Html;
use tokio::sync::mpsc;

use super::LoginError;

/// What an authorization server sent back.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Code(CodeString),
    Error { error: String, description: String },
    StateMismatch,
    Malformed(String),
}

/// An authorization code; `Debug` hides it.
#[derive(PartialEq, Eq)]
pub struct CodeString(pub String);

impl std::fmt::Debug for CodeString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[code]")
    }
}

/// Judges callback parameters against the expected `state`. A code of the form
/// `code#state` (Claude's display form) carries its state after the `#`.
pub fn judge(params: &HashMap<String, String>, expected_state: &str) -> Outcome {
    if let Some(error) = params.get("error").filter(|e| !e.is_empty()) {
        return Outcome::Error {
            error: error.clone(),
            description: params.get("error_description").cloned().unwrap_or_default(),
        };
    }
    let Some(raw) = params.get("code").filter(|c| !c.is_empty()) else {
        return Outcome::Malformed("no `code` in the callback".into());
    };
    let (code, hash_state) = match raw.split_once('#') {
        Some((c, s)) => (c.to_string(), Some(s.to_string())),
        None => (raw.clone(), None),
    };
    let state = params.get("state").cloned().or(hash_state);
    match state {
        Some(s) if s == expected_state => Outcome::Code(CodeString(code)),
        Some(_) => Outcome::StateMismatch,
        None => Outcome::Malformed("no `state` in the callback".into()),
    }
}

fn query_map(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Parses a pasted line: the full redirect URL, or Claude's `code#state`.
pub fn parse_pasted(line: &str) -> Option<HashMap<String, String>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    if let Ok(u) = url::Url::parse(line) {
        let mut m = query_map(u.query().unwrap_or_default());
        if let Some(f) = u.fragment() {
            for (k, v) in query_map(f) {
                m.entry(k).or_insert(v);
            }
        }
        return (m.contains_key("code") || m.contains_key("error")).then_some(m);
    }
    if let Some(q) = line.strip_prefix('?') {
        let m = query_map(q);
        return (m.contains_key("code") || m.contains_key("error")).then_some(m);
    }
    if let Some((c, s)) = line.split_once('#')
        && !c.is_empty()
        && !s.is_empty()
        && !line.contains(char::is_whitespace)
    {
        return Some(HashMap::from([
            ("code".to_string(), c.to_string()),
            ("state".to_string(), s.to_string()),
        ]));
    }
    None
}

struct Shared {
    path: String,
    state: String,
    tx: mpsc::UnboundedSender<Outcome>,
}

async fn handle(State(sh): State<Arc<Shared>>, uri: Uri) -> (StatusCode, Html<String>) {
    if uri.path() != sh.path {
        return (StatusCode::NOT_FOUND, Html("not found".into()));
    }
    let outcome = judge(&query_map(uri.query().unwrap_or_default()), &sh.state);
    let page = |status, title: &str, text: &str| {
        (
            status,
            Html(format!(
                "<!doctype html><title>{title}</title><h1>{title}</h1><p>{text}</p>"
            )),
        )
    };
    let resp = match &outcome {
        Outcome::Code(_) => page(
            StatusCode::OK,
            "Login received",
            "You can close this tab and return to the terminal.",
        ),
        Outcome::Error { .. } => page(
            StatusCode::BAD_REQUEST,
            "Login failed",
            "The provider refused the login; see the terminal.",
        ),
        Outcome::StateMismatch => page(
            StatusCode::BAD_REQUEST,
            "Login rejected",
            "The state parameter does not match this login.",
        ),
        Outcome::Malformed(_) => page(
            StatusCode::BAD_REQUEST,
            "Login failed",
            "The callback is missing its code or state.",
        ),
    };
    let _ = sh.tx.send(outcome);
    resp
}

/// Reads pasted lines on a detached thread (a blocked stdin read must not keep the
/// process alive after the login ends).
fn spawn_stdin_reader(tx: mpsc::UnboundedSender<String>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Serves `path` on `listener` until a callback (or, with `paste`, a pasted redirect
/// URL) arrives; returns the authorization code once the `state` checks out.
pub async fn wait(
    listener: tokio::net::TcpListener,
    path: &str,
    expected_state: &str,
    paste: bool,
    timeout: Duration,
) -> Result<String, LoginError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        path: path.to_string(),
        state: expected_state.to_string(),
        tx,
    });
    let app = axum::Router::new().fallback(handle).with_state(shared);
    let stop = tokio_util::sync::CancellationToken::new();
    let stop_c = stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop_c.cancelled_owned())
            .await;
    });
    let (ltx, mut lrx) = mpsc::unbounded_channel::<String>();
    if paste {
        spawn_stdin_reader(ltx);
    } else {
        drop(ltx);
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut stdin_open = paste;
    let result = loop {
        let outcome = tokio::select! {
            o = rx.recv() => match o {
                Some(o) => o,
                None => break Err(LoginError::new("callback listener stopped")),
            },
            l = lrx.recv(), if stdin_open => match l {
                Some(line) => match parse_pasted(&line) {
                    Some(params) => judge(&params, expected_state),
                    None => {
                        if !line.trim().is_empty() {
                            eprintln!("That is not the redirect URL. Paste the full URL from the browser's address bar (it contains code= and state=).");
                        }
                        continue;
                    }
                },
                None => { stdin_open = false; continue; }
            },
            _ = &mut deadline => break Err(LoginError::new(format!(
                "timed out after {}s waiting for the login to finish in the browser; run the login again (with --no-browser you can paste the final redirect URL)",
                timeout.as_secs()
            ))),
        };
        break match outcome {
            Outcome::Code(c) => Ok(c.0),
            Outcome::Error { error, description } => Err(LoginError::new(format!(
                "the authorization server returned an error: {error}{}",
                if description.is_empty() {
                    String::new()
                } else {
                    format!(" ({description})")
                }
            ))),
            Outcome::StateMismatch => Err(LoginError::new(
                "the callback's state does not match this login (a stale or forged redirect); nothing was saved — run the login again",
            )),
            Outcome::Malformed(m) => Err(LoginError::new(format!("invalid callback: {m}"))),
        };
    };
    stop.cancel();
    // Let the browser's response go out before the process ends.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn state_is_checked() {
        assert_eq!(
            judge(&m(&[("code", "c"), ("state", "s")]), "s"),
            Outcome::Code(CodeString("c".into()))
        );
        assert_eq!(
            judge(&m(&[("code", "c"), ("state", "x")]), "s"),
            Outcome::StateMismatch
        );
        assert_eq!(
            judge(&m(&[("code", "c#s")]), "s"),
            Outcome::Code(CodeString("c".into()))
        );
        assert!(matches!(
            judge(&m(&[("error", "access_denied")]), "s"),
            Outcome::Error { .. }
        ));
        assert!(matches!(
            judge(&m(&[("code", "c")]), "s"),
            Outcome::Malformed(_)
        ));
    }

    #[test]
    fn pasted_forms() {
        let p = parse_pasted("http://localhost:54545/callback?code=abc&state=xyz\n").unwrap();
        assert_eq!(p["code"], "abc");
        assert_eq!(p["state"], "xyz");
        let p = parse_pasted("abc#xyz").unwrap();
        assert_eq!(p["state"], "xyz");
        assert!(parse_pasted("hello there").is_none());
        assert!(parse_pasted("").is_none());
    }
}
