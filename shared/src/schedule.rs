//! Scheduled sends (`docs/scheduled-sends.md`): the fire a schedule puts on
//! the send queue, the one-time schedule's name and time, the port that sets
//! a fire ([`Timer`]) and its adapter over EventBridge Scheduler and SQS
//! ([`EventBridgeTimer`]), and cancelling a message before it goes
//! ([`cancel`]).
//!
//! The request itself stays on the message item (`request`); a fire
//! carries only the tenant and the id, so it is small (a schedule's target
//! input is limited) and names nothing personal.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `chasqui` value of a fire's body.
pub const FIRE: &str = "scheduled.fire";

/// The longest `DelaySeconds` SQS takes: a `send_at` this close is put on
/// the queue with a delay instead of a schedule.
pub const MAX_QUEUE_DELAY_SECONDS: u64 = 900;

/// How much earlier than `send_at` a schedule fires at the latest:
/// Scheduler invokes a one-time schedule within the 60 seconds after its
/// minute, so a schedule set on the minute before `send_at`'s minute always
/// fires before `send_at` (by at most two minutes), never after; the sender
/// holds an early fire back for the seconds left.
pub const SCHEDULE_LEAD_MS: u64 = 60_000;

/// What a schedule (or a delayed message) puts on the send queue when a
/// scheduled message is due: `{"chasqui": "scheduled.fire", "tenant", "id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fire {
    /// Always [`FIRE`].
    pub chasqui: String,
    /// The message's tenant.
    pub tenant: String,
    /// The message's id.
    pub id: String,
}

impl Fire {
    /// The fire of `tenant`'s message `id`.
    pub fn new(tenant: &str, id: &str) -> Self {
        Self {
            chasqui: FIRE.to_owned(),
            tenant: tenant.to_owned(),
            id: id.to_owned(),
        }
    }

    /// The queue message body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A queue message body that is a fire; `None` for anything else (a
    /// send request).
    pub fn read(body: &str) -> Option<Self> {
        // Cheap test first: send requests are the common case.
        if !body.contains(FIRE) {
            return None;
        }
        let fire: Fire = serde_json::from_str(body).ok()?;
        (fire.chasqui == FIRE
            && crate::tenant::check_name(&fire.tenant).is_ok()
            && !fire.id.is_empty())
        .then_some(fire)
    }
}

/// The one-time schedule's name: the same for the same tenant and id, so a
/// retried create finds the first (`ConflictException`) and a cancel finds
/// it. A digest, since ids may be any text up to 512 characters and a name
/// is at most 64 of `[0-9a-zA-Z-_.]`.
pub fn schedule_name(tenant: &str, id: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{tenant}\n{id}").as_bytes()));
    format!("msg-{}", &digest[..56])
}

/// The `at(...)` expression (UTC) of the schedule for `send_at_ms`: the
/// minute before `send_at`'s, so the fire arrives before `send_at` and the
/// sender holds it back for the seconds left ([`SCHEDULE_LEAD_MS`]).
pub fn at_expression(send_at_ms: u64) -> String {
    let minute = send_at_ms.saturating_sub(SCHEDULE_LEAD_MS) / 60_000 * 60_000;
    let (y, mo, d, h, mi, _, _) = crate::time::civil(minute);
    format!("at({y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00)")
}

#[cfg(feature = "schedule")]
mod aws;
#[cfg(feature = "schedule")]
pub use aws::{Cancel, CancelError, EventBridgeTimer, ScheduleError, Timer, cancel};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fire_round_trips_and_nothing_else_is_one() {
        let fire = Fire::new("acme", "order-1");
        assert_eq!(
            fire.body(),
            r#"{"chasqui":"scheduled.fire","tenant":"acme","id":"order-1"}"#
        );
        assert_eq!(Fire::read(&fire.body()), Some(fire));
        for other in [
            r#"{"id":"scheduled.fire","to":"+5511988887777","message":{}}"#,
            r#"{"chasqui":"templates.sync"}"#,
            r#"{"chasqui":"scheduled.fire","tenant":"Acme Inc","id":"x"}"#,
            r#"{"chasqui":"scheduled.fire","tenant":"acme","id":""}"#,
            r#"{"chasqui":"scheduled.fire","tenant":"acme","id":"x","to":"1"}"#,
        ] {
            assert_eq!(Fire::read(other), None, "{other}");
        }
    }

    #[test]
    fn names_are_stable_per_tenant_and_id_and_fit_schedulers_rules() {
        let a = schedule_name("default", "order-1");
        assert_eq!(a, schedule_name("default", "order-1"));
        assert_ne!(a, schedule_name("acme", "order-1"));
        assert_ne!(a, schedule_name("default", "order-2"));
        assert!(a.len() <= 64 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    #[test]
    fn the_schedule_fires_in_the_minute_before_send_at() {
        // 2026-12-01T12:30:40Z: the schedule is at 12:29, so Scheduler's
        // invocation (12:29:00 to 12:29:59) is always before 12:30:40.
        assert_eq!(at_expression(1_796_128_240_000), "at(2026-12-01T12:29:00)");
        // On the minute: still the minute before.
        assert_eq!(at_expression(1_796_128_200_000), "at(2026-12-01T12:29:00)");
    }
}
