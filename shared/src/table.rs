//! The one DynamoDB table: its key schema, index and item keys. The sender and
//! status functions write the same message item, so both build keys here and
//! nowhere else. `docs/data-model.md` is the prose version of this module.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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

/// An `UpdateItem` expression with a placeholder for every name and value,
/// so reserved words (`type`, `text`, `status`) never matter. Each method
/// returns or records placeholders; a condition expression can use the
/// placeholders [`Update::name`] and [`Update::value`] hand out.
#[derive(Debug, Default)]
pub struct Update {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    /// `ExpressionAttributeNames`.
    pub names: HashMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: HashMap<String, AttributeValue>,
}

impl Update {
    /// The placeholder of an attribute name (the same one every time).
    pub fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#a{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    /// A new placeholder for a value.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.set.push(format!("{n} = {v}"));
        self
    }

    /// The first value written stays.
    pub fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.set.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD`: a number is incremented, a set gains members.
    pub fn add(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.add.push(format!("{n} {v}"));
        self
    }

    pub fn remove(&mut self, attribute: &str) -> &mut Self {
        let n = self.name(attribute);
        self.remove.push(n);
        self
    }

    /// The `UpdateExpression`.
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (verb, clauses) in [
            ("SET", &self.set),
            ("ADD", &self.add),
            ("REMOVE", &self.remove),
        ] {
            if !clauses.is_empty() {
                parts.push(format!("{verb} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }
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

    #[test]
    fn update_expressions_use_one_placeholder_per_name() {
        let mut u = Update::default();
        u.set("status", AttributeValue::S("read".into()))
            .set_if_absent("a-b", AttributeValue::N("1".into()))
            .set_if_absent("a_b", AttributeValue::N("2".into()))
            .add("attempts", AttributeValue::N("1".into()))
            .remove("status");
        assert_eq!(
            u.expression(),
            "SET #a0 = :v0, #a1 = if_not_exists(#a1, :v1), #a2 = if_not_exists(#a2, :v2) \
             ADD #a3 :v3 REMOVE #a0"
        );
        // Names that only differ in punctuation keep their own placeholders.
        assert_eq!(u.names.get("#a1").map(String::as_str), Some("a-b"));
        assert_eq!(u.names.get("#a2").map(String::as_str), Some("a_b"));
        assert_eq!(u.names.len(), 4);
        assert_eq!(u.values.len(), 4);
        assert_eq!(u.name("attempts"), "#a3");
    }
}
