//! Reading usage back: grouped summaries (`cliproxy usage`), CLIProxyAPI's `/usage`
//! snapshot, and its export / import format (version 1).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Tokens, UsageRecord, db};

/// How `cliproxy usage` groups rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    Model,
    Account,
    Key,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::Day => "date(at_ms / 1000, 'unixepoch', 'localtime')",
            GroupBy::Model => "model_requested",
            GroupBy::Account => {
                "CASE WHEN account = '' THEN '(none)' ELSE provider || ':' || account END"
            }
            GroupBy::Key => "client_key",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Model => "model",
            GroupBy::Account => "account",
            GroupBy::Key => "key",
        }
    }
}

/// One group's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Row {
    pub key: String,
    pub requests: u64,
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
    pub avg_latency_ms: u64,
}

impl Row {
    fn add(&mut self, o: &Row) {
        let avg_weight = self.avg_latency_ms * self.requests + o.avg_latency_ms * o.requests;
        self.requests += o.requests;
        self.failed += o.failed;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_tokens += o.cached_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.total_tokens += o.total_tokens;
        self.avg_latency_ms = avg_weight.checked_div(self.requests).unwrap_or(0);
    }
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Rows grouped by `by` for records from `since_ms` on, largest token use first
/// (by day: in date order), and the grand total.
pub fn summary(conn: &Connection, since_ms: i64, by: GroupBy) -> rusqlite::Result<(Vec<Row>, Row)> {
    let order = match by {
        GroupBy::Day => "k",
        _ => "total DESC, k",
    };
    let sql = format!(
        "SELECT {col} AS k, COUNT(*), SUM(status >= 400), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(input_tokens + output_tokens) AS total, CAST(AVG(latency_ms) AS INTEGER)
         FROM requests WHERE at_ms >= ?1 GROUP BY k ORDER BY {order}",
        col = by.column()
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st
        .query_map(params![since_ms], |r| {
            Ok(Row {
                key: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                requests: u(r.get(1)?),
                failed: u(r.get(2)?),
                input_tokens: u(r.get(3)?),
                output_tokens: u(r.get(4)?),
                cached_tokens: u(r.get(5)?),
                cache_write_tokens: u(r.get(6)?),
                reasoning_tokens: u(r.get(7)?),
                total_tokens: u(r.get(8)?),
                avg_latency_ms: u(r.get(9)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut total = Row {
        key: "total".into(),
        ..Default::default()
    };
    for r in &rows {
        total.add(r);
    }
    Ok((rows, total))
}

/// CLIProxyAPI's per-request detail.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Detail {
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub latency_ms: i64,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub auth_index: String,
    #[serde(default)]
    pub tokens: DetailTokens,
    #[serde(default)]
    pub failed: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default)]
pub struct DetailTokens {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub reasoning_tokens: i64,
    #[serde(default)]
    pub cached_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn timestamp(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A record as CLIProxyAPI's detail: `source` is the account, `auth_index` its provider.
pub fn detail_of(r: &UsageRecord) -> Detail {
    Detail {
        timestamp: timestamp(r.at_ms),
        latency_ms: i(r.latency_ms),
        source: r.account.clone(),
        auth_index: r.provider.clone(),
        tokens: DetailTokens {
            input_tokens: i(r.tokens.input),
            output_tokens: i(r.tokens.output),
            reasoning_tokens: i(r.tokens.reasoning),
            cached_tokens: i(r.tokens.cached),
            total_tokens: i(r.tokens.total()),
        },
        failed: r.failed(),
    }
}

/// A detail read back (import); `None` when its timestamp is unreadable.
pub fn record_of(api: &str, model: &str, d: &Detail) -> Option<UsageRecord> {
    let at: jiff::Timestamp = d.timestamp.trim().parse().ok()?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Some(UsageRecord {
        at_ms: at.as_millisecond(),
        client_key: api.to_string(),
        provider: d.auth_index.clone(),
        account: d.source.clone(),
        model_requested: model.to_string(),
        model_sent: model.to_string(),
        dialect: "imported".into(),
        status: if d.failed { 500 } else { 200 },
        stream: false,
        tokens: Tokens {
            input: n(d.tokens.input_tokens),
            output: n(d.tokens.output_tokens),
            cached: n(d.tokens.cached_tokens),
            cache_write: 0,
            reasoning: n(d.tokens.reasoning_tokens),
        },
        latency_ms: n(d.latency_ms),
        ttfb_ms: None,
        retries: 0,
    })
}

#[derive(Default)]
struct ModelAgg {
    requests: u64,
    tokens: u64,
    details: Vec<Detail>,
}

#[derive(Default)]
struct ApiAgg {
    requests: u64,
    tokens: u64,
    models: BTreeMap<String, ModelAgg>,
}

/// CLIProxyAPI's `/usage` snapshot. Totals cover every record from `since_ms`; the
/// details lists hold the newest `max_details` records (the whole history would grow
/// without bound, CLIProxyAPI issue #3048).
pub fn snapshot(conn: &Connection, since_ms: i64, max_details: usize) -> rusqlite::Result<Value> {
    let mut total_requests = 0u64;
    let mut failures = 0u64;
    let mut total_tokens = 0u64;
    let mut apis: BTreeMap<String, ApiAgg> = BTreeMap::new();
    {
        let mut st = conn.prepare(
            "SELECT client_key, model_requested, COUNT(*), SUM(status >= 400), SUM(input_tokens + output_tokens)
             FROM requests WHERE at_ms >= ?1 GROUP BY client_key, model_requested",
        )?;
        let mut rows = st.query(params![since_ms])?;
        while let Some(r) = rows.next()? {
            let api: String = r.get(0)?;
            let model: String = r.get(1)?;
            let (n, failed, tokens) = (u(r.get(2)?), u(r.get(3)?), u(r.get(4)?));
            total_requests += n;
            failures += failed;
            total_tokens += tokens;
            let a = apis.entry(api).or_default();
            a.requests += n;
            a.tokens += tokens;
            let m = a.models.entry(model).or_default();
            m.requests += n;
            m.tokens += tokens;
        }
    }
    for r in db::records(conn, since_ms, max_details)? {
        if let Some(m) = apis
            .get_mut(&r.client_key)
            .and_then(|a| a.models.get_mut(&r.model_requested))
        {
            m.details.push(detail_of(&r));
        }
    }
    let by = |unit: &str, what: &str| -> rusqlite::Result<Value> {
        let col = match unit {
            "day" => "date(at_ms / 1000, 'unixepoch', 'localtime')",
            _ => "strftime('%H', at_ms / 1000, 'unixepoch', 'localtime')",
        };
        let val = match what {
            "requests" => "COUNT(*)",
            _ => "SUM(input_tokens + output_tokens)",
        };
        let mut st = conn.prepare(&format!(
            "SELECT {col} AS k, {val} FROM requests WHERE at_ms >= ?1 GROUP BY k ORDER BY k"
        ))?;
        let mut out = serde_json::Map::new();
        let mut rows = st.query(params![since_ms])?;
        while let Some(r) = rows.next()? {
            let k: Option<String> = r.get(0)?;
            out.insert(k.unwrap_or_default(), json!(u(r.get(1)?)));
        }
        Ok(Value::Object(out))
    };
    let apis: serde_json::Map<String, Value> = apis
        .into_iter()
        .map(|(api, a)| {
            let models: serde_json::Map<String, Value> = a
                .models
                .into_iter()
                .map(|(model, m)| {
                    (
                        model,
                        json!({"total_requests": m.requests, "total_tokens": m.tokens, "details": m.details}),
                    )
                })
                .collect();
            (
                api,
                json!({"total_requests": a.requests, "total_tokens": a.tokens, "models": models}),
            )
        })
        .collect();
    Ok(json!({
        "total_requests": total_requests,
        "success_count": total_requests - failures,
        "failure_count": failures,
        "total_tokens": total_tokens,
        "apis": apis,
        "requests_by_day": by("day", "requests")?,
        "requests_by_hour": by("hour", "requests")?,
        "tokens_by_day": by("day", "tokens")?,
        "tokens_by_hour": by("hour", "tokens")?,
    }))
}

/// The records of an import payload (`{version, usage: {apis: ...}}`, version 0 or 1)
/// and how many details were unreadable.
pub fn parse_import(payload: &Value) -> Result<(Vec<UsageRecord>, u64), String> {
    let version = payload.get("version").and_then(Value::as_i64).unwrap_or(0);
    if version != 0 && version != 1 {
        return Err(format!("unsupported version {version} (expected 1)"));
    }
    let apis = payload
        .pointer("/usage/apis")
        .and_then(Value::as_object)
        .ok_or("no usage.apis object in the payload")?;
    let mut out = Vec::new();
    let mut bad = 0;
    for (api, a) in apis {
        let api = api.trim();
        if api.is_empty() {
            continue;
        }
        let Some(models) = a.get("models").and_then(Value::as_object) else {
            continue;
        };
        for (model, m) in models {
            let model = match model.trim() {
                "" => "unknown",
                s => s,
            };
            for d in m
                .get("details")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match serde_json::from_value::<Detail>(d.clone())
                    .ok()
                    .and_then(|d| record_of(api, model, &d))
                {
                    Some(r) => out.push(r),
                    None => bad += 1,
                }
            }
        }
    }
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        at_ms: i64,
        key: &str,
        model: &str,
        status: u16,
        input: u64,
        output: u64,
    ) -> UsageRecord {
        UsageRecord {
            at_ms,
            client_key: key.into(),
            provider: "claude".into(),
            account: "a@x".into(),
            model_requested: model.into(),
            model_sent: model.into(),
            dialect: "anthropic".into(),
            status,
            stream: false,
            tokens: Tokens {
                input,
                output,
                ..Default::default()
            },
            latency_ms: 100,
            ttfb_ms: None,
            retries: 0,
        }
    }

    fn db_with(records: &[UsageRecord]) -> (tempfile::TempDir, Connection) {
        let d = tempfile::tempdir().unwrap();
        let mut c = db::open_rw(&d.path().join("u.sqlite")).unwrap();
        db::insert(&mut c, records).unwrap();
        (d, c)
    }

    #[test]
    fn summaries_group_and_total() {
        let (_d, c) = db_with(&[
            rec(1_000, "key-a", "m1", 200, 10, 5),
            rec(2_000, "key-a", "m2", 200, 100, 50),
            rec(3_000, "key-b", "m1", 429, 0, 0),
        ]);
        let (rows, total) = summary(&c, 0, GroupBy::Model).unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.requests, r.failed, r.total_tokens))
            .collect();
        assert_eq!(got, vec![("m2", 1, 0, 150), ("m1", 2, 1, 15)]);
        assert_eq!(
            (total.requests, total.failed, total.total_tokens),
            (3, 1, 165)
        );
        let (rows, _) = summary(&c, 0, GroupBy::Key).unwrap();
        assert_eq!(rows[0].key, "key-a");
        let (rows, _) = summary(&c, 0, GroupBy::Account).unwrap();
        assert_eq!(rows[0].key, "claude:a@x");
        let (rows, total) = summary(&c, 2_500, GroupBy::Day).unwrap();
        assert_eq!((rows.len(), total.requests), (1, 1));
    }

    #[test]
    fn snapshot_has_cliproxyapi_shape_and_export_imports_idempotently() {
        let records = [
            rec(1_700_000_000_123, "key-a", "m1", 200, 10, 5),
            rec(1_700_000_001_000, "key-a", "m1", 500, 1, 0),
            rec(1_700_000_002_000, "key-b", "m2", 200, 3, 4),
        ];
        let (_d, mut c) = db_with(&records);
        let s = snapshot(&c, 0, 100).unwrap();
        assert_eq!(s["total_requests"], 3);
        assert_eq!(s["success_count"], 2);
        assert_eq!(s["failure_count"], 1);
        assert_eq!(s["total_tokens"], 23);
        assert_eq!(s["apis"]["key-a"]["total_requests"], 2);
        assert_eq!(
            s["apis"]["key-a"]["models"]["m1"]["details"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let d0 = &s["apis"]["key-a"]["models"]["m1"]["details"][0];
        assert_eq!(d0["timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(d0["tokens"]["total_tokens"], 15);
        assert_eq!(d0["source"], "a@x");
        let by_day: u64 = s["requests_by_day"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_day, 3);

        let export = json!({"version": 1, "usage": s});
        let (parsed, bad) = parse_import(&export).unwrap();
        assert_eq!((parsed.len(), bad), (3, 0));
        // Same requests: nothing added.
        assert_eq!(db::import(&mut c, &parsed).unwrap(), 0);
        // Into an empty database: everything, once.
        let (_d2, mut c2) = db_with(&[]);
        assert_eq!(db::import(&mut c2, &parsed).unwrap(), 3);
        assert_eq!(db::import(&mut c2, &parsed).unwrap(), 0);
        assert_eq!(db::import(&mut c2, &records).unwrap(), 0);
    }

    #[test]
    fn details_are_bounded_to_the_newest() {
        let records: Vec<_> = (0..10)
            .map(|n| rec(1_000 + n, "k", "m", 200, 1, 1))
            .collect();
        let (_d, c) = db_with(&records);
        let s = snapshot(&c, 0, 4).unwrap();
        assert_eq!(s["total_requests"], 10);
        let details = s["apis"]["k"]["models"]["m"]["details"].as_array().unwrap();
        assert_eq!(details.len(), 4);
    }

    #[test]
    fn imports_reject_unknown_versions_and_count_bad_details() {
        assert!(parse_import(&json!({"version": 2, "usage": {"apis": {}}})).is_err());
        assert!(parse_import(&json!({"version": 1})).is_err());
        let p = json!({"version": 1, "usage": {"apis": {"k": {"models": {"m": {"details": [
            {"timestamp": "2025-01-01T00:00:00+02:00", "tokens": {"input_tokens": 1}},
            {"timestamp": "yesterday"}
        ]}}}}}});
        let (recs, bad) = parse_import(&p).unwrap();
        assert_eq!((recs.len(), bad), (1, 1));
        assert_eq!(recs[0].at_ms, 1_735_682_400_000);
    }
}
