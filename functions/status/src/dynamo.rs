//! Adapter: the ports of `store` on the one DynamoDB table, and a request
//! counter the function logs per record (and tests assert on).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::contact::{DynamoContacts, OptOutcome, OptStore, OptWrite, own_id_attribute};
use shared::record::MessageRecord;
use shared::store::StoreError;
use shared::table::attr::{
    contact, fragment as fragment_attr, health, hook as hook_attr, inbound as inbound_attr,
    message as attr,
};
use shared::table::dynamo::{
    Item, Update, contact_key, error_attribute, failure, is_condition_failure, message_record, n, s,
};
use shared::table::{
    self, HOOK_SK, MESSAGE_SK, PK, SK, WAMID, WAMID_INDEX, fragment_pk, fragment_sk, hook_pk,
};

use crate::store::{
    ContactLink, ContactStore, ContactTouch, FragmentWrite, HealthOutcome, HealthStore,
    HealthWrite, InboundWrite, MessageRef, MessageStore, StatusWrite, WebhookLog, WebhookRecord,
};

/// The table, through the AWS SDK.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The opt decisions, through the adapter `chasqui contacts` uses too.
    opts: DynamoContacts,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            opts: DynamoContacts::new(client.clone(), table.clone()),
            client,
            table,
        }
    }

    /// Writes an item only if its key is new: `false` when it was already
    /// there (a replay), so every put of a record is idempotent.
    async fn put_new(&self, item: Item, operation: &'static str) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure(operation, err)),
        }
    }
}

/// The key of a message item.
fn message_key(tenant: &str, message: &MessageRef) -> Item {
    let pk = match message {
        MessageRef::Sent(id) => table::message_pk(tenant, id),
        MessageRef::Foreign(wamid) => table::foreign_message_pk(tenant, wamid),
    };
    shared::table::dynamo::key(pk, MESSAGE_SK)
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn find_by_wamid(&self, tenant: &str, wamid: &str) -> Result<Option<String>, StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(WAMID_INDEX)
                .key_condition_expression("#w = :w")
                .filter_expression("#sk = :sk")
                .expression_attribute_names("#w", WAMID)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":w", s(wamid))
                .expression_attribute_values(":sk", s(MESSAGE_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| failure("Query by wamid", e))?;
            // The index projects keys only: `pk` is all this reads.
            // Chasqui's own item wins over the one a wamid-only status made
            // (`WAMID#<wamid>`), which is the item the caller falls back to.
            // Only the tenant's own: another tenant's item with this wamid
            // (which Meta never reuses) is not this tenant's to update.
            let own_prefix = table::message_pk(tenant, "");
            let own = out.items().iter().find_map(|item| {
                let pk = item.get(PK)?.as_s().ok()?;
                pk.strip_prefix(&own_prefix).map(str::to_owned)
            });
            if own.is_some() {
                return Ok(own);
            }
            match out.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => return Ok(None),
            }
        }
    }

    async fn apply_status(&self, w: &StatusWrite) -> Result<Option<MessageRecord>, StoreError> {
        let mut e = Update::default();
        for slot in &w.slots {
            e.set_if_absent(slot, n(w.at));
        }
        if let Some(other) = &w.other_status {
            e.add(
                attr::OTHER_STATUSES,
                AttributeValue::Ss(vec![other.clone()]),
            );
        }
        // Key attributes of an index must not be empty strings.
        let present = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(s);
        for (name, value) in [
            (attr::WAMID, present(&w.wamid)),
            (attr::RECIPIENT, present(&w.recipient)),
            (attr::PHONE_NUMBER_ID, present(&w.phone_number_id)),
            (attr::MESSAGE_ID, present(&w.message_id)),
            (attr::TENANT, Some(s(&w.tenant))),
            (
                attr::RECIPIENT_USER_ID,
                present(&w.recipient_ids.recipient_user_id),
            ),
            (
                attr::RECIPIENT_PARENT_USER_ID,
                present(&w.recipient_ids.recipient_parent_user_id),
            ),
            (
                attr::RECIPIENT_TYPE,
                present(&w.recipient_ids.recipient_type),
            ),
            (
                attr::RECIPIENT_PARTICIPANT_ID,
                present(&w.recipient_ids.recipient_participant_id),
            ),
            (attr::USERNAME, present(&w.recipient_ids.username)),
        ] {
            if let Some(value) = value {
                e.set_if_absent(name, value);
            }
        }
        if let Some(c) = &w.conversation {
            if let Some(v) = present(&c.id) {
                e.set_if_absent(attr::CONVERSATION_ID, v);
            }
            if let Some(at) = c.expires_at {
                e.set_if_absent(attr::CONVERSATION_EXPIRES_AT, n(at));
            }
            if let Some(v) = present(&c.origin) {
                e.set_if_absent(attr::CONVERSATION_ORIGIN, v);
            }
        }
        if let Some(p) = &w.pricing {
            if let Some(b) = p.billable {
                e.set_if_absent(attr::PRICING_BILLABLE, AttributeValue::Bool(b));
            }
            for (name, value) in [
                (attr::PRICING_MODEL, present(&p.pricing_model)),
                (attr::PRICING_CATEGORY, present(&p.category)),
                (attr::PRICING_TYPE, present(&p.kind)),
            ] {
                if let Some(value) = value {
                    e.set_if_absent(name, value);
                }
            }
        }
        if let Some(first) = w.errors.first() {
            e.set_if_absent(
                attr::ERRORS,
                AttributeValue::L(w.errors.iter().map(error_attribute).collect()),
            );
            e.set_if_absent(attr::ERROR, error_attribute(first));
        }
        if let Some(at) = w.expires_at {
            e.set_if_absent(attr::EXPIRES_AT, n(at));
        }
        e.set(attr::UPDATED_AT, n(w.now));
        let out = e
            .update_item(
                &self.client,
                &self.table,
                message_key(&w.tenant, &w.message),
                None,
            )
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| failure("UpdateItem message", err))?;
        match out.attributes() {
            Some(old) if !old.is_empty() => {
                message_record(old)
                    .map(Some)
                    .map_err(|source| StoreError::Unreadable {
                        operation: "UpdateItem message",
                        source,
                    })
            }
            _ => Ok(None),
        }
    }

    async fn lower_slot(
        &self,
        tenant: &str,
        message: &MessageRef,
        slot: &'static str,
        at: u64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(message_key(tenant, message)))
            .update_expression("SET #s = :at")
            .condition_expression("#s > :at")
            .expression_attribute_names("#s", slot)
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already as early or earlier: another report got there first.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(failure("UpdateItem lower timestamp", err)),
        }
    }
}

#[async_trait]
impl ContactStore for DynamoStore {
    async fn put_inbound(&self, m: &InboundWrite) -> Result<bool, StoreError> {
        let mut item = shared::table::dynamo::key(
            table::contact_pk(&m.tenant, &m.phone_number_id, &m.customer_id),
            table::inbound_sk(m.at, &m.inbound_id),
        );
        item.insert(inbound_attr::PHONE_NUMBER_ID.into(), s(&m.phone_number_id));
        if let Some(wa_id) = &m.ids.wa_id {
            item.insert(inbound_attr::WA_ID.into(), s(wa_id));
        }
        if let Some(user_id) = &m.ids.user_id {
            item.insert(inbound_attr::USER_ID.into(), s(user_id));
        }
        if let Some(username) = &m.username {
            item.insert(inbound_attr::USERNAME.into(), s(username));
        }
        if let Some(wamid) = m.wamid.as_deref().filter(|w| !w.is_empty()) {
            item.insert(inbound_attr::WAMID.into(), s(wamid));
        }
        item.insert(inbound_attr::TYPE.into(), s(&m.kind));
        if let Some(text) = &m.text {
            item.insert(inbound_attr::TEXT.into(), s(text));
        }
        if let Some(name) = &m.profile_name {
            item.insert(inbound_attr::PROFILE_NAME.into(), s(name));
        }
        item.insert(inbound_attr::MESSAGE.into(), s(&m.message));
        item.insert(inbound_attr::RECEIVED_AT.into(), n(m.at));
        item.insert(
            inbound_attr::WEBHOOK_RECEIVED_AT.into(),
            n(m.webhook_received_at),
        );
        item.insert(inbound_attr::EXPIRES_AT.into(), n(m.expires_at));
        if let Some(media) = &m.media {
            item.insert(
                inbound_attr::MEDIA.into(),
                shared::table::dynamo::from_json(&serde_json::to_value(media).unwrap_or_default()),
            );
        }
        self.put_new(item, "PutItem inbound").await
    }

    async fn touch(&self, t: &ContactTouch) -> Result<bool, StoreError> {
        let mut e = Update::default();
        e.set(contact::LAST_INBOUND_AT, n(t.at));
        e.set(contact::LAST_INBOUND_WAMID, s(&t.wamid));
        e.set(contact::PHONE_NUMBER_ID, s(&t.phone_number_id));
        if let Some(wa_id) = &t.ids.wa_id {
            e.set(contact::WA_ID, s(wa_id));
        }
        if let Some(user_id) = &t.ids.user_id {
            e.set(contact::USER_ID, s(user_id));
        }
        if t.ids.wa_id.is_some() && t.ids.user_id.is_some() {
            e.set(contact::LINKED_AT, n(t.at));
        }
        if let Some(name) = t.profile_name.as_deref().filter(|v| !v.is_empty()) {
            e.set(contact::PROFILE_NAME, s(name));
        }
        if let Some(name) = t.username.as_deref().filter(|v| !v.is_empty()) {
            e.set(contact::USERNAME, s(name));
        }
        if let Some(parent) = &t.parent_user_id {
            e.set(contact::PARENT_USER_ID, s(parent));
        }
        e.set(contact::UPDATED_AT, n(t.now));
        let last = e.name(contact::LAST_INBOUND_AT);
        let at = e.value(n(t.at));
        let condition = format!("attribute_not_exists({last}) OR {last} < {at}");
        e.set(contact::TENANT, s(&t.tenant));
        let key = contact_key(&t.tenant, &t.phone_number_id, &t.customer_id);
        self.update_contact_if(key, e, Some(condition), "UpdateItem contact window")
            .await
    }

    async fn link(&self, l: &ContactLink) -> Result<bool, StoreError> {
        let mut e = Update::default();
        e.set(l.attribute, s(&l.value));
        e.set(contact::PHONE_NUMBER_ID, s(&l.phone_number_id));
        e.set(own_id_attribute(&l.customer_id), s(&l.customer_id));
        e.set(contact::UPDATED_AT, n(l.now));
        let condition = l.ordered.then(|| {
            e.set(contact::LINKED_AT, n(l.at));
            let linked = e.name(contact::LINKED_AT);
            let at = e.value(n(l.at));
            format!("attribute_not_exists({linked}) OR {linked} <= {at}")
        });
        e.set(contact::TENANT, s(&l.tenant));
        let key = contact_key(&l.tenant, &l.phone_number_id, &l.customer_id);
        self.update_contact_if(key, e, condition, "UpdateItem contact link")
            .await
    }
}

impl DynamoStore {
    /// Applies `e` to a contact item if `condition` (when given) holds:
    /// `false` when it did not (an older signal; nothing written).
    async fn update_contact_if(
        &self,
        key: Item,
        e: Update,
        condition: Option<String>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let result = e
            .update_item(&self.client, &self.table, key, condition)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure(operation, err)),
        }
    }
}

#[async_trait]
impl OptStore for DynamoStore {
    async fn decide_opt(&self, opt: &OptWrite) -> Result<OptOutcome, StoreError> {
        self.opts.decide_opt(opt).await
    }
}

#[async_trait]
impl HealthStore for DynamoStore {
    async fn update_health(&self, w: &HealthWrite) -> Result<HealthOutcome, StoreError> {
        let mut e = Update::default();
        e.set(health::WABA_ID, s(&w.waba_id));
        if let Some(number) = &w.number {
            e.set(health::DISPLAY_PHONE_NUMBER, s(number));
        }
        for (name, value) in &w.values {
            match value {
                Some(value) => e.set(name, s(value)),
                None => e.remove(name),
            };
        }
        e.set(w.slot, n(w.at));
        e.set(health::UPDATED_AT, n(w.now));
        let slot = e.name(w.slot);
        let at = e.value(n(w.at));
        // `<=`: a replay writes the same values again and yields the same
        // event; only a newer update of this kind stops it.
        let condition = format!("attribute_not_exists({slot}) OR {slot} <= {at}");
        let key = shared::table::dynamo::key(
            table::health_pk(&w.tenant),
            table::health_sk(&w.waba_id, w.number.as_deref()),
        );
        let result = e
            .update_item(&self.client, &self.table, key, Some(condition))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes.unwrap_or_default();
                let previous = w
                    .values
                    .iter()
                    .filter_map(|(name, _)| {
                        let value = old.get(*name)?.as_s().ok()?;
                        Some(((*name).to_owned(), value.clone()))
                    })
                    .collect();
                Ok(HealthOutcome::Applied { previous })
            }
            Err(err) if is_condition_failure(&err) => Ok(HealthOutcome::Superseded),
            Err(err) => Err(failure("UpdateItem health", err)),
        }
    }
}

#[async_trait]
impl WebhookLog for DynamoStore {
    async fn record(&self, r: &WebhookRecord) -> Result<bool, StoreError> {
        let mut item = shared::table::dynamo::key(hook_pk(&r.tenant, &r.digest), HOOK_SK);
        item.insert(hook_attr::KIND.into(), s(r.kind));
        for (name, value) in [
            (hook_attr::FIELD, &r.field),
            (hook_attr::ENTRY_ID, &r.entry_id),
            (hook_attr::PHONE_NUMBER_ID, &r.phone_number_id),
            (hook_attr::REASON, &r.reason),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), s(v));
            }
        }
        item.insert(hook_attr::BODY.into(), s(&r.body));
        item.insert(hook_attr::RECEIVED_AT.into(), n(r.received_at));
        item.insert(hook_attr::EXPIRES_AT.into(), n(r.expires_at));
        self.put_new(item, "PutItem webhook record").await
    }

    async fn put_fragment(&self, f: &FragmentWrite) -> Result<(), StoreError> {
        let mut item = shared::table::dynamo::key(fragment_pk(&f.group), fragment_sk(f.index));
        item.insert(fragment_attr::INDEX.into(), n(f.index.into()));
        item.insert(fragment_attr::COUNT.into(), n(f.count.into()));
        item.insert(fragment_attr::DATA.into(), s(&f.data));
        item.insert(fragment_attr::RECEIVED_AT.into(), n(f.received_at));
        item.insert(fragment_attr::EXPIRES_AT.into(), n(f.expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| failure("PutItem fragment", e))?;
        Ok(())
    }

    async fn fragments(&self, group: &str) -> Result<Vec<(u32, String)>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(fragment_pk(group)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| failure("Query fragments", e))?;
            for item in page.items() {
                let index = item
                    .get(fragment_attr::INDEX)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok());
                let data = item.get(fragment_attr::DATA).and_then(|v| v.as_s().ok());
                if let (Some(index), Some(data)) = (index, data) {
                    out.push((index, data.clone()));
                }
            }
            match page.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// Counts DynamoDB requests by operation (every attempt, retries included),
/// read from the `X-Amz-Target` header. Installed on the function's client
/// so each record's log line says how many requests it cost.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    /// Requests so far, by operation (`UpdateItem`, `Query`, ...).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// A DynamoDB client that counts through `self`.
    pub fn client(&self, aws: &aws_config::SdkConfig) -> Client {
        let config = aws_sdk_dynamodb::config::Builder::from(aws)
            .interceptor(self.clone())
            .build();
        Client::from_conf(config)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}
