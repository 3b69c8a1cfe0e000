//! The whole system, end to end, on this machine: the real `webhook`,
//! `sender` and `status` binaries under the local Lambda runtime, fed by the
//! local SQS event sources (Lambda's batch and partial-failure semantics)
//! over moto, with the Cloud API sandbox playing Meta: it throttles,
//! fails transiently, and delivers its signed status webhooks late,
//! duplicated and out of order.
//!
//! 100 send requests of every kind (three of them queued twice) must each
//! end in the state their recipient and content call for, with exactly one
//! accepted Cloud API call per message that goes out, no call for a message
//! that must not go out, nothing left on a queue or in a dead-letter queue,
//! and no secret in any log line.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chasqui_cli::sandbox::{Outcome, SandboxConfig};
use harness::local::{LocalStack, StackOptions};
use harness::proxy::RecordingProxy;
use harness::scenario::{
    Case, Expect, STATUS_DELAYS, check, free_form, message, number, order_update, template,
};
use serde_json::{Value, json};
use shared::record::{MessageRecord, Status};

/// Each function and the AWS actions it declares.
const PERMISSIONS: [(&str, &[(&str, &str)]); 3] = [
    ("webhook", chasqui_webhook::AWS_PERMISSIONS),
    ("sender", chasqui_sender::AWS_PERMISSIONS),
    ("status", chasqui_status::AWS_PERMISSIONS),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_mixed_sends_end_in_their_expected_states() {
    // Recipients by role. Each prefix is a country code that exists.
    let template_to: Vec<String> = (0..40).map(|n| number("551190", n)).collect();
    let window: Vec<String> = (0..25).map(|n| number("551191", n)).collect();
    let no_window: Vec<String> = (0..5).map(|n| number("551192", n)).collect();
    let undeliverable: Vec<String> = (0..5).map(|n| number("1555000", n)).collect();
    let fail_later: Vec<String> = (0..5).map(|n| number("1555100", n)).collect();
    let unread: Vec<String> = (0..5).map(|n| number("1555200", n)).collect();
    let opted_out: Vec<String> = (0..5).map(|n| number("1555300", n)).collect();

    let sandbox = SandboxConfig {
        delays: STATUS_DELAYS,
        undeliverable: undeliverable.clone(),
        fail_after_send: fail_later.clone(),
        unread: unread.clone(),
        rate_limit_per_second: Some(12),
        transient_rate: 0.05,
        duplicate_rate: 0.3,
        out_of_order_rate: 0.5,
        seed: Some(6),
        webhook_retry_ms: 200,
        ..SandboxConfig::default()
    }
    .patched(&json!({}))
    .unwrap();
    let started = std::time::Instant::now();
    // Every function reaches AWS through a recording proxy, signing as
    // itself: what each really calls is held to its declared permissions.
    let aws =
        RecordingProxy::start(&std::env::var("AWS_ENDPOINT_URL").expect("run make test")).await;
    let mut env = vec![
        ("sender", "SEND_RATE_PER_SECOND", "40".into()),
        ("sender", "GRAPH_API_TIMEOUT_MS", "5000".into()),
        // A call that times out on a busy machine is settled from its
        // status webhooks within seconds, not the default minute.
        ("sender", "SEND_CONFIRM_GRACE_SECONDS", "5".into()),
    ];
    for (function, _) in PERMISSIONS {
        env.push((function, "AWS_ENDPOINT_URL", aws.url()));
        env.push((function, "AWS_ACCESS_KEY_ID", format!("{function}-key")));
    }
    let stack = LocalStack::start(StackOptions {
        sandbox,
        // Two sender instances at up to 40/s each, against 12/s: throttled.
        env,
        ..StackOptions::default()
    })
    .await;

    // GIVEN customers who wrote (their window is open) and customers who
    // sent STOP, each through a signed inbound webhook.
    let inbound_wamids = stack.customers_write(&window, &opted_out).await;

    // AND Meta's handshake, a wrong verify token and a payload with a bad
    // signature (naming a customer and a text) reach the webhook: flows
    // whose log lines the personal-data scan below reads too.
    let url = stack.local.webhook_url().expect("a webhook route");
    let http = reqwest::Client::new();
    let handshake = |token: &str| {
        http.get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=4242"
        ))
        .send()
    };
    let ok = handshake(harness::VERIFY_TOKEN)
        .await
        .expect("the handshake");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.expect("a challenge"), "4242");
    let refused = handshake("not-the-token")
        .await
        .expect("a refused handshake");
    assert_eq!(refused.status().as_u16(), 403);
    let forged = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": harness::local::PHONE_NUMBER_ID},
                  "contacts": [{"profile": {"name": "Cliente"}, "wa_id": window[0].trim_start_matches('+')}],
                  "messages": [{"from": window[0].trim_start_matches('+'), "id": "wamid.FORGED", "timestamp": "1730000000",
                                "type": "text", "text": {"body": "Posso remarcar"}}]}}]}]});
    let forged = http
        .post(&url)
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .header("content-type", "application/json")
        .body(forged.to_string())
        .send()
        .await
        .expect("a forged post");
    assert_eq!(forged.status().as_u16(), 403);

    // WHEN 100 send requests of every kind arrive.
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |id: String, request: Value, expect: Expect| {
        cases.push(Case {
            id,
            request,
            expect,
        })
    };
    for (i, to) in template_to.iter().enumerate().take(35) {
        let id = format!("tpl-{i}");
        let request = template(&id, to, "appointment_reminder", "pt_BR", &["Ana", "10h"]);
        add(id, request, Expect::Out(Status::Read));
    }
    for (i, to) in template_to.iter().enumerate().skip(35) {
        let id = format!("order-{i}");
        let request = order_update(&id, to);
        add(id, request, Expect::Out(Status::Read));
    }
    for (i, to) in window.iter().enumerate() {
        let id = format!("free-{i}");
        let content = free_form(i, &inbound_wamids[i]);
        add(
            id.clone(),
            message(&id, to, content),
            Expect::Out(Status::Read),
        );
    }
    for (i, wamid) in inbound_wamids.iter().enumerate().take(2) {
        let id = format!("receipt-{i}");
        let request = json!({"id": id, "message": {"status": "read", "message_id": wamid}});
        add(id, request, Expect::Receipt);
    }
    for (i, to) in no_window.iter().enumerate() {
        let id = format!("closed-{i}");
        let request = message(&id, to, json!({"type": "text", "text": {"body": "hello?"}}));
        add(id, request, Expect::Refused(131047));
    }
    for (i, to) in undeliverable.iter().enumerate() {
        let id = format!("undeliverable-{i}");
        let request = template(&id, to, "appointment_reminder", "pt_BR", &["Bo", "9h"]);
        add(id, request, Expect::Refused(131026));
    }
    for (i, to) in fail_later.iter().enumerate() {
        let id = format!("fails-later-{i}");
        let request = template(&id, to, "appointment_reminder", "pt_BR", &["Cy", "8h"]);
        add(id, request, Expect::FailsLater(131026));
    }
    for (i, to) in template_to.iter().enumerate().take(4) {
        let id = format!("params-{i}");
        let request = template(&id, to, "appointment_reminder", "pt_BR", &["only one"]);
        add(id, request, Expect::Refused(132000));
    }
    for (i, to) in template_to.iter().enumerate().take(3) {
        let id = format!("no-template-{i}");
        let request = template(&id, to, "appointment_remindr", "pt_BR", &["a", "b"]);
        add(id, request, Expect::Refused(132001));
    }
    for (i, to) in unread.iter().enumerate() {
        let id = format!("unread-{i}");
        let request = template(&id, to, "appointment_reminder", "pt_BR", &["Di", "7h"]);
        add(id, request, Expect::Out(Status::Delivered));
    }
    for (i, to) in opted_out.iter().enumerate() {
        let id = format!("opted-out-{i}");
        let mut request = template(&id, to, "appointment_reminder", "pt_BR", &["Ed", "6h"]);
        // Named by phone and BSUID both: the opt-out is found either way
        // (and the sender reads both contact items at once).
        request["recipient"] = json!(chasqui_cli::sandbox::config::user_id_of(to));
        add(
            id,
            request,
            Expect::NotSent(Status::Suppressed, "opted_out"),
        );
    }
    add(
        "bad-number".into(),
        json!({"id": "bad-number", "to": "call me maybe", "message": {"type": "text", "text": {"body": "x"}}}),
        Expect::NotSent(Status::Failed, "invalid_request"),
    );
    assert_eq!(cases.len(), 100);
    let mut bodies: Vec<Value> = cases.iter().map(|c| c.request.clone()).collect();
    // The same requests again, as an upstream retry would queue them.
    bodies.extend(cases.iter().take(3).map(|c| c.request.clone()));
    // Interleave the kinds, deterministically.
    let n = bodies.len();
    for i in 0..n {
        bodies.swap(i, (i * 37 + 11) % n);
    }
    stack.send_all(&bodies).await;

    // THEN every record reaches its final state.
    let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    let expected: HashMap<&str, &Expect> =
        cases.iter().map(|c| (c.id.as_str(), &c.expect)).collect();
    stack
        .wait_until("every record final", Duration::from_secs(150), || async {
            let records = stack.records(&ids).await;
            let behind: Vec<String> = ids
                .iter()
                .filter(|id| {
                    records.get(*id).map(MessageRecord::status)
                        != Some(expected[id.as_str()].final_status())
                })
                .map(|id| format!("{id}={:?}", records.get(id).map(MessageRecord::status)))
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} behind: {}",
                    behind.len(),
                    behind
                        .iter()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        })
        .await;
    assert!(
        stack.sandbox.wait_idle(Duration::from_secs(60)).await,
        "webhooks still pending"
    );
    stack
        // A duplicate whose twin held the lock comes back after a backoff;
        // on a loaded machine that can outlast a minute.
        .wait_until("queues drained", Duration::from_secs(150), || async {
            let send = stack.depth(&stack.send_queue).await;
            let hooks = stack.depth(&stack.webhook_queue).await;
            if send + hooks == 0 {
                Ok(())
            } else {
                Err(format!("send queue {send}, webhook queue {hooks}"))
            }
        })
        .await;

    let records = stack.records(&ids).await;
    let calls = stack.sandbox.calls();
    let by_callback = stack.sandbox.calls_by_callback();
    for case in &cases {
        let record = &records[&case.id];
        let summary = by_callback.get(&case.id).cloned().unwrap_or_default();
        if let Err(problem) = check(&case.expect, Some(record), &summary) {
            panic!("{}: {problem}\n{record:?}\ncalls: {summary:?}", case.id);
        }
    }
    // The two read receipts went out once each (they carry no callback).
    let receipts: BTreeMap<&str, usize> = calls
        .iter()
        .filter(|c| c.kind == "read" && c.outcome == Outcome::Accepted)
        .fold(BTreeMap::new(), |mut m, c| {
            *m.entry(c.to.as_deref().unwrap_or("read")).or_default() += 1;
            m
        });
    assert_eq!(receipts.values().sum::<usize>(), 2, "{receipts:?}");
    // Calls no case accounts for would be sends nobody asked for.
    let unknown: Vec<&String> = by_callback
        .keys()
        .filter(|cb| !expected.contains_key(cb.as_str()))
        .collect();
    assert!(unknown.is_empty(), "calls for unknown ids: {unknown:?}");

    // The faults were really injected, and overcome.
    let throttled = calls.iter().filter(|c| c.code == Some(130429)).count();
    let peak = calls
        .iter()
        .map(|c| {
            calls
                .iter()
                .filter(|d| d.at_ms >= c.at_ms && d.at_ms < c.at_ms + 1000)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        throttled > 0,
        "the sandbox never throttled (peak {peak} calls/s); the run proves nothing about throttling"
    );
    let stats = stack.sandbox.webhook_stats();
    let statuses: usize = cases.iter().map(|c| c.expect.status_webhooks()).sum();
    let inbound = window.len() + opted_out.len();
    assert!(
        stats.scheduled as usize > statuses + inbound,
        "no duplicate webhooks were sent: {stats:?}"
    );
    eprintln!(
        "e2e: {} calls ({throttled} throttled, peak {peak}/s), webhooks {stats:?}, pollers {:?}, {:.1} s",
        calls.len(),
        stack.local.poller_stats(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(stats.given_up, 0, "{stats:?}");
    assert_eq!(stats.delivered, stats.scheduled, "{stats:?}");

    // Nothing was dead-lettered: permanent failures are recorded, not parked.
    assert_eq!(stack.depth(&stack.send_dlq).await, 0, "send DLQ");
    assert_eq!(stack.depth(&stack.webhook_dlq).await, 0, "webhook DLQ");

    // Each function called only AWS actions it declares (the template
    // grants exactly those: tests/tests/template.rs), and each called some.
    let calls = aws.take_calls();
    for (function, permissions) in PERMISSIONS {
        let key = format!("{function}-key");
        let used: BTreeSet<&str> = calls
            .iter()
            .filter(|c| c.access_key.as_deref() == Some(key.as_str()))
            .filter_map(|c| c.action.as_deref())
            .collect();
        assert!(
            !used.is_empty(),
            "{function} made no AWS call through the proxy"
        );
        let undeclared: Vec<&&str> = used
            .iter()
            .filter(|action| !permissions.iter().any(|(_, granted)| granted == *action))
            .collect();
        assert!(
            undeclared.is_empty(),
            "{function} called {undeclared:?}, which its AWS_PERMISSIONS do not declare (so the template does not grant them)"
        );
    }

    // Nor a customer: no phone number, BSUID or text the run used, at the
    // default level (ids and reasons only).
    let mut personal: BTreeSet<String> = BTreeSet::new();
    for case in &cases {
        if let Some(to) = case.request.get("to").and_then(Value::as_str) {
            let digits: String = to.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 8 {
                // The BSUID the sandbox gives that customer, too.
                personal.insert(chasqui_cli::sandbox::config::user_id_of(&digits));
                personal.insert(digits);
            }
        }
    }
    // Texts and the customers' profile name (`customers_write`).
    personal.extend([
        "Resposta".to_owned(),
        "Posso remarcar".to_owned(),
        "Cliente".to_owned(),
    ]);
    let leaks: Vec<String> = stack
        .logs
        .lines()
        .into_iter()
        .filter(|(_, line)| personal.iter().any(|p| mentions(line, p)))
        .map(|(function, line)| format!("[{function}] {line}"))
        .collect();
    // One example per kind of log line.
    let mut kinds: BTreeMap<String, &String> = BTreeMap::new();
    for leak in &leaks {
        let kind = leak
            .split("\"message\":")
            .nth(1)
            .and_then(|m| m.split(',').next())
            .unwrap_or("?");
        kinds.entry(kind.to_owned()).or_insert(leak);
    }
    assert!(
        leaks.is_empty(),
        "{} log lines carry personal data, e.g.:\n{}",
        leaks.len(),
        kinds
            .values()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );

    // A line about a customer names them by the keyed reference, which
    // only the key turns back into anyone (shared::pseudonym).
    let keyed: BTreeSet<String> = window
        .iter()
        .chain(&opted_out)
        .flat_map(|to| {
            let digits: String = to.chars().filter(char::is_ascii_digit).collect();
            [chasqui_cli::sandbox::config::user_id_of(&digits), digits]
        })
        .map(|id| {
            shared::pseudonym::keyed(
                harness::LOG_KEY.as_bytes(),
                shared::tenant::DEFAULT_TENANT,
                harness::local::PHONE_NUMBER_ID,
                &id,
            )
        })
        .collect();
    let named: Vec<String> = stack
        .logs
        .lines()
        .into_iter()
        .filter(|(function, line)| function == "status" && line.contains("\"inbound message\""))
        .filter_map(|(_, line)| {
            let line: Value = serde_json::from_str(&line).ok()?;
            Some(line.get("contact")?.as_str()?.to_owned())
        })
        .collect();
    assert!(
        named.len() >= window.len() + opted_out.len(),
        "an inbound line per message, each naming its customer: {named:?}"
    );
    for contact in &named {
        assert!(
            keyed.contains(contact),
            "{contact} is no keyed reference of a customer"
        );
    }

    // The functions never logged a secret.
    let config = stack.sandbox.config();
    for (function, line) in stack.logs.lines() {
        assert!(
            !line.contains(&config.access_token) && !line.contains(&config.app_secret),
            "{function} logged a secret: {line}"
        );
    }
    // Every record carries what was asked for.
    let order = &records["order-36"];
    assert_eq!(order.template_name.as_deref(), Some("order_update"));
    assert_eq!(
        order.metadata.as_ref().and_then(|m| m.get("order")),
        Some(&json!("A-1"))
    );
    assert_eq!(records["tpl-0"].kind.as_deref(), Some("template"));
    assert!(records["free-0"].recipient.is_some());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sender_killed_between_the_call_and_its_record_does_not_send_twice() {
    let report = harness::crash::crash_between_call_and_record().await;
    eprintln!("crash window: {report:#?}");
    assert!(
        (1..=2).contains(&report.killed.len()),
        "the sender processes holding the calls were killed: {:?}",
        report.killed
    );
    // Meta's webhooks for the accepted call arrived before the lock expired:
    // the attempt that took over recorded it without calling again.
    let (record, calls) = &report.heard;
    let record = record.as_ref().expect("a record");
    assert_eq!(calls.calls, 1, "{calls:?}");
    assert_eq!(calls.delivered, 1, "{calls:?}");
    assert_eq!(record.status(), Status::Read, "{record:?}");
    assert!(record.wamid.is_some() && record.times.accepted_at.is_some());
    assert_eq!(
        report.confirmed_lines, 1,
        "the takeover said why it did not call"
    );
    // No webhook ever came for the other: the takeover could not tell a
    // crash before the call from one after it, and sent again.
    let (record, calls) = &report.silent;
    let record = record.as_ref().expect("a record");
    assert_eq!(calls.delivered, 2, "the remaining window: {calls:?}");
    assert_eq!(record.status(), Status::Accepted, "{record:?}");
    assert_eq!(report.resent_lines, 1);
    assert!(!report.secret_in_logs);
}

/// A function that records every event and fails what it is told to.
struct Scripted {
    events: std::sync::Mutex<Vec<Value>>,
    /// Fail the whole invocation this many times first.
    crash_first: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl chasqui_cli::runtime::Invoke for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn invoke(&self, event: Value) -> Result<Value, chasqui_cli::runtime::InvokeError> {
        self.events.lock().unwrap().push(event.clone());
        if self
            .crash_first
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            return Err(chasqui_cli::runtime::InvokeError::Crashed {
                function: "scripted".into(),
                status: "test".into(),
            });
        }
        let failures: Vec<Value> = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                let count: u32 = r["attributes"]["ApproximateReceiveCount"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                match r["body"].as_str().unwrap() {
                    "poison" => true,
                    "retry-once" => count < 2,
                    _ => false,
                }
            })
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        Ok(json!({ "batchItemFailures": failures }))
    }
}

#[tokio::test]
async fn the_local_event_source_has_lambdas_batch_semantics() {
    use aws_sdk_sqs::types::MessageAttributeValue;
    use chasqui_cli::poller::{EventSource, Poller};

    let sqs = harness::sqs().await;
    let (queue, dlq) = harness::create_queue_with_dlq(&sqs, "poller", 2, 1).await;
    for body in ["a", "b", "c", "retry-once", "poison"] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .message_attributes(
                "kind",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("change")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let function = std::sync::Arc::new(Scripted {
        events: std::sync::Mutex::new(Vec::new()),
        crash_first: std::sync::atomic::AtomicUsize::new(1),
    });
    let poller = Poller::start(
        sqs.clone(),
        EventSource {
            batch_size: 3,
            max_concurrency: 1,
            ..EventSource::new(&queue)
        },
        function.clone(),
    );
    // Done when the main queue is empty and the poison is in the DLQ.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while harness::queue_depth(&sqs, &queue).await > 0
        || harness::queue_depth(&sqs, &dlq).await == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not settle: {:?}",
            poller.stats()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = poller.stats();
    poller.stop().await;

    let events = function.events.lock().unwrap().clone();
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for event in &events {
        let records = event["Records"].as_array().unwrap();
        assert!(
            !records.is_empty() && records.len() <= 3,
            "batch size holds: {}",
            records.len()
        );
        for r in records {
            assert!(r["messageId"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(r["receiptHandle"].as_str().is_some_and(|s| !s.is_empty()));
            assert_eq!(r["eventSource"], "aws:sqs");
            assert!(
                r["eventSourceARN"]
                    .as_str()
                    .unwrap()
                    .ends_with(queue.rsplit('/').next().unwrap())
            );
            assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "change");
            assert_eq!(r["messageAttributes"]["kind"]["dataType"], "String");
            assert!(r["attributes"]["SentTimestamp"].as_str().is_some());
            let count = r["attributes"]["ApproximateReceiveCount"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            seen.entry(r["body"].as_str().unwrap().to_owned())
                .or_default()
                .push(count);
        }
    }
    // The crashed first invocation left its whole batch: those came back.
    let crashed: Vec<&str> = events[0]["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap())
        .collect();
    for body in ["a", "b", "c"] {
        let counts = &seen[body];
        let expected: Vec<u32> = if crashed.contains(&body) {
            vec![1, 2]
        } else {
            vec![1]
        };
        assert_eq!(counts, &expected, "{body}: deleted once it succeeded");
    }
    assert_eq!(
        seen["retry-once"].last(),
        Some(&seen["retry-once"].len().try_into().unwrap())
    );
    assert!(
        seen["retry-once"].len() >= 2,
        "a reported failure comes back"
    );
    assert!(
        seen["poison"].len() <= 2,
        "never more than maxReceiveCount receives"
    );
    // The queue's own redrive policy moved the poison, nothing else.
    let parked = harness::receive(&sqs, &dlq, 1).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body(), Some("poison"));
    assert_eq!(stats.function_errors, 1, "{stats:?}");
    assert!(stats.deleted >= 4, "{stats:?}");
}

/// Whether `line` holds `needle` on its own: a phone number's digits inside a
/// longer run of digits (a latency like `166.10155500000002`, a UUID) are
/// another number, not that phone.
fn mentions(line: &str, needle: &str) -> bool {
    let digits = needle.bytes().all(|b| b.is_ascii_digit());
    line.match_indices(needle).any(|(at, _)| {
        !digits || {
            let before = line[..at].bytes().next_back();
            let after = line[at + needle.len()..].bytes().next();
            !before.is_some_and(|b| b.is_ascii_digit())
                && !after.is_some_and(|b| b.is_ascii_digit())
        }
    })
}

#[test]
fn a_phone_is_found_alone_but_not_inside_another_number() {
    assert!(mentions(r#"{"to":"5511988887777"}"#, "5511988887777"));
    assert!(mentions("sent to +5511988887777.", "5511988887777"));
    assert!(!mentions(
        r#""latency_ms":166.10155500000002"#,
        "15550000000"
    ));
    assert!(!mentions("id 915550000000", "15550000000"));
    assert!(mentions("Resposta: ok", "Resposta"));
}
