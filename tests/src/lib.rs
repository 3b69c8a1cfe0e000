//! The one test harness: the local AWS emulator, fixtures and signing. Every
//! emulator-backed test in the workspace goes through here.
//!
//! `make test` starts moto on a free loopback port and exports the standard
//! `AWS_ENDPOINT_URL`; these helpers refuse to run without it rather than
//! skip, so a test can never pass by not testing.

pub mod crash;
pub mod local;
pub mod meter;
pub mod proxy;
pub mod scenario;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use shared::sqs::{SqsRecord, sqs_event};

/// The app secret of the test Meta app. The signed files in `events/` use it.
pub const APP_SECRET: &str = "chasqui-test-app-secret";
pub const VERIFY_TOKEN: &str = "chasqui-test-verify-token";
pub const ACCESS_TOKEN: &str = "chasqui-test-access-token";

/// A webhook POST body as Meta sends it: one entry, one `messages` change
/// holding `value`.
pub fn webhook_envelope(value: serde_json::Value) -> Vec<u8> {
    serde_json::json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
    .to_string()
    .into_bytes()
}

/// The `metadata` of a change for the business number `phone_number_id`.
pub fn webhook_metadata(phone_number_id: &str) -> serde_json::Value {
    serde_json::json!({"display_phone_number": "15550001111", "phone_number_id": phone_number_id})
}

/// The SDK configuration pointed at the emulator.
pub async fn aws() -> aws_config::SdkConfig {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => {}
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: this test needs the local AWS emulator. Run `make test`, \
             which starts moto and points the SDK at it."
        ),
    }
    shared::aws_config().await
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws().await)
}

pub async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&aws().await)
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&aws().await)
}

/// An S3 client on the emulator (path-style, as the functions' is).
pub async fn s3() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&aws().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Creates a bucket no other test uses and returns its name.
pub async fn create_bucket(s3: &aws_sdk_s3::Client) -> String {
    let name = unique("media").to_ascii_lowercase();
    // Bucket names are at most 63 characters.
    let name: String = name.chars().take(63).collect();
    let name = name.trim_end_matches('-').to_owned();
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(aws_failed("create_bucket"));
    name
}

/// A name no other test (or earlier run against the same emulator) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Panics with an AWS call's error, named by `operation`, and its whole
/// chain of causes: `.unwrap_or_else(aws_failed("create_queue"))`.
pub fn aws_failed<T, E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> T {
    move |e| {
        panic!(
            "{operation}: {}",
            aws_sdk_sqs::error::DisplayErrorContext(e)
        )
    }
}

/// Creates a queue and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    let out = sqs
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .unwrap_or_else(aws_failed("create_queue"));
    out.queue_url().unwrap_or_default().to_owned()
}

/// Creates a queue whose messages move to a dead-letter queue after
/// `max_receive_count` receives. Returns `(queue_url, dlq_url)`.
pub async fn create_queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    max_receive_count: u32,
    visibility_timeout_secs: u32,
) -> (String, String) {
    let dlq_url = create_queue(sqs, &format!("{prefix}-dlq")).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let policy =
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#);
    let out = sqs
        .create_queue()
        .queue_name(unique(prefix))
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .unwrap_or_else(aws_failed("create_queue"));
    (out.queue_url().unwrap_or_default().to_owned(), dlq_url)
}

/// The ARN of the queue at `queue_url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .ok()
        .and_then(|o| {
            o.attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        })
        .unwrap_or_else(|| panic!("no ARN for {queue_url}"))
}

/// Receives (deleting none) until the queue answers empty: every message
/// visible now, each once while it stays in flight.
pub async fn drain(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Message> {
    let mut got = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap_or_else(aws_failed("receive_message"));
        if out.messages().is_empty() {
            return got;
        }
        got.extend(out.messages().iter().cloned());
    }
}

/// What an in-process sender test runs against: a fresh table, a send
/// queue with its dead-letter queue (three receives, 30 s visibility) and
/// the test WhatsApp secret.
pub struct SenderStack {
    pub ddb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub secret: String,
}

impl SenderStack {
    /// Creates the table, the queues and the secret.
    pub async fn create() -> Self {
        let ddb = dynamodb().await;
        let table = create_table(&ddb).await;
        let sqs = sqs().await;
        let (queue_url, dlq_url) = create_queue_with_dlq(&sqs, "send", 3, 30).await;
        let secret = create_secret(&secrets_manager().await).await;
        Self {
            ddb,
            sqs,
            table,
            queue_url,
            dlq_url,
            secret,
        }
    }

    /// The sender's settings on this stack for the number
    /// `phone_number_id`, with Meta's Graph API at `graph_url`; a test adds
    /// its own.
    pub fn settings<'a>(
        &'a self,
        phone_number_id: &'a str,
        graph_url: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("WHATSAPP_SECRET_ID", self.secret.as_str()),
            ("TABLE_NAME", self.table.as_str()),
            ("SEND_QUEUE_URL", self.queue_url.as_str()),
            ("SEND_MAX_RECEIVE_COUNT", "3"),
            ("WHATSAPP_PHONE_NUMBER_ID", phone_number_id),
            ("GRAPH_API_BASE_URL", graph_url),
        ]
    }

    /// Sends `body` to the send queue.
    pub async fn enqueue(&self, body: &(impl std::fmt::Display + ?Sized)) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap_or_else(aws_failed("send_message"));
    }
}

/// Receives until `expected` messages arrived (deleting none) or ten seconds passed.
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, expected: usize) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < expected && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap_or_else(aws_failed("receive_message"));
        got.extend(out.messages().iter().cloned());
    }
    got
}

/// The Lambda SQS event for messages received from a queue, as the event
/// source mapping would hand them to a function.
pub fn lambda_event(messages: &[Message]) -> serde_json::Value {
    let records: Vec<SqsRecord> = messages
        .iter()
        .map(|m| {
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let mut record = SqsRecord::new(
                m.message_id().unwrap_or_default(),
                m.body().unwrap_or_default(),
            )
            .with_receipt_handle(m.receipt_handle().map(str::to_owned))
            .with_receive_count(receive_count);
            for (name, a) in m.message_attributes().into_iter().flatten() {
                if let Some(value) = a.string_value() {
                    record = record.with_attribute(name, a.data_type(), value);
                }
            }
            record
        })
        .collect();
    sqs_event(&records)
}

/// How many messages a queue holds (visible, in flight and delayed).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap_or_else(aws_failed("get_queue_attributes"));
    let attrs = out.attributes().cloned().unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|k| {
        attrs
            .get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// A string message attribute.
pub fn attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

/// Stores the test WhatsApp secret under a fresh id and returns the id.
pub async fn create_secret(sm: &aws_sdk_secretsmanager::Client) -> String {
    let value = serde_json::json!({
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": ACCESS_TOKEN,
    });
    put_secret(sm, "chasqui-whatsapp", &value).await
}

/// A callbacks master key secret (`CALLBACK_SECRET_ID`) as the template's
/// generated one is shaped.
pub async fn create_callback_secret(sm: &aws_sdk_secretsmanager::Client) -> String {
    let value = serde_json::json!({ "master_key": "local-callbacks-master-key" });
    put_secret(sm, "chasqui-callbacks", &value).await
}

/// A fresh EventBridge Scheduler schedule group (`SCHEDULE_GROUP`).
pub async fn create_schedule_group() -> String {
    let group = unique("sends");
    aws_sdk_scheduler::Client::new(&aws().await)
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap_or_else(aws_failed("create_schedule_group"));
    group
}

/// The key of the customer references in the status function's log lines
/// in local stacks (`shared::pseudonym`); a real stack generates its own.
pub const LOG_KEY: &str = "local-log-key-not-a-secret";

/// A secret holding [`LOG_KEY`] as the template's generated one does.
pub async fn create_log_key_secret(sm: &aws_sdk_secretsmanager::Client) -> String {
    let value = serde_json::json!({ shared::pseudonym::LOG_KEY_FIELD: LOG_KEY });
    put_secret(sm, "chasqui-log-key", &value).await
}

/// Creates a secret under a unique name from `prefix`; its id.
async fn put_secret(
    sm: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    value: &serde_json::Value,
) -> String {
    let id = unique(prefix);
    sm.create_secret()
        .name(&id)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap_or_else(aws_failed("create_secret"));
    id
}

/// The `X-Hub-Signature-256` value Meta would send with the test app secret.
pub fn sign(body: &[u8]) -> String {
    shared::signature::sign(body, APP_SECRET.as_bytes())
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file under `events/`.
pub fn event(name: &str) -> String {
    let path = root().join("events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A webhook fixture under `shared/fixtures/webhooks/`.
pub fn fixture(name: &str) -> String {
    let path = root().join("shared/fixtures/webhooks").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Creates a table with Chasqui's key schema, `wamid` index and TTL, as the
/// SAM template declares it, and returns its name.
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    use shared::table::{EXPIRES_AT, PK, SK, WAMID, WAMID_INDEX};
    let name = unique("chasqui");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK))
        .attribute_definitions(attr(SK))
        .attribute_definitions(attr(WAMID))
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(WAMID_INDEX)
                .key_schema(key(WAMID, KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            shared::table::WAMID_INDEX_PROJECTION,
                        ))
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(aws_failed("create_table"));
    ddb.update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(aws_failed("update_time_to_live"));
    name
}

/// The default tenant's message item of `message_id`, read consistently;
/// panics when there is none.
pub async fn message_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    message_id: &str,
) -> shared::table::dynamo::Item {
    tenant_message_item(ddb, table, shared::tenant::DEFAULT_TENANT, message_id)
        .await
        .unwrap_or_else(|| panic!("no record for {message_id}"))
}

/// `tenant`'s message item of `message_id`, read consistently.
pub async fn tenant_message_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &str,
    message_id: &str,
) -> Option<shared::table::dynamo::Item> {
    let key = shared::table::dynamo::message_key(tenant, message_id);
    shared::table::dynamo::get_item(ddb, table, key, "GetItem message")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
