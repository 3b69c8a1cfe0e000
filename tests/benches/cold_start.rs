//! Cold start and memory, side by side in one run (issue 7, issue 16): the
//! release `webhook`, `sender` and `status` binaries, each handed a
//! realistic event, a hello-world Rust Lambda (the floor, on the same
//! current-thread runtime as the functions; also on a multi-thread one, for
//! comparison) and the Python
//! baseline (`tests/baseline/`), each started as a fresh process under the
//! local Lambda Runtime API (`chasqui_cli::runtime`) and handed one event.
//! Every sample records spawn → first `/next` (init), spawn → response, the
//! process's CPU time and peak RSS, and, through a timing proxy in front of
//! moto and the Cloud API sandbox (`tests/src/proxy.rs`), the round
//! trips its job made and how long the services took to answer them. The
//! overhead of a function is its spawn → response less those round trips,
//! less hello-world's spawn → response. Then the Python baseline's warm
//! per-event cost on the criterion bench's payloads, next to criterion's
//! last numbers.
//!
//! Needs moto: `VENV=.venv scripts/with-moto cargo bench -p chasqui-tests
//! --bench cold_start` (`make bench` runs it). `COLD_START_SAMPLES` sets the
//! samples per row (default 30). `COLD_START_BEFORE=<dir>` adds, interleaved,
//! rows for the `webhook`, `sender` and `status` binaries in `<dir>` (say,
//! release builds of another commit), for a before/after in one run; several
//! directories, separated by `:` as in `PATH`, each add their rows, labelled
//! with the directory's name (say, builds with other profile settings).
//! `COLD_START_BINARIES=<dir>` takes the three functions from `<dir>` instead
//! of building this checkout's, and `COLD_START_HELLO=<file>` the
//! hello-world binary (by default this bench's own, built with its profile:
//! give a release one when the bench itself runs in another profile, as on a
//! machine too loaded for a release build of the bench and its dev-dependencies,
//! `cargo bench --profile dev`).

#[path = "../../shared/benches/support/payloads.rs"]
mod payloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chasqui_cli::runtime::{CapturedLogs, FunctionSpec, Invoke, LocalFunction};
use chasqui_cli::sandbox::{Sandbox, SandboxConfig};
use harness::proxy::{Call, RecordingProxy};
use serde_json::{Value, json};
use shared::intake::QueuedWebhook;

/// The overhead goal beyond hello-world and the required round trips (issue 16).
const OVERHEAD_GOAL_MS: f64 = 2.0;
/// The peak RSS goal (issue 16).
const RSS_GOAL_MIB: f64 = 10.0;

/// How long the services were answering at least one of `calls`: the
/// union of their intervals, so calls made at once (the status function's
/// event to two queues, a client made while a secret's call is under way)
/// count once, as the process waited for them once.
fn waited(calls: &[Call]) -> Duration {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.started, c.started + c.took))
        .collect();
    spans.sort();
    let mut total = Duration::ZERO;
    let mut open: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        open = match open {
            Some((from, to)) if start <= to => Some((from, to.max(end))),
            Some((from, to)) => {
                total += to - from;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + open.map_or(Duration::ZERO, |(from, to)| to - from)
}

/// One fresh process, one event.
struct Sample {
    init: Duration,
    to_response: Duration,
    /// CPU time of all its threads up to the response (`schedstat`).
    cpu: Duration,
    rss_kib: u64,
    /// RSS right after the response, split: heap, stacks and other
    /// anonymous memory, and the binary's (and libraries') mapped pages.
    anon_kib: u64,
    file_kib: u64,
    /// Round trips through the timing proxies, and the services' share.
    calls: usize,
    upstream: Duration,
}

/// A function under test and what it must answer.
struct Subject {
    label: String,
    spec: FunctionSpec,
    logs: Arc<CapturedLogs>,
    event: Value,
    /// Substrings of the event replaced by a value unique to each sample
    /// (message ids), so no sample is a replay of another.
    unique: &'static [&'static str],
    expect: fn(&Value, &Value) -> Result<(), String>,
    samples: Vec<Sample>,
}

impl Subject {
    fn new(
        label: impl Into<String>,
        spec: FunctionSpec,
        event: Value,
        expect: fn(&Value, &Value) -> Result<(), String>,
    ) -> Self {
        let logs = Arc::new(CapturedLogs::default());
        let mut spec = spec;
        spec.logs = logs.clone();
        spec.memory_mb = 128;
        spec.timeout = Duration::from_secs(30);
        Self {
            label: label.into(),
            spec,
            logs,
            event,
            unique: &[],
            expect,
            samples: Vec::new(),
        }
    }

    fn unique(mut self, unique: &'static [&'static str]) -> Self {
        self.unique = unique;
        self
    }

    /// This sample's event.
    fn event(&self) -> Value {
        if self.unique.is_empty() {
            return self.event.clone();
        }
        let tag = format!("{}-{}", harness::unique("cold"), self.samples.len());
        let mut text = self.event.to_string();
        for u in self.unique {
            text = text.replace(u, &format!("{u}-{tag}"));
        }
        serde_json::from_str(&text).expect("the event stays JSON")
    }

    /// Starts a fresh instance, invokes it once and stops it.
    async fn sample(&mut self, proxies: &[&RecordingProxy]) {
        let event = self.event();
        for proxy in proxies {
            proxy.take_calls();
        }
        let function = LocalFunction::new(self.spec.clone());
        let report = function.invoke_report(event.clone()).await;
        let pid = report.as_ref().ok().and_then(|r| r.pid);
        let cpu = pid.and_then(cpu_time);
        let rss_now = pid.and_then(rss_split);
        function.shutdown().await;
        let calls: Vec<Call> = proxies.iter().flat_map(|p| p.take_calls()).collect();
        let fail = |why: String| -> ! {
            panic!(
                "{}: {why}\n--- its last output ---\n{}",
                self.label,
                self.logs.tail(20)
            )
        };
        let report = report.unwrap_or_else(|e| fail(e.to_string()));
        if let Err(why) = (self.expect)(&event, &report.response) {
            fail(why);
        }
        let cold = report
            .cold_start
            .unwrap_or_else(|| fail("a fresh function did not cold start".into()));
        self.samples.push(Sample {
            init: cold.init,
            to_response: cold.to_first_response,
            cpu: cpu.unwrap_or_else(|| fail("no CPU time (is this Linux?)".into())),
            rss_kib: report
                .peak_rss_kib
                .unwrap_or_else(|| fail("no peak RSS (is this Linux?)".into())),
            anon_kib: rss_now.map_or(0, |(anon, _)| anon),
            file_kib: rss_now.map_or(0, |(_, file)| file),
            calls: calls.len(),
            upstream: waited(&calls),
        });
    }

    fn stats<T: Copy + Ord>(&self, f: impl Fn(&Sample) -> T) -> Stats<T> {
        Stats::of(self.samples.iter().map(f).collect())
    }
}

/// Median, 90th percentile (nearest rank) and minimum.
#[derive(Clone, Copy)]
struct Stats<T> {
    median: T,
    p90: T,
    min: T,
}

impl<T: Copy + Ord> Stats<T> {
    fn of(mut values: Vec<T>) -> Self {
        assert!(!values.is_empty(), "no samples");
        values.sort();
        let rank =
            |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Self {
            median: rank(0.5),
            p90: rank(0.9),
            min: values[0],
        }
    }
}

/// CPU time of every thread of `pid` so far (`/proc/<pid>/task/*/schedstat`,
/// nanoseconds on CPU): what the process itself spent, whatever the load.
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// `RssAnon` and `RssFile` of `pid` now (`/proc/<pid>/status`), KiB.
fn rss_split(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// An API Gateway HTTP API response with this status code.
fn status_is(code: u64) -> impl Fn(&Value) -> Result<(), String> {
    move |response: &Value| match response.get("statusCode").and_then(Value::as_u64) {
        Some(c) if c == code => Ok(()),
        _ => Err(format!("expected statusCode {code}, got {response}")),
    }
}

fn answers_200(_: &Value, response: &Value) -> Result<(), String> {
    status_is(200)(response)
}

/// An SQS batch answered without a failed record.
fn no_failures(_: &Value, response: &Value) -> Result<(), String> {
    if response == &json!({ "batchItemFailures": [] }) {
        Ok(())
    } else {
        Err(format!("expected no batch item failures, got {response}"))
    }
}

fn echoes(event: &Value, response: &Value) -> Result<(), String> {
    if response == event {
        Ok(())
    } else {
        Err(format!("expected the event back, got {response}"))
    }
}

/// The `.venv` Python (boto3 comes with moto), `VENV` overriding the path as
/// in the Makefile and `scripts/with-moto`.
fn python() -> PathBuf {
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".venv"));
    let venv = if venv.is_absolute() {
        venv
    } else {
        harness::root().join(venv)
    };
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: `make bench` installs moto (and boto3) into .venv",
        python.display()
    );
    python
}

fn baseline_dir() -> PathBuf {
    harness::root().join("tests/baseline")
}

/// A signed API Gateway HTTP API POST of `body`, from the repository's event.
fn post_event(body: &[u8]) -> Value {
    let mut event: Value = serde_json::from_str(&harness::event("webhook-post-status.json"))
        .expect("events/webhook-post-status.json is JSON");
    event["body"] = json!(String::from_utf8_lossy(body));
    event["headers"]["x-hub-signature-256"] = json!(harness::sign(body));
    event
}

fn answers_202(_: &Value, response: &Value) -> Result<(), String> {
    status_is(202)(response)
}

/// An API Gateway HTTP API request to the `api` function, from the
/// repository's webhook event (the same envelope, another route).
fn api_event(method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> Value {
    let mut event: Value = serde_json::from_str(&harness::event("webhook-post-status.json"))
        .expect("events/webhook-post-status.json is JSON");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["routeKey"] = json!(format!("{method} {path}"));
    event["headers"] = json!({"content-type": "application/json"});
    if let Some(key) = key {
        event["headers"]["authorization"] = json!(format!("Bearer {key}"));
    }
    match body {
        Some(body) => event["body"] = json!(body.to_string()),
        None => {
            if let Value::Object(map) = &mut event {
                map.remove("body");
            }
        }
    }
    event["isBase64Encoded"] = json!(false);
    event
}

/// Warm latency: one instance, `n` events after a first (cold) one, each
/// timed from the invocation to its response through the same local
/// runtime; (median, p90).
async fn warm(
    spec: &FunctionSpec,
    event: &Value,
    unique: &[&str],
    n: usize,
) -> (Duration, Duration) {
    let function = LocalFunction::new(spec.clone());
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        let mut text = event.to_string();
        for u in unique {
            text = text.replace(u, &format!("{u}-warm-{i}-{}", harness::unique("w")));
        }
        let event: Value = serde_json::from_str(&text).expect("the event stays JSON");
        let started = Instant::now();
        function
            .invoke(event)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        if i > 0 {
            times.push(started.elapsed());
        }
    }
    function.shutdown().await;
    let stats = Stats::of(times);
    (stats.median, stats.p90)
}

fn event_file(name: &str) -> Value {
    serde_json::from_str(&harness::event(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The response of one invocation of a fresh instance of `spec`.
async fn invoke_once(spec: &FunctionSpec, event: Value) -> Value {
    let function = LocalFunction::new(spec.clone());
    let response = function.invoke(event).await;
    function.shutdown().await;
    response.unwrap_or_else(|e| panic!("{}: {e}", spec.name))
}

/// Median of spawn → response less the sample's own round trips.
fn beyond_round_trips(s: &Subject) -> Duration {
    s.stats(|x| x.to_response.saturating_sub(x.upstream)).median
}

fn row(s: &Subject, hello: &Subject) {
    let init = s.stats(|x| x.init);
    let resp = s.stats(|x| x.to_response);
    let rss = s.stats(|x| x.rss_kib);
    let anon = s.stats(|x| x.anon_kib);
    let file = s.stats(|x| x.file_kib);
    let cpu = s.stats(|x| x.cpu);
    let calls = s.stats(|x| x.calls);
    let upstream = s.stats(|x| x.upstream);
    let overhead = ms(beyond_round_trips(s)) - ms(hello.stats(|x| x.to_response).median);
    println!(
        "{:<26} {:>6.1} {:>6.1} {:>6.1} | {:>6.1} {:>6.1} {:>6.1} | {:>6.1} | {:>5.1} {:>5.1} {:>5.1} {:>5.1} | {:>2} {:>6.1} | {:>+7.1} {:>+7.1}",
        s.label,
        ms(init.median),
        ms(init.p90),
        ms(init.min),
        ms(resp.median),
        ms(resp.p90),
        ms(resp.min),
        ms(cpu.median),
        mib(rss.median),
        mib(rss.p90),
        mib(anon.median),
        mib(file.median),
        calls.median,
        ms(upstream.median),
        overhead,
        ms(cpu.median) - ms(hello.stats(|x| x.cpu).median),
    );
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// Criterion's last median for `group/bench` (ns), if `webhook_intake` ran.
fn criterion_median_ns(target: &Path, group: &str, bench: &str) -> Option<f64> {
    let path = target
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let estimates: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

const WEBHOOK_POST: &str = "webhook POST 2 KB";
const API_POST: &str = "api POST /v1/messages";
const SENDER: &str = "sender, one template";
const STATUS: &str = "status, one delivered";
const HELLO: &str = "hello-world Rust";
const HELLO_MULTI: &str = "hello-world, multi-thread";
const PYTHON_POST: &str = "python POST 2 KB";

fn find<'a>(subjects: &'a [Subject], label: &str) -> &'a Subject {
    subjects
        .iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no row {label}"))
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: this
    // one needs moto and minutes, so it only runs under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("cold_start: a benchmark; run it with `make bench`");
        return;
    }
    let n: usize = std::env::var("COLD_START_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(30);

    // Prebuilt binaries instead of this checkout's: the functions, and the
    // hello-world floor (which otherwise comes with this bench's profile).
    let given = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let bin_dir = given("COLD_START_BINARIES").unwrap_or_else(|| {
        // Each built alone, as SAM builds them.
        let dir = harness::local::function_binaries_each_alone();
        assert!(
            dir.ends_with("release"),
            "cold starts are measured on release binaries; run this with `cargo bench` ({})",
            dir.display()
        );
        dir
    });
    let hello_bin = given("COLD_START_HELLO")
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hello_lambda")));
    let before_dirs: Vec<PathBuf> = std::env::var_os("COLD_START_BEFORE")
        .map(|dirs| std::env::split_paths(&dirs).collect())
        .unwrap_or_default();
    let python = python();
    let sqs = harness::sqs().await;
    let sm = harness::secrets_manager().await;
    let ddb = harness::dynamodb().await;
    let secret_id = harness::create_secret(&sm).await;
    let table = harness::create_table(&ddb).await;
    let python_queue = harness::create_queue(&sqs, "cold-start-python").await;
    let send_queue = harness::create_queue(&sqs, "cold-start-send").await;
    let dlq = harness::create_queue(&sqs, "cold-start-dlq").await;
    let events_queue = harness::create_queue(&sqs, "cold-start-events").await;
    // What the template gives each function beyond its job's own settings,
    // so each cold start makes what Lambda's would: the log key the status
    // function reads at init, the callbacks and media queues, and the
    // sender's media bucket and schedule group.
    let callbacks_queue = harness::create_queue(&sqs, "cold-start-callbacks").await;
    let media_queue = harness::create_queue(&sqs, "cold-start-media").await;
    let log_key_secret_id = harness::create_log_key_secret(&sm).await;
    let schedule_group = harness::create_schedule_group().await;

    // Every function, Python's too, reaches moto and the sandbox through a
    // timing proxy, so each sample knows its round trips.
    let moto_url =
        std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (run under scripts/with-moto)");
    let moto = RecordingProxy::start(&moto_url).await;
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let graph = RecordingProxy::start(&sandbox.url()).await;
    let proxies = [&moto, &graph];

    let body = payloads::typical();
    let post = post_event(&body);
    let handshake = event_file("webhook-handshake.json");
    let send = event_file("sender-template.json");
    let status = event_file("status-delivered.json");
    let per_post = shared::intake::split(
        shared::tenant::DEFAULT_APP,
        &body,
        0,
        shared::intake::MAX_BODY_BYTES,
    )
    .messages
    .len();

    let webhook = |dir: &Path, queue: &str| {
        FunctionSpec::new("webhook", dir.join("webhook"))
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("WHATSAPP_SECRET_ID", secret_id.as_str())
            .env("WEBHOOK_QUEUE_URL", queue)
    };
    let sender = |dir: &Path| {
        FunctionSpec::new("sender", dir.join("sender"))
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("WHATSAPP_SECRET_ID", secret_id.as_str())
            .env("TABLE_NAME", table.as_str())
            .env("GRAPH_API_BASE_URL", graph.url())
            .env("GRAPH_API_VERSION", "v25.0")
            .env("WHATSAPP_PHONE_NUMBER_ID", harness::local::PHONE_NUMBER_ID)
            .env("SEND_QUEUE_URL", send_queue.as_str())
            .env("SEND_MAX_RECEIVE_COUNT", "5")
            .env("UPSTREAM_EVENTS_QUEUE_URL", events_queue.as_str())
            .env("CALLBACKS_QUEUE_URL", callbacks_queue.as_str())
            .env("MEDIA_BUCKET", "cold-start-media")
            .env("SCHEDULE_GROUP", schedule_group.as_str())
            .env(
                "SCHEDULER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/cold-start-scheduler",
            )
            .env(
                "SEND_QUEUE_ARN",
                "arn:aws:sqs:us-east-1:123456789012:cold-start-send",
            )
    };
    let status_fn = |dir: &Path| {
        FunctionSpec::new("status", dir.join("status"))
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("TABLE_NAME", table.as_str())
            .env("WEBHOOK_DLQ_URL", dlq.as_str())
            .env("WEBHOOK_MAX_RECEIVE_COUNT", "5")
            .env("UPSTREAM_EVENTS_QUEUE_URL", events_queue.as_str())
            .env("CALLBACKS_QUEUE_URL", callbacks_queue.as_str())
            .env("MEDIA_QUEUE_URL", media_queue.as_str())
            .env("MEDIA_BUCKET", "cold-start-media")
            .env("LOG_KEY_SECRET_ID", log_key_secret_id.as_str())
    };
    let mut baseline = FunctionSpec::new("python-webhook", &python)
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("WHATSAPP_SECRET_ID", secret_id.as_str())
        .env("WEBHOOK_QUEUE_URL", python_queue.as_str())
        .env("_HANDLER", "webhook_handler.lambda_handler")
        // Bytecode cached as a deployed package would have it, outside the tree.
        .env(
            "PYTHONPYCACHEPREFIX",
            std::env::temp_dir()
                .join("chasqui-baseline-pycache")
                .display()
                .to_string(),
        );
    baseline.args = vec![baseline_dir().join("bootstrap.py").display().to_string()];
    // The floor, on the functions' current-thread runtime; and, for
    // comparison, on tokio's multi-thread one (the floor before they moved).
    let hello = FunctionSpec::new("hello", &hello_bin);
    let hello_multi = hello.clone().env("HELLO_MULTI_THREAD", "1");
    let rust_queue = harness::create_queue(&sqs, "cold-start-rust").await;
    let webhook_now = webhook(&bin_dir, &rust_queue);

    // Same answers from both implementations before timing anything; these
    // requests queue nothing.
    for (name, code) in [
        ("webhook-post-unsigned.json", 401),
        ("webhook-post-bad-signature.json", 403),
        ("webhook-handshake-wrong-token.json", 403),
    ] {
        for spec in [&webhook_now, &baseline] {
            let response = invoke_once(spec, event_file(name)).await;
            if let Err(why) = status_is(code)(&response) {
                panic!("{} on {name}: {why}", spec.name);
            }
        }
    }

    // The HTTP API: a key of the default tenant, a send and the health check.
    let api_key = {
        let new =
            shared::keys::generate("default", Some("bench"), shared::now_millis()).expect("a key");
        shared::keys::DynamoKeys::new(ddb.clone(), &table)
            .create(&new.item)
            .await
            .expect("the key is stored");
        shared::secrets::ExposeSecret::expose_secret(&new.key).to_owned()
    };
    let api_send_queue = harness::create_queue(&sqs, "cold-start-api").await;
    let callback_secret = harness::create_callback_secret(&sm).await;
    let schedule_group = harness::create_schedule_group().await;
    let api = FunctionSpec::new("api", bin_dir.join("api"))
        .env("AWS_ENDPOINT_URL", moto.url())
        .env("TABLE_NAME", table.as_str())
        .env("SEND_QUEUE_URL", api_send_queue.as_str())
        .env("WHATSAPP_PHONE_NUMBER_ID", harness::local::PHONE_NUMBER_ID)
        // Read at init (callback registration and cancels); a send or the
        // health check calls neither.
        .env("CALLBACK_SECRET_ID", callback_secret.as_str())
        .env("SCHEDULE_GROUP", schedule_group.as_str())
        .env(
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/bench-scheduler",
        )
        .env(
            "SEND_QUEUE_ARN",
            "arn:aws:sqs:us-east-1:123456789012:cold-start-api",
        )
        // The bench calls far above the default limit.
        .env("API_RATE_PER_MINUTE", "1000000");
    let api_post = api_event(
        "POST",
        "/v1/messages",
        Some(&api_key),
        Some(&json!({"id": "api-bench-1", "to": "+5511988887777",
            "message": {"type": "text", "text": {"body": "Olá"}}})),
    );
    let api_health = api_event("GET", "/v1/health", None, None);
    let api_ids: &[&str] = &["api-bench-1"];
    let sender_ids: &[&str] = &["local-template-1"];
    let status_ids: &[&str] = &["wamid.HBgNOUT1", "order-1234-shipped"];
    let mut subjects = vec![
        Subject::new(WEBHOOK_POST, webhook_now.clone(), post.clone(), answers_200),
        Subject::new(SENDER, sender(&bin_dir), send.clone(), no_failures).unique(sender_ids),
        Subject::new(STATUS, status_fn(&bin_dir), status.clone(), no_failures).unique(status_ids),
        Subject::new(HELLO, hello, post.clone(), echoes),
        Subject::new(HELLO_MULTI, hello_multi, post.clone(), echoes),
        Subject::new(PYTHON_POST, baseline.clone(), post.clone(), answers_200),
        Subject::new(
            "webhook GET handshake",
            webhook_now.clone(),
            handshake.clone(),
            answers_200,
        ),
        Subject::new("python GET handshake", baseline, handshake, answers_200),
        Subject::new(API_POST, api.clone(), api_post.clone(), answers_202).unique(api_ids),
        Subject::new("api GET /v1/health", api.clone(), api_health, answers_200),
    ];
    let mut queues = vec![
        ("webhook".to_owned(), rust_queue),
        ("python".to_owned(), python_queue.clone()),
    ];
    for dir in &before_dirs {
        // One directory: "(before)"; several: each by its name.
        let tag = match before_dirs.len() {
            1 => "before".to_owned(),
            _ => dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        };
        let name = tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
        let queue = harness::create_queue(&sqs, &format!("cold-start-{name}")).await;
        subjects.push(Subject::new(
            format!("{WEBHOOK_POST} ({tag})"),
            webhook(dir, &queue),
            post.clone(),
            answers_200,
        ));
        subjects.push(
            Subject::new(
                format!("{SENDER} ({tag})"),
                sender(dir),
                send.clone(),
                no_failures,
            )
            .unique(sender_ids),
        );
        subjects.push(
            Subject::new(
                format!("{STATUS} ({tag})"),
                status_fn(dir),
                status.clone(),
                no_failures,
            )
            .unique(status_ids),
        );
        queues.push((format!("webhook ({tag})"), queue));
    }
    eprintln!(
        "cold_start: {n} fresh processes per row, {} B signed POST, interleaved",
        body.len()
    );
    let started = Instant::now();
    // Round-robin, so machine noise spreads over every row alike.
    for _ in 0..n {
        for subject in subjects.iter_mut() {
            subject.sample(&proxies).await;
        }
    }
    eprintln!(
        "cold_start: sampled in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Both did the job: every POST queued its messages.
    for (label, queue) in &queues {
        let depth = harness::queue_depth(&sqs, queue).await;
        assert_eq!(
            depth,
            n * per_post,
            "{label}: {n} POSTs of {per_post} message(s) each should have queued {}, the queue holds {depth}",
            n * per_post
        );
        for message in harness::receive(&sqs, queue, 1).await.iter().take(1) {
            let body = message.body().unwrap_or_default();
            serde_json::from_str::<QueuedWebhook<Value>>(body).unwrap_or_else(|e| {
                panic!("{label} queued a message the status function cannot read ({e}): {body}")
            });
        }
    }

    // What the proxy's own hop adds to each round trip (counted as the
    // functions' overhead above, not subtracted): the same warm call from
    // here, direct and through the proxy.
    let proxied_sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&harness::aws().await)
            .endpoint_url(moto.url())
            .build(),
    );
    // Interleaved, after a warm-up of each, so both see the same load.
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for i in 0..=n.max(10) {
        for (client, times) in [(&sm, &mut direct), (&proxied_sm, &mut proxied)] {
            let started = Instant::now();
            client
                .get_secret_value()
                .secret_id(&secret_id)
                .send()
                .await
                .expect("GetSecretValue");
            if i > 0 {
                times.push(started.elapsed());
            }
        }
    }
    let (direct, proxied) = (Stats::of(direct).median, Stats::of(proxied).median);
    moto.take_calls();

    // Warm: one instance each, the webhook's POST beside the API's.
    let warm_n = n.max(20);
    let warm_rows = [
        (WEBHOOK_POST, warm(&webhook_now, &post, &[], warm_n).await),
        (API_POST, warm(&api, &api_post, api_ids, warm_n).await),
    ];

    let hello = find(&subjects, HELLO);
    println!();
    println!(
        "Cold start and memory: {n} fresh processes per row (spawn → first /next = init; spawn → response; CPU of the process up to its response)"
    );
    println!(
        "{:<26} {:>20} | {:>20} | {:>6} | {:>23} | {:>9} | {:>15}",
        "",
        "init ms",
        "spawn→response ms",
        "CPU ms",
        "peak RSS MiB",
        "round trips",
        "beyond hello ms"
    );
    println!(
        "{:<26} {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} | {:>6} | {:>5} {:>5} {:>5} {:>5} | {:>2} {:>6} | {:>7} {:>7}",
        "",
        "median",
        "p90",
        "min",
        "median",
        "p90",
        "min",
        "median",
        "med",
        "p90",
        "anon",
        "file",
        "n",
        "ms",
        "time",
        "CPU"
    );
    for subject in &subjects {
        row(subject, hello);
    }
    println!(
        "round trips: calls through the timing proxies and the time at least one was being answered (median per sample); \
         beyond hello: median(spawn→response − round trips) − hello-world's median spawn→response, and CPU − hello-world's CPU; \
         peak RSS: VmHWM (med, p90), and the RSS right after the response split into anonymous memory (heap, stacks) and mapped files (the binary's pages)"
    );
    println!(
        "the proxy's own hop (warm GetSecretValue from the bench, median): direct {:.2} ms, through the proxy {:.2} ms: {:+.2} ms a round trip, left in the overhead",
        ms(direct),
        ms(proxied),
        ms(proxied) - ms(direct)
    );
    println!(
        "queued: {} message(s) per POST on each of {} queues ({}), as expected",
        per_post,
        queues.len(),
        queues
            .iter()
            .map(|(l, _)| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!();
    println!(
        "Warm latency: one instance per row, {warm_n} invocations after its cold one, invocation → response through the local runtime (round trips to moto included)"
    );
    for (label, (median, p90)) in &warm_rows {
        println!(
            "{label:<26} median {:>6.2} ms   p90 {:>6.2} ms",
            ms(*median),
            ms(*p90)
        );
    }

    let (webhook_post, python_post) = (find(&subjects, WEBHOOK_POST), find(&subjects, PYTHON_POST));
    let t = |s: &Subject| ms(s.stats(|x| x.to_response).median);
    let init = |s: &Subject| ms(s.stats(|x| x.init).median);
    let rss = |s: &Subject| mib(s.stats(|x| x.rss_kib).median);
    let vs_hello = t(webhook_post) / t(hello);
    let vs_python = t(python_post) / t(webhook_post);
    let rss_ratio = rss(webhook_post) / rss(python_post);
    println!();
    println!(
        "Goals (medians; overhead = spawn → response less the sample's round trips, less hello-world's spawn → response):"
    );
    for label in [WEBHOOK_POST, SENDER, STATUS] {
        let s = find(&subjects, label);
        let overhead = ms(beyond_round_trips(s)) - t(hello);
        println!(
            "  {label:<24} overhead {overhead:>5.1} ms (goal <= {OVERHEAD_GOAL_MS} ms) {}   peak RSS {:>5.1} MiB (goal <= {RSS_GOAL_MIB} MiB) {}",
            verdict(overhead <= OVERHEAD_GOAL_MS),
            rss(s),
            verdict(rss(s) <= RSS_GOAL_MIB),
        );
    }
    println!(
        "  webhook / hello-world Rust  = {vs_hello:.2}x  (goal <= 1.5x)  {}   [init only: {:.2}x]",
        verdict(vs_hello <= 1.5),
        init(webhook_post) / init(hello)
    );
    println!(
        "  python / webhook time       = {vs_python:.1}x  (goal >= 5x)    {}   [init only: {:.1}x]",
        verdict(vs_python >= 5.0),
        init(python_post) / init(webhook_post)
    );
    println!(
        "  webhook RSS / python RSS    = {rss_ratio:.2}  (goal <= 0.33)  {}   (1/{:.1})",
        verdict(rss_ratio <= 1.0 / 3.0),
        1.0 / rss_ratio
    );

    // Warm: the baseline's pure verify + parse + split, per event, on the
    // criterion bench's payloads.
    let dir = std::env::temp_dir().join(format!("chasqui-cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp directory");
    let mut args = Vec::new();
    for (name, bytes) in [("2KB", payloads::typical()), ("1MB", payloads::batch())] {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, &bytes).expect("writing a payload");
        args.push(format!("{name}={}", path.display()));
    }
    let out = std::process::Command::new(&python)
        .current_dir(baseline_dir())
        .arg("warm_timing.py")
        .args(&args)
        .env("WHATSAPP_SECRET_ID", &secret_id)
        .env("WEBHOOK_QUEUE_URL", &python_queue)
        .output()
        .expect("running warm_timing.py");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "warm_timing.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warm: Value = serde_json::from_slice(&out.stdout).expect("warm_timing.py prints JSON");
    let target = bin_dir.parent().unwrap_or(&bin_dir).to_path_buf();
    println!();
    println!(
        "Warm verify + parse + split per event (Python: timeit, best of 7; Rust: criterion's last median)"
    );
    println!(
        "{:<8} {:>9} {:>9} {:>14} {:>14} {:>14} {:>10}",
        "payload", "bytes", "messages", "python µs", "rust µs", "hmac floor µs", "py / rust"
    );
    for name in ["2KB", "1MB"] {
        let py = &warm[name];
        let group = format!("webhook_{name}");
        let rust = criterion_median_ns(&target, &group, "verify_parse_split").map(|ns| ns / 1000.0);
        let floor = criterion_median_ns(&target, &group, "hmac_floor").map(|ns| ns / 1000.0);
        let show = |v: Option<f64>| v.map_or("not run".to_owned(), |v| format!("{v:.1}"));
        let python_us = py["per_event_us"].as_f64().unwrap_or(f64::NAN);
        println!(
            "{name:<8} {:>9} {:>9} {:>14.1} {:>14} {:>14} {:>10}",
            py["bytes"],
            py["messages"],
            python_us,
            show(rust),
            show(floor),
            rust.map_or("-".to_owned(), |r| format!("{:.1}x", python_us / r)),
        );
    }
    println!(
        "(rust columns: `cargo bench -p chasqui-shared --bench webhook_intake`, which `make bench` runs first)"
    );
}
