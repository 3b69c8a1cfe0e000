//! Webhook parts kept as received, and the digests that name them.

use sha2::{Digest, Sha256};

use crate::store::WebhookRecord;

use super::{Applied, Applier, ApplyError, DAY_SECS};

/// Longest body kept in a webhook record (DynamoDB items hold 400 KB).
pub const MAX_RECORD_BODY_BYTES: usize = 300_000;

impl Applier<'_> {
    /// The record of a whole change of another field than `messages`,
    /// kept as received (with `reason` when it could not be applied).
    pub(super) fn field_record(
        &self,
        field: &str,
        entry_id: &str,
        reason: Option<String>,
        value: &serde_json::Value,
        at: u64,
    ) -> WebhookRecord {
        let body = value.to_string();
        self.record(
            "field",
            &[field, entry_id, &body],
            Some(field),
            Some(entry_id),
            None,
            reason,
            body.clone(),
            at,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
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

    pub(super) async fn keep(
        &self,
        record: WebhookRecord,
        out: &mut Applied,
    ) -> Result<(), ApplyError> {
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

    /// `keep` for one item among others: a failure is collected, not returned.
    pub(super) async fn keep_item(&self, record: WebhookRecord, out: &mut Applied) {
        if let Err(err) = self.keep(record, out).await {
            tracing::error!(error = %err, "webhook part not recorded");
            out.failures.push(err);
        }
    }
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
