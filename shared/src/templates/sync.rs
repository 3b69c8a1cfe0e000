//! The sync: every page of each account's `message_templates`, written to
//! the catalogue (`docs/templates.md`). The sender runs it on its schedule
//! (`{"chasqui": "templates.sync"}`); `chasqui templates sync` runs the same
//! code on demand.

use serde::Serialize;

use super::store::TemplateStore;
use super::{FIELDS, Slot, parse_page};
use crate::cloud_api::{CloudApiClient, GraphError};
use crate::events::publish::EventPublisher;
use crate::events::{Event, TemplateChanged};
use crate::store::StoreError;
use crate::tenant::{Binding, BindingStore};

/// The event that asks the sender for a sync (the schedule's input).
pub const SYNC_EVENT: &str = "templates.sync";
/// Templates per page asked of Meta.
pub const PAGE_SIZE: u32 = 100;
/// Pages read at most per account: a cursor that never ends stops here.
pub const MAX_PAGES: usize = 200;

/// One WhatsApp Business Account to sync, with a number of it whose token
/// reads its templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The tenant the account's templates belong to.
    pub tenant: String,
    /// The account.
    pub waba_id: String,
    /// A business number of the account (its token is the account's).
    pub phone_number_id: String,
}

/// The accounts to sync: each bound account once (per tenant), and the
/// default tenant's (`WHATSAPP_WABA_ID` with the default number) if set.
pub fn accounts(bindings: &[Binding], default: Option<Account>) -> Vec<Account> {
    let mut out: Vec<Account> = default.into_iter().collect();
    for b in bindings {
        if !out
            .iter()
            .any(|a| a.tenant == b.tenant && a.waba_id == b.waba_id)
        {
            out.push(Account {
                tenant: b.tenant.clone(),
                waba_id: b.waba_id.clone(),
                phone_number_id: b.phone_number_id.clone(),
            });
        }
    }
    out
}

/// Why an account's sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Meta refused or could not be reached.
    #[error("reading the templates of account {waba_id} failed: {source}")]
    Graph {
        /// The account.
        waba_id: String,
        /// Meta's answer.
        #[source]
        source: GraphError,
    },
    /// The catalogue could not be written.
    #[error("writing the catalogue failed: {0}")]
    Store(#[from] StoreError),
}

/// What one account's sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The tenant.
    pub tenant: String,
    /// The account.
    pub waba_id: String,
    /// Pages read.
    pub pages: usize,
    /// Templates written.
    pub templates: usize,
    /// Templates Meta listed that did not read: `path: reason`.
    pub skipped: Vec<String>,
    /// States the sync changed (a webhook was missed or not yet applied):
    /// `name (language): slot old -> new`.
    pub changed: Vec<String>,
}

/// Reads every page of `account`'s templates and writes each one. Pages
/// are written as read, so a failure after some pages keeps them.
pub async fn sync_account(
    api: &CloudApiClient,
    store: &dyn TemplateStore,
    events: &dyn EventPublisher,
    account: &Account,
    page_size: u32,
) -> Result<Report, SyncError> {
    let mut report = Report {
        tenant: account.tenant.clone(),
        waba_id: account.waba_id.clone(),
        ..Report::default()
    };
    let path = format!("{}/message_templates", account.waba_id);
    let limit = page_size.to_string();
    let mut after: Option<String> = None;
    while report.pages < MAX_PAGES {
        let mut query = vec![("fields", FIELDS), ("limit", limit.as_str())];
        if let Some(cursor) = &after {
            query.push(("after", cursor.as_str()));
        }
        let body = api
            .get(&account.phone_number_id, &path, &query)
            .await
            .map_err(|source| SyncError::Graph {
                waba_id: account.waba_id.clone(),
                source,
            })?;
        // Whole seconds, as Meta's webhook times are: a webhook of the
        // same second as the fetch wins over it (`docs/templates.md`).
        let fetched_at = crate::now_millis() / 1000 * 1000;
        report.pages += 1;
        let page = parse_page(&body, fetched_at).map_err(|e| SyncError::Graph {
            waba_id: account.waba_id.clone(),
            source: GraphError::Unexpected {
                status: 200,
                snippet: e.to_string(),
            },
        })?;
        for skipped in page.skipped {
            tracing::warn!(tenant = %account.tenant, waba_id = %account.waba_id, %skipped, "template not read: skipped");
            report.skipped.push(skipped.to_string());
        }
        for entry in &page.templates {
            let changed = store
                .put_synced(&account.tenant, &account.waba_id, entry)
                .await?;
            report.templates += 1;
            for (slot, previous, current) in changed {
                // A first sync fills an empty catalogue: not a change.
                let Some(previous) = previous else { continue };
                let alert =
                    (slot == Slot::Status && current != super::APPROVED).then_some(super::ALERT);
                tracing::warn!(
                    alert,
                    tenant = %account.tenant,
                    waba_id = %account.waba_id,
                    template = %entry.name,
                    language = %entry.language,
                    change = slot.as_str(),
                    previous = %previous,
                    current = %current,
                    "template changed, found by the sync (its webhook was missed or is late)"
                );
                report.changed.push(format!(
                    "{} ({}): {} {previous} -> {current}",
                    entry.name,
                    entry.language,
                    slot.as_str()
                ));
                // Told upstream like a webhook's change. The catalogue
                // already holds it, so a failed publish is logged (the
                // next sync finds no change to tell again).
                let event = Event::template(
                    fetched_at,
                    TemplateChanged {
                        waba_id: account.waba_id.clone(),
                        name: entry.name.clone(),
                        language: entry.language.clone(),
                        template_id: entry.id.clone(),
                        change: slot.as_str().to_owned(),
                        reason: (slot == Slot::Status)
                            .then(|| entry.status_reason.clone())
                            .flatten(),
                        previous: Some(previous),
                        current,
                        alert: alert.map(str::to_owned),
                    },
                )
                .of_tenant(&account.tenant);
                if let Err(e) = events.publish(std::slice::from_ref(&event)).await {
                    tracing::error!(tenant = %account.tenant, waba_id = %account.waba_id, event_id = %event.id, error = %e, "template change found by the sync not published upstream");
                }
            }
        }
        match page.after {
            Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
            _ => break,
        }
    }
    Ok(report)
}

/// Syncs every account ([`accounts`] of the stored bindings and `default`),
/// one after the other; one failing does not stop the others. Each
/// account's report, or its error, as JSON (`{"accounts": [...]}`): what
/// the scheduled invocation answers and `chasqui templates sync` prints.
pub async fn sync_all(
    api: &CloudApiClient,
    store: &dyn TemplateStore,
    events: &dyn EventPublisher,
    bindings: &dyn BindingStore,
    default: Option<Account>,
) -> serde_json::Value {
    let bindings = match bindings.list().await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "template sync: bindings not read");
            return serde_json::json!({"error": format!("bindings not read: {e}")});
        }
    };
    let mut results = Vec::new();
    for account in accounts(&bindings, default) {
        let started = std::time::Instant::now();
        match sync_account(api, store, events, &account, PAGE_SIZE).await {
            Ok(report) => {
                tracing::info!(
                    tenant = %account.tenant,
                    waba_id = %account.waba_id,
                    pages = report.pages,
                    templates = report.templates,
                    skipped = report.skipped.len(),
                    changed = report.changed.len(),
                    latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "template sync"
                );
                results.push(serde_json::json!(report));
            }
            Err(e) => {
                tracing::error!(tenant = %account.tenant, waba_id = %account.waba_id, error = %e, "template sync failed");
                results.push(serde_json::json!({
                    "tenant": account.tenant, "waba_id": account.waba_id, "error": e.to_string()
                }));
            }
        }
    }
    serde_json::json!({ "accounts": results })
}
