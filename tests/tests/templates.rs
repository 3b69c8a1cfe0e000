//! The template catalogue end to end (`docs/templates.md`): the sync reads
//! every page of the Cloud API sandbox's `message_templates` into the table
//! (moto); the sender refuses a send that does not fit its template before
//! any call; the status function applies the template webhooks in any
//! order, told upstream; a template the catalogue never saw still goes to
//! Meta.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chasqui_cli::sandbox::{Sandbox, SandboxConfig};
use chasqui_status::dynamo::{DynamoStore, RequestCounter};
use serde_json::{Value, json};
use shared::config::Settings;
use shared::events::publish::EventPublisher;
use shared::events::{Event, Payload};
use shared::intake::{self, MAX_BODY_BYTES};
use shared::queue::QueueError;
use shared::sqs::{SqsRecord, sqs_event};
use shared::templates::Entry;
use shared::templates::store::{DynamoTemplates, TemplateStore};
use shared::tenant::{Binding, DEFAULT_APP, DEFAULT_TENANT, Directory};

const PN: &str = "1122334455";
const TO: &str = "+5511988887777";

#[derive(Default)]
struct Capture(Mutex<Vec<Event>>);

#[async_trait]
impl EventPublisher for Capture {
    async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

struct Stack {
    sandbox: Sandbox,
    waba_id: String,
    sender: chasqui_sender::App,
    status: chasqui_status::App,
    events: Arc<Capture>,
    catalogue: DynamoTemplates,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
    sqs: aws_sdk_sqs::Client,
    /// The upstream events queue the sender publishes to (moto).
    sender_events: String,
}

/// Moto's table, the sandbox as Meta (3 templates a page), the sender
/// (no cache: each batch reads) and the status function, with an `acme`
/// tenant bound to account 999.
async fn stack() -> Stack {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default())
        .await
        .unwrap();
    let waba_id = sandbox.config().waba_id;
    let ddb = harness::dynamodb().await;
    let table = harness::create_table(&ddb).await;
    let sqs = harness::sqs().await;
    let queue = harness::create_queue(&sqs, "send").await;
    let dlq = harness::create_queue(&sqs, "webhook-dlq").await;
    let sender_events = harness::create_queue(&sqs, "events").await;
    let secret = harness::create_secret(&harness::secrets_manager().await).await;
    let url = sandbox.url();
    let config = chasqui_sender::configure(&Settings::from_pairs([
        ("WHATSAPP_SECRET_ID", secret.as_str()),
        ("TABLE_NAME", table.as_str()),
        ("SEND_QUEUE_URL", queue.as_str()),
        ("WHATSAPP_PHONE_NUMBER_ID", PN),
        ("GRAPH_API_BASE_URL", url.as_str()),
        ("WHATSAPP_WABA_ID", waba_id.as_str()),
        ("TEMPLATE_CACHE_SECONDS", "0"),
        ("UPSTREAM_EVENTS_QUEUE_URL", sender_events.as_str()),
    ]))
    .unwrap();
    let aws = harness::aws().await;
    let sender = chasqui_sender::App::from_config(&config, &aws)
        .await
        .unwrap();
    let status_config = chasqui_status::configure(&Settings::from_pairs([
        ("TABLE_NAME", table.as_str()),
        ("WEBHOOK_DLQ_URL", dlq.as_str()),
    ]))
    .unwrap();
    let requests = RequestCounter::default();
    let store = Arc::new(DynamoStore::new(requests.client(&aws), &table));
    let events = Arc::new(Capture::default());
    let acme = Binding {
        phone_number_id: "777".into(),
        tenant: "acme".into(),
        app: DEFAULT_APP.into(),
        waba_id: "999".into(),
        display_phone_number: None,
        token_secret: "chasqui/tenants/acme".into(),
        created_at: 1,
    };
    let ports = chasqui_status::Ports {
        directory: Arc::new(Directory::fixed(vec![acme])),
        messages: store.clone(),
        contacts: store.clone(),
        log: store.clone(),
        health: store,
        templates: Arc::new(DynamoTemplates::new(ddb.clone(), &table)),
        publisher: events.clone(),
        dead_letters: Arc::new(chasqui_status::dead_letter::SqsDeadLetters::new(
            sqs.clone(),
            dlq,
        )),
    };
    let status = chasqui_status::App::new(
        ports,
        status_config.policy,
        status_config.max_receive_count,
        requests,
    );
    Stack {
        sandbox,
        waba_id,
        sender,
        status,
        events,
        catalogue: DynamoTemplates::new(ddb.clone(), &table),
        ddb,
        table,
        sqs,
        sender_events,
    }
}

impl Stack {
    async fn sync(&self) -> Value {
        chasqui_sender::sync_templates(&self.sender).await
    }

    /// Sends one request per `(id, template)` in one batch.
    async fn send(&self, sends: &[(&str, Value)]) {
        let records: Vec<SqsRecord> = sends
            .iter()
            .map(|(id, template)| {
                let body = json!({"id": id, "to": TO,
                                  "message": {"type": "template", "template": template}});
                SqsRecord::new(format!("sqs-{id}"), body.to_string())
            })
            .collect();
        let response = chasqui_sender::handle(&self.sender, sqs_event(&records)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    fn calls(&self, id: &str) -> usize {
        self.sandbox
            .calls_by_callback()
            .get(id)
            .map_or(0, |s| s.calls)
    }

    async fn record(&self, id: &str) -> shared::record::MessageRecord {
        let item = harness::message_item(&self.ddb, &self.table, id).await;
        shared::table::dynamo::message_record(&item).unwrap()
    }

    /// A webhook body through the status function (queued as the webhook
    /// function queues it).
    async fn webhook(&self, body: &Value) {
        let bytes = body.to_string().into_bytes();
        let records: Vec<SqsRecord> =
            intake::split(DEFAULT_APP, &bytes, shared::now_millis(), MAX_BODY_BYTES)
                .messages
                .iter()
                .map(|m| SqsRecord::new(harness::unique("hook"), m.body.as_str()))
                .collect();
        let response = chasqui_status::handle(&self.status, sqs_event(&records)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    /// The events the sender published to its upstream queue (moto), by
    /// message id; `expected` events are waited for.
    async fn sender_events(&self, expected: usize) -> Vec<Event> {
        harness::receive(&self.sqs, &self.sender_events, expected)
            .await
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or_default()).unwrap())
            .collect()
    }

    async fn entry(&self, tenant: &str, name: &str, language: &str) -> Option<Entry> {
        self.catalogue
            .entries(tenant, name)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.language == language)
    }
}

fn text(v: &str) -> Value {
    json!({"type": "text", "text": v})
}

fn named(name: &str, v: &str) -> Value {
    json!({"type": "text", "parameter_name": name, "text": v})
}

fn order_update(language: &str, extra: &[Value]) -> Value {
    let mut components = vec![
        json!({"type": "header", "parameters": [text("A-1")]}),
        json!({"type": "body", "parameters": [text("Ana"), text("A-1"), text("today")]}),
        json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [text("A-1")]}),
    ];
    components.extend_from_slice(extra);
    json!({"name": "order_update", "language": {"code": language}, "components": components})
}

#[tokio::test]
async fn the_sync_reads_every_page_into_the_catalogue() {
    let s = stack().await;
    let sandbox_templates = s.sandbox.config().templates;
    let page_size = s.sandbox.config().template_page_size;
    assert!(sandbox_templates.len() > 2 * page_size, "several pages");
    let report = s.sync().await;
    let account = &report["accounts"][0];
    assert_eq!(account["waba_id"], json!(s.waba_id), "{report}");
    assert_eq!(
        account["templates"],
        json!(sandbox_templates.len()),
        "{report}"
    );
    assert_eq!(
        account["pages"],
        json!(sandbox_templates.len().div_ceil(page_size)),
        "{report}"
    );
    let listed = s.catalogue.list(DEFAULT_TENANT).await.unwrap();
    assert_eq!(listed.len(), sandbox_templates.len());
    for t in &sandbox_templates {
        let e = listed
            .iter()
            .find(|e| e.name == t.name && e.language == t.language)
            .unwrap_or_else(|| panic!("{} {} not synced", t.name, t.language));
        assert_eq!(e.status.as_deref(), Some(t.status.as_str()));
        assert!(e.synced_at.is_some() && e.id.is_some());
    }
    let named_entry = s
        .entry(DEFAULT_TENANT, "delivery_window", "en_US")
        .await
        .unwrap();
    let shape = named_entry.shape.unwrap();
    assert_eq!(shape.parameter_format, "NAMED");
    assert_eq!(shape.body, ["first_name", "window"]);
    // Nothing of the default tenant's account lands in another tenant's.
    assert!(s.catalogue.list("acme").await.unwrap().is_empty());
    // A second sync changes nothing and reads the same.
    let again = s.sync().await;
    assert_eq!(again["accounts"][0]["changed"], json!([]), "{again}");
}

#[tokio::test]
async fn each_mismatch_is_refused_with_its_reason_and_path_and_no_call() {
    let s = stack().await;
    s.sync().await;
    let qr = json!({"type": "button", "sub_type": "quick_reply", "index": "3",
                    "parameters": [{"type": "payload", "payload": "p"}]});
    let image = json!({"type": "image", "image": {"link": "https://example.com/a.jpg"}});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "m-lang",
            order_update("fr_FR", &[]),
            "template_unknown",
            "message.template.language.code",
        ),
        (
            "m-body",
            json!({"name": "appointment_reminder", "language": {"code": "pt_BR"},
                          "components": [{"type": "body", "parameters": [text("Ana")]}]}),
            "template_parameters",
            "message.template.components[0].parameters",
        ),
        (
            "m-named-missing",
            json!({"name": "delivery_window", "language": {"code": "en_US"},
                          "components": [{"type": "body", "parameters": [named("first_name", "Ana")]}]}),
            "template_parameters",
            "message.template.components[0].parameters",
        ),
        (
            "m-named-unknown",
            json!({"name": "delivery_window", "language": {"code": "en_US"},
                          "components": [{"type": "body", "parameters": [named("first_name", "Ana"), named("surname", "S")]}]}),
            "template_parameters",
            "message.template.components[0].parameters[1].parameter_name",
        ),
        (
            "m-button-index",
            order_update("en_US", &[qr]),
            "template_buttons",
            "message.template.components[3].index",
        ),
        (
            "m-button-type",
            json!({"name": "welcome_offer", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [image.clone()]},
            {"type": "body", "parameters": [text("Ana")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("X")]}]}),
            "template_buttons",
            "message.template.components[2].sub_type",
        ),
        (
            "m-header",
            json!({"name": "purchase_order", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [image]},
            {"type": "body", "parameters": [text("Ana"), text("PO-1")]}]}),
            "template_header",
            "message.template.components[0].parameters[0].type",
        ),
        (
            "m-paused",
            json!({"name": "spring_sale", "language": {"code": "en_US"},
                            "components": [{"type": "body", "parameters": [text("Ana")]}]}),
            "template_paused",
            "message.template.name",
        ),
        (
            "m-disabled",
            json!({"name": "legacy_notice", "language": {"code": "en_US"}}),
            "template_not_approved",
            "message.template.name",
        ),
    ];
    let mut sends: Vec<(&str, Value)> =
        cases.iter().map(|(id, t, _, _)| (*id, t.clone())).collect();
    sends.push(("m-good", order_update("en_US", &[])));
    sends.push(("m-good-named", json!({"name": "delivery_window", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [named("window", "9-12"), named("first_name", "Ana")]}]})));
    s.send(&sends).await;
    for (id, _, reason, path) in &cases {
        let record = s.record(id).await;
        let error = record
            .error
            .unwrap_or_else(|| panic!("{id}: no error recorded"));
        assert_eq!(error.reason.as_deref(), Some(*reason), "{id}: {error:?}");
        assert_eq!(error.details.as_deref(), Some(*path), "{id}: {error:?}");
        assert!(
            error
                .message
                .as_deref()
                .is_some_and(|m| m.contains("the template expects")),
            "{id}: {error:?}"
        );
        assert_eq!(s.calls(id), 0, "{id} reached the sandbox");
    }
    for id in ["m-good", "m-good-named"] {
        assert_eq!(s.calls(id), 1, "{id}");
        assert!(s.record(id).await.error.is_none(), "{id}");
    }
    // Upstream is told of each refusal (Meta will never send a status for
    // it), with the same reason; the sends that went out are left to
    // Meta's webhooks.
    let events = s.sender_events(cases.len() + 1).await;
    assert_eq!(events.len(), cases.len(), "{events:?}");
    for (id, _, reason, path) in &cases {
        let event = events
            .iter()
            .find(|e| matches!(&e.payload, Payload::StatusChanged(d) if d.message_id.as_deref() == Some(*id)))
            .unwrap_or_else(|| panic!("{id}: no event"));
        assert_eq!(event.tenant, DEFAULT_TENANT);
        let Payload::StatusChanged(data) = &event.payload else {
            unreachable!()
        };
        assert_eq!(data.status, "failed", "{id}");
        assert_eq!(data.old_status, shared::record::Status::Pending, "{id}");
        assert_eq!(data.new_status, shared::record::Status::Failed, "{id}");
        assert_eq!(data.phone_number_id.as_deref(), Some(PN), "{id}");
        let error = data.error.as_ref().unwrap();
        assert_eq!(error.reason.as_deref(), Some(*reason), "{id}");
        assert_eq!(error.details.as_deref(), Some(*path), "{id}");
        assert_eq!(error.source.as_deref(), Some("catalogue"), "{id}");
    }
}

#[tokio::test]
async fn a_template_the_catalogue_never_saw_still_goes_to_meta() {
    let s = stack().await;
    s.sync().await;
    // Created at Meta after the sync.
    let mut templates = serde_json::to_value(s.sandbox.config().templates).unwrap();
    templates
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "flash_notice", "language": "en_US", "body_params": 1}));
    s.sandbox
        .configure(&json!({"templates": templates}))
        .unwrap();
    let flash = |params: Vec<Value>| {
        json!({"name": "flash_notice", "language": {"code": "en_US"},
               "components": [{"type": "body", "parameters": params}]})
    };
    s.send(&[
        ("u-good", flash(vec![text("Ana")])),
        ("u-bad", flash(vec![])),
    ])
    .await;
    assert_eq!(s.calls("u-good"), 1);
    assert!(s.record("u-good").await.error.is_none());
    // Not refused by the catalogue: Meta's answer decides.
    assert_eq!(s.calls("u-bad"), 1);
    let error = s.record("u-bad").await.error.unwrap();
    assert_eq!(error.code, Some(132000), "{error:?}");
    // Meta's refusal of the call is announced upstream with its code; the
    // accepted send is not (its statuses come from Meta).
    let events = s.sender_events(2).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let Payload::StatusChanged(data) = &events[0].payload else {
        panic!("{events:?}")
    };
    assert_eq!(data.message_id.as_deref(), Some("u-bad"));
    assert_eq!(data.new_status, shared::record::Status::Failed);
    let error = data.error.as_ref().unwrap();
    assert_eq!(
        (error.code, error.source.as_deref()),
        (Some(132000), Some("cloud_api"))
    );
}

#[tokio::test]
async fn a_change_the_sync_finds_is_told_upstream() {
    let s = stack().await;
    s.sync().await;
    // Meta pauses a template and its webhook never arrives.
    let mut templates = serde_json::to_value(s.sandbox.config().templates).unwrap();
    let order = templates
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == "order_update" && t["language"] == "en_US")
        .unwrap();
    order["status"] = json!("PAUSED");
    s.sandbox
        .configure(&json!({"templates": templates}))
        .unwrap();
    let report = s.sync().await;
    assert_eq!(
        report["accounts"][0]["changed"],
        json!(["order_update (en_US): status APPROVED -> PAUSED"]),
        "{report}"
    );
    let events = s.sender_events(2).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].tenant, DEFAULT_TENANT);
    let Payload::TemplateStatusChanged(data) = &events[0].payload else {
        panic!("{events:?}")
    };
    assert_eq!(
        (data.name.as_str(), data.language.as_str()),
        ("order_update", "en_US")
    );
    assert_eq!(data.previous.as_deref(), Some("APPROVED"));
    assert_eq!(data.current, "PAUSED");
    assert_eq!(data.waba_id, s.waba_id);
    assert_eq!(data.alert.as_deref(), Some(shared::templates::ALERT));
    // A further sync finds nothing new and tells nothing.
    s.sync().await;
    assert!(s.sender_events(1).await.is_empty());
}

fn status_webhook(waba_id: &str, name: &str, event: &str, time: u64) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": time,
        "changes": [{"field": "message_template_status_update", "value": {
            "event": event, "message_template_id": 42, "message_template_name": name,
            "message_template_language": "en_US", "reason": if event == "PAUSED" { "LOW_QUALITY" } else { "NONE" }}}]}]})
}

#[tokio::test]
async fn paused_then_reapproved_ends_in_the_newer_state_in_both_orders() {
    let s = stack().await;
    s.sync().await;
    let (paused_at, approved_at) = (1_800_000_000u64, 1_800_000_060u64);
    let paused = |name| status_webhook(&s.waba_id, name, "PAUSED", paused_at);
    let approved = |name| status_webhook(&s.waba_id, name, "APPROVED", approved_at);
    // In order, with a duplicate of each.
    for body in [
        paused("order_update"),
        paused("order_update"),
        approved("order_update"),
        approved("order_update"),
    ] {
        s.webhook(&body).await;
    }
    // The other way round: the late pause is superseded.
    for body in [
        approved("appointment_reminder"),
        paused("appointment_reminder"),
    ] {
        s.webhook(&body).await;
    }
    for name in ["order_update", "appointment_reminder"] {
        let e = s.entry(DEFAULT_TENANT, name, "en_US").await.unwrap();
        assert_eq!(e.status.as_deref(), Some("APPROVED"), "{name}");
        assert_eq!(e.status_at, Some(approved_at * 1000), "{name}");
        assert_eq!(e.status_reason, None, "{name}");
    }
    let events = s.events.0.lock().unwrap().clone();
    let status_events: Vec<(String, String, Option<String>, Option<String>)> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::TemplateStatusChanged(d) => Some((
                d.name.clone(),
                d.current.clone(),
                d.previous.clone(),
                d.reason.clone(),
            )),
            _ => None,
        })
        .collect();
    let of = |name: &str| -> Vec<_> {
        let mut v: Vec<_> = status_events
            .iter()
            .filter(|e| e.0 == name)
            .cloned()
            .collect();
        v.dedup();
        v
    };
    // In order: APPROVED -> PAUSED (with Meta's reason) -> APPROVED; a
    // duplicate repeats its event with the same id.
    assert_eq!(
        of("order_update"),
        [
            (
                "order_update".into(),
                "PAUSED".into(),
                Some("APPROVED".into()),
                Some("LOW_QUALITY".into())
            ),
            (
                "order_update".into(),
                "PAUSED".into(),
                Some("PAUSED".into()),
                Some("LOW_QUALITY".into())
            ),
            (
                "order_update".into(),
                "APPROVED".into(),
                Some("PAUSED".into()),
                None
            ),
            (
                "order_update".into(),
                "APPROVED".into(),
                Some("APPROVED".into()),
                None
            ),
        ]
    );
    let ids: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(
            |e| matches!(&e.payload, Payload::TemplateStatusChanged(d) if d.name == "order_update"),
        )
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(ids.len(), 2, "one id per state: duplicates share it");
    // The other order: only the approval is told; the late pause is not.
    assert_eq!(of("appointment_reminder").len(), 1);
    assert!(events.iter().all(|e| e.tenant == DEFAULT_TENANT));
    // And a send of the reapproved template goes out.
    s.send(&[("r-1", order_update("en_US", &[]))]).await;
    assert_eq!(s.calls("r-1"), 1);
}

#[tokio::test]
async fn the_sandbox_pauses_a_template_its_webhook_lands_and_the_next_send_is_refused() {
    let s = stack().await;
    s.sync().await;
    // The control API answers the webhooks it delivers (none here: no
    // webhook URL), so they go through the status function as queued.
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/templates/order_update/en_US",
            s.sandbox.url()
        ))
        .json(&json!({"status": "PAUSED", "reason": "LOW_QUALITY", "quality": "RED"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let hooks = answer["webhooks"].as_array().unwrap().clone();
    assert_eq!(hooks.len(), 2, "{answer}");
    for hook in &hooks {
        s.webhook(hook).await;
    }
    let e = s
        .entry(DEFAULT_TENANT, "order_update", "en_US")
        .await
        .unwrap();
    assert_eq!(
        (e.status.as_deref(), e.quality.as_deref()),
        (Some("PAUSED"), Some("RED"))
    );
    s.send(&[("p-1", order_update("en_US", &[]))]).await;
    assert_eq!(s.calls("p-1"), 0);
    let error = s.record("p-1").await.error.unwrap();
    assert_eq!(error.reason.as_deref(), Some("template_paused"));
    assert!(error.message.unwrap().contains("LOW_QUALITY"));
    let kinds: Vec<&str> = s
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds,
        ["template.status_changed", "template.quality_changed"]
    );
}

#[tokio::test]
async fn a_tenants_template_webhook_stays_in_its_catalogue() {
    let s = stack().await;
    s.sync().await;
    s.webhook(&status_webhook(
        "999",
        "order_update",
        "PAUSED",
        1_800_000_000,
    ))
    .await;
    let acme = s.entry("acme", "order_update", "en_US").await.unwrap();
    assert_eq!(acme.status.as_deref(), Some("PAUSED"));
    let default = s
        .entry(DEFAULT_TENANT, "order_update", "en_US")
        .await
        .unwrap();
    assert_eq!(default.status.as_deref(), Some("APPROVED"));
    let events = s.events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tenant, "acme");
}
