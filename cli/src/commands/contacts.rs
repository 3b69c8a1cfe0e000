//! `chasqui contacts show|optout|optin NUMBER`: the contact item the status
//! function keeps, and manual opt decisions written the way it writes them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::events::OptSource;
use shared::record::to_json;
use shared::table;
use status::dynamo::DynamoStore;
use status::store::{ContactStore, OptOutcome, OptWrite};

use super::{CliError, Output};
use crate::clock;
use crate::target::Target;

/// A contact number as the table keys it (E.164 digits).
pub fn wa_id(number: &str) -> Result<String, CliError> {
    shared::phone::normalise(number).map_err(|e| CliError::new(format!("{number:?} {e}")).code(2))
}

pub async fn show(
    target: &Target,
    out: Output,
    number: &str,
    pn: Option<&str>,
) -> Result<(), CliError> {
    let pn = target.phone_number_id(pn)?;
    let wa = wa_id(number)?;
    let ddb = target.dynamodb();
    let table_name = target.table()?;
    let pk = table::contact_pk(&pn, &wa);
    let item = ddb
        .get_item()
        .table_name(table_name)
        .key(table::PK, AttributeValue::S(pk.clone()))
        .key(table::SK, AttributeValue::S(table::CONTACT_SK.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| CliError::aws("reading the contact", e))?
        .item;
    let inbound = ddb
        .query()
        .table_name(table_name)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :in)")
        .expression_attribute_names("#pk", table::PK)
        .expression_attribute_names("#sk", table::SK)
        .expression_attribute_values(":pk", AttributeValue::S(pk))
        .expression_attribute_values(
            ":in",
            AttributeValue::S(table::INBOUND_SK_PREFIX.to_owned()),
        )
        .scan_index_forward(false)
        .limit(5)
        .send()
        .await
        .map_err(|e| CliError::aws("reading the inbound messages", e))?;
    let contact = item.map(|i| to_json(&AttributeValue::M(i)));
    let recent: Vec<Value> = inbound
        .items()
        .iter()
        .map(|i| to_json(&AttributeValue::M(i.clone())))
        .collect();
    let Some(contact) = contact else {
        out.result(
            &format!(
                "{wa}: no contact yet (they have not written, and nobody opted them in or out)"
            ),
            &json!({"wa_id": wa, "contact": null, "recent_inbound": recent}),
        );
        return Ok(());
    };
    let n = |k: &str| contact.get(k).and_then(Value::as_u64);
    let s = |k: &str| {
        contact
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned()
    };
    let opted_out = contact
        .get("opted_out")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut lines = vec![format!(
        "{wa}: {}",
        if opted_out { "opted out" } else { "subscribed" }
    )];
    lines.push(format!("  name          {}", s("profile_name")));
    if let Some(at) = n("last_inbound_at") {
        let open = shared::now_millis().saturating_sub(at) < 24 * 3_600_000;
        lines.push(format!(
            "  last wrote    {} (service window {})",
            clock::iso(at),
            if open { "open" } else { "closed" }
        ));
    }
    if contact.get("opt_source").is_some() {
        let at = n("opted_out_at")
            .max(n("opted_in_at"))
            .map(clock::iso)
            .unwrap_or_default();
        lines.push(format!("  opt decision  {} at {at}", s("opt_source")));
    }
    for m in &recent {
        let at = m
            .get("received_at")
            .and_then(Value::as_u64)
            .map(clock::iso)
            .unwrap_or_default();
        let text = m.get("text").and_then(Value::as_str).unwrap_or("");
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("?");
        lines.push(format!("  inbound       {at} {kind} {text:?}"));
    }
    out.result(
        &lines.join("\n"),
        &json!({"wa_id": wa, "contact": contact, "recent_inbound": recent}),
    );
    Ok(())
}

/// Records a manual opt-out (`opted_out`) or opt-in as the contact's
/// newest decision.
pub async fn decide(
    target: &Target,
    out: Output,
    number: &str,
    pn: Option<&str>,
    opted_out: bool,
) -> Result<(), CliError> {
    let pn = target.phone_number_id(pn)?;
    let wa = wa_id(number)?;
    let store = DynamoStore::new(target.dynamodb(), target.table()?);
    let now = shared::now_millis();
    let write = OptWrite {
        pk: table::contact_pk(&pn, &wa),
        phone_number_id: pn.clone(),
        wa_id: wa.clone(),
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
            "{wa} {word} (manual); the sender now {} their messages",
            if opted_out { "suppresses" } else { "sends" }
        ),
        OptOutcome::Replayed => format!("{wa} was already {word}"),
        OptOutcome::Superseded => format!(
            "{wa}: a newer decision is in place; nothing changed (see `chasqui contacts show {number}`)"
        ),
    };
    out.result(&human, &json!({"wa_id": wa, "opted_out": opted_out, "outcome": format!("{outcome:?}").to_lowercase()}));
    Ok(())
}
