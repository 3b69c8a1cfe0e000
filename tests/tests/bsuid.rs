//! Customers named by business-scoped user id (BSUID), through both
//! functions against the local AWS emulator: the status function applies
//! real-shaped webhooks to the table, the sender reads the same table and
//! calls a `wiremock` Graph API. A username customer has no phone at all.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use harness::fixture;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::events::{Event, Payload};
use shared::intake::{self, MAX_BODY_BYTES};
use shared::sqs::{SqsRecord, sqs_event};
use shared::table;
use shared::tenant::{DEFAULT_APP, DEFAULT_TENANT};
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

type Item = HashMap<String, AttributeValue>;

const PN: &str = "1122334455";
const PHONE: &str = "5511988887777";
/// The username customer of `inbound-username-text.json`.
const BIA: &str = "BR.1502576394655843";
/// Bia's BSUID after `inbound-system-user-id-changed.json`.
const BIA_NEW: &str = "BR.9902576394655843";
const ANA: &str = "BR.2202576394655843";
/// Meta's fixture seconds.
const T0: u64 = 1_730_000_000;

struct Env {
    status: chasqui_status::App,
    sender: chasqui_sender::App,
    graph: MockServer,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    events_url: String,
    send_url: String,
}

async fn env() -> Env {
    let ddb = harness::dynamodb().await;
    let sqs = harness::sqs().await;
    let table = harness::create_table(&ddb).await;
    let events_url = harness::create_queue(&sqs, "upstream-events").await;
    let dlq_url = harness::create_queue(&sqs, "webhook-dlq").await;
    let status_config = chasqui_status::configure(&Settings::from_pairs([
        ("TABLE_NAME", table.as_str()),
        ("UPSTREAM_EVENTS_QUEUE_URL", events_url.as_str()),
        ("WEBHOOK_DLQ_URL", dlq_url.as_str()),
        ("WEBHOOK_MAX_RECEIVE_COUNT", "3"),
    ]))
    .unwrap();
    let status = chasqui_status::App::from_config(&status_config, &harness::aws().await);
    let graph = MockServer::start().await;
    let (send_url, _) = harness::create_queue_with_dlq(&sqs, "send", 3, 30).await;
    let secret = harness::create_secret(&harness::secrets_manager().await).await;
    let uri = graph.uri();
    let sender_config = chasqui_sender::configure(&Settings::from_pairs([
        ("WHATSAPP_SECRET_ID", secret.as_str()),
        ("TABLE_NAME", table.as_str()),
        ("SEND_QUEUE_URL", send_url.as_str()),
        ("SEND_MAX_RECEIVE_COUNT", "3"),
        ("WHATSAPP_PHONE_NUMBER_ID", PN),
        ("GRAPH_API_BASE_URL", uri.as_str()),
    ]))
    .unwrap();
    let sender = chasqui_sender::App::from_config(&sender_config, &harness::aws().await)
        .await
        .unwrap();
    Env {
        status,
        sender,
        graph,
        ddb,
        sqs,
        table,
        events_url,
        send_url,
    }
}

impl Env {
    /// Applies a webhook body as the status function receives it.
    async fn webhook(&self, body: &[u8]) {
        let records: Vec<SqsRecord> =
            intake::split(DEFAULT_APP, body, T0 * 1000 + 5_000, MAX_BODY_BYTES)
                .messages
                .iter()
                .map(|m| SqsRecord::new(harness::unique("sqs"), m.body.as_str()))
                .collect();
        let response = chasqui_status::handle(&self.status, sqs_event(&records)).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{:?}",
            response.batch_item_failures
        );
    }

    /// Puts one send request through the sender.
    async fn send(&self, request: Value) {
        self.sqs
            .send_message()
            .queue_url(&self.send_url)
            .message_body(request.to_string())
            .send()
            .await
            .unwrap();
        let messages = harness::receive(&self.sqs, &self.send_url, 1).await;
        let response = chasqui_sender::handle(&self.sender, harness::lambda_event(&messages)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    async fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key(table::PK, AttributeValue::S(pk.into()))
            .key(table::SK, AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    async fn contact(&self, id: &str) -> Option<Item> {
        self.item(
            &table::contact_pk(DEFAULT_TENANT, PN, id),
            table::CONTACT_SK,
        )
        .await
    }

    async fn record(&self, message_id: &str) -> Item {
        self.item(
            &table::message_pk(DEFAULT_TENANT, message_id),
            table::MESSAGE_SK,
        )
        .await
        .unwrap_or_else(|| panic!("no record for {message_id}"))
    }

    async fn events(&self, expected: usize) -> Vec<Event> {
        harness::receive(&self.sqs, &self.events_url, expected)
            .await
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }

    /// A customer by BSUID as the sender reads them: how many linked items
    /// were found, and the state they resolve to.
    async fn resolved(&self, user_id: &str) -> (usize, shared::contact::ContactState) {
        let items = shared::contact::read_linked(
            &self.ddb,
            &self.table,
            DEFAULT_TENANT,
            PN,
            &shared::customer::CustomerIds::new(None, Some(user_id)),
            shared::now_millis(),
        )
        .await
        .unwrap();
        let state = shared::contact::resolve(&items).expect("a contact");
        (items.len(), state)
    }

    /// A Graph API that must not be called.
    async fn no_calls(&self) {
        Mock::given(any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .named("no Cloud API call")
            .mount(&self.graph)
            .await;
    }
}

fn s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn opted_out(item: &Item) -> Option<bool> {
    item.get("opted_out")
        .and_then(|v| v.as_bool().ok())
        .copied()
}

/// A send request: `envelope` names the customer (`to`, `recipient`).
fn request(id: &str, message: Value, envelope: Value) -> Value {
    let mut request = json!({"id": id, "message": message});
    if let (Value::Object(r), Value::Object(e)) = (&mut request, envelope) {
        r.extend(e);
    }
    request
}

fn text_to(id: &str, envelope: Value) -> Value {
    request(
        id,
        json!({"type": "text", "text": {"body": "oi"}}),
        envelope,
    )
}

fn template_to(id: &str, envelope: Value) -> Value {
    let template = json!({"type": "template",
        "template": {"name": "promo", "language": {"code": "pt_BR"}}});
    request(id, template, envelope)
}

/// A `messages` change from one customer, with the ids given.
fn inbound(
    wamid: &str,
    secs: u64,
    text: &str,
    wa_id: Option<&str>,
    user_id: Option<&str>,
) -> Vec<u8> {
    let mut contact = json!({"profile": {"name": "Ana Souza"}});
    let mut message =
        json!({"id": wamid, "timestamp": secs.to_string(), "type": "text", "text": {"body": text}});
    if let Some(w) = wa_id {
        contact["wa_id"] = json!(w);
        message["from"] = json!(w);
    }
    if let Some(u) = user_id {
        contact["user_id"] = json!(u);
        message["from_user_id"] = json!(u);
    }
    harness::webhook_envelope(json!({"messaging_product": "whatsapp",
        "metadata": harness::webhook_metadata(PN), "contacts": [contact], "messages": [message]}))
}

fn suppressed(record: &Item) -> bool {
    s(record, "suppressed_reason") == Some("opted_out") && !record.contains_key("attempts")
}

#[tokio::test]
async fn a_username_customer_who_writes_stop_is_suppressed_when_sent_to_by_bsuid() {
    let env = env().await;
    env.no_calls().await;
    // GIVEN a signed inbound STOP from a customer with a username and no phone
    env.webhook(fixture("inbound-username-text.json").as_bytes())
        .await;

    // THEN they have a contact, a window and a history under their BSUID
    let contact = env.contact(BIA).await.expect("a contact keyed by BSUID");
    assert_eq!(opted_out(&contact), Some(true));
    assert_eq!(s(&contact, "user_id"), Some(BIA));
    assert_eq!(s(&contact, "username"), Some("@bia.reis"));
    assert!(!contact.contains_key("wa_id"), "no phone was invented");
    let inbound = env
        .item(
            &table::contact_pk(DEFAULT_TENANT, PN, BIA),
            &table::inbound_sk((T0 + 100) * 1000, "wamid.HBgNUSERNAME1"),
        )
        .await
        .expect("the inbound message in their history");
    assert_eq!(s(&inbound, "text"), Some("STOP"));
    let events = env.events(2).await;
    let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
    assert!(
        kinds.contains(&"message.inbound") && kinds.contains(&"contact.opted_out"),
        "{kinds:?}"
    );
    for e in &events {
        match &e.payload {
            Payload::Inbound(d) => {
                assert_eq!(
                    (d.from.as_str(), d.from_user_id.as_deref()),
                    ("", Some(BIA))
                );
                assert_eq!(d.username.as_deref(), Some("@bia.reis"));
            }
            Payload::OptedOut(d) => {
                assert_eq!((d.wa_id.as_str(), d.user_id.as_deref()), ("", Some(BIA)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // WHEN a send names their BSUID THEN it is suppressed with no call
    env.send(template_to("to-bia", json!({"recipient": BIA})))
        .await;
    let record = env.record("to-bia").await;
    assert!(suppressed(&record), "{record:?}");
    assert_eq!(s(&record, "recipient_user_id"), Some(BIA));
}

#[tokio::test]
async fn a_customer_seen_by_phone_then_by_bsuid_is_one_contact() {
    let env = env().await;
    env.no_calls().await;
    // GIVEN a STOP from a phone-only webhook (as before BSUIDs)
    env.webhook(&inbound("wamid.P1", T0 + 10, "STOP", Some(PHONE), None))
        .await;
    // AND later a webhook naming both ids (not a keyword)
    env.webhook(&inbound(
        "wamid.P2",
        T0 + 20,
        "obrigado",
        Some(PHONE),
        Some(ANA),
    ))
    .await;

    // THEN the items name each other, and the window moved on the BSUID item
    let phone_item = env.contact(PHONE).await.unwrap();
    let bsuid_item = env.contact(ANA).await.unwrap();
    assert_eq!(s(&phone_item, "user_id"), Some(ANA));
    assert_eq!(s(&bsuid_item, "wa_id"), Some(PHONE));
    assert_eq!(
        opted_out(&bsuid_item),
        None,
        "the opt-out stays where it was written"
    );

    // WHEN a send names only the BSUID THEN the phone's opt-out holds
    env.send(text_to("ana-by-bsuid", json!({"recipient": ANA})))
        .await;
    assert!(suppressed(&env.record("ana-by-bsuid").await));

    // AND the other way round: an opt-in by BSUID, newer, is honoured for a
    // phone send, which is then inside the window the BSUID item holds
    env.graph.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"messaging_product": "whatsapp", "contacts": [{"input": PHONE, "wa_id": PHONE}],
                   "messages": [{"id": "wamid.OUT"}]}),
        ))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.webhook(&inbound("wamid.P3", T0 + 30, "START", None, Some(ANA)))
        .await;
    assert_eq!(opted_out(&env.contact(ANA).await.unwrap()), Some(false));
    env.send(template_to(
        "ana-by-phone",
        json!({"to": format!("+{PHONE}")}),
    ))
    .await;
    let record = env.record("ana-by-phone").await;
    assert!(record.contains_key("accepted_at"), "{record:?}");
}

#[tokio::test]
async fn a_linked_portfolio_customer_keeps_their_parent_bsuid_on_the_contact() {
    let env = env().await;
    env.no_calls().await;
    // GIVEN a message from a customer of a linked business portfolio: the
    // contact names a parent BSUID (an older message first, without one)
    env.webhook(&inbound("wamid.L1", T0 + 10, "oi", None, Some(ANA)))
        .await;
    let mut body: Value =
        serde_json::from_slice(&inbound("wamid.L2", T0 + 20, "tudo bem?", None, Some(ANA)))
            .unwrap();
    let value = &mut body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["parent_user_id"] = json!("US.ENT.11815799212886844830");
    env.webhook(serde_json::to_vec(&body).unwrap().as_slice())
        .await;
    // THEN the contact item carries it; an older message without one
    // (replayed late) leaves it
    assert_eq!(
        s(&env.contact(ANA).await.unwrap(), "parent_user_id"),
        Some("US.ENT.11815799212886844830")
    );
    env.webhook(&inbound("wamid.L0", T0 + 5, "antes", None, Some(ANA)))
        .await;
    let contact = env.contact(ANA).await.unwrap();
    assert_eq!(
        s(&contact, "parent_user_id"),
        Some("US.ENT.11815799212886844830")
    );
    assert_eq!(s(&contact, "last_inbound_wamid"), Some("wamid.L2"));
}

#[tokio::test]
async fn an_opt_out_by_bsuid_is_honoured_for_a_phone_send_once_linked() {
    let env = env().await;
    env.no_calls().await;
    env.webhook(&inbound("wamid.B1", T0 + 10, "STOP", None, Some(ANA)))
        .await;
    env.webhook(&inbound("wamid.B2", T0 + 20, "ok", Some(PHONE), Some(ANA)))
        .await;
    env.send(template_to("ana-phone", json!({"to": PHONE})))
        .await;
    assert!(suppressed(&env.record("ana-phone").await));
}

#[tokio::test]
async fn a_bsuid_change_keeps_the_opt_out_and_the_history() {
    let env = env().await;
    env.no_calls().await;
    // GIVEN Bia opted out under her first BSUID
    env.webhook(fixture("inbound-username-text.json").as_bytes())
        .await;
    // WHEN Meta announces her new BSUID
    env.webhook(fixture("inbound-system-user-id-changed.json").as_bytes())
        .await;

    // THEN the items are linked both ways
    let old = env.contact(BIA).await.unwrap();
    let new = env.contact(BIA_NEW).await.unwrap();
    assert_eq!(s(&old, "replaced_by"), Some(BIA_NEW));
    assert_eq!(s(&new, "previous_user_id"), Some(BIA));

    // AND a read by the new id resolves to the old decision and history
    let (items, state) = env.resolved(BIA_NEW).await;
    assert_eq!(items, 2, "the new item leads to the old one");
    assert!(state.opted_out);
    assert_eq!(state.ids.user_id.as_deref(), Some(BIA_NEW));

    // AND a send to the new BSUID is suppressed
    env.send(template_to("to-new-bia", json!({"recipient": BIA_NEW})))
        .await;
    assert!(suppressed(&env.record("to-new-bia").await));
}

#[tokio::test]
async fn statuses_keep_bsuid_and_group_fields_on_the_record_and_event() {
    let env = env().await;
    env.webhook(fixture("status-delivered-bsuid.json").as_bytes())
        .await;
    env.webhook(fixture("status-group-read.json").as_bytes())
        .await;

    let one = env.record("order-77").await;
    assert_eq!(s(&one, "recipient_user_id"), Some(BIA));
    assert_eq!(
        s(&one, "recipient_parent_user_id"),
        Some("US.ENT.11815799212886844830")
    );
    assert_eq!(s(&one, "username"), Some("@bia.reis"));
    assert!(!one.contains_key("recipient"), "no phone was given");
    let group = env.record("group-msg-1").await;
    assert_eq!(s(&group, "recipient_type"), Some("group"));
    assert_eq!(s(&group, "recipient_participant_id"), Some(PHONE));
    assert_eq!(s(&group, "recipient"), Some("120363040000000001"));

    let events = env.events(2).await;
    let by_id: HashMap<String, shared::events::StatusChanged> = events
        .into_iter()
        .filter_map(|e| match e.payload {
            Payload::StatusChanged(d) => Some((d.message_id.clone().unwrap_or_default(), d)),
            _ => None,
        })
        .collect();
    assert_eq!(
        by_id["order-77"].recipient_ids.recipient_user_id.as_deref(),
        Some(BIA)
    );
    assert_eq!(
        by_id["order-77"].recipient_ids.username.as_deref(),
        Some("@bia.reis")
    );
    assert_eq!(
        by_id["group-msg-1"]
            .recipient_ids
            .recipient_participant_id
            .as_deref(),
        Some(PHONE)
    );
    // A group is not a customer: no contact item for the group id.
    assert!(env.contact("120363040000000001").await.is_none());
}

#[tokio::test]
async fn a_131050_on_a_bsuid_recipient_opts_out_their_bsuid() {
    let env = env().await;
    env.no_calls().await;
    let failed = harness::webhook_envelope(json!({"messaging_product": "whatsapp",
        "metadata": harness::webhook_metadata(PN),
        "statuses": [{"id": "wamid.M1", "status": "failed", "timestamp": (T0 + 5).to_string(),
            "recipient_user_id": BIA, "biz_opaque_callback_data": "promo-1",
            "errors": [{"code": 131050, "title": "Unable to deliver the message",
                        "message": "user stopped marketing messages"}]}]}));
    env.webhook(&failed).await;
    assert_eq!(opted_out(&env.contact(BIA).await.unwrap()), Some(true));
    env.send(template_to("promo-2", json!({"recipient": BIA})))
        .await;
    assert!(suppressed(&env.record("promo-2").await));
}

#[tokio::test]
async fn a_131062_answer_is_a_permanent_failure_with_its_own_reason() {
    let env = env().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "(#131062) BSUID recipient not allowed", "type": "OAuthException",
            "code": 131062, "error_data": {"messaging_product": "whatsapp",
            "details": "Authentication templates need the recipient's phone number."},
            "fbtrace_id": "trace-131062"}})))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.send(template_to("otp-1", json!({"recipient": BIA})))
        .await;
    let record = env.record("otp-1").await;
    assert!(record.contains_key("failed_at"), "{record:?}");
    assert_eq!(s(&record, "send_state"), Some("done"));
    let error = record["error"].as_m().unwrap();
    assert_eq!(
        error["reason"].as_s().unwrap(),
        "bsuid_recipient_not_allowed"
    );
    assert_eq!(error["code"].as_n().unwrap(), "131062");
    assert_eq!(error["class"].as_s().unwrap(), "permanent");
    let sent: Value =
        serde_json::from_slice(&env.graph.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["recipient"], BIA);
    assert!(sent.get("to").is_none(), "{sent}");

    // A failed status carrying 131062 names the same reason in its event.
    let status = harness::webhook_envelope(json!({"messaging_product": "whatsapp",
        "metadata": harness::webhook_metadata(PN),
        "statuses": [{"id": "wamid.OTP", "status": "failed", "timestamp": (T0 + 5).to_string(),
            "recipient_user_id": BIA, "biz_opaque_callback_data": "otp-2",
            "errors": [{"code": 131062, "title": "BSUID recipient not allowed"}]}]}));
    env.webhook(&status).await;
    let events = env.events(1).await;
    match &events[0].payload {
        Payload::StatusChanged(d) => assert_eq!(
            d.error.as_ref().and_then(|e| e.reason.as_deref()),
            Some("bsuid_recipient_not_allowed")
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn metas_marketing_stop_for_a_username_customer_is_honoured() {
    let env = env().await;
    env.no_calls().await;
    // Meta's user_preferences naming the customer by BSUID only.
    let prefs = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "user_preferences",
        "value": {"messaging_product": "whatsapp", "metadata": harness::webhook_metadata(PN),
            "contacts": [{"profile": {"username": "@bia.reis"}, "user_id": BIA}],
            "user_preferences": [{"user_id": BIA, "detail": "User requested", "category": "marketing_messages",
                                  "value": "stop", "timestamp": T0 + 50}]}}]}]});
    env.webhook(prefs.to_string().as_bytes()).await;
    let contact = env.contact(BIA).await.expect("a contact keyed by BSUID");
    assert_eq!(opted_out(&contact), Some(true));
    assert_eq!(s(&contact, "opt_source"), Some("meta_marketing_preference"));
    let events = env.events(1).await;
    match &events[0].payload {
        Payload::OptedOut(d) => assert_eq!(d.user_id.as_deref(), Some(BIA)),
        other => panic!("{other:?}"),
    }
    env.send(template_to("promo-bia", json!({"recipient": BIA})))
        .await;
    assert!(suppressed(&env.record("promo-bia").await));
}

#[tokio::test]
async fn a_bsuid_change_delivered_after_a_newer_message_still_links_the_ids() {
    let env = env().await;
    // A message naming Bia's phone and old BSUID, newer than the change...
    env.webhook(&inbound(
        "wamid.L1",
        T0 + 300,
        "STOP",
        Some(PHONE),
        Some(BIA),
    ))
    .await;
    // ...then the change itself (T0 + 200), delivered late.
    env.webhook(fixture("inbound-system-user-id-changed.json").as_bytes())
        .await;
    let old = env.contact(BIA).await.unwrap();
    assert_eq!(s(&old, "replaced_by"), Some(BIA_NEW));
    assert_eq!(s(&old, "wa_id"), Some(PHONE), "the newer phone link stays");
    assert!(env.resolved(BIA_NEW).await.1.opted_out);
}
