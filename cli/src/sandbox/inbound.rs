//! A customer writes: the inbound message webhook, delivered at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::header;

use super::config;
use super::delivery::deliver;
use super::webhooks::{self, Inbound};
use super::{DEFAULT_PHONE_NUMBER_ID, InboundReceipt, Inner, SandboxError, Webhook};

pub(super) async fn inbound_message(
    inner: &Arc<Inner>,
    inbound: Inbound,
) -> Result<InboundReceipt, SandboxError> {
    let from = config::digits(&inbound.from);
    if inbound.from.is_empty() {
        // A username customer: no phone, so their BSUID must be given.
        if inbound.user_id.is_none() {
            return Err(SandboxError::Invalid(
                "give from (the customer's number) or user_id (a username customer's BSUID)".into(),
            ));
        }
    } else if from.len() < 7 || from.len() > 15 || from.starts_with('0') {
        return Err(SandboxError::Invalid(format!(
            "from: {:?} is not an international number (e.g. +5511988887777)",
            inbound.from
        )));
    }
    if let Some(user_id) = &inbound.user_id {
        shared::customer::check_user_id(user_id)
            .map_err(|reason| SandboxError::Invalid(format!("user_id: {user_id:?} {reason}")))?;
    }
    let user_id = inbound.customer_user_id();
    let given = [
        inbound.text.is_some(),
        inbound.button.is_some(),
        inbound.interactive.is_some(),
        inbound.media.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(SandboxError::Invalid(
            "give exactly one of text, button, interactive or media".into(),
        ));
    }
    if let Some(m) = &inbound.media
        && shared::media::Kind::parse(&m.kind).is_none()
    {
        return Err(SandboxError::Invalid(format!(
            "media.kind: {:?} is not image, audio, video, document or sticker",
            m.kind
        )));
    }
    if inbound.text.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(SandboxError::Invalid("text is empty".into()));
    }
    let now_ms = shared::now_millis();
    let (wamid, body, app, destination) = {
        let mut state = inner.state();
        state.seq += 1;
        let (seq, noise) = (state.seq, state.rng.u32(..));
        let wamid = format!("wamid.SBXIN{}{seq:08X}{noise:08X}", inner.boot);
        let pnid = inbound
            .phone_number_id
            .clone()
            .or_else(|| state.config.phone_number_ids.first().cloned())
            .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_owned());
        let payload =
            webhooks::inbound_payload(&state.config, &pnid, &inbound, &wamid, now_ms / 1000);
        let body = webhooks::encode(&payload, state.config.meta_escaping);
        // The window opens for the customer by either id a send may use.
        for key in [&from, &user_id] {
            if key.is_empty() {
                continue;
            }
            let previous = state.windows.get(key).copied().unwrap_or(0);
            state.windows.insert(key.clone(), previous.max(now_ms));
        }
        state.inbound_ids.insert(wamid.clone());
        let app = state.config.app_of(&pnid).map(|a| a.name.clone());
        let destination = state.config.destination(app.as_deref());
        (wamid, body, app, destination)
    };
    inner.stats.scheduled.fetch_add(1, Ordering::SeqCst);
    inner.stats.pending.fetch_add(1, Ordering::SeqCst);
    // One attempt now, so the caller learns the outcome; retries go on in
    // the background.
    let first = match &destination {
        None => None,
        Some((url, secret)) => inner
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                shared::signature::HEADER,
                shared::signature::sign(&body, secret.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16()),
    };
    let delivered = first == Some(200);
    if delivered {
        inner.stats.delivered.fetch_add(1, Ordering::SeqCst);
        inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
    } else {
        if destination.is_some() {
            inner.stats.retried.fetch_add(1, Ordering::SeqCst);
        }
        let inner = inner.clone();
        tokio::spawn(async move { deliver(&inner, Webhook { app, body }).await });
    }
    tracing::info!(target: "sandbox", wamid = wamid.as_str(), webhook_status = first, "inbound message");
    Ok(InboundReceipt {
        wamid,
        webhook_status: first,
        delivered,
    })
}
