//! Account and number updates.

use serde_json::Value;
use shared::events::{self, Event};
use shared::table::attr::health as health_attr;

use crate::health;
use crate::store::HealthOutcome;

use super::{Applied, Applier, ApplyError};

impl Applier<'_> {
    /// An account or number update: kept per account and number (newest
    /// of each kind wins), told upstream, and logged as an alert when a
    /// person must act. A failed write fails the record (it is retried).
    pub(super) async fn apply_health(
        &self,
        entry_id: &str,
        field: &str,
        at: u64,
        value: &Value,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let Some(update) = health::read(&self.tenant, field, entry_id, at, value, self.now) else {
            let reason = "a number update without display_phone_number";
            tracing::warn!(field, entry_id, reason, "health update recorded");
            let record = self.field_record(field, entry_id, Some(reason.into()), value, at);
            return self.keep(record, out).await;
        };
        let write = &update.write;
        let outcome = self
            .health
            .update_health(write)
            .await
            .map_err(ApplyError::store(format!("{field} of {entry_id}")))?;
        let HealthOutcome::Applied { previous } = outcome else {
            tracing::info!(
                field,
                waba_id = entry_id,
                number = write.number.as_deref(),
                at,
                "health update superseded by a newer one"
            );
            return Ok(());
        };
        let current = write
            .values
            .iter()
            .filter_map(|(name, v)| Some(((*name).to_owned(), v.clone()?)))
            .collect::<std::collections::BTreeMap<_, _>>();
        let event = current
            .get(health_attr::QUALITY_EVENT)
            .or_else(|| current.get(health_attr::ACCOUNT_EVENT))
            .or_else(|| current.get(health_attr::NAME_DECISION))
            .cloned();
        match update.alert {
            Some(alert) => tracing::error!(
                alert,
                field,
                waba_id = entry_id,
                number = write.number.as_deref(),
                event = event.as_deref(),
                "whatsapp health alert"
            ),
            None => tracing::info!(
                field,
                waba_id = entry_id,
                number = write.number.as_deref(),
                event = event.as_deref(),
                "health update applied"
            ),
        }
        out.recorded += 1;
        self.emit(
            out,
            Event::health(
                at,
                events::HealthChanged {
                    waba_id: entry_id.to_owned(),
                    display_phone_number: write.number.clone(),
                    field: field.to_owned(),
                    current,
                    previous,
                    alert: update.alert.map(str::to_owned),
                },
            ),
        );
        Ok(())
    }
}
