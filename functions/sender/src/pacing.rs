//! How fast the sender goes: a sliding window per business number (Meta
//! counts throughput per number). The backoff a retry waits is
//! `shared::sqs::requeue::backoff`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token or account problem needs a human: do not come back sooner.
pub const AUTH_BACKOFF_FLOOR: Duration = Duration::from_secs(5 * 60);

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
