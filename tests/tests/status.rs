//! The status function against the local AWS emulator: real DynamoDB for
//! the table, real SQS for upstream events and the dead-letter queue. Queue
//! bodies are made by `shared::intake::split`, exactly as the webhook
//! function queues them, and handed to `chasqui_status::handle` as Lambda would.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chasqui_status::dynamo::{DynamoStore, RequestCounter};
use chasqui_status::{App, Ports, configure};
use harness::{fixture, unique};
use proptest::prelude::*;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::events::publish::EventPublisher;
use shared::events::{Event, OptSource, Payload};
use shared::intake::{self, MAX_BODY_BYTES, QueueMessage};
use shared::queue::QueueError;
use shared::record::{MessageRecord, Status};
use shared::sqs::{BatchFailed, BatchResponse, SqsRecord, sqs_event};
use shared::table;
use shared::tenant::{DEFAULT_APP, DEFAULT_TENANT};
use shared::webhook::WebhookPayload;

type Item = HashMap<String, AttributeValue>;

const PHONE: &str = "1122334455";
const WA_ID: &str = "5511988887777";
const RECEIVED_AT: u64 = 1_730_000_002_000;
/// The seconds Meta's fixtures use.
const T0: u64 = 1_730_000_000;

// ---- setup ------------------------------------------------------------------

struct Env {
    app: App,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    events_url: String,
    dlq_url: String,
}

fn settings(table: &str, extra: &[(&str, &str)]) -> Settings {
    let mut pairs: Vec<(String, String)> = vec![("TABLE_NAME".into(), table.into())];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
}

/// A fresh table, events queue and dead-letter queue, and the function
/// configured for them through its own `configure`.
async fn env_with(extra: &[(&str, &str)]) -> Env {
    let ddb = harness::dynamodb().await;
    let sqs = harness::sqs().await;
    let table = harness::create_table(&ddb).await;
    let events_url = harness::create_queue(&sqs, "upstream-events").await;
    let dlq_url = harness::create_queue(&sqs, "webhook-dlq").await;
    let mut pairs = vec![
        ("UPSTREAM_EVENTS_QUEUE_URL", events_url.as_str()),
        ("WEBHOOK_DLQ_URL", dlq_url.as_str()),
        ("WEBHOOK_MAX_RECEIVE_COUNT", "3"),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    let config = configure(&settings(&table, &pairs)).unwrap();
    let app = App::from_config(&config, &harness::aws().await);
    Env {
        app,
        ddb,
        sqs,
        table,
        events_url,
        dlq_url,
    }
}

async fn env() -> Env {
    env_with(&[]).await
}

// ---- webhooks as the status function receives them --------------------------

fn envelope(value: Value) -> Vec<u8> {
    harness::webhook_envelope(value)
}

fn metadata() -> Value {
    harness::webhook_metadata(PHONE)
}

/// One status as Meta sends it: `sent` carries the conversation with its
/// expiry, `delivered` without it (as Meta does), `failed` its errors.
fn status_json(callback: Option<&str>, wamid: &str, status: &str, secs: u64) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": secs.to_string(), "recipient_id": WA_ID});
    if let Some(cb) = callback {
        s["biz_opaque_callback_data"] = json!(cb);
    }
    let pricing =
        json!({"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"});
    match status {
        "sent" => {
            s["conversation"] = json!({"id": "conv-1", "expiration_timestamp": "1730086400", "origin": {"type": "utility"}});
            s["pricing"] = pricing;
        }
        "delivered" => {
            s["conversation"] = json!({"id": "conv-1", "origin": {"type": "utility"}});
            s["pricing"] = pricing;
        }
        "failed" => {
            s["errors"] = json!([
                {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                 "error_data": {"details": "Message could not be delivered to the recipient."}},
                {"code": 131049, "title": "Engagement limit", "message": "Not delivered to maintain healthy ecosystem engagement.",
                 "error_data": {"details": "Ecosystem engagement"}}
            ]);
        }
        _ => {}
    }
    s
}

fn status_body(callback: Option<&str>, wamid: &str, status: &str, secs: u64) -> Vec<u8> {
    envelope(
        json!({"messaging_product": "whatsapp", "metadata": metadata(),
                    "statuses": [status_json(callback, wamid, status, secs)]}),
    )
}

fn inbound_body(wamid: &str, secs: u64, text: &str) -> Vec<u8> {
    envelope(
        json!({"messaging_product": "whatsapp", "metadata": metadata(),
        "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": WA_ID}],
        "messages": [{"from": WA_ID, "id": wamid, "timestamp": secs.to_string(), "type": "text", "text": {"body": text}}]}),
    )
}

fn queued(body: &[u8]) -> Vec<QueueMessage> {
    intake::split(DEFAULT_APP, body, RECEIVED_AT, MAX_BODY_BYTES).messages
}

/// The SQS record a queued webhook message arrives as.
fn sqs_record(message: &QueueMessage, receive_count: u32) -> SqsRecord {
    let mut record = SqsRecord::new(unique("sqs-message"), message.body.as_str())
        .with_receive_count(receive_count)
        .with_attribute("kind", "String", message.kind.as_str())
        .with_attribute("received_at", "Number", &message.received_at.to_string());
    if let Some(p) = &message.phone_number_id {
        record = record.with_attribute("phone_number_id", "String", p);
    }
    if let Some(f) = &message.field {
        record = record.with_attribute("field", "String", f);
    }
    record
}

/// Delivers a webhook body to the function, one record per queued message.
async fn deliver(env: &Env, body: &[u8]) -> BatchResponse {
    let records: Vec<SqsRecord> = queued(body).iter().map(|m| sqs_record(m, 1)).collect();
    chasqui_status::handle(&env.app, sqs_event(&records)).await
}

async fn deliver_ok(env: &Env, body: &[u8]) {
    let response = deliver(env, body).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "failures: {:?}",
        response.batch_item_failures
    );
}

// ---- reading back ------------------------------------------------------------

async fn item(env: &Env, pk: &str, sk: &str) -> Option<Item> {
    env.ddb
        .get_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn message(env: &Env, pk: &str) -> MessageRecord {
    let item = item(env, pk, table::MESSAGE_SK)
        .await
        .unwrap_or_else(|| panic!("no message item {pk}"));
    shared::table::dynamo::message_record(&item).unwrap()
}

async fn contact(env: &Env) -> Item {
    item(
        env,
        &table::contact_pk(DEFAULT_TENANT, PHONE, WA_ID),
        table::CONTACT_SK,
    )
    .await
    .expect("contact item")
}

/// Every item whose partition key starts with `prefix`.
async fn scan(env: &Env, prefix: &str) -> Vec<Item> {
    env.ddb
        .scan()
        .table_name(&env.table)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn n(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Receives `expected` events from the upstream queue (more if more came).
async fn events(env: &Env, expected: usize) -> Vec<Event> {
    harness::receive(&env.sqs, &env.events_url, expected)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

/// How many events were ever published (received ones stay in flight).
async fn published(env: &Env) -> usize {
    harness::queue_depth(&env.sqs, &env.events_url).await
}

fn status_data(e: &Event) -> &shared::events::StatusChanged {
    match &e.payload {
        Payload::StatusChanged(d) => d,
        other => panic!("not a status event: {other:?}"),
    }
}

/// What the simulated sender writes (`docs/data-model.md`, "Set by the
/// sender"), with the same kind of `UpdateItem` the sender uses.
async fn sender_write(ddb: &aws_sdk_dynamodb::Client, table_name: &str, id: &str, wamid: &str) {
    let metadata = AttributeValue::M(HashMap::from([
        ("order".to_owned(), AttributeValue::S("1234".into())),
        ("tenant".to_owned(), AttributeValue::S("acme".into())),
    ]));
    ddb.update_item()
        .table_name(table_name)
        .key(
            "pk",
            AttributeValue::S(table::message_pk(DEFAULT_TENANT, id)),
        )
        .key("sk", AttributeValue::S(table::MESSAGE_SK.into()))
        .update_expression(
            "SET message_id = :id, phone_number_id = :p, recipient = :r, #t = :type, \
             template_name = :tn, template_language = :tl, metadata = :m, request_hash = :h, \
             send_state = :done, attempts = :one, wamid = :w, accepted_at = :acc, \
             created_at = if_not_exists(created_at, :c), updated_at = :c, expires_at = :exp",
        )
        .expression_attribute_names("#t", "type")
        .expression_attribute_values(":id", AttributeValue::S(id.into()))
        .expression_attribute_values(":p", AttributeValue::S(PHONE.into()))
        .expression_attribute_values(":r", AttributeValue::S(WA_ID.into()))
        .expression_attribute_values(":type", AttributeValue::S("template".into()))
        .expression_attribute_values(":tn", AttributeValue::S("order_shipped".into()))
        .expression_attribute_values(":tl", AttributeValue::S("pt_BR".into()))
        .expression_attribute_values(":m", metadata)
        .expression_attribute_values(":h", AttributeValue::S("ab".repeat(32)))
        .expression_attribute_values(":done", AttributeValue::S("done".into()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":w", AttributeValue::S(wamid.into()))
        .expression_attribute_values(":acc", AttributeValue::N(((T0 - 5) * 1000).to_string()))
        .expression_attribute_values(":c", AttributeValue::N(((T0 - 6) * 1000).to_string()))
        .expression_attribute_values(":exp", AttributeValue::N((T0 + 90 * 86_400).to_string()))
        .send()
        .await
        .unwrap();
}

// ---- every payload shape -------------------------------------------------------

/// Every payload shape in `shared/fixtures/webhooks/` (and any added later)
/// is applied without error, with what each item should leave derived from
/// the fixture itself, and a replay changes nothing.
#[tokio::test]
async fn every_fixture_is_applied_without_error() {
    let dir = harness::root().join("shared/fixtures/webhooks");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 29, "fixtures: {names:?}");
    for name in &names {
        let env = env().await;
        let body = fixture(name);
        deliver_ok(&env, body.as_bytes()).await;
        let payload = WebhookPayload::parse(body.as_bytes()).unwrap();
        let raw: Value = serde_json::from_str(&body).unwrap();
        let (mut reports, mut inbound, mut kept) = (0, 0, 0);
        for (e, entry) in payload.entry.iter().enumerate() {
            for (c, change) in entry.changes.iter().enumerate() {
                let Some(value) = change.messages() else {
                    if change.value.get("user_preferences").is_none()
                        && !chasqui_status::health::FIELDS.contains(&change.field.as_str())
                        && !shared::templates::WEBHOOK_FIELDS.contains(&change.field.as_str())
                    {
                        kept += 1;
                    }
                    continue;
                };
                let phone = value.metadata.phone_number_id.as_str();
                kept += usize::from(!value.errors.is_empty());
                for status in &value.statuses {
                    reports += 1;
                    let pk = match &status.biz_opaque_callback_data {
                        Some(cb) => table::message_pk(DEFAULT_TENANT, cb),
                        None => table::foreign_message_pk(DEFAULT_TENANT, &status.id),
                    };
                    let r = message(&env, &pk).await;
                    let at = status.timestamp.map(|t| t as u64 * 1000);
                    let slot = match status.status.as_str() {
                        "sent" => r.times.sent_at,
                        "delivered" => r.times.delivered_at,
                        "read" => r.times.read_at,
                        "played" => r.times.played_at,
                        "failed" => r.times.failed_at,
                        other => {
                            let kept = format!("{other}@{}", at.unwrap());
                            assert!(r.other_statuses.contains(&kept), "{name}: {kept}");
                            at
                        }
                    };
                    assert_eq!(slot, at, "{name}: {}", status.status);
                    assert_eq!(r.wamid.as_deref(), Some(status.id.as_str()), "{name}");
                    if status.status == "failed" {
                        assert_eq!(r.errors.len(), status.errors.len(), "{name}");
                        assert_eq!(r.status(), Status::Failed, "{name}");
                    }
                }
                for (m, msg) in value.messages.iter().enumerate() {
                    inbound += 1;
                    let at = msg.timestamp.unwrap() as u64 * 1000;
                    // History lives under the sender's BSUID when Meta names
                    // one, else under the phone.
                    let ids = msg.sender(&value);
                    let pk = table::contact_pk(DEFAULT_TENANT, phone, ids.primary().unwrap());
                    let stored = item(&env, &pk, &table::inbound_sk(at, &msg.id))
                        .await
                        .unwrap_or_else(|| panic!("{name}: inbound {} not stored", msg.id));
                    assert_eq!(s(&stored, "type"), Some(msg.kind.as_str()), "{name}");
                    assert_eq!(
                        s(&stored, "profile_name"),
                        value
                            .contact_of(&ids)
                            .and_then(|c| c.profile.name.as_deref()),
                        "{name}"
                    );
                    // The full object, unknown parts included, as Meta sent it.
                    let kept_json: Value =
                        serde_json::from_str(s(&stored, "message").unwrap()).unwrap();
                    let original = &raw["entry"][e]["changes"][c]["value"]["messages"][m];
                    assert_eq!(&kept_json, original, "{name}");
                    let contact = item(&env, &pk, table::CONTACT_SK).await.unwrap();
                    assert!(n(&contact, "last_inbound_at").unwrap() >= at, "{name}");
                }
            }
        }
        assert_eq!(scan(&env, "HOOK#").await.len(), kept, "{name}: records");
        assert!(
            published(&env).await >= reports + inbound,
            "{name}: an event per status and inbound message"
        );
        // A replay of any shape changes nothing and fails nothing.
        let before = scan(&env, "").await.len();
        deliver_ok(&env, body.as_bytes()).await;
        assert_eq!(scan(&env, "").await.len(), before, "{name}");
    }
}

#[tokio::test]
async fn other_fields_and_raw_bodies_are_recorded_once_with_their_reason() {
    let env = env().await;
    // (Template fields go to the catalogue: tests/tests/templates.rs.)
    deliver_ok(&env, fixture("unknown-field.json").as_bytes()).await;
    deliver_ok(&env, fixture("unknown-field.json").as_bytes()).await;
    let records = scan(&env, "HOOK#").await;
    assert_eq!(records.len(), 1);
    assert_eq!(s(&records[0], "field"), Some("some_future_field"));
    assert_eq!(s(&records[0], "kind"), Some("field"));
    assert!(s(&records[0], "body").unwrap().contains("goes"));
    assert!(n(&records[0], "expires_at").unwrap() > RECEIVED_AT / 1000);

    // A verified body that is not a webhook arrives raw and is acknowledged.
    deliver_ok(&env, b"this is not json").await;
    let raw: Vec<Item> = scan(&env, "HOOK#")
        .await
        .into_iter()
        .filter(|r| s(r, "kind") == Some("raw"))
        .collect();
    assert_eq!(raw.len(), 1);
    assert_eq!(s(&raw[0], "body"), Some("this is not json"));
    assert!(s(&raw[0], "reason").unwrap().contains("not valid JSON"));

    // A messages change with keys Chasqui does not know yet keeps them.
    let body = envelope(
        json!({"messaging_product": "whatsapp", "metadata": metadata(),
        "calls": [{"id": "call-1", "event": "connect"}]}),
    );
    deliver_ok(&env, &body).await;
    let unknown: Vec<Item> = scan(&env, "HOOK#")
        .await
        .into_iter()
        .filter(|r| s(r, "reason").is_some_and(|r| r.contains("calls")))
        .collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(published(&env).await, 0);
}

// ---- account and number health --------------------------------------------------

const WABA: &str = "102290129340398";

fn health_body(field: &str, time: u64, value: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "time": time, "changes": [{"field": field, "value": value}]}]})
    .to_string()
    .into_bytes()
}

fn health_data(e: &Event) -> &shared::events::HealthChanged {
    match &e.payload {
        Payload::NumberHealthChanged(d) | Payload::AccountHealthChanged(d) => d,
        other => panic!("not a health event: {other:?}"),
    }
}

#[tokio::test]
async fn number_and_account_updates_keep_the_newest_of_each_kind_and_are_told_upstream() {
    let env = env().await;
    let number = "15550001111";
    let quality = |time: u64, event: &str, old: &str, new: &str| {
        health_body(
            "phone_number_quality_update",
            time,
            json!({"display_phone_number": number, "event": event,
                   "old_limit": old, "current_limit": new}),
        )
    };
    let upgrade = quality(T0 + 100, "UPGRADE", "TIER_250", "TIER_1K");
    let downgrade = quality(T0 + 200, "DOWNGRADE", "TIER_1K", "TIER_250");
    deliver_ok(&env, &upgrade).await;
    deliver_ok(&env, &downgrade).await;
    // Meta's retry of the older update arrives last: it changes nothing.
    deliver_ok(&env, &upgrade).await;
    // A replay of the newest writes the same and yields the same event.
    deliver_ok(&env, &downgrade).await;
    // Another kind of update has its own order: an older name decision
    // lands beside the newer quality.
    let name = health_body(
        "phone_number_name_update",
        T0 + 50,
        json!({"display_phone_number": number, "decision": "APPROVED",
               "requested_verified_name": "Oficina Central"}),
    );
    deliver_ok(&env, &name).await;
    let restriction = health_body(
        "account_update",
        T0 + 300,
        json!({"event": "ACCOUNT_RESTRICTION", "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": "1730600000"}]}),
    );
    deliver_ok(&env, &restriction).await;

    let stored = item(
        &env,
        &table::health_pk(DEFAULT_TENANT),
        &table::health_sk(WABA, Some(number)),
    )
    .await
    .expect("number health item");
    assert_eq!(s(&stored, "quality_event"), Some("DOWNGRADE"));
    assert_eq!(s(&stored, "messaging_limit"), Some("TIER_250"));
    assert_eq!(n(&stored, "quality_at"), Some((T0 + 200) * 1000));
    assert_eq!(s(&stored, "name_decision"), Some("APPROVED"));
    assert_eq!(n(&stored, "name_at"), Some((T0 + 50) * 1000));
    let account = item(
        &env,
        &table::health_pk(DEFAULT_TENANT),
        &table::health_sk(WABA, None),
    )
    .await
    .expect("account health item");
    assert_eq!(s(&account, "account_event"), Some("ACCOUNT_RESTRICTION"));
    assert!(
        s(&account, "account_details")
            .unwrap()
            .contains("RESTRICTED_BIZ_INITIATED_MESSAGING")
    );
    // Nothing of it is kept as an unapplied webhook part.
    assert!(scan(&env, "HOOK#").await.is_empty());

    // upgrade, downgrade, its replay, the name, the restriction; not the
    // superseded retry.
    let evs = events(&env, 5).await;
    assert_eq!(evs.len(), 5, "{evs:?}");
    assert_eq!(published(&env).await, 5, "{evs:?}");
    let downgrades: Vec<&Event> = evs
        .iter()
        .filter(|e| {
            health_data(e)
                .current
                .get("quality_event")
                .map(String::as_str)
                == Some("DOWNGRADE")
        })
        .collect();
    assert_eq!(downgrades.len(), 2, "{evs:?}");
    assert_eq!(
        downgrades[0].id, downgrades[1].id,
        "a replay has the same id"
    );
    let d = health_data(downgrades[0]);
    assert_eq!(downgrades[0].kind(), "number.health_changed");
    assert_eq!(downgrades[0].occurred_at, (T0 + 200) * 1000);
    assert_eq!(d.alert.as_deref(), Some("whatsapp_number_quality_dropped"));
    assert_eq!(
        d.previous.get("messaging_limit").map(String::as_str),
        Some("TIER_1K"),
        "the event says what it was before"
    );
    let restricted = evs
        .iter()
        .find(|e| e.kind() == "account.health_changed")
        .expect("account event");
    assert_eq!(
        health_data(restricted).alert.as_deref(),
        Some("whatsapp_account_restricted")
    );
    assert_eq!(health_data(restricted).display_phone_number, None);
    let named = evs
        .iter()
        .find(|e| health_data(e).field == "phone_number_name_update")
        .expect("name event");
    assert_eq!(health_data(named).alert, None);

    // `chasqui numbers` reads them back: the account, then its number.
    let listed = chasqui_cli::commands::numbers::read(&env.ddb, &env.table, DEFAULT_TENANT)
        .await
        .unwrap();
    let field = |i: usize, k: &str| listed[i].get(k).and_then(Value::as_str).map(str::to_owned);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        field(0, "account_event").as_deref(),
        Some("ACCOUNT_RESTRICTION")
    );
    assert_eq!(field(1, "display_phone_number").as_deref(), Some(number));
    assert_eq!(field(1, "messaging_limit").as_deref(), Some("TIER_250"));
}

// ---- statuses --------------------------------------------------------------------

#[tokio::test]
async fn statuses_correlate_by_callback_then_by_wamid_then_keep_foreign_ones() {
    let env = env().await;
    // 1. biz_opaque_callback_data names Chasqui's message.
    deliver_ok(
        &env,
        &status_body(Some("m-cb"), "wamid.CB", "delivered", T0 + 1),
    )
    .await;
    let r = message(&env, "MSG#m-cb").await;
    assert_eq!(r.times.delivered_at, Some((T0 + 1) * 1000));
    assert_eq!(r.message_id.as_deref(), Some("m-cb"));
    assert_eq!(r.recipient.as_deref(), Some(WA_ID));
    let c = r.conversation.unwrap();
    assert_eq!(
        (c.id.as_deref(), c.origin.as_deref()),
        (Some("conv-1"), Some("utility"))
    );
    let p = r.pricing.unwrap();
    assert_eq!(
        (
            p.billable,
            p.pricing_model.as_deref(),
            p.category.as_deref()
        ),
        (Some(true), Some("PMP"), Some("utility"))
    );
    assert_eq!(
        r.expires_at, None,
        "the sender owns the TTL of its messages"
    );

    // 2. Without callback data, the by_wamid index finds the sender's item.
    sender_write(&env.ddb, &env.table, "m-idx", "wamid.IDX").await;
    deliver_ok(&env, &status_body(None, "wamid.IDX", "read", T0 + 2)).await;
    let r = message(&env, "MSG#m-idx").await;
    assert_eq!(r.status(), Status::Read);
    assert!(item(&env, "WAMID#wamid.IDX", "MSG").await.is_none());

    // 3. A status for a message Chasqui never sent is kept by its wamid.
    deliver_ok(&env, &status_body(None, "wamid.FOREIGN", "sent", T0 + 3)).await;
    let r = message(
        &env,
        &table::foreign_message_pk(DEFAULT_TENANT, "wamid.FOREIGN"),
    )
    .await;
    assert_eq!(r.status(), Status::Sent);
    assert_eq!(r.message_id, None);
    assert_eq!(r.phone_number_id.as_deref(), Some(PHONE));
    assert_eq!(r.expires_at, Some(T0 + 3 + 30 * 86_400));

    let got = events(&env, 3).await;
    assert_eq!(got.len(), 3);
    let by_wamid: BTreeMap<_, _> = got
        .iter()
        .map(|e| (status_data(e).wamid.clone().unwrap(), e))
        .collect();
    assert_eq!(
        status_data(by_wamid["wamid.CB"]).message_id.as_deref(),
        Some("m-cb")
    );
    let idx = status_data(by_wamid["wamid.IDX"]);
    assert_eq!(idx.message_id.as_deref(), Some("m-idx"));
    assert_eq!(
        (idx.old_status, idx.new_status),
        (Status::Accepted, Status::Read)
    );
    assert_eq!(idx.metadata.as_ref().unwrap()["tenant"], "acme");
    assert_eq!(status_data(by_wamid["wamid.FOREIGN"]).message_id, None);
}

#[tokio::test]
async fn failed_is_terminal_and_keeps_all_of_metas_errors() {
    let env = env().await;
    sender_write(&env.ddb, &env.table, "m-f", "wamid.F").await;
    for (status, secs) in [
        ("sent", T0 + 1),
        ("failed", T0 + 2),
        ("delivered", T0 + 3),
        ("read", T0 + 4),
    ] {
        deliver_ok(&env, &status_body(Some("m-f"), "wamid.F", status, secs)).await;
    }
    let r = message(&env, "MSG#m-f").await;
    assert_eq!(r.status(), Status::Failed);
    // Every report's own time is still recorded.
    assert_eq!(r.times.delivered_at, Some((T0 + 3) * 1000));
    assert_eq!(r.times.read_at, Some((T0 + 4) * 1000));
    assert_eq!(r.errors.len(), 2);
    assert_eq!(r.errors[0].code, Some(131026));
    assert_eq!(r.errors[0].title.as_deref(), Some("Message undeliverable"));
    assert_eq!(
        r.errors[0].message.as_deref(),
        Some("Message undeliverable")
    );
    assert_eq!(
        r.errors[0].details.as_deref(),
        Some("Message could not be delivered to the recipient.")
    );
    assert_eq!(r.errors[1].code, Some(131049));
    assert_eq!(r.error.as_ref().unwrap().code, Some(131026));
    assert_eq!(
        r.metadata.as_ref().unwrap()["order"],
        "1234",
        "the sender's fields stay"
    );

    let got = events(&env, 4).await;
    let transitions: BTreeMap<String, (Status, Status)> = got
        .iter()
        .map(|e| {
            let d = status_data(e);
            (d.status.clone(), (d.old_status, d.new_status))
        })
        .collect();
    assert_eq!(transitions["sent"], (Status::Accepted, Status::Sent));
    assert_eq!(transitions["failed"], (Status::Sent, Status::Failed));
    assert_eq!(transitions["delivered"], (Status::Failed, Status::Failed));
    assert_eq!(transitions["read"], (Status::Failed, Status::Failed));
    let failed = got
        .iter()
        .map(status_data)
        .find(|d| d.status == "failed")
        .unwrap();
    assert_eq!(failed.errors.len(), 2);
    assert_eq!(failed.error.as_ref().unwrap().code, Some(131026));
    assert_eq!(failed.metadata.as_ref().unwrap()["tenant"], "acme");
}

#[tokio::test]
async fn a_replayed_status_changes_nothing_and_yields_the_same_event() {
    let env = env().await;
    sender_write(&env.ddb, &env.table, "m-r", "wamid.R").await;
    deliver_ok(&env, &status_body(Some("m-r"), "wamid.R", "sent", T0 + 1)).await;
    deliver_ok(
        &env,
        &status_body(Some("m-r"), "wamid.R", "delivered", T0 + 2),
    )
    .await;
    let mut first = item(&env, "MSG#m-r", "MSG").await.unwrap();
    let original = events(&env, 2).await;
    let find = |events: &[Event], status: &str| -> Event {
        events
            .iter()
            .find(|e| status_data(e).status == status)
            .cloned()
            .unwrap()
    };

    // Meta retries the last delivery: the very same event, content included.
    deliver_ok(
        &env,
        &status_body(Some("m-r"), "wamid.R", "delivered", T0 + 2),
    )
    .await;
    let replayed = events(&env, 1).await;
    assert_eq!(replayed, [find(&original, "delivered")]);

    // A replay of `sent` after `delivered` arrived: the same id (consumers
    // drop it), and old/new tell the message as it is now.
    deliver_ok(&env, &status_body(Some("m-r"), "wamid.R", "sent", T0 + 1)).await;
    let late = events(&env, 1).await;
    let sent = find(&original, "sent");
    assert_eq!(late[0].id, sent.id);
    assert_eq!(
        (status_data(&sent).old_status, status_data(&sent).new_status),
        (Status::Accepted, Status::Sent)
    );
    assert_eq!(
        (
            status_data(&late[0]).old_status,
            status_data(&late[0]).new_status
        ),
        (Status::Delivered, Status::Delivered)
    );

    let mut again = item(&env, "MSG#m-r", "MSG").await.unwrap();
    first.remove("updated_at");
    again.remove("updated_at");
    assert_eq!(first, again, "replays change nothing");
    assert_eq!(published(&env).await, 4);
}

#[tokio::test]
async fn a_status_before_the_senders_write_keeps_both_sides() {
    let env = env().await;
    deliver_ok(
        &env,
        &status_body(Some("m-early"), "wamid.E", "delivered", T0 + 2),
    )
    .await;
    sender_write(&env.ddb, &env.table, "m-early", "wamid.E").await;
    let r = message(&env, "MSG#m-early").await;
    assert_eq!(r.status(), Status::Delivered);
    assert_eq!(r.times.accepted_at, Some((T0 - 5) * 1000));
    assert_eq!(r.template_name.as_deref(), Some("order_shipped"));
    assert_eq!(r.send_state.as_deref(), Some("done"));
    assert_eq!(r.conversation.unwrap().id.as_deref(), Some("conv-1"));
    let e = events(&env, 1).await;
    // The sender had not written yet: no metadata to carry.
    assert_eq!(status_data(&e[0]).metadata, None);
    assert_eq!(
        (status_data(&e[0]).old_status, status_data(&e[0]).new_status),
        (Status::Pending, Status::Delivered)
    );
}

#[tokio::test]
async fn unknown_status_values_are_kept_on_the_message() {
    let env = env().await;
    deliver_ok(&env, fixture("status-unknown-value.json").as_bytes()).await;
    deliver_ok(&env, fixture("status-delivered.json").as_bytes()).await;
    let r = message(&env, "MSG#order-1234-shipped").await;
    assert_eq!(r.other_statuses, ["warning@1730000001000"]);
    assert_eq!(r.status(), Status::Delivered);
    let got = events(&env, 2).await;
    let warning = got
        .iter()
        .map(status_data)
        .find(|d| d.status == "warning")
        .unwrap();
    assert_eq!(
        (warning.old_status, warning.new_status),
        (Status::Pending, Status::Pending)
    );
}

#[tokio::test]
async fn an_earlier_time_arriving_later_wins_its_slot() {
    let env = env().await;
    // played (voice) arrives before the earlier read.
    deliver_ok(&env, &status_body(Some("m-v"), "wamid.V", "played", T0 + 9)).await;
    deliver_ok(&env, &status_body(Some("m-v"), "wamid.V", "read", T0 + 4)).await;
    let r = message(&env, "MSG#m-v").await;
    assert_eq!(r.times.read_at, Some((T0 + 4) * 1000));
    assert_eq!(r.times.played_at, Some((T0 + 9) * 1000));
    assert_eq!(r.status(), Status::Read);
    // A later duplicate adds nothing (and no event).
    deliver_ok(&env, &status_body(Some("m-v"), "wamid.V", "read", T0 + 7)).await;
    assert_eq!(
        message(&env, "MSG#m-v").await.times.read_at,
        Some((T0 + 4) * 1000)
    );
    assert_eq!(events(&env, 2).await.len(), 2);
    assert_eq!(published(&env).await, 2);
}

#[tokio::test]
async fn one_change_with_many_reports_of_one_message_lands_whole() {
    let env = env().await;
    sender_write(&env.ddb, &env.table, "m-one", "wamid.ONE").await;
    // Meta batches reports; they are written concurrently and still agree.
    let reports: Vec<Value> = [
        ("read", 30),
        ("played", 25),
        ("delivered", 20),
        ("sent", 10),
        ("read", 30),
    ]
    .iter()
    .map(|(st, dt)| status_json(Some("m-one"), "wamid.ONE", st, T0 + dt))
    .collect();
    let body = envelope(
        json!({"messaging_product": "whatsapp", "metadata": metadata(), "statuses": reports}),
    );
    deliver_ok(&env, &body).await;
    let r = message(&env, "MSG#m-one").await;
    assert_eq!(r.status(), Status::Read);
    assert_eq!(r.times.sent_at, Some((T0 + 10) * 1000));
    assert_eq!(r.times.delivered_at, Some((T0 + 20) * 1000));
    assert_eq!(
        r.times.read_at,
        Some((T0 + 25) * 1000),
        "played preceded read"
    );
    assert_eq!(r.times.played_at, Some((T0 + 25) * 1000));
    assert_eq!(r.conversation.unwrap().expires_at, Some(1_730_086_400_000));
    // Four distinct reports (the duplicate read shares its id).
    let got = events(&env, 5).await;
    let ids: BTreeSet<&str> = got.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
}

// ---- DynamoDB requests per event -------------------------------------------------

async fn cost(env: &Env, body: &[u8]) -> BTreeMap<String, u64> {
    let before = env.app.dynamodb_requests();
    deliver_ok(env, body).await;
    let after = env.app.dynamodb_requests();
    after
        .into_iter()
        .map(|(op, n)| (op.clone(), n - before.get(&op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn dynamodb_requests_per_status_and_per_inbound_message() {
    let env = env().await;
    sender_write(&env.ddb, &env.table, "m-c", "wamid.C").await;
    let cases: Vec<(&str, Vec<u8>, BTreeMap<String, u64>)> = vec![
        (
            "status with callback data",
            status_body(Some("m-c"), "wamid.C", "delivered", T0 + 2),
            ops(&[("UpdateItem", 1)]),
        ),
        (
            "replayed status",
            status_body(Some("m-c"), "wamid.C", "delivered", T0 + 2),
            ops(&[("UpdateItem", 1)]),
        ),
        (
            "status without callback data (index lookup)",
            status_body(None, "wamid.C", "read", T0 + 3),
            ops(&[("Query", 1), ("UpdateItem", 1)]),
        ),
        (
            "earlier time arriving after a later one",
            status_body(Some("m-c"), "wamid.C", "delivered", T0 + 1),
            ops(&[("UpdateItem", 2)]),
        ),
        (
            "failed with 131050 (also opts the contact out)",
            fixture("status-failed-marketing-optout.json").into_bytes(),
            ops(&[("UpdateItem", 2)]),
        ),
        (
            "inbound text",
            inbound_body("wamid.IN1", T0 + 100, "Olá"),
            ops(&[("PutItem", 1), ("UpdateItem", 1)]),
        ),
        (
            "inbound opt-out keyword",
            inbound_body("wamid.IN2", T0 + 101, "STOP"),
            ops(&[("PutItem", 1), ("UpdateItem", 2)]),
        ), // BSUIDs: a status keeps them in its one write; an inbound message
        // naming both ids also links the phone item (one more write); a
        // BSUID change links the old and the new item.
        (
            "status naming a BSUID only",
            fixture("status-delivered-bsuid.json").into_bytes(),
            ops(&[("UpdateItem", 1)]),
        ),
        (
            "group status",
            fixture("status-group-read.json").into_bytes(),
            ops(&[("UpdateItem", 1)]),
        ),
        (
            "inbound from a username customer (BSUID only)",
            fixture("inbound-username-text.json").into_bytes(),
            ops(&[("PutItem", 1), ("UpdateItem", 2)]),
        ),
        (
            "inbound naming phone and BSUID",
            fixture("inbound-phone-and-bsuid-text.json").into_bytes(),
            ops(&[("PutItem", 1), ("UpdateItem", 2)]),
        ),
        (
            "a BSUID change (user_changed_user_id)",
            fixture("inbound-system-user-id-changed.json").into_bytes(),
            ops(&[("PutItem", 1), ("UpdateItem", 3)]),
        ),
    ];
    for (what, body, expected) in cases {
        let got = cost(&env, &body).await;
        println!("dynamodb requests, {what}: {got:?}");
        assert_eq!(got, expected, "{what}");
    }
    // Many statuses in one change: still one request each.
    let statuses: Vec<Value> = (0..20)
        .map(|i| {
            status_json(
                Some(&format!("m-bulk-{i}")),
                &format!("wamid.B{i}"),
                "delivered",
                T0 + 5,
            )
        })
        .collect();
    let body = envelope(
        json!({"messaging_product": "whatsapp", "metadata": metadata(), "statuses": statuses}),
    );
    assert_eq!(cost(&env, &body).await, ops(&[("UpdateItem", 20)]));
}

// ---- the property: any order, same item --------------------------------------------

/// Collects events instead of publishing them (the SQS adapter is tested
/// against moto elsewhere in this file).
#[derive(Default)]
struct Capture(Mutex<Vec<Event>>);

#[async_trait]
impl EventPublisher for Capture {
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

struct Shared {
    rt: tokio::runtime::Runtime,
    app: App,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
    capture: Arc<Capture>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, ddb, table, capture) = rt.block_on(async {
        let aws = harness::aws().await;
        let ddb = harness::dynamodb().await;
        let sqs = harness::sqs().await;
        let table = harness::create_table(&ddb).await;
        let dlq = harness::create_queue(&sqs, "webhook-dlq").await;
        let config = configure(&settings(&table, &[("WEBHOOK_DLQ_URL", &dlq)])).unwrap();
        let requests = RequestCounter::default();
        let store = Arc::new(DynamoStore::new(requests.client(&aws), &table));
        let capture = Arc::new(Capture::default());
        let ports = Ports {
            directory: Arc::new(shared::tenant::Directory::fixed(Vec::new())),
            messages: store.clone(),
            contacts: store.clone(),
            log: store.clone(),
            health: store,
            templates: Arc::new(shared::templates::store::DynamoTemplates::new(
                requests.client(&aws),
                &table,
            )),
            publisher: capture.clone(),
            dead_letters: Arc::new(chasqui_status::dead_letter::SqsDeadLetters::new(sqs, dlq)),
        };
        let app = App::new(ports, config.policy, config.max_receive_count, requests);
        (app, ddb, table, capture)
    });
    Shared {
        rt,
        app,
        ddb,
        table,
        capture,
    }
});

/// One step of a case: a status report, or the sender's own write.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Status(&'static str, u64),
    Sender,
}

/// The reports one message gets: sent < delivered < read, sometimes
/// played, sometimes failed (at any point of the timeline).
fn reports() -> impl Strategy<Value = Vec<Step>> {
    (any::<bool>(), prop::option::of(0u64..5)).prop_map(|(played, failed)| {
        let mut r = vec![
            Step::Status("sent", T0 + 10),
            Step::Status("delivered", T0 + 20),
            Step::Status("read", T0 + 30),
        ];
        if played {
            r.push(Step::Status("played", T0 + 35));
        }
        if let Some(f) = failed {
            r.push(Step::Status("failed", T0 + 5 + f * 10));
        }
        r
    })
}

/// Every report at least once, some twice or three times, the sender's
/// write somewhere, all shuffled.
fn arrivals() -> impl Strategy<Value = (Vec<Step>, Vec<Step>)> {
    reports().prop_flat_map(|canonical| {
        let n = canonical.len();
        (Just(canonical), prop::collection::vec(0..n, 0..6)).prop_flat_map(|(canonical, dups)| {
            let mut all = canonical.clone();
            all.extend(dups.iter().map(|&i| canonical[i].clone()));
            all.push(Step::Sender);
            (Just(canonical), Just(all).prop_shuffle())
        })
    })
}

async fn run(steps: &[Step], id: &str, wamid: &str) -> Item {
    let s = &*SHARED;
    for step in steps {
        match step {
            Step::Sender => sender_write(&s.ddb, &s.table, id, wamid).await,
            Step::Status(status, secs) => {
                let body = status_body(Some(id), wamid, status, *secs);
                let records: Vec<SqsRecord> =
                    queued(&body).iter().map(|m| sqs_record(m, 1)).collect();
                let response = chasqui_status::handle(&s.app, sqs_event(&records)).await;
                assert!(response.batch_item_failures.is_empty());
            }
        }
    }
    s.ddb
        .get_item()
        .table_name(&s.table)
        .key(
            "pk",
            AttributeValue::S(table::message_pk(DEFAULT_TENANT, id)),
        )
        .key("sk", AttributeValue::S(table::MESSAGE_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

fn comparable(mut item: Item) -> Item {
    // Only bookkeeping differs: the key, the id, and when it last changed.
    for name in ["pk", "message_id", "updated_at"] {
        item.remove(name);
    }
    item
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_with_duplicates_reaches_the_same_item((canonical, arrived) in arrivals()) {
        let s = &*SHARED;
        let id = unique("m-prop");
        let reference = format!("{id}-reference");
        let wamid = format!("wamid.{id}");
        let (got, expected, emitted) = s.rt.block_on(async {
            s.capture.0.lock().unwrap().clear();
            let got = run(&arrived, &id, &wamid).await;
            let emitted: Vec<Event> = std::mem::take(&mut *s.capture.0.lock().unwrap());
            let mut in_order = vec![Step::Sender];
            in_order.extend(canonical.iter().cloned());
            let expected = run(&in_order, &reference, &wamid).await;
            (got, expected, emitted)
        });
        let record = shared::table::dynamo::message_record(&got).unwrap();
        prop_assert_eq!(comparable(got), comparable(expected));

        // And the item is the right one, not merely the same one.
        let at = |status: &str| canonical.iter().find_map(|st| match st {
            Step::Status(s2, secs) if *s2 == status => Some(secs * 1000),
            _ => None,
        });
        let failed = at("failed");
        prop_assert_eq!(record.status(), if failed.is_some() { Status::Failed } else { Status::Read });
        prop_assert_eq!(record.times.sent_at, at("sent"));
        prop_assert_eq!(record.times.delivered_at, at("delivered"));
        prop_assert_eq!(record.times.read_at, at("read"), "read precedes played");
        prop_assert_eq!(record.times.played_at, at("played"));
        prop_assert_eq!(record.times.failed_at, failed);
        prop_assert_eq!(record.errors.len(), if failed.is_some() { 2 } else { 0 });
        prop_assert_eq!(record.times.accepted_at, Some((T0 - 5) * 1000));
        prop_assert_eq!(record.template_name.as_deref(), Some("order_shipped"));
        prop_assert_eq!(record.conversation.and_then(|c| c.expires_at), Some(1_730_086_400_000));

        // One event per distinct report, whatever the order and duplicates.
        let ids: BTreeSet<&str> = emitted.iter().map(|e| e.id.as_str()).collect();
        prop_assert_eq!(ids.len(), canonical.len());
        for e in &emitted {
            let d = status_data(e);
            prop_assert!(d.old_status <= d.new_status || d.old_status.is_terminal());
            if d.old_status == Status::Failed {
                prop_assert_eq!(d.new_status, Status::Failed);
            }
        }
    }
}

// ---- inbound messages and contacts -------------------------------------------------

#[tokio::test]
async fn inbound_history_is_stored_once_and_the_window_only_moves_forward() {
    let env = env().await;
    let body = inbound_body("wamid.IN-A", T0 + 100, "Olá! Quero remarcar");
    deliver_ok(&env, &body).await;
    deliver_ok(&env, &body).await;
    let pk = table::contact_pk(DEFAULT_TENANT, PHONE, WA_ID);
    let history = |items: Vec<Item>| -> Vec<Item> {
        items
            .into_iter()
            .filter(|i| s(i, "pk") == Some(pk.as_str()) && s(i, "sk").unwrap().starts_with("IN#"))
            .collect()
    };
    let stored = history(scan(&env, "CONTACT#").await);
    assert_eq!(stored.len(), 1, "stored once under replay");
    let m = &stored[0];
    assert_eq!(
        s(m, "sk"),
        Some(table::inbound_sk((T0 + 100) * 1000, "wamid.IN-A").as_str())
    );
    assert_eq!(s(m, "text"), Some("Olá! Quero remarcar"));
    assert_eq!(s(m, "profile_name"), Some("Ana Souza"));
    assert_eq!(s(m, "inbound_wamid"), Some("wamid.IN-A"));
    // Not under the index's key: only sent messages are in the `wamid`
    // index, which costs a write per item in it.
    assert_eq!(s(m, table::WAMID), None);
    assert_eq!(n(m, "expires_at"), Some(T0 + 100 + 90 * 86_400));
    let c = contact(&env).await;
    assert_eq!(n(&c, "last_inbound_at"), Some((T0 + 100) * 1000));
    assert_eq!(s(&c, "profile_name"), Some("Ana Souza"));

    // Older message arriving late: stored, window unchanged.
    deliver_ok(&env, &inbound_body("wamid.IN-OLD", T0 + 50, "antes")).await;
    assert_eq!(
        n(&contact(&env).await, "last_inbound_at"),
        Some((T0 + 100) * 1000)
    );
    assert_eq!(
        s(&contact(&env).await, "last_inbound_wamid"),
        Some("wamid.IN-A")
    );
    // Newer one: window moves.
    deliver_ok(&env, &inbound_body("wamid.IN-NEW", T0 + 200, "depois")).await;
    assert_eq!(
        n(&contact(&env).await, "last_inbound_at"),
        Some((T0 + 200) * 1000)
    );
    assert_eq!(history(scan(&env, "CONTACT#").await).len(), 3);

    // Events: one per delivery, the replay with the same id and content.
    let got = events(&env, 4).await;
    assert_eq!(got.len(), 4);
    let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 3);
    let first = got
        .iter()
        .find(|e| matches!(&e.payload, Payload::Inbound(d) if d.wamid == "wamid.IN-A"))
        .unwrap();
    match &first.payload {
        Payload::Inbound(d) => {
            assert_eq!((d.from.as_str(), d.kind.as_str()), (WA_ID, "text"));
            assert_eq!(d.profile_name.as_deref(), Some("Ana Souza"));
            assert_eq!(d.text.as_deref(), Some("Olá! Quero remarcar"));
            assert_eq!(d.message["text"]["body"], "Olá! Quero remarcar");
        }
        _ => unreachable!(),
    }
    assert_eq!(first.occurred_at, (T0 + 100) * 1000);
}

#[tokio::test]
async fn every_inbound_type_is_kept_with_its_text_or_ids() {
    let env = env().await;
    for name in [
        "inbound-button.json",
        "inbound-interactive-list-reply.json",
        "inbound-reaction.json",
        "inbound-image.json",
        "inbound-location.json",
        "inbound-order.json",
    ] {
        deliver_ok(&env, fixture(name).as_bytes()).await;
    }
    let stored: BTreeMap<String, Item> = scan(&env, "CONTACT#")
        .await
        .into_iter()
        .filter(|i| s(i, "sk").unwrap().starts_with("IN#"))
        .map(|i| (s(&i, "type").unwrap().to_owned(), i))
        .collect();
    assert_eq!(s(&stored["button"], "text"), Some("Confirmar"));
    assert_eq!(s(&stored["interactive"], "text"), Some("Troca de óleo"));
    assert_eq!(s(&stored["image"], "text"), Some("foto do pedido"));
    assert_eq!(s(&stored["order"], "text"), Some("entrega rápida"));
    let image: Value = serde_json::from_str(s(&stored["image"], "message").unwrap()).unwrap();
    assert_eq!(image["image"]["id"], "1234567890");
    let location: Value = serde_json::from_str(s(&stored["location"], "message").unwrap()).unwrap();
    assert_eq!(location["location"]["latitude"], -23.5505);
    let got = events(&env, 6).await;
    let reaction = got
        .iter()
        .find_map(|e| match &e.payload {
            Payload::Inbound(d) if d.kind == "reaction" => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(reaction.reply_to.as_deref(), Some("wamid.HBgNOUT1"));
    assert_eq!(reaction.message["reaction"]["emoji"], "👍");
}

fn opt_events(events: &[Event]) -> Vec<(bool, OptSource, Option<String>)> {
    let mut out: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::OptedOut(d) | Payload::OptedIn(d) => {
                Some((d.opted_out, d.source, d.message_id.clone()))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(_, _, m)| m.clone());
    out
}

#[tokio::test]
async fn opt_out_and_in_by_keyword_in_three_languages() {
    let env = env().await;
    let opted = |c: &Item| c.get("opted_out").and_then(|v| v.as_bool().ok()).copied();
    deliver_ok(&env, &inbound_body("wamid.K1", T0 + 10, "STOP")).await;
    let c = contact(&env).await;
    assert_eq!(opted(&c), Some(true));
    assert_eq!(s(&c, "opt_source"), Some("keyword"));
    assert_eq!(s(&c, "opt_message_id"), Some("wamid.K1"));
    assert_eq!(n(&c, "opted_out_at"), Some((T0 + 10) * 1000));

    deliver_ok(&env, &inbound_body("wamid.K2", T0 + 20, " Voltar! ")).await;
    let c = contact(&env).await;
    assert_eq!(opted(&c), Some(false));
    assert_eq!(n(&c, "opted_in_at"), Some((T0 + 20) * 1000));

    deliver_ok(&env, &inbound_body("wamid.K3", T0 + 30, "¡BAJA!")).await;
    assert_eq!(opted(&contact(&env).await), Some(true));

    // Not a keyword as a whole: nothing changes.
    deliver_ok(&env, &inbound_body("wamid.K4", T0 + 40, "Não quero parar")).await;
    deliver_ok(&env, &inbound_body("wamid.K5", T0 + 41, "start the engine")).await;
    let c = contact(&env).await;
    assert_eq!(opted(&c), Some(true));
    assert_eq!(s(&c, "opt_message_id"), Some("wamid.K3"));
    // The window still moved.
    assert_eq!(n(&c, "last_inbound_at"), Some((T0 + 41) * 1000));

    // An older opt-in arriving late does not override the newer opt-out.
    deliver_ok(&env, &inbound_body("wamid.K0", T0 + 25, "START")).await;
    let c = contact(&env).await;
    assert_eq!(opted(&c), Some(true));
    assert_eq!(s(&c, "opt_message_id"), Some("wamid.K3"));

    // A replayed opt-out changes nothing but re-yields its event.
    let before = contact(&env).await;
    deliver_ok(&env, &inbound_body("wamid.K3", T0 + 30, "¡BAJA!")).await;
    let mut after = contact(&env).await;
    let mut before = before;
    before.remove("updated_at");
    after.remove("updated_at");
    assert_eq!(before, after);

    // Portuguese with an accent and spaces: "  pára " is the imperative.
    deliver_ok(&env, &inbound_body("wamid.K6", T0 + 50, "  VOLTAR ")).await;
    deliver_ok(&env, &inbound_body("wamid.K7", T0 + 60, "  pára ")).await;
    assert_eq!(opted(&contact(&env).await), Some(true));

    // 9 inbound events + opt events: K1, K2, K3 (twice), K6, K7; none for K0.
    let got = events(&env, 9 + 6).await;
    assert_eq!(got.len(), 15);
    let opts = opt_events(&got);
    let k = |id: &str| Some(id.to_owned());
    assert_eq!(
        opts,
        vec![
            (true, OptSource::Keyword, k("wamid.K1")),
            (false, OptSource::Keyword, k("wamid.K2")),
            (true, OptSource::Keyword, k("wamid.K3")),
            (true, OptSource::Keyword, k("wamid.K3")),
            (false, OptSource::Keyword, k("wamid.K6")),
            (true, OptSource::Keyword, k("wamid.K7")),
        ]
    );
    let k3: BTreeSet<&str> = got
        .iter()
        .filter(|e| matches!(&e.payload, Payload::OptedOut(d) if d.message_id.as_deref() == Some("wamid.K3")))
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(k3.len(), 1, "the replay's event has the same id");
}

#[tokio::test]
async fn configured_keywords_replace_the_defaults() {
    let env = env_with(&[
        ("OPT_OUT_KEYWORDS", "desligar, não quero mais"),
        ("OPT_IN_KEYWORDS", "ligar"),
    ])
    .await;
    deliver_ok(&env, &inbound_body("wamid.C1", T0 + 10, "STOP")).await;
    assert!(!contact(&env).await.contains_key("opted_out"));
    deliver_ok(&env, &inbound_body("wamid.C2", T0 + 20, "Nao quero mais")).await;
    assert_eq!(
        contact(&env).await.get("opted_out"),
        Some(&AttributeValue::Bool(true))
    );
}

#[tokio::test]
async fn metas_marketing_signals_opt_out_and_in() {
    let env = env().await;
    deliver_ok(
        &env,
        fixture("status-failed-marketing-optout.json").as_bytes(),
    )
    .await;
    let c = contact(&env).await;
    assert_eq!(c.get("opted_out"), Some(&AttributeValue::Bool(true)));
    assert_eq!(s(&c, "opt_source"), Some("error_131050"));
    assert_eq!(s(&c, "opt_message_id"), Some("order-1234-shipped"));

    let prefs = |value: &str, secs: u64| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "user_preferences",
            "value": {"messaging_product": "whatsapp", "metadata": metadata(),
                "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": WA_ID}],
                "user_preferences": [{"wa_id": WA_ID, "detail": "User requested", "category": "marketing_messages",
                                      "value": value, "timestamp": secs}]}}]}]})
        .to_string()
        .into_bytes()
    };
    deliver_ok(&env, &prefs("resume", T0 + 100)).await;
    let c = contact(&env).await;
    assert_eq!(c.get("opted_out"), Some(&AttributeValue::Bool(false)));
    assert_eq!(s(&c, "opt_source"), Some("meta_marketing_preference"));
    assert!(!c.contains_key("opt_message_id"));
    deliver_ok(&env, &prefs("stop", T0 + 200)).await;
    deliver_ok(&env, &prefs("stop", T0 + 200)).await;
    assert_eq!(
        contact(&env).await.get("opted_out"),
        Some(&AttributeValue::Bool(true))
    );
    // status + 131050 opt-out + resume + stop twice (same id).
    let got = events(&env, 5).await;
    let opts = opt_events(&got);
    assert_eq!(opts.len(), 4);
    assert_eq!(
        opts.iter()
            .filter(|(_, s, _)| *s == OptSource::MetaMarketingPreference)
            .count(),
        3
    );
    let ids: BTreeSet<&str> = got.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    assert!(
        scan(&env, "HOOK#").await.is_empty(),
        "applied, not merely recorded"
    );
}

// ---- fragments -------------------------------------------------------------------

#[tokio::test]
async fn fragments_wait_in_the_table_and_apply_once_complete() {
    let env = env().await;
    let long = format!("início {} fim", "palavra ".repeat(4_000));
    let body = inbound_body("wamid.BIG", T0 + 100, &long);
    // A small budget forces one oversized item into fragments.
    let messages = intake::split(DEFAULT_APP, &body, RECEIVED_AT, 8_000).messages;
    assert!(messages.len() > 2, "{} pieces", messages.len());
    assert!(messages.iter().all(|m| m.kind == intake::Kind::Fragment));
    // Out of order; the first arrivals are acknowledged once stored.
    let mut order: Vec<&QueueMessage> = messages.iter().rev().collect();
    let last = order.pop().unwrap();
    for m in &order {
        let r = chasqui_status::handle(&env.app, sqs_event(&[sqs_record(m, 1)])).await;
        assert!(r.batch_item_failures.is_empty());
    }
    assert!(
        scan(&env, "CONTACT#").await.is_empty(),
        "nothing applied yet"
    );
    assert_eq!(scan(&env, "FRAG#").await.len(), messages.len() - 1);
    let r = chasqui_status::handle(&env.app, sqs_event(&[sqs_record(last, 1)])).await;
    assert!(r.batch_item_failures.is_empty());
    let stored: Vec<Item> = scan(&env, "CONTACT#")
        .await
        .into_iter()
        .filter(|i| s(i, "sk").unwrap().starts_with("IN#"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(s(&stored[0], "text"), Some(long.as_str()));
    // A late duplicate of any fragment re-applies idempotently.
    let r = chasqui_status::handle(&env.app, sqs_event(&[sqs_record(order[0], 2)])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = events(&env, 2).await;
    let ids: BTreeSet<&str> = got.iter().map(|e| e.id.as_str()).collect();
    assert_eq!((got.len(), ids.len()), (2, 1));
}

// ---- failure handling ----------------------------------------------------------------

#[tokio::test]
async fn a_bad_record_fails_alone_and_goes_to_the_dlq_with_its_reason_on_the_last_attempt() {
    let env = env().await;
    let good = queued(&status_body(Some("m-ok"), "wamid.OK", "sent", T0 + 1));
    let bad = QueueMessage {
        body: "{\"kind\":\"change\",\"truncated".into(),
        ..good[0].clone()
    };
    let bad_record = |count| {
        let mut r = sqs_record(&bad, count);
        r.message_id = "bad-1".into();
        r
    };
    // Attempts 1 and 2: only the bad record is reported, by its id.
    for count in 1..=2 {
        let response = chasqui_status::handle(
            &env.app,
            sqs_event(&[sqs_record(&good[0], count), bad_record(count)]),
        )
        .await;
        let ids: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["bad-1"]);
    }
    assert_eq!(harness::queue_depth(&env.sqs, &env.dlq_url).await, 0);
    // Attempt 3 = WEBHOOK_MAX_RECEIVE_COUNT: dead-lettered with the reason, acknowledged.
    let response = chasqui_status::handle(&env.app, sqs_event(&[bad_record(3)])).await;
    assert!(response.batch_item_failures.is_empty());
    let dead = harness::receive(&env.sqs, &env.dlq_url, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(bad.body.as_str()));
    let reason = harness::attribute(&dead[0], "failure_reason").unwrap();
    assert!(reason.contains("not a queued webhook"), "{reason}");
    assert_eq!(
        harness::attribute(&dead[0], "failed_message_id").as_deref(),
        Some("bad-1")
    );
    assert_eq!(
        harness::attribute(&dead[0], "kind").as_deref(),
        Some("change")
    );
    assert_eq!(
        harness::attribute(&dead[0], "phone_number_id").as_deref(),
        Some(PHONE)
    );
    assert_eq!(message(&env, "MSG#m-ok").await.status(), Status::Sent);
}

#[tokio::test]
async fn the_dlq_path_works_with_real_receive_counts() {
    let env = env().await;
    let webhook_queue = harness::create_queue(&env.sqs, "webhook-events").await;
    env.sqs
        .send_message()
        .queue_url(&webhook_queue)
        .message_body("not a queued webhook")
        .message_attributes(
            "kind",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("raw")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        // What the Lambda poller does: receive, invoke, delete what succeeded.
        let out = env
            .sqs
            .receive_message()
            .queue_url(&webhook_queue)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let m = &out.messages()[0];
        let count = m
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .unwrap()
            .clone();
        let record = SqsRecord::new(m.message_id().unwrap(), m.body().unwrap())
            .with_receipt_handle(m.receipt_handle().map(str::to_owned))
            .with_receive_count(count.parse().unwrap())
            .with_attribute("kind", "String", "raw");
        let response = chasqui_status::handle(&env.app, sqs_event(&[record])).await;
        let failed = !response.batch_item_failures.is_empty();
        if !failed {
            env.sqs
                .delete_message()
                .queue_url(&webhook_queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        outcomes.push((count, failed));
    }
    assert_eq!(
        outcomes,
        [
            ("1".to_owned(), true),
            ("2".to_owned(), true),
            ("3".to_owned(), false)
        ]
    );
    assert_eq!(harness::queue_depth(&env.sqs, &webhook_queue).await, 0);
    let dead = harness::receive(&env.sqs, &env.dlq_url, 1).await;
    assert_eq!(dead[0].body(), Some("not a queued webhook"));
    assert_eq!(
        harness::attribute(&dead[0], "receive_count").as_deref(),
        Some("3")
    );
}

#[tokio::test]
async fn a_record_without_a_message_id_fails_the_whole_batch_rather_than_being_reported_empty() {
    let env = env().await;
    let good = sqs_record(&queued(&status_body(Some("m"), "w", "sent", T0))[0], 1);
    let mut event = sqs_event(&[good.clone(), good.with_receive_count(5)]);
    event["Records"][1]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    let answer = chasqui_status::handle(&env.app, event).await.into_lambda();
    assert_eq!(answer, Err(BatchFailed::Unreadable { count: 1 }));
    // Not processed, so not dead-lettered either: SQS gets the batch back.
    assert_eq!(harness::queue_depth(&env.sqs, &env.dlq_url).await, 0);
    // Not an SQS event at all: nothing to do, nothing reported.
    let answer = chasqui_status::handle(&env.app, json!({"hello": "world"}))
        .await
        .into_lambda();
    assert!(answer.unwrap().batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_failed_publish_fails_the_record_and_the_retry_publishes_the_same_events() {
    let probe = env().await;
    // A queue URL that does not exist yet: publishing fails after the write.
    let name = unique("late-events");
    let prefix = probe.events_url.rsplit_once('/').unwrap().0.to_owned();
    let late_url = format!("{prefix}/{name}");
    let env = env_with(&[("UPSTREAM_EVENTS_QUEUE_URL", late_url.as_str())]).await;
    let body = inbound_body("wamid.P1", T0 + 100, "STOP");
    let records: Vec<SqsRecord> = queued(&body).iter().map(|m| sqs_record(m, 1)).collect();
    let id = records[0].message_id.clone();
    let response = chasqui_status::handle(&env.app, sqs_event(&records)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [id.as_str()]);
    // The writes happened.
    assert_eq!(
        contact(&env).await.get("opted_out"),
        Some(&AttributeValue::Bool(true))
    );

    // The queue appears; SQS redelivers the record; the retry publishes.
    env.sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap();
    let retry = sqs_event(&[records[0].clone().with_receive_count(2)]);
    let response = chasqui_status::handle(&env.app, retry.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let got: Vec<Event> = harness::receive(&env.sqs, &late_url, 2)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    let kinds: BTreeSet<&str> = got.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["message.inbound", "contact.opted_out"])
    );
    // A further duplicate delivery yields the same ids again.
    chasqui_status::handle(&env.app, retry).await;
    let again: Vec<Event> = harness::receive(&env.sqs, &late_url, 2)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    let ids = |v: &[Event]| v.iter().map(|e| e.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(ids(&got), ids(&again));
    let attrs = harness::receive(&env.sqs, &late_url, 0).await;
    assert!(attrs.is_empty());
}

#[tokio::test]
async fn events_are_logged_only_without_an_upstream_queue() {
    let ddb = harness::dynamodb().await;
    let sqs = harness::sqs().await;
    let table = harness::create_table(&ddb).await;
    let dlq = harness::create_queue(&sqs, "webhook-dlq").await;
    let config = configure(&settings(&table, &[("WEBHOOK_DLQ_URL", &dlq)])).unwrap();
    assert_eq!(config.upstream_events_queue_url, None);
    let app = App::from_config(&config, &harness::aws().await);
    let body = status_body(Some("m-log"), "wamid.L", "sent", T0);
    let records: Vec<SqsRecord> = queued(&body).iter().map(|m| sqs_record(m, 1)).collect();
    let response = chasqui_status::handle(&app, sqs_event(&records)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(app.dynamodb_requests().get("UpdateItem"), Some(&1));
}

// ---- `cargo lambda invoke` events ------------------------------------------------------

/// `events/status-*.json` are what Lambda would hand the function for a
/// fixture. They are checked against `split` so they never drift;
/// `CHASQUI_BLESS=1` rewrites them.
#[test]
fn invoke_events_match_the_fixtures() {
    let pairs = [
        ("status-delivered.json", "status-delivered.json"),
        ("status-failed.json", "status-failed.json"),
        ("status-inbound-text.json", "inbound-text.json"),
        ("status-inbound-stop.json", "inbound-text-reply.json"),
        ("status-batch.json", "batch-3-entries-2-changes.json"),
        ("status-template-update.json", "template-status-update.json"),
    ];
    for (event_name, fixture_name) in pairs {
        let messages = queued(fixture(fixture_name).as_bytes());
        let records: Vec<SqsRecord> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                // Fixed id and handle: the files must not change run to run.
                let mut r = sqs_record(m, 1).with_receipt_handle(Some("AQEB-test".into()));
                r.message_id = format!("0b3c1f1e-{:04}-4e1e-9a1f-{:012}", i, i);
                r
            })
            .collect();
        let expected = serde_json::to_string_pretty(&sqs_event(&records)).unwrap() + "\n";
        let path = harness::root().join("events").join(event_name);
        if std::env::var("CHASQUI_BLESS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, &expected).unwrap();
        }
        let got = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (CHASQUI_BLESS=1 writes it)", path.display()));
        assert_eq!(got, expected, "{event_name} drifted from {fixture_name}");
    }
}
