//! How long a batch takes, and what a message costs.
//!
//! - `batch_of_10/graph_200ms`: ten distinct recipients against a Graph
//!   stand-in (wiremock on loopback, the real `CloudApiClient`) that answers
//!   after 200 ms. Bounded concurrency makes it about one round trip.
//! - `batch_of_10/graph_200ms_serial`: the same with `SEND_CONCURRENCY=1`,
//!   the ten round trips concurrency saves.
//! - `per_message_cpu`: the whole handler path (parse, validate, lock,
//!   contact check, pacing, body, record) against instant in-memory ports on
//!   a single-threaded runtime, so time is CPU time; reported per message.
//!
//! - `per_message_cpu/batch_of_10_template_checked`: the same with the
//!   template catalogue on (`shared::templates`) and no cache (TTL 0, the
//!   worst case): what the check costs, and, counted, that a batch reads the
//!   catalogue once per template name (5 template sends of one name: 1
//!   read), and with the default 30 s cache once in all.
//!
//! Run: `cargo bench -p chasqui-sender --bench send_batch`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use shared::cloud_api::{Accepted, AccessToken, CloudApi, CloudApiClient, GraphError};
use shared::config::Settings;
use shared::secrets::{SecretError, SecretString};
use shared::sqs::{SqsRecord, sqs_event};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use chasqui_sender::memory::{MemoryLedger, MemoryRequeue};
use shared::templates::cache::{self, Catalogue};
use shared::templates::store::MemoryTemplates;
use shared::templates::{Entry, Shape};

struct Token;

#[async_trait]
impl AccessToken for Token {
    async fn access_token(&self, _: &str) -> Result<SecretString, SecretError> {
        Ok(SecretString::from("bench-token"))
    }
}

struct InstantApi;

#[async_trait]
impl CloudApi for InstantApi {
    async fn send(&self, _: &str, body: &Value) -> Result<Accepted, GraphError> {
        // serialise as the real client would, so the body's cost is counted
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Ok(Accepted {
            wamid: Some(format!("wamid.{}", bytes.len())),
            wa_id: None,
            user_id: None,
        })
    }
}

fn config(base_url: &str, concurrency: &str, rate: &str) -> chasqui_sender::SenderConfig {
    chasqui_sender::configure(&Settings::from_pairs([
        ("WHATSAPP_SECRET_ID", "bench"),
        ("TABLE_NAME", "bench"),
        ("SEND_QUEUE_URL", "http://127.0.0.1:1/queue/send"),
        ("WHATSAPP_PHONE_NUMBER_ID", "1122334455"),
        ("GRAPH_API_BASE_URL", base_url),
        ("SEND_CONCURRENCY", concurrency),
        ("SEND_RATE_PER_SECOND", rate),
    ]))
    .expect("bench configuration")
}

fn app(config: &chasqui_sender::SenderConfig, api: Arc<dyn CloudApi>) -> chasqui_sender::App {
    let store = Arc::new(MemoryLedger::default());
    chasqui_sender::App::new(
        config,
        Arc::new(shared::tenant::Directory::fixed(Vec::new())),
        store.clone(),
        store,
        api,
        Arc::new(MemoryRequeue::default()),
    )
}

/// Ten fresh requests (new ids each time, or they would be duplicates),
/// to ten recipients, mixing a template and free-form text.
fn batch(round: u64) -> Value {
    let records: Vec<SqsRecord> = (0..10)
        .map(|i| {
            let message = if i % 2 == 0 {
                json!({"type": "template", "template": {"name": "order_update", "language": {"code": "pt_BR"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                        {"type": "currency", "currency": {"fallback_value": "R$ 10,00", "code": "BRL", "amount_1000": 10000}}]}]}})
            } else {
                json!({"type": "text", "text": {"body": "Seu pedido saiu para entrega."}})
            };
            let body = json!({"id": format!("bench-{round}-{i}"), "to": format!("+55 11 9{i:04}-{round:04}"),
                "message": message, "metadata": {"order": round * 10 + i}});
            SqsRecord::new(format!("sqs-{round}-{i}"), body.to_string())
        })
        .collect();
    sqs_event(&records)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"messages": [{"id": "wamid.BENCH"}]}))
                    .set_delay(Duration::from_millis(200)),
            )
            .mount(&server)
            .await;
        server
    });
    let round = Cell::new(0u64);
    let next = || {
        round.set(round.get() + 1);
        batch(round.get())
    };

    let mut group = c.benchmark_group("batch_of_10");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, concurrency) in [("graph_200ms", "10"), ("graph_200ms_serial", "1")] {
        let config = config(&server.uri(), concurrency, "80");
        let api = CloudApiClient::new(&config.graph, Arc::new(Token), config.graph_timeout)
            .expect("client");
        let app = app(&config, Arc::new(api));
        group.bench_function(name, |b| {
            b.iter_batched(
                &next,
                |event| {
                    let response = rt.block_on(chasqui_sender::handle(&app, event));
                    assert!(response.batch_item_failures.is_empty());
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("per_message_cpu");
    group.throughput(Throughput::Elements(10));
    let config = config("http://127.0.0.1:1", "10", "100000");
    let plain = app(&config, Arc::new(InstantApi));
    group.bench_function("batch_of_10_in_memory", |b| {
        b.iter_batched(
            &next,
            |event| rt.block_on(chasqui_sender::handle(&plain, event)),
            BatchSize::SmallInput,
        )
    });

    // The template check, counted: catalogue reads per batch.
    let entry = Entry {
        name: "order_update".into(),
        language: "pt_BR".into(),
        status: Some("APPROVED".into()),
        status_at: Some(shared::now_millis()),
        synced_at: Some(shared::now_millis()),
        shape: Some(Shape {
            parameter_format: "POSITIONAL".into(),
            body: vec!["1".into(), "2".into()],
            ..Shape::default()
        }),
        ..Entry::default()
    };
    let checked = |ttl: Duration| {
        let templates = Arc::new(MemoryTemplates::default());
        templates.insert("default", entry.clone());
        let catalogue = Catalogue::new(templates.clone(), ttl, cache::DEFAULT_MAX_AGE);
        let app = app(&config, Arc::new(InstantApi)).with_catalogue(Arc::new(catalogue));
        (app, templates)
    };
    let (no_cache, reads) = checked(Duration::ZERO);
    let batches = Cell::new(0usize);
    group.bench_function("batch_of_10_template_checked", |b| {
        b.iter_batched(
            &next,
            |event| {
                batches.set(batches.get() + 1);
                let r = rt.block_on(chasqui_sender::handle(&no_cache, event));
                assert!(r.batch_item_failures.is_empty());
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let (cached, cached_reads) = checked(cache::DEFAULT_TTL);
    for _ in 0..batches.get() {
        rt.block_on(chasqui_sender::handle(&cached, next()));
    }
    println!(
        "template catalogue reads: {} for {} batches of 10 (5 sends of one template each) without a cache; {} with the default {} s cache",
        reads.reads(),
        batches.get(),
        cached_reads.reads(),
        cache::DEFAULT_TTL.as_secs()
    );
    assert_eq!(
        reads.reads(),
        batches.get(),
        "one read per batch per template name"
    );
    assert_eq!(cached_reads.reads(), 1, "one read per cache lifetime");
}

criterion_group!(benches, bench);
criterion_main!(benches);
