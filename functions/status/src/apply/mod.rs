//! What one queued webhook body does to the table, and the events it
//! yields. Every write is idempotent, so applying a body twice (a retry, a
//! replay by Meta) changes nothing the second time and yields the same
//! events with the same ids.

mod account;
mod inbound;
mod opt;
mod record;
mod status;
mod template;

use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use shared::customer::CustomerIds;
use shared::events::Event;
use shared::intake::{self, Encoding, QueuedWebhook};
use shared::store::StoreError;
use shared::table::attr::contact as contact_attr;
use shared::templates::store::TemplateStore;
use shared::tenant::{self, Directory};
use shared::webhook::MessagesValue;

use crate::health;
use crate::keywords::Keywords;
use crate::store::{
    ContactLink, ContactStore, FragmentWrite, HealthStore, MessageStore, WebhookLog,
};

pub use inbound::{MAX_EVENT_MESSAGE_BYTES, inbound_text};
pub use record::{MAX_RECORD_BODY_BYTES, digest};
use shared::pseudonym::customer_ref;
pub use status::transition;

const DAY_SECS: u64 = 86_400;
/// Items of one change written at once: enough to hide round trips, few
/// enough not to throttle a table or exhaust the client's connections.
const ITEM_CONCURRENCY: usize = 16;

/// The knobs of applying, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub keywords: Keywords,
    pub inbound_ttl_days: u64,
    pub record_ttl_days: u64,
    pub foreign_message_ttl_days: u64,
    /// `MEDIA_BUCKET` when inbound media is fetched (`MEDIA_QUEUE_URL`):
    /// a media message's record and event name where its file will be,
    /// and a download job is queued (`docs/media.md`).
    pub media_bucket: Option<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            keywords: Keywords::default(),
            inbound_ttl_days: 90,
            record_ttl_days: 30,
            foreign_message_ttl_days: 30,
            media_bucket: None,
        }
    }
}

/// Why a body could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Not a queued webhook at all: a retry cannot help.
    #[error("the body is not a queued webhook: {0}")]
    Malformed(String),
    /// Fragments that do not reassemble: a retry cannot help.
    #[error("fragment group {group}: {reason}")]
    Fragments { group: String, reason: String },
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
}

impl ApplyError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ApplyError::Store { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    fn store(what: impl Into<String>) -> impl FnOnce(StoreError) -> ApplyError {
        let what = what.into();
        move |source| ApplyError::Store { what, source }
    }
}

/// What applying a body did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Events to publish, in the order things happened in the body.
    pub events: Vec<Event>,
    pub statuses: usize,
    pub inbound: usize,
    /// Parts kept as received (other fields, errors, raw bodies).
    pub recorded: usize,
    /// Fragments stored whose group is not complete yet.
    pub fragments_waiting: usize,
    /// Items that failed; the others were applied (and their events kept).
    pub failures: Vec<ApplyError>,
    /// Each status written: its kind (`shared::metrics::status_kind`) and
    /// the lag from Meta's timestamp to the write, ms.
    pub status_lags: Vec<(&'static str, u64)>,
    /// Files to fetch, one per media message recorded (a replay queues
    /// them again; the media function stores each once).
    pub media_jobs: Vec<shared::media::MediaJob>,
}

impl Applied {
    fn merge(&mut self, other: Applied) {
        self.events.extend(other.events);
        self.statuses += other.statuses;
        self.inbound += other.inbound;
        self.recorded += other.recorded;
        self.fragments_waiting += other.fragments_waiting;
        self.failures.extend(other.failures);
        self.status_lags.extend(other.status_lags);
        self.media_jobs.extend(other.media_jobs);
    }
}

/// The status logic over its ports.
#[derive(Clone)]
pub struct Applier<'a> {
    /// Which tenant a change's number belongs to (`shared::tenant`).
    pub directory: &'a Directory,
    /// The tenant of the change being applied (set per change from its
    /// number's binding; the default tenant until then).
    pub tenant: String,
    pub messages: &'a dyn MessageStore,
    pub contacts: &'a dyn ContactStore,
    pub log: &'a dyn WebhookLog,
    pub health: &'a dyn HealthStore,
    /// The template catalogue (`shared::templates`).
    pub templates: &'a dyn TemplateStore,
    pub policy: &'a Policy,
    /// Wall clock for bookkeeping (`updated_at`), Unix milliseconds.
    pub now: u64,
}

impl Applier<'_> {
    /// Applies one queue body. A body that does not parse is an error; an
    /// item inside it that fails is collected in `failures` and the rest go
    /// on.
    pub async fn apply(&self, body: &str) -> Result<Applied, ApplyError> {
        let mut out = Applied::default();
        self.apply_body(body, false, &mut out).await?;
        Ok(out)
    }

    async fn apply_body(
        &self,
        body: &str,
        reassembled: bool,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let queued: QueuedWebhook<Value> =
            serde_json::from_str(body).map_err(|e| ApplyError::Malformed(e.to_string()))?;
        match queued {
            QueuedWebhook::Change {
                app,
                entry_id,
                field,
                received_at,
                entry_time,
                value,
                ..
            } => {
                let app = app.as_deref().unwrap_or(tenant::DEFAULT_APP);
                let Some(scoped) = self
                    .scoped(app, &entry_id, &field, received_at, &value, out)
                    .await?
                else {
                    return Ok(());
                };
                if health::FIELDS.contains(&field.as_str()) {
                    // Ordered by Meta's time of the entry; a webhook without
                    // one is ordered by when it arrived.
                    let at = entry_time.map_or(received_at, |t| t.saturating_mul(1000));
                    return scoped
                        .apply_health(&entry_id, &field, at, &value, out)
                        .await;
                }
                if shared::templates::WEBHOOK_FIELDS.contains(&field.as_str()) {
                    // Ordered by Meta's time, like the health updates.
                    let at = entry_time.map_or(received_at, |t| t.saturating_mul(1000));
                    return scoped
                        .apply_template(&entry_id, &field, at, &value, out)
                        .await;
                }
                scoped
                    .apply_change(&entry_id, &field, received_at, &value, out)
                    .await;
                Ok(())
            }
            QueuedWebhook::Raw {
                app: _,
                received_at,
                reason,
                encoding,
                body,
            } => {
                let encoding = match encoding {
                    Encoding::Utf8 => "utf8",
                    Encoding::Base64 => "base64",
                };
                tracing::warn!(%reason, encoding, bytes = body.len(), "verified body that is not a webhook: recorded");
                let record = self.record(
                    "raw",
                    &[&body],
                    None,
                    None,
                    None,
                    Some(format!("{reason} (body encoding: {encoding})")),
                    body.clone(),
                    received_at,
                );
                self.keep(record, out).await
            }
            QueuedWebhook::Fragment {
                received_at,
                group,
                index,
                count,
                data,
            } => {
                if reassembled {
                    return Err(ApplyError::Fragments {
                        group,
                        reason: "a reassembled body is itself a fragment".into(),
                    });
                }
                if group.is_empty() || group.len() > 256 || count == 0 || index >= count {
                    return Err(ApplyError::Fragments {
                        group,
                        reason: format!("fragment {index} of {count} is not a valid piece"),
                    });
                }
                self.log
                    .put_fragment(&FragmentWrite {
                        group: group.clone(),
                        index,
                        count,
                        data,
                        received_at,
                        expires_at: received_at / 1000 + self.policy.record_ttl_days * DAY_SECS,
                    })
                    .await
                    .map_err(ApplyError::store(format!(
                        "storing fragment {index} of {group}"
                    )))?;
                let stored = self
                    .log
                    .fragments(&group)
                    .await
                    .map_err(ApplyError::store(format!("reading fragments of {group}")))?;
                let mut indexes: Vec<u32> = stored.iter().map(|(i, _)| *i).collect();
                indexes.sort_unstable();
                indexes.dedup();
                if indexes.len() < count as usize {
                    tracing::info!(%group, index, count, stored = indexes.len(), "fragment stored; waiting for the rest");
                    out.fragments_waiting += 1;
                    return Ok(());
                }
                let pieces: Vec<(u32, &str)> =
                    stored.iter().map(|(i, d)| (*i, d.as_str())).collect();
                let whole =
                    intake::reassemble(count, &pieces).map_err(|reason| ApplyError::Fragments {
                        group: group.clone(),
                        reason,
                    })?;
                tracing::info!(%group, count, bytes = whole.len(), "fragment group complete: applying");
                Box::pin(self.apply_body(&whole, true, out)).await
            }
        }
    }

    /// This applier for the tenant whose binding owns the change's number
    /// (or account) through `app`; `None` when none does, after the change
    /// is kept aside with the reason: it is applied to no one's data, and
    /// acknowledged, since a retry would not help.
    async fn scoped(
        &self,
        app: &str,
        entry_id: &str,
        field: &str,
        received_at: u64,
        value: &Value,
        out: &mut Applied,
    ) -> Result<Option<Applier<'_>>, ApplyError> {
        let phone = value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty());
        let binding = match phone {
            Some(phone) => self.directory.binding(phone).await,
            None => self.directory.binding_of_account(entry_id).await,
        }
        .map_err(|e| ApplyError::Store {
            what: "reading the bindings".to_owned(),
            source: StoreError::Unavailable {
                operation: "Query",
                source: Box::new(e),
            },
        })?;
        match tenant::tenant_of_webhook(app, binding.as_ref()) {
            Ok(tenant) => Ok(Some(Applier {
                tenant: tenant.to_owned(),
                ..self.clone()
            })),
            Err(refusal) => {
                let number = phone.unwrap_or(entry_id);
                let reason = refusal.explain(app, number);
                tracing::warn!(
                    app,
                    field,
                    entry_id,
                    phone_number_id = phone,
                    outcome = refusal.reason(),
                    "webhook change for a number not bound through its app: kept aside"
                );
                let record = self.record(
                    refusal.reason(),
                    &[app, field, entry_id, &value.to_string()],
                    Some(field),
                    Some(entry_id),
                    phone,
                    Some(reason),
                    value.to_string(),
                    received_at,
                );
                self.keep(record, out).await?;
                Ok(None)
            }
        }
    }

    async fn apply_change(
        &self,
        entry_id: &str,
        field: &str,
        received_at: u64,
        value: &Value,
        out: &mut Applied,
    ) {
        let mut handled = false;
        if value.get("user_preferences").is_some() {
            handled = true;
            self.apply_preferences(entry_id, field, received_at, value, out)
                .await;
        }
        if field != "messages" {
            if !handled {
                tracing::warn!(field, entry_id, "unknown webhook field recorded");
                let record = self.field_record(field, entry_id, None, value, received_at);
                self.keep_item(record, out).await;
            }
            return;
        }
        let typed = MessagesValue::from_value(value);
        let phone = typed.metadata.phone_number_id.as_str();
        // Every write commutes with the others (that is the point of the
        // data model), so a change's items go concurrently, except that the
        // reports of one message (and the messages of one contact) go in
        // turn: no item is raced against itself. Results are merged in the
        // body's order of groups.
        let typed_ref = &typed;
        let status_groups = groups(typed.statuses.iter(), |s| {
            s.biz_opaque_callback_data
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| s.id.clone())
        });
        let statuses: Vec<Applied> = stream::iter(status_groups.into_iter().map(|group| async move {
            let mut local = Applied::default();
            for status in group {
                if let Err(err) = self
                    .apply_status(entry_id, phone, received_at, typed_ref, status, &mut local)
                    .await
                {
                    tracing::error!(error = %err, wamid = %status.id, status = %status.status, "status not applied");
                    local.failures.push(err);
                }
            }
            local
        }))
        .buffered(ITEM_CONCURRENCY)
        .collect()
        .await;
        let raw_messages = value.get("messages").and_then(Value::as_array);
        let inbound_groups = groups(typed.messages.iter().enumerate(), |(_, m)| {
            m.sender(typed_ref).primary().unwrap_or_default().to_owned()
        });
        let inbound: Vec<Applied> = stream::iter(inbound_groups.into_iter().map(|group| async move {
            let mut local = Applied::default();
            for (i, message) in group {
                let raw = raw_messages.and_then(|m| m.get(i));
                if let Err(err) = self
                    .apply_inbound(entry_id, phone, received_at, typed_ref, message, raw, &mut local)
                    .await
                {
                    tracing::error!(error = %err, wamid = %message.id, "inbound message not applied");
                    local.failures.push(err);
                }
            }
            local
        }))
        .buffered(ITEM_CONCURRENCY)
        .collect()
        .await;
        for part in statuses.into_iter().chain(inbound) {
            out.merge(part);
        }
        if !typed.errors.is_empty() {
            let errors = value.get("errors").cloned().unwrap_or(Value::Null);
            tracing::error!(entry_id, phone_number_id = %phone, errors = %errors, "webhook reports errors: recorded");
            let record = self.record(
                "errors",
                &[entry_id, phone, &errors.to_string()],
                Some(field),
                Some(entry_id),
                Some(phone),
                Some("change-level errors from Meta".into()),
                errors.to_string(),
                received_at,
            );
            self.keep_item(record, out).await;
        }
        const KNOWN: &[&str] = &[
            "messaging_product",
            "metadata",
            "contacts",
            "messages",
            "statuses",
            "errors",
            "user_preferences",
        ];
        let unknown: Vec<&str> = typed
            .extra
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN.contains(k))
            .collect();
        let empty = typed.statuses.is_empty()
            && typed.messages.is_empty()
            && typed.errors.is_empty()
            && !handled;
        if !unknown.is_empty() || empty {
            let reason = if unknown.is_empty() {
                "a messages change with no statuses, messages or errors".to_owned()
            } else {
                format!("keys Chasqui does not apply: {}", unknown.join(", "))
            };
            tracing::warn!(entry_id, %reason, "messages change recorded");
            let record = self.record(
                "field",
                &[field, entry_id, &value.to_string()],
                Some(field),
                Some(entry_id),
                Some(phone),
                Some(reason),
                value.to_string(),
                received_at,
            );
            self.keep_item(record, out).await;
        }
    }

    /// Links a customer's phone and BSUID items both ways, when a webhook
    /// names both.
    async fn link_customer(
        &self,
        phone: &str,
        ids: &CustomerIds,
        at: u64,
    ) -> Result<(), ApplyError> {
        if let (Some(wa_id), Some(user_id)) = (&ids.wa_id, &ids.user_id) {
            self.link(phone, wa_id, contact_attr::USER_ID, user_id, at, true)
                .await?;
            self.link(phone, user_id, contact_attr::WA_ID, wa_id, at, true)
                .await?;
        }
        Ok(())
    }

    /// Sets `attribute` to `value` on the contact item of `id`
    /// ([`ContactLink`] says what `ordered` means).
    async fn link(
        &self,
        phone: &str,
        id: &str,
        attribute: &'static str,
        value: &str,
        at: u64,
        ordered: bool,
    ) -> Result<(), ApplyError> {
        self.contacts
            .link(&ContactLink {
                tenant: self.tenant.clone(),
                phone_number_id: phone.to_owned(),
                customer_id: id.to_owned(),
                attribute,
                value: value.to_owned(),
                at,
                ordered,
                now: self.now,
            })
            .await
            .map_err(ApplyError::store(format!(
                "linking contact {} ({attribute})",
                customer_ref(&self.tenant, phone, id)
            )))?;
        Ok(())
    }

    /// Yields an event, of the tenant being applied.
    fn emit(&self, out: &mut Applied, event: Event) {
        out.events.push(event.of_tenant(&self.tenant));
    }
}

/// Items grouped by `key`, groups in order of first appearance, items in
/// their order within a group.
fn groups<T>(items: impl Iterator<Item = T>, key: impl Fn(&T) -> String) -> Vec<Vec<T>> {
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out: Vec<Vec<T>> = Vec::new();
    for item in items {
        let k = key(&item);
        match index.get(&k) {
            Some(&i) => out[i].push(item),
            None => {
                index.insert(k, out.len());
                out.push(vec![item]);
            }
        }
    }
    out
}

/// Meta's seconds as Chasqui's milliseconds; nothing for a missing or
/// non-positive time.
fn millis(seconds: Option<i64>) -> Option<u64> {
    seconds
        .filter(|s| *s > 0)
        .and_then(|s| (s as u64).checked_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_first_appearance_order() {
        let g = groups(["a1", "b1", "a2", "c1", "b2"].into_iter(), |s| {
            s[..1].to_owned()
        });
        assert_eq!(g, vec![vec!["a1", "a2"], vec!["b1", "b2"], vec!["c1"]]);
    }

    #[test]
    fn seconds_become_milliseconds() {
        assert_eq!(millis(Some(1_730_000_001)), Some(1_730_000_001_000));
        assert_eq!(millis(Some(0)), None);
        assert_eq!(millis(Some(-5)), None);
        assert_eq!(millis(None), None);
        assert_eq!(millis(Some(i64::MAX)), None);
    }
}
