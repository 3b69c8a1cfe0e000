//! Every item's attribute names (`docs/data-model.md`), one module per item.
//! Every writer and reader names attributes through these, so a typo cannot
//! split one attribute into two. The key attributes (`pk`, `sk`), the TTL
//! (`expires_at`) and the index key (`wamid`) are the table's own, in
//! [`crate::table`].

/// The message item (`MSG#<message_id>` or `WAMID#<wamid>`), written by the
/// sender and the status function.
pub mod message {
    pub const MESSAGE_ID: &str = "message_id";
    /// The tenant the message belongs to (`shared::tenant`).
    pub const TENANT: &str = "tenant";
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    pub const RECIPIENT: &str = "recipient";
    /// The recipient's BSUID: the send request's `recipient`, or Meta's
    /// `recipient_user_id`.
    pub const RECIPIENT_USER_ID: &str = "recipient_user_id";
    pub const RECIPIENT_PARENT_USER_ID: &str = "recipient_parent_user_id";
    /// `individual` or `group`.
    pub const RECIPIENT_TYPE: &str = "recipient_type";
    pub const RECIPIENT_PARTICIPANT_ID: &str = "recipient_participant_id";
    pub const USERNAME: &str = "username";
    pub const TYPE: &str = "type";
    pub const TEMPLATE_NAME: &str = "template_name";
    pub const TEMPLATE_LANGUAGE: &str = "template_language";
    pub const METADATA: &str = "metadata";
    pub const REQUEST_HASH: &str = "request_hash";
    pub const SEND_STATE: &str = "send_state";
    pub const LOCK_EXPIRES_AT: &str = "lock_expires_at";
    pub const ATTEMPTS: &str = "attempts";
    /// Meta's id: the key of the table's `by_wamid` index.
    pub const WAMID: &str = crate::table::WAMID;
    pub const ACCEPTED_AT: &str = "accepted_at";
    pub const SENT_AT: &str = "sent_at";
    pub const DELIVERED_AT: &str = "delivered_at";
    pub const READ_AT: &str = "read_at";
    /// Voice messages: when it was first played. A `played` status also
    /// writes `read_at` (playing implies reading).
    pub const PLAYED_AT: &str = "played_at";
    pub const FAILED_AT: &str = "failed_at";
    pub const SUPPRESSED_AT: &str = "suppressed_at";
    pub const SUPPRESSED_REASON: &str = "suppressed_reason";
    /// M: the failure that ended the message (`code`, `title`, `message`,
    /// `details`, `class`, `source`, `reason`; the sender adds [`error`]'s).
    pub const ERROR: &str = "error";
    /// L of M: every entry of Meta's `errors[]` on a `failed` status.
    pub const ERRORS: &str = "errors";
    /// M, the shape of `error`: the latest retryable failure the sender met.
    pub const LAST_ERROR: &str = "last_error";
    pub const CONVERSATION_ID: &str = "conversation_id";
    pub const CONVERSATION_EXPIRES_AT: &str = "conversation_expires_at";
    pub const CONVERSATION_ORIGIN: &str = "conversation_origin";
    pub const PRICING_BILLABLE: &str = "pricing_billable";
    pub const PRICING_MODEL: &str = "pricing_model";
    pub const PRICING_CATEGORY: &str = "pricing_category";
    pub const PRICING_TYPE: &str = "pricing_type";
    /// SS: status values Meta sent that Chasqui does not know, as
    /// `<status>@<timestamp_ms>`.
    pub const OTHER_STATUSES: &str = "other_statuses";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    /// TTL, Unix seconds.
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;

    /// What the sender adds to the `error` and `last_error` maps beyond
    /// [`crate::record::ErrorRecord`]'s fields.
    pub mod error {
        /// When it was recorded (ms).
        pub const AT: &str = "at";
        pub const FBTRACE_ID: &str = "fbtrace_id";
        pub const HTTP_STATUS: &str = "http_status";
    }
}

/// The contact item (`CONTACT#<phone_number_id>#<wa_id or user_id>`,
/// `sk = CONTACT`), written by the status function and `chasqui contacts`.
pub mod contact {
    /// The tenant whose customer it is (`shared::tenant`).
    pub const TENANT: &str = "tenant";
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    /// The phone; on a BSUID item, the link to the phone item.
    pub const WA_ID: &str = "wa_id";
    /// The BSUID; on a phone item, the link to the BSUID item.
    pub const USER_ID: &str = "user_id";
    pub const PARENT_USER_ID: &str = "parent_user_id";
    pub const USERNAME: &str = "username";
    /// When the `user_id` / `wa_id` link was last written (ms): an older
    /// webhook never overwrites a newer link.
    pub const LINKED_AT: &str = "linked_at";
    /// On an old BSUID item: the BSUID that replaced it.
    pub const REPLACED_BY: &str = "replaced_by";
    /// On a new BSUID item: the BSUID it replaced.
    pub const PREVIOUS_USER_ID: &str = "previous_user_id";
    pub const PROFILE_NAME: &str = "profile_name";
    pub const LAST_INBOUND_AT: &str = "last_inbound_at";
    pub const LAST_INBOUND_WAMID: &str = "last_inbound_wamid";
    pub const OPTED_OUT: &str = "opted_out";
    pub const OPTED_OUT_AT: &str = "opted_out_at";
    pub const OPTED_IN_AT: &str = "opted_in_at";
    pub const OPT_SOURCE: &str = "opt_source";
    pub const OPT_MESSAGE_ID: &str = "opt_message_id";
    /// `<time, 13 digits>#<signal id>` of the decision in force.
    pub const OPT_DECISION: &str = "opt_decision";
    pub const UPDATED_AT: &str = "updated_at";
}

/// One inbound message in a contact's partition (`sk = IN#...`).
pub mod inbound {
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    pub const WA_ID: &str = "wa_id";
    pub const USER_ID: &str = "user_id";
    pub const USERNAME: &str = "username";
    /// Meta's id of the message; absent when Meta sent none. Not named
    /// `wamid`, so inbound items stay out of the `wamid` index (which only
    /// correlates statuses with sent messages). Items written before
    /// carry it as [`LEGACY_WAMID`].
    pub const WAMID: &str = "inbound_wamid";
    /// What [`WAMID`] was called before (`wamid`, indexed).
    pub const LEGACY_WAMID: &str = crate::table::WAMID;
    pub const TYPE: &str = "type";
    /// What the person typed or tapped, when there is one.
    pub const TEXT: &str = "text";
    pub const PROFILE_NAME: &str = "profile_name";
    /// Meta's whole message object, as JSON text.
    pub const MESSAGE: &str = "message";
    /// Meta's timestamp of the message (ms).
    pub const RECEIVED_AT: &str = "received_at";
    pub const WEBHOOK_RECEIVED_AT: &str = "webhook_received_at";
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// A webhook part kept as received (`HOOK#<digest>`).
pub mod hook {
    pub const KIND: &str = "kind";
    pub const FIELD: &str = "field";
    pub const ENTRY_ID: &str = "entry_id";
    pub const PHONE_NUMBER_ID: &str = "phone_number_id";
    pub const REASON: &str = "reason";
    /// JSON text (or the raw body).
    pub const BODY: &str = "body";
    pub const RECEIVED_AT: &str = "received_at";
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// One fragment of an oversized queue body (`FRAG#<group>`).
pub mod fragment {
    pub const INDEX: &str = "index";
    pub const COUNT: &str = "count";
    pub const DATA: &str = "data";
    pub const RECEIVED_AT: &str = "received_at";
    pub const EXPIRES_AT: &str = crate::table::EXPIRES_AT;
}

/// An account's or business number's health item (`pk = HEALTH`).
pub mod health {
    pub const WABA_ID: &str = "waba_id";
    pub const DISPLAY_PHONE_NUMBER: &str = "display_phone_number";
    pub const QUALITY_AT: &str = "quality_at";
    pub const QUALITY_EVENT: &str = "quality_event";
    pub const MESSAGING_LIMIT: &str = "messaging_limit";
    pub const PREVIOUS_LIMIT: &str = "previous_limit";
    pub const MAX_DAILY_CONVERSATIONS: &str = "max_daily_conversations";
    pub const NAME_AT: &str = "name_at";
    pub const NAME_DECISION: &str = "name_decision";
    pub const REQUESTED_NAME: &str = "requested_name";
    pub const NAME_REJECTION_REASON: &str = "name_rejection_reason";
    pub const ACCOUNT_AT: &str = "account_at";
    pub const ACCOUNT_EVENT: &str = "account_event";
    /// Meta's whole `account_update` value but `event` (restriction, ban and
    /// violation details), as JSON text.
    pub const ACCOUNT_DETAILS: &str = "account_details";
    pub const CAPABILITY_AT: &str = "capability_at";
    pub const MAX_PHONE_NUMBERS: &str = "max_phone_numbers";
    pub const UPDATED_AT: &str = "updated_at";
}
