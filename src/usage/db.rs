//! The usage database: SQLite in WAL mode with a busy timeout, so several gateways on
//! one folder (and `cliproxy usage` reading meanwhile) share it without failing.
//! Every request gets its own row; imports skip details whose content key (what
//! CLIProxyAPI de-duplicates on) is already stored, so importing twice adds nothing.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest, Sha256};

use super::{Tokens, UsageRecord};

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    ckey TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    client_key TEXT NOT NULL,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    model_requested TEXT NOT NULL,
    model_sent TEXT NOT NULL,
    dialect TEXT NOT NULL,
    status INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    ttfb_ms INTEGER,
    retries INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_at ON requests(at_ms);
DROP INDEX IF EXISTS requests_ckey;
";

#[derive(Debug, thiserror::Error)]
#[error("usage database {path}: {source}")]
pub struct DbError {
    pub path: String,
    #[source]
    pub source: rusqlite::Error,
}

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |source| DbError {
        path: path.display().to_string(),
        source,
    }
}

/// Opens (creating when missing, mode 0600) the database for writing.
pub fn open_rw(path: &Path) -> Result<Connection, DbError> {
    if !path.exists() {
        // Created private first: SQLite gives its -wal and -shm files the same mode.
        let _ = create_private(path);
    }
    let conn = Connection::open(path).map_err(err(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err(path))?;
    // Switching to WAL takes a lock another process may hold for a moment.
    let mut tries = 0;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(e) if tries < 20 && is_busy(&e) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(err(path)(e)),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err(path))?;
    conn.execute_batch(SCHEMA).map_err(err(path))?;
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map(|_| ())
}

/// Opens an existing database read-only; `None` when there is none yet.
pub fn open_ro(path: &Path) -> Result<Option<Connection>, DbError> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err(path))?;
    // A database created by an older or newer run may lack the table: treat as empty.
    let has: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name='requests')",
            [],
            |r| r.get(0),
        )
        .map_err(err(path))?;
    Ok(has.then_some(conn))
}

/// What identifies a request across exports and imports (CLIProxyAPI's de-dup key:
/// key, model, time, account, failure and token counts). Two identical requests in
/// one millisecond share it, so it only guards imports, never live records.
pub fn content_key(r: &UsageRecord) -> String {
    let t = &r.tokens;
    let s = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        r.client_key,
        r.model_requested,
        r.at_ms,
        r.account,
        r.provider,
        r.failed(),
        t.input,
        t.output,
        t.reasoning,
        t.cached
    );
    hex::encode(&Sha256::digest(s.as_bytes())[..16])
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Inserts live records in one transaction.
pub fn insert(conn: &mut Connection, records: &[UsageRecord]) -> rusqlite::Result<usize> {
    write(conn, records, false)
}

/// Inserts imported records in one transaction, skipping those already stored (or
/// repeated in `records`); returns how many were added.
pub fn import(conn: &mut Connection, records: &[UsageRecord]) -> rusqlite::Result<usize> {
    write(conn, records, true)
}

fn write(conn: &mut Connection, records: &[UsageRecord], dedup: bool) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let mut added = 0;
    {
        // Found through the time index: a content key includes its time, and an index
        // of random keys cost a random page write per recorded request.
        // Cached on the connection: the writer runs a batch every few hundred requests.
        let mut exists = tx.prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM requests WHERE at_ms = ?1 AND ckey = ?2)",
        )?;
        let mut st = tx.prepare_cached(
            "INSERT INTO requests (ckey, at_ms, client_key, provider, account, model_requested, model_sent, dialect, status, stream, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttfb_ms, retries)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?;
        for r in records {
            let t = &r.tokens;
            let ckey = content_key(r);
            if dedup && exists.query_row(params![r.at_ms, ckey], |row| row.get::<_, bool>(0))? {
                continue;
            }
            added += st.execute(params![
                ckey,
                r.at_ms,
                r.client_key,
                r.provider,
                r.account,
                r.model_requested,
                r.model_sent,
                r.dialect,
                r.status,
                r.stream,
                i(t.input),
                i(t.output),
                i(t.cached),
                i(t.cache_write),
                i(t.reasoning),
                i(r.latency_ms),
                r.ttfb_ms.map(i),
                r.retries,
            ])?;
        }
    }
    tx.commit()?;
    Ok(added)
}

/// Deletes records older than `retention_days` before `now_ms`; returns how many.
pub fn prune(conn: &Connection, now_ms: i64, retention_days: u32) -> rusqlite::Result<usize> {
    let cutoff = now_ms - i64::from(retention_days) * 86_400_000;
    conn.execute("DELETE FROM requests WHERE at_ms < ?1", params![cutoff])
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Records from `since_ms` on (oldest first), at most `limit` (the newest kept).
pub fn records(
    conn: &Connection,
    since_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<UsageRecord>> {
    let mut st = conn.prepare(
        "SELECT at_ms, client_key, provider, account, model_requested, model_sent, dialect, status, stream, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttfb_ms, retries
         FROM (SELECT * FROM requests WHERE at_ms >= ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2)
         ORDER BY at_ms, id",
    )?;
    let rows = st.query_map(
        params![since_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            Ok(UsageRecord {
                at_ms: r.get(0)?,
                client_key: r.get(1)?,
                provider: r.get(2)?,
                account: r.get(3)?,
                model_requested: r.get(4)?,
                model_sent: r.get(5)?,
                dialect: r.get(6)?,
                status: r.get(7)?,
                stream: r.get(8)?,
                tokens: Tokens {
                    input: u(r.get(9)?),
                    output: u(r.get(10)?),
                    cached: u(r.get(11)?),
                    cache_write: u(r.get(12)?),
                    reasoning: u(r.get(13)?),
                },
                latency_ms: u(r.get(14)?),
                ttfb_ms: r.get::<_, Option<i64>>(15)?.map(u),
                retries: r.get(16)?,
            })
        },
    )?;
    rows.collect()
}

/// Number of records from `since_ms` on.
pub fn count(conn: &Connection, since_ms: i64) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM requests WHERE at_ms >= ?1",
        params![since_ms],
        |r| r.get::<_, i64>(0),
    )
    .map(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec(at_ms: i64, model: &str, input: u64) -> UsageRecord {
        UsageRecord {
            at_ms,
            client_key: "key-00000000".into(),
            provider: "claude".into(),
            account: "a@example.com".into(),
            model_requested: model.into(),
            model_sent: model.into(),
            dialect: "anthropic".into(),
            status: 200,
            stream: false,
            tokens: Tokens {
                input,
                output: 2,
                ..Default::default()
            },
            latency_ms: 10,
            ttfb_ms: Some(5),
            retries: 0,
        }
    }

    #[test]
    fn records_round_trip_and_imports_skip_what_is_stored() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("u.sqlite");
        let mut c = open_rw(&p).unwrap();
        let a = rec(1_000, "m1", 5);
        let b = rec(2_000, "m2", 7);
        assert_eq!(insert(&mut c, &[a.clone(), b.clone()]).unwrap(), 2);
        assert_eq!(import(&mut c, &[a.clone(), a.clone()]).unwrap(), 0);
        let got = records(&c, 0, 100).unwrap();
        assert_eq!(got, vec![a.clone(), b.clone()]);
        assert_eq!(records(&c, 1_500, 100).unwrap(), vec![b.clone()]);
        // The limit keeps the newest.
        assert_eq!(records(&c, 0, 1).unwrap(), vec![b]);
        assert_eq!(count(&c, 0).unwrap(), 2);
        // Two identical live requests in one millisecond are two records.
        assert_eq!(insert(&mut c, &[a.clone(), a.clone()]).unwrap(), 2);
        assert_eq!(count(&c, 0).unwrap(), 4);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn prune_deletes_only_what_is_older_than_retention() {
        let d = tempfile::tempdir().unwrap();
        let mut c = open_rw(&d.path().join("u.sqlite")).unwrap();
        let day = 86_400_000;
        let now = 100 * day;
        insert(
            &mut c,
            &[
                rec(now - 91 * day, "old", 1),
                rec(now - 89 * day, "kept", 1),
            ],
        )
        .unwrap();
        assert_eq!(prune(&c, now, 90).unwrap(), 1);
        let left: Vec<_> = records(&c, 0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.model_requested)
            .collect();
        assert_eq!(left, vec!["kept"]);
    }

    #[test]
    fn read_only_open_of_a_missing_database_is_none() {
        let d = tempfile::tempdir().unwrap();
        assert!(open_ro(&d.path().join("none.sqlite")).unwrap().is_none());
    }

    #[test]
    fn two_writers_on_one_database_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("u.sqlite");
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let mut c = open_rw(&p).unwrap();
                    for batch in 0..50 {
                        let recs: Vec<_> = (0..20)
                            .map(|k| rec(w * 1_000_000 + batch * 100 + k, "m", 1))
                            .collect();
                        assert_eq!(insert(&mut c, &recs).unwrap(), 20);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let c = open_ro(&p).unwrap().unwrap();
        assert_eq!(count(&c, 0).unwrap(), 2 * 50 * 20);
    }
}
