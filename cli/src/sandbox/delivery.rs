//! Webhook delivery: signed posts, retried until answered 200.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::header;

use super::{Inner, Webhook};

pub(super) fn schedule(inner: &Arc<Inner>, delay: Duration, webhook: Webhook) {
    inner.stats.scheduled.fetch_add(1, Ordering::SeqCst);
    inner.stats.pending.fetch_add(1, Ordering::SeqCst);
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut stop = inner.stop.subscribe();
        let due = tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(|s| *s) => false,
        };
        if due {
            deliver(&inner, webhook).await;
        }
    });
}

/// Posts one webhook until it is answered 200 or its attempts run out.
/// Without a webhook URL it is held until one is configured.
pub(super) async fn deliver(inner: &Arc<Inner>, webhook: Webhook) {
    let mut stop = inner.stop.subscribe();
    let Ok(_permit) = inner.gate.acquire().await else {
        return;
    };
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (url, secret, attempts, retry_ms) = {
            let mut state = inner.state();
            match state.config.destination(webhook.app.as_deref()) {
                Some((url, secret)) => (
                    url,
                    secret,
                    state.config.webhook_attempts,
                    state.config.webhook_retry_ms,
                ),
                None => {
                    state.held.push(webhook);
                    return;
                }
            }
        };
        let body = &webhook.body;
        let signature = shared::signature::sign(body, secret.as_bytes());
        let result = inner
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(shared::signature::HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        let failure = match result {
            Ok(resp) if resp.status() == reqwest::StatusCode::OK => None,
            Ok(resp) => Some(format!("HTTP {}", resp.status().as_u16())),
            Err(e) => Some(e.to_string()),
        };
        let Some(failure) = failure else {
            inner.stats.delivered.fetch_add(1, Ordering::SeqCst);
            inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        if attempt >= attempts {
            tracing::warn!(target: "sandbox", url, attempt, error = failure, "webhook given up");
            inner.stats.given_up.fetch_add(1, Ordering::SeqCst);
            inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        inner.stats.retried.fetch_add(1, Ordering::SeqCst);
        let backoff = Duration::from_millis(retry_ms.saturating_mul(1 << (attempt - 1).min(16)))
            .min(Duration::from_secs(30));
        tracing::debug!(target: "sandbox", url, attempt, error = failure, ?backoff, "webhook failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
