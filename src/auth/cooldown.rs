//! Per-account, per-model cooldowns after upstream errors (reference §3.5).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const MAX_QUOTA_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// What an upstream answer means for the account that got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Return to the client at once; no other account would do better (400, 422).
    InvalidRequest,
    /// Cool this account down for the model, then try another.
    Cooldown { duration: Duration, reason: String },
    /// Try another account without cooling this one (cooling disabled).
    Retry,
}

/// Pure rule: status (+ Retry-After, + repeat level for 429) → outcome.
pub fn classify(status: u16, retry_after: Option<Duration>, level: u32) -> Outcome {
    let cool = |secs: u64, reason: &str| Outcome::Cooldown {
        duration: Duration::from_secs(secs),
        reason: reason.to_string(),
    };
    match status {
        400 | 422 => Outcome::InvalidRequest,
        401 => cool(30 * 60, "unauthorized (401)"),
        402 | 403 => cool(30 * 60, &format!("payment required / forbidden ({status})")),
        404 => cool(12 * 3600, "model not found (404)"),
        429 => {
            let d = retry_after.unwrap_or_else(|| {
                Duration::from_secs(1u64 << level.min(11)).min(MAX_QUOTA_BACKOFF)
            });
            Outcome::Cooldown {
                duration: d,
                reason: "rate limited (429)".to_string(),
            }
        }
        408 | 500 | 502 | 503 | 504 | 529 => cool(60, &format!("upstream error ({status})")),
        _ => cool(60, &format!("upstream error ({status})")),
    }
}

/// Parses `Retry-After` (delta seconds or HTTP date); absurd values are clamped.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<f64>() {
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))?
    } else {
        let t = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
        let delta = t.duration_since(now);
        Duration::try_from(delta).unwrap_or(Duration::ZERO)
    };
    // A days-long hint is almost always wrong (reference §9 item 3); cap at 6 h.
    Some(d.min(Duration::from_secs(6 * 3600)))
}

#[derive(Debug, Clone)]
pub struct CoolState {
    pub until: Instant,
    pub reason: String,
    pub level: u32,
}

/// Entries kept at most: the model half of the key comes from clients.
pub const MAX_ENTRIES: usize = 4096;
/// An expired entry still carries its 429 level for this long, then it is dropped.
const STALE_AFTER: Duration = MAX_QUOTA_BACKOFF;

/// Live cooldowns keyed by (account id, upstream model). Survives config reloads.
pub struct Cooldowns {
    map: Mutex<HashMap<(String, String), CoolState>>,
    cap: usize,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns::with_cap(MAX_ENTRIES)
    }
}

impl Cooldowns {
    pub fn with_cap(cap: usize) -> Cooldowns {
        Cooldowns {
            map: Mutex::new(HashMap::new()),
            cap: cap.max(1),
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes room for one more entry: stale entries go first, then the one that
    /// expires soonest.
    fn make_room(map: &mut HashMap<(String, String), CoolState>, cap: usize, now: Instant) {
        if map.len() < cap {
            return;
        }
        map.retain(|_, s| s.until + STALE_AFTER > now);
        while map.len() >= cap {
            let Some(k) = map
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&k);
        }
    }

    pub fn get(&self, account: &str, model: &str, now: Instant) -> Option<CoolState> {
        let map = self.map.lock();
        // The common case (nothing cooling) costs no allocation.
        if map.is_empty() {
            return None;
        }
        map.get(&(account.to_string(), model.to_string()))
            .filter(|s| s.until > now)
            .cloned()
    }

    /// Current 429 repeat level (grows while 429s repeat, reset on success).
    pub fn level(&self, account: &str, model: &str) -> u32 {
        self.map
            .lock()
            .get(&(account.to_string(), model.to_string()))
            .map(|s| s.level)
            .unwrap_or(0)
    }

    pub fn set(
        &self,
        account: &str,
        model: &str,
        duration: Duration,
        reason: String,
        is_quota: bool,
    ) {
        let mut map = self.map.lock();
        let key = (account.to_string(), model.to_string());
        let level = map.get(&key).map(|s| s.level).unwrap_or(0);
        if !map.contains_key(&key) {
            Self::make_room(&mut map, self.cap, Instant::now());
        }
        map.insert(
            key,
            CoolState {
                until: Instant::now() + duration,
                reason,
                level: if is_quota { level + 1 } else { level },
            },
        );
    }

    pub fn clear(&self, account: &str, model: &str) {
        let mut map = self.map.lock();
        if !map.is_empty() {
            map.remove(&(account.to_string(), model.to_string()));
        }
    }

    /// Every cooldown still running at `now`: (account id, model, state), sorted.
    pub fn active(&self, now: Instant) -> Vec<(String, String, CoolState)> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .iter()
            .filter(|(_, s)| s.until > now)
            .map(|((a, m), s)| (a.clone(), m.clone(), s.clone()))
            .collect();
        v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        v
    }

    /// Ends `account`'s cooldowns (one model, or all when `model` is `None`); returns
    /// how many were running. The 429 level goes too: a cleared account starts over.
    pub fn clear_account(&self, account: &str, model: Option<&str>, now: Instant) -> usize {
        let mut map = self.map.lock();
        let mut running = 0;
        map.retain(|(a, m), s| {
            let hit = a == account && model.is_none_or(|want| want == m);
            if hit && s.until > now {
                running += 1;
            }
            !hit
        });
        running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_table_matches_reference() {
        let secs = |o: Outcome| match o {
            Outcome::Cooldown { duration, .. } => duration.as_secs(),
            other => panic!("{other:?}"),
        };
        assert_eq!(secs(classify(401, None, 0)), 1800);
        assert_eq!(secs(classify(402, None, 0)), 1800);
        assert_eq!(secs(classify(403, None, 0)), 1800);
        assert_eq!(secs(classify(404, None, 0)), 43200);
        assert_eq!(secs(classify(500, None, 0)), 60);
        assert_eq!(secs(classify(503, None, 0)), 60);
        assert_eq!(secs(classify(429, Some(Duration::from_secs(7)), 5)), 7);
        assert_eq!(secs(classify(429, None, 0)), 1);
        assert_eq!(secs(classify(429, None, 3)), 8);
        assert_eq!(secs(classify(429, None, 40)), 1800);
        assert_eq!(classify(400, None, 0), Outcome::InvalidRequest);
        assert_eq!(classify(422, None, 0), Outcome::InvalidRequest);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates_and_clamps() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("1555200", now),
            Some(Duration::from_secs(6 * 3600))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn cooldowns_expire_and_levels_grow() {
        let c = Cooldowns::default();
        c.set("a", "m", Duration::from_secs(60), "x".into(), true);
        c.set("a", "m", Duration::from_secs(60), "x".into(), true);
        assert_eq!(c.level("a", "m"), 2);
        assert!(c.get("a", "m", Instant::now()).is_some());
        assert!(
            c.get("a", "m", Instant::now() + Duration::from_secs(61))
                .is_none()
        );
        assert!(c.get("a", "other", Instant::now()).is_none());
        c.clear("a", "m");
        assert_eq!(c.level("a", "m"), 0);
    }

    #[test]
    fn active_lists_running_cooldowns_and_clear_account_ends_them() {
        let c = Cooldowns::default();
        let now = Instant::now();
        c.set(
            "a",
            "m1",
            Duration::from_secs(60),
            "rate limited (429)".into(),
            true,
        );
        c.set("a", "m2", Duration::from_secs(60), "x".into(), false);
        c.set("b", "m1", Duration::from_secs(60), "y".into(), false);
        let names: Vec<(String, String)> =
            c.active(now).into_iter().map(|(a, m, _)| (a, m)).collect();
        assert_eq!(
            names,
            [("a", "m1"), ("a", "m2"), ("b", "m1")].map(|(a, m)| (a.to_string(), m.to_string()))
        );
        assert!(c.active(now + Duration::from_secs(61)).is_empty());
        assert_eq!(c.clear_account("a", Some("m1"), now), 1);
        assert_eq!(c.level("a", "m1"), 0);
        assert!(c.get("a", "m2", now).is_some());
        assert_eq!(c.clear_account("a", None, now), 1);
        assert!(c.get("a", "m2", now).is_none());
        assert!(c.get("b", "m1", now).is_some());
        assert_eq!(c.clear_account("nobody", None, now), 0);
    }

    #[test]
    fn the_table_stays_within_its_cap_dropping_the_soonest_to_expire() {
        let c = Cooldowns::with_cap(3);
        for (m, secs) in [("a", 10), ("b", 5), ("c", 20)] {
            c.set("acct", m, Duration::from_secs(secs), "x".into(), false);
        }
        for i in 0..100 {
            c.set(
                "acct",
                &format!("new-{i}"),
                Duration::from_secs(60),
                "x".into(),
                false,
            );
            assert!(c.len() <= 3);
        }
        assert!(c.get("acct", "b", Instant::now()).is_none());
        assert!(c.get("acct", "new-99", Instant::now()).is_some());
        // Updating an entry that is there never evicts another.
        c.set("acct", "new-99", Duration::from_secs(1), "x".into(), true);
        assert_eq!(c.len(), 3);
        assert!(c.get("acct", "new-98", Instant::now()).is_some());
    }
}
