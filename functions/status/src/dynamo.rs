//! Adapter: the ports of `store` on the one DynamoDB table, and a request
//! counter the function logs per record (and tests assert on).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use shared::record::{MessageRecord, attr};
use shared::table::{
    self, CONTACT_SK, HOOK_SK, MESSAGE_SK, PK, SK, Update, WAMID, WAMID_INDEX, fragment_pk,
    fragment_sk, hook_pk,
};

use crate::health::attr as health;
use crate::store::{
    ContactLink, ContactStore, ContactTouch, FragmentWrite, HealthOutcome, HealthStore,
    HealthWrite, InboundWrite, MessageStore, OptOutcome, OptWrite, StatusWrite, StoreError,
    WebhookLog, WebhookRecord,
};

/// Contact item attributes: one list, in `shared::contact`.
pub use shared::contact::attr as contact;

/// The table, through the AWS SDK.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes an item only if its key is new: `false` when it was already
    /// there (a replay), so every put of a record is idempotent.
    async fn put_new(
        &self,
        item: HashMap<String, AttributeValue>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
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

impl DynamoStore {
    /// An `UpdateItem` of `key` with `e`'s expression, names and values, and
    /// `condition` (written with `e`'s placeholders); callers add what it
    /// returns.
    fn update(
        &self,
        key: HashMap<String, AttributeValue>,
        e: Update,
        condition: Option<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let expression = e.expression();
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// A refused request (malformed, too large) will be refused again; anything
/// else (throttling that outlasted the SDK's retries, a 5xx, the network)
/// may pass on a retry.
fn failure<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let refused = matches!(err, SdkError::ConstructionFailure(_))
        || err
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "ValidationException");
    let reason = DisplayErrorContext(&err).to_string();
    if refused {
        StoreError::Rejected { operation, reason }
    } else {
        StoreError::Unavailable { operation, reason }
    }
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn find_by_wamid(&self, wamid: &str) -> Result<Option<String>, StoreError> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let mut fallback = None;
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
                .map_err(|e| failure("Query by_wamid", e))?;
            for item in out.items() {
                if let Some(AttributeValue::S(pk)) = item.get(PK) {
                    // Chasqui's own item wins over one a wamid-only status made.
                    if pk.starts_with(&table::message_pk("")) {
                        return Ok(Some(pk.clone()));
                    }
                    fallback.get_or_insert_with(|| pk.clone());
                }
            }
            match out.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => return Ok(fallback),
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
                AttributeValue::L(w.errors.iter().map(|x| x.to_attribute()).collect()),
            );
            e.set_if_absent(attr::ERROR, first.to_attribute());
        }
        if let Some(at) = w.expires_at {
            e.set_if_absent(attr::EXPIRES_AT, n(at));
        }
        e.set(attr::UPDATED_AT, n(w.now));
        let out = self
            .update(key(&w.pk, MESSAGE_SK), e, None)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| failure("UpdateItem message", err))?;
        match out.attributes() {
            Some(old) if !old.is_empty() => {
                MessageRecord::from_item(old)
                    .map(Some)
                    .map_err(|source| StoreError::Unreadable {
                        operation: "UpdateItem message",
                        source,
                    })
            }
            _ => Ok(None),
        }
    }

    async fn lower_slot(&self, pk: &str, slot: &'static str, at: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, MESSAGE_SK)))
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
        let mut item = key(&m.pk, &m.sk);
        item.insert(contact::PHONE_NUMBER_ID.into(), s(&m.phone_number_id));
        if let Some(wa_id) = &m.ids.wa_id {
            item.insert(contact::WA_ID.into(), s(wa_id));
        }
        if let Some(user_id) = &m.ids.user_id {
            item.insert(contact::USER_ID.into(), s(user_id));
        }
        if let Some(username) = &m.username {
            item.insert(contact::USERNAME.into(), s(username));
        }
        if let Some(wamid) = m.wamid.as_deref().filter(|w| !w.is_empty()) {
            item.insert(WAMID.into(), s(wamid));
        }
        item.insert("type".into(), s(&m.kind));
        if let Some(text) = &m.text {
            item.insert("text".into(), s(text));
        }
        if let Some(name) = &m.profile_name {
            item.insert("profile_name".into(), s(name));
        }
        item.insert("message".into(), s(&m.message));
        item.insert("received_at".into(), n(m.at));
        item.insert("webhook_received_at".into(), n(m.webhook_received_at));
        item.insert(table::EXPIRES_AT.into(), n(m.expires_at));
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
        e.set(contact::UPDATED_AT, n(t.now));
        let last = e.name(contact::LAST_INBOUND_AT);
        let at = e.value(n(t.at));
        let condition = format!("attribute_not_exists({last}) OR {last} < {at}");
        self.update_contact_if(&t.pk, e, Some(condition), "UpdateItem contact window")
            .await
    }

    async fn decide_opt(&self, o: &OptWrite) -> Result<OptOutcome, StoreError> {
        let mut e = Update::default();
        e.set(contact::OPTED_OUT, AttributeValue::Bool(o.opted_out));
        e.set(
            if o.opted_out {
                contact::OPTED_OUT_AT
            } else {
                contact::OPTED_IN_AT
            },
            n(o.at),
        );
        e.set(contact::OPT_SOURCE, s(o.source.as_str()));
        match &o.message_id {
            Some(id) => e.set(contact::OPT_MESSAGE_ID, s(id)),
            None => e.remove(contact::OPT_MESSAGE_ID),
        };
        e.set(contact::OPT_DECISION, s(&o.decision));
        e.set(contact::PHONE_NUMBER_ID, s(&o.phone_number_id));
        // The item names its own id, as a phone item always did.
        e.set(own_id_attribute(&o.id), s(&o.id));
        e.set(contact::UPDATED_AT, n(o.now));
        let decision = e.name(contact::OPT_DECISION);
        let this = e.value(s(&o.decision));
        let condition = format!("attribute_not_exists({decision}) OR {decision} < {this}");
        let result = self
            .update(key(&o.pk, CONTACT_SK), e, Some(condition))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(OptOutcome::Applied),
            Err(err) if is_condition_failure(&err) => {
                let current = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    })
                    .and_then(|item| item.get(contact::OPT_DECISION))
                    .and_then(|v| v.as_s().ok());
                Ok(if current == Some(&o.decision) {
                    OptOutcome::Replayed
                } else {
                    OptOutcome::Superseded
                })
            }
            Err(err) => Err(failure("UpdateItem contact opt", err)),
        }
    }

    async fn link(&self, l: &ContactLink) -> Result<bool, StoreError> {
        let mut e = Update::default();
        e.set(l.attribute, s(&l.value));
        e.set(contact::PHONE_NUMBER_ID, s(&l.phone_number_id));
        e.set(own_id_attribute(&l.id), s(&l.id));
        e.set(contact::UPDATED_AT, n(l.now));
        let condition = l.ordered.then(|| {
            e.set(contact::LINKED_AT, n(l.at));
            let linked = e.name(contact::LINKED_AT);
            let at = e.value(n(l.at));
            format!("attribute_not_exists({linked}) OR {linked} <= {at}")
        });
        self.update_contact_if(&l.pk, e, condition, "UpdateItem contact link")
            .await
    }
}

impl DynamoStore {
    /// Applies `e` to a contact item if `condition` (when given) holds:
    /// `false` when it did not (an older signal; nothing written).
    async fn update_contact_if(
        &self,
        pk: &str,
        e: Update,
        condition: Option<String>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let result = self.update(key(pk, CONTACT_SK), e, condition).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(failure(operation, err)),
        }
    }
}

/// `user_id` for an item keyed by BSUID, `wa_id` for one keyed by phone.
fn own_id_attribute(id: &str) -> &'static str {
    if shared::customer::is_user_id(id) {
        contact::USER_ID
    } else {
        contact::WA_ID
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
        let key = key(
            table::HEALTH_PK,
            table::health_sk(&w.waba_id, w.number.as_deref()),
        );
        let result = self
            .update(key, e, Some(condition))
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
        let mut item = key(hook_pk(&r.digest), HOOK_SK);
        item.insert("kind".into(), s(r.kind));
        for (name, value) in [
            ("field", &r.field),
            ("entry_id", &r.entry_id),
            ("phone_number_id", &r.phone_number_id),
            ("reason", &r.reason),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), s(v));
            }
        }
        item.insert("body".into(), s(&r.body));
        item.insert("received_at".into(), n(r.received_at));
        item.insert(table::EXPIRES_AT.into(), n(r.expires_at));
        self.put_new(item, "PutItem webhook record").await
    }

    async fn put_fragment(&self, f: &FragmentWrite) -> Result<(), StoreError> {
        let mut item = key(fragment_pk(&f.group), fragment_sk(f.index));
        item.insert("index".into(), n(f.index.into()));
        item.insert("count".into(), n(f.count.into()));
        item.insert("data".into(), s(&f.data));
        item.insert("received_at".into(), n(f.received_at));
        item.insert(table::EXPIRES_AT.into(), n(f.expires_at));
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
        let mut start: Option<HashMap<String, AttributeValue>> = None;
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
                    .get("index")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok());
                let data = item.get("data").and_then(|v| v.as_s().ok());
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
