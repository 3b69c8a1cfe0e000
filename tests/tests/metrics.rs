//! The metrics, read from what the real binaries write: the `webhook`,
//! `sender` and `status` binaries run the local loop (moto, the Cloud API
//! sandbox), and every Embedded Metric Format line they print is parsed
//! and held to `shared::metrics` (names, units, dimension sets, bounded
//! values, namespace, timestamp), then summed and compared with what the
//! run did: the sends and how each ended, Meta's refusal and throttle by
//! class and code, the template, the statuses by kind, the inbound
//! messages and the opt-out, a webhook without a signature, and the lags.

use std::collections::BTreeMap;
use std::time::Duration;

use chasqui_cli::sandbox::SandboxConfig;
use harness::local::{LocalStack, StackOptions};
use harness::scenario::{STATUS_DELAYS, number, template};
use serde_json::{Value, json};
use shared::metrics::{self, MAX_VALUES, Metric};
use shared::record::Status;

const NAMESPACE: &str = "Chasqui/metrics-test";
const TEMPLATE: &str = "appointment_reminder";

/// One metric's values under one set of dimension values, from one line.
#[derive(Debug, Clone)]
struct Datum {
    function: String,
    metric: &'static Metric,
    dimensions: BTreeMap<String, String>,
    values: Vec<f64>,
}

/// Every EMF line the functions wrote, checked against `shared::metrics`
/// and taken apart into data. Panics naming the line that breaks the
/// contract.
fn read_metrics(lines: &[(String, String)], since_ms: u64) -> Vec<Datum> {
    let now = shared::now_millis();
    let mut data = Vec::new();
    for (function, line) in lines {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(aws) = doc.get("_aws") else {
            continue;
        };
        let timestamp = aws["Timestamp"].as_u64().unwrap_or_default();
        assert!(
            (since_ms..=now).contains(&timestamp),
            "[{function}] a timestamp outside the run: {line}"
        );
        assert!(
            doc.get("level").is_none() && doc.get("message").is_none(),
            "[{function}] metrics ride on their own lines, not on log events: {line}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert!(!directives.is_empty(), "{line}");
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
            for definition in directive["Metrics"].as_array().expect("metrics") {
                let name = definition["Name"].as_str().unwrap_or_default();
                let metric = metrics::metric(name).unwrap_or_else(|| {
                    panic!("[{function}] {name} is not in shared::metrics::ALL")
                });
                assert_eq!(metric.function, function, "{name} from {function}: {line}");
                assert_eq!(definition["Unit"], metric.unit.as_str(), "{line}");
                assert_eq!(
                    directive["Dimensions"],
                    json!(metric.dimension_sets),
                    "{name}'s dimension sets: {line}"
                );
                let mut dimensions = BTreeMap::new();
                for key in metric.keys {
                    let value = doc[key.name]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name} without its {}: {line}", key.name));
                    assert!(
                        key.admits(value),
                        "{name} {}={value} is out of bounds",
                        key.name
                    );
                    dimensions.insert(key.name.to_owned(), value.to_owned());
                }
                let values: Vec<f64> = match &doc[name] {
                    Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
                    one => one.as_f64().into_iter().collect(),
                };
                assert!(
                    !values.is_empty() && values.len() <= MAX_VALUES,
                    "{name}: 1 to {MAX_VALUES} values: {line}"
                );
                data.push(Datum {
                    function: function.clone(),
                    metric,
                    dimensions,
                    values,
                });
            }
        }
    }
    data
}

/// What the data say about one metric.
struct Metrics(Vec<Datum>);

impl Metrics {
    /// The values of `metric` whose dimensions include `filter`.
    fn values(&self, metric: &Metric, filter: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .iter()
            .filter(|d| d.metric.name == metric.name)
            .filter(|d| {
                filter
                    .iter()
                    .all(|(k, v)| d.dimensions.get(*k).map(String::as_str) == Some(v))
            })
            .flat_map(|d| d.values.iter().copied())
            .collect()
    }

    /// A count: the sum of the values.
    fn count(&self, metric: &Metric, filter: &[(&str, &str)]) -> u64 {
        self.values(metric, filter).iter().sum::<f64>() as u64
    }

    /// Every dimension-value set `metric` was recorded with, and its count.
    fn by_dimensions(&self, metric: &Metric) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for d in self.0.iter().filter(|d| d.metric.name == metric.name) {
            let key = d
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            *out.entry(key).or_default() += d.values.iter().sum::<f64>() as u64;
        }
        out
    }
}

/// The sender's last lines, for a failure message.
fn sender_tail(lines: &[(String, String)]) -> String {
    let sender: Vec<&String> = lines
        .iter()
        .filter(|(f, _)| f == "sender")
        .map(|(_, l)| l)
        .collect();
    let skip = sender.len().saturating_sub(8);
    sender[skip..]
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_of_a_local_run_count_what_happened() {
    let started = shared::now_millis();
    let good: Vec<String> = (0..3).map(|n| number("551193", n)).collect();
    let refused = number("1555400", 0);
    let writes_in = number("551194", 0);
    let stops = number("1555500", 0);
    let throttled = number("551195", 0);
    let sandbox = SandboxConfig {
        delays: STATUS_DELAYS,
        undeliverable: vec![refused.clone()],
        seed: Some(15),
        webhook_retry_ms: 200,
        ..SandboxConfig::default()
    };
    let env = ["webhook", "sender", "status"]
        .into_iter()
        .map(|f| (f, "METRICS_NAMESPACE", NAMESPACE.to_owned()))
        .collect();
    let stack = LocalStack::start(StackOptions {
        sandbox,
        env,
        ..StackOptions::default()
    })
    .await;

    // GIVEN a customer who wrote and one who sent STOP.
    stack
        .customers_write(
            std::slice::from_ref(&writes_in),
            std::slice::from_ref(&stops),
        )
        .await;

    // WHEN three templates go out, one to a number Meta refuses at once and
    // one to the customer who opted out,
    let mut requests: Vec<Value> = good
        .iter()
        .enumerate()
        .map(|(i, to)| template(&format!("m-{i}"), to, TEMPLATE, "pt_BR", &["Ana", "10h"]))
        .collect();
    requests.push(template(
        "m-refused",
        &refused,
        TEMPLATE,
        "pt_BR",
        &["Ana", "10h"],
    ));
    requests.push(template(
        "m-stop",
        &stops,
        TEMPLATE,
        "pt_BR",
        &["Ana", "10h"],
    ));
    stack.send_all(&requests).await;
    let ids: Vec<String> = ["m-0", "m-1", "m-2", "m-refused", "m-stop"]
        .map(String::from)
        .into();
    stack
        .wait_until("the sends settle", Duration::from_secs(60), || async {
            let records = stack.records(&ids).await;
            let status = |id: &str| records.get(id).map(|r| r.status());
            let done = ids[..3].iter().all(|id| status(id) == Some(Status::Read))
                && status("m-refused") == Some(Status::Failed)
                && status("m-stop") == Some(Status::Suppressed);
            if done {
                Ok(())
            } else {
                Err(format!(
                    "{:?}",
                    ids.iter().map(|id| status(id)).collect::<Vec<_>>()
                ))
            }
        })
        .await;

    // AND one more is throttled by Meta once (130429), then goes out,
    stack
        .sandbox
        .configure(&json!({"throttle_rate": 1.0}))
        .expect("the sandbox takes the patch");
    stack
        .send_all(&[template(
            "m-throttled",
            &throttled,
            TEMPLATE,
            "pt_BR",
            &["Bia", "11h"],
        )])
        .await;
    stack
        .wait_until("Meta throttles it", Duration::from_secs(30), || async {
            let data = Metrics(read_metrics(&stack.logs.lines(), started));
            match data.count(&metrics::SENDS, &[("Outcome", "retry")]) {
                0 => Err(format!(
                    "no retry yet; the sender's last lines:\n{}",
                    sender_tail(&stack.logs.lines())
                )),
                _ => Ok(()),
            }
        })
        .await;
    stack
        .sandbox
        .configure(&json!({"throttle_rate": 0.0}))
        .expect("the sandbox takes the patch");

    // AND a request arrives without a signature.
    let webhook = stack.local.webhook_url().expect("a webhook route");
    let answer = reqwest::Client::new()
        .post(&webhook)
        .header("content-type", "application/json")
        .body(r#"{"object":"whatsapp_business_account","entry":[]}"#)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(answer.status().as_u16(), 401);

    // THEN, once the last of it is written, the metrics say so.
    let expected_statuses = 4 * 3;
    stack
        .wait_until(
            "the metrics are written",
            Duration::from_secs(60),
            || async {
                let data = Metrics(read_metrics(&stack.logs.lines(), started));
                let sent = data.count(&metrics::SENDS, &[("Outcome", "sent")]);
                let statuses = data.count(&metrics::STATUSES, &[]);
                let unsigned = data.count(
                    &metrics::WEBHOOK_REQUESTS,
                    &[("Outcome", "signature_missing")],
                );
                if sent == 4 && statuses >= expected_statuses && unsigned == 1 {
                    Ok(())
                } else {
                    Err(format!(
                        "sent {sent}, statuses {statuses}, unsigned {unsigned}"
                    ))
                }
            },
        )
        .await;
    // Late duplicates would show as more than counted below.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lines = stack.logs.lines();
    let calls = stack.sandbox.calls();
    stack.stop().await;
    let data = Metrics(read_metrics(&lines, started));
    let finished = shared::now_millis();
    // What the metrics add to the log bytes (docs/metrics.md).
    let mut bytes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (function, line) in &lines {
        if line.contains("\"_aws\"") {
            let entry = bytes.entry(function.as_str()).or_default();
            entry.0 += 1;
            entry.1 += line.len() + 1;
        }
    }
    eprintln!("EMF lines and bytes by function: {bytes:?}");

    // Sends by outcome: each record's end, the throttled one twice.
    assert_eq!(
        data.by_dimensions(&metrics::SENDS),
        BTreeMap::from([
            ("Outcome=failed".to_owned(), 1),
            ("Outcome=retry".to_owned(), 1),
            ("Outcome=sent".to_owned(), 4),
            ("Outcome=suppressed".to_owned(), 1),
        ])
    );
    // Meta's refusal and its throttle, by class and code, as the sandbox
    // answered them.
    assert_eq!(
        data.by_dimensions(&metrics::SEND_ERRORS),
        BTreeMap::from([
            ("ErrorClass=permanent,ErrorCode=131026".to_owned(), 1),
            ("ErrorClass=throttled,ErrorCode=130429".to_owned(), 1),
        ])
    );
    let refusals: Vec<Option<i64>> = calls.iter().filter_map(|c| c.code.map(Some)).collect();
    assert_eq!(refusals.len(), 2, "the sandbox refused twice: {refusals:?}");
    // Template sends Meta answered for good.
    assert_eq!(
        data.by_dimensions(&metrics::TEMPLATE_SENDS),
        BTreeMap::from([
            (format!("Outcome=failed,Template={TEMPLATE}"), 1),
            (format!("Outcome=sent,Template={TEMPLATE}"), 4),
        ])
    );
    // One send lag per answer from Meta, each within the run.
    let lags = data.values(&metrics::SEND_LAG, &[]);
    assert_eq!(
        lags.len(),
        calls.len(),
        "one lag per Cloud API call: {lags:?}"
    );
    let run_ms = (finished - started) as f64;
    for lag in &lags {
        assert!(
            (0.0..run_ms).contains(lag),
            "send lag {lag} ms in a {run_ms} ms run"
        );
    }
    // The throttled send waited for its backoff (at least 1 s) before its
    // answer: the largest lag says so.
    assert!(
        lags.iter().copied().fold(0.0, f64::max) >= 1000.0,
        "{lags:?}"
    );

    // Statuses by kind: sent, delivered and read of each of the four.
    assert_eq!(
        data.by_dimensions(&metrics::STATUSES),
        BTreeMap::from([
            ("Status=delivered".to_owned(), 4),
            ("Status=read".to_owned(), 4),
            ("Status=sent".to_owned(), 4),
        ])
    );
    let status_lags = data.values(&metrics::STATUS_LAG, &[]);
    assert_eq!(status_lags.len() as u64, expected_statuses);
    for lag in &status_lags {
        // Meta's timestamps have whole seconds.
        assert!((0.0..run_ms + 1000.0).contains(lag), "status lag {lag} ms");
    }
    assert!(
        status_lags.iter().all(|lag| *lag < 30_000.0),
        "statuses are written within seconds locally: {status_lags:?}"
    );
    // The two inbound messages, the STOP among them, and its opt-out.
    assert_eq!(data.count(&metrics::INBOUND_MESSAGES, &[]), 2);
    assert_eq!(
        data.by_dimensions(&metrics::OPT_OUTS),
        BTreeMap::from([("Source=keyword".to_owned(), 1)])
    );
    assert!(data.by_dimensions(&metrics::OPT_INS).is_empty());
    // Every queued record applied, none retried or dead-lettered.
    let records = data.by_dimensions(&metrics::WEBHOOK_RECORDS);
    assert_eq!(records.keys().collect::<Vec<_>>(), ["Outcome=applied"]);

    // The webhook: the signed ones queued, the unsigned one refused, a
    // latency for each request.
    let requests = data.by_dimensions(&metrics::WEBHOOK_REQUESTS);
    assert_eq!(requests.get("Outcome=signature_missing"), Some(&1));
    // A request queues one record per change, at least one.
    let queued = requests.get("Outcome=queued").copied().unwrap_or_default();
    assert!(
        (1..=records["Outcome=applied"]).contains(&queued),
        "{requests:?} {records:?}"
    );
    assert_eq!(
        requests.len(),
        2,
        "only queued and signature_missing: {requests:?}"
    );
    let total: u64 = requests.values().sum();
    assert_eq!(
        data.values(&metrics::WEBHOOK_LATENCY, &[]).len() as u64,
        total
    );

    // Every metric of the run came from the function that owns it, and no
    // metric line names a customer.
    for d in &data.0 {
        assert_eq!(d.function, d.metric.function);
    }
    let customers = good
        .iter()
        .chain([&refused, &writes_in, &stops, &throttled])
        .map(|n| n.trim_start_matches('+').to_owned());
    let metric_lines: Vec<&String> = lines
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.contains("\"_aws\""))
        .collect();
    for customer in customers {
        for line in &metric_lines {
            assert!(
                !line.contains(&customer),
                "a metric line names {customer}: {line}"
            );
        }
    }
}
