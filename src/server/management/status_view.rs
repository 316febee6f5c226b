//! Pure decisions behind the status page: what state an account is in (and what to
//! tell the user about it), which plan an auth file is on, and what each sync location
//! still has to do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::credential::AccountState;
use crate::sync::plan::{Action, LocId, NamePlan};

/// One running cooldown of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cooling {
    pub model: String,
    pub reason: String,
    /// Seconds left (rounded up, at least 1).
    pub remaining_s: u64,
    /// When it ends (RFC 3339).
    pub until: String,
}

/// What the page shows as an account's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateView {
    /// `ok`, `disabled`, `needs_login`, `refresh_failed`, `cooling`, `expired`.
    pub state: &'static str,
    pub message: String,
    /// The command that fixes it (needs login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Seconds until the next refresh attempt (refresh failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_s: Option<u64>,
}

pub fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The inputs of [`account_state`], read from the account under its locks.
pub struct StateInput<'a> {
    pub disabled: bool,
    pub state: &'a AccountState,
    pub cooling: &'a [Cooling],
    pub expiry: Option<jiff::Timestamp>,
    pub login_command: &'a str,
}

/// Pure: the state shown, most serious first: disabled, needs login, refresh failed
/// (while it waits to retry), cooling down, token expired, ok.
pub fn account_state(i: &StateInput, now: Instant, now_ts: jiff::Timestamp) -> StateView {
    let view = |state, message: String| StateView {
        state,
        message,
        command: None,
        retry_in_s: None,
    };
    if i.disabled {
        return view("disabled", "disabled: not used for requests".into());
    }
    match i.state {
        AccountState::NeedsLogin(why) => {
            return StateView {
                command: Some(i.login_command.to_string()),
                ..view(
                    "needs_login",
                    format!("needs login ({why}); run `{}`", i.login_command),
                )
            };
        }
        AccountState::RefreshFailed { reason, until } if *until > now => {
            return StateView {
                retry_in_s: Some(secs_up(*until - now)),
                ..view("refresh_failed", format!("token refresh failed: {reason}"))
            };
        }
        _ => {}
    }
    if !i.cooling.is_empty() {
        let parts: Vec<String> = i
            .cooling
            .iter()
            .map(|c| format!("{}: {} for {}s", c.model, c.reason, c.remaining_s))
            .collect();
        return view("cooling", format!("cooling down ({})", parts.join("; ")));
    }
    if i.expiry.is_some_and(|e| e <= now_ts) {
        return view(
            "expired",
            "access token expired; it is refreshed on the next request".into(),
        );
    }
    view("ok", String::new())
}

/// Fields that name a subscription plan in auth files of the different providers.
const PLAN_FIELDS: [&str; 5] = [
    "plan",
    "plan_type",
    "subscription_type",
    "chatgpt_plan_type",
    "tier",
];

/// Pure: the account's plan, from a plan field or (Codex) the id token's
/// `https://api.openai.com/auth.chatgpt_plan_type` claim. Never returns a token.
pub fn plan_of(fields: &Map<String, Value>) -> Option<String> {
    let direct = PLAN_FIELDS
        .iter()
        .filter_map(|k| fields.get(*k))
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()));
    if let Some(p) = direct {
        return Some(short(p));
    }
    let id = fields
        .get("id_token")
        .or_else(|| fields.get("tokens").and_then(|t| t.get("id_token")))
        .and_then(Value::as_str)?;
    let payload = id.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("https://api.openai.com/auth")
        .and_then(|a| a.get("chatgpt_plan_type"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(short)
}

/// Plan names are labels: bounded, so a hostile file cannot flood the page.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Pure: names each location still has to write or remove, from a reconcile plan.
pub fn pending_per_location(plans: &[NamePlan]) -> BTreeMap<LocId, usize> {
    let mut out = BTreeMap::new();
    for p in plans {
        let locs: &[LocId] = match &p.action {
            Action::Sync { writes, .. } => writes,
            Action::Delete { from, .. } => from,
            Action::None => &[],
        };
        for l in locs {
            *out.entry(*l).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cooling() -> Vec<Cooling> {
        vec![Cooling {
            model: "claude-opus-4-5".into(),
            reason: "rate limited (429)".into(),
            remaining_s: 42,
            until: "2026-01-01T00:00:42Z".into(),
        }]
    }

    #[test]
    fn states_are_shown_most_serious_first() {
        let now = Instant::now();
        let ts: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let past: jiff::Timestamp = "2025-12-31T00:00:00Z".parse().unwrap();
        let future: jiff::Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let ok = AccountState::Ok;
        let login = AccountState::NeedsLogin("invalid_grant".into());
        let failed = AccountState::RefreshFailed {
            reason: "timeout".into(),
            until: now + Duration::from_millis(90_500),
        };
        let failed_over = AccountState::RefreshFailed {
            reason: "timeout".into(),
            until: now,
        };
        let cool = cooling();
        type Case<'a> = (
            bool,
            &'a AccountState,
            &'a [Cooling],
            Option<jiff::Timestamp>,
            &'a str,
        );
        let cases: &[Case] = &[
            (true, &login, &cool, Some(past), "disabled"),
            (false, &login, &cool, Some(past), "needs_login"),
            (false, &failed, &cool, Some(past), "refresh_failed"),
            (false, &failed_over, &cool, Some(future), "cooling"),
            (false, &ok, &cool, Some(future), "cooling"),
            (false, &ok, &[], Some(past), "expired"),
            (false, &ok, &[], Some(future), "ok"),
            (false, &ok, &[], None, "ok"),
        ];
        for (disabled, state, cooling, expiry, want) in cases {
            let v = account_state(
                &StateInput {
                    disabled: *disabled,
                    state,
                    cooling,
                    expiry: *expiry,
                    login_command: "cliproxy login claude",
                },
                now,
                ts,
            );
            assert_eq!(v.state, *want, "{disabled} {state:?} {expiry:?}");
        }
    }

    #[test]
    fn messages_name_the_command_the_model_the_reason_and_the_wait() {
        let now = Instant::now();
        let ts = jiff::Timestamp::now();
        let login = AccountState::NeedsLogin("invalid_grant".into());
        let input = |state| StateInput {
            disabled: false,
            state,
            cooling: &[],
            expiry: None,
            login_command: "cliproxy login claude",
        };
        let v = account_state(&input(&login), now, ts);
        assert_eq!(v.command.as_deref(), Some("cliproxy login claude"));
        assert!(v.message.contains("invalid_grant"), "{}", v.message);
        let failed = AccountState::RefreshFailed {
            reason: "timeout".into(),
            until: now + Duration::from_millis(90_500),
        };
        let v = account_state(&input(&failed), now, ts);
        assert_eq!(v.retry_in_s, Some(91));
        let cool = cooling();
        let v = account_state(
            &StateInput {
                cooling: &cool,
                ..input(&AccountState::Ok)
            },
            now,
            ts,
        );
        assert!(
            v.message.contains("claude-opus-4-5")
                && v.message.contains("rate limited (429)")
                && v.message.contains("42s"),
            "{}",
            v.message
        );
    }

    fn jwt(claims: Value) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(b"{\"alg\":\"none\"}"),
            enc.encode(claims.to_string())
        )
    }

    #[test]
    fn plans_come_from_plan_fields_or_the_codex_id_token() {
        let codex = jwt(json!({"https://api.openai.com/auth": {"chatgpt_plan_type": "pro"}}));
        let cases = [
            (json!({"plan": "max"}), Some("max")),
            (json!({"subscription_type": "pro"}), Some("pro")),
            (json!({"plan": "", "tier": "free"}), Some("free")),
            (json!({"id_token": codex}), Some("pro")),
            (json!({"tokens": {"id_token": codex}}), Some("pro")),
            (json!({"id_token": "not-a-jwt"}), None),
            (json!({"id_token": jwt(json!({"email": "a@b"}))}), None),
            (json!({}), None),
        ];
        for (fields, want) in cases {
            let Value::Object(m) = &fields else {
                unreachable!()
            };
            assert_eq!(plan_of(m).as_deref(), want, "{fields}");
        }
        let long = json!({"plan": "x".repeat(500)});
        assert_eq!(plan_of(long.as_object().unwrap()).unwrap().len(), 40);
    }

    #[test]
    fn pending_counts_each_location_a_plan_writes_or_removes() {
        let sync = |writes: Vec<LocId>| NamePlan {
            name: "a.json".into(),
            action: Action::Sync {
                winner: "h".into(),
                meta: Default::default(),
                source: LocId::Local,
                writes,
                keep: vec![],
                conflict: false,
            },
            drop_tombstone: false,
            notes: vec![],
        };
        let del = NamePlan {
            action: Action::Delete {
                from: vec![LocId::Primary],
                keep: vec![],
            },
            ..sync(vec![])
        };
        let none = NamePlan {
            action: Action::None,
            ..sync(vec![])
        };
        let p = pending_per_location(&[
            sync(vec![LocId::Primary, LocId::Backup]),
            sync(vec![]),
            del,
            none,
        ]);
        assert_eq!(p.get(&LocId::Primary), Some(&2));
        assert_eq!(p.get(&LocId::Backup), Some(&1));
        assert_eq!(p.get(&LocId::Local), None);
    }
}
