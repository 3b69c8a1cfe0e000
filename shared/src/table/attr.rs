//! Every item's attribute names (`docs/data-model.md`), one module per item.
//! Every writer and reader names attributes through these, so a typo cannot
//! split one attribute into two. The key attributes (`pk`, `sk`), the TTL
//! (`expires_at`) and the index key (`wamid`) are the table's own, in
//! [`crate::table`].

/// The message item (`MSG#<message_id>` or `WAMID#<wamid>`), written by the
/// sender and the status function.
pub mod message {
    /// S: Chasqui's message id (the send request's `id`, else its SQS message
    /// id), echoed by Meta as `biz_opaque_callback_data`.
    pub const MESSAGE_ID: &str = "message_id";
    /// The tenant the message belongs to (`shared::tenant`).
    pub const TENANT: &str = "tenant";
    /// S: the business phone number id the message was sent from.
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// S: the recipient's phone (E.164 digits): the request's `to`, or Meta's
    /// `recipient_id` when Meta shares the phone.
    pub const RECIPIENT: &str = "recipient";
    /// The recipient's BSUID: the send request's `recipient`, or Meta's
    /// `recipient_user_id`.
    pub const RECIPIENT_USER_ID: &str = "recipient_user_id";
    /// S: Meta's `recipient_parent_user_id` from a status, the recipient's
    /// parent BSUID (linked portfolios).
    pub const RECIPIENT_PARENT_USER_ID: &str = "recipient_parent_user_id";
    /// `individual` or `group`.
    pub const RECIPIENT_TYPE: &str = "recipient_type";
    /// S: Meta's `recipient_participant_id` on a group message's status.
    pub const RECIPIENT_PARTICIPANT_ID: &str = "recipient_participant_id";
    /// S: the recipient's username, from the status change's `contacts`.
    pub const USERNAME: &str = "username";
    /// S: the message type the request sent (`text`, `template`, `image`, ...).
    pub const TYPE: &str = "type";
    /// S: the template's name, on template sends.
    pub const TEMPLATE_NAME: &str = "template_name";
    /// S: the template's language code (`pt_BR`), on template sends.
    pub const TEMPLATE_LANGUAGE: &str = "template_language";
    /// M: the send request's opaque `metadata`, stored as given.
    pub const METADATA: &str = "metadata";
    /// S: SHA-256 of the normalised send request; the same id with another body
    /// is refused.
    pub const REQUEST_HASH: &str = "request_hash";
    /// S: the sender's lock state: `in_progress`, `done` or `dead_lettered`;
    /// absent after a retryable failure released the lock.
    pub const SEND_STATE: &str = "send_state";
    /// N: when an `in_progress` lock may be taken over by another attempt (ms).
    pub const LOCK_EXPIRES_AT: &str = "lock_expires_at";
    /// N: how many Cloud API calls were made for this message.
    pub const ATTEMPTS: &str = "attempts";
    /// Meta's id: the key of the table's `by_wamid` index.
    pub const WAMID: &str = crate::table::WAMID;
    /// N: when Meta accepted the send call (ms).
    pub const ACCEPTED_AT: &str = "accepted_at";
    /// N: the earliest time Meta reported `sent` (ms, from Meta's timestamp).
    pub const SENT_AT: &str = "sent_at";
    /// N: the earliest time Meta reported `delivered` (ms, from Meta's
    /// timestamp).
    pub const DELIVERED_AT: &str = "delivered_at";
    /// N: the earliest time Meta reported `read` (or `played`) (ms, from Meta's
    /// timestamp).
    pub const READ_AT: &str = "read_at";
    /// Voice messages: when it was first played. A `played` status also
    /// writes `read_at` (playing implies reading).
    pub const PLAYED_AT: &str = "played_at";
    /// N: when the message failed for good: a permanent send failure or a
    /// `failed` status (ms).
    pub const FAILED_AT: &str = "failed_at";
    /// N: when the sender skipped the message because the contact opted out; no
    /// call was made (ms).
    pub const SUPPRESSED_AT: &str = "suppressed_at";
    /// S: why the sender suppressed it (`opted_out`).
    pub const SUPPRESSED_REASON: &str = "suppressed_reason";
    /// N: when the sender put the message on schedule, a future `send_at`
    /// (ms).
    pub const SCHEDULED_AT: &str = "scheduled_at";
    /// N: when a scheduled message is to go, its `send_at` (ms).
    pub const SEND_AT: &str = "send_at";
    /// S: the send request as received, kept on a scheduled message so its
    /// fire can send it; removed when the sender claims it.
    pub const REQUEST: &str = "request";
    /// N: when the message was cancelled before it went (ms); the sender's
    /// claim refuses a cancelled message.
    pub const CANCELLED_AT: &str = "cancelled_at";
    /// M: the failure that ended the message (`code`, `title`, `message`,
    /// `details`, `class`, `source`, `reason`; the sender adds [`error`]'s).
    pub const ERROR: &str = "error";
    /// L of M: every entry of Meta's `errors[]` on a `failed` status.
    pub const ERRORS: &str = "errors";
    /// M, the shape of `error`: the latest retryable failure the sender met.
    pub const LAST_ERROR: &str = "last_error";
    /// S: Meta's conversation id, from the first status that carried one.
    pub const CONVERSATION_ID: &str = "conversation_id";
    /// N: when Meta's conversation expires (ms; Meta sends it on `sent` only).
    pub const CONVERSATION_EXPIRES_AT: &str = "conversation_expires_at";
    /// S: the conversation's origin type (`utility`, `marketing`, ...), Meta's
    /// `conversation.origin.type`.
    pub const CONVERSATION_ORIGIN: &str = "conversation_origin";
    /// BOOL: Meta's `pricing.billable`.
    pub const PRICING_BILLABLE: &str = "pricing_billable";
    /// S: Meta's `pricing.pricing_model` (`PMP`, ...).
    pub const PRICING_MODEL: &str = "pricing_model";
    /// S: Meta's `pricing.category` (`utility`, `marketing`, ...).
    pub const PRICING_CATEGORY: &str = "pricing_category";
    /// S: Meta's `pricing.type`.
    pub const PRICING_TYPE: &str = "pricing_type";
    /// SS: status values Meta sent that Chasqui does not know, as
    /// `<status>@<timestamp_ms>`.
    pub const OTHER_STATUSES: &str = "other_statuses";
    /// N: when the item was first written (ms).
    pub const CREATED_AT: &str = "created_at";
    /// N: when the item was last written (ms).
    pub const UPDATED_AT: &str = "updated_at";
    /// TTL, Unix seconds.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;

    /// What the sender adds to the `error` and `last_error` maps beyond
    /// [`crate::record::ErrorRecord`]'s fields.
    pub mod error {
        /// When it was recorded (ms).
        pub const AT: &str = "at";
        /// S: Meta's `fbtrace_id` of the failed call, for Meta's support.
        pub const FBTRACE_ID: &str = "fbtrace_id";
        /// N: the HTTP status of the failed Cloud API call.
        pub const HTTP_STATUS: &str = "http_status";
    }
}

/// The contact item (`CONTACT#<phone_number_id>#<wa_id or user_id>`,
/// `sk = CONTACT`), written by the status function and `chasqui contacts`.
pub mod contact {
    /// The tenant whose customer it is (`shared::tenant`).
    pub const TENANT: &str = "tenant";
    /// S: the business phone number id whose customer this is (the key's
    /// scope).
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// The phone; on a BSUID item, the link to the phone item.
    pub const WA_ID: &str = "wa_id";
    /// The BSUID; on a phone item, the link to the BSUID item.
    pub const USER_ID: &str = "user_id";
    /// S: the customer's parent BSUID (Meta's `parent_user_id`, linked
    /// business portfolios), written with the window by a newer inbound
    /// message that names one.
    pub const PARENT_USER_ID: &str = "parent_user_id";
    /// S: the customer's WhatsApp username (Meta's `profile.username`), when
    /// they have one.
    pub const USERNAME: &str = "username";
    /// When the `user_id` / `wa_id` link was last written (ms): an older
    /// webhook never overwrites a newer link.
    pub const LINKED_AT: &str = "linked_at";
    /// On an old BSUID item: the BSUID that replaced it.
    pub const REPLACED_BY: &str = "replaced_by";
    /// On a new BSUID item: the BSUID it replaced.
    pub const PREVIOUS_USER_ID: &str = "previous_user_id";
    /// S: the customer's profile name from their latest inbound message.
    pub const PROFILE_NAME: &str = "profile_name";
    /// N: Meta's time of the customer's latest inbound message (ms): opens the
    /// 24-hour service window; only moves forward.
    pub const LAST_INBOUND_AT: &str = "last_inbound_at";
    /// S: the `wamid` of that latest inbound message.
    pub const LAST_INBOUND_WAMID: &str = "last_inbound_wamid";
    /// BOOL: whether the decision in force on this item is an opt-out.
    pub const OPTED_OUT: &str = "opted_out";
    /// N: the time of the opt-out signal (ms).
    pub const OPTED_OUT_AT: &str = "opted_out_at";
    /// N: the time of the opt-in signal (ms).
    pub const OPTED_IN_AT: &str = "opted_in_at";
    /// S: where the decision came from: `keyword`, `meta_marketing_preference`,
    /// `error_131050` or `manual`.
    pub const OPT_SOURCE: &str = "opt_source";
    /// S: the `wamid` of the message that carried the opt signal; absent when
    /// none did.
    pub const OPT_MESSAGE_ID: &str = "opt_message_id";
    /// `<time, 13 digits>#<signal id>` of the decision in force.
    pub const OPT_DECISION: &str = "opt_decision";
    /// N: when the item was last written (ms).
    pub const UPDATED_AT: &str = "updated_at";
}

/// An HTTP API key (`APIKEY`, `sk = <key id>`), written by `chasqui keys`
/// (`shared::keys::ApiKey` names its fields the same).
pub mod api_key {
    /// S: the key id (also the sort key).
    pub const KEY_ID: &str = "key_id";
    /// S: the tenant the key acts for.
    pub const TENANT: &str = "tenant";
    /// S: the name its creator gave it.
    pub const NAME: &str = "name";
    /// S: SHA-256 (hex) of the key's secret; the secret is stored nowhere.
    pub const SECRET_HASH: &str = "secret_hash";
    /// N: when it was created (ms).
    pub const CREATED_AT: &str = "created_at";
    /// N: from when it is refused (ms).
    pub const REVOKED_AT: &str = "revoked_at";
    /// N: when the API last loaded it for a call (ms).
    pub const LAST_USED_AT: &str = "last_used_at";
}

/// One API key's request counter in one rate window (`RATE#<key id>#<window>`,
/// `sk = RATE`), written by the API function.
pub mod rate {
    /// N: requests counted in the window.
    pub const COUNT: &str = "count";
    /// N: TTL, Unix seconds: a while after the window ends.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// One inbound message in a contact's partition (`sk = IN#...`).
pub mod inbound {
    /// S: the business phone number id the message was sent to.
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// S: the sender's phone (Meta's `from`), when Meta gave it.
    pub const WA_ID: &str = "wa_id";
    /// S: the sender's BSUID (Meta's `from_user_id`), when Meta gave it.
    pub const USER_ID: &str = "user_id";
    /// S: the sender's username, when Meta gave it.
    pub const USERNAME: &str = "username";
    /// Meta's id of the message; absent when Meta sent none. Not named
    /// `wamid`, so inbound items stay out of the `wamid` index (which only
    /// correlates statuses with sent messages). Items written before
    /// carry it as [`LEGACY_WAMID`].
    pub const WAMID: &str = "inbound_wamid";
    /// What [`WAMID`] was called before (`wamid`, indexed).
    pub const LEGACY_WAMID: &str = crate::table::WAMID;
    /// S: Meta's message type (`text`, `button`, `interactive`, ...).
    pub const TYPE: &str = "type";
    /// What the person typed or tapped, when there is one.
    pub const TEXT: &str = "text";
    /// S: the sender's profile name, when Meta gave it.
    pub const PROFILE_NAME: &str = "profile_name";
    /// Meta's whole message object, as JSON text.
    pub const MESSAGE: &str = "message";
    /// Meta's timestamp of the message (ms).
    pub const RECEIVED_AT: &str = "received_at";
    /// N: when the webhook carrying the message reached Chasqui (ms).
    pub const WEBHOOK_RECEIVED_AT: &str = "webhook_received_at";
    /// N: TTL (Unix seconds): `INBOUND_TTL_DAYS` after the message's time.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
    /// M: the message's file (`shared::media::MediaInfo`): `state`
    /// (`pending`, `stored`, `failed`), `media_id`, `bucket`, `key`, and
    /// once stored `size`, `content_type`, `sha256`; `reason` and
    /// `detail` when it failed (`docs/media.md`).
    pub const MEDIA: &str = "media";
}

/// A file uploaded to Meta from S3 (`MEDIAUP#<number>#<object>`), so one
/// object version is uploaded once per business number (`docs/media.md`).
pub mod media_upload {
    /// S: Meta's media id of the upload.
    pub const MEDIA_ID: &str = "media_id";
    /// S: the object, `s3://<bucket>/<key>`.
    pub const OBJECT: &str = "object";
    /// S: the object's version id or ETag uploaded.
    pub const VERSION: &str = "version";
    /// N: when it was uploaded (ms).
    pub const UPLOADED_AT: &str = "uploaded_at";
    /// N: until when the id is used (ms): a day before Meta's 30 days end.
    pub const REUSE_UNTIL: &str = "reuse_until";
    /// N: TTL (Unix seconds): Meta's 30 days.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// A webhook part kept as received (`HOOK#<digest>`).
pub mod hook {
    /// S: what was kept and why (`field`, `errors`, `raw`, `status`, `inbound`,
    /// `preference`, ...).
    pub const KIND: &str = "kind";
    /// S: Meta's change `field` the part came from, when it had one.
    pub const FIELD: &str = "field";
    /// S: the webhook entry's `id` (the WABA id), when it had one.
    pub const ENTRY_ID: &str = "entry_id";
    /// S: the business phone number id of the change, when known.
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// S: why the part was kept rather than applied (and any cut of `body`).
    pub const REASON: &str = "reason";
    /// JSON text (or the raw body).
    pub const BODY: &str = "body";
    /// N: when the webhook reached Chasqui (ms).
    pub const RECEIVED_AT: &str = "received_at";
    /// N: TTL (Unix seconds), from `WEBHOOK_RECORD_TTL_DAYS`.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// One fragment of an oversized queue body (`FRAG#<group>`).
pub mod fragment {
    /// N: the fragment's position in its group, from 0.
    pub const INDEX: &str = "index";
    /// N: how many fragments the group has.
    pub const COUNT: &str = "count";
    /// S: the fragment's bytes of the queue body, base64.
    pub const DATA: &str = "data";
    /// N: when the webhook the body came from reached Chasqui (ms).
    pub const RECEIVED_AT: &str = "received_at";
    /// N: TTL (Unix seconds) of a fragment waiting for the rest of its group.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// An account's or business number's health item (`pk = HEALTH`).
pub mod health {
    /// S: the WhatsApp Business Account id the item belongs to.
    pub const WABA_ID: &str = "waba_id";
    /// S: the business number's display number (number items only; Meta's
    /// number updates name it so).
    pub const DISPLAY_PHONE_NUMBER: &str = "display_phone_number";
    /// N: the time of the latest applied `phone_number_quality_update` (ms).
    pub const QUALITY_AT: &str = "quality_at";
    /// S: Meta's quality `event` (`FLAGGED`, `UNFLAGGED`, `DOWNGRADE`,
    /// `UPGRADE`, ...).
    pub const QUALITY_EVENT: &str = "quality_event";
    /// S: Meta's `current_limit`, the number's messaging limit tier.
    pub const MESSAGING_LIMIT: &str = "messaging_limit";
    /// S: Meta's `old_limit`, the tier before this update.
    pub const PREVIOUS_LIMIT: &str = "previous_limit";
    /// S: Meta's `max_daily_conversations_per_business` (from quality or
    /// capability updates).
    pub const MAX_DAILY_CONVERSATIONS: &str = "max_daily_conversations";
    /// N: the time of the latest applied `phone_number_name_update` (ms).
    pub const NAME_AT: &str = "name_at";
    /// S: Meta's display-name `decision`.
    pub const NAME_DECISION: &str = "name_decision";
    /// S: Meta's `requested_verified_name`, the display name asked for.
    pub const REQUESTED_NAME: &str = "requested_name";
    /// S: Meta's `rejection_reason` for a display name.
    pub const NAME_REJECTION_REASON: &str = "name_rejection_reason";
    /// N: the time of the latest applied `account_update` (ms).
    pub const ACCOUNT_AT: &str = "account_at";
    /// S: Meta's account `event` (restriction, violation, limit or tier
    /// change).
    pub const ACCOUNT_EVENT: &str = "account_event";
    /// Meta's whole `account_update` value but `event` (restriction, ban and
    /// violation details), as JSON text.
    pub const ACCOUNT_DETAILS: &str = "account_details";
    /// N: the time of the latest applied `business_capability_update` (ms).
    pub const CAPABILITY_AT: &str = "capability_at";
    /// S: Meta's `max_phone_numbers_per_business` (or `_per_waba`).
    pub const MAX_PHONE_NUMBERS: &str = "max_phone_numbers";
    /// N: when the item was last written (ms).
    pub const UPDATED_AT: &str = "updated_at";
}

/// A template catalogue entry (`pk = TEMPLATE`, `sk = <name>#<language>`;
/// `shared::templates`). Each of status, quality and category carries the
/// time of the state it holds; a write lands only over an older one.
pub mod template {
    /// S: the template's name.
    pub const NAME: &str = "name";
    /// S: its language code.
    pub const LANGUAGE: &str = "language";
    /// S: the WhatsApp Business Account it belongs to.
    pub const WABA_ID: &str = "waba_id";
    /// S: Meta's template id.
    pub const ID: &str = "id";
    /// S: `APPROVED`, `PAUSED`, `DISABLED`, `PENDING`, `REJECTED`, ...
    pub const STATUS: &str = "status";
    /// N: the time of the status held (Meta's, or a sync's fetch time), ms.
    pub const STATUS_AT: &str = "status_at";
    /// S: Meta's reason for the status, when a webhook gave one.
    pub const STATUS_REASON: &str = "status_reason";
    /// S: `UTILITY`, `MARKETING`, `AUTHENTICATION`.
    pub const CATEGORY: &str = "category";
    /// N: the time of the category held, ms.
    pub const CATEGORY_AT: &str = "category_at";
    /// S: Meta's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub const QUALITY: &str = "quality";
    /// N: the time of the quality held, ms.
    pub const QUALITY_AT: &str = "quality_at";
    /// M: what the template takes (`shared::templates::Shape`).
    pub const SHAPE: &str = "shape";
    /// N: when a sync last fetched the shape, ms.
    pub const SYNCED_AT: &str = "synced_at";
    /// N: when the item was last written (ms).
    pub const UPDATED_AT: &str = "updated_at";
}

/// A callback endpoint (`CALLBACK`, sort key the endpoint id;
/// `shared::callbacks::Endpoint`).
pub mod callback {
    /// S: `ep_` and 16 hex digits (also the sort key).
    pub const ENDPOINT_ID: &str = "endpoint_id";
    /// S: the tenant.
    pub const TENANT: &str = "tenant";
    /// S: the URL events are POSTed to.
    pub const URL: &str = "url";
    /// L of S: the event types wanted; absent or empty: all.
    pub const EVENTS: &str = "events";
    /// N: when registered (ms).
    pub const CREATED_AT: &str = "created_at";
    /// BOOL: receives nothing while true.
    pub const DISABLED: &str = "disabled";
    /// N: the version its signing secret is derived with.
    pub const SECRET_VERSION: &str = "secret_version";
}

/// An event kept for callbacks (`CBEVT#<event_id>` / `EVENT`) and its
/// entry in its day (`CBDAY#<day>` / `<kept_at>#<event_id>`, which holds
/// only the id and the TTL).
pub mod callback_event {
    /// S: the event's id.
    pub const EVENT_ID: &str = "event_id";
    /// S: the tenant.
    pub const TENANT: &str = "tenant";
    /// S: the event's type.
    pub const TYPE: &str = "type";
    /// S: the event's exact JSON, as published and signed.
    pub const BODY: &str = "body";
    /// N: when it was first kept (ms).
    pub const KEPT_AT: &str = "kept_at";
    /// M: endpoint id to its delivery state (`state`, `attempts`,
    /// `updated_at`, `status`, `error`).
    pub const DELIVERIES: &str = "deliveries";
}
