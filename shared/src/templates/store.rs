//! Where the catalogue is kept: one partition per tenant in the table
//! (`docs/data-model.md`), each state written only over an older one.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Entry, Slot, Update};
use crate::store::StoreError;
use crate::table::attr::template as attr;
use crate::table::dynamo::{
    self, Item, Update as Expr, failure, from_item, is_condition_failure, n, s,
};
use crate::table::{self};

/// What became of a state written to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written; the value it replaced (`None`: the entry had none).
    Applied {
        /// The slot's value before.
        previous: Option<String>,
    },
    /// A state at least as new was in place: nothing changed.
    Superseded,
}

/// Port: the catalogue.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Every language of the template `name` (one read).
    async fn entries(&self, tenant: &str, name: &str) -> Result<Vec<Entry>, StoreError>;
    /// The tenant's whole catalogue.
    async fn list(&self, tenant: &str) -> Result<Vec<Entry>, StoreError>;
    /// Writes one state (a webhook's, or a sync's) unless the entry holds
    /// a newer one of that slot.
    async fn apply(
        &self,
        tenant: &str,
        waba_id: &str,
        update: &Update,
    ) -> Result<Written, StoreError>;
    /// Writes a synced entry's shape (unless a later sync wrote one), then
    /// its status, category and quality, each unless newer. Answers the
    /// slots whose value this sync changed, with the value before.
    async fn put_synced(
        &self,
        tenant: &str,
        waba_id: &str,
        entry: &Entry,
    ) -> Result<Vec<(Slot, Option<String>, String)>, StoreError>;
}

/// Adapter: the template items of the table.
pub struct DynamoTemplates {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTemplates {
    /// An adapter on the template items of `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn query(&self, tenant: &str, prefix: Option<String>) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", table::PK)
                .expression_attribute_values(":pk", AttributeValue::S(table::template_pk(tenant)))
                .set_exclusive_start_key(start);
            q = match &prefix {
                Some(p) => q
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
                    .expression_attribute_names("#sk", table::SK)
                    .expression_attribute_values(":sk", AttributeValue::S(p.clone())),
                None => q.key_condition_expression("#pk = :pk"),
            };
            let page = q.send().await.map_err(|e| failure("Query template", e))?;
            for item in page.items() {
                out.push(from_item(item).map_err(|source| StoreError::Unreadable {
                    operation: "Query template",
                    source,
                })?);
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    fn key(tenant: &str, name: &str, language: &str) -> Item {
        dynamo::key(
            table::template_pk(tenant),
            table::template_sk(name, language),
        )
    }
}

fn slot_attrs(slot: Slot) -> (&'static str, &'static str) {
    match slot {
        Slot::Status => (attr::STATUS, attr::STATUS_AT),
        Slot::Quality => (attr::QUALITY, attr::QUALITY_AT),
        Slot::Category => (attr::CATEGORY, attr::CATEGORY_AT),
    }
}

#[async_trait]
impl TemplateStore for DynamoTemplates {
    async fn entries(&self, tenant: &str, name: &str) -> Result<Vec<Entry>, StoreError> {
        self.query(tenant, Some(table::template_sk_prefix(name)))
            .await
    }

    async fn list(&self, tenant: &str) -> Result<Vec<Entry>, StoreError> {
        self.query(tenant, None).await
    }

    async fn apply(
        &self,
        tenant: &str,
        waba_id: &str,
        update: &Update,
    ) -> Result<Written, StoreError> {
        let (value, at) = slot_attrs(update.slot);
        let mut e = Expr::default();
        e.set(attr::NAME, s(&update.name))
            .set(attr::LANGUAGE, s(&update.language))
            .set(attr::WABA_ID, s(waba_id))
            .set(value, s(&update.value))
            .set(at, n(update.at))
            .set(attr::UPDATED_AT, n(crate::now_millis()));
        if let Some(id) = &update.id {
            e.set_if_absent(attr::ID, s(id));
        }
        if update.slot == Slot::Status {
            match &update.reason {
                Some(r) => e.set(attr::STATUS_REASON, s(r)),
                None => e.remove(attr::STATUS_REASON),
            };
        }
        // A replay (the same time) writes the same state again.
        let (at_name, at_value) = (e.name(at), e.value(n(update.at)));
        let condition = format!("attribute_not_exists({at_name}) OR {at_name} <= {at_value}");
        let answer = e
            .update_item(
                &self.client,
                &self.table,
                Self::key(tenant, &update.name, &update.language),
                Some(condition),
            )
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match answer {
            Ok(out) => Ok(Written::Applied {
                previous: out
                    .attributes()
                    .and_then(|a| a.get(value))
                    .and_then(|v| v.as_s().ok())
                    .cloned(),
            }),
            Err(err) if is_condition_failure(&err) => Ok(Written::Superseded),
            Err(err) => Err(failure("UpdateItem template", err)),
        }
    }

    async fn put_synced(
        &self,
        tenant: &str,
        waba_id: &str,
        entry: &Entry,
    ) -> Result<Vec<(Slot, Option<String>, String)>, StoreError> {
        let synced_at = entry.synced_at.unwrap_or_else(crate::now_millis);
        let shape =
            serde_dynamo::to_attribute_value::<_, AttributeValue>(&entry.shape).map_err(|e| {
                StoreError::Rejected {
                    operation: "UpdateItem template",
                    source: Box::new(e),
                }
            })?;
        let mut e = Expr::default();
        e.set(attr::NAME, s(&entry.name))
            .set(attr::LANGUAGE, s(&entry.language))
            .set(attr::WABA_ID, s(waba_id))
            .set(attr::SHAPE, shape)
            .set(attr::SYNCED_AT, n(synced_at))
            .set(attr::UPDATED_AT, n(crate::now_millis()));
        if let Some(id) = &entry.id {
            e.set(attr::ID, s(id));
        }
        let (at_name, at_value) = (e.name(attr::SYNCED_AT), e.value(n(synced_at)));
        let condition = format!("attribute_not_exists({at_name}) OR {at_name} <= {at_value}");
        let answer = e
            .update_item(
                &self.client,
                &self.table,
                Self::key(tenant, &entry.name, &entry.language),
                Some(condition),
            )
            .send()
            .await;
        match answer {
            Ok(_) => {}
            // A later sync wrote it: its states are newer too.
            Err(err) if is_condition_failure(&err) => return Ok(Vec::new()),
            Err(err) => return Err(failure("UpdateItem template", err)),
        }
        apply_synced_states(self, tenant, waba_id, entry, synced_at).await
    }
}

/// A synced entry's status, category and quality, each written at
/// `synced_at` unless newer: the slots whose value changed, with the value
/// before.
async fn apply_synced_states(
    store: &dyn TemplateStore,
    tenant: &str,
    waba_id: &str,
    entry: &Entry,
    synced_at: u64,
) -> Result<Vec<(Slot, Option<String>, String)>, StoreError> {
    let mut changed = Vec::new();
    for (slot, value) in [
        (Slot::Status, &entry.status),
        (Slot::Category, &entry.category),
        (Slot::Quality, &entry.quality),
    ] {
        let Some(value) = value else { continue };
        let update = Update {
            name: entry.name.clone(),
            language: entry.language.clone(),
            id: entry.id.clone(),
            slot,
            value: value.clone(),
            previous: None,
            reason: None,
            at: synced_at,
        };
        if let Written::Applied { previous } = store.apply(tenant, waba_id, &update).await?
            && previous.as_deref() != Some(value.as_str())
        {
            changed.push((slot, previous, value.clone()));
        }
    }
    Ok(changed)
}

/// A catalogue in memory, counting reads: for unit tests and benches of
/// the code that reads it (the adapter above is tested against the
/// emulator). Writes keep the same ordering rule.
#[derive(Default)]
pub struct MemoryTemplates {
    entries: std::sync::Mutex<HashMap<(String, String), Entry>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl MemoryTemplates {
    /// How many times entries were read.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Puts an entry as it is.
    pub fn insert(&self, tenant: &str, entry: Entry) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert((tenant.to_owned(), entry.key()), entry);
        }
    }
}

#[async_trait]
impl TemplateStore for MemoryTemplates {
    async fn entries(&self, tenant: &str, name: &str) -> Result<Vec<Entry>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let map = self.entries.lock().map(|m| m.clone()).unwrap_or_default();
        Ok(map
            .into_iter()
            .filter(|((t, _), e)| t == tenant && e.name == name)
            .map(|(_, e)| e)
            .collect())
    }

    async fn list(&self, tenant: &str) -> Result<Vec<Entry>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let map = self.entries.lock().map(|m| m.clone()).unwrap_or_default();
        Ok(map
            .into_iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, e)| e)
            .collect())
    }

    async fn apply(&self, tenant: &str, _: &str, update: &Update) -> Result<Written, StoreError> {
        let Ok(mut map) = self.entries.lock() else {
            return Ok(Written::Superseded);
        };
        let key = (
            tenant.to_owned(),
            super::entry_key(&update.name, &update.language),
        );
        let entry = map.entry(key).or_insert_with(|| Entry {
            name: update.name.clone(),
            language: update.language.clone(),
            ..Entry::default()
        });
        let (value, at) = match update.slot {
            Slot::Status => (&mut entry.status, &mut entry.status_at),
            Slot::Quality => (&mut entry.quality, &mut entry.quality_at),
            Slot::Category => (&mut entry.category, &mut entry.category_at),
        };
        if at.is_some_and(|at| at > update.at) {
            return Ok(Written::Superseded);
        }
        let previous = value.replace(update.value.clone());
        *at = Some(update.at);
        if update.slot == Slot::Status {
            entry.status_reason = update.reason.clone();
        }
        Ok(Written::Applied { previous })
    }

    async fn put_synced(
        &self,
        tenant: &str,
        waba_id: &str,
        entry: &Entry,
    ) -> Result<Vec<(Slot, Option<String>, String)>, StoreError> {
        let changed = apply_synced_states(
            self,
            tenant,
            waba_id,
            entry,
            entry.synced_at.unwrap_or_default(),
        )
        .await?;
        if let Ok(mut map) = self.entries.lock()
            && let Some(stored) = map.get_mut(&(tenant.to_owned(), entry.key()))
        {
            stored.shape = entry.shape.clone();
            stored.synced_at = entry.synced_at;
            stored.id = entry.id.clone();
        }
        Ok(changed)
    }
}
