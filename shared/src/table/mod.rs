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
/// Global secondary index on `wamid` (S), projecting everything.
pub const WAMID_INDEX: &str = "by_wamid";
/// The attribute `WAMID_INDEX` is keyed on.
pub const WAMID: &str = "wamid";

/// Sort key of the single item under a message or contact partition.
pub const MESSAGE_SK: &str = "MSG";
pub const CONTACT_SK: &str = "CONTACT";

/// Key of the message item Chasqui sent, by Chasqui's own message id.
pub fn message_pk(message_id: &str) -> String {
    format!("MSG#{message_id}")
}

/// Key of a message known only by its `wamid` (a status for a message
/// Chasqui did not send, or one sent before `biz_opaque_callback_data`).
pub fn foreign_message_pk(wamid: &str) -> String {
    format!("WAMID#{wamid}")
}

/// Partition of a contact: per business number and WhatsApp user. The
/// contact item (`sk = CONTACT`) and its inbound history share it.
pub fn contact_pk(phone_number_id: &str, wa_id: &str) -> String {
    format!("CONTACT#{phone_number_id}#{wa_id}")
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

/// Partition of a webhook part kept as received, by its digest.
pub fn hook_pk(digest: &str) -> String {
    format!("HOOK#{digest}")
}

/// Partition of the account and number health items: one partition, so one
/// `Query` lists every account and number (they change a few times a month).
pub const HEALTH_PK: &str = "HEALTH";

/// Sort key of a WhatsApp Business Account's health item, or of one of its
/// business numbers' (by display number: Meta's number updates carry no
/// `phone_number_id`).
pub fn health_sk(waba_id: &str, display_phone_number: Option<&str>) -> String {
    match display_phone_number {
        Some(number) => format!("{waba_id}#NUMBER#{number}"),
        None => format!("{waba_id}#ACCOUNT"),
    }
}

/// Partition of the business number bindings (`shared::tenant`); the sort
/// key is the phone number id, so a number has at most one binding.
pub const BINDING_PK: &str = "BINDING";

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
        assert_eq!(contact_pk("11", "5511"), "CONTACT#11#5511");
        assert_ne!(message_pk("x"), foreign_message_pk("x"));
        assert!(fragment_sk(2) < fragment_sk(10));
        assert_ne!(hook_pk("x"), fragment_pk("x"));
    }
}
