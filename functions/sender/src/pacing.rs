//! How fast the sender goes: a sliding window per business number (Meta
//! counts throughput per number), and the backoff a retry waits.

use std::collections::{HashMap, VecDeque};
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

/// Send slots per business number (Meta counts throughput per number),
/// held for the life of the process so pacing carries across invocations.
/// A sliding window: at most `per_second` slots in any one second, so a
/// batch goes out at once when the number has room, and no one-second
/// window ever holds more than the limit however the work arrives.
pub struct RateLimiter {
    per_second: usize,
    slots: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        Self {
            per_second: (per_second.floor() as usize).max(1),
            slots: Mutex::default(),
        }
    }

    /// Reserves one send for `key` and says how long to wait before it:
    /// the earliest moment at or after `now` that leaves every one-second
    /// window with at most the limit. Reservations queue up in order.
    pub fn reserve(&self, key: &str, now: Instant) -> Duration {
        let Ok(mut all) = self.slots.lock() else {
            return Duration::ZERO;
        };
        let slots = all.entry(key.to_owned()).or_default();
        let mut at = now;
        if let Some(last) = slots.back() {
            at = at.max(*last);
        }
        if slots.len() == self.per_second
            && let Some(oldest) = slots.pop_front()
        {
            // The slot `per_second` sends ago opens a new second.
            at = at.max(oldest + Duration::from_secs(1));
        }
        slots.push_back(at);
        at.saturating_duration_since(now)
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

    /// The most sends (times in seconds, sorted) in any half-open second.
    fn most_in_one_second(times: &[f64]) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + 1.0 - 1e-9)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_batch_goes_at_once_and_the_limit_holds_per_number() {
        let limiter = RateLimiter::new(80.0);
        let t0 = Instant::now();
        // a batch of ten goes at once: the number has room
        let waits: Vec<_> = (0..10).map(|_| limiter.reserve("a", t0)).collect();
        assert!(waits.iter().all(Duration::is_zero), "{waits:?}");
        // the 81st in the same second waits for the second to pass
        let waits: Vec<_> = (0..71).map(|_| limiter.reserve("a", t0)).collect();
        assert!(waits[..70].iter().all(Duration::is_zero));
        assert_eq!(waits[70], Duration::from_secs(1));
        // another number has its own window
        assert!(limiter.reserve("b", t0).is_zero());
        // later, room again
        let t1 = t0 + Duration::from_secs(5);
        assert!(limiter.reserve("a", t1).is_zero());
    }

    #[test]
    fn sustained_rate_is_the_configured_rate() {
        let limiter = RateLimiter::new(80.0);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..801).map(|_| limiter.reserve("a", t0)).collect();
        // 801 sends: 80 a second, so the last one goes 10 s in
        assert_eq!(waits[800], Duration::from_secs(10));
        // and no one-second window (half-open) holds more than 80
        let times: Vec<f64> = waits.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(most_in_one_second(&times), 80);
        // also when the work trickles in at odd moments
        let limiter = RateLimiter::new(7.0);
        let mut times = Vec::new();
        for i in 0..200u64 {
            let now = t0 + Duration::from_millis(i * 37 % 500 + i * 20);
            times.push(
                (now + limiter.reserve("a", now))
                    .duration_since(t0)
                    .as_secs_f64(),
            );
        }
        times.sort_by(f64::total_cmp);
        assert_eq!(most_in_one_second(&times), 7);
    }
}
