//! Cold start and memory, side by side in one run (issue 7): the release
//! `webhook` binary, a hello-world Rust Lambda (the floor) and the Python
//! baseline (`tests/baseline/`), each started as a fresh process under the
//! local Lambda Runtime API (`chasqui_cli::runtime`) and handed one event.
//! Every sample records spawn → first `/next` (init), spawn → response and
//! the process's peak RSS. Then the Python baseline's warm per-event cost on
//! the criterion bench's payloads, next to criterion's last numbers.
//!
//! Needs moto: `VENV=.venv scripts/with-moto cargo bench -p chasqui-tests
//! --bench cold_start` (`make bench` runs it). `COLD_START_SAMPLES` sets the
//! samples per row (default 30).

#[path = "../../shared/benches/support/payloads.rs"]
mod payloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chasqui_cli::runtime::{CapturedLogs, FunctionSpec, Invoke, LocalFunction};
use serde_json::{Value, json};
use shared::intake::QueuedWebhook;

/// Where Debian and Amazon Linux keep their one-file CA bundle.
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// One fresh process, one event.
struct Sample {
    init: Duration,
    to_response: Duration,
    rss_kib: u64,
}

/// A function under test and what it must answer.
struct Subject {
    label: &'static str,
    spec: FunctionSpec,
    logs: Arc<CapturedLogs>,
    event: Value,
    expect: fn(&Value, &Value) -> Result<(), String>,
    samples: Vec<Sample>,
}

impl Subject {
    fn new(
        label: &'static str,
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
            label,
            spec,
            logs,
            event,
            expect,
            samples: Vec::new(),
        }
    }

    /// Starts a fresh instance, invokes it once and stops it.
    async fn sample(&mut self) {
        let function = LocalFunction::new(self.spec.clone());
        let report = function.invoke_report(self.event.clone()).await;
        function.shutdown().await;
        let fail = |why: String| -> ! {
            panic!(
                "{}: {why}\n--- its last output ---\n{}",
                self.label,
                self.logs.tail(20)
            )
        };
        let report = report.unwrap_or_else(|e| fail(e.to_string()));
        if let Err(why) = (self.expect)(&self.event, &report.response) {
            fail(why);
        }
        let cold = report
            .cold_start
            .unwrap_or_else(|| fail("a fresh function did not cold start".into()));
        self.samples.push(Sample {
            init: cold.init,
            to_response: cold.to_first_response,
            rss_kib: report
                .peak_rss_kib
                .unwrap_or_else(|| fail("no peak RSS (is this Linux?)".into())),
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

fn row(s: &Subject) {
    let init = s.stats(|x| x.init);
    let resp = s.stats(|x| x.to_response);
    let rss = s.stats(|x| x.rss_kib);
    println!(
        "{:<24} {:>7.1} {:>7.1} {:>7.1} | {:>7.1} {:>7.1} {:>7.1} | {:>6.1} {:>6.1} {:>6.1}",
        s.label,
        ms(init.median),
        ms(init.p90),
        ms(init.min),
        ms(resp.median),
        ms(resp.p90),
        ms(resp.min),
        mib(rss.median),
        mib(rss.p90),
        mib(rss.min),
    );
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// The median of `n` timed runs of `call`.
async fn round_trip<F, Fut>(n: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call().await;
        times.push(started.elapsed());
    }
    Stats::of(times).median
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

    let bin_dir = harness::local::function_binaries();
    assert!(
        bin_dir.ends_with("release"),
        "cold starts are measured on release binaries; run this with `cargo bench` ({})",
        bin_dir.display()
    );
    let python = python();
    let sqs = harness::sqs().await;
    let sm = harness::secrets_manager().await;
    let secret_id = harness::create_secret(&sm).await;
    let rust_queue = harness::create_queue(&sqs, "cold-start-rust").await;
    let python_queue = harness::create_queue(&sqs, "cold-start-python").await;

    let body = payloads::typical();
    let post = post_event(&body);
    let handshake = event_file("webhook-handshake.json");
    let per_post = shared::intake::split(&body, 0, shared::intake::MAX_BODY_BYTES)
        .messages
        .len();

    let webhook = FunctionSpec::new("webhook", bin_dir.join("webhook"))
        .env("WHATSAPP_SECRET_ID", secret_id.as_str())
        .env("WEBHOOK_QUEUE_URL", rust_queue.as_str());
    let mut baseline = FunctionSpec::new("python-webhook", &python)
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
    let hello = FunctionSpec::new("hello", env!("CARGO_BIN_EXE_hello_lambda"));

    // Same answers from both implementations before timing anything; these
    // requests queue nothing.
    for (name, code) in [
        ("webhook-post-unsigned.json", 401),
        ("webhook-post-bad-signature.json", 403),
        ("webhook-handshake-wrong-token.json", 403),
    ] {
        for spec in [&webhook, &baseline] {
            let response = invoke_once(spec, event_file(name)).await;
            if let Err(why) = status_is(code)(&response) {
                panic!("{} on {name}: {why}", spec.name);
            }
        }
    }

    let mut subjects = vec![
        Subject::new(
            "webhook POST 2 KB",
            webhook.clone(),
            post.clone(),
            answers_200,
        ),
        Subject::new("hello-world Rust", hello, post.clone(), echoes),
        Subject::new(
            "python POST 2 KB",
            baseline.clone(),
            post.clone(),
            answers_200,
        ),
        Subject::new(
            "webhook GET handshake",
            webhook.clone(),
            handshake.clone(),
            answers_200,
        ),
        Subject::new("python GET handshake", baseline, handshake, answers_200),
    ];
    let mut queues = vec![("webhook", rust_queue), ("python", python_queue.clone())];
    // What-if: the TLS roots read from one CA bundle (`SSL_CERT_FILE`)
    // instead of the bundle plus every file of the probed certificate
    // directory, which rustls-native-certs parses at the first request.
    if let Some(bundle) = CA_BUNDLES.iter().find(|p| Path::new(p).is_file()) {
        let queue = harness::create_queue(&sqs, "cold-start-one-ca-file").await;
        subjects.push(Subject::new(
            "webhook POST, 1 CA file",
            webhook
                .env("SSL_CERT_FILE", *bundle)
                .env("WEBHOOK_QUEUE_URL", queue.as_str()),
            post.clone(),
            answers_200,
        ));
        queues.push(("webhook, 1 CA file", queue));
    }
    eprintln!(
        "cold_start: {n} fresh processes per row, {} B signed POST, interleaved",
        body.len()
    );
    let started = Instant::now();
    // Round-robin, so machine noise spreads over every row alike.
    for _ in 0..n {
        for subject in subjects.iter_mut() {
            subject.sample().await;
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

    // The emulator's own latency, part of every webhook sample (one secret
    // fetch at init, one SendMessageBatch per POST).
    let get_secret = round_trip(n, || async {
        sm.get_secret_value()
            .secret_id(&secret_id)
            .send()
            .await
            .expect("GetSecretValue");
    })
    .await;
    let scratch = harness::create_queue(&sqs, "cold-start-scratch").await;
    let send_batch = round_trip(n, || async {
        sqs.send_message_batch()
            .queue_url(&scratch)
            .entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id("0")
                    .message_body(String::from_utf8_lossy(&body))
                    .build()
                    .expect("an entry"),
            )
            .send()
            .await
            .expect("SendMessageBatch");
    })
    .await;

    println!();
    println!(
        "Cold start and memory: {n} fresh processes per row (spawn → first /next = init; spawn → response)"
    );
    println!(
        "{:<24} {:>23} | {:>23} | {:>20}",
        "", "init ms", "spawn→response ms", "peak RSS MiB"
    );
    println!(
        "{:<24} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} | {:>6} {:>6} {:>6}",
        "", "median", "p90", "min", "median", "p90", "min", "median", "p90", "min"
    );
    for subject in &subjects {
        row(subject);
    }
    println!(
        "moto round trips (warm client, median): GetSecretValue {:.2} ms, SendMessageBatch {:.2} ms",
        ms(get_secret),
        ms(send_batch)
    );
    println!(
        "queued: {} message(s) per POST on each of {} queues ({}), as expected",
        per_post,
        queues.len(),
        queues
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>()
            .join(", ")
    );

    let (webhook_post, hello, python_post) = (&subjects[0], &subjects[1], &subjects[2]);
    let t = |s: &Subject| ms(s.stats(|x| x.to_response).median);
    let init = |s: &Subject| ms(s.stats(|x| x.init).median);
    let rss = |s: &Subject| mib(s.stats(|x| x.rss_kib).median);
    let vs_hello = t(webhook_post) / t(hello);
    let vs_python = t(python_post) / t(webhook_post);
    let rss_ratio = rss(webhook_post) / rss(python_post);
    println!();
    println!("Goals (medians, spawn → response of the POST):");
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
    if let Some(one_file) = subjects.get(5) {
        println!(
            "  what-if, one CA file: webhook / hello-world Rust = {:.2}x, python / webhook = {:.1}x (not counted above)",
            t(one_file) / t(hello),
            t(python_post) / t(one_file)
        );
    }

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
