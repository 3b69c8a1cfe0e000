//! The ports the status logic writes through, and what it hands them: ids,
//! never keys. The DynamoDB adapter is in `dynamo` and builds keys with
//! `shared::table`; nothing here knows about the SDK. The opt decision port
//! is `shared::contact`'s, shared with `chasqui contacts`.

use async_trait::async_trait;
use shared::contact::OptStore;
use shared::customer::CustomerIds;
use shared::events::RecipientIds;
use shared::record::{ConversationRecord, ErrorRecord, MessageRecord, PricingRecord};
use shared::store::StoreError;

/// Which message item a status belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageRef {
    /// A message Chasqui sent, by its message id.
    Sent(String),
    /// A message known only by Meta's `wamid` (Chasqui did not send it, or
    /// it was sent without `biz_opaque_callback_data`).
    Foreign(String),
}

/// One status report for one message item.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusWrite {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    pub message: MessageRef,
    /// Chasqui's message id, for an item the status creates.
    pub message_id: Option<String>,
    /// The timestamp attributes this report fills, earliest time winning:
    /// one per known status, `played_at` and `read_at` for `played`, none
    /// for a status Chasqui does not know.
    pub slots: Vec<&'static str>,
    /// Meta's timestamp of the report, Unix milliseconds.
    pub at: u64,
    /// `<status>@<at>` for a status value Chasqui does not know.
    pub other_status: Option<String>,
    pub wamid: Option<String>,
    pub recipient: Option<String>,
    /// BSUID, parent BSUID, group fields and username, each kept as first
    /// reported.
    pub recipient_ids: RecipientIds,
    pub phone_number_id: Option<String>,
    pub conversation: Option<ConversationRecord>,
    pub pricing: Option<PricingRecord>,
    /// All of Meta's `errors[]` (a `failed` report).
    pub errors: Vec<ErrorRecord>,
    /// TTL (Unix seconds) for an item known only by `wamid`.
    pub expires_at: Option<u64>,
    pub now: u64,
}

/// One inbound message for the contact's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboundWrite {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    pub phone_number_id: String,
    /// The customer id whose partition keeps the history: the BSUID when
    /// known, else the phone.
    pub customer_id: String,
    /// The message's id in its sort key: the `wamid`, else a digest of its
    /// content.
    pub inbound_id: String,
    pub ids: CustomerIds,
    pub username: Option<String>,
    /// Absent when Meta sent none (the sort key then holds a digest).
    pub wamid: Option<String>,
    pub kind: String,
    pub text: Option<String>,
    pub profile_name: Option<String>,
    /// Meta's message object, as JSON text.
    pub message: String,
    /// Meta's timestamp, Unix milliseconds.
    pub at: u64,
    /// When the webhook reached Chasqui, Unix milliseconds.
    pub webhook_received_at: u64,
    pub expires_at: u64,
    /// The message's file, pending download (`docs/media.md`).
    pub media: Option<shared::media::MediaInfo>,
}

/// The contact's 24-hour window after an inbound message, on the item of
/// the customer's primary id (`customer_id`). With both ids known it also
/// links that item to the phone (`wa_id` on a BSUID item).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactTouch {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    pub phone_number_id: String,
    /// The customer's primary id: the BSUID when known, else the phone.
    pub customer_id: String,
    pub ids: CustomerIds,
    pub profile_name: Option<String>,
    pub username: Option<String>,
    /// The customer's parent BSUID (linked business portfolios), when Meta
    /// sent one.
    pub parent_user_id: Option<String>,
    pub at: u64,
    pub wamid: String,
    pub now: u64,
}

/// One side of the link between a customer's items: `attribute`
/// (`user_id` on a phone item, `wa_id` on a BSUID item, `replaced_by` /
/// `previous_user_id` across a BSUID change) set to `value` on the item of
/// `customer_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactLink {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    pub phone_number_id: String,
    /// The id the item is keyed by.
    pub customer_id: String,
    pub attribute: &'static str,
    pub value: String,
    /// Meta's time of the webhook that showed the link, ms.
    pub at: u64,
    /// A phone ↔ BSUID link can change (a new number, a new BSUID): only a
    /// newer webhook (`linked_at`) overwrites it. A BSUID change names one
    /// pair for good, so it is written whatever the order (`false`).
    pub ordered: bool,
    pub now: u64,
}

/// A webhook part that is kept as received: another `field`, change-level
/// errors, a raw body, or an item that could not be attributed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookRecord {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    /// `field`, `errors`, `raw`, `status`, `inbound`, `preference`.
    pub kind: &'static str,
    /// Hex digest of what the record holds: a replay writes the same key.
    pub digest: String,
    pub field: Option<String>,
    pub entry_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub reason: Option<String>,
    /// JSON text (or the raw body).
    pub body: String,
    pub received_at: u64,
    pub expires_at: u64,
}

/// One account or number update for its health item (`health`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthWrite {
    /// The tenant whose item it is (`shared::tenant`).
    pub tenant: String,
    pub waba_id: String,
    /// The business number's display number; none for the account's item.
    pub number: Option<String>,
    /// The time attribute of this kind of update: each kind is ordered on
    /// its own.
    pub slot: &'static str,
    /// Meta's time of the update, Unix milliseconds.
    pub at: u64,
    /// The attributes this kind of update owns; `None` removes one (the
    /// update replaces the kind's state).
    pub values: Vec<(&'static str, Option<String>)>,
    pub now: u64,
}

/// What became of a health update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthOutcome {
    /// Written (or written again by a replay); the update's attributes as
    /// they were before, where they were set.
    Applied {
        previous: std::collections::BTreeMap<String, String>,
    },
    /// A newer update of the same kind is in place; nothing changed.
    Superseded,
}

/// One stored piece of an oversized queue body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FragmentWrite {
    pub group: String,
    pub index: u32,
    pub count: u32,
    pub data: String,
    pub received_at: u64,
    pub expires_at: u64,
}

/// Port: the message items.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// The id of the message Chasqui sent whose `wamid` this is, if its item
    /// has it yet (an eventually consistent index).
    async fn find_by_wamid(&self, tenant: &str, wamid: &str) -> Result<Option<String>, StoreError>;

    /// Applies one report in one write, without reading first, and returns
    /// the item as it was before (absent if it did not exist).
    async fn apply_status(&self, write: &StatusWrite) -> Result<Option<MessageRecord>, StoreError>;

    /// Lowers a timestamp attribute to `at` if it holds a later time: a
    /// report that arrives after a later one of the same slot.
    async fn lower_slot(
        &self,
        tenant: &str,
        message: &MessageRef,
        slot: &'static str,
        at: u64,
    ) -> Result<(), StoreError>;
}

/// Port: contacts and their inbound history, and their opt decisions
/// ([`OptStore::decide_opt`]).
#[async_trait]
pub trait ContactStore: OptStore {
    /// Stores an inbound message once; `false` when it was already there.
    async fn put_inbound(&self, inbound: &InboundWrite) -> Result<bool, StoreError>;

    /// Moves `last_inbound_at` forward; `false` when a newer message (or
    /// this one) already had.
    async fn touch(&self, touch: &ContactTouch) -> Result<bool, StoreError>;

    /// Writes one side of a link; `false` when a newer link was there.
    async fn link(&self, link: &ContactLink) -> Result<bool, StoreError>;
}

/// Port: the account and business number health items.
#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Applies an update unless a newer one of its kind is in place; a
    /// replay (the same time) writes the same values again.
    async fn update_health(&self, write: &HealthWrite) -> Result<HealthOutcome, StoreError>;
}

/// Port: what is kept as received, and fragments waiting for their group.
#[async_trait]
pub trait WebhookLog: Send + Sync {
    /// Writes a record once; `false` when it was already there.
    async fn record(&self, record: &WebhookRecord) -> Result<bool, StoreError>;

    async fn put_fragment(&self, fragment: &FragmentWrite) -> Result<(), StoreError>;

    /// Every stored fragment of a group, as `(index, data)`.
    async fn fragments(&self, group: &str) -> Result<Vec<(u32, String)>, StoreError>;
}
