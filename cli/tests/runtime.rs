//! The local Lambda runtime against a runtime client it did not write: a
//! few lines of Python speaking the documented Runtime API (as issue 7's
//! Python baseline does). Responses, function errors, crashes, timeouts,
//! init errors, warm reuse, concurrency, the clean environment and the
//! captured output.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chasqui_cli::runtime::{CapturedLogs, FunctionSpec, InvokeError, LocalFunction};
use serde_json::json;

const CLIENT: &str = r#"
import json, os, sys, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
if os.environ.get("FAIL_INIT"):
    body = json.dumps({"errorMessage": "bad config: FAIL_INIT", "errorType": "Runtime.InitError"}).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/init/error", data=body, method="POST"))
    sys.exit(1)
base = f"http://{api}/2018-06-01/runtime/invocation"
while True:
    with urllib.request.urlopen(f"{base}/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline = int(r.headers["Lambda-Runtime-Deadline-Ms"])
        arn = r.headers["Lambda-Runtime-Invoked-Function-Arn"]
        event = json.loads(r.read())
    print(json.dumps({"got": event}), flush=True)
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "exit" in event:
        os._exit(event["exit"])
    if "error" in event:
        path, body = f"{base}/{rid}/error", {"errorMessage": event["error"], "errorType": "Boom"}
    else:
        path, body = f"{base}/{rid}/response", {
            "echo": event, "pid": os.getpid(), "arn": arn, "deadline_ms": deadline,
            "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "memory": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
            "setting": os.environ.get("MY_SETTING"), "leaked": os.environ.get("CARGO_PKG_NAME"),
        }
    urllib.request.urlopen(urllib.request.Request(path, data=json.dumps(body).encode(), method="POST"))
"#;

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("python3")
}

fn function(
    concurrency: usize,
    logs: Arc<CapturedLogs>,
    env: &[(&str, &str)],
) -> Arc<LocalFunction> {
    let script =
        std::env::temp_dir().join(format!("chasqui-runtime-client-{}.py", std::process::id()));
    std::fs::write(&script, CLIENT).unwrap();
    let mut spec = FunctionSpec::new("echo", python());
    spec.args = vec![script.display().to_string()];
    spec.timeout = Duration::from_secs(2);
    spec.memory_mb = 128;
    spec.max_concurrency = concurrency;
    spec.logs = logs;
    for (k, v) in env {
        spec = spec.env(k, *v);
    }
    LocalFunction::new(spec)
}

#[tokio::test]
async fn responses_come_back_and_warm_instances_are_reused() {
    let logs = Arc::new(CapturedLogs::default());
    let f = function(1, logs.clone(), &[("MY_SETTING", "42")]);
    let first = f.invoke_report(json!({"n": 1})).await.unwrap();
    assert_eq!(first.response["echo"], json!({"n": 1}));
    assert_eq!(first.response["function"], "echo");
    assert_eq!(first.response["memory"], "128");
    assert_eq!(first.response["setting"], "42");
    assert_eq!(
        first.response["leaked"],
        json!(null),
        "only the function's own environment reaches it"
    );
    assert!(
        first.response["arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:echo")
    );
    assert!(first.response["deadline_ms"].as_u64().unwrap() > shared::now_millis());
    let cold = first
        .cold_start
        .expect("the first invocation starts the process");
    assert!(cold.init <= cold.to_first_response);
    assert!(first.peak_rss_kib.unwrap_or(0) > 0);

    let second = f.invoke_report(json!({"n": 2})).await.unwrap();
    assert!(second.cold_start.is_none());
    assert_eq!(second.pid, first.pid, "warm: the same process");
    assert_eq!(second.response["echo"]["n"], 2);
    let stats = f.stats();
    assert_eq!(
        (stats.invocations, stats.cold_starts, stats.errors),
        (2, 1, 0)
    );
    assert!(
        logs.lines()
            .iter()
            .any(|(name, l)| name == "echo" && l.contains(r#""got": {"n": 2}"#))
    );
    f.shutdown().await;
    assert!(matches!(
        f.invoke_report(json!({})).await,
        Err(InvokeError::ShutDown { .. })
    ));
}

#[tokio::test]
async fn errors_crashes_and_timeouts_are_told_apart() {
    let f = function(1, Arc::new(CapturedLogs::default()), &[]);
    let ok = f.invoke_report(json!({})).await.unwrap();
    match f.invoke_report(json!({"error": "no good"})).await {
        Err(InvokeError::Function {
            error_type,
            message,
            ..
        }) => {
            assert_eq!((error_type.as_str(), message.as_str()), ("Boom", "no good"));
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    // A function error keeps the instance.
    let after = f.invoke_report(json!({})).await.unwrap();
    assert_eq!(after.pid, ok.pid);

    assert!(matches!(
        f.invoke_report(json!({"exit": 3})).await,
        Err(InvokeError::Crashed { .. })
    ));
    let replaced = f.invoke_report(json!({})).await.unwrap();
    assert!(
        replaced.cold_start.is_some() && replaced.pid != ok.pid,
        "a crashed instance is replaced"
    );

    assert!(matches!(
        f.invoke_report(json!({"sleep": 5})).await,
        Err(InvokeError::Timeout { .. })
    ));
    let fresh = f.invoke_report(json!({})).await.unwrap();
    assert!(
        fresh.cold_start.is_some() && fresh.pid != replaced.pid,
        "a timed-out instance is discarded"
    );
    assert_eq!(f.stats().errors, 3);
    f.shutdown().await;
}

#[tokio::test]
async fn init_errors_and_missing_programs_are_reported() {
    let f = function(1, Arc::new(CapturedLogs::default()), &[("FAIL_INIT", "1")]);
    match f.invoke_report(json!({})).await {
        Err(InvokeError::Init { message, .. }) => {
            assert!(message.contains("bad config: FAIL_INIT"), "{message}")
        }
        other => panic!("expected an init error, got {other:?}"),
    }
    let missing = LocalFunction::new(FunctionSpec::new("ghost", "/nonexistent/bootstrap"));
    assert!(matches!(
        missing.invoke_report(json!({})).await,
        Err(InvokeError::Spawn { .. })
    ));
}

#[tokio::test]
async fn concurrency_starts_instances_up_to_the_limit() {
    let f = function(2, Arc::new(CapturedLogs::default()), &[]);
    let calls = (0..6).map(|i| {
        let f = f.clone();
        async move {
            f.invoke_report(json!({"sleep": 0.2, "i": i}))
                .await
                .unwrap()
        }
    });
    let reports = futures_util::future::join_all(calls).await;
    let pids: std::collections::HashSet<_> = reports.iter().map(|r| r.pid).collect();
    assert_eq!(pids.len(), 2, "two instances at most, both used");
    assert_eq!(f.stats().cold_starts, 2);
    f.shutdown().await;
}
