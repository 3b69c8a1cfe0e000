//! Media both ways against the local AWS emulator (S3, SQS, DynamoDB,
//! Secrets Manager) and the Cloud API sandbox playing Meta's media
//! endpoints: inbound files kept once under replays, failures recorded
//! with their reason while the rest of the batch goes on, an outbound
//! document from S3 uploaded once for many recipients, a bucket the
//! deployment does not allow refused before any call (`docs/media.md`).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chasqui_cli::sandbox::media::{Fault, NewFile, Registered};
use chasqui_cli::sandbox::{Sandbox, SandboxConfig};
use harness::unique;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::events::{Event, Payload};
use shared::intake::{self, MAX_BODY_BYTES};
use shared::sqs::{SqsRecord, sqs_event};
use shared::tenant::{BindingStore, DEFAULT_APP};

const PN: &str = "1122334455";
const WA_ID: &str = "5511988887777";
const T0: u64 = 1_730_000_000;

type Item = HashMap<String, AttributeValue>;

struct Env {
    sandbox: Sandbox,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
    media_queue: String,
    events_queue: String,
    secret: String,
    /// `WHATSAPP_SECRET_PREFIX`: binding token secrets are under it.
    prefix: String,
    status: chasqui_status::App,
    media: chasqui_media::App,
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_pairs(pairs.iter().copied())
}

async fn env() -> Env {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default())
        .await
        .unwrap();
    let ddb = harness::dynamodb().await;
    let sqs = harness::sqs().await;
    let s3 = harness::s3().await;
    let table = harness::create_table(&ddb).await;
    let bucket = harness::create_bucket(&s3).await;
    let media_queue = harness::create_queue(&sqs, "media").await;
    let events_queue = harness::create_queue(&sqs, "events").await;
    let dlq = harness::create_queue(&sqs, "webhook-dlq").await;
    let secret = harness::create_secret(&harness::secrets_manager().await).await;
    let prefix = format!("{}/", unique("chasqui-media"));
    let aws = harness::aws().await;
    let status_config = chasqui_status::configure(&settings(&[
        ("TABLE_NAME", &table),
        ("WEBHOOK_DLQ_URL", &dlq),
        ("UPSTREAM_EVENTS_QUEUE_URL", &events_queue),
        ("MEDIA_QUEUE_URL", &media_queue),
        ("MEDIA_BUCKET", &bucket),
    ]))
    .unwrap();
    let status = chasqui_status::App::from_config(&status_config, &aws);
    let url = sandbox.url();
    let media_config = chasqui_media::configure(&settings(&[
        ("WHATSAPP_SECRET_ID", &secret),
        ("WHATSAPP_SECRET_PREFIX", &prefix),
        ("TABLE_NAME", &table),
        ("MEDIA_BUCKET", &bucket),
        ("MEDIA_QUEUE_URL", &media_queue),
        ("MEDIA_MAX_RECEIVE_COUNT", "3"),
        ("MEDIA_MAX_BYTES", "1000000"),
        ("GRAPH_API_BASE_URL", &url),
        ("UPSTREAM_EVENTS_QUEUE_URL", &events_queue),
    ]))
    .unwrap();
    let media = chasqui_media::App::from_config(&media_config, &aws).unwrap();
    Env {
        sandbox,
        ddb,
        sqs,
        s3,
        table,
        bucket,
        media_queue,
        events_queue,
        secret,
        prefix,
        status,
        media,
    }
}

/// One inbound message of `kind` carrying the registered file.
fn media_message(n: u64, kind: &str, file: &Registered) -> Value {
    json!({
        "from": WA_ID, "id": format!("wamid.MEDIA{n}"), "timestamp": (T0 + n).to_string(),
        "type": kind, kind: {"id": file.id, "mime_type": file.mime_type, "sha256": file.sha256}
    })
}

fn webhook(messages: Vec<Value>) -> Vec<u8> {
    harness::webhook_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": harness::webhook_metadata(PN),
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": WA_ID}],
        "messages": messages,
    }))
}

impl Env {
    fn register(&self, mime_type: &str, size: usize, fault: Fault) -> Registered {
        self.sandbox
            .register_media(NewFile {
                mime_type: mime_type.into(),
                text: None,
                base64: None,
                size: Some(size),
                fault,
            })
            .unwrap()
    }

    /// The webhook through the status function, as the webhook queues it.
    async fn status(&self, body: &[u8]) {
        self.status_of(DEFAULT_APP, body).await
    }

    /// The same, received through Meta app `app`'s route.
    async fn status_of(&self, app: &str, body: &[u8]) {
        for message in intake::split(app, body, T0 * 1000, MAX_BODY_BYTES).messages {
            let record = SqsRecord::new(unique("sqs"), message.body.as_str());
            let r = chasqui_status::handle(&self.status, sqs_event(&[record])).await;
            assert!(r.batch_item_failures.is_empty(), "status failed: {r:?}");
        }
    }

    /// Every job on the media queue, received once.
    async fn jobs(&self, expected: usize) -> Vec<SqsRecord> {
        let messages = harness::receive(&self.sqs, &self.media_queue, expected).await;
        assert_eq!(messages.len(), expected, "media jobs queued");
        let event = harness::lambda_event(&messages);
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| SqsRecord::read(r).unwrap())
            .collect()
    }

    async fn objects(&self) -> BTreeMap<String, i64> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix("inbound/")
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap_or_default().to_owned(),
                    o.size().unwrap_or(-1),
                )
            })
            .collect()
    }

    async fn inbound_media(&self, n: u64) -> Value {
        let item: Item = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("CONTACT#{PN}#{WA_ID}")))
            .key(
                "sk",
                AttributeValue::S(format!("IN#{:013}#wamid.MEDIA{n}", (T0 + n) * 1000)),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no inbound record wamid.MEDIA{n}"));
        shared::table::dynamo::to_json(item.get("media").unwrap_or(&AttributeValue::Null(true)))
    }

    async fn events(&self) -> Vec<Event> {
        harness::drain(&self.sqs, &self.events_queue)
            .await
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap_or_default()).unwrap())
            .collect()
    }

    async fn object_bytes(&self, key: &str) -> (Vec<u8>, Option<String>) {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let content_type = out.content_type().map(str::to_owned);
        let bytes = out.body.collect().await.unwrap().into_bytes().to_vec();
        (bytes, content_type)
    }
}

#[tokio::test]
async fn each_media_kind_is_stored_once_under_replays() {
    let env = env().await;
    let kinds = [
        ("image", "image/jpeg", 2_000),
        ("audio", "audio/ogg", 3_000),
        ("video", "video/mp4", 5_000),
        ("document", "application/pdf", 7_000),
        ("sticker", "image/webp", 900),
    ];
    let files: Vec<Registered> = kinds
        .iter()
        .map(|(_, mime, size)| env.register(mime, *size, Fault::None))
        .collect();
    let mut messages: Vec<Value> = kinds
        .iter()
        .zip(&files)
        .enumerate()
        .map(|(i, ((kind, _, _), file))| media_message(i as u64, kind, file))
        .collect();
    messages.push(
        json!({"from": WA_ID, "id": "wamid.TEXT", "timestamp": T0.to_string(),
        "type": "text", "text": {"body": "segue a foto"}}),
    );
    let body = webhook(messages);
    // Meta delivers it twice.
    env.status(&body).await;
    env.status(&body).await;
    let jobs = env.jobs(10).await;
    // Every job, and each again (a redelivery).
    for round in 0..2 {
        let r = chasqui_media::handle(&env.media, sqs_event(&jobs)).await;
        assert!(r.batch_item_failures.is_empty(), "round {round}: {r:?}");
    }
    let objects = env.objects().await;
    assert_eq!(objects.len(), 5, "one object per file: {objects:?}");
    let summary = env.sandbox.media_summary();
    assert_eq!(
        summary["downloads"], 5,
        "each file downloaded once: {summary}"
    );
    for (i, ((kind, mime, size), file)) in kinds.iter().zip(&files).enumerate() {
        let media = env.inbound_media(i as u64).await;
        assert_eq!(media["state"], "stored", "{kind}: {media}");
        assert_eq!(media["size"], *size as u64, "{kind}");
        assert_eq!(media["content_type"], *mime, "{kind}");
        assert_eq!(media["sha256"], file.sha256, "{kind}");
        assert_eq!(media["bucket"], env.bucket.as_str());
        let key = media["key"].as_str().unwrap();
        assert_eq!(key, format!("inbound/default/wamid.MEDIA{i}"));
        let (bytes, content_type) = env.object_bytes(key).await;
        assert_eq!(shared::media::sha256_hex(&bytes), file.sha256, "{kind}");
        assert_eq!(content_type.as_deref(), Some(*mime));
    }
    // `chasqui media get <wamid> --out FILE` writes the stored bytes.
    let target = chasqui_cli::target::Target {
        resources: chasqui_cli::stack::Resources {
            media_bucket: Some(env.bucket.clone()),
            ..Default::default()
        },
        aws: harness::aws().await,
        source: "test".into(),
        local: true,
        tenant: "default".into(),
    };
    let out = std::env::temp_dir().join(unique("media-get"));
    chasqui_cli::commands::media::get(
        &target,
        chasqui_cli::commands::Output { json: true },
        "wamid.MEDIA3",
        Some(&out),
    )
    .await
    .unwrap();
    let written = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(shared::media::sha256_hex(&written), files[3].sha256);
    assert!(
        chasqui_cli::commands::media::get(
            &target,
            chasqui_cli::commands::Output { json: true },
            "wamid.NOFILE",
            Some(&out),
        )
        .await
        .is_err()
    );
    // Events: `message.inbound` names where each file will be; one
    // `message.media` per file (same id on every redelivery).
    let events = env.events().await;
    let pending: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Inbound(d) => d.media.as_ref(),
            _ => None,
        })
        .collect();
    assert!(
        pending
            .iter()
            .all(|m| m.state == "pending" && m.bucket == env.bucket)
    );
    assert_eq!(pending.len(), 10, "5 media messages, delivered twice");
    let stored: BTreeMap<String, &Event> = events
        .iter()
        .filter(|e| matches!(&e.payload, Payload::Media(d) if d.media.state == "stored"))
        .map(|e| (e.id.clone(), e))
        .collect();
    assert_eq!(stored.len(), 5, "one message.media id per file");
    for event in stored.values() {
        let Payload::Media(d) = &event.payload else {
            unreachable!()
        };
        assert!(d.media.size.is_some() && d.media.sha256.is_some(), "{d:?}");
        assert_eq!(d.from, WA_ID);
    }
}

#[tokio::test]
async fn unfetchable_files_are_recorded_with_their_reason_and_the_rest_of_the_batch_applies() {
    let env = env().await;
    let corrupt = env.register("image/png", 1_000, Fault::Corrupt);
    let expired = env.register("application/pdf", 1_000, Fault::Expire);
    let gone = env.register("video/mp4", 1_000, Fault::Gone);
    let large = env.register("application/pdf", 1_000_001, Fault::None);
    let flaky = env.register("audio/mpeg", 1_000, Fault::Fail(1));
    let fine = env.register("image/jpeg", 1_000, Fault::None);
    let body = webhook(vec![
        media_message(0, "image", &corrupt),
        media_message(1, "document", &expired),
        media_message(2, "video", &gone),
        media_message(3, "document", &large),
        media_message(4, "audio", &flaky),
        media_message(5, "image", &fine),
    ]);
    env.status(&body).await;
    let jobs = env.jobs(6).await;
    let r = chasqui_media::handle(&env.media, sqs_event(&jobs)).await;
    // Only the passing failure is retried.
    let retried: Vec<&str> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let flaky_job = jobs
        .iter()
        .find(|j| j.body.contains("wamid.MEDIA4"))
        .unwrap();
    assert_eq!(retried, [flaky_job.message_id.as_str()]);
    for (n, reason) in [
        (0, "checksum_mismatch"),
        (1, "url_expired"),
        (2, "media_not_found"),
        (3, "too_large"),
    ] {
        let media = env.inbound_media(n).await;
        assert_eq!(media["state"], "failed", "MEDIA{n}: {media}");
        assert_eq!(media["reason"], reason, "MEDIA{n}: {media}");
        assert!(media["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(env.inbound_media(5).await["state"], "stored");
    assert_eq!(env.inbound_media(4).await["state"], "pending");
    // The expired URL was asked for again once before giving up; nothing
    // failed was written to the bucket.
    let objects = env.objects().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    // The retry (SQS brings it back after its backoff) stores it.
    let again = flaky_job.clone().with_receive_count(2);
    let r = chasqui_media::handle(&env.media, sqs_event(&[again])).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    assert_eq!(env.inbound_media(4).await["state"], "stored");
    let failed: Vec<String> = env
        .events()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Payload::Media(d) if d.media.state == "failed" => d.media.reason,
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 4, "{failed:?}");
}

#[tokio::test]
async fn a_job_failing_on_every_attempt_is_recorded_then_dead_lettered() {
    let env = env().await;
    let flaky = env.register("image/jpeg", 100, Fault::Fail(10));
    env.status(&webhook(vec![media_message(7, "image", &flaky)]))
        .await;
    let job = env.jobs(1).await.remove(0);
    for attempt in 1..=3 {
        let r = chasqui_media::handle(
            &env.media,
            sqs_event(&[job.clone().with_receive_count(attempt)]),
        )
        .await;
        // Reported failed every time: the redrive policy moves the last
        // one to the media dead-letter queue.
        assert_eq!(r.batch_item_failures.len(), 1, "attempt {attempt}");
        let state = env.inbound_media(7).await["state"].clone();
        let expected = if attempt < 3 { "pending" } else { "failed" };
        assert_eq!(state, expected, "attempt {attempt}");
    }
    assert_eq!(
        env.inbound_media(7).await["reason"],
        "gave_up_after_retries"
    );
}

#[tokio::test]
async fn a_tenants_file_is_fetched_with_its_token_and_kept_under_its_tenant() {
    const ACME_NUMBER: &str = "7001000001";
    const ACME_TOKEN: &str = "acme-media-token";
    let env = env().await;
    // Acme's number is bound through app "shop"; Meta (the sandbox) takes
    // only Acme's token for it.
    env.sandbox
        .configure(
            &json!({"apps": [{"name": "shop", "app_secret": "shop-secret",
            "access_token": ACME_TOKEN, "phone_number_ids": [ACME_NUMBER], "waba_id": "7001"}]}),
        )
        .unwrap();
    harness::secrets_manager()
        .await
        .create_secret()
        .name(format!("{}tenants/acme", env.prefix))
        .secret_string(json!({"access_token": ACME_TOKEN}).to_string())
        .send()
        .await
        .unwrap();
    let bindings = shared::tenant::DynamoBindings::new(env.ddb.clone(), &env.table);
    assert!(
        bindings
            .put(&shared::tenant::Binding {
                phone_number_id: ACME_NUMBER.into(),
                tenant: "acme".into(),
                app: "shop".into(),
                waba_id: "7001".into(),
                display_phone_number: None,
                token_secret: format!("{}tenants/acme", env.prefix),
                created_at: shared::now_millis(),
            })
            .await
            .unwrap()
    );
    let file = env.register("image/jpeg", 1_234, Fault::None);
    let body = harness::webhook_envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": harness::webhook_metadata(ACME_NUMBER),
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": WA_ID}],
        "messages": [media_message(9, "image", &file)],
    }));
    env.status_of("shop", &body).await;
    let jobs = env.jobs(1).await;
    let r = chasqui_media::handle(&env.media, sqs_event(&jobs)).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    // Kept under Acme's prefix, recorded on Acme's item, told as Acme's.
    assert_eq!(
        env.objects().await.keys().collect::<Vec<_>>(),
        ["inbound/acme/wamid.MEDIA9"]
    );
    let item = env
        .ddb
        .get_item()
        .table_name(&env.table)
        .key(
            "pk",
            AttributeValue::S(format!("T#acme#CONTACT#{ACME_NUMBER}#{WA_ID}")),
        )
        .key(
            "sk",
            AttributeValue::S(format!("IN#{:013}#wamid.MEDIA9", (T0 + 9) * 1000)),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let media = shared::table::dynamo::to_json(&item["media"]);
    assert_eq!(media["state"], "stored", "{media}");
    let events = env.events().await;
    let stored: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(&e.payload, Payload::Media(_)))
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].tenant, "acme");
}

// ------------------------------------------------------------ outbound

struct Outbound {
    env: Env,
    config: chasqui_sender::SenderConfig,
    sender: chasqui_sender::App,
}

async fn outbound() -> Outbound {
    let env = env().await;
    // Free-form documents to people who have not written.
    env.sandbox
        .configure(&json!({"enforce_window": false}))
        .unwrap();
    let queue = harness::create_queue(&env.sqs, "send").await;
    let url = env.sandbox.url();
    let config = chasqui_sender::configure(&settings(&[
        ("WHATSAPP_SECRET_ID", &env.secret),
        ("TABLE_NAME", &env.table),
        ("SEND_QUEUE_URL", &queue),
        ("WHATSAPP_PHONE_NUMBER_ID", PN),
        ("GRAPH_API_BASE_URL", &url),
        ("MEDIA_BUCKET", &env.bucket),
    ]))
    .unwrap();
    let sender = chasqui_sender::App::from_config(&config, &harness::aws().await)
        .await
        .unwrap();
    Outbound {
        env,
        config,
        sender,
    }
}

impl Outbound {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) {
        self.env
            .s3
            .put_object()
            .bucket(&self.env.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }

    async fn record(&self, id: &str) -> Value {
        let item = harness::message_item(&self.env.ddb, &self.env.table, id).await;
        shared::table::dynamo::to_json(&AttributeValue::M(item))
    }
}

fn document_request(id: &str, to: &str, bucket: &str, key: &str) -> String {
    json!({"id": id, "to": to, "message": {"type": "document",
        "document": {"s3": {"bucket": bucket, "key": key}, "filename": "Pedido 1234.pdf"}}})
    .to_string()
}

#[tokio::test]
async fn an_s3_document_is_uploaded_once_for_many_recipients() {
    let o = outbound().await;
    o.put(
        "invoices/1234.pdf",
        "application/pdf",
        b"%PDF-1.7 invoice".repeat(500),
    )
    .await;
    let run = unique("doc");
    let ids: Vec<String> = (0..30).map(|i| format!("{run}-{i}")).collect();
    let records: Vec<SqsRecord> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let to = format!("+55119{:08}", 10_000_000 + i);
            SqsRecord::new(
                unique("sqs"),
                document_request(id, &to, &o.env.bucket, "invoices/1234.pdf"),
            )
        })
        .collect();
    // Three Lambda batches of ten, the sender's concurrency inside each;
    // the last through a second instance (another cold start).
    for (i, batch) in records.chunks(10).enumerate() {
        let app = if i < 2 {
            &o.sender
        } else {
            &chasqui_sender::App::from_config(&o.config, &harness::aws().await)
                .await
                .unwrap()
        };
        let r = chasqui_sender::handle(app, sqs_event(batch)).await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
    }
    let summary = o.env.sandbox.media_summary();
    let uploads = summary["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 1, "uploaded once: {summary}");
    assert_eq!(uploads[0]["mime_type"], "application/pdf");
    assert_eq!(uploads[0]["filename"], "Pedido 1234.pdf");
    assert_eq!(uploads[0]["size"], 16 * 500);
    let calls = o.env.sandbox.calls();
    assert_eq!(calls.len(), 30);
    assert!(
        calls
            .iter()
            .all(|c| c.kind == "document" && c.http_status == 200),
        "{calls:?}"
    );
    for id in &ids {
        assert!(
            o.record(id).await.get("accepted_at").is_some(),
            "{id} not sent"
        );
    }
    // A new version of the object is a new upload.
    o.put(
        "invoices/1234.pdf",
        "application/pdf",
        b"%PDF-1.7 corrected".to_vec(),
    )
    .await;
    let id = format!("{run}-v2");
    let r = chasqui_sender::handle(
        &o.sender,
        sqs_event(&[SqsRecord::new(
            unique("sqs"),
            document_request(&id, "+5511988887777", &o.env.bucket, "invoices/1234.pdf"),
        )]),
    )
    .await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(
        o.env.sandbox.media_summary()["uploads"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_disallowed_bucket_or_an_object_meta_refuses_is_refused_before_any_call() {
    let o = outbound().await;
    o.put("big.jpg", "image/jpeg", vec![7u8; 5 * 1024 * 1024 + 1])
        .await;
    o.put("notes.txt", "text/plain", b"hello".to_vec()).await;
    let run = unique("refused");
    let cases = [
        (
            document_request(
                &format!("{run}-0"),
                "+5511988887777",
                "someone-elses-bucket",
                "x.pdf",
            ),
            "media_bucket_not_allowed",
            "message.document.s3.bucket",
        ),
        (
            json!({"id": format!("{run}-1"), "to": "+5511988887777", "message": {"type": "image",
                "image": {"s3": {"bucket": o.env.bucket, "key": "big.jpg"}}}})
            .to_string(),
            "media_not_accepted",
            "message.image.s3",
        ),
        (
            json!({"id": format!("{run}-2"), "to": "+5511988887777", "message": {"type": "image",
                "image": {"s3": {"bucket": o.env.bucket, "key": "notes.txt"}}}})
            .to_string(),
            "media_not_accepted",
            "message.image.s3",
        ),
        (
            document_request(
                &format!("{run}-3"),
                "+5511988887777",
                &o.env.bucket,
                "missing.pdf",
            ),
            "media_not_found",
            "message.document.s3",
        ),
    ];
    for (i, (body, reason, path)) in cases.iter().enumerate() {
        let r = chasqui_sender::handle(
            &o.sender,
            sqs_event(&[SqsRecord::new(unique("sqs"), body.as_str())]),
        )
        .await;
        assert!(r.batch_item_failures.is_empty(), "{reason}: {r:?}");
        let record = o.record(&format!("{run}-{i}")).await;
        assert_eq!(record["error"]["reason"], *reason, "{record}");
        assert_eq!(record["error"]["details"], *path, "{record}");
        assert!(record.get("failed_at").is_some());
    }
    assert!(o.env.sandbox.calls().is_empty(), "no message sent");
    let summary = o.env.sandbox.media_summary();
    assert!(
        summary["uploads"].as_array().unwrap().is_empty(),
        "{summary}"
    );
}
