//! What the API answers on success: the types `docs/openapi.json` is
//! generated from.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use shared::contact::ContactState;
use shared::customer::CustomerIds;
use shared::record::{ConversationRecord, ErrorRecord, MessageRecord, PricingRecord};

/// `202`: the request was accepted and queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Accepted {
    /// The message id (the request's `id`, or one Chasqui made).
    pub id: String,
    /// `pending`: queued, not yet sent.
    pub status: String,
}

/// One step of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Step {
    /// `scheduled`, `cancelled`, `accepted`, `sent`, `delivered`, `read`,
    /// `played`, `failed` or `suppressed`.
    pub status: String,
    /// When, Unix milliseconds.
    pub at: u64,
}

/// A template send's template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TemplateRef {
    /// The template's name.
    pub name: String,
    /// Its language code (`pt_BR`).
    pub language: String,
}

/// A message and its timeline (`GET /v1/messages/{id}`, and the `200` of
/// a repeated `POST`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MessageView {
    /// The message id.
    pub id: String,
    /// The current status: `pending`, `scheduled`, `cancelled`,
    /// `accepted`, `sent`, `delivered`, `read`, `suppressed` or `failed`
    /// (`docs/data-model.md`).
    pub status: String,
    /// The tenant it belongs to (the key's).
    pub tenant: String,
    /// The business number it is sent from, once the sender took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// The message type (`text`, `template`, ...), once the sender took it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The template of a template send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    /// Meta's id of the message, once Meta accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// Each step with its time, in order.
    pub timeline: Vec<Step>,
    /// Why it was suppressed (`opted_out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_reason: Option<String>,
    /// The failure that ended it: Meta's code, title and details, and
    /// Chasqui's `reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// Every error of Meta's `failed` status.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorRecord>,
    /// Meta's pricing of the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingRecord>,
    /// Meta's conversation of the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRecord>,
    /// The request's `metadata`, as stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// When a scheduled message is to go (its `send_at`), Unix
    /// milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<u64>,
    /// When the message was accepted by Chasqui, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
    /// When its record last changed, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
}

impl MessageView {
    /// The view of a record of `tenant`.
    pub fn of(id: &str, tenant: &str, r: &MessageRecord) -> Self {
        Self {
            id: id.to_owned(),
            status: r.status().as_str().to_owned(),
            tenant: tenant.to_owned(),
            phone_number_id: r.phone_number_id.clone(),
            kind: r.kind.clone(),
            template: match (&r.template_name, &r.template_language) {
                (Some(name), Some(language)) => Some(TemplateRef {
                    name: name.clone(),
                    language: language.clone(),
                }),
                _ => None,
            },
            wamid: r.wamid.clone(),
            timeline: r
                .timeline()
                .into_iter()
                .map(|(status, at)| Step {
                    status: status.to_owned(),
                    at,
                })
                .collect(),
            suppressed_reason: r.suppressed_reason.clone(),
            error: r.error.clone(),
            errors: r.errors.clone(),
            pricing: r.pricing.clone(),
            conversation: r.conversation.clone(),
            metadata: r.metadata.clone(),
            send_at: r.send_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A customer's state for one business number (`GET /v1/contacts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ContactView {
    /// Every id of the customer found (phone as E.164 digits, BSUID).
    pub customer: CustomerIds,
    /// The business number whose customer this is.
    pub phone_number_id: String,
    /// Whether the decision in force is an opt-out (the sender suppresses
    /// their messages).
    pub opted_out: bool,
    /// Where that decision came from: `keyword`,
    /// `meta_marketing_preference`, `error_131050` or `manual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_source: Option<String>,
    /// When that decision was made, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opt_decided_at: Option<u64>,
    /// When the customer last wrote, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<u64>,
    /// Whether the 24-hour customer service window is open now.
    pub service_window_open: bool,
}

impl ContactView {
    /// The view of a resolved contact at `now_ms`.
    pub fn of(phone_number_id: &str, state: ContactState, now_ms: u64) -> Self {
        Self {
            opt_decided_at: state
                .opt_decision
                .as_deref()
                .and_then(|d| d.split('#').next())
                .and_then(|t| t.parse().ok()),
            service_window_open: state
                .last_inbound_at
                .is_some_and(|at| now_ms.saturating_sub(at) < 24 * 3_600_000),
            customer: state.ids,
            phone_number_id: phone_number_id.to_owned(),
            opted_out: state.opted_out,
            opt_source: state.opt_source,
            last_inbound_at: state.last_inbound_at,
        }
    }
}

/// The outcome of a manual opt-out or opt-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct OptResult {
    /// The customer, as the path named them.
    pub customer: CustomerIds,
    /// The business number.
    pub phone_number_id: String,
    /// `true` after `PUT .../opt-out`, `false` after `DELETE`.
    pub opted_out: bool,
    /// `applied`: now the decision in force; `superseded`: a newer decision
    /// (with a later time) was already in place, nothing changed.
    pub outcome: String,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when a part failed.
    pub status: String,
    /// Each part (`table`, `send_queue`) and `ok` or `unavailable`.
    pub checks: BTreeMap<String, String>,
}

/// The body of `POST /v1/callbacks`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCallback {
    /// Where events are POSTed: an `https` URL on a public address.
    pub url: String,
    /// The event types wanted (`docs/events.md`); absent or empty: every
    /// type.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// A callback endpoint of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CallbackView {
    /// `ep_` and 16 hex digits.
    pub endpoint_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives; empty: every type.
    pub events: Vec<String>,
    /// When it was registered, Unix milliseconds.
    pub created_at: u64,
    /// A disabled endpoint receives nothing.
    pub disabled: bool,
}

impl CallbackView {
    /// The view of an endpoint.
    pub fn of(e: &shared::callbacks::Endpoint) -> Self {
        Self {
            endpoint_id: e.endpoint_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            created_at: e.created_at,
            disabled: e.disabled,
        }
    }
}

/// `201`: the endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RegisteredCallback {
    /// The endpoint.
    pub endpoint: CallbackView,
    /// `whsec_...`: verifies the `webhook-signature` header (Standard
    /// Webhooks, `docs/callbacks.md`). Not shown again.
    pub secret: String,
}

/// `GET /v1/callbacks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CallbackList {
    /// The tenant's endpoints.
    pub endpoints: Vec<CallbackView>,
}
