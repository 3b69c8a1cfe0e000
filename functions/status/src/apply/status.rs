//! Status reports of sent messages: the message's times, its pricing and
//! conversation, and the event of its transition.

use shared::customer::CustomerIds;
use shared::events::{self, Event, OptSource, RecipientIds};
use shared::record::{ConversationRecord, ErrorRecord, PricingRecord, StatusTimes};
use shared::table;
use shared::table::attr::message as attr;
use shared::webhook::{MessagesValue, StatusKind, StatusUpdate};

use crate::store::{MessageRef, StatusWrite};

use super::{Applied, Applier, ApplyError, DAY_SECS, millis};

/// DynamoDB partition keys hold 2,048 bytes; Meta's callback data is at
/// most 512 characters, but not necessarily ASCII.
const MAX_CALLBACK_BYTES: usize = 1_024;

impl Applier<'_> {
    pub(super) async fn apply_status(
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
        out.status_lags.push((
            shared::metrics::status_kind(&kind),
            shared::now_millis().saturating_sub(at),
        ));
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
}
