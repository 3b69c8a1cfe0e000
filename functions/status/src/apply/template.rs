//! Template status, quality and category updates (`docs/templates.md`).

use serde_json::Value;
use shared::events::{self, Event};
use shared::templates::store::Written;
use shared::templates::{self, Slot};

use super::{Applied, Applier, ApplyError};

impl Applier<'_> {
    /// A `message_template_status_update`, `message_template_quality_update`
    /// or `template_category_update`: written to the catalogue unless a
    /// newer state of its kind is there (Meta's time `at` orders them), told
    /// upstream, and logged as an alert when the template stops being
    /// sendable. A change that does not name its template is kept as
    /// received with the reason; a failed write fails the record (retried).
    pub(super) async fn apply_template(
        &self,
        entry_id: &str,
        field: &str,
        at: u64,
        value: &Value,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let update = match templates::parse_update(field, value, at) {
            Ok(update) => update,
            Err(e) => {
                let reason = format!("template update not applied: {e}");
                tracing::warn!(field, entry_id, %reason, "template update recorded");
                let record = self.field_record(field, entry_id, Some(reason), value, at);
                return self.keep(record, out).await;
            }
        };
        let written = self
            .templates
            .apply(&self.tenant, entry_id, &update)
            .await
            .map_err(ApplyError::store(format!(
                "{field} of {} ({})",
                update.name, update.language
            )))?;
        let Written::Applied { previous } = written else {
            tracing::info!(
                field,
                tenant = %self.tenant,
                waba_id = entry_id,
                template = %update.name,
                language = %update.language,
                value = %update.value,
                at,
                "template update superseded by a newer state"
            );
            return Ok(());
        };
        let previous = previous.or_else(|| update.previous.clone());
        let alert = (update.slot == Slot::Status && update.value != templates::APPROVED)
            .then_some(templates::ALERT);
        match alert {
            Some(alert) => tracing::error!(
                alert,
                field,
                tenant = %self.tenant,
                waba_id = entry_id,
                template = %update.name,
                language = %update.language,
                previous = previous.as_deref(),
                current = %update.value,
                reason = update.reason.as_deref(),
                "template no longer sendable: its sends are refused until it is approved again"
            ),
            None => tracing::info!(
                field,
                tenant = %self.tenant,
                waba_id = entry_id,
                template = %update.name,
                language = %update.language,
                change = update.slot.as_str(),
                previous = previous.as_deref(),
                current = %update.value,
                "template update applied"
            ),
        }
        out.recorded += 1;
        self.emit(
            out,
            Event::template(
                at,
                events::TemplateChanged {
                    waba_id: entry_id.to_owned(),
                    name: update.name,
                    language: update.language,
                    template_id: update.id,
                    change: update.slot.as_str().to_owned(),
                    previous,
                    current: update.value,
                    reason: update.reason,
                    alert: alert.map(str::to_owned),
                },
            ),
        );
        Ok(())
    }
}
