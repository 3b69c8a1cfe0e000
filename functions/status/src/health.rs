//! Account and number health: what Meta's `phone_number_quality_update`,
//! `phone_number_name_update`, `account_update` and
//! `business_capability_update` webhooks say, as the state Chasqui keeps per
//! business number and per account, and whether a person must look.
//!
//! Each kind of update owns a few attributes and its own time slot, so a
//! quality update never overwrites a name decision, and within one kind the
//! entry's `time` orders them: a late webhook never overwrites a newer state.

use serde_json::Value;
use shared::table::attr::health as attr;

use crate::store::HealthWrite;

/// The webhook fields applied here.
pub const FIELDS: &[&str] = &[
    "phone_number_quality_update",
    "phone_number_name_update",
    "account_update",
    "business_capability_update",
];

/// Alert of a quality drop (`FLAGGED`, `DOWNGRADE`) of a business number.
pub const QUALITY_DROPPED: &str = "whatsapp_number_quality_dropped";
/// Alert of an account restriction, violation, ban or removal.
pub const ACCOUNT_RESTRICTED: &str = "whatsapp_account_restricted";

/// Longest `account_details` kept (Meta's are a few hundred bytes).
const MAX_DETAILS_BYTES: usize = 4096;

/// One update read from a webhook change, and its alert if it needs one.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub write: HealthWrite,
    pub alert: Option<&'static str>,
}

/// Reads a change of one of [`FIELDS`]. `at` is the entry's time (else when
/// the webhook arrived), Unix milliseconds. `None` for another field, or a
/// number update that names no number.
pub fn read(
    tenant: &str,
    field: &str,
    waba_id: &str,
    at: u64,
    value: &Value,
    now: u64,
) -> Option<Health> {
    let text = |key: &str| -> Option<String> {
        match value.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let number = text("display_phone_number");
    let write = |number: Option<String>, slot, values| HealthWrite {
        tenant: tenant.to_owned(),
        waba_id: waba_id.to_owned(),
        number,
        slot,
        at,
        values,
        now,
    };
    let health = match field {
        "phone_number_quality_update" => {
            let event = text("event");
            let dropped = matches!(event.as_deref(), Some("FLAGGED" | "DOWNGRADE"));
            Health {
                write: write(
                    Some(number?),
                    attr::QUALITY_AT,
                    vec![
                        (attr::QUALITY_EVENT, event),
                        (attr::MESSAGING_LIMIT, text("current_limit")),
                        (attr::PREVIOUS_LIMIT, text("old_limit")),
                        (
                            attr::MAX_DAILY_CONVERSATIONS,
                            text("max_daily_conversations_per_business"),
                        ),
                    ],
                ),
                alert: dropped.then_some(QUALITY_DROPPED),
            }
        }
        "phone_number_name_update" => Health {
            write: write(
                Some(number?),
                attr::NAME_AT,
                vec![
                    (attr::NAME_DECISION, text("decision")),
                    (attr::REQUESTED_NAME, text("requested_verified_name")),
                    (attr::NAME_REJECTION_REASON, text("rejection_reason")),
                ],
            ),
            alert: None,
        },
        "account_update" => {
            let event = text("event");
            let details = match value {
                Value::Object(map) => {
                    let mut rest = map.clone();
                    rest.remove("event");
                    (!rest.is_empty()).then(|| Value::Object(rest).to_string())
                }
                _ => None,
            }
            .filter(|d| d.len() <= MAX_DETAILS_BYTES);
            Health {
                alert: restricts(event.as_deref(), value).then_some(ACCOUNT_RESTRICTED),
                write: write(
                    None,
                    attr::ACCOUNT_AT,
                    vec![
                        (attr::ACCOUNT_EVENT, event),
                        (attr::ACCOUNT_DETAILS, details),
                    ],
                ),
            }
        }
        "business_capability_update" => Health {
            write: write(
                None,
                attr::CAPABILITY_AT,
                vec![
                    (
                        attr::MAX_DAILY_CONVERSATIONS,
                        text("max_daily_conversations_per_business")
                            .or_else(|| text("max_daily_conversation_per_phone")),
                    ),
                    (
                        attr::MAX_PHONE_NUMBERS,
                        text("max_phone_numbers_per_business")
                            .or_else(|| text("max_phone_numbers_per_waba")),
                    ),
                ],
            ),
            alert: None,
        },
        _ => return None,
    };
    Some(health)
}

/// Whether an `account_update` takes sending away: a restriction, a policy
/// violation, the account deleted or offboarded, or a ban (not its lifting).
fn restricts(event: Option<&str>, value: &Value) -> bool {
    match event {
        Some(
            "ACCOUNT_RESTRICTION" | "ACCOUNT_VIOLATION" | "ACCOUNT_DELETED" | "ACCOUNT_OFFBOARDED",
        ) => true,
        Some("DISABLED_UPDATE") => !matches!(
            value
                .pointer("/ban_info/waba_ban_state")
                .and_then(Value::as_str),
            Some("REINSTATE")
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::tenant::DEFAULT_TENANT;

    fn value_of(write: &HealthWrite, name: &str) -> Option<String> {
        write
            .values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    }

    #[test]
    fn a_quality_downgrade_of_a_number_alerts() {
        let h = read(
            DEFAULT_TENANT,
            "phone_number_quality_update",
            "waba-1",
            7,
            &json!({"display_phone_number": "15550783881", "event": "DOWNGRADE",
                    "current_limit": "TIER_250", "old_limit": "TIER_1K"}),
            9,
        )
        .unwrap();
        assert_eq!(h.alert, Some(QUALITY_DROPPED));
        assert_eq!(h.write.number.as_deref(), Some("15550783881"));
        assert_eq!(
            (h.write.slot, h.write.at, h.write.now),
            (attr::QUALITY_AT, 7, 9)
        );
        assert_eq!(
            value_of(&h.write, attr::MESSAGING_LIMIT).as_deref(),
            Some("TIER_250")
        );
        assert_eq!(
            value_of(&h.write, attr::PREVIOUS_LIMIT).as_deref(),
            Some("TIER_1K")
        );
        // A missing attribute is cleared: the update replaces its kind's state.
        assert_eq!(value_of(&h.write, attr::MAX_DAILY_CONVERSATIONS), None);
        assert!(
            h.write
                .values
                .iter()
                .any(|(n, _)| *n == attr::MAX_DAILY_CONVERSATIONS)
        );
    }

    #[test]
    fn upgrades_and_names_do_not_alert() {
        for (field, value) in [
            (
                "phone_number_quality_update",
                json!({"display_phone_number": "1555", "event": "UPGRADE", "current_limit": "TIER_10K"}),
            ),
            (
                "phone_number_quality_update",
                json!({"display_phone_number": "1555", "event": "UNFLAGGED"}),
            ),
            (
                "phone_number_name_update",
                json!({"display_phone_number": "1555", "decision": "REJECTED", "requested_verified_name": "Oficina", "rejection_reason": "NAME_FORMAT_UNACCEPTABLE"}),
            ),
            (
                "business_capability_update",
                json!({"max_daily_conversations_per_business": 1000, "max_phone_numbers_per_business": 2}),
            ),
            (
                "account_update",
                json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}}),
            ),
            ("account_update", json!({"event": "VERIFIED_ACCOUNT"})),
        ] {
            let h = read(DEFAULT_TENANT, field, "waba-1", 1, &value, 1).unwrap();
            assert_eq!(h.alert, None, "{field} {value}");
        }
    }

    #[test]
    fn restrictions_bans_and_removals_alert() {
        for value in [
            json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1730000000}]}),
            json!({"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}),
            json!({"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE"}}),
            json!({"event": "ACCOUNT_DELETED"}),
        ] {
            let h = read(DEFAULT_TENANT, "account_update", "waba-1", 1, &value, 1).unwrap();
            assert_eq!(h.alert, Some(ACCOUNT_RESTRICTED), "{value}");
            assert_eq!(h.write.number, None);
            let details = value_of(&h.write, attr::ACCOUNT_DETAILS);
            assert_eq!(
                details.is_some(),
                value.as_object().unwrap().len() > 1,
                "{value}"
            );
        }
    }

    #[test]
    fn a_number_update_without_a_number_and_other_fields_are_not_read() {
        assert_eq!(
            read(
                DEFAULT_TENANT,
                "phone_number_quality_update",
                "w",
                1,
                &json!({"event": "FLAGGED"}),
                1
            ),
            None
        );
        assert_eq!(
            read(DEFAULT_TENANT, "messages", "w", 1, &json!({}), 1),
            None
        );
        assert_eq!(
            read(
                DEFAULT_TENANT,
                "message_template_status_update",
                "w",
                1,
                &json!({}),
                1
            ),
            None
        );
    }
}
