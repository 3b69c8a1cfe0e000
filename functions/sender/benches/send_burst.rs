//! A 1,000-message burst through the real handler path (`chasqui_sender::handle`,
//! the real `CloudApiClient` over HTTP) against a Graph stand-in (wiremock on
//! loopback) that answers after 5 ms and records when each call arrives.
//!
//! 25 recipients, 40 messages each, queued in runs of three per recipient so
//! every batch of ten holds several messages to the same recipient. Batches
//! are handled one after another, as one warm Lambda instance receives them
//! (`SEND_RATE_PER_SECOND=40`, the template's default); then again on two
//! instances at once (the template's `SendMaximumConcurrency` default), whose
//! sum is the number's 80/s.
//!
//! It prints the calls in every one-second window (sliding, so the worst
//! window is found wherever it starts) against the limit, and whether each
//! recipient's messages arrived in the order they were queued. The store is
//! the in-memory one (the DynamoDB adapter is tested against moto).
//!
//! Run: `cargo bench -p chasqui-sender --bench send_burst`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use shared::cloud_api::{AccessToken, CloudApiClient};
use shared::config::Settings;
use shared::secrets::{SecretError, SecretString};
use shared::sqs::{SqsRecord, sqs_event};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use chasqui_sender::memory::{MemoryLedger, MemoryRequeue};

const MESSAGES: usize = 1_000;
const RECIPIENTS: usize = 25;
const RUN: usize = 3;
const BATCH: usize = 10;
const RATE: u32 = 40;
const LATENCY: Duration = Duration::from_millis(5);

struct Token;

#[async_trait]
impl AccessToken for Token {
    async fn access_token(&self, _: &str) -> Result<SecretString, SecretError> {
        Ok(SecretString::from("bench-token"))
    }
}

/// One Cloud API call as the stand-in saw it.
struct Arrival {
    at: Instant,
    to: String,
    seq: usize,
}

/// Answers like the Cloud API after `LATENCY`, noting each arrival.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Arrival>>>);

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let at = Instant::now();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let to = body["to"].as_str().unwrap_or_default().to_owned();
        let seq = body["template"]["components"][0]["parameters"][0]["text"]
            .as_str()
            .and_then(|t| t.strip_prefix("seq-"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        if let Ok(mut arrivals) = self.0.lock() {
            arrivals.push(Arrival { at, to, seq });
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": format!("wamid.BURST{seq}")}]}))
            .set_delay(LATENCY)
    }
}

fn app(base_url: &str) -> chasqui_sender::App {
    let config = chasqui_sender::configure(&Settings::from_pairs([
        ("WHATSAPP_SECRET_ID", "bench"),
        ("TABLE_NAME", "bench"),
        ("SEND_QUEUE_URL", "http://127.0.0.1:1/queue/send"),
        ("WHATSAPP_PHONE_NUMBER_ID", "1122334455"),
        ("GRAPH_API_BASE_URL", base_url),
        ("SEND_CONCURRENCY", "10"),
        ("SEND_RATE_PER_SECOND", &RATE.to_string()),
    ]))
    .expect("bench configuration");
    let api =
        CloudApiClient::new(&config.graph, Arc::new(Token), config.graph_timeout).expect("client");
    let store = Arc::new(MemoryLedger::default());
    chasqui_sender::App::new(
        &config,
        Arc::new(shared::tenant::Directory::fixed(Vec::new())),
        store.clone(),
        store,
        Arc::new(api),
        Arc::new(MemoryRequeue::default()),
    )
}

/// The queue's batches: message `seq` goes to recipient `(seq / RUN) % RECIPIENTS`.
fn batches(round: &str) -> Vec<Value> {
    let records: Vec<SqsRecord> = (0..MESSAGES)
        .map(|seq| {
            let recipient = (seq / RUN) % RECIPIENTS;
            let body = json!({"id": format!("burst-{round}-{seq}"), "to": format!("+55 11 98888-{recipient:04}"),
                "message": {"type": "template", "template": {"name": "order_update", "language": {"code": "pt_BR"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": format!("seq-{seq}")}]}]}}});
            SqsRecord::new(format!("sqs-{round}-{seq}"), body.to_string())
        })
        .collect();
    records.chunks(BATCH).map(sqs_event).collect()
}

/// Sends the burst on `instances` sender instances at once (batch `i` to
/// instance `i % instances`) and returns the arrivals in time order.
async fn burst(instances: usize) -> (Vec<Arrival>, Duration) {
    let recorder = Recorder::default();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(recorder.clone())
        .mount(&server)
        .await;
    let apps: Vec<chasqui_sender::App> = (0..instances).map(|_| app(&server.uri())).collect();
    let mut queues: Vec<Vec<Value>> = vec![Vec::new(); instances];
    for (i, batch) in batches(&format!("{instances}")).into_iter().enumerate() {
        queues[i % instances].push(batch);
    }
    let started = Instant::now();
    let runs = apps.iter().zip(queues).map(|(app, queue)| async move {
        for event in queue {
            let response = chasqui_sender::handle(app, event).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "a send was not accepted: {:?}",
                response.batch_item_failures
            );
        }
    });
    futures_util::future::join_all(runs).await;
    let elapsed = started.elapsed();
    let mut arrivals = std::mem::take(&mut *recorder.0.lock().expect("arrivals"));
    arrivals.sort_by_key(|a| a.at);
    (arrivals, elapsed)
}

/// The most calls in any one-second window `[t, t + 1 s)` (times sorted).
fn max_window(times: &[Instant]) -> usize {
    let mut start = 0;
    let mut most = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

fn report(label: &str, limit: u32, arrivals: &[Arrival], elapsed: Duration, check_order: bool) {
    let (Some(first), Some(last)) = (arrivals.first(), arrivals.last()) else {
        println!("{label}: no calls arrived  MISS");
        return;
    };
    let span = last.at.duration_since(first.at).as_secs_f64();
    let achieved = (arrivals.len() - 1) as f64 / span.max(f64::EPSILON);
    let times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    let worst = max_window(&times);
    // Windows that start once the bucket's initial burst is spent.
    let settled: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| t.duration_since(first.at) >= Duration::from_secs(1))
        .collect();
    let worst_settled = max_window(&settled);
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for a in arrivals {
        *per_second
            .entry(a.at.duration_since(first.at).as_secs())
            .or_default() += 1;
    }
    println!("\n{label}: {} calls in {elapsed:.2?}", arrivals.len());
    println!(
        "  calls/s achieved {achieved:.1} against the limit {limit}/s; worst sliding 1 s window {worst} ({}), after the first second {worst_settled} ({})",
        verdict(worst <= limit as usize),
        verdict(worst_settled <= limit as usize)
    );
    println!(
        "  calls per second from the first call: {:?}",
        per_second.values().collect::<Vec<_>>()
    );
    let missing = MESSAGES.saturating_sub(arrivals.len());
    let duplicates = arrivals.len().saturating_sub(MESSAGES);
    println!(
        "  every message called once: {} (missing {missing}, extra {duplicates})",
        verdict(missing == 0 && duplicates == 0)
    );
    let mut by_recipient: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
    for a in arrivals {
        by_recipient.entry(&a.to).or_default().push(a);
    }
    let in_order = by_recipient
        .values()
        .filter(|calls| calls.windows(2).all(|w| w[0].seq < w[1].seq))
        .count();
    let min_gap = by_recipient
        .values()
        .flat_map(|calls| calls.windows(2).map(|w| w[1].at.duration_since(w[0].at)))
        .min()
        .unwrap_or_default();
    if check_order {
        println!(
            "  recipients served in queue order: {in_order} of {} ({})",
            by_recipient.len(),
            verdict(in_order == by_recipient.len() && by_recipient.len() == RECIPIENTS)
        );
    } else {
        println!(
            "  recipients served in queue order: {in_order} of {} (not checked: batches go to two instances, as SQS standard queues do)",
            by_recipient.len()
        );
    }
    println!(
        "  shortest gap between two calls to one recipient: {min_gap:.1?} (Meta's pair rate is about 1 per 6 s; the sender does not pace pairs, a 131056 is retried)"
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: a burst
    // takes 25 s, so only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "sender burst: {MESSAGES} messages, {RECIPIENTS} recipients, batches of {BATCH}, Graph stand-in {LATENCY:?}, SEND_RATE_PER_SECOND={RATE}"
    );
    let (arrivals, elapsed) = rt.block_on(burst(1));
    report("one instance", RATE, &arrivals, elapsed, true);
    let (arrivals, elapsed) = rt.block_on(burst(2));
    report(
        "two instances on one number",
        2 * RATE,
        &arrivals,
        elapsed,
        false,
    );
}
