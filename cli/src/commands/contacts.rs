//! `chasqui contacts show|optout|optin CUSTOMER`: the contact items the
//! status function keeps (a customer named by phone or BSUID, with the items
//! linked to it), and manual opt decisions written the way it writes them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::contact::{self, ContactItem, DynamoContacts, OptOutcome, OptStore, OptWrite};
use shared::customer::{self, CustomerIds};
use shared::events::OptSource;
use shared::table;
use shared::table::attr::{contact as contact_attr, inbound as inbound_attr};
use shared::table::dynamo::to_json;

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

/// A contact number as the table keys it (E.164 digits).
pub fn wa_id(number: &str) -> Result<String, CliError> {
    shared::phone::normalise(number).map_err(|e| CliError::new(format!("{number:?} {e}")).code(2))
}

/// A customer as the table keys them: a BSUID as given, a phone as E.164
/// digits (`shared::customer::parse`).
pub fn customer_ids(customer: &str) -> Result<CustomerIds, CliError> {
    customer::parse(customer)
        .map_err(|e| CliError::new(format!("{:?} {e}", customer.trim())).code(2))
}

pub async fn show(
    target: &Target,
    out: Output,
    customer: &str,
    pn: Option<&str>,
) -> Result<(), CliError> {
    let pn = target.phone_number_id(pn)?;
    let ids = customer_ids(customer)?;
    let ddb = target.dynamodb();
    let table_name = target.table()?;
    let items = contact::read_linked(
        &ddb,
        table_name,
        &target.tenant,
        &pn,
        &ids,
        shared::now_millis(),
    )
    .await
    .map_err(|e| CliError::new(format!("reading the contact failed: {e}")))?;
    let mut recent: Vec<Value> = Vec::new();
    // History stays in the partition it was written to: read every
    // linked id's, newest first.
    let partitions: Vec<String> = if items.is_empty() {
        ids.all().into_iter().map(str::to_owned).collect()
    } else {
        items.iter().map(|i| i.id.clone()).collect()
    };
    for id in &partitions {
        let inbound = ddb
            .query()
            .table_name(table_name)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :in)")
            .expression_attribute_names("#pk", table::PK)
            .expression_attribute_names("#sk", table::SK)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(table::contact_pk(&target.tenant, &pn, id)),
            )
            .expression_attribute_values(
                ":in",
                AttributeValue::S(table::INBOUND_SK_PREFIX.to_owned()),
            )
            .scan_index_forward(false)
            .limit(5)
            .send()
            .await
            .map_err(|e| CliError::aws("reading the inbound messages", e))?;
        recent.extend(inbound.items().iter().map(|i| {
            let mut m = to_json(&AttributeValue::M(i.clone()));
            // Items written before the id left the `wamid` index name it
            // `wamid`: one name in the output either way.
            if let Some(o) = m.as_object_mut()
                && !o.contains_key(inbound_attr::WAMID)
                && let Some(w) = o.remove(inbound_attr::LEGACY_WAMID)
            {
                o.insert(inbound_attr::WAMID.to_owned(), w);
            }
            m
        }));
    }
    recent.sort_by_key(|m| {
        std::cmp::Reverse(m.get(inbound_attr::RECEIVED_AT).and_then(Value::as_u64))
    });
    recent.truncate(5);
    let name = customer.trim();
    let Some(state) = contact::resolve(&items) else {
        out.result(
            &format!(
                "{name}: no contact yet (they have not written, and nobody opted them in or out)"
            ),
            &json!({"customer": ids, "contact": null, "items": [], "recent_inbound": recent}),
        );
        return Ok(());
    };
    let as_json = |i: &ContactItem| to_json(&AttributeValue::M(i.item.clone()));
    let item_json: Vec<Value> = items.iter().map(as_json).collect();
    let attr = |k: &str| {
        items
            .iter()
            .find_map(|i| i.item.get(k).and_then(|v| v.as_s().ok()).cloned())
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut lines = vec![format!(
        "{name}: {}",
        if state.opted_out {
            "opted out"
        } else {
            "subscribed"
        }
    )];
    lines.push(format!(
        "  ids           phone {} · BSUID {}",
        state.ids.wa_id.as_deref().unwrap_or("-"),
        state.ids.user_id.as_deref().unwrap_or("-")
    ));
    lines.push(format!(
        "  name          {}",
        attr(contact_attr::PROFILE_NAME)
    ));
    lines.push(format!("  username      {}", attr(contact_attr::USERNAME)));
    if let Some(at) = state.last_inbound_at {
        let open = shared::now_millis().saturating_sub(at) < 24 * 3_600_000;
        lines.push(format!(
            "  last wrote    {} (service window {})",
            clock::iso(at),
            if open { "open" } else { "closed" }
        ));
    }
    if let Some(source) = &state.opt_source {
        let at = state
            .opt_decision
            .as_deref()
            .and_then(|d| d.split('#').next())
            .and_then(|t| t.parse().ok())
            .map(clock::iso)
            .unwrap_or_default();
        lines.push(format!("  opt decision  {source} at {at}"));
    }
    for m in &recent {
        let at = m
            .get(inbound_attr::RECEIVED_AT)
            .and_then(Value::as_u64)
            .map(clock::iso)
            .unwrap_or_default();
        let text = m
            .get(inbound_attr::TEXT)
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = m
            .get(inbound_attr::TYPE)
            .and_then(Value::as_str)
            .unwrap_or("?");
        lines.push(format!("  inbound       {at} {kind} {text:?}"));
    }
    out.result(
        &lines.join("\n"),
        &json!({
            "customer": state.ids,
            "opted_out": state.opted_out,
            "opt_source": state.opt_source,
            "last_inbound_at": state.last_inbound_at,
            "items": item_json,
            "recent_inbound": recent,
        }),
    );
    Ok(())
}

/// Records a manual opt-out (`opted_out`) or opt-in as the contact's
/// newest decision, on the item of the id given.
pub async fn decide(
    target: &Target,
    out: Output,
    customer: &str,
    pn: Option<&str>,
    opted_out: bool,
) -> Result<(), CliError> {
    let pn = target.phone_number_id(pn)?;
    let ids = customer_ids(customer)?;
    let id = ids.primary().unwrap_or_default().to_owned();
    let store = DynamoContacts::new(target.dynamodb(), target.table()?);
    let now = shared::now_millis();
    let write = OptWrite {
        tenant: target.tenant.clone(),
        phone_number_id: pn.clone(),
        customer_id: id.clone(),
        opted_out,
        at: now,
        source: OptSource::Manual,
        message_id: None,
        decision: format!("{now:013}#manual-{:08x}", fastrand::u32(..)),
        now,
    };
    let outcome = store
        .decide_opt(&write)
        .await
        .map_err(|e| CliError::new(format!("recording the decision failed: {e}")).hint(
            "check that the stack is running (`make dev`) or, for a deployed stack, your AWS credentials",
        ))?;
    let word = if opted_out { "opted out" } else { "opted in" };
    let human = match outcome {
        OptOutcome::Applied => format!(
            "{id} {word} (manual); the sender now {} their messages",
            if opted_out { "suppresses" } else { "sends" }
        ),
        OptOutcome::Replayed => format!("{id} was already {word}"),
        OptOutcome::Superseded => format!(
            "{id}: a newer decision is in place; nothing changed (see `chasqui contacts show {customer}`)"
        ),
    };
    out.result(
        &human,
        &json!({"customer": ids, "wa_id": ids.wa_id, "user_id": ids.user_id, "opted_out": opted_out, "outcome": format!("{outcome:?}").to_lowercase()}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_named_by_phone_or_bsuid() {
        assert_eq!(
            customer_ids("+55 11 98888-7777").unwrap(),
            CustomerIds::new(Some("5511988887777"), None)
        );
        assert_eq!(
            customer_ids(" BR.1502576394655843 ").unwrap(),
            CustomerIds::new(None, Some("BR.1502576394655843"))
        );
        assert_eq!(
            customer_ids("US.ENT.11815799212886844830")
                .unwrap()
                .user_id
                .as_deref(),
            Some("US.ENT.11815799212886844830")
        );
        // A malformed BSUID is refused as a BSUID, not read as a phone.
        let err = customer_ids("br.15025").unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.to_string().contains("business-scoped user id"), "{err}");
        assert!(customer_ids("call me").is_err());
    }
}
