//! Inbound messages: kept, linked to their contact, checked for opt keywords.

use serde_json::Value;
use shared::events::{self, Event, OptSource};
use shared::media::{MediaInfo, MediaJob, state as media_state};
use shared::table::attr::contact as contact_attr;
use shared::webhook::{InboundMessage, MessagesValue};

use crate::keywords::Opt;
use crate::store::{ContactTouch, InboundWrite};

use super::record::digest;
use super::{Applied, Applier, ApplyError, DAY_SECS, millis};
use shared::pseudonym::customer_ref;

/// Longest inbound message object an event carries whole.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 200_000;

impl Applier<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_inbound(
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
        let parent_user_id = contact
            .and_then(|c| c.parent_user_id.clone())
            .or_else(|| message.from_parent_user_id.clone())
            .filter(|v| !v.is_empty());
        let text = inbound_text(message, raw);
        let media = self.media_of(message, &id, phone, &from, at, &ids);
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
                media: media.as_ref().map(|(info, _)| info.clone()),
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
                parent_user_id,
                at,
                wamid: id.clone(),
                now: self.now,
            })
            .await
            .map_err(ApplyError::store(format!(
                "updating the window of contact {}",
                customer_ref(&self.tenant, phone, &from)
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
            tracing::info!(wamid = %id, old = %customer_ref(&self.tenant, phone, &old), new = %customer_ref(&self.tenant, phone, &new), "customer's BSUID changed: items linked");
        }
        out.inbound += 1;
        tracing::info!(contact = %customer_ref(&self.tenant, phone, &from), wamid = %id, kind = %message.kind, created, window_moved = moved, "inbound message");
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
                    media: media.as_ref().map(|(info, _)| info.clone()),
                },
            ),
        );
        if let Some((_, job)) = media {
            out.media_jobs.push(job);
        }
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
}

impl Applier<'_> {
    /// The file of a media message, when inbound media is fetched: where it
    /// will be kept (`pending`) and the job that fetches it.
    fn media_of(
        &self,
        message: &InboundMessage,
        inbound_id: &str,
        phone: &str,
        customer_id: &str,
        at: u64,
        ids: &shared::customer::CustomerIds,
    ) -> Option<(MediaInfo, MediaJob)> {
        let bucket = self.policy.media_bucket.as_ref()?;
        let media = message.media()?;
        let media_id = media.id.clone().filter(|id| !id.is_empty())?;
        let job = MediaJob {
            tenant: self.tenant.clone(),
            phone_number_id: phone.to_owned(),
            customer_id: customer_id.to_owned(),
            inbound_id: inbound_id.to_owned(),
            at,
            kind: message.kind.clone(),
            media_id: media_id.clone(),
            mime_type: media.mime_type.clone(),
            sha256: media.sha256.clone(),
            from: ids.wa_id.clone(),
            from_user_id: ids.user_id.clone(),
        };
        let info = MediaInfo {
            state: media_state::PENDING.to_owned(),
            media_id,
            bucket: bucket.clone(),
            key: job.key(),
            content_type: media.mime_type.clone(),
            sha256: media.sha256.clone(),
            ..MediaInfo::default()
        };
        Some((info, job))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
