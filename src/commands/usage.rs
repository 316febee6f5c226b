//! `cliproxy usage`: requests and tokens the gateway recorded, grouped by day, model,
//! account or client key, read from the usage database (read-only: a running
//! gateway keeps writing meanwhile).

use std::process::ExitCode;

use crate::cli::{UsageArgs, UsageBy};
use crate::config::Context;
use crate::usage::{db, report};

/// The start of the window: `today` (local midnight), `YYYY-MM-DD` (local), an RFC 3339
/// time, or a duration back from `now` (`90m`, `24h`, `7d`, `2w`).
pub fn parse_since(s: &str, now: &jiff::Zoned) -> Result<jiff::Timestamp, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "--since `{s}`: expected today, YYYY-MM-DD, an RFC 3339 time or a duration like 24h / 7d"
        )
    };
    if s.eq_ignore_ascii_case("today") {
        return now
            .start_of_day()
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(now.time_zone().clone())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    let back = jiff::SignedDuration::from_secs(n.checked_mul(secs).ok_or_else(bad)?);
    now.timestamp().checked_sub(back).map_err(|_| bad())
}

fn group(by: UsageBy) -> report::GroupBy {
    match by {
        UsageBy::Day => report::GroupBy::Day,
        UsageBy::Model => report::GroupBy::Model,
        UsageBy::Account => report::GroupBy::Account,
        UsageBy::Key => report::GroupBy::Key,
    }
}

pub fn run(args: &UsageArgs, ctx: &Context) -> ExitCode {
    let now = jiff::Zoned::now();
    let since = match parse_since(args.since.as_deref().unwrap_or("today"), &now) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(crate::commands::EXIT_USAGE);
        }
    };
    let by = group(args.by);
    let path = crate::usage::db_path(&ctx.auth_dir);
    let (rows, total) = match db::open_ro(&path) {
        Ok(Some(conn)) => match report::summary(&conn, since.as_millisecond(), by) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: usage database {}: {e}", path.display());
                return ExitCode::from(1);
            }
        },
        Ok(None) => (
            Vec::new(),
            report::Row {
                key: "total".into(),
                ..Default::default()
            },
        ),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        let out = serde_json::json!({
            "since": since.to_string(),
            "by": by.name(),
            "database": path.display().to_string(),
            "rows": rows,
            "total": total,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "usage since {} by {} ({})",
        since
            .to_zoned(now.time_zone().clone())
            .strftime("%Y-%m-%d %H:%M %Z"),
        by.name(),
        path.display()
    );
    if rows.is_empty() {
        println!("no requests recorded in this window");
        return ExitCode::SUCCESS;
    }
    let width = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 60);
    println!(
        "{:<width$}  {:>8}  {:>6}  {:>12}  {:>12}  {:>12}  {:>10}  {:>12}  {:>9}",
        by.name().to_uppercase(),
        "REQUESTS",
        "FAILED",
        "INPUT",
        "OUTPUT",
        "CACHED",
        "REASONING",
        "TOTAL",
        "AVG MS"
    );
    for r in rows.iter().chain(std::iter::once(&total)) {
        println!(
            "{:<width$}  {:>8}  {:>6}  {:>12}  {:>12}  {:>12}  {:>10}  {:>12}  {:>9}",
            r.key,
            r.requests,
            r.failed,
            r.input_tokens,
            r.output_tokens,
            r.cached_tokens,
            r.reasoning_tokens,
            r.total_tokens,
            r.avg_latency_ms
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_days_times_and_durations() {
        let now: jiff::Zoned = "2025-03-10T15:30:00+01:00[Europe/Paris]".parse().unwrap();
        let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let cases: &[(&str, Result<jiff::Timestamp, ()>)] = &[
            ("today", Ok(ts("2025-03-09T23:00:00Z"))),
            ("2025-03-01", Ok(ts("2025-02-28T23:00:00Z"))),
            ("2025-03-01T12:00:00Z", Ok(ts("2025-03-01T12:00:00Z"))),
            ("24h", Ok(ts("2025-03-09T14:30:00Z"))),
            ("7d", Ok(ts("2025-03-03T14:30:00Z"))),
            ("90m", Ok(ts("2025-03-10T13:00:00Z"))),
            ("2w", Ok(ts("2025-02-24T14:30:00Z"))),
            ("yesterdayish", Err(())),
            ("7y", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            let got = parse_since(input, &now).map_err(|_| ());
            assert_eq!(got, *want, "{input}");
        }
    }
}
