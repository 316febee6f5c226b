//! Google Cloud Code (`v1internal`), the upstream shape Gemini CLI and Antigravity
//! accounts share: `<host>/v1internal:<action>`, one project per account found through
//! `loadCodeAssist` (and `onboardUser` when the account has none yet), answers wrapped
//! in `{"response": …}`. The provider files (`gemini_cli.rs`, `antigravity.rs`) own
//! their hosts, headers and envelopes; this file holds what they share.

use std::time::Duration;

use serde_json::{Value, json};

use super::Operation;

/// Where and as whom an account's Code Assist calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Hosts in the order they are tried (a transport error or 5xx moves to the next).
    pub bases: Vec<String>,
    /// `metadata.ideType` of `loadCodeAssist` / `onboardUser`.
    pub ide: &'static str,
    pub user_agent: String,
}

/// The `v1internal` action for an operation; streams ask for SSE.
pub fn url(base: &str, op: Operation, stream: bool) -> String {
    let base = base.trim_end_matches('/');
    match (op, stream) {
        (Operation::CountTokens, _) => format!("{base}/v1internal:countTokens"),
        (_, true) => format!("{base}/v1internal:streamGenerateContent?alt=sse"),
        (_, false) => format!("{base}/v1internal:generateContent"),
    }
}

/// `cloudaicompanionProject`: a string or `{"id": …}`.
fn project_in(v: &Value) -> Option<String> {
    let p = v.get("cloudaicompanionProject")?;
    p.as_str()
        .or_else(|| p.get("id").and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The tier `onboardUser` is asked for: the default of `allowedTiers`, else legacy.
fn default_tier(load: &Value) -> String {
    load.get("allowedTiers")
        .and_then(Value::as_array)
        .and_then(|tiers| {
            tiers
                .iter()
                .find(|t| t.get("isDefault").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|t| t.get("id").and_then(Value::as_str))
        .unwrap_or("legacy-tier")
        .to_string()
}

/// What one step of discovery says.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Project(String),
    /// `loadCodeAssist` named none: onboard with this tier.
    Onboard(String),
    /// `onboardUser` is still working: ask again.
    Pending,
}

fn after_load(v: &Value) -> Found {
    project_in(v).map_or_else(|| Found::Onboard(default_tier(v)), Found::Project)
}

fn after_onboard(v: &Value) -> Found {
    let done = v.get("done").and_then(Value::as_bool) == Some(true);
    match v.get("response").and_then(project_in) {
        Some(p) if done => Found::Project(p),
        _ => Found::Pending,
    }
}

/// How often `onboardUser` is asked before giving up, and the pause between asks.
const ONBOARD_POLLS: u32 = 10;
const ONBOARD_PAUSE: Duration = Duration::from_millis(500);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no project could be found; `status` is the upstream's answer to the failing
/// step, if it answered (a 401 means the token needs a refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    pub status: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn failed(status: Option<u16>, message: String) -> DiscoveryError {
    DiscoveryError { status, message }
}

/// Finds the account's project as the official clients do at login. Each call tries the
/// site's hosts in order. The error names the step that failed (never the token).
pub async fn discover_project(
    client: &reqwest::Client,
    site: &Site,
    token: &str,
) -> Result<String, DiscoveryError> {
    let metadata = json!({
        "ideType": site.ide,
        "platform": "PLATFORM_UNSPECIFIED",
        "pluginType": "GEMINI",
    });
    let load = call(
        client,
        site,
        token,
        "loadCodeAssist",
        &json!({"metadata": metadata}),
    )
    .await?;
    let tier = match after_load(&load) {
        Found::Project(p) => return Ok(p),
        Found::Onboard(tier) => tier,
        // `after_load` never answers Pending; onboarding with the default tier is harmless.
        Found::Pending => "legacy-tier".to_string(),
    };
    let body = json!({"tierId": tier, "metadata": metadata});
    for i in 0..ONBOARD_POLLS {
        if i > 0 {
            tokio::time::sleep(ONBOARD_PAUSE).await;
        }
        let v = call(client, site, token, "onboardUser", &body).await?;
        if let Found::Project(p) = after_onboard(&v) {
            return Ok(p);
        }
    }
    Err(failed(
        None,
        format!(
            "onboardUser did not finish after {ONBOARD_POLLS} polls; no project id for this account"
        ),
    ))
}

async fn call(
    client: &reqwest::Client,
    site: &Site,
    token: &str,
    action: &str,
    body: &Value,
) -> Result<Value, DiscoveryError> {
    let mut last = failed(None, format!("{action}: no Code Assist host configured"));
    for base in &site.bases {
        let url = format!("{}/v1internal:{action}", base.trim_end_matches('/'));
        let resp = client
            .post(&url)
            .bearer_auth(token)
            .header(http::header::USER_AGENT, &site.user_agent)
            .json(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                return r.json().await.map_err(|e| {
                    failed(
                        None,
                        format!("{action}: answer is not JSON ({})", e.without_url()),
                    )
                });
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let err = failed(Some(status), format!("{action}: HTTP {status}"));
                if !r.status().is_server_error() {
                    return Err(err);
                }
                last = err;
            }
            Err(e) => last = failed(None, format!("{action}: {}", e.without_url())),
        }
    }
    Err(last)
}

/// The same request on the site's other hosts, in order, when `url` is on its first.
pub fn alternate_urls(site: &Site, url: &str) -> Vec<String> {
    let Some(first) = site.bases.first().map(|b| b.trim_end_matches('/')) else {
        return Vec::new();
    };
    let Some(path) = url.strip_prefix(first) else {
        return Vec::new();
    };
    site.bases
        .iter()
        .skip(1)
        .map(|b| format!("{}{path}", b.trim_end_matches('/')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_operation() {
        assert_eq!(
            url("https://h/", Operation::GenerateContent, true),
            "https://h/v1internal:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            url("https://h", Operation::Messages, false),
            "https://h/v1internal:generateContent"
        );
        assert_eq!(
            url("https://h", Operation::CountTokens, false),
            "https://h/v1internal:countTokens"
        );
    }

    #[test]
    fn discovery_steps_read_every_project_shape() {
        let cases = [
            (
                json!({"cloudaicompanionProject": "p-1"}),
                Found::Project("p-1".into()),
            ),
            (
                json!({"cloudaicompanionProject": {"id": "p-2", "name": "x"}}),
                Found::Project("p-2".into()),
            ),
            (
                json!({"allowedTiers": [{"id": "free-tier"}, {"id": "standard-tier", "isDefault": true}]}),
                Found::Onboard("standard-tier".into()),
            ),
            (
                json!({"cloudaicompanionProject": ""}),
                Found::Onboard("legacy-tier".into()),
            ),
        ];
        for (v, want) in cases {
            assert_eq!(after_load(&v), want, "{v}");
        }
        assert_eq!(
            after_onboard(&json!({"done": false, "name": "op"})),
            Found::Pending
        );
        assert_eq!(
            after_onboard(
                &json!({"done": true, "response": {"cloudaicompanionProject": {"id": "p-3"}}})
            ),
            Found::Project("p-3".into())
        );
        assert_eq!(
            after_onboard(&json!({"done": true, "response": {}})),
            Found::Pending
        );
    }

    #[test]
    fn alternates_keep_the_path_on_the_other_hosts() {
        let site = Site {
            bases: vec!["https://a/".into(), "https://b".into(), "https://c".into()],
            ide: "ANTIGRAVITY",
            user_agent: "ua".into(),
        };
        assert_eq!(
            alternate_urls(&site, "https://a/v1internal:countTokens"),
            vec![
                "https://b/v1internal:countTokens".to_string(),
                "https://c/v1internal:countTokens".to_string()
            ]
        );
        assert!(alternate_urls(&site, "https://elsewhere/x").is_empty());
    }
}
