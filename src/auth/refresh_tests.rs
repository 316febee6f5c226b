use super::*;
use std::path::Path;

fn file(json: &str) -> AuthFile {
    AuthFile::parse(Path::new("/x/claude-a.json"), json.as_bytes()).unwrap()
}

#[test]
fn due_follows_the_provider_lead() {
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    assert!(due(
        &file(r#"{"type":"claude","expired":"2026-01-01T03:59:00Z"}"#),
        now
    ));
    assert!(!due(
        &file(r#"{"type":"claude","expired":"2026-01-01T04:01:00Z"}"#),
        now
    ));
    assert!(due(
        &file(r#"{"type":"codex","expired":"2026-01-05T00:00:00Z"}"#),
        now
    ));
    assert!(!due(
        &file(r#"{"type":"antigravity","expired":"2026-01-01T00:06:00Z"}"#),
        now
    ));
    assert!(due(
        &file(r#"{"type":"antigravity","expired":"2026-01-01T00:04:00Z"}"#),
        now
    ));
    assert!(!due(&file(r#"{"type":"claude"}"#), now));
}

#[test]
fn a_token_shorter_lived_than_the_lead_is_due_in_the_second_half_of_its_life() {
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let table = [
        // (file, due?)
        // Codex, an hour-long token refreshed just now: not due (lead 5 days).
        (
            r#"{"type":"codex","last_refresh":"2026-01-01T00:00:00Z","expired":"2026-01-01T01:00:00Z"}"#,
            false,
        ),
        // ...half of its hour gone: due.
        (
            r#"{"type":"codex","last_refresh":"2025-12-31T23:30:00Z","expired":"2026-01-01T00:30:00Z"}"#,
            true,
        ),
        (
            r#"{"type":"codex","last_refresh":"2025-12-31T23:31:00Z","expired":"2026-01-01T00:31:00Z"}"#,
            false,
        ),
        // A 10-day Codex token follows the 5-day lead.
        (
            r#"{"type":"codex","last_refresh":"2025-12-27T00:01:00Z","expired":"2026-01-06T00:01:00Z"}"#,
            false,
        ),
        (
            r#"{"type":"codex","last_refresh":"2025-12-26T00:00:00Z","expired":"2026-01-05T00:00:00Z"}"#,
            true,
        ),
        // Claude 8-hour token: the 4-hour lead is half its life either way.
        (
            r#"{"type":"claude","last_refresh":"2025-12-31T20:01:00Z","expired":"2026-01-01T04:01:00Z"}"#,
            false,
        ),
        (
            r#"{"type":"claude","last_refresh":"2025-12-31T19:59:00Z","expired":"2026-01-01T03:59:00Z"}"#,
            true,
        ),
        // A last_refresh after the expiry says nothing about the lifetime: the lead holds.
        (
            r#"{"type":"codex","last_refresh":"2026-01-02T00:00:00Z","expired":"2026-01-01T01:00:00Z"}"#,
            true,
        ),
        // Expired is always due.
        (
            r#"{"type":"codex","last_refresh":"2025-12-31T22:00:00Z","expired":"2025-12-31T23:00:00Z"}"#,
            true,
        ),
    ];
    for (json, want) in table {
        assert_eq!(due(&file(json), now), want, "{json}");
    }
}

#[test]
fn without_the_bucket_only_a_token_near_expiry_is_refreshed() {
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let at = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
    let refused = Trigger::Unauthorized(Secret::new("at"));
    let table = [
        (Trigger::Expired, at("2025-12-31T23:59:00Z"), true),
        (refused.clone(), at("2026-01-01T05:00:00Z"), true),
        (refused, None, true),
        (Trigger::Proactive, at("2026-01-01T00:09:59Z"), true),
        (Trigger::Proactive, at("2026-01-01T00:10:00Z"), true),
        (Trigger::Proactive, at("2026-01-01T00:10:01Z"), false),
        (Trigger::Proactive, at("2026-01-01T03:00:00Z"), false),
        (Trigger::Proactive, None, false),
    ];
    for (trigger, expiry, want) in table {
        assert_eq!(
            refresh_without_bucket(&trigger, expiry, now),
            want,
            "{trigger:?} {expiry:?}"
        );
    }
}

#[test]
fn refresh_interval_seconds_overrides_lead() {
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let f = file(
        r#"{"type":"claude","expired":"2026-02-01T00:00:00Z","last_refresh":"2025-12-31T23:00:00Z","refresh_interval_seconds":1800}"#,
    );
    assert!(due(&f, now));
    let f = file(
        r#"{"type":"claude","expired":"2026-02-01T00:00:00Z","last_refresh":"2025-12-31T23:50:00Z","refresh_interval_seconds":1800}"#,
    );
    assert!(!due(&f, now));
}

#[test]
fn refused_grants_need_login() {
    assert!(
        matches!(classify_failure(400, r#"{"error":"invalid_grant","error_description":"Refresh token already used"}"#), RefreshError::NeedsLogin(m) if m.contains("invalid_grant"))
    );
    assert!(matches!(
        classify_failure(400, r#"{"error":{"code":"refresh_token_reused"}}"#),
        RefreshError::NeedsLogin(_)
    ));
    assert!(matches!(
        classify_failure(503, "busy"),
        RefreshError::Transient(_)
    ));
}

#[test]
fn token_response_updates_fields_and_keeps_the_rest() {
    let mut f = file(
        r#"{"type":"claude","custom":"keep","access_token":"old","refresh_token":"r1","email":"a@x"}"#,
    );
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let tok = TokenAnswer {
        access_token: "new".into(),
        refresh_token: Some("r2".into()),
        expires_in: Some(3600),
        account: None,
        id_token: None,
    };
    Provider::Claude.apply_token(&mut f, &tok, now);
    assert_eq!(f.str_field("access_token"), Some("new"));
    assert_eq!(f.str_field("refresh_token"), Some("r2"));
    assert_eq!(f.str_field("expired"), Some("2026-01-01T01:00:00Z"));
    assert_eq!(
        f.str_field("last_refresh"),
        Some("2026-01-01T00:00:00.000Z")
    );
    assert_eq!(f.str_field("custom"), Some("keep"));
}

#[test]
fn a_refresh_lands_on_top_of_an_edit_made_since_the_file_was_loaded() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("claude-a.json");
    let loaded = br#"{"type":"claude","access_token":"at-1","refresh_token":"rt-1"}"#;
    std::fs::write(&path, loaded).unwrap();
    let mem = AuthFile::parse(&path, loaded).unwrap();
    let spent = refresh_token(&mem).unwrap();
    assert!(
        edited_on_disk(&mem, &spent).is_none(),
        "unchanged: memory's copy is used"
    );
    std::fs::write(
        &path,
        br#"{"type":"claude","access_token":"at-1","refresh_token":"rt-1","disabled":true}"#,
    )
    .unwrap();
    let disk = edited_on_disk(&mem, &spent).expect("an edit keeping the token is taken");
    assert!(disk.bool_field("disabled"));
    std::fs::write(
        &path,
        br#"{"type":"claude","access_token":"at-2","refresh_token":"rt-2"}"#,
    )
    .unwrap();
    assert!(
        edited_on_disk(&mem, &spent).is_none(),
        "a file holding another refresh token is not a base for this one's answer"
    );
    std::fs::write(&path, b"{broken").unwrap();
    assert!(edited_on_disk(&mem, &spent).is_none());
}
