//! The status function's own cost per queue record, without I/O: parse the
//! queued body, type Meta's value, decide every write, fold keywords and
//! build the events. The ports answer at once, so what is measured is what
//! the function adds on top of its DynamoDB and SQS round trips (one
//! `UpdateItem` per status, a `PutItem` and an `UpdateItem` per inbound
//! message: milliseconds each, against microseconds here).
//!
//! `cargo bench -p chasqui-status --bench status_apply`; docs/benchmarks.md keeps the numbers.

use std::hint::black_box;

use async_trait::async_trait;
use chasqui_status::apply::{Applier, Policy};
use chasqui_status::keywords::Keywords;
use chasqui_status::store::{
    ContactLink, ContactStore, ContactTouch, FragmentWrite, HealthOutcome, HealthStore,
    HealthWrite, InboundWrite, MessageRef, MessageStore, StatusWrite, WebhookLog, WebhookRecord,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use shared::contact::{OptOutcome, OptStore, OptWrite};
use shared::intake::{self, MAX_BODY_BYTES};
use shared::record::MessageRecord;
use shared::store::StoreError;
use shared::tenant::{
    BINDINGS_TTL, Binding, BindingStore, DEFAULT_TENANT, Directory, DirectoryError,
};
use std::sync::Arc;

/// Ports that answer at once, as if every write were the first.
struct Instant;

/// No bindings: every number is the default tenant's.
#[async_trait]
impl BindingStore for Instant {
    async fn list(&self) -> Result<Vec<Binding>, DirectoryError> {
        Ok(Vec::new())
    }
    async fn put(&self, _: &Binding) -> Result<bool, DirectoryError> {
        Ok(true)
    }
    async fn remove(&self, _: &str) -> Result<Option<Binding>, DirectoryError> {
        Ok(None)
    }
}

#[async_trait]
impl MessageStore for Instant {
    async fn find_by_wamid(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    async fn apply_status(&self, w: &StatusWrite) -> Result<Option<MessageRecord>, StoreError> {
        black_box(w);
        Ok(None)
    }
    async fn lower_slot(
        &self,
        _: &str,
        _: &MessageRef,
        _: &'static str,
        _: u64,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ContactStore for Instant {
    async fn put_inbound(&self, m: &InboundWrite) -> Result<bool, StoreError> {
        black_box(m);
        Ok(true)
    }
    async fn touch(&self, t: &ContactTouch) -> Result<bool, StoreError> {
        black_box(t);
        Ok(true)
    }
    async fn link(&self, l: &ContactLink) -> Result<bool, StoreError> {
        black_box(l);
        Ok(true)
    }
}

#[async_trait]
impl OptStore for Instant {
    async fn decide_opt(&self, o: &OptWrite) -> Result<OptOutcome, StoreError> {
        black_box(o);
        Ok(OptOutcome::Applied)
    }
}

#[async_trait]
impl HealthStore for Instant {
    async fn update_health(&self, w: &HealthWrite) -> Result<HealthOutcome, StoreError> {
        black_box(w);
        Ok(HealthOutcome::Applied {
            previous: Default::default(),
        })
    }
}

#[async_trait]
impl WebhookLog for Instant {
    async fn record(&self, r: &WebhookRecord) -> Result<bool, StoreError> {
        black_box(r);
        Ok(true)
    }
    async fn put_fragment(&self, _: &FragmentWrite) -> Result<(), StoreError> {
        Ok(())
    }
    async fn fragments(&self, _: &str) -> Result<Vec<(u32, String)>, StoreError> {
        Ok(Vec::new())
    }
}

fn status(i: usize) -> Value {
    json!({"id": format!("wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ{i:08}"), "status": "delivered",
           "timestamp": "1730000001", "recipient_id": "5511988887777",
           "biz_opaque_callback_data": format!("order-{i}-shipped"),
           "conversation": {"id": "9a1f2c3d4e5f60718293a4b5c6d7e8f9", "expiration_timestamp": "1730086400", "origin": {"type": "utility"}},
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "utility", "type": "regular"}})
}

fn body(value: Value) -> String {
    let post = json!({"object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]});
    let split = intake::split(
        shared::tenant::DEFAULT_APP,
        post.to_string().as_bytes(),
        1_730_000_002_000,
        MAX_BODY_BYTES,
    );
    split.messages[0].body.clone()
}

fn metadata() -> Value {
    json!({"display_phone_number": "15550001111", "phone_number_id": "1122334455"})
}

fn statuses(n: usize) -> String {
    body(
        json!({"messaging_product": "whatsapp", "metadata": metadata(),
                "statuses": (0..n).map(status).collect::<Vec<_>>()}),
    )
}

fn inbound(text: &str) -> String {
    body(
        json!({"messaging_product": "whatsapp", "metadata": metadata(),
        "contacts": [{"profile": {"name": "Ana Souza"}, "wa_id": "5511988887777"}],
        "messages": [{"from": "5511988887777", "id": "wamid.HBgNNTUxMTk4ODg4Nzc3NxIAEhg", "timestamp": "1730000100",
                      "type": "text", "text": {"body": text}}]}),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let policy = Policy::default();
    let directory = Directory::new(Arc::new(Instant), BINDINGS_TTL);
    let templates = shared::templates::store::MemoryTemplates::default();
    let applier = Applier {
        directory: &directory,
        tenant: DEFAULT_TENANT.to_owned(),
        messages: &Instant,
        contacts: &Instant,
        log: &Instant,
        health: &Instant,
        templates: &templates,
        policy: &policy,
        now: 1_730_000_003_000,
    };
    let cases = [
        ("1_status", statuses(1), 1),
        ("100_statuses", statuses(100), 100),
        (
            "inbound_text",
            inbound("Olá! Quero remarcar para quinta 🙏"),
            1,
        ),
        ("inbound_stop", inbound("  ¡Baja! "), 1),
    ];
    let mut group = c.benchmark_group("status_apply");
    for (name, body, items) in &cases {
        let applied = rt.block_on(applier.apply(body)).unwrap();
        assert!(applied.failures.is_empty() && !applied.events.is_empty());
        group.throughput(Throughput::Elements(*items));
        group.bench_function(*name, |b| {
            b.iter(|| {
                rt.block_on(applier.apply(black_box(body)))
                    .unwrap()
                    .events
                    .len()
            })
        });
    }
    group.finish();
    let keywords = Keywords::default();
    c.bench_function("keyword_classify", |b| {
        b.iter(|| keywords.classify(black_box("  Não quero mais receber, obrigado!  ")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
