//! How fast the sender goes: a token bucket per business number (Meta counts
//! throughput per number), and the backoff a retry waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// SQS caps a message's visibility timeout at 12 hours.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// The first retry waits about this long; each further receive doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Retries never wait longer than this unless Meta asks (`Retry-After`).
pub const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);
/// A token or account problem needs a human: do not come back sooner.
pub const AUTH_BACKOFF_FLOOR: Duration = Duration::from_secs(5 * 60);

/// The visibility timeout of a retry: exponential in the receive count with
/// "equal jitter" (half fixed, half random, so retries spread out but never
/// come back at once), at least `at_least` (e.g. Meta's `Retry-After`), at
/// most SQS's 12 hours.
pub fn backoff(receive_count: u32, at_least: Option<Duration>) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << exponent)
        .min(BACKOFF_CAP)
        .as_millis() as u64;
    let half = ceiling / 2;
    let jittered = Duration::from_millis(half + fastrand::u64(0..=half));
    jittered
        .max(at_least.unwrap_or_default())
        .max(Duration::from_secs(1))
        .min(MAX_VISIBILITY)
}

/// Token buckets, one per business number, held for the life of the
/// process so pacing carries across invocations.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `per_second` messages a second, in bursts of at most a tenth of a
    /// second's worth so no one-second window exceeds the rate by more than 10%.
    pub fn new(per_second: f64) -> Self {
        Self {
            per_second,
            burst: (per_second / 10.0).max(1.0),
            buckets: Mutex::default(),
        }
    }

    /// Reserves one send for `key` and says how long to wait before it.
    /// Reservations queue up: the n-th waiter waits n/rate.
    pub fn reserve(&self, key: &str, now: Instant) -> Duration {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Duration::ZERO;
        };
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now.max(bucket.updated);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / self.per_second)
        }
    }

    /// Waits for a send slot for `key`.
    pub async fn acquire(&self, key: &str) {
        let wait = self.reserve(key, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jitters_and_is_capped() {
        for _ in 0..200 {
            let first = backoff(1, None);
            assert!(
                (Duration::from_millis(2500)..=BACKOFF_BASE).contains(&first),
                "{first:?}"
            );
            let third = backoff(3, None);
            assert!(
                (Duration::from_secs(10)..=Duration::from_secs(20)).contains(&third),
                "{third:?}"
            );
            let late = backoff(50, None);
            assert!((BACKOFF_CAP / 2..=BACKOFF_CAP).contains(&late), "{late:?}");
        }
        assert_eq!(
            backoff(1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(99_999))),
            MAX_VISIBILITY
        );
        let spread: std::collections::HashSet<_> = (0..50).map(|_| backoff(4, None)).collect();
        assert!(spread.len() > 10, "jitter should spread retries");
    }

    #[test]
    fn bucket_paces_each_number_separately() {
        let limiter = RateLimiter::new(80.0);
        let t0 = Instant::now();
        // a burst of 8 (a tenth of a second's worth) goes at once
        let waits: Vec<_> = (0..10).map(|_| limiter.reserve("a", t0)).collect();
        assert!(waits[..8].iter().all(Duration::is_zero), "{waits:?}");
        assert_eq!(waits[8], Duration::from_secs_f64(1.0 / 80.0));
        assert_eq!(waits[9], Duration::from_secs_f64(2.0 / 80.0));
        // another number has its own bucket
        assert!(limiter.reserve("b", t0).is_zero());
        // a second later the bucket is full again, but never above the burst
        let t1 = t0 + Duration::from_secs(1);
        let waits: Vec<_> = (0..9).map(|_| limiter.reserve("a", t1)).collect();
        assert!(waits[..8].iter().all(Duration::is_zero));
        assert!(!waits[8].is_zero());
    }

    #[test]
    fn sustained_rate_is_the_configured_rate() {
        let limiter = RateLimiter::new(80.0);
        let t0 = Instant::now();
        let last = (0..808).map(|_| limiter.reserve("a", t0)).last().unwrap();
        // 808 sends: 8 from the burst, 800 more at 80/s take 10 s
        assert!((last.as_secs_f64() - 10.0).abs() < 1e-6, "{last:?}");
    }
}
