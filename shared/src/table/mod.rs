//! The one DynamoDB table, in one place: its key schema, index and item keys
//! (here), every item's attribute names ([`attr`]) and, behind the `aws`
//! feature, the DynamoDB side of it ([`dynamo`]: items as the SDK holds
//! them, reading them into Chasqui's types, the conditional update builder).
//! The sender, the status function and the CLI build keys and name
//! attributes here and nowhere else. `docs/data-model.md` is the prose
//! version of this module.
//!
//! Each key is built by exactly one function, so what a key holds (a
//! tenant, one day) changes in one place.

pub mod attr;
#[cfg(feature = "aws")]
pub mod dynamo;

/// Partition key attribute (S).
pub const PK: &str = "pk";
/// Sort key attribute (S).
pub const SK: &str = "sk";
/// TTL attribute (N, Unix seconds). DynamoDB deletes late: readers check it.
pub const EXPIRES_AT: &str = "expires_at";

/// Whether an item whose [`EXPIRES_AT`] is `expires_at` counts as gone at
/// `now_secs` (both Unix seconds): from its expiry second on. DynamoDB
/// deletes expired items late (and moto never), so every reader asks this,
/// one way.
pub fn has_expired(expires_at: u64, now_secs: u64) -> bool {
    expires_at <= now_secs
}
/// Global secondary index on `wamid` (S), projecting the keys only: the
/// one reader (the status function's correlation of a status without
/// callback data) needs nothing but the item's `pk`, and an index that
/// projects only keys costs a write when an item's `wamid` first appears,
/// not on every status (`docs/benchmarks.md`, "Cost"). Sparse: only message
/// items carry `wamid`. Named apart from the `by_wamid` index it replaced
/// (projection `ALL`), since an index's projection cannot change in place
/// (`docs/data-model.md`, "Upgrading").
pub const WAMID_INDEX: &str = "by_wamid_keys";
/// `WAMID_INDEX`'s projection, as the template and the test tables declare
/// it.
pub const WAMID_INDEX_PROJECTION: &str = "KEYS_ONLY";
/// The attribute `WAMID_INDEX` is keyed on. Only message items have it.
pub const WAMID: &str = "wamid";

/// Sort key of the single item under a message or contact partition.
pub const MESSAGE_SK: &str = "MSG";
/// Sort key of the contact item, the one item of a contact partition that is
/// not an inbound message.
pub const CONTACT_SK: &str = "CONTACT";

/// Every partition key of a tenant's items starts with its
/// [`crate::tenant::key_prefix`]: `T#<tenant>#` for a named tenant, nothing
/// for the default tenant (whose keys are those written before tenants
/// existed). Fragments and bindings belong to no tenant.
fn scoped(tenant: &str, key: std::fmt::Arguments<'_>) -> String {
    format!("{}{key}", crate::tenant::key_prefix(tenant))
}

/// Key of the message item Chasqui sent, by Chasqui's own message id.
pub fn message_pk(tenant: &str, message_id: &str) -> String {
    scoped(tenant, format_args!("MSG#{message_id}"))
}

/// Key of a file uploaded to Meta for a business number (outbound media
/// from S3, `docs/media.md`): `object` names the bucket, key and version.
pub fn media_upload_pk(tenant: &str, phone_number_id: &str, object: &str) -> String {
    scoped(tenant, format_args!("MEDIAUP#{phone_number_id}#{object}"))
}

/// Sort key of the media upload item.
pub const MEDIA_UPLOAD_SK: &str = "MEDIAUP";

/// Key of a message known only by its `wamid` (a status for a message
/// Chasqui did not send, or one sent before `biz_opaque_callback_data`).
pub fn foreign_message_pk(tenant: &str, wamid: &str) -> String {
    scoped(tenant, format_args!("WAMID#{wamid}"))
}

/// Partition of a contact: per business number and WhatsApp user. The
/// contact item (`sk = CONTACT`) and its inbound history share it.
pub fn contact_pk(tenant: &str, phone_number_id: &str, wa_id: &str) -> String {
    scoped(tenant, format_args!("CONTACT#{phone_number_id}#{wa_id}"))
}

/// Sort key of one inbound message in a contact's history, ordered by time.
pub fn inbound_sk(timestamp_ms: u64, wamid: &str) -> String {
    format!("IN#{timestamp_ms:013}#{wamid}")
}

/// Prefix of every inbound sort key, for history queries.
pub const INBOUND_SK_PREFIX: &str = "IN#";

/// Sort key of a webhook part kept as received (its partition is
/// [`hook_pk`]).
pub const HOOK_SK: &str = "HOOK";

/// Partition of a webhook part kept as received, by its digest. Parts of
/// no tenant (kept aside for a number no binding of their app owns) are the
/// deployment's: the default tenant's keys.
pub fn hook_pk(tenant: &str, digest: &str) -> String {
    scoped(tenant, format_args!("HOOK#{digest}"))
}

/// Partition of a tenant's account and number health items: one partition,
/// so one `Query` lists every account and number (they change a few times a
/// month).
pub fn health_pk(tenant: &str) -> String {
    scoped(tenant, format_args!("HEALTH"))
}

/// Sort key of a WhatsApp Business Account's health item, or of one of its
/// business numbers' (by display number: Meta's number updates carry no
/// `phone_number_id`).
pub fn health_sk(waba_id: &str, display_phone_number: Option<&str>) -> String {
    match display_phone_number {
        Some(number) => format!("{waba_id}#NUMBER#{number}"),
        None => format!("{waba_id}#ACCOUNT"),
    }
}

/// Partition of a tenant's template catalogue (`shared::templates`): one
/// partition, so one `Query` lists the catalogue and one `Query` on a sort
/// key prefix reads every language of a name.
pub fn template_pk(tenant: &str) -> String {
    scoped(tenant, format_args!("TEMPLATE"))
}

/// Sort key of a template entry: `<name>#<language>` (names are `a-z0-9_`).
pub fn template_sk(name: &str, language: &str) -> String {
    format!("{name}#{language}")
}

/// Sort key prefix of every language of a template name.
pub fn template_sk_prefix(name: &str) -> String {
    format!("{name}#")
}

/// Partition of a tenant's callback endpoints (`shared::callbacks`): one
/// partition, so one `Query` lists them; the sort key is the endpoint id.
pub fn callback_pk(tenant: &str) -> String {
    scoped(tenant, format_args!("CALLBACK"))
}

/// Partition of an event kept for callbacks (its exact body and each
/// endpoint's delivery state), by event id; sort key [`CALLBACK_EVENT_SK`].
pub fn callback_event_pk(tenant: &str, event_id: &str) -> String {
    scoped(tenant, format_args!("CBEVT#{event_id}"))
}

/// Sort key of the kept event.
pub const CALLBACK_EVENT_SK: &str = "EVENT";

/// Partition of one day's kept events of a tenant (`day`: days since the
/// Unix epoch, UTC), for replays by time range; sort key
/// [`callback_day_sk`].
pub fn callback_day_pk(tenant: &str, day: u64) -> String {
    scoped(tenant, format_args!("CBDAY#{day}"))
}

/// Sort key of an event in its day: when it was kept (ms) and its id, so a
/// range of times is a range of keys.
pub fn callback_day_sk(kept_at_ms: u64, event_id: &str) -> String {
    format!("{kept_at_ms:013}#{event_id}")
}

/// Partition of the business number bindings (`shared::tenant`); the sort
/// key is the phone number id, so a number has at most one binding.
pub const BINDING_PK: &str = "BINDING";

/// Partition of the HTTP API's keys (`shared::keys`); the sort key is the
/// key id, so a call's key is one `GetItem` away. Not tenant-scoped, like
/// the bindings: each item holds its tenant.
pub const API_KEY_PK: &str = "APIKEY";

/// Partition of one API key's request counter for one rate window
/// (`window` is the window's first second, Unix seconds); the key names the
/// window, so a reader never meets an earlier one, and the TTL removes it.
pub fn rate_pk(key_id: &str, window: u64) -> String {
    format!("RATE#{key_id}#{window}")
}

/// Sort key of the rate counter item.
pub const RATE_SK: &str = "RATE";

/// Partition of a fragment group; one item per fragment ([`fragment_sk`]).
pub fn fragment_pk(group: &str) -> String {
    format!("FRAG#{group}")
}

/// Sort key of one fragment, in order.
pub fn fragment_sk(index: u32) -> String {
    format!("FRAG#{index:06}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_keys_sort_by_time() {
        let early = inbound_sk(999_999_999_999, "wamid.Z");
        let late = inbound_sk(1_730_000_000_000, "wamid.A");
        assert!(early < late);
        assert!(late.starts_with(INBOUND_SK_PREFIX));
        assert!(fragment_sk(2) < fragment_sk(10));
        let d = crate::tenant::DEFAULT_TENANT;
        assert_ne!(message_pk(d, "x"), foreign_message_pk(d, "x"));
        assert_ne!(hook_pk(d, "x"), fragment_pk("x"));
    }

    #[test]
    fn the_default_tenant_keeps_the_keys_of_before_and_named_tenants_are_apart() {
        let d = crate::tenant::DEFAULT_TENANT;
        // Exactly as written before tenants existed.
        assert_eq!(message_pk(d, "order-1"), "MSG#order-1");
        assert_eq!(foreign_message_pk(d, "wamid.X"), "WAMID#wamid.X");
        assert_eq!(contact_pk(d, "11", "5511"), "CONTACT#11#5511");
        assert_eq!(hook_pk(d, "ab"), "HOOK#ab");
        assert_eq!(health_pk(d), "HEALTH");
        // A named tenant's keys, and never another's.
        assert_eq!(message_pk("acme", "order-1"), "T#acme#MSG#order-1");
        assert_eq!(contact_pk("acme", "11", "5511"), "T#acme#CONTACT#11#5511");
        assert_eq!(health_pk("acme"), "T#acme#HEALTH");
        assert_eq!(template_pk(d), "TEMPLATE");
        assert_eq!(template_pk("acme"), "T#acme#TEMPLATE");
        assert_eq!(callback_pk(d), "CALLBACK");
        assert_eq!(callback_pk("acme"), "T#acme#CALLBACK");
        assert_eq!(callback_event_pk("acme", "evt_1"), "T#acme#CBEVT#evt_1");
        assert_eq!(callback_day_pk("acme", 20_000), "T#acme#CBDAY#20000");
        assert!(callback_day_sk(999, "evt_b") < callback_day_sk(1000, "evt_a"));
        assert!(template_sk("promo", "en_US").starts_with(&template_sk_prefix("promo")));
        assert!(!template_sk("promo_2", "en").starts_with(&template_sk_prefix("promo")));
        for (a, b) in [("acme", d), ("acme", "acme2"), (d, "acme")] {
            assert_ne!(message_pk(a, "order-1"), message_pk(b, "order-1"));
            assert_ne!(contact_pk(a, "11", "5511"), contact_pk(b, "11", "5511"));
        }
        // A default-tenant id cannot forge a named tenant's key.
        assert_ne!(message_pk(d, "T#acme#MSG#x"), message_pk("acme", "x"));
    }
}
