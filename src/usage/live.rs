//! Numbers for the status page: per account (requests and tokens since a moment, last
//! use) and hourly series over the last 24 hours, per model and per account.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

pub const HOUR_MS: i64 = 3_600_000;
/// Hours in a chart.
pub const HOURS: usize = 24;
/// Series kept per chart; the rest are added up under [`OTHER`] so a chart stays readable
/// (and the answer bounded) whatever the clients asked for.
pub const MAX_SERIES: usize = 8;
pub const OTHER: &str = "(other)";

/// One account's use (key: `provider:label`, as [`super::report::GroupBy::Account`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountUse {
    pub requests: u64,
    pub failed: u64,
    pub tokens: u64,
    /// Newest request ever recorded for the account (Unix ms).
    pub last_used_ms: Option<i64>,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Per account: requests and tokens from `since_ms` on, and the last use ever.
pub fn per_account(
    conn: &Connection,
    since_ms: i64,
) -> rusqlite::Result<BTreeMap<String, AccountUse>> {
    let mut out: BTreeMap<String, AccountUse> = BTreeMap::new();
    let mut st = conn.prepare(
        "SELECT provider || ':' || account, MAX(at_ms),
                SUM(CASE WHEN at_ms >= ?1 THEN 1 ELSE 0 END),
                SUM(CASE WHEN at_ms >= ?1 AND status >= 400 THEN 1 ELSE 0 END),
                SUM(CASE WHEN at_ms >= ?1 THEN input_tokens + output_tokens ELSE 0 END)
         FROM requests WHERE account != '' GROUP BY provider, account",
    )?;
    let rows = st.query_map(params![since_ms], |r| {
        Ok((
            r.get::<_, String>(0)?,
            AccountUse {
                last_used_ms: r.get(1)?,
                requests: u(r.get(2)?),
                failed: u(r.get(3)?),
                tokens: u(r.get(4)?),
            },
        ))
    })?;
    for row in rows {
        let (k, v) = row?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Requests and tokens per hour for one series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Series {
    pub name: String,
    pub requests: Vec<u64>,
    pub tokens: Vec<u64>,
}

/// The last 24 hours: `hours[i]` is the start (Unix ms) of bucket `i`, oldest first;
/// the last bucket is the current hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hourly {
    pub hours: Vec<i64>,
    pub by_model: Vec<Series>,
    pub by_account: Vec<Series>,
}

/// Pure: the first hour bucket (hours since the epoch) of the 24 ending with `now_ms`'s.
pub fn first_hour(now_ms: i64) -> i64 {
    now_ms.div_euclid(HOUR_MS) - (HOURS as i64 - 1)
}

/// Pure: rows of (hour bucket, series name, requests, tokens) → series with one slot
/// per hour, largest token use first, past [`MAX_SERIES`] folded into [`OTHER`].
/// Rows outside the 24 hours are ignored.
pub fn fill(rows: &[(i64, String, u64, u64)], first: i64) -> Vec<Series> {
    let mut by: BTreeMap<&str, Series> = BTreeMap::new();
    for (hour, name, req, tok) in rows {
        let Ok(i) = usize::try_from(hour - first) else {
            continue;
        };
        if i >= HOURS {
            continue;
        }
        let s = by.entry(name.as_str()).or_insert_with(|| Series {
            name: name.clone(),
            requests: vec![0; HOURS],
            tokens: vec![0; HOURS],
        });
        s.requests[i] += req;
        s.tokens[i] += tok;
    }
    let mut v: Vec<Series> = by.into_values().collect();
    let weight = |s: &Series| (s.tokens.iter().sum::<u64>(), s.requests.iter().sum::<u64>());
    v.sort_by(|a, b| weight(b).cmp(&weight(a)).then_with(|| a.name.cmp(&b.name)));
    if v.len() > MAX_SERIES {
        let rest = v.split_off(MAX_SERIES - 1);
        let mut other = Series {
            name: OTHER.to_string(),
            requests: vec![0; HOURS],
            tokens: vec![0; HOURS],
        };
        for s in rest {
            for i in 0..HOURS {
                other.requests[i] += s.requests[i];
                other.tokens[i] += s.tokens[i];
            }
        }
        v.push(other);
    }
    v
}

fn grouped(
    conn: &Connection,
    column: &str,
    first: i64,
) -> rusqlite::Result<Vec<(i64, String, u64, u64)>> {
    let sql = format!(
        "SELECT at_ms / {HOUR_MS} AS h, {column} AS k, COUNT(*), SUM(input_tokens + output_tokens)
         FROM requests WHERE at_ms >= ?1 GROUP BY h, k"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params![first * HOUR_MS], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            u(r.get(2)?),
            u(r.get(3)?),
        ))
    })?;
    rows.collect()
}

/// The 24-hour series ending with the hour of `now_ms`.
pub fn hourly(conn: &Connection, now_ms: i64) -> rusqlite::Result<Hourly> {
    let first = first_hour(now_ms);
    let by_model = fill(&grouped(conn, "model_requested", first)?, first);
    let by_account = fill(
        &grouped(
            conn,
            "CASE WHEN account = '' THEN '(none)' ELSE provider || ':' || account END",
            first,
        )?,
        first,
    );
    Ok(Hourly {
        hours: (0..HOURS as i64).map(|i| (first + i) * HOUR_MS).collect(),
        by_model,
        by_account,
    })
}

/// An empty day (no database yet).
pub fn empty(now_ms: i64) -> Hourly {
    let first = first_hour(now_ms);
    Hourly {
        hours: (0..HOURS as i64).map(|i| (first + i) * HOUR_MS).collect(),
        by_model: Vec::new(),
        by_account: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{Tokens, UsageRecord, db};

    #[test]
    fn the_last_bucket_is_the_current_hour() {
        let cases = [
            (0, -23),
            (HOUR_MS - 1, -23),
            (HOUR_MS, -22),
            (100 * HOUR_MS + 5, 77),
        ];
        for (now, want) in cases {
            assert_eq!(first_hour(now), want, "{now}");
        }
    }

    fn row(h: i64, k: &str, r: u64, t: u64) -> (i64, String, u64, u64) {
        (h, k.to_string(), r, t)
    }

    #[test]
    fn rows_fill_their_hour_and_outsiders_are_ignored() {
        let s = fill(
            &[
                row(10, "a", 1, 5),
                row(33, "a", 2, 7),
                row(9, "a", 50, 50),
                row(34, "a", 50, 50),
                row(12, "b", 1, 100),
            ],
            10,
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "b", "largest token use first");
        assert_eq!(s[0].tokens[2], 100);
        let a = &s[1];
        assert_eq!((a.requests[0], a.tokens[0]), (1, 5));
        assert_eq!((a.requests[23], a.tokens[23]), (2, 7));
        assert_eq!(a.requests.iter().sum::<u64>(), 3);
    }

    #[test]
    fn series_past_the_limit_are_folded_into_other() {
        let rows: Vec<_> = (0..12)
            .map(|i| row(0, &format!("m{i:02}"), 1, 100 - i))
            .collect();
        let s = fill(&rows, 0);
        assert_eq!(s.len(), MAX_SERIES);
        assert_eq!(s[0].name, "m00");
        let other = s.last().unwrap();
        assert_eq!(other.name, OTHER);
        assert_eq!(other.requests[0], 12 - (MAX_SERIES as u64 - 1));
        let total: u64 = s.iter().map(|x| x.requests[0]).sum();
        assert_eq!(total, 12);
    }

    fn rec(at_ms: i64, account: &str, model: &str, status: u16, tokens: u64) -> UsageRecord {
        UsageRecord {
            at_ms,
            client_key: "open".into(),
            provider: "claude".into(),
            account: account.into(),
            model_requested: model.into(),
            model_sent: model.into(),
            dialect: "anthropic".into(),
            status,
            tokens: Tokens {
                input: tokens,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn accounts_and_hours_come_from_the_database() {
        let d = tempfile::tempdir().unwrap();
        let mut c = db::open_rw(&d.path().join("u.sqlite")).unwrap();
        let now = 1000 * HOUR_MS + 10;
        db::insert(
            &mut c,
            &[
                rec(now - 30 * HOUR_MS, "a@x", "m1", 200, 1000),
                rec(now - 2 * HOUR_MS, "a@x", "m1", 200, 10),
                rec(now - 5, "a@x", "m2", 429, 0),
                rec(now - 1, "b@x", "m1", 200, 3),
            ],
        )
        .unwrap();
        let acc = per_account(&c, now - 3 * HOUR_MS).unwrap();
        let a = &acc["claude:a@x"];
        assert_eq!((a.requests, a.failed, a.tokens), (2, 1, 10));
        assert_eq!(a.last_used_ms, Some(now - 5));
        assert_eq!(acc["claude:b@x"].tokens, 3);
        let h = hourly(&c, now).unwrap();
        assert_eq!(h.hours.len(), HOURS);
        assert_eq!(h.hours[HOURS - 1], 1000 * HOUR_MS);
        let m1 = h.by_model.iter().find(|s| s.name == "m1").unwrap();
        assert_eq!(m1.requests[HOURS - 3], 1);
        assert_eq!(m1.requests[HOURS - 1], 1);
        assert_eq!(m1.requests.iter().sum::<u64>(), 2, "30 h ago is outside");
        assert_eq!(h.by_account.len(), 2);
    }
}
