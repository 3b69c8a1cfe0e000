//! The whole loop on this machine, for end-to-end runs: moto holds the
//! queues (with their dead-letter queues), the table and the secret; the
//! Cloud API sandbox plays Meta; the real `webhook`, `sender` and `status`
//! binaries run under the local Lambda runtime, fed by the local SQS event
//! sources and, for the webhook, the API Gateway front.
//!
//! [`LocalStack::start`] builds it all on fresh resources; the knobs
//! ([`StackOptions`]) are the sandbox's configuration and the functions'
//! settings, so a chaos run is the same harness with other numbers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use chasqui_cli::runtime::CapturedLogs;
use chasqui_cli::sandbox::{Inbound, Sandbox, SandboxConfig};
use chasqui_cli::stack::{
    EventSourceConfig, FunctionConfig, HttpRoute, LocalLoop, LoopOptions, StackSpec,
};
use serde_json::Value;
use shared::record::MessageRecord;
use shared::table;

/// The business number of every local run.
pub const PHONE_NUMBER_ID: &str = "1122334455";

/// What a local stack is made of.
#[derive(Clone)]
pub struct StackOptions {
    pub sandbox: SandboxConfig,
    /// Visibility timeouts of the send and webhook queues, seconds.
    pub send_visibility: u32,
    pub webhook_visibility: u32,
    /// `maxReceiveCount` of both redrive policies (and the functions').
    pub max_receive_count: u32,
    /// Extra settings per function (`("sender", "SEND_RATE_PER_SECOND", "40")`).
    pub env: Vec<(&'static str, &'static str, String)>,
    /// Pollers per queue (the event source's `MaximumConcurrency`).
    pub sender_concurrency: usize,
    pub status_concurrency: usize,
    pub batch_size: usize,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            sandbox: SandboxConfig::default(),
            send_visibility: 20,
            webhook_visibility: 10,
            max_receive_count: 5,
            env: Vec::new(),
            sender_concurrency: 2,
            status_concurrency: 2,
            batch_size: 10,
        }
    }
}

/// A running local stack on its own resources.
pub struct LocalStack {
    pub sandbox: Sandbox,
    pub local: LocalLoop,
    /// Every line the functions wrote.
    pub logs: Arc<CapturedLogs>,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub send_queue: String,
    pub send_dlq: String,
    pub webhook_queue: String,
    pub webhook_dlq: String,
    pub secret_id: String,
}

/// The directory holding the function binaries and the `chasqui` CLI,
/// built first (once per test process) by cargo, in this test's profile
/// (`--release` under `cargo bench`) and target directory; the directory
/// is where cargo reports it put them.
pub fn function_binaries() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_function_binaries).clone()
}

fn build_function_binaries() -> PathBuf {
    // The same package set as `make dev` builds, so both share one feature
    // resolution and one set of artifacts.
    let built = cargo_build(&[
        "chasqui-webhook",
        "chasqui-sender",
        "chasqui-status",
        "chasqui-api",
        "chasqui-cli",
    ]);
    side_by_side(&built, &["webhook", "sender", "status", "api", "chasqui"])
}

/// The `webhook`, `sender`, `status` and `api` binaries, each built alone
/// as `sam build` and `make build` build them (so none links what cargo's
/// feature unification would add from another function: the sender's S3
/// and Scheduler clients in the status binary, say), in this test's profile;
/// their directory. For the cold-start bench.
pub fn function_binaries_each_alone() -> PathBuf {
    let mut built = BTreeMap::new();
    for package in [
        "chasqui-webhook",
        "chasqui-sender",
        "chasqui-status",
        "chasqui-api",
    ] {
        built.extend(cargo_build(&[package]));
    }
    side_by_side(&built, &["webhook", "sender", "status", "api"])
}

/// Builds the binaries of `packages` together; each binary's path by name.
fn cargo_build(packages: &[&str]) -> BTreeMap<String, PathBuf> {
    let mut build = escargot::CargoBuild::new()
        .manifest_path(crate::root().join("Cargo.toml"))
        .bins()
        .current_release()
        .arg("--quiet");
    for package in packages {
        build = build.package(package);
    }
    // What cargo set for this test (package name, manifest dir, ...) would
    // count as changed inputs of build scripts that watch them (ring's),
    // rebuilding half the tree on every run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || matches!(
                name.as_ref(),
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "CARGO_RUSTC_CURRENT_DIR"
            );
        if set_by_cargo {
            build = build.env_remove(name.as_ref());
        }
    }
    let started = Instant::now();
    let messages = build
        .exec()
        .unwrap_or_else(|e| panic!("running cargo build for {packages:?}: {e}"));
    let mut built: BTreeMap<String, PathBuf> = BTreeMap::new();
    for message in messages {
        let message = message.unwrap_or_else(|e| panic!("cargo build of {packages:?} failed: {e}"));
        if let Ok(escargot::format::Message::CompilerArtifact(artifact)) = message.decode()
            && let Some(exe) = artifact.executable
        {
            built.insert(artifact.target.name.to_string(), exe.to_path_buf());
        }
    }
    eprintln!(
        "binaries of {packages:?} up to date in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    built
}

/// The directory of the binaries `names`, which cargo put side by side.
fn side_by_side(built: &BTreeMap<String, PathBuf>, names: &[&str]) -> PathBuf {
    let dir = |name: &str| {
        let exe = built
            .get(name)
            .unwrap_or_else(|| panic!("cargo built no {name} binary: {built:?}"));
        exe.parent().map(PathBuf::from).unwrap_or_default()
    };
    let bin_dir = dir(names[0]);
    for name in &names[1..] {
        assert_eq!(dir(name), bin_dir, "the binaries are side by side");
    }
    bin_dir
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> Self {
        let bin_dir = function_binaries();
        let sqs = crate::sqs().await;
        let ddb = crate::dynamodb().await;
        let table = crate::create_table(&ddb).await;
        let secret_id = crate::create_secret(&crate::secrets_manager().await).await;
        let log_key_secret_id = crate::create_log_key_secret(&crate::secrets_manager().await).await;
        let callback_secret_id =
            crate::create_callback_secret(&crate::secrets_manager().await).await;
        let schedule_group = crate::create_schedule_group().await;
        let (send_queue, send_dlq) = crate::create_queue_with_dlq(
            &sqs,
            "send",
            options.max_receive_count,
            options.send_visibility,
        )
        .await;
        let (webhook_queue, webhook_dlq) = crate::create_queue_with_dlq(
            &sqs,
            "webhook",
            options.max_receive_count,
            options.webhook_visibility,
        )
        .await;
        let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), options.sandbox.clone())
            .await
            .expect("the sandbox starts");
        let receive = options.max_receive_count.to_string();
        let mut spec = StackSpec {
            name: "e2e".into(),
            functions: BTreeMap::from([
                (
                    "webhook".to_owned(),
                    FunctionConfig::new([
                        ("WHATSAPP_SECRET_ID", secret_id.as_str()),
                        ("WEBHOOK_QUEUE_URL", webhook_queue.as_str()),
                        ("RUST_LOG", "info"),
                    ]),
                ),
                (
                    "sender".to_owned(),
                    FunctionConfig::new([
                        ("WHATSAPP_SECRET_ID", secret_id.as_str()),
                        ("TABLE_NAME", table.as_str()),
                        ("GRAPH_API_BASE_URL", sandbox.url().as_str()),
                        ("GRAPH_API_VERSION", "v25.0"),
                        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
                        ("SEND_QUEUE_URL", send_queue.as_str()),
                        ("SEND_MAX_RECEIVE_COUNT", receive.as_str()),
                        ("RUST_LOG", "info"),
                    ]),
                ),
                (
                    "api".to_owned(),
                    FunctionConfig::new([
                        ("TABLE_NAME", table.as_str()),
                        ("SEND_QUEUE_URL", send_queue.as_str()),
                        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
                        ("CALLBACK_SECRET_ID", callback_secret_id.as_str()),
                        ("SCHEDULE_GROUP", schedule_group.as_str()),
                        (
                            "SCHEDULER_ROLE_ARN",
                            "arn:aws:iam::123456789012:role/e2e-scheduler",
                        ),
                        (
                            "SEND_QUEUE_ARN",
                            "arn:aws:sqs:us-east-1:123456789012:e2e-send",
                        ),
                        ("RUST_LOG", "info"),
                    ]),
                ),
                (
                    "status".to_owned(),
                    FunctionConfig::new([
                        ("TABLE_NAME", table.as_str()),
                        ("WEBHOOK_DLQ_URL", webhook_dlq.as_str()),
                        ("WEBHOOK_MAX_RECEIVE_COUNT", receive.as_str()),
                        ("LOG_KEY_SECRET_ID", log_key_secret_id.as_str()),
                        ("RUST_LOG", "info"),
                    ]),
                ),
            ]),
            event_sources: vec![
                EventSourceConfig {
                    function: "sender".into(),
                    queue_url: send_queue.clone(),
                    queue_arn: None,
                    batch_size: options.batch_size,
                    batching_window_seconds: 0,
                    maximum_concurrency: options.sender_concurrency,
                    report_batch_item_failures: true,
                },
                EventSourceConfig {
                    function: "status".into(),
                    queue_url: webhook_queue.clone(),
                    queue_arn: None,
                    batch_size: options.batch_size,
                    batching_window_seconds: 0,
                    maximum_concurrency: options.status_concurrency,
                    report_batch_item_failures: true,
                },
            ],
            // The template's routes: the default app's, then one per
            // further app, then the HTTP API's.
            http_routes: ["/webhook", "/webhook/{app}"]
                .map(|path| HttpRoute {
                    path: path.into(),
                    function: "webhook".into(),
                })
                .into_iter()
                .chain(
                    chasqui_api::Route::all()
                        .into_iter()
                        .map(|(path, _)| HttpRoute {
                            path: path.into(),
                            function: "api".into(),
                        }),
                )
                .collect(),
            ..StackSpec::default()
        };
        for (function, name, value) in &options.env {
            spec.set_env(function, name, value);
        }
        let logs = Arc::new(CapturedLogs::default());
        let local = LocalLoop::start(&spec, sqs.clone(), LoopOptions::new(bin_dir, logs.clone()))
            .await
            .unwrap_or_else(|e| panic!("the local loop starts: {e}"));
        let webhook_url = local.webhook_url().expect("a webhook route");
        sandbox
            .set_webhook_url(&webhook_url)
            .expect("a valid webhook URL");
        Self {
            sandbox,
            local,
            logs,
            sqs,
            ddb,
            table,
            send_queue,
            send_dlq,
            webhook_queue,
            webhook_dlq,
            secret_id,
        }
    }

    /// Puts send requests on the send queue, ten per call.
    pub async fn send_all(&self, requests: &[Value]) {
        for chunk in requests.chunks(10) {
            let entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(r.to_string())
                        .build()
                        .unwrap()
                })
                .collect();
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.send_queue)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap_or_else(crate::aws_failed("send_message_batch"));
            assert!(out.failed().is_empty(), "{:?}", out.failed());
        }
    }

    /// The default tenant's message records of `ids` that exist.
    pub async fn records(&self, ids: &[String]) -> HashMap<String, MessageRecord> {
        self.records_of(shared::tenant::DEFAULT_TENANT, ids).await
    }

    /// A tenant's message records of `ids` that exist (one BatchGetItem per
    /// 100).
    pub async fn records_of(&self, tenant: &str, ids: &[String]) -> HashMap<String, MessageRecord> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(100) {
            let keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (
                            table::PK.to_owned(),
                            AttributeValue::S(table::message_pk(tenant, id)),
                        ),
                        (
                            table::SK.to_owned(),
                            AttributeValue::S(table::MESSAGE_SK.to_owned()),
                        ),
                    ])
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .unwrap(),
            );
            while let Some(keys) = request.take() {
                let resp = self
                    .ddb
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .unwrap_or_else(crate::aws_failed("batch_get_item"));
                for item in resp
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let record = shared::table::dynamo::message_record(item)
                        .expect("a readable message item");
                    if let Some(id) = record.message_id.clone() {
                        out.insert(id, record);
                    }
                }
                request = resp
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
        }
        out
    }

    /// Customers write in: each of `window` sends a message (opening their
    /// service window), each of `opted_out` sends STOP, all through signed
    /// inbound webhooks. Returns once every opt-out is recorded, with the
    /// inbound wamids of `window` in order.
    pub async fn customers_write(&self, window: &[String], opted_out: &[String]) -> Vec<String> {
        let mut wamids = Vec::with_capacity(window.len());
        for (from, text) in window
            .iter()
            .map(|f| (f, "Olá, tudo bem? / quero falar"))
            .chain(opted_out.iter().map(|f| (f, "STOP")))
        {
            let receipt = self
                .sandbox
                .inbound(Inbound {
                    from: from.clone(),
                    text: Some(text.into()),
                    profile_name: Some("Cliente".into()),
                    ..Inbound::default()
                })
                .await
                .unwrap_or_else(|e| panic!("inbound from {from}: {e}"));
            assert!(
                receipt.delivered,
                "inbound webhook answered {:?}",
                receipt.webhook_status
            );
            if wamids.len() < window.len() {
                wamids.push(receipt.wamid);
            }
        }
        let timeout = Duration::from_secs(60 + opted_out.len() as u64);
        self.wait_until("opt-outs recorded", timeout, || async {
            for to in opted_out {
                let opted = self
                    .contact(to.trim_start_matches('+'))
                    .await
                    .map(|c| c.opted_out);
                if opted != Some(true) {
                    return Err(format!("{to} not opted out yet"));
                }
            }
            Ok(())
        })
        .await;
        wamids
    }

    /// A customer's state by phone, resolved over the contact items linked
    /// to it (the sandbox names every customer by BSUID too, so the status
    /// function writes under the BSUID), if the status function wrote one.
    pub async fn contact(&self, wa_id: &str) -> Option<shared::contact::ContactState> {
        self.contact_of(shared::tenant::DEFAULT_TENANT, PHONE_NUMBER_ID, wa_id)
            .await
    }

    /// A tenant's customer by phone, on one of its business numbers.
    pub async fn contact_of(
        &self,
        tenant: &str,
        phone_number_id: &str,
        wa_id: &str,
    ) -> Option<shared::contact::ContactState> {
        let items = shared::contact::read_linked(
            &self.ddb,
            &self.table,
            tenant,
            phone_number_id,
            &shared::customer::CustomerIds::new(Some(wa_id), None),
            shared::now_millis(),
        )
        .await
        .unwrap_or_else(|e| panic!("reading contact items: {e}"));
        shared::contact::resolve(&items)
    }

    /// Waits until `done` holds, polling every 250 ms; panics with `what`
    /// and the functions' last log lines after `timeout`.
    pub async fn wait_until<F, Fut>(&self, what: &str, timeout: Duration, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            let check = done().await;
            match check {
                Ok(()) => return,
                Err(state) if Instant::now() >= deadline => panic!(
                    "{what}: not done after {timeout:?}: {state}\n--- last function logs ---\n{}",
                    self.logs.tail(60)
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Messages on a queue (visible, in flight, delayed).
    pub async fn depth(&self, queue_url: &str) -> usize {
        crate::queue_depth(&self.sqs, queue_url).await
    }

    pub async fn stop(self) {
        self.local.stop().await;
        self.sandbox.stop().await;
    }
}
