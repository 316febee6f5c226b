//! What Codex's limit answers mean for the account: a usage limit cools it until the
//! reset the backend names (often days away), "model is at capacity" only briefly.

use std::time::Duration;

use serde::Deserialize;

use super::super::Limit;

/// "Model is at capacity" is about the model, not the account: wait briefly.
pub const CAPACITY_COOLDOWN: Duration = Duration::from_secs(15);

/// A reset further away than this is taken as this (a bogus timestamp must not park
/// an account for years).
const MAX_RESET: Duration = Duration::from_secs(31 * 24 * 3600);

#[derive(Deserialize)]
struct Body {
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
    message: Option<String>,
    plan_type: Option<String>,
    resets_in_seconds: Option<f64>,
    resets_at: Option<f64>,
}

/// The cooldown a Codex error answer asks for (`None`: the usual status rules apply).
pub fn limit(status: u16, body: &[u8], now: jiff::Timestamp) -> Option<Limit> {
    let err = serde_json::from_slice::<Body>(body).ok()?.error?;
    let message = err.message.as_deref().unwrap_or_default();
    let code = err
        .code
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .or(err.kind.as_deref());
    if status == 429 && code == Some("usage_limit_reached") {
        let secs = err
            .resets_in_seconds
            .or_else(|| err.resets_at.map(|at| at - now.as_second() as f64))
            .filter(|s| s.is_finite())?;
        let duration = Duration::from_secs_f64(secs.max(1.0)).min(MAX_RESET);
        let plan = err
            .plan_type
            .as_deref()
            .map(|p| format!(" ({p} plan)"))
            .unwrap_or_default();
        let at = now
            .checked_add(jiff::SignedDuration::from_secs(duration.as_secs() as i64))
            .map(|t| format!(" at {}", crate::auth::file::rfc3339(t)))
            .unwrap_or_default();
        return Some(Limit {
            duration,
            reason: format!(
                "usage limit reached{plan}; resets in {}{at}",
                human(duration)
            ),
        });
    }
    if message.to_ascii_lowercase().contains("at capacity") {
        return Some(Limit {
            duration: CAPACITY_COOLDOWN,
            reason: "model is at capacity".into(),
        });
    }
    None
}

/// `2d 3h`, `3h 5m`, `4m 10s`, `9s`: the two largest units.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{mins}m {secs}s"),
        (0, _, _) => format!("{hours}h {mins}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn codex_limit_answers_become_cooldowns() {
        let usage = |extra: &str| {
            format!(
                r#"{{"error":{{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus"{extra}}}}}"#
            )
        };
        #[rustfmt::skip]
        type Row = (&'static str, u16, String, Option<(u64, &'static str)>);
        let table: Vec<Row> = vec![
            ("resets_in_seconds: cool until then", 429, usage(r#","resets_in_seconds":183600"#),
                Some((183600, "usage limit reached (plus plan); resets in 2d 3h at 2026-01-03T03:00:00Z"))),
            ("resets_at: cool until that instant", 429, usage(r#","resets_at":1767229200"#),
                Some((3600, "usage limit reached (plus plan); resets in 1h 0m at 2026-01-01T01:00:00Z"))),
            ("seconds win over the instant", 429, usage(r#","resets_in_seconds":60,"resets_at":1767229200"#),
                Some((60, "usage limit reached (plus plan); resets in 1m 0s at 2026-01-01T00:01:00Z"))),
            ("a reset in the past still cools a second", 429, usage(r#","resets_at":1000"#),
                Some((1, "usage limit reached (plus plan); resets in 1s at 2026-01-01T00:00:01Z"))),
            ("a reset years away is capped at 31 days", 429, usage(r#","resets_in_seconds":1e12"#),
                Some((31 * 86400, "usage limit reached (plus plan); resets in 31d 0h at 2026-02-01T00:00:00Z"))),
            ("usage limit without a reset: the usual 429 rules", 429, usage(""), None),
            ("not a 429: the usual rules", 400, usage(r#","resets_in_seconds":5"#), None),
            ("code instead of type", 429,
                r#"{"error":{"code":"usage_limit_reached","message":"x","resets_in_seconds":9}}"#.into(),
                Some((9, "usage limit reached; resets in 9s at 2026-01-01T00:00:09Z"))),
            ("model at capacity: short cooldown", 503,
                r#"{"error":{"message":"Selected model is at capacity. Please try a different model.","type":"server_error"}}"#.into(),
                Some((15, "model is at capacity"))),
            ("other rate limits: the usual rules", 429,
                r#"{"error":{"type":"rate_limit_exceeded","message":"slow down"}}"#.into(), None),
            ("not JSON", 429, "<html>".into(), None),
        ];
        for (name, status, body, want) in table {
            let got = limit(status, body.as_bytes(), now());
            let want = want.map(|(secs, reason)| Limit {
                duration: Duration::from_secs(secs),
                reason: reason.into(),
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn durations_read_in_their_two_largest_units() {
        for (secs, want) in [
            (9, "9s"),
            (250, "4m 10s"),
            (11100, "3h 5m"),
            (183600, "2d 3h"),
        ] {
            assert_eq!(human(Duration::from_secs(secs)), want);
        }
    }
}
