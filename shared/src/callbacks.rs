//! Signed callbacks (`docs/callbacks.md`): the endpoints a tenant registers,
//! the signature every delivery carries, the SSRF guard every URL passes,
//! and (behind the `aws` feature) the registry and delivery state in the
//! table, the delivery jobs on the callbacks queue and the guarded HTTP
//! client.
//!
//! - **Endpoints** are tenant-scoped items (`docs/data-model.md`): an id, an
//!   `https` URL, the event types wanted (empty: all), when created, whether
//!   disabled, and the version of its signing secret.
//! - **Secrets** are derived, not stored: `HMAC-SHA256(master_key,
//!   "chasqui-callback/v1" ␟ tenant ␟ endpoint id ␟ version)`, the master
//!   key being one stack secret (`CALLBACK_SECRET_ID`). One secret costs
//!   the same for any number of endpoints, is fetched once per cold start
//!   and cached like the others; an endpoint's secret is rotated by bumping
//!   its version, every endpoint's by rotating the master.
//! - **Signatures** follow Standard Webhooks ([`signing`]), so receivers
//!   verify with its libraries in any language.

#[cfg(feature = "aws")]
pub mod deliver;
pub mod signing;
#[cfg(feature = "aws")]
pub mod ssrf;
#[cfg(feature = "aws")]
pub mod store;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::events;

/// The field of the `CALLBACK_SECRET_ID` secret that holds the master key.
pub const MASTER_KEY_FIELD: &str = "master_key";

/// Most endpoints one tenant may register (each event is POSTed to each).
pub const MAX_ENDPOINTS_PER_TENANT: usize = 10;

/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Every event type an endpoint may ask for (`docs/events.md`).
pub const EVENT_TYPES: &[&str] = &[
    events::STATUS_CHANGED,
    events::INBOUND,
    events::MEDIA,
    events::OPTED_OUT,
    events::OPTED_IN,
    events::NUMBER_HEALTH_CHANGED,
    events::ACCOUNT_HEALTH_CHANGED,
    events::TEMPLATE_STATUS_CHANGED,
    events::TEMPLATE_QUALITY_CHANGED,
    events::TEMPLATE_CATEGORY_CHANGED,
];

/// One registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `ep_` and 16 hex digits.
    pub endpoint_id: String,
    /// The tenant whose events it receives, and no other's.
    pub tenant: String,
    /// Where events are POSTed (checked by [`ssrf::Guard::check_url`]).
    pub url: String,
    /// The event types wanted; empty: every type.
    #[serde(default)]
    pub events: Vec<String>,
    /// When it was registered (Unix ms).
    pub created_at: u64,
    /// A disabled endpoint receives nothing (its item is kept).
    #[serde(default)]
    pub disabled: bool,
    /// The version its signing secret is derived with.
    #[serde(default = "first_version")]
    pub secret_version: u32,
}

fn first_version() -> u32 {
    1
}

impl Endpoint {
    /// Whether this endpoint receives events of type `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        !self.disabled && (self.events.is_empty() || self.events.iter().any(|e| e == kind))
    }
}

/// The `kind` message attribute of a delivery job on the callbacks queue
/// (an event published there carries `event_type` instead).
pub const JOB_KIND: &str = "callback_delivery";

/// One endpoint's delivery of one kept event: what the callbacks queue
/// holds after a first try failed, and what a replay queues. Retries are
/// per job, so one endpoint failing never sends again to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// The tenant of the event and the endpoint.
    pub tenant: String,
    /// The kept event (`CBEVT#<event_id>`).
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// When the first try of this delivery (or of this replay) was made
    /// (ms): retries stop `CALLBACK_RETRY_HOURS` after it.
    pub first_attempt_at: u64,
    /// A replay sends even if the event was delivered already.
    #[serde(default)]
    pub replay: bool,
}

/// Queues delivery jobs on the callbacks queue, each made visible after
/// `delay_seconds` (at most 900).
#[cfg(feature = "aws")]
pub async fn enqueue(
    queue: &crate::queue::SqsQueue,
    jobs: &[DeliveryJob],
    delay_seconds: Option<i32>,
) -> Result<(), crate::queue::QueueError> {
    let bodies: Vec<String> = jobs
        .iter()
        .map(|job| serde_json::to_string(job).unwrap_or_default())
        .collect();
    let outgoing: Vec<crate::queue::Outgoing> = jobs
        .iter()
        .zip(&bodies)
        .map(|(job, body)| crate::queue::Outgoing {
            body,
            attributes: vec![
                ("kind", "String", JOB_KIND.to_owned()),
                ("tenant", "String", job.tenant.clone()),
                ("event_id", "String", job.event_id.clone()),
                ("endpoint_id", "String", job.endpoint_id.clone()),
            ],
            delay_seconds,
            ..Default::default()
        })
        .collect();
    queue.send_outgoing(&outgoing).await
}

/// A new endpoint id: `ep_` and 16 random hex digits.
#[cfg(feature = "aws")]
pub fn new_endpoint_id() -> String {
    format!("ep_{:016x}", fastrand::u64(..))
}

/// Checks an endpoint id's shape (ids appear in keys and job bodies).
pub fn check_endpoint_id(value: &str) -> Result<(), &'static str> {
    match value.strip_prefix("ep_") {
        Some(hex) if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err("expected an endpoint id: ep_ and 16 hex digits"),
    }
}

/// Reads a comma-separated list of event types (`--events a,b`); empty:
/// every type. An unknown type is refused, naming it.
pub fn parse_event_types(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for kind in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if !EVENT_TYPES.contains(&kind) {
            return Err(format!(
                "unknown event type {kind:?}; expected some of {}",
                EVENT_TYPES.join(", ")
            ));
        }
        if !out.iter().any(|k| k == kind) {
            out.push(kind.to_owned());
        }
    }
    Ok(out)
}

/// The signing key of an endpoint, derived from the master key: 32 bytes.
pub fn endpoint_key(master: &[u8], tenant: &str, endpoint_id: &str, version: u32) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(master).unwrap_or_else(|_| unreachable!());
    for (i, part) in [
        "chasqui-callback/v1",
        tenant,
        endpoint_id,
        &version.to_string(),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            mac.update(&[0x1f]);
        }
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_differ_by_tenant_endpoint_and_version() {
        let m = b"master";
        let k = endpoint_key(m, "acme", "ep_0123456789abcdef", 1);
        assert_eq!(k, endpoint_key(m, "acme", "ep_0123456789abcdef", 1));
        for other in [
            endpoint_key(m, "acme2", "ep_0123456789abcdef", 1),
            endpoint_key(m, "acme", "ep_0123456789abcdee", 1),
            endpoint_key(m, "acme", "ep_0123456789abcdef", 2),
            endpoint_key(b"master2", "acme", "ep_0123456789abcdef", 1),
            // The separator keeps parts apart.
            endpoint_key(m, "acm", "eep_0123456789abcdef", 1),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn event_types_are_checked_and_wanted() {
        assert_eq!(parse_event_types("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_event_types("message.status_changed, message.inbound,message.inbound").unwrap(),
            ["message.status_changed", "message.inbound"]
        );
        assert!(
            parse_event_types("message.sent")
                .unwrap_err()
                .contains("\"message.sent\"")
        );
        let mut e = Endpoint {
            endpoint_id: "ep_0123456789abcdef".into(),
            tenant: "acme".into(),
            url: "https://example.com/hook".into(),
            events: vec![],
            created_at: 1,
            disabled: false,
            secret_version: 1,
        };
        assert!(e.wants(events::INBOUND));
        e.events = vec![events::STATUS_CHANGED.into()];
        assert!(e.wants(events::STATUS_CHANGED) && !e.wants(events::INBOUND));
        e.disabled = true;
        assert!(!e.wants(events::STATUS_CHANGED));
        assert!(check_endpoint_id("ep_0123456789abcdef").is_ok());
        for bad in [
            "ep_0123",
            "0123456789abcdef",
            "ep_0123456789abcdeg",
            "ep_../x",
        ] {
            assert!(check_endpoint_id(bad).is_err(), "{bad}");
        }
    }
}
