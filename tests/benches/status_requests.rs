//! DynamoDB requests per status event and per inbound message, counted, not
//! guessed: the function's own interceptor (`chasqui_status::dynamo::RequestCounter`,
//! installed by `App::from_config`, every attempt counted by operation)
//! against the local AWS emulator (moto), through the production adapters
//! and `chasqui_status::handle` with SQS batches of ten, as Lambda delivers them.
//! Also the process CPU per event (all threads: parsing, the SDK's signing
//! and HTTP), which is what Lambda bills beyond waiting on DynamoDB.
//!
//! Needs `AWS_ENDPOINT_URL`: `make bench` runs it through
//! `scripts/with-moto`; by hand,
//! `VENV=.venv scripts/with-moto cargo bench -p chasqui-tests --bench status_requests`.
//! `STATUS_BENCH_N` messages per case (default 100).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chasqui_status::{App, configure};
use serde_json::json;
use shared::config::Settings;
use shared::intake::{self, MAX_BODY_BYTES};
use shared::sqs::{SqsRecord, sqs_event};
use shared::tenant::DEFAULT_APP;

const PHONE: &str = "1122334455";
const WA_ID: &str = "5511988887777";
const T0: u64 = 1_730_000_000;
const BATCH: usize = 10;

/// One status webhook, as Meta sends them: one status each.
fn status(n: usize, state: &str, secs: u64, callback: bool) -> Vec<u8> {
    let mut s = json!({"id": format!("wamid.BENCH{n:06}"), "status": state, "timestamp": secs.to_string(),
        "recipient_id": WA_ID,
        "conversation": {"id": "conv-1", "origin": {"type": "utility"}},
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}});
    if callback {
        s["biz_opaque_callback_data"] = json!(format!("bench-{n}"));
    }
    harness::webhook_envelope(
        json!({"messaging_product": "whatsapp", "metadata": harness::webhook_metadata(PHONE), "statuses": [s]}),
    )
}

/// A status naming the recipient by BSUID only (a username customer).
fn bsuid_status(n: usize) -> Vec<u8> {
    let s = json!({"id": format!("wamid.BSUID{n:06}"), "status": "delivered", "timestamp": (T0 + 2).to_string(),
        "recipient_user_id": format!("BR.{n:016}"), "recipient_parent_user_id": "US.ENT.1",
        "biz_opaque_callback_data": format!("bench-bsuid-{n}")});
    harness::webhook_envelope(
        json!({"messaging_product": "whatsapp", "metadata": harness::webhook_metadata(PHONE), "statuses": [s]}),
    )
}

/// An inbound text from a customer named by BSUID, with or without a phone.
fn inbound_bsuid(n: usize, phone: bool) -> Vec<u8> {
    let user_id = format!("BR.{n:016}");
    let mut contact =
        json!({"profile": {"name": "Ana Souza", "username": "@ana"}, "user_id": user_id});
    let mut message = json!({"from_user_id": user_id, "id": format!("wamid.INB{n:06}"),
        "timestamp": (T0 + 100).to_string(), "type": "text", "text": {"body": "Oi"}});
    if phone {
        contact["wa_id"] = json!(format!("55119{n:08}"));
        message["from"] = json!(format!("55119{n:08}"));
    }
    harness::webhook_envelope(
        json!({"messaging_product": "whatsapp", "metadata": harness::webhook_metadata(PHONE),
        "contacts": [contact], "messages": [message]}),
    )
}

fn inbound(n: usize, text: &str) -> Vec<u8> {
    harness::webhook_envelope(
        json!({"messaging_product": "whatsapp", "metadata": harness::webhook_metadata(PHONE),
        "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": format!("55119{n:08}")}],
        "messages": [{"from": format!("55119{n:08}"), "id": format!("wamid.IN{n:06}"),
            "timestamp": (T0 + 100).to_string(), "type": "text", "text": {"body": text}}]}),
    )
}

/// The webhook function's queue messages for these bodies, as SQS records.
fn records(bodies: &[Vec<u8>]) -> Vec<SqsRecord> {
    bodies
        .iter()
        .flat_map(|body| {
            intake::split(DEFAULT_APP, body, T0 * 1000 + 2_000, MAX_BODY_BYTES).messages
        })
        .enumerate()
        .map(|(i, m)| {
            SqsRecord::new(format!("bench-{i}"), m.body).with_attribute(
                "kind",
                "String",
                m.kind.as_str(),
            )
        })
        .collect()
}

/// CPU time of every thread of this process so far (Linux), if readable.
fn cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

struct Row {
    case: String,
    events: usize,
    requests: BTreeMap<String, u64>,
    wall: Duration,
    cpu: Option<Duration>,
    failures: usize,
}

async fn run(app: &App, case: &str, bodies: Vec<Vec<u8>>) -> Row {
    let events = bodies.len();
    let records = records(&bodies);
    let before = app.dynamodb_requests();
    let (cpu0, wall0) = (cpu(), Instant::now());
    let mut failures = 0;
    for batch in records.chunks(BATCH) {
        let response = chasqui_status::handle(app, sqs_event(batch)).await;
        failures += response.batch_item_failures.len();
    }
    let wall = wall0.elapsed();
    let cpu = cpu()
        .zip(cpu0)
        .map(|(after, before)| after.saturating_sub(before));
    let requests = app
        .dynamodb_requests()
        .into_iter()
        .map(|(op, n)| {
            let delta = n - before.get(&op).copied().unwrap_or(0);
            (op, delta)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    Row {
        case: case.to_owned(),
        events,
        requests,
        wall,
        cpu,
        failures,
    }
}

fn print(row: &Row, goal: Option<f64>) {
    let total: u64 = row.requests.values().sum();
    let per = total as f64 / row.events as f64;
    let by_op: Vec<String> = row
        .requests
        .iter()
        .map(|(op, n)| format!("{op} {:.2}", *n as f64 / row.events as f64))
        .collect();
    let cpu = row.cpu.map_or("n/a".to_owned(), |c| {
        format!("{:.0} us", c.as_secs_f64() * 1e6 / row.events as f64)
    });
    let verdict = match goal {
        Some(goal) if (per - goal).abs() < 1e-9 => "PASS",
        Some(_) => "MISS",
        None => "",
    };
    println!(
        "  {:<44} {:>5} {:>6.2} {verdict:<4}  {:<36} {:>8.2} ms {:>8}{}",
        row.case,
        row.events,
        per,
        by_op.join(", "),
        row.wall.as_secs_f64() * 1e3 / row.events as f64,
        cpu,
        if row.failures > 0 {
            format!("  ({} records failed)", row.failures)
        } else {
            String::new()
        }
    );
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: this one
    // needs the emulator, so only `cargo bench` runs it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("STATUS_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let aws = harness::aws().await;
        let ddb = harness::dynamodb().await;
        let sqs = harness::sqs().await;
        let table = harness::create_table(&ddb).await;
        let events = harness::create_queue(&sqs, "upstream-events").await;
        let dlq = harness::create_queue(&sqs, "webhook-dlq").await;
        let config = configure(&Settings::from_pairs([
            ("TABLE_NAME", table.as_str()),
            ("UPSTREAM_EVENTS_QUEUE_URL", events.as_str()),
            ("WEBHOOK_DLQ_URL", dlq.as_str()),
        ]))
        .expect("configuration");
        let app = App::from_config(&config, &aws);

        let in_order: Vec<Vec<u8>> = (0..n)
            .flat_map(|m| {
                [("sent", 1), ("delivered", 2), ("read", 3)]
                    .map(|(state, dt)| status(m, state, T0 + dt, true))
            })
            .collect();
        let out_of_order: Vec<Vec<u8>> = (n..2 * n)
            .flat_map(|m| {
                [("read", 3), ("delivered", 2), ("sent", 1)]
                    .map(|(state, dt)| status(m, state, T0 + dt, true))
            })
            .collect();
        let duplicated = in_order.clone();
        // The same status again, with an earlier time than the one recorded.
        let earlier: Vec<Vec<u8>> = (0..n)
            .map(|m| status(m, "delivered", T0 + 1, true))
            .collect();
        let lookups: Vec<Vec<u8>> = (0..n)
            .map(|m| status(m, "read", T0 + 3, false))
            .collect();

        println!(
            "status function: DynamoDB requests per event against moto, {n} messages per case, SQS batches of {BATCH}"
        );
        println!(
            "  {:<44} {:>5} {:>6} {:<4}  {:<36} {:>11} {:>8}",
            "case", "events", "req/ev", "", "by operation (per event)", "wall/event", "CPU/event"
        );
        let mut statuses: Vec<Row> = Vec::new();
        for (case, bodies) in [
            ("status in order (sent, delivered, read)", in_order),
            ("status duplicated (the same three again)", duplicated),
            ("status out of order (read, delivered, sent)", out_of_order),
            ("status again with an earlier time (delivered)", earlier),
            (
                "status naming a BSUID only (delivered)",
                (0..n).map(bsuid_status).collect(),
            ),
        ] {
            let row = run(&app, case, bodies).await;
            print(&row, Some(1.0));
            statuses.push(row);
        }
        let mut mixed = Row {
            case: "all statuses above (mixed)".to_owned(),
            events: 0,
            requests: BTreeMap::new(),
            wall: Duration::ZERO,
            cpu: Some(Duration::ZERO),
            failures: 0,
        };
        for row in &statuses {
            mixed.events += row.events;
            for (op, count) in &row.requests {
                *mixed.requests.entry(op.clone()).or_default() += count;
            }
            mixed.wall += row.wall;
            mixed.cpu = mixed.cpu.zip(row.cpu).map(|(a, b)| a + b);
            mixed.failures += row.failures;
        }
        print(&mixed, Some(1.0));
        let row = run(&app, "status without callback data (wamid lookup)", lookups).await;
        print(&row, None);
        let row = run(
            &app,
            "inbound text message",
            (0..n).map(|m| inbound(m, "Olá! Pedido chegou?")).collect(),
        )
        .await;
        print(&row, None);
        let row = run(
            &app,
            "inbound opt-out keyword (STOP)",
            (n..2 * n).map(|m| inbound(m, "STOP")).collect(),
        )
        .await;
        print(&row, None);
        let row = run(
            &app,
            "inbound from a username customer (BSUID only)",
            (0..n).map(|m| inbound_bsuid(m, false)).collect(),
        )
        .await;
        print(&row, None);
        let row = run(
            &app,
            "inbound naming phone and BSUID",
            (n..2 * n).map(|m| inbound_bsuid(m, true)).collect(),
        )
        .await;
        print(&row, None);
    });
}
