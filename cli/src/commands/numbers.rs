//! `chasqui numbers`: each business number's and account's health as the
//! status function keeps it from Meta's `phone_number_quality_update`,
//! `phone_number_name_update`, `account_update` and
//! `business_capability_update` webhooks (`docs/data-model.md`).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::table::attr::health as attr;
use shared::table::dynamo::to_json;

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

pub async fn run(target: &Target, out: Output) -> Result<(), CliError> {
    let items = read(&target.dynamodb(), target.table()?, &target.tenant).await?;
    out.result(&human(&items), &json!({ "items": items }));
    Ok(())
}

/// Every account and number health item, accounts before their numbers
/// (the sort key's order), as JSON.
pub async fn read(
    ddb: &aws_sdk_dynamodb::Client,
    table_name: &str,
    tenant: &str,
) -> Result<Vec<Value>, CliError> {
    let items = shared::health::read_all(ddb, table_name, tenant)
        .await
        .map_err(|e| CliError::new(format!("reading account and number health: {e}")))?;
    Ok(items
        .into_iter()
        .map(|i| to_json(&AttributeValue::M(i)))
        .collect())
}

/// One block per account, its numbers under it (the sort key orders them).
fn human(items: &[Value]) -> String {
    if items.is_empty() {
        return "no account or number updates from Meta yet".to_owned();
    }
    let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let when = |item: &Value, key: &str| {
        item.get(key)
            .and_then(Value::as_u64)
            .map(clock::iso)
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for item in items {
        let waba = text(item, attr::WABA_ID).unwrap_or_default();
        let line = |label: &str, value: Option<String>, at_key: &str| {
            value.map(|v| format!("  {label:<14}{v} ({})", when(item, at_key)))
        };
        match text(item, attr::DISPLAY_PHONE_NUMBER) {
            Some(number) => lines.push(format!("number {number} (account {waba})")),
            None => lines.push(format!("account {waba}")),
        }
        let quality = text(item, attr::QUALITY_EVENT).map(|event| {
            let limit = text(item, attr::MESSAGING_LIMIT)
                .map(|l| format!(", limit {l}"))
                .unwrap_or_default();
            format!("{event}{limit}")
        });
        let name = text(item, attr::NAME_DECISION).map(|decision| {
            let requested = text(item, attr::REQUESTED_NAME).unwrap_or_default();
            match text(item, attr::NAME_REJECTION_REASON) {
                Some(reason) => format!("{decision} {requested:?}: {reason}"),
                None => format!("{decision} {requested:?}"),
            }
        });
        let capability = [
            text(item, attr::MAX_DAILY_CONVERSATIONS).map(|v| format!("{v} conversations/day")),
            text(item, attr::MAX_PHONE_NUMBERS).map(|v| format!("{v} numbers")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        lines.extend(
            [
                line("quality", quality, attr::QUALITY_AT),
                line("display name", name, attr::NAME_AT),
                line("account", text(item, attr::ACCOUNT_EVENT), attr::ACCOUNT_AT),
                line(
                    "details",
                    text(item, attr::ACCOUNT_DETAILS),
                    attr::ACCOUNT_AT,
                ),
                line(
                    "capabilities",
                    (!capability.is_empty()).then(|| capability.join(", ")),
                    attr::CAPABILITY_AT,
                ),
            ]
            .into_iter()
            .flatten(),
        );
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_show_their_quality_and_accounts_their_standing() {
        let items = [
            json!({"waba_id": "w1", "quality_event": "DOWNGRADE", "messaging_limit": "TIER_250",
                   "quality_at": 1_730_000_200_000u64, "display_phone_number": "15550001111"}),
            json!({"waba_id": "w1", "account_event": "ACCOUNT_RESTRICTION",
                   "account_at": 1_730_000_300_000u64}),
        ];
        let text = human(&items);
        assert!(text.contains("number 15550001111 (account w1)"), "{text}");
        assert!(text.contains("DOWNGRADE, limit TIER_250"), "{text}");
        assert!(
            text.contains("account w1\n  account       ACCOUNT_RESTRICTION"),
            "{text}"
        );
        assert!(!text.contains("display name"), "{text}");
        assert_eq!(human(&[]), "no account or number updates from Meta yet");
    }
}
