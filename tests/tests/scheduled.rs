//! Scheduled sends end to end against the local AWS emulator (the send
//! queue with its dead-letter queue, DynamoDB, EventBridge Scheduler, which
//! moto stores but never fires) and a `wiremock` Graph API, through the
//! sender's handler as `sender.rs` drives it: a future `send_at` makes one
//! schedule and no call; its fire sends once; an early fire is held; a
//! cancelled message never goes (cancelled before its fire, or racing it);
//! the checks run when it goes; refusals name their path; tenants are
//! scoped.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::events::{Event, Payload};
use shared::now_millis;
use shared::record::Status;
use shared::schedule::{Cancel, EventBridgeTimer, Fire, schedule_name};
use shared::sqs::BatchResponse;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PN: &str = "1122334455";

struct Env {
    config: chasqui_sender::SenderConfig,
    app: chasqui_sender::App,
    graph: MockServer,
    stack: harness::SenderStack,
    scheduler: aws_sdk_scheduler::Client,
    events_url: String,
    group: String,
}

impl std::ops::Deref for Env {
    type Target = harness::SenderStack;

    fn deref(&self) -> &harness::SenderStack {
        &self.stack
    }
}

async fn env() -> Env {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.SCHEDULED"}]}),
        ))
        .mount(&graph)
        .await;
    let aws = harness::aws().await;
    let stack = harness::SenderStack::create().await;
    let events_url = harness::create_queue(&stack.sqs, "events").await;
    let queue_arn = harness::queue_arn(&stack.sqs, &stack.queue_url).await;
    let dlq_arn = harness::queue_arn(&stack.sqs, &stack.dlq_url).await;
    let scheduler = aws_sdk_scheduler::Client::new(&aws);
    let group = harness::create_schedule_group().await;
    let uri = graph.uri();
    let mut pairs = stack.settings(PN, &uri);
    pairs.extend([
        ("UPSTREAM_EVENTS_QUEUE_URL", events_url.as_str()),
        ("SCHEDULE_GROUP", group.as_str()),
        (
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/chasqui-scheduler",
        ),
        ("SEND_QUEUE_ARN", queue_arn.as_str()),
        ("SEND_DLQ_ARN", dlq_arn.as_str()),
        ("SEND_AT_MAX_DAYS", "35"),
    ]);
    let config = chasqui_sender::configure(&Settings::from_pairs(pairs)).unwrap();
    let app = chasqui_sender::App::from_config(&config, &aws)
        .await
        .unwrap();
    Env {
        config,
        app,
        graph,
        stack,
        scheduler,
        events_url,
        group,
    }
}

impl Env {
    /// Receives `n` messages from the send queue and hands them to the
    /// sender as one batch.
    async fn deliver(&self, n: usize) -> BatchResponse {
        let messages = harness::receive(&self.sqs, &self.queue_url, n).await;
        assert_eq!(messages.len(), n, "expected {n} messages on the send queue");
        chasqui_sender::handle(&self.app, harness::lambda_event(&messages)).await
    }

    async fn calls(&self) -> usize {
        self.graph
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }

    async fn record(&self, tenant: &str, id: &str) -> Option<HashMap<String, AttributeValue>> {
        harness::tenant_message_item(&self.ddb, &self.table, tenant, id).await
    }

    async fn status(&self, tenant: &str, id: &str) -> Status {
        let item = self.record(tenant, id).await.expect("a record");
        shared::table::dynamo::message_record(&item)
            .unwrap()
            .status()
    }

    async fn schedules(&self) -> Vec<String> {
        self.scheduler
            .list_schedules()
            .group_name(&self.group)
            .send()
            .await
            .unwrap()
            .schedules()
            .iter()
            .filter_map(|s| s.name().map(str::to_owned))
            .collect()
    }

    async fn cancel(&self, tenant: &str, id: &str) -> Cancel {
        let aws = harness::aws().await;
        let timer =
            EventBridgeTimer::new(&aws, &self.queue_url, self.config.schedule.clone().unwrap());
        let events = shared::events::publish::publisher(&self.sqs, Some(&self.events_url), None);
        shared::schedule::cancel(
            &self.ddb,
            &self.table,
            &timer,
            events.as_ref(),
            tenant,
            id,
            now_millis(),
        )
        .await
        .unwrap()
    }

    /// `(message id, status)` of every `message.status_changed` published,
    /// once per event id (a retried or repeated publish keeps its id, and
    /// consumers deduplicate by it).
    async fn events(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for m in harness::drain(&self.sqs, &self.events_url).await {
            let event: Event = serde_json::from_str(m.body().unwrap()).unwrap();
            if !seen.insert(event.id.clone()) {
                continue;
            }
            if let Payload::StatusChanged(data) = event.payload {
                out.push((data.message_id.unwrap_or_default(), data.status));
            }
        }
        out
    }

    async fn opt_out(&self, wa_id: &str) {
        self.ddb
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("CONTACT#{PN}#{wa_id}")))
            .item("sk", AttributeValue::S("CONTACT".into()))
            .item("wa_id", AttributeValue::S(wa_id.into()))
            .item("opted_out", AttributeValue::Bool(true))
            .item("opt_source", AttributeValue::S("keyword".into()))
            .send()
            .await
            .unwrap();
    }
}

/// `ms` from now as RFC 3339 with a -03:00 offset (São Paulo), as an
/// upstream system would write it.
fn at(ms_from_now: u64) -> String {
    let utc = now_millis() + ms_from_now;
    let local = utc - 3 * 3_600_000;
    shared::time::rfc3339_utc(local).replace('Z', "-03:00")
}

fn template(id: &str, to: &str, send_at: &str) -> String {
    json!({"id": id, "to": to, "send_at": send_at,
        "message": {"type": "template", "template": {"name": "appointment_reminder",
            "language": {"code": "pt_BR"}}}})
    .to_string()
}

fn n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<u64> {
    item.get(k)?.as_n().ok()?.parse().ok()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    item.get(k)?.as_s().ok().map(String::as_str)
}

#[tokio::test]
async fn a_far_send_at_makes_one_schedule_and_no_call_and_an_early_fire_is_held() {
    let env = env().await;
    let send_at = at(40 * 60_000);
    let body = template("far-1", "+5511988880001", &send_at);
    env.enqueue(&body).await;
    let r = env.deliver(1).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(env.calls().await, 0);
    assert_eq!(env.status("default", "far-1").await, Status::Scheduled);
    let item = env.record("default", "far-1").await.unwrap();
    let expected_at = shared::time::parse_rfc3339_millis(&send_at).unwrap();
    assert_eq!(n(&item, "send_at"), Some(expected_at));
    assert!(n(&item, "scheduled_at").is_some());
    assert_eq!(s(&item, "request"), Some(body.as_str()));
    // The record outlives send_at by its TTL.
    assert!(n(&item, "expires_at").unwrap() * 1000 > expected_at + 80 * 86_400_000);

    // One schedule, as EventBridge Scheduler holds it.
    let name = schedule_name("default", "far-1");
    assert_eq!(env.schedules().await, vec![name.clone()]);
    let schedule = env
        .scheduler
        .get_schedule()
        .group_name(&env.group)
        .name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        schedule.schedule_expression(),
        Some(shared::schedule::at_expression(expected_at).as_str())
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        schedule.action_after_completion().map(|a| a.as_str()),
        Some("DELETE")
    );
    assert_eq!(
        schedule
            .flexible_time_window()
            .map(|w| w.mode().as_str().to_owned()),
        Some("OFF".to_owned())
    );
    let target = schedule.target().unwrap();
    assert_eq!(
        Some(target.arn()),
        env.config
            .schedule
            .as_ref()
            .map(|s| s.send_queue_arn.as_str())
    );
    let input = target.input().unwrap().to_owned();
    assert_eq!(Fire::read(&input), Some(Fire::new("default", "far-1")));

    // The same request again (a redelivery): still one schedule, no call.
    env.enqueue(&body).await;
    let r = env.deliver(1).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(env.schedules().await.len(), 1);
    assert_eq!(env.calls().await, 0);

    // Its fire, 40 minutes early: held back on the queue, not sent.
    env.enqueue(&input).await;
    let r = env.deliver(1).await;
    assert_eq!(r.batch_item_failures.len(), 1, "the early fire comes back");
    assert_eq!(env.calls().await, 0);
    assert_eq!(env.status("default", "far-1").await, Status::Scheduled);
    assert!(
        harness::receive(&env.sqs, &env.queue_url, 1)
            .await
            .is_empty(),
        "held for the minutes left, not visible again at once"
    );
    // The local stand-in for Scheduler (`make dev`) fires it when its
    // `at(...)` comes, and deletes it, as Scheduler does.
    let (scheduler, sqs) = (&env.scheduler, &env.sqs);
    let before = shared::schedule::SCHEDULE_LEAD_MS + 60_000;
    assert_eq!(
        chasqui_cli::firer::fire_due(scheduler, sqs, &env.group, expected_at - before).await,
        Ok(0),
        "not due yet"
    );
    assert_eq!(
        chasqui_cli::firer::fire_due(scheduler, sqs, &env.group, expected_at).await,
        Ok(1)
    );
    assert!(env.schedules().await.is_empty());
    let fired = harness::receive(&env.sqs, &env.queue_url, 1).await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].body(), Some(input.as_str()));

    // Announced once (the redelivery published it again under its id).
    let events = env.events().await;
    assert_eq!(events, vec![("far-1".to_owned(), "scheduled".to_owned())]);
}

/// Near `send_at`s go as delayed fires on the send queue (no schedule):
/// each is sent once at its time, a cancelled one never, an opt-out between
/// scheduling and the fire suppresses it, and a fire racing a cancel ends
/// one way only.
#[tokio::test]
async fn near_fires_send_once_at_their_time_with_every_check_then() {
    let env = env().await;
    let send_at = at(7_000);
    for (id, to) in [
        ("near-sent", "+5511988880011"),
        ("near-cancelled", "+5511988880012"),
        ("near-opted-out", "+5511988880013"),
        ("near-race", "+5511988880014"),
    ] {
        env.enqueue(&template(id, to, &send_at)).await;
    }
    let r = env.deliver(4).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert!(
        env.schedules().await.is_empty(),
        "near sends need no schedule"
    );
    assert_eq!(env.calls().await, 0);
    // Before the fire: one is cancelled, one customer opts out.
    assert_eq!(
        env.cancel("default", "near-cancelled").await,
        Cancel::Cancelled
    );
    assert_eq!(
        env.status("default", "near-cancelled").await,
        Status::Cancelled
    );
    env.opt_out("5511988880013").await;
    // Another tenant's cancel cannot touch it.
    assert_eq!(env.cancel("acme", "near-sent").await, Cancel::Unknown);
    assert_eq!(env.status("default", "near-sent").await, Status::Scheduled);

    // The fires arrive when send_at comes (SQS DelaySeconds).
    let fires = harness::receive(&env.sqs, &env.queue_url, 4).await;
    assert_eq!(fires.len(), 4);
    let fired_at = now_millis();
    let due = shared::time::parse_rfc3339_millis(&send_at).unwrap();
    assert!(
        fired_at + 1_000 >= due,
        "a fire came {} ms early",
        due - fired_at
    );
    // The race: the fire and a cancel at once; exactly one wins.
    let (r, race) = tokio::join!(
        chasqui_sender::handle(&env.app, harness::lambda_event(&fires)),
        env.cancel("default", "near-race"),
    );
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let sent_to: Vec<String> = env
        .graph
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|c| {
            serde_json::from_slice::<Value>(&c.body).unwrap()["to"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let race_sent = sent_to.iter().any(|t| t == "5511988880014");
    match race {
        Cancel::Cancelled => {
            assert!(!race_sent, "cancelled, yet sent");
            assert_eq!(env.status("default", "near-race").await, Status::Cancelled);
        }
        Cancel::AlreadyGone(_) => assert!(race_sent, "the cancel lost, yet nothing went"),
        Cancel::Unknown => panic!("the race's message is known"),
    }
    assert!(sent_to.contains(&"5511988880011".to_owned()));
    assert!(
        !sent_to.contains(&"5511988880012".to_owned()),
        "cancelled, yet sent"
    );
    assert!(
        !sent_to.contains(&"5511988880013".to_owned()),
        "opted out, yet sent"
    );
    assert_eq!(sent_to.len(), 1 + usize::from(race_sent));
    assert_eq!(
        env.status("default", "near-opted-out").await,
        Status::Suppressed
    );
    assert_eq!(env.status("default", "near-sent").await, Status::Accepted);
    // The kept request goes once sent.
    let sent = env.record("default", "near-sent").await.unwrap();
    assert_eq!(s(&sent, "request"), None);

    // Every fire again (a duplicate delivery): nothing more is sent, and a
    // cancel comes too late for a sent message.
    let calls = env.calls().await;
    for fire in &fires {
        env.enqueue(fire.body().unwrap()).await;
    }
    let r = env.deliver(4).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(env.calls().await, calls);
    assert_eq!(
        env.cancel("default", "near-sent").await,
        Cancel::AlreadyGone(Status::Accepted)
    );
    // A fire for an id no one scheduled is dropped.
    env.enqueue(&Fire::new("default", "never-scheduled").body())
        .await;
    let r = env.deliver(1).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(env.calls().await, calls);

    let events = env.events().await;
    let of = |id: &str| -> Vec<String> {
        events
            .iter()
            .filter(|(m, _)| m == id)
            .map(|(_, st)| st.clone())
            .collect()
    };
    assert_eq!(of("near-cancelled"), ["scheduled", "cancelled"]);
    assert_eq!(of("near-opted-out"), ["scheduled", "suppressed"]);
}

#[tokio::test]
async fn a_cancel_deletes_the_schedule_and_its_fire_is_dropped() {
    let env = env().await;
    let request = template("far-cancel", "+5511988880021", &at(3 * 3_600_000));
    env.enqueue(&request).await;
    env.deliver(1).await;
    assert_eq!(env.schedules().await.len(), 1);
    assert_eq!(env.cancel("default", "far-cancel").await, Cancel::Cancelled);
    assert!(env.schedules().await.is_empty(), "the schedule is deleted");
    // Again: still cancelled (idempotent), the missing schedule is fine.
    assert_eq!(env.cancel("default", "far-cancel").await, Cancel::Cancelled);
    // A fire that was already on its way is dropped.
    env.enqueue(&Fire::new("default", "far-cancel").body())
        .await;
    let r = env.deliver(1).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    // A redelivered request neither schedules nor sends it again.
    env.enqueue(&request).await;
    env.deliver(1).await;
    assert!(env.schedules().await.is_empty());
    assert_eq!(env.calls().await, 0);
    assert_eq!(env.status("default", "far-cancel").await, Status::Cancelled);
    assert_eq!(env.cancel("default", "no-such-id").await, Cancel::Unknown);
}

#[tokio::test]
async fn bad_send_at_is_refused_with_its_path_and_recorded_failed() {
    let env = env().await;
    let text = |id: Option<&str>, send_at: &str| {
        let mut v = json!({"to": "+5511988880031", "send_at": send_at,
            "message": {"type": "text", "text": {"body": "oi"}}});
        if let Some(id) = id {
            v["id"] = json!(id);
        }
        v.to_string()
    };
    for (id, send_at, path) in [
        ("bad-form", "2026-12-01 09:30".to_owned(), "send_at"),
        ("bad-far", at(36 * 86_400_000), "send_at"),
    ] {
        env.enqueue(&text(Some(id), &send_at)).await;
        let r = env.deliver(1).await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
        let item = env.record("default", id).await.expect(id);
        let error = item["error"].as_m().unwrap();
        assert_eq!(error["reason"].as_s().unwrap(), "invalid_request", "{id}");
        assert_eq!(error["details"].as_s().unwrap(), path, "{id}");
    }
    // No id: refused under the SQS message id, naming `id`.
    let request = shared::send_request::SendRequest::parse(&text(None, &at(3_600_000))).unwrap();
    let err = request
        .scheduled_for(now_millis(), env.config.send_at_max_days)
        .unwrap_err();
    assert_eq!(err.path, "id");
    assert!(env.schedules().await.is_empty());
    assert_eq!(env.calls().await, 0);
}
