//! The table as the AWS SDK holds it: items of `AttributeValue`s, reading
//! them into Chasqui's types (with `serde_dynamo`), the conditional update
//! builder every writer uses, and what a failed request means. The domain
//! types (`crate::record`, `crate::events`) know nothing of this module.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::record::{
    ConversationRecord, ErrorRecord, MessageRecord, PricingRecord, RecordError, StatusTimes,
};
use crate::store::StoreError;

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// The key of an item.
pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        (super::PK.to_owned(), AttributeValue::S(pk)),
        (super::SK.to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// The key of a message item (`tenant`'s message `message_id`).
pub fn message_key(tenant: &str, message_id: &str) -> Item {
    key(super::message_pk(tenant, message_id), super::MESSAGE_SK)
}

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The key of a customer's contact item.
pub fn contact_key(tenant: &str, phone_number_id: &str, customer_id: &str) -> Item {
    key(
        super::contact_pk(tenant, phone_number_id, customer_id),
        super::CONTACT_SK,
    )
}

/// An `UpdateItem` expression with a placeholder for every name and value,
/// so reserved words (`type`, `text`, `status`) never matter. Each method
/// returns or records placeholders; a condition expression can use the
/// placeholders [`Update::name`] and [`Update::value`] hand out.
#[derive(Debug, Default)]
pub struct Update {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    /// `ExpressionAttributeNames`.
    pub names: HashMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: HashMap<String, AttributeValue>,
}

impl Update {
    /// The placeholder of an attribute name (the same one every time).
    pub fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#a{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    /// A new placeholder for a value.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET`: the attribute takes the value, whatever it held.
    pub fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.set.push(format!("{n} = {v}"));
        self
    }

    /// The first value written stays.
    pub fn set_if_absent(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.set.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD`: a number is incremented, a set gains members.
    pub fn add(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attribute), self.value(value));
        self.add.push(format!("{n} {v}"));
        self
    }

    /// `REMOVE`: the attribute is deleted from the item.
    pub fn remove(&mut self, attribute: &str) -> &mut Self {
        let n = self.name(attribute);
        self.remove.push(n);
        self
    }

    /// An `UpdateItem` of `key` with this expression, its names and values,
    /// and `condition` (written with this expression's placeholders);
    /// callers add what it returns and send it.
    pub fn update_item(
        self,
        client: &aws_sdk_dynamodb::Client,
        table_name: &str,
        key: Item,
        condition: Option<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        client
            .update_item()
            .table_name(table_name)
            .set_key(Some(key))
            .update_expression(self.expression())
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values(Some(self.values))
    }

    /// Sends this update of `key` under `condition`, answering the
    /// attributes `returned` names when the condition held, or else the item
    /// as it stands: the one the refusal returns, or (not every DynamoDB
    /// implementation returns it) a consistent read. `operations` name the
    /// update and the read in errors.
    pub async fn update_or_current(
        self,
        client: &aws_sdk_dynamodb::Client,
        table_name: &str,
        key: Item,
        condition: String,
        returned: ReturnValue,
        operations: (&'static str, &'static str),
    ) -> Result<Conditional, StoreError> {
        let (update, get) = operations;
        let result = self
            .update_item(client, table_name, key.clone(), Some(condition))
            .return_values(returned)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(out) => return Ok(Conditional::Written(out.attributes.unwrap_or_default())),
            Err(err) => err,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(e)) = err.as_service_error()
        else {
            return Err(failure(update, err));
        };
        if let Some(item) = e.item() {
            return Ok(Conditional::Refused(Some(item.clone())));
        }
        Ok(Conditional::Refused(
            get_item(client, table_name, key, get).await?,
        ))
    }

    /// The `UpdateExpression`.
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (verb, clauses) in [
            ("SET", &self.set),
            ("ADD", &self.add),
            ("REMOVE", &self.remove),
        ] {
            if !clauses.is_empty() {
                parts.push(format!("{verb} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }
}

/// How a conditional update ([`Update::update_or_current`]) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional {
    /// The condition held: the attributes the update returned.
    Written(Item),
    /// It did not: the item as it stands (`None`: there is none).
    Refused(Option<Item>),
}

/// The message item exactly as the writers leave it: one field per
/// attribute, named as [`attr`] names them (a test checks each name). Read
/// with `serde_dynamo`, then shaped into a [`MessageRecord`].
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MessageItem {
    pk: Option<String>,
    message_id: Option<String>,
    tenant: Option<String>,
    phone_number_id: Option<String>,
    recipient: Option<String>,
    r#type: Option<String>,
    template_name: Option<String>,
    template_language: Option<String>,
    metadata: Option<Map<String, Value>>,
    request_hash: Option<String>,
    send_state: Option<String>,
    lock_expires_at: Option<u64>,
    attempts: Option<u64>,
    wamid: Option<String>,
    accepted_at: Option<u64>,
    sent_at: Option<u64>,
    delivered_at: Option<u64>,
    read_at: Option<u64>,
    played_at: Option<u64>,
    failed_at: Option<u64>,
    suppressed_at: Option<u64>,
    suppressed_reason: Option<String>,
    scheduled_at: Option<u64>,
    cancelled_at: Option<u64>,
    send_at: Option<u64>,
    error: Option<ErrorRecord>,
    errors: Option<Vec<ErrorRecord>>,
    conversation_id: Option<String>,
    conversation_expires_at: Option<u64>,
    conversation_origin: Option<String>,
    pricing_billable: Option<bool>,
    pricing_model: Option<String>,
    pricing_category: Option<String>,
    pricing_type: Option<String>,
    other_statuses: Option<Vec<String>>,
    created_at: Option<u64>,
    updated_at: Option<u64>,
    expires_at: Option<u64>,
}

/// Reads a message item. Attributes it does not know are ignored; a known
/// attribute of the wrong type is an error naming it.
pub fn message_record(item: &Item) -> Result<MessageRecord, RecordError> {
    let i: MessageItem = from_item(item)?;
    let conversation = ConversationRecord {
        id: i.conversation_id,
        expires_at: i.conversation_expires_at,
        origin: i.conversation_origin,
    };
    let pricing = PricingRecord {
        billable: i.pricing_billable,
        pricing_model: i.pricing_model,
        category: i.pricing_category,
        kind: i.pricing_type,
    };
    let mut other_statuses = i.other_statuses.unwrap_or_default();
    other_statuses.sort();
    Ok(MessageRecord {
        pk: i.pk.unwrap_or_default(),
        message_id: i.message_id,
        tenant: i.tenant,
        phone_number_id: i.phone_number_id,
        recipient: i.recipient,
        kind: i.r#type,
        template_name: i.template_name,
        template_language: i.template_language,
        metadata: i.metadata,
        request_hash: i.request_hash,
        send_state: i.send_state,
        lock_expires_at: i.lock_expires_at,
        attempts: i.attempts,
        wamid: i.wamid,
        times: StatusTimes {
            accepted_at: i.accepted_at,
            sent_at: i.sent_at,
            delivered_at: i.delivered_at,
            read_at: i.read_at,
            played_at: i.played_at,
            failed_at: i.failed_at,
            suppressed_at: i.suppressed_at,
            scheduled_at: i.scheduled_at,
            cancelled_at: i.cancelled_at,
        },
        suppressed_reason: i.suppressed_reason,
        send_at: i.send_at,
        error: i.error,
        errors: i.errors.unwrap_or_default(),
        conversation: (conversation != ConversationRecord::default()).then_some(conversation),
        pricing: (pricing != PricingRecord::default()).then_some(pricing),
        other_statuses,
        created_at: i.created_at,
        updated_at: i.updated_at,
        expires_at: i.expires_at,
    })
}

/// An item read into `T` with `serde_dynamo`; an error names the attribute
/// (`read_at`, `errors[0].code`) and what was wrong with it.
pub fn from_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, RecordError> {
    let value = serde_dynamo::AttributeValue::from(AttributeValue::M(item.clone()));
    serde_path_to_error::deserialize(serde_dynamo::Deserializer::from_attribute_value(value))
        .map_err(|e| RecordError::Malformed {
            attribute: e.path().to_string(),
            reason: e.inner().to_string(),
        })
}

/// An error entry as the DynamoDB map `error` and `errors` hold, leaving
/// out absent fields.
pub fn error_attribute(error: &ErrorRecord) -> AttributeValue {
    let mut m = HashMap::new();
    if let Some(code) = error.code {
        m.insert("code".to_owned(), AttributeValue::N(code.to_string()));
    }
    for (name, value) in [
        ("title", &error.title),
        ("message", &error.message),
        ("details", &error.details),
        ("class", &error.class),
        ("source", &error.source),
        ("reason", &error.reason),
    ] {
        if let Some(v) = value {
            m.insert(name.to_owned(), AttributeValue::S(v.clone()));
        }
    }
    AttributeValue::M(m)
}

/// A DynamoDB value as JSON: `M` → object, `L` → array, `N` → number (kept
/// as its text when JSON cannot hold it exactly), sets → arrays, `B` →
/// base64 text.
pub fn to_json(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    let number = |n: &str| -> Value {
        if let Ok(i) = n.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = n.parse::<u64>() {
            return Value::Number(u.into());
        }
        n.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(n.to_owned()))
    };
    let bytes = |b: &aws_sdk_dynamodb::primitives::Blob| -> Value {
        Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
    };
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        AttributeValue::L(l) => Value::Array(l.iter().map(to_json).collect()),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(s) => Value::Array(s.iter().map(|n| number(n)).collect()),
        AttributeValue::B(b) => bytes(b),
        AttributeValue::Bs(s) => Value::Array(s.iter().map(bytes).collect()),
        _ => Value::Null,
    }
}

/// JSON as a DynamoDB value: objects → `M`, arrays → `L`, numbers → `N`.
pub fn from_json(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(from_json).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// A refused request (malformed, too large) will be refused again; anything
/// else (throttling that outlasted the SDK's retries, a 5xx, the network)
/// may pass on a retry.
pub fn failure<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let refused = matches!(err, SdkError::ConstructionFailure(_))
        || err
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "ValidationException");
    let source = Box::new(err);
    if refused {
        StoreError::Rejected { operation, source }
    } else {
        StoreError::Unavailable { operation, source }
    }
}

/// The item at `key`, read consistently (`None`: there is none);
/// `operation` names the read in errors.
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    key: Item,
    operation: &'static str,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table_name)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| failure(operation, e))?;
    Ok(out.item)
}

/// Writes `item` only if its key is new: `false` when it was already there.
pub async fn put_new(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    item: Item,
) -> Result<bool, SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>> {
    let result = client
        .put_item()
        .table_name(table_name)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", super::PK)
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every item of the partition `pk`, page by page, read consistently (the
/// bindings', the API keys', a tenant's health items).
pub async fn query_partition(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    pk: &str,
) -> Result<Vec<Item>, SdkError<aws_sdk_dynamodb::operation::query::QueryError>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table_name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", super::PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await?;
        out.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// Whether a conditional write's condition did not hold.
pub fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;
    use crate::table::attr::message as attr;
    use serde_json::json;

    #[test]
    fn reads_both_writers_fields() {
        let item: Item = [
            ("pk", s("MSG#m1")),
            ("sk", s("MSG")),
            (attr::MESSAGE_ID, s("m1")),
            (attr::RECIPIENT, s("5511988887777")),
            (attr::TYPE, s("template")),
            (
                attr::METADATA,
                AttributeValue::M(
                    [
                        ("order".to_owned(), s("1234")),
                        ("n".to_owned(), n(7)),
                        (
                            "nested".to_owned(),
                            AttributeValue::L(vec![AttributeValue::Bool(true)]),
                        ),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
            (attr::ACCEPTED_AT, n(1_730_000_000_000)),
            (attr::DELIVERED_AT, n(1_730_000_001_000)),
            (attr::FAILED_AT, n(1_730_000_002_000)),
            (
                attr::ERRORS,
                AttributeValue::L(vec![error_attribute(&ErrorRecord {
                    code: Some(131026),
                    title: Some("Message undeliverable".into()),
                    details: Some("d".into()),
                    ..ErrorRecord::default()
                })]),
            ),
            (attr::CONVERSATION_ID, s("c1")),
            (attr::PRICING_BILLABLE, AttributeValue::Bool(true)),
            (
                attr::OTHER_STATUSES,
                AttributeValue::Ss(vec!["warning@5".into()]),
            ),
            (attr::EXPIRES_AT, n(100)),
            ("unknown_future_attribute", s("ignored")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let r = message_record(&item).unwrap();
        assert_eq!(r.pk, "MSG#m1");
        assert_eq!(r.status(), Status::Failed);
        assert_eq!(
            Value::Object(r.metadata.clone().unwrap()),
            json!({"order": "1234", "n": 7, "nested": [true]})
        );
        assert_eq!(r.errors[0].code, Some(131026));
        assert_eq!(r.errors[0].details.as_deref(), Some("d"));
        assert_eq!(r.conversation.as_ref().unwrap().id.as_deref(), Some("c1"));
        assert_eq!(r.pricing.as_ref().unwrap().billable, Some(true));
        assert!(r.error.is_none());
        assert_eq!(r.other_statuses, ["warning@5"]);
        assert!(r.is_expired(100) && !r.is_expired(99));
    }

    #[test]
    fn a_wrongly_typed_attribute_is_named() {
        let item: Item = [(attr::READ_AT.to_owned(), s("yesterday"))]
            .into_iter()
            .collect();
        let RecordError::Malformed { attribute, .. } = message_record(&item).unwrap_err();
        assert_eq!(attribute, attr::READ_AT);
        let item: Item = [(
            attr::ERRORS.to_owned(),
            AttributeValue::L(vec![AttributeValue::M(
                [("code".to_owned(), s("x"))].into_iter().collect(),
            )]),
        )]
        .into_iter()
        .collect();
        let RecordError::Malformed { attribute, .. } = message_record(&item).unwrap_err();
        assert_eq!(attribute, "errors[0].code");
        let item: Item = [(attr::SENT_AT.to_owned(), AttributeValue::N("-1".into()))]
            .into_iter()
            .collect();
        assert!(message_record(&item).is_err());
        assert_eq!(
            message_record(&Item::new()).unwrap().status(),
            Status::Pending
        );
    }

    #[test]
    fn json_round_trips_through_attributes() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": "d"}, "big": 18446744073709551615u64});
        assert_eq!(to_json(&from_json(&v)), v);
        assert_eq!(
            to_json(&AttributeValue::N("1e400".into())),
            json!("1e400"),
            "a number JSON cannot hold keeps its text"
        );
    }

    /// An item in the exact shape the sender and the status function write
    /// today (before the mapping moved to `serde_dynamo`), attribute by
    /// attribute, reads back into every field.
    #[test]
    fn an_item_written_by_the_current_writers_reads_back_whole() {
        let m = |pairs: Vec<(&str, AttributeValue)>| {
            AttributeValue::M(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        };
        let item: Item = [
            (super::super::PK, s("MSG#order-1")),
            (super::super::SK, s("MSG")),
            (attr::MESSAGE_ID, s("order-1")),
            (attr::PHONE_NUMBER_ID, s("1122")),
            (attr::RECIPIENT, s("5511988887777")),
            (attr::RECIPIENT_USER_ID, s("BR.1502576394655843")),
            (attr::TYPE, s("template")),
            (attr::TEMPLATE_NAME, s("appointment_reminder")),
            (attr::TEMPLATE_LANGUAGE, s("pt_BR")),
            (
                attr::METADATA,
                m(vec![
                    ("order", s("1234")),
                    ("n", AttributeValue::N("-7".into())),
                ]),
            ),
            (attr::REQUEST_HASH, s("ab12")),
            (attr::SEND_STATE, s("done")),
            (attr::LOCK_EXPIRES_AT, n(1_730_000_120_000)),
            (attr::ATTEMPTS, n(2)),
            (attr::WAMID, s("wamid.X")),
            (attr::ACCEPTED_AT, n(1)),
            (attr::SENT_AT, n(2)),
            (attr::DELIVERED_AT, n(3)),
            (attr::READ_AT, n(4)),
            (attr::PLAYED_AT, n(4)),
            (attr::FAILED_AT, n(5)),
            (attr::SUPPRESSED_AT, n(6)),
            (attr::SUPPRESSED_REASON, s("opted_out")),
            (attr::SCHEDULED_AT, n(7)),
            (attr::CANCELLED_AT, n(8)),
            (attr::SEND_AT, n(9)),
            (attr::REQUEST, s("{}")),
            // The sender's error map carries more than an ErrorRecord.
            (
                attr::ERROR,
                m(vec![
                    ("code", n(131026)),
                    ("title", s("t")),
                    ("message", s("m")),
                    ("class", s("permanent")),
                    ("source", s("cloud_api")),
                    ("reason", s("graph_error")),
                    (attr::error::AT, n(5)),
                    (attr::error::FBTRACE_ID, s("trace")),
                    (attr::error::HTTP_STATUS, n(400)),
                ]),
            ),
            (
                attr::ERRORS,
                AttributeValue::L(vec![m(vec![
                    ("code", AttributeValue::N("-1".into())),
                    ("details", s("d")),
                    ("title", AttributeValue::Null(true)),
                ])]),
            ),
            (
                attr::LAST_ERROR,
                m(vec![("reason", s("store_unavailable"))]),
            ),
            (attr::CONVERSATION_ID, s("c1")),
            (attr::CONVERSATION_EXPIRES_AT, n(1_730_086_400_000)),
            (attr::CONVERSATION_ORIGIN, s("utility")),
            (attr::PRICING_BILLABLE, AttributeValue::Bool(false)),
            (attr::PRICING_MODEL, s("PMP")),
            (attr::PRICING_CATEGORY, s("utility")),
            (attr::PRICING_TYPE, s("regular")),
            (
                attr::OTHER_STATUSES,
                AttributeValue::Ss(vec!["warning@9".into(), "held@8".into()]),
            ),
            (attr::CREATED_AT, n(10)),
            (attr::UPDATED_AT, n(11)),
            (attr::EXPIRES_AT, n(12)),
            (attr::RECIPIENT_TYPE, AttributeValue::Null(true)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let expected = MessageRecord {
            pk: "MSG#order-1".into(),
            message_id: Some("order-1".into()),
            // Written before tenants: the default tenant's, with no attribute.
            tenant: None,
            phone_number_id: Some("1122".into()),
            recipient: Some("5511988887777".into()),
            kind: Some("template".into()),
            template_name: Some("appointment_reminder".into()),
            template_language: Some("pt_BR".into()),
            metadata: json!({"order": "1234", "n": -7}).as_object().cloned(),
            request_hash: Some("ab12".into()),
            send_state: Some("done".into()),
            lock_expires_at: Some(1_730_000_120_000),
            attempts: Some(2),
            wamid: Some("wamid.X".into()),
            times: StatusTimes {
                accepted_at: Some(1),
                sent_at: Some(2),
                delivered_at: Some(3),
                read_at: Some(4),
                played_at: Some(4),
                failed_at: Some(5),
                suppressed_at: Some(6),
                scheduled_at: Some(7),
                cancelled_at: Some(8),
            },
            suppressed_reason: Some("opted_out".into()),
            send_at: Some(9),
            error: Some(ErrorRecord {
                code: Some(131026),
                title: Some("t".into()),
                message: Some("m".into()),
                details: None,
                class: Some("permanent".into()),
                source: Some("cloud_api".into()),
                reason: Some("graph_error".into()),
            }),
            errors: vec![ErrorRecord {
                code: Some(-1),
                details: Some("d".into()),
                ..ErrorRecord::default()
            }],
            conversation: Some(ConversationRecord {
                id: Some("c1".into()),
                expires_at: Some(1_730_086_400_000),
                origin: Some("utility".into()),
            }),
            pricing: Some(PricingRecord {
                billable: Some(false),
                pricing_model: Some("PMP".into()),
                category: Some("utility".into()),
                kind: Some("regular".into()),
            }),
            other_statuses: vec!["held@8".into(), "warning@9".into()],
            created_at: Some(10),
            updated_at: Some(11),
            expires_at: Some(12),
        };
        assert_eq!(message_record(&item).unwrap(), expected);
        // What the writers build reads back the same way.
        let written = error_attribute(expected.error.as_ref().unwrap());
        let back: ErrorRecord = from_item(written.as_m().unwrap()).unwrap();
        assert_eq!(Some(back), expected.error);
    }

    #[test]
    fn update_expressions_use_one_placeholder_per_name() {
        let mut u = Update::default();
        u.set("status", AttributeValue::S("read".into()))
            .set_if_absent("a-b", AttributeValue::N("1".into()))
            .set_if_absent("a_b", AttributeValue::N("2".into()))
            .add("attempts", AttributeValue::N("1".into()))
            .remove("status");
        assert_eq!(
            u.expression(),
            "SET #a0 = :v0, #a1 = if_not_exists(#a1, :v1), #a2 = if_not_exists(#a2, :v2) \
             ADD #a3 :v3 REMOVE #a0"
        );
        // Names that only differ in punctuation keep their own placeholders.
        assert_eq!(u.names.get("#a1").map(String::as_str), Some("a-b"));
        assert_eq!(u.names.get("#a2").map(String::as_str), Some("a_b"));
        assert_eq!(u.names.len(), 4);
        assert_eq!(u.values.len(), 4);
        assert_eq!(u.name("attempts"), "#a3");
    }
}
