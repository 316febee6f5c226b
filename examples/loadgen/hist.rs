//! A shared, lock-free histogram of durations (10 µs buckets up to 1 s, the rest in one
//! overflow bucket with the exact maximum kept): 1,000 streams at 200 events a second
//! for a minute are 12 million samples, too many to keep one by one.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

const BUCKET_US: u64 = 10;
const BUCKETS: usize = 100_000;

pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    overflow: AtomicU64,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            overflow: AtomicU64::new(0),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, us: u64) {
        let i = (us / BUCKET_US) as usize;
        match self.buckets.get(i) {
            Some(b) => b.fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The upper edge of the bucket holding the p-th percentile, in milliseconds
    /// (so a figure errs by at most 10 µs on the slow side).
    fn pct_ms(&self, p: f64) -> f64 {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
            }
        }
        self.max_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn summary(&self) -> serde_json::Value {
        let n = self.count.load(Ordering::Relaxed);
        let mean = if n == 0 {
            0.0
        } else {
            self.sum_us.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
        };
        json!({
            "p50": self.pct_ms(50.0), "p90": self.pct_ms(90.0), "p99": self.pct_ms(99.0),
            "p999": self.pct_ms(99.9), "mean": mean,
            "max": self.max_us.load(Ordering::Relaxed) as f64 / 1000.0, "count": n,
            "over_1s": self.overflow.load(Ordering::Relaxed),
        })
    }
}

/// Counts server-sent-event boundaries (a blank line, `\n\n` or `\r\n\r\n`) across the
/// reads of one body, however the reads split them.
#[derive(Default)]
pub struct EventCounter {
    /// The previous byte other than `\r` was a `\n`.
    after_newline: bool,
}

impl EventCounter {
    pub fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut n = 0;
        for &b in bytes {
            match b {
                b'\r' => {}
                b'\n' => {
                    if self.after_newline {
                        n += 1;
                        self.after_newline = false;
                    } else {
                        self.after_newline = true;
                    }
                }
                _ => self.after_newline = false,
            }
        }
        n
    }
}
