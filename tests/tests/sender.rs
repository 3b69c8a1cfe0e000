//! The sender end to end against the local AWS emulator (real SQS queues with
//! a dead-letter queue, DynamoDB, Secrets Manager) and a `wiremock` Graph
//! API: error classes, idempotency under duplicates and concurrency, the
//! redrive to the DLQ, opt-outs and the customer service window.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use shared::config::Settings;
use shared::send_request::SendRequest;
use shared::sqs::{BatchFailed, BatchResponse};
use wiremock::matchers::{any, body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PN: &str = "1122334455";

struct Env {
    config: chasqui_sender::SenderConfig,
    app: chasqui_sender::App,
    graph: MockServer,
    stack: harness::SenderStack,
}

impl std::ops::Deref for Env {
    type Target = harness::SenderStack;

    fn deref(&self) -> &harness::SenderStack {
        &self.stack
    }
}

async fn env(extra: &[(&str, &str)]) -> Env {
    let graph = MockServer::start().await;
    let stack = harness::SenderStack::create().await;
    let uri = graph.uri();
    let mut pairs = stack.settings(PN, &uri);
    pairs.extend_from_slice(extra);
    let config = chasqui_sender::configure(&Settings::from_pairs(pairs)).unwrap();
    let app = chasqui_sender::App::from_config(&config, &harness::aws().await)
        .await
        .unwrap();
    Env {
        config,
        app,
        graph,
        stack,
    }
}

impl Env {
    async fn another_instance(&self) -> chasqui_sender::App {
        chasqui_sender::App::from_config(&self.config, &harness::aws().await)
            .await
            .unwrap()
    }

    /// Receives `n` messages and wraps them as Lambda's SQS event.
    async fn receive(&self, n: usize) -> (Value, Vec<Message>) {
        let messages = harness::receive(&self.sqs, &self.queue_url, n).await;
        assert_eq!(messages.len(), n, "expected {n} messages on the queue");
        (harness::lambda_event(&messages), messages)
    }

    async fn record(&self, message_id: &str) -> HashMap<String, AttributeValue> {
        harness::message_item(&self.ddb, &self.table, message_id).await
    }

    async fn contact(&self, wa_id: &str, opted_out: bool, last_inbound_at: Option<u64>) {
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("CONTACT#{PN}#{wa_id}")))
            .item("sk", AttributeValue::S("CONTACT".into()))
            .item("wa_id", AttributeValue::S(wa_id.into()))
            .item("opted_out", AttributeValue::Bool(opted_out));
        if opted_out {
            put = put.item("opt_source", AttributeValue::S("keyword".into()));
        }
        if let Some(at) = last_inbound_at {
            put = put.item("last_inbound_at", AttributeValue::N(at.to_string()));
        }
        put.send().await.unwrap();
    }

    /// Returns a received message to the queue at once, as if its
    /// visibility timeout had run out.
    async fn make_visible(&self, message: &Message) {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(message.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }

    async fn visible_now(&self, url: &str) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    }
}

fn text(id: &str, to: &str) -> Value {
    json!({"id": id, "to": to, "message": {"type": "text", "text": {"body": format!("hello {id}")}}})
}

fn graph_error(code: i64) -> Value {
    json!({"error": {"message": format!("error {code}"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": format!("details of {code}")},
        "fbtrace_id": format!("trace-{code}")}})
}

fn ok(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"messaging_product": "whatsapp", "messages": [{"id": wamid}]}))
}

fn failed_ids(response: &BatchResponse) -> BTreeSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn num(item: &HashMap<String, AttributeValue>, k: &str) -> Option<u64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

fn map_s(item: &HashMap<String, AttributeValue>, k: &str, field: &str) -> Option<String> {
    item.get(k)?.as_m().ok()?.get(field)?.as_s().ok().cloned()
}

fn map_n(item: &HashMap<String, AttributeValue>, k: &str, field: &str) -> Option<i64> {
    item.get(k)?
        .as_m()
        .ok()?
        .get(field)?
        .as_n()
        .ok()?
        .parse()
        .ok()
}

fn by_body_id<'a>(messages: &'a [Message], id: &str) -> &'a Message {
    messages
        .iter()
        .find(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn each_error_class_is_retried_or_failed_and_only_retries_are_reported() {
    let env = env(&[]).await;
    let cases = [
        (
            "throttled",
            "5511900000001",
            ResponseTemplate::new(400)
                .set_body_json(graph_error(130429))
                .insert_header("Retry-After", "1"),
        ),
        (
            "server-error",
            "5511900000002",
            ResponseTemplate::new(503).set_body_string("upstream unavailable"),
        ),
        (
            "outside-window",
            "5511900000003",
            ResponseTemplate::new(400).set_body_json(graph_error(131047)),
        ),
        (
            "template-mismatch",
            "5511900000004",
            ResponseTemplate::new(400).set_body_json(graph_error(132000)),
        ),
        ("accepted", "5511900000005", ok("wamid.ACCEPTED")),
    ];
    for (id, to, response) in &cases {
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"to": to})))
            .respond_with(response.clone())
            .expect(1)
            .named(*id)
            .mount(&env.graph)
            .await;
        env.enqueue(&text(id, &format!("+{to}"))).await;
    }
    let (event, messages) = env.receive(cases.len()).await;
    let response = chasqui_sender::handle(&env.app, event).await;

    let want: BTreeSet<String> = ["throttled", "server-error"]
        .iter()
        .map(|id| by_body_id(&messages, id).message_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        failed_ids(&response),
        want,
        "only the retryable ones come back"
    );

    // Retried: the lock is released, the error kept, and the visibility
    // (300 s at receive) cut to the backoff, so both reappear within seconds.
    let back = harness::receive(&env.sqs, &env.queue_url, 2).await;
    let back_ids: BTreeSet<String> = back
        .iter()
        .map(|m| m.message_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        back_ids, want,
        "retried messages become visible again after their backoff"
    );
    let throttled = env.record("throttled").await;
    assert_eq!(map_n(&throttled, "last_error", "code"), Some(130429));
    assert_eq!(
        map_s(&throttled, "last_error", "class").as_deref(),
        Some("throttled")
    );
    assert_eq!(
        map_s(&throttled, "last_error", "fbtrace_id").as_deref(),
        Some("trace-130429")
    );
    assert_eq!(
        s(&throttled, "send_state"),
        None,
        "lock released for the retry"
    );
    assert_eq!(num(&throttled, "attempts"), Some(1));
    assert!(!throttled.contains_key("failed_at"));
    let server = env.record("server-error").await;
    assert_eq!(
        map_s(&server, "last_error", "class").as_deref(),
        Some("retryable")
    );

    // Permanent: recorded as failed with Meta's code and details, not reported.
    for (id, code) in [("outside-window", 131047), ("template-mismatch", 132000)] {
        let item = env.record(id).await;
        assert!(item.contains_key("failed_at"), "{id}");
        assert_eq!(s(&item, "send_state"), Some("done"), "{id}");
        assert_eq!(map_n(&item, "error", "code"), Some(code), "{id}");
        assert_eq!(
            map_s(&item, "error", "details"),
            Some(format!("details of {code}")),
            "{id}"
        );
        assert_eq!(
            map_s(&item, "error", "reason").as_deref(),
            Some("graph_error"),
            "{id}"
        );
        assert_eq!(
            map_s(&item, "error", "class").as_deref(),
            Some("permanent"),
            "{id}"
        );
    }
    let accepted = env.record("accepted").await;
    assert_eq!(s(&accepted, "wamid"), Some("wamid.ACCEPTED"));
    assert_eq!(s(&accepted, "recipient"), Some("5511900000005"));
    assert_eq!(s(&accepted, "phone_number_id"), Some(PN));
    assert!(accepted.contains_key("accepted_at") && num(&accepted, "expires_at").is_some());
}

#[tokio::test]
async fn a_token_error_stops_calling_meta_for_the_rest_of_the_batch() {
    let env = env(&[("SEND_CONCURRENCY", "1")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_json(graph_error(190)))
        .expect(1)
        .mount(&env.graph)
        .await;
    let ids = ["first", "second", "third", "fourth"];
    for (i, id) in ids.iter().enumerate() {
        env.enqueue(&text(id, &format!("+551190000010{i}"))).await;
    }
    let (event, messages) = env.receive(ids.len()).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    let all: BTreeSet<String> = messages
        .iter()
        .map(|m| m.message_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        failed_ids(&response),
        all,
        "every record is handed back for a later retry"
    );

    let mut tried = 0;
    for id in ids {
        let item = env.record(id).await;
        assert_eq!(s(&item, "send_state"), None, "{id}: lock released");
        match map_n(&item, "last_error", "code") {
            Some(190) => {
                tried += 1;
                assert_eq!(map_s(&item, "last_error", "class").as_deref(), Some("auth"));
                assert_eq!(num(&item, "attempts"), Some(1));
            }
            _ => {
                assert_eq!(
                    map_s(&item, "last_error", "reason").as_deref(),
                    Some("sending_halted"),
                    "{id}"
                );
                assert!(!item.contains_key("attempts"), "{id} was never sent");
            }
        }
    }
    assert_eq!(tried, 1);
}

#[tokio::test]
async fn a_duplicate_or_redelivered_request_never_calls_twice() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ok("wamid.ONCE"))
        .expect(1)
        .mount(&env.graph)
        .await;
    let body = text("order-1234-shipped", "+55 11 98888-7777");
    env.enqueue(&body).await;
    env.enqueue(&body).await;
    let (event, messages) = env.receive(2).await;
    // the two copies in one batch share a recipient, so they run in order
    let response = chasqui_sender::handle(&env.app, event.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // the same SQS messages delivered again (e.g. a lost delete)
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(response.batch_item_failures.is_empty());
    let item = env.record("order-1234-shipped").await;
    assert_eq!(s(&item, "wamid"), Some("wamid.ONCE"));
    assert_eq!(num(&item, "attempts"), Some(1));
    assert_eq!(messages.len(), 2);
}

#[tokio::test]
async fn concurrent_duplicates_produce_exactly_one_call() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ok("wamid.RACE").set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&env.graph)
        .await;
    let body = text("race-1", "+5511988887777");
    env.enqueue(&body).await;
    env.enqueue(&body).await;
    let (_, messages) = env.receive(2).await;
    let other = env.another_instance().await;
    // Two instances run at once: the second copy arrives while the first is
    // waiting on Meta. (moto's UpdateItem reads, checks and writes without a
    // lock, so two requests landing in the same microsecond can both pass a
    // condition there; DynamoDB evaluates conditions atomically. The overlap
    // is therefore started once the first call is in flight.)
    let first = chasqui_sender::handle(&env.app, harness::lambda_event(&messages[..1]));
    let second = async {
        while env
            .graph
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        chasqui_sender::handle(&other, harness::lambda_event(&messages[1..])).await
    };
    let (a, b) = tokio::join!(first, second);
    assert!(a.batch_item_failures.is_empty(), "the first copy is sent");
    let failed: Vec<_> = failed_ids(&a).into_iter().chain(failed_ids(&b)).collect();
    assert_eq!(
        failed.len(),
        1,
        "the copy that lost the lock is handed back: {a:?} {b:?}"
    );

    // when it comes back, the record is done: deleted without a call
    let loser: Vec<Message> = messages
        .iter()
        .filter(|m| m.message_id() == Some(failed[0].as_str()))
        .cloned()
        .collect();
    let again = chasqui_sender::handle(&other, harness::lambda_event(&loser)).await;
    assert!(again.batch_item_failures.is_empty());
    let item = env.record("race-1").await;
    assert_eq!(s(&item, "wamid"), Some("wamid.RACE"));
    assert_eq!(num(&item, "attempts"), Some(1));
}

#[tokio::test]
async fn the_same_id_with_another_body_is_refused() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ok("wamid.FIRST"))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.enqueue(&text("dup-id", "+5511988887777")).await;
    let (event, _) = env.receive(1).await;
    assert!(
        chasqui_sender::handle(&env.app, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let before = env.record("dup-id").await;

    let mut changed = text("dup-id", "+5511988887777");
    changed["message"]["text"]["body"] = json!("a different text");
    env.enqueue(&changed).await;
    let (event, _) = env.receive(1).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "refused for good, not retried"
    );
    assert_eq!(
        env.record("dup-id").await,
        before,
        "the first request's record is untouched"
    );
}

#[tokio::test]
async fn an_expired_lock_is_taken_over_and_a_live_one_waits() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ok("wamid.RECOVERED"))
        .expect(1)
        .mount(&env.graph)
        .await;
    let body = text("crashed", "+5511988887777");
    let hash = SendRequest::parse(&body.to_string())
        .unwrap()
        .request_hash(PN);
    let now = shared::now_millis();
    let lock = |expires: u64| {
        env.ddb
            .update_item()
            .table_name(&env.table)
            .key("pk", AttributeValue::S("MSG#crashed".into()))
            .key("sk", AttributeValue::S("MSG".into()))
            .update_expression("SET send_state = :s, lock_expires_at = :l, request_hash = :h")
            .expression_attribute_values(":s", AttributeValue::S("in_progress".into()))
            .expression_attribute_values(":l", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":h", AttributeValue::S(hash.clone()))
            .send()
    };
    // another attempt holds a live lock: hand back without calling
    lock(now + 60_000).await.unwrap();
    env.enqueue(&body).await;
    let (event, messages) = env.receive(1).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert_eq!(failed_ids(&response).len(), 1);
    assert_eq!(env.graph.received_requests().await.unwrap().len(), 0);

    // the attempt crashed: its lock expired, so the next delivery sends
    lock(now - 1).await.unwrap();
    env.make_visible(&messages[0]).await;
    let (event, _) = env.receive(1).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(response.batch_item_failures.is_empty());
    let item = env.record("crashed").await;
    assert_eq!(s(&item, "wamid"), Some("wamid.RECOVERED"));
    assert_eq!(s(&item, "send_state"), Some("done"));
}

#[tokio::test]
async fn an_unanswered_call_is_sent_again_only_when_no_status_webhook_arrived() {
    let env = env(&[
        ("GRAPH_API_TIMEOUT_MS", "300"),
        ("SEND_CONFIRM_GRACE_SECONDS", "2"),
    ])
    .await;
    // Meta accepts both, but its answers come after the sender gave up.
    Mock::given(any())
        .respond_with(ok("wamid.LOST").set_delay(Duration::from_secs(3)))
        .mount(&env.graph)
        .await;
    env.enqueue(&text("heard", "+5511900000001")).await;
    env.enqueue(&text("unheard", "+5511900000002")).await;
    let (event, messages) = env.receive(2).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert_eq!(failed_ids(&response).len(), 2, "both come back later");
    assert_eq!(env.graph.received_requests().await.unwrap().len(), 2);
    let now = shared::now_millis();
    for id in ["heard", "unheard"] {
        let item = env.record(id).await;
        assert_eq!(
            s(&item, "send_state"),
            Some("in_progress"),
            "{id}: lock kept: {item:?}"
        );
        let until: u64 = item["lock_expires_at"].as_n().unwrap().parse().unwrap();
        assert!(
            until > now && until <= now + 2_500,
            "{id}: held for the grace"
        );
        let reason = item["last_error"].as_m().unwrap()["reason"].as_s().unwrap();
        assert_eq!(reason, "unconfirmed_call");
    }

    // A copy arriving within the grace waits: no call.
    env.enqueue(&text("unheard", "+5511900000002")).await;
    let (event, _) = env.receive(1).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert_eq!(failed_ids(&response).len(), 1);
    assert_eq!(env.graph.received_requests().await.unwrap().len(), 2);

    // The status function records `heard`'s `sent` webhook (it carries our
    // id as biz_opaque_callback_data): the wamid and the status time.
    env.ddb
        .update_item()
        .table_name(&env.table)
        .key("pk", AttributeValue::S("MSG#heard".into()))
        .key("sk", AttributeValue::S("MSG".into()))
        .update_expression("SET wamid = :w, sent_at = :t")
        .expression_attribute_values(":w", AttributeValue::S("wamid.LOST".into()))
        .expression_attribute_values(":t", AttributeValue::N(now.to_string()))
        .send()
        .await
        .unwrap();
    env.graph.reset().await;
    Mock::given(any())
        .respond_with(ok("wamid.AGAIN"))
        .expect(1)
        .mount(&env.graph)
        .await;
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    for m in &messages {
        env.make_visible(m).await;
    }
    let (event, _) = env.receive(2).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(response.batch_item_failures.is_empty());
    // `heard` is done without a second call; `unheard` had no sign of
    // acceptance within the grace and is sent again (the remaining window).
    let calls = env.graph.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    let body: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body["biz_opaque_callback_data"], "unheard");
    let heard = env.record("heard").await;
    assert_eq!(s(&heard, "send_state"), Some("done"));
    assert_eq!(s(&heard, "wamid"), Some("wamid.LOST"));
    assert!(heard.contains_key("accepted_at"));
    assert_eq!(heard["attempts"].as_n().unwrap(), "1", "one call, ever");
    let unheard = env.record("unheard").await;
    assert_eq!(s(&unheard, "send_state"), Some("done"));
    assert_eq!(s(&unheard, "wamid"), Some("wamid.AGAIN"));
    assert_eq!(unheard["attempts"].as_n().unwrap(), "2");
}

#[tokio::test]
async fn retries_run_out_into_the_real_dead_letter_queue_and_the_record_says_why() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_json(graph_error(131000)))
        .up_to_n_times(3)
        .expect(3)
        .mount(&env.graph)
        .await;
    env.enqueue(&text("doomed", "+5511988887777")).await;
    for receive in 1..=3 {
        let (event, messages) = env.receive(1).await;
        let response = chasqui_sender::handle(&env.app, event).await;
        assert_eq!(failed_ids(&response).len(), 1, "receive {receive}");
        let item = env.record("doomed").await;
        assert_eq!(map_n(&item, "last_error", "code"), Some(131000));
        assert_eq!(
            item.contains_key("failed_at"),
            receive == 3,
            "receive {receive}"
        );
        env.make_visible(&messages[0]).await;
    }
    // the queue's maxReceiveCount (3) is spent: SQS moves it on the next receive
    assert!(env.visible_now(&env.queue_url).await.is_empty());
    let dead = harness::receive(&env.sqs, &env.dlq_url, 1).await;
    assert_eq!(dead.len(), 1, "the message is in the dead-letter queue");
    let item = env.record("doomed").await;
    assert_eq!(
        map_s(&item, "error", "reason").as_deref(),
        Some("dead_lettered_after_retries")
    );
    assert_eq!(map_n(&item, "error", "code"), Some(131000));
    assert_eq!(s(&item, "send_state"), Some("dead_lettered"));
    assert_eq!(num(&item, "attempts"), Some(3));

    // an operator redrives it once Meta recovers: it is sent and no longer failed
    Mock::given(any())
        .respond_with(ok("wamid.LATE"))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.sqs
        .send_message()
        .queue_url(&env.queue_url)
        .message_body(dead[0].body().unwrap())
        .send()
        .await
        .unwrap();
    let (event, _) = env.receive(1).await;
    assert!(
        chasqui_sender::handle(&env.app, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let item = env.record("doomed").await;
    assert_eq!(s(&item, "wamid"), Some("wamid.LATE"));
    assert!(!item.contains_key("failed_at") && !item.contains_key("error"));
    assert_eq!(num(&item, "attempts"), Some(4));
}

#[tokio::test]
async fn opted_out_contacts_get_nothing_but_read_receipts_still_go() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.contact("5511977776666", true, Some(shared::now_millis()))
        .await;
    let template = json!({"id": "promo", "to": "+55 11 97777-6666", "message": {"type": "template",
        "template": {"name": "promo", "language": {"code": "pt_BR"}}}});
    let read = json!({"id": "read-1", "to": "+55 11 97777-6666", "message": {"status": "read", "message_id": "wamid.STOP"}});
    env.enqueue(&text("hello", "+55 11 97777-6666")).await;
    env.enqueue(&template).await;
    env.enqueue(&read).await;
    let (event, _) = env.receive(3).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(response.batch_item_failures.is_empty());
    for id in ["hello", "promo"] {
        let item = env.record(id).await;
        assert!(item.contains_key("suppressed_at"), "{id}");
        assert_eq!(s(&item, "suppressed_reason"), Some("opted_out"), "{id}");
        assert!(
            !item.contains_key("attempts") && !item.contains_key("accepted_at"),
            "{id}"
        );
    }
    assert!(env.record("read-1").await.contains_key("accepted_at"));
    let sent = env.graph.received_requests().await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&sent[0].body).unwrap()["status"],
        "read"
    );
}

#[tokio::test]
async fn free_form_messages_outside_the_24_hour_window_fail_fast() {
    let env = env(&[]).await;
    let hour = 3_600_000;
    let now = shared::now_millis();
    env.contact("5511911110000", false, Some(now - 25 * hour))
        .await;
    env.contact("5511922220000", false, Some(now - hour)).await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"type": "template", "to": "5511911110000"}),
        ))
        .respond_with(ok("wamid.TEMPLATE"))
        .expect(1)
        .mount(&env.graph)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"type": "text"})))
        .respond_with(ok("wamid.TEXT"))
        .expect(2)
        .mount(&env.graph)
        .await;
    let reaction = json!({"id": "late-reaction", "to": "+5511911110000", "message": {"type": "reaction",
        "reaction": {"message_id": "wamid.OLD", "emoji": "❤️"}}});
    let template = json!({"id": "late-template", "to": "+5511911110000", "message": {"type": "template",
        "template": {"name": "reopen", "language": {"code": "en"}}}});
    for body in [
        text("late-text", "+5511911110000"),
        reaction,
        template,
        text("recent-text", "+5511922220000"),
        text("unknown-contact", "+5511933330000"),
    ] {
        env.enqueue(&body).await;
    }
    let (event, _) = env.receive(5).await;
    let response = chasqui_sender::handle(&env.app, event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    for id in ["late-text", "late-reaction"] {
        let item = env.record(id).await;
        assert_eq!(
            map_s(&item, "error", "reason").as_deref(),
            Some("outside_service_window"),
            "{id}"
        );
        assert!(
            item.contains_key("failed_at") && !item.contains_key("attempts"),
            "{id}"
        );
    }
    assert_eq!(
        s(&env.record("late-template").await, "wamid"),
        Some("wamid.TEMPLATE")
    );
    assert_eq!(
        s(&env.record("recent-text").await, "wamid"),
        Some("wamid.TEXT")
    );
    assert_eq!(
        s(&env.record("unknown-contact").await, "wamid"),
        Some("wamid.TEXT")
    );
}

#[tokio::test]
async fn records_without_an_id_default_to_the_sqs_message_id_and_bad_events_do_not_panic() {
    let env = env(&[]).await;
    Mock::given(any())
        .respond_with(ok("wamid.NOID"))
        .expect(1)
        .mount(&env.graph)
        .await;
    env.enqueue(
        &json!({"to": "+5511988887777", "message": {"type": "text", "text": {"body": "hi"}}}),
    )
    .await;
    let (event, messages) = env.receive(1).await;
    assert!(
        chasqui_sender::handle(&env.app, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let item = env.record(messages[0].message_id().unwrap()).await;
    assert_eq!(s(&item, "wamid"), Some("wamid.NOID"));

    // Not an SQS event: nothing to process, nothing to retry.
    for event in [json!({}), json!({"Records": "nope"})] {
        let answer = chasqui_sender::handle(&env.app, event).await.into_lambda();
        assert!(answer.unwrap().batch_item_failures.is_empty());
    }
    // Records without a messageId cannot be reported one by one: the
    // invocation fails, so Lambda returns the whole batch to the queue.
    let event = json!({"Records": [{"body": "{}"}, 7]});
    let answer = chasqui_sender::handle(&env.app, event).await.into_lambda();
    assert_eq!(answer, Err(BatchFailed::Unreadable { count: 2 }));
}

#[test]
fn configuration_names_every_setting_and_refuses_bad_values() {
    let base = [
        ("WHATSAPP_SECRET_ID", "s"),
        ("TABLE_NAME", "chasqui"),
        (
            "SEND_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/send",
        ),
        ("WHATSAPP_PHONE_NUMBER_ID", PN),
    ];
    let config = chasqui_sender::configure(&Settings::from_pairs(base)).unwrap();
    assert_eq!(config.rate_per_second, 80);
    assert_eq!(config.max_receive_count, 5);
    for (name, value) in [
        ("SEND_RATE_PER_SECOND", "0"),
        ("SEND_RATE_PER_SECOND", "fast"),
        ("SEND_MAX_RECEIVE_COUNT", "-1"),
        ("SEND_CONCURRENCY", "0"),
        ("SEND_LOCK_SECONDS", "1e3"),
        ("SEND_CONFIRM_GRACE_SECONDS", "0"),
        ("GRAPH_API_TIMEOUT_MS", "0"),
        ("MESSAGE_TTL_DAYS", "forever"),
        ("SEND_QUEUE_URL", "arn:aws:sqs:us-east-1:1:send"),
    ] {
        let mut pairs = base.to_vec();
        pairs.retain(|(k, _)| *k != name);
        pairs.push((name, value));
        match chasqui_sender::configure(&Settings::from_pairs(pairs)) {
            Err(shared::config::ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}={value}: {other:?}"),
        }
    }
    let err = chasqui_sender::configure(&Settings::from_pairs(base[..3].to_vec())).unwrap_err();
    assert!(
        err.to_string().contains("WHATSAPP_PHONE_NUMBER_ID"),
        "{err}"
    );
    let settings = Settings::from_pairs(base);
    chasqui_sender::configure(&settings).unwrap();
    for name in [
        "SEND_QUEUE_URL",
        "SEND_MAX_RECEIVE_COUNT",
        "SEND_RATE_PER_SECOND",
        "SEND_CONCURRENCY",
        "SEND_LOCK_SECONDS",
        "SEND_CONFIRM_GRACE_SECONDS",
        "MESSAGE_TTL_DAYS",
        "GRAPH_API_TIMEOUT_MS",
        "TABLE_NAME",
    ] {
        assert!(settings.names_read().contains(&name), "{name}");
    }
}
