//! What one queued webhook body does to the table, and the events it
//! yields. Every write is idempotent, so applying a body twice (a retry, a
//! replay by Meta) changes nothing the second time and yields the same
//! events with the same ids.

use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::contact::{OptOutcome, OptWrite};
use shared::customer::CustomerIds;
use shared::events::{self, Event, OptChange, OptSource, RecipientIds};
use shared::intake::{self, Encoding, QueuedWebhook};
use shared::record::{ConversationRecord, ErrorRecord, PricingRecord, StatusTimes};
use shared::store::StoreError;
use shared::table;
use shared::table::attr::contact as contact_attr;
use shared::table::attr::health as health_attr;
use shared::table::attr::message as attr;
use shared::tenant::{self, Directory};
use shared::webhook::{InboundMessage, MessagesValue, StatusKind, StatusUpdate};

use crate::health;
use crate::keywords::{Keywords, Opt};
use crate::store::{
    ContactLink, ContactStore, ContactTouch, FragmentWrite, HealthOutcome, HealthStore,
    InboundWrite, MessageRef, MessageStore, StatusWrite, WebhookLog, WebhookRecord,
};

const DAY_SECS: u64 = 86_400;
/// Longest body kept in a webhook record (DynamoDB items hold 400 KB).
pub const MAX_RECORD_BODY_BYTES: usize = 300_000;
/// Longest inbound message object an event carries whole.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 200_000;
/// DynamoDB partition keys hold 2,048 bytes; Meta's callback data is at
/// most 512 characters, but not necessarily ASCII.
const MAX_CALLBACK_BYTES: usize = 1_024;
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
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            keywords: Keywords::default(),
            inbound_ttl_days: 90,
            record_ttl_days: 30,
            foreign_message_ttl_days: 30,
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
    pub fn retryable(&self) -> bool {
        match self {
            ApplyError::Store { source, .. } => source.retryable(),
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
}

impl Applied {
    fn merge(&mut self, other: Applied) {
        self.events.extend(other.events);
        self.statuses += other.statuses;
        self.inbound += other.inbound;
        self.recorded += other.recorded;
        self.fragments_waiting += other.fragments_waiting;
        self.failures.extend(other.failures);
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
                reason: e.to_string(),
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
                match field {
                    "message_template_status_update" => {
                        tracing::info!(field, entry_id, "webhook field recorded")
                    }
                    _ => tracing::warn!(field, entry_id, "unknown webhook field recorded"),
                }
                let record = self.record(
                    "field",
                    &[field, entry_id, &value.to_string()],
                    Some(field),
                    Some(entry_id),
                    None,
                    None,
                    value.to_string(),
                    received_at,
                );
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

    async fn apply_status(
        &self,
        entry_id: &str,
        phone: &str,
        received_at: u64,
        value: &MessagesValue,
        status: &StatusUpdate,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let at = millis(status.timestamp).unwrap_or(received_at);
        let kind = status.kind();
        let wamid = Some(status.id.clone()).filter(|w| !w.is_empty());
        let callback = status
            .biz_opaque_callback_data
            .clone()
            .filter(|c| !c.is_empty());
        let callback = match callback {
            Some(c) if c.len() > MAX_CALLBACK_BYTES => {
                tracing::warn!(
                    bytes = c.len(),
                    "biz_opaque_callback_data too long for a key: correlating by wamid"
                );
                None
            }
            other => other,
        };
        let message = match (&callback, &wamid) {
            (Some(id), _) => MessageRef::Sent(id.clone()),
            (None, Some(w)) => match self
                .messages
                .find_by_wamid(&self.tenant, w)
                .await
                .map_err(ApplyError::store(format!("finding the message of {w}")))?
            {
                Some(id) => MessageRef::Sent(id),
                None => MessageRef::Foreign(w.clone()),
            },
            (None, None) => {
                tracing::warn!(status = %status.status, "a status with neither biz_opaque_callback_data nor id: recorded");
                let body = serde_json::to_string(status).unwrap_or_default();
                let record = self.record(
                    "status",
                    &[phone, &body],
                    Some("messages"),
                    Some(entry_id),
                    Some(phone),
                    Some("a status with neither biz_opaque_callback_data nor id".into()),
                    body.clone(),
                    received_at,
                );
                return self.keep(record, out).await;
            }
        };
        let (mut message_id, foreign) = match &message {
            MessageRef::Sent(id) => (Some(id.clone()), false),
            MessageRef::Foreign(_) => (None, true),
        };
        // How logs and, without a wamid, event ids have always named the
        // message: its item key.
        let pk = match &message {
            MessageRef::Sent(id) => table::message_pk(&self.tenant, id),
            MessageRef::Foreign(w) => table::foreign_message_pk(&self.tenant, w),
        };
        let slots: Vec<&'static str> = match &kind {
            StatusKind::Sent => vec![attr::SENT_AT],
            StatusKind::Delivered => vec![attr::DELIVERED_AT],
            StatusKind::Read => vec![attr::READ_AT],
            // Playing a voice message implies reading it.
            StatusKind::Played => vec![attr::PLAYED_AT, attr::READ_AT],
            StatusKind::Failed => vec![attr::FAILED_AT],
            StatusKind::Other(_) => Vec::new(),
        };
        let errors: Vec<ErrorRecord> = status
            .errors
            .iter()
            .map(|e| ErrorRecord {
                code: e.code,
                title: e.title.clone(),
                message: e.message.clone(),
                details: e.details().map(str::to_owned),
                class: None,
                source: Some("webhook".into()),
                reason: shared::cloud_api::failure_reason(e.code).map(str::to_owned),
            })
            .collect();
        let conversation = status.conversation.as_ref().map(|c| ConversationRecord {
            id: Some(c.id.clone()).filter(|v| !v.is_empty()),
            expires_at: millis(c.expiration_timestamp),
            origin: c
                .origin
                .as_ref()
                .map(|o| o.kind.clone())
                .filter(|v| !v.is_empty()),
        });
        let pricing = status.pricing.as_ref().map(|p| PricingRecord {
            billable: p.billable,
            pricing_model: p.pricing_model.clone(),
            category: p.category.clone(),
            kind: p.kind.clone(),
        });
        let recipient = Some(status.recipient_id.clone()).filter(|r| !r.is_empty());
        let group = status.recipient_type.as_deref() == Some("group");
        // The customer a status is about: for a group message, none (the
        // recipient is the group).
        let customer = if group {
            CustomerIds::default()
        } else {
            CustomerIds::new(recipient.as_deref(), status.recipient_user_id.as_deref())
        };
        let recipient_ids = RecipientIds {
            recipient_user_id: status.recipient_user_id.clone(),
            recipient_parent_user_id: status.recipient_parent_user_id.clone(),
            recipient_type: status.recipient_type.clone(),
            recipient_participant_id: status.recipient_participant_id.clone(),
            username: value
                .contact_of(&customer)
                .and_then(|c| c.profile.username.clone()),
        };
        let write = StatusWrite {
            tenant: self.tenant.clone(),
            message: message.clone(),
            message_id: message_id.clone(),
            slots: slots.clone(),
            at,
            other_status: matches!(kind, StatusKind::Other(_))
                .then(|| format!("{}@{at}", status.status)),
            wamid: wamid.clone(),
            recipient: recipient.clone(),
            recipient_ids: recipient_ids.clone(),
            phone_number_id: Some(phone.to_owned()).filter(|p| !p.is_empty()),
            conversation: conversation.clone(),
            pricing: pricing.clone(),
            errors: if kind == StatusKind::Failed {
                errors.clone()
            } else {
                Vec::new()
            },
            expires_at: foreign
                .then(|| at / 1000 + self.policy.foreign_message_ttl_days * DAY_SECS),
            now: self.now,
        };
        let old = self
            .messages
            .apply_status(&write)
            .await
            .map_err(ApplyError::store(format!(
                "applying {} to {pk}",
                status.status
            )))?;
        out.statuses += 1;
        let old_times = old.as_ref().map(|r| r.times).unwrap_or_default();
        // The earliest report of a slot wins whatever the arrival order: a
        // later-arriving earlier time corrects the slot (rare: one more write).
        for slot in &slots {
            if old_times.slot(slot).is_some_and(|held| held > at) {
                self.messages
                    .lower_slot(&self.tenant, &message, slot, at)
                    .await
                    .map_err(ApplyError::store(format!("correcting {slot} of {pk}")))?;
            }
        }
        if message_id.is_none() {
            message_id = old.as_ref().and_then(|r| r.message_id.clone());
        }
        let (before, after) = transition(&old_times, &slots, at);
        // A report whose slot already holds an earlier time adds nothing.
        let first_of_its_kind = slots
            .first()
            .is_none_or(|slot| old_times.slot(slot).is_none_or(|held| held >= at));
        if first_of_its_kind {
            let subject = wamid.clone().unwrap_or_else(|| pk.clone());
            self.emit(
                out,
                Event::status_changed(
                    &subject,
                    at,
                    events::StatusChanged {
                        message_id: message_id.clone(),
                        wamid: wamid.clone(),
                        phone_number_id: Some(phone.to_owned()).filter(|p| !p.is_empty()),
                        recipient: recipient.clone(),
                        recipient_ids,
                        status: status.status.clone(),
                        old_status: before.status(),
                        new_status: after.status(),
                        error: errors.first().cloned(),
                        errors: errors.clone(),
                        conversation,
                        pricing,
                        metadata: old.as_ref().and_then(|r| r.metadata.clone()),
                    },
                ),
            );
        } else {
            tracing::info!(%pk, status = %status.status, at, "a later duplicate of a status already recorded earlier");
        }
        if kind == StatusKind::Failed && errors.iter().any(|e| e.code == Some(131_050)) {
            match (phone.is_empty(), customer.is_empty()) {
                (false, false) => {
                    let signal = message_id.clone().or(wamid.clone()).unwrap_or(pk.clone());
                    self.link_customer(phone, &customer, at).await?;
                    self.opt(
                        phone,
                        &customer,
                        true,
                        at,
                        OptSource::Error131050,
                        Some(signal.clone()),
                        &signal,
                        None,
                        out,
                    )
                    .await?;
                }
                _ => {
                    tracing::warn!(%pk, "131050 without phone_number_id or an individual recipient: contact not opted out")
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_inbound(
        &self,
        entry_id: &str,
        phone: &str,
        received_at: u64,
        value: &MessagesValue,
        message: &InboundMessage,
        raw: Option<&Value>,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
        let json = match raw {
            Some(raw) => raw.to_string(),
            None => serde_json::to_string(message).unwrap_or_default(),
        };
        let ids = message.sender(value);
        let (Some(from), false) = (ids.primary().map(str::to_owned), phone.is_empty()) else {
            let reason = "an inbound message without a sender or business phone_number_id";
            tracing::warn!(entry_id, reason, "inbound message recorded");
            let record = self.record(
                "inbound",
                &[phone, &json],
                Some("messages"),
                Some(entry_id),
                Some(phone),
                Some(reason.into()),
                json.clone(),
                received_at,
            );
            return self.keep(record, out).await;
        };
        let wamid = Some(message.id.clone()).filter(|w| !w.is_empty());
        // Without an id, the content names the message so a replay still
        // lands on the same item.
        let id = wamid
            .clone()
            .unwrap_or_else(|| format!("nowamid-{}", digest(&[phone, &from, &json])));
        let at = millis(message.timestamp).unwrap_or(received_at);
        let contact = value.contact_of(&ids);
        let profile_name = contact.and_then(|c| c.profile.name.clone());
        let username = contact.and_then(|c| c.profile.username.clone());
        let text = inbound_text(message, raw);
        let created = self
            .contacts
            .put_inbound(&InboundWrite {
                tenant: self.tenant.clone(),
                phone_number_id: phone.to_owned(),
                customer_id: from.clone(),
                inbound_id: id.clone(),
                ids: ids.clone(),
                username: username.clone(),
                wamid: wamid.clone(),
                kind: message.kind.clone(),
                text: text.clone(),
                profile_name: profile_name.clone(),
                message: json.clone(),
                at,
                webhook_received_at: received_at,
                expires_at: at / 1000 + self.policy.inbound_ttl_days * DAY_SECS,
            })
            .await
            .map_err(ApplyError::store(format!("storing inbound {id}")))?;
        let moved = self
            .contacts
            .touch(&ContactTouch {
                tenant: self.tenant.clone(),
                phone_number_id: phone.to_owned(),
                customer_id: from.clone(),
                ids: ids.clone(),
                profile_name: profile_name.clone(),
                username: username.clone(),
                at,
                wamid: id.clone(),
                now: self.now,
            })
            .await
            .map_err(ApplyError::store(format!(
                "updating the window of contact {}",
                contact_ref(&self.tenant, phone, &from)
            )))?;
        // The window write linked the primary item to the phone; the phone
        // item learns its BSUID here, and an older message (no window
        // write) still links the primary item.
        if let (Some(wa_id), Some(user_id)) = (&ids.wa_id, &ids.user_id) {
            self.link(phone, wa_id, contact_attr::USER_ID, user_id, at, true)
                .await?;
            if !moved {
                self.link(phone, user_id, contact_attr::WA_ID, wa_id, at, true)
                    .await?;
            }
        }
        if let Some((old, new)) = message
            .system
            .as_ref()
            .and_then(|s| s.user_id_change(message))
        {
            // Both directions, so a read by either id finds the other and
            // the opt decision and history stay found under the new id.
            self.link(phone, &old, contact_attr::REPLACED_BY, &new, at, false)
                .await?;
            self.link(phone, &new, contact_attr::PREVIOUS_USER_ID, &old, at, false)
                .await?;
            tracing::info!(wamid = %id, old = %contact_ref(&self.tenant, phone, &old), new = %contact_ref(&self.tenant, phone, &new), "customer's BSUID changed: items linked");
        }
        out.inbound += 1;
        tracing::info!(contact = %contact_ref(&self.tenant, phone, &from), wamid = %id, kind = %message.kind, created, window_moved = moved, "inbound message");
        let (message_value, truncated) = if json.len() > MAX_EVENT_MESSAGE_BYTES {
            (Value::Null, true)
        } else {
            (
                raw.cloned()
                    .unwrap_or_else(|| serde_json::to_value(message).unwrap_or(Value::Null)),
                false,
            )
        };
        self.emit(
            out,
            Event::inbound(
                at,
                events::Inbound {
                    phone_number_id: phone.to_owned(),
                    wamid: id.clone(),
                    from: ids.wa_id.clone().unwrap_or_default(),
                    from_user_id: ids.user_id.clone(),
                    username,
                    profile_name,
                    kind: message.kind.clone(),
                    text,
                    reply_to: message
                        .context
                        .as_ref()
                        .and_then(|c| c.id.clone())
                        .or_else(|| message.reaction.as_ref().and_then(|r| r.message_id.clone())),
                    message: message_value,
                    message_truncated: truncated,
                },
            ),
        );
        let keyword = keyword_candidates(message)
            .into_iter()
            .find_map(|text| self.policy.keywords.classify(text));
        if let Some((opt, keyword)) = keyword {
            self.opt(
                phone,
                &ids,
                opt == Opt::Out,
                at,
                OptSource::Keyword,
                Some(id.clone()),
                &id,
                Some(keyword),
                out,
            )
            .await?;
        }
        Ok(())
    }

    /// An account or number update: kept per account and number (newest
    /// of each kind wins), told upstream, and logged as an alert when a
    /// person must act. A failed write fails the record (it is retried).
    async fn apply_health(
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
            let record = self.record(
                "field",
                &[field, entry_id, &value.to_string()],
                Some(field),
                Some(entry_id),
                None,
                Some(reason.into()),
                value.to_string(),
                at,
            );
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

    /// Meta's `user_preferences` webhook: marketing messages stopped or
    /// resumed by the person in WhatsApp itself.
    async fn apply_preferences(
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
    async fn opt(
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
                contact_ref(&self.tenant, phone, id)
            )))?;
        tracing::info!(contact = %contact_ref(&self.tenant, phone, id), opted_out, source = source.as_str(), ?outcome, "opt signal");
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
                contact_ref(&self.tenant, phone, id)
            )))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        kind: &'static str,
        identity: &[&str],
        field: Option<&str>,
        entry_id: Option<&str>,
        phone: Option<&str>,
        reason: Option<String>,
        body: String,
        received_at: u64,
    ) -> WebhookRecord {
        let mut parts = vec![kind];
        parts.extend_from_slice(identity);
        let digest = digest(&parts);
        let (body, reason) = if body.len() > MAX_RECORD_BODY_BYTES {
            let mut cut = MAX_RECORD_BODY_BYTES;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            let note = format!(
                "body cut to {cut} of {} bytes; the full body is in the table's fragments or the logs",
                body.len()
            );
            (
                body[..cut].to_owned(),
                Some(match reason {
                    Some(r) => format!("{r}; {note}"),
                    None => note,
                }),
            )
        } else {
            (body, reason)
        };
        WebhookRecord {
            tenant: self.tenant.clone(),
            kind,
            digest,
            field: field.map(str::to_owned),
            entry_id: entry_id.map(str::to_owned).filter(|e| !e.is_empty()),
            phone_number_id: phone.map(str::to_owned).filter(|p| !p.is_empty()),
            reason,
            body,
            received_at,
            expires_at: received_at / 1000 + self.policy.record_ttl_days * DAY_SECS,
        }
    }

    async fn keep(&self, record: WebhookRecord, out: &mut Applied) -> Result<(), ApplyError> {
        let kind = record.kind;
        let created = self
            .log
            .record(&record)
            .await
            .map_err(ApplyError::store(format!(
                "recording a {kind} webhook part"
            )))?;
        tracing::info!(kind, digest = %record.digest, created, "webhook part recorded");
        out.recorded += 1;
        Ok(())
    }

    /// Yields an event, of the tenant being applied.
    fn emit(&self, out: &mut Applied, event: Event) {
        out.events.push(event.of_tenant(&self.tenant));
    }

    /// `keep` for one item among others: a failure is collected, not returned.
    async fn keep_item(&self, record: WebhookRecord, out: &mut Applied) {
        if let Err(err) = self.keep(record, out).await {
            tracing::error!(error = %err, "webhook part not recorded");
            out.failures.push(err);
        }
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

/// The derived status before and after a report that fills `slots` at
/// `at`. "Before" leaves out this report's own time, so a replay yields the
/// transition the first delivery did (and so the same event).
pub fn transition(old: &StatusTimes, slots: &[&str], at: u64) -> (StatusTimes, StatusTimes) {
    let mut before = *old;
    let mut after = *old;
    for slot in slots {
        if let Some(held) = before.slot_mut(slot)
            && *held == Some(at)
        {
            *held = None;
        }
        if let Some(held) = after.slot_mut(slot) {
            *held = Some(held.map_or(at, |h| h.min(at)));
        }
    }
    (before, after)
}

/// What the person typed or tapped: a text body, a button, an interactive
/// reply's title, a caption, an order's note.
pub fn inbound_text(message: &InboundMessage, raw: Option<&Value>) -> Option<String> {
    message
        .text_content()
        .map(str::to_owned)
        .or_else(|| {
            raw.and_then(|r| r.pointer("/order/text"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
}

/// The texts that may be an opt keyword: typed text, a quick-reply button's
/// text and payload, an interactive reply's title and id. Captions and
/// reactions are not requests.
fn keyword_candidates(message: &InboundMessage) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some(body) = message.text.as_ref().and_then(|t| t.body.as_deref()) {
        out.push(body);
    }
    if let Some(button) = &message.button {
        out.extend(button.text.as_deref());
        out.extend(button.payload.as_deref());
    }
    if let Some(reply) = message.interactive.as_ref().and_then(|i| i.reply()) {
        out.extend(reply.title.as_deref());
        out.extend(reply.id.as_deref());
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

/// A contact as logs name it: a digest of its partition key, never the
/// phone or BSUID the key holds.
pub fn contact_ref(tenant: &str, phone_number_id: &str, customer_id: &str) -> String {
    digest(&[
        "contact",
        &table::contact_pk(tenant, phone_number_id, customer_id),
    ])[..16]
        .to_owned()
}

/// 128 bits of SHA-256 over the parts, as hex.
pub fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update([0x1f]);
        }
        hash.update(part.as_bytes());
    }
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::record::Status;

    fn times(f: impl Fn(&mut StatusTimes)) -> StatusTimes {
        let mut t = StatusTimes::default();
        f(&mut t);
        t
    }

    #[test]
    fn a_replay_reports_the_transition_of_the_first_delivery() {
        // First delivery of delivered@5 onto a sent message.
        let old = times(|t| t.sent_at = Some(1));
        let (b, a) = transition(&old, &[attr::DELIVERED_AT], 5);
        assert_eq!((b.status(), a.status()), (Status::Sent, Status::Delivered));
        // The replay finds its own time already there and reports the same.
        let old = times(|t| {
            t.sent_at = Some(1);
            t.delivered_at = Some(5)
        });
        let (b, a) = transition(&old, &[attr::DELIVERED_AT], 5);
        assert_eq!((b.status(), a.status()), (Status::Sent, Status::Delivered));
    }

    #[test]
    fn late_and_terminal_reports_do_not_move_the_status() {
        let read = times(|t| t.read_at = Some(9));
        let (b, a) = transition(&read, &[attr::DELIVERED_AT], 5);
        assert_eq!((b.status(), a.status()), (Status::Read, Status::Read));
        assert_eq!(a.delivered_at, Some(5), "its own time is still recorded");

        let failed = times(|t| t.failed_at = Some(3));
        let (b, a) = transition(&failed, &[attr::PLAYED_AT, attr::READ_AT], 7);
        assert_eq!((b.status(), a.status()), (Status::Failed, Status::Failed));
        assert_eq!((a.read_at, a.played_at), (Some(7), Some(7)));

        // An earlier time of the same slot wins.
        let (_, a) = transition(&times(|t| t.read_at = Some(9)), &[attr::READ_AT], 4);
        assert_eq!(a.read_at, Some(4));
    }

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

    #[test]
    fn keyword_candidates_skip_captions() {
        let m: InboundMessage = serde_json::from_value(serde_json::json!({
            "type": "image", "image": {"id": "1", "caption": "STOP"}
        }))
        .unwrap();
        assert!(keyword_candidates(&m).is_empty());
        assert_eq!(inbound_text(&m, None).as_deref(), Some("STOP"));
        let m: InboundMessage = serde_json::from_value(serde_json::json!({
            "type": "button", "button": {"text": "Stop promotions", "payload": "p"}
        }))
        .unwrap();
        assert_eq!(keyword_candidates(&m), ["Stop promotions", "p"]);
    }
}
