//! Opt decisions: Meta's `user_preferences` and opt keywords.

use serde_json::Value;
use shared::contact::{OptOutcome, OptWrite};
use shared::customer::CustomerIds;
use shared::events::{Event, OptChange, OptSource};

use super::{Applied, Applier, ApplyError, millis};
use shared::pseudonym::customer_ref;

impl Applier<'_> {
    /// Meta's `user_preferences` webhook: marketing messages stopped or
    /// resumed by the person in WhatsApp itself.
    pub(super) async fn apply_preferences(
        &self,
        entry_id: &str,
        field: &str,
        received_at: u64,
        value: &Value,
        out: &mut Applied,
    ) {
        let phone = value
            .pointer("/metadata/phone_number_id")
            .map(text_of)
            .unwrap_or_default();
        let items = match value.get("user_preferences") {
            Some(Value::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        };
        for item in items {
            let wa_id = item.get("wa_id").map(text_of).unwrap_or_default();
            let user_id = item.get("user_id").map(text_of).unwrap_or_default();
            let ids = CustomerIds::new(Some(&wa_id), Some(&user_id));
            let category = item.get("category").map(text_of).unwrap_or_default();
            let choice = item
                .get("value")
                .map(text_of)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let opted_out = match (category.as_str(), choice.as_str()) {
                ("marketing_messages", "stop") => Some(true),
                ("marketing_messages", "resume") => Some(false),
                _ => None,
            };
            let at = item
                .get("timestamp")
                .and_then(|t| millis(timestamp_of(t)))
                .unwrap_or(received_at);
            match opted_out {
                Some(opted_out) if !ids.is_empty() && !phone.is_empty() => {
                    let signal = format!("meta_preference:{choice}");
                    if let Err(err) = self.link_customer(&phone, &ids, at).await {
                        tracing::error!(error = %err, "marketing preference: contact not linked");
                        out.failures.push(err);
                    }
                    if let Err(err) = self
                        .opt(
                            &phone,
                            &ids,
                            opted_out,
                            at,
                            OptSource::MetaMarketingPreference,
                            None,
                            &signal,
                            None,
                            out,
                        )
                        .await
                    {
                        tracing::error!(error = %err, "marketing preference not applied");
                        out.failures.push(err);
                    }
                }
                _ => {
                    tracing::warn!(entry_id, preference = %item, "a user preference Chasqui does not apply: recorded");
                    let record = self.record(
                        "preference",
                        &[&phone, &item.to_string()],
                        Some(field),
                        Some(entry_id),
                        Some(&phone),
                        Some("a user preference Chasqui does not apply".into()),
                        item.to_string(),
                        received_at,
                    );
                    self.keep_item(record, out).await;
                }
            }
        }
    }

    /// Applies an opt decision and yields its event when it is (or, on a
    /// replay, already was) the contact's latest decision.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn opt(
        &self,
        phone: &str,
        ids: &CustomerIds,
        opted_out: bool,
        at: u64,
        source: OptSource,
        message_id: Option<String>,
        signal: &str,
        keyword: Option<String>,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let Some(id) = ids.primary() else {
            return Ok(());
        };
        let decision = format!("{at:013}#{signal}");
        let outcome = self
            .contacts
            .decide_opt(&OptWrite {
                tenant: self.tenant.clone(),
                phone_number_id: phone.to_owned(),
                customer_id: id.to_owned(),
                opted_out,
                at,
                source,
                message_id: message_id.clone(),
                decision: decision.clone(),
                now: self.now,
            })
            .await
            .map_err(ApplyError::store(format!(
                "recording the opt decision of contact {}",
                customer_ref(&self.tenant, phone, id)
            )))?;
        tracing::info!(contact = %customer_ref(&self.tenant, phone, id), opted_out, source = source.as_str(), ?outcome, "opt signal");
        if outcome == OptOutcome::Superseded {
            return Ok(());
        }
        self.emit(
            out,
            Event::opt(
                at,
                &decision,
                OptChange {
                    phone_number_id: phone.to_owned(),
                    wa_id: ids.wa_id.clone().unwrap_or_default(),
                    user_id: ids.user_id.clone(),
                    opted_out,
                    source,
                    message_id,
                    keyword,
                },
            ),
        );
        Ok(())
    }
}

fn timestamp_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
