//! A local Lambda: the documented Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `.../{id}/response`,
//! `.../{id}/error`, `/runtime/init/error`) in front of real function
//! binaries, one process per concurrent invocation as Lambda runs them.
//!
//! Each instance is a process with its own Runtime API endpoint
//! (`AWS_LAMBDA_RUNTIME_API`), a clean environment (Lambda's variables plus
//! the function's), and its output forwarded line by line to a [`LogSink`].
//! Instances are started on demand up to the function's concurrency and
//! reused while warm; a crash or a timeout discards the instance, as Lambda
//! discards the execution environment. [`LocalFunction::invoke_report`]
//! also says whether the invocation was a cold start, how long the start
//! took and the process's peak RSS, for benchmarks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::http::Server;

/// Invokes a function by name with a JSON event: the local runtime, or any
/// Lambda Invoke API (`cargo lambda watch`).
#[async_trait]
pub trait Invoke: Send + Sync {
    fn name(&self) -> &str;
    async fn invoke(&self, payload: Value) -> Result<Value, InvokeError>;
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The handler reported an error (`/error`): Lambda's function error.
    #[error("{function} returned an error: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    /// The process failed before it asked for its first event.
    #[error("{function} failed to start: {message}")]
    Init { function: String, message: String },
    /// The process exited while handling the event.
    #[error("{function} exited during the invocation ({status})")]
    Crashed { function: String, status: String },
    #[error("{function} timed out after {timeout:?}")]
    Timeout { function: String, timeout: Duration },
    #[error("could not start {function} from {program}: {reason}")]
    Spawn {
        function: String,
        program: String,
        reason: String,
    },
    #[error("{function} answered with a body that is not JSON: {reason}")]
    BadResponse { function: String, reason: String },
    #[error("the Invoke API at {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("{function} is shut down")]
    ShutDown { function: String },
}

/// Where function output goes.
pub trait LogSink: Send + Sync {
    fn line(&self, function: &str, line: &str);
}

/// Prefixes each line with the function's name, on stderr.
pub struct ConsoleLogs;

impl LogSink for ConsoleLogs {
    fn line(&self, function: &str, line: &str) {
        eprintln!("[{function}] {line}");
    }
}

/// Keeps every line in memory, for tests (which search it, e.g. for secrets).
#[derive(Default)]
pub struct CapturedLogs {
    lines: Mutex<Vec<(String, String)>>,
}

impl CapturedLogs {
    /// `(function, line)` pairs in arrival order.
    pub fn lines(&self) -> Vec<(String, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The last `n` lines, formatted for a failure message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let skip = lines.len().saturating_sub(n);
        lines
            .iter()
            .skip(skip)
            .map(|(f, l)| format!("[{f}] {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl LogSink for CapturedLogs {
    fn line(&self, function: &str, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((function.to_owned(), line.to_owned()));
        }
    }
}

/// Discards output.
pub struct NullLogs;

impl LogSink for NullLogs {
    fn line(&self, _: &str, _: &str) {}
}

/// How to run one function.
#[derive(Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The function's configuration (the template's `Environment`, AWS
    /// endpoint and credentials). Nothing else of this process's
    /// environment reaches the function.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Instances at once (the event source's `MaximumConcurrency`).
    pub max_concurrency: usize,
    pub logs: Arc<dyn LogSink>,
}

impl FunctionSpec {
    pub fn new(name: &str, program: impl Into<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            program: program.into(),
            args: Vec::new(),
            env: aws_passthrough(),
            timeout: Duration::from_secs(30),
            memory_mb: 256,
            max_concurrency: 1,
            logs: Arc::new(ConsoleLogs),
        }
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.into()));
        self
    }
}

/// The AWS SDK's standard settings of this process (endpoint, region,
/// credentials, log filter), to hand to a function.
pub fn aws_passthrough() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_ENDPOINT_URL")
                || matches!(
                    k.as_str(),
                    "AWS_REGION"
                        | "AWS_DEFAULT_REGION"
                        | "AWS_ACCESS_KEY_ID"
                        | "AWS_SECRET_ACCESS_KEY"
                        | "AWS_SESSION_TOKEN"
                        | "RUST_LOG"
                )
        })
        .collect()
}

/// Whether an invocation started an instance, and what that cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    /// Spawn to the first `/next` (Lambda's init duration).
    pub init: Duration,
    /// Spawn to the response of the first event.
    pub to_first_response: Duration,
}

/// One invocation and what it took.
#[derive(Debug, Clone)]
pub struct Report {
    pub response: Value,
    /// Hand-off of the event to its response.
    pub duration: Duration,
    pub cold_start: Option<ColdStart>,
    pub pid: Option<u32>,
    /// `VmHWM` of the instance after the response (Linux), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// Invocation counters of a function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionStats {
    pub invocations: u64,
    pub errors: u64,
    pub cold_starts: u64,
}

/// A function served by local processes.
pub struct LocalFunction {
    spec: FunctionSpec,
    permits: Semaphore,
    idle: Mutex<Vec<Instance>>,
    /// Process ids of the instances handling an event now.
    busy: Mutex<Vec<u32>>,
    closed: AtomicBool,
    invocations: AtomicU64,
    errors: AtomicU64,
    cold_starts: AtomicU64,
}

impl LocalFunction {
    pub fn new(spec: FunctionSpec) -> Arc<Self> {
        Arc::new(Self {
            permits: Semaphore::new(spec.max_concurrency.max(1)),
            spec,
            idle: Mutex::new(Vec::new()),
            busy: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cold_starts: AtomicU64::new(0),
        })
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    pub fn stats(&self) -> FunctionStats {
        FunctionStats {
            invocations: self.invocations.load(Ordering::SeqCst),
            errors: self.errors.load(Ordering::SeqCst),
            cold_starts: self.cold_starts.load(Ordering::SeqCst),
        }
    }

    /// Process ids of the instances handling an event right now (to kill
    /// one mid-invocation, as a crash would: the runtime then discards it).
    pub fn busy_pids(&self) -> Vec<u32> {
        self.busy.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Invokes the function and reports how it went.
    pub async fn invoke_report(&self, payload: Value) -> Result<Report, InvokeError> {
        let name = &self.spec.name;
        if self.closed.load(Ordering::SeqCst) {
            return Err(InvokeError::ShutDown {
                function: name.clone(),
            });
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| InvokeError::ShutDown {
                function: name.clone(),
            })?;
        self.invocations.fetch_add(1, Ordering::SeqCst);
        let warm = self.take_idle();
        let mut instance = match warm {
            Some(instance) => instance,
            None => {
                self.cold_starts.fetch_add(1, Ordering::SeqCst);
                Instance::spawn(&self.spec).await?
            }
        };
        let pid = instance.pid;
        if let (Some(pid), Ok(mut busy)) = (pid, self.busy.lock()) {
            busy.push(pid);
        }
        let result = instance.invoke(&self.spec, payload).await;
        if let (Some(pid), Ok(mut busy)) = (pid, self.busy.lock()) {
            busy.retain(|p| *p != pid);
        }
        match &result {
            Ok(_) | Err(InvokeError::Function { .. }) | Err(InvokeError::BadResponse { .. }) => {
                if self.closed.load(Ordering::SeqCst) {
                    instance.kill().await;
                } else if let Ok(mut idle) = self.idle.lock() {
                    idle.push(instance);
                }
            }
            Err(_) => instance.kill().await,
        }
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut instance) = idle.pop() {
            // An instance that died while idle is replaced, as Lambda would.
            if instance.alive() {
                return Some(instance);
            }
        }
        None
    }

    /// Stops every instance; later invocations fail with `ShutDown`.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        let instances: Vec<Instance> = self
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        for instance in instances {
            instance.kill().await;
        }
    }
}

#[async_trait]
impl Invoke for LocalFunction {
    fn name(&self) -> &str {
        &self.spec.name
    }

    async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        self.invoke_report(payload).await.map(|r| r.response)
    }
}

/// A Lambda Invoke API endpoint, such as `cargo lambda watch` serves.
pub struct InvokeApi {
    name: String,
    url: String,
    http: reqwest::Client,
}

impl InvokeApi {
    /// `base` like `http://127.0.0.1:9000`.
    pub fn new(base: &str, name: &str, timeout: Duration) -> Self {
        Self {
            name: name.to_owned(),
            url: format!(
                "{}/2015-03-31/functions/{name}/invocations",
                base.trim_end_matches('/')
            ),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }
}

#[async_trait]
impl Invoke for InvokeApi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        let transport = |reason: String| InvokeError::Transport {
            url: self.url.clone(),
            reason,
        };
        let resp = self
            .http
            .post(&self.url)
            .json(&payload)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(e.to_string()))?;
        if !status.is_success() {
            return Err(transport(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| InvokeError::BadResponse {
            function: self.name.clone(),
            reason: e.to_string(),
        })?;
        match function_error {
            Some(kind) => Err(InvokeError::Function {
                function: self.name.clone(),
                error_type: value
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or(&kind)
                    .to_owned(),
                message: value
                    .get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            None => Ok(value),
        }
    }
}

/// What the handler answered through the Runtime API.
enum Answer {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    answer: oneshot::Sender<Answer>,
}

/// The Runtime API state of one instance.
struct Api {
    function: String,
    arn: String,
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    current: Mutex<Option<(String, oneshot::Sender<Answer>)>>,
    init_error: Mutex<Option<String>>,
    /// When the process first asked for an event.
    ready_at: Mutex<Option<Instant>>,
}

struct Instance {
    child: Child,
    pid: Option<u32>,
    api: Arc<Api>,
    tx: mpsc::Sender<Invocation>,
    _server: Server,
    spawned_at: Instant,
    served: u64,
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

fn request_id() -> String {
    let n = REQUEST_SEQ.fetch_add(1, Ordering::SeqCst);
    let r = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (r >> 32) as u32,
        (r >> 16) as u16,
        (r & 0xfff) as u16,
        (n >> 48) as u16 & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

impl Instance {
    async fn spawn(spec: &FunctionSpec) -> Result<Self, InvokeError> {
        let (tx, rx) = mpsc::channel(1);
        let api = Arc::new(Api {
            function: spec.name.clone(),
            arn: format!(
                "arn:aws:lambda:{}:123456789012:function:{}",
                spec.env
                    .iter()
                    .find(|(k, _)| k == "AWS_REGION")
                    .map_or("us-east-1", |(_, v)| v.as_str()),
                spec.name
            ),
            next: tokio::sync::Mutex::new(rx),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            ready_at: Mutex::new(None),
        });
        let spawn_error = |reason: String| InvokeError::Spawn {
            function: spec.name.clone(),
            program: spec.program.display().to_string(),
            reason,
        };
        let server = Server::bind(([127, 0, 0, 1], 0).into(), runtime_api(api.clone()))
            .await
            .map_err(|e| spawn_error(format!("no port for its Runtime API: {e}")))?;
        let mut env: HashMap<String, String> = HashMap::from(
            [
                ("AWS_LAMBDA_RUNTIME_API", server.addr().to_string()),
                ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
                (
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                    spec.memory_mb.to_string(),
                ),
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/{}", spec.name),
                ),
                (
                    "AWS_LAMBDA_LOG_STREAM_NAME",
                    format!("local/[$LATEST]{:016x}", fastrand::u64(..)),
                ),
                ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
                ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
                ("_HANDLER", "bootstrap".into()),
                ("TZ", ":UTC".into()),
                ("LANG", "en_US.UTF-8".into()),
                ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        for (k, v) in &spec.env {
            env.insert(k.clone(), v.clone());
        }
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: a Ctrl-C in the terminal reaches the
        // supervisor, which stops functions in order.
        #[cfg(unix)]
        command.process_group(0);
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(|e| spawn_error(e.to_string()))?;
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = spec.logs.clone();
            let name = spec.name.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.line(&name, &line);
                }
            });
        }
        Ok(Self {
            pid: child.id(),
            child,
            api,
            tx,
            _server: server,
            spawned_at,
            served: 0,
        })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    async fn invoke(&mut self, spec: &FunctionSpec, payload: Value) -> Result<Report, InvokeError> {
        let function = spec.name.clone();
        let cold = self.served == 0;
        self.served += 1;
        let (answer_tx, answer_rx) = oneshot::channel();
        let deadline_ms = shared::now_millis() + spec.timeout.as_millis() as u64;
        let invocation = Invocation {
            request_id: request_id(),
            payload: Bytes::from(payload.to_string()),
            deadline_ms,
            answer: answer_tx,
        };
        let started = Instant::now();
        if self.tx.send(invocation).await.is_err() {
            return Err(InvokeError::Crashed {
                function,
                status: "its Runtime API is gone".into(),
            });
        }
        // A cold instance gets its init time on top, as Lambda's timeout
        // covers only the invocation (init has its own 10 s budget).
        let budget = if cold {
            spec.timeout + Duration::from_secs(10)
        } else {
            spec.timeout
        };
        let answer = tokio::select! {
            answer = answer_rx => answer.ok(),
            status = self.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                let ready = self.api.ready_at.lock().ok().and_then(|r| *r);
                let init_error = self.api.init_error.lock().ok().and_then(|e| e.clone());
                return Err(match (ready, init_error) {
                    (_, Some(message)) => InvokeError::Init { function, message: format!("{message} ({status})") },
                    (None, None) => InvokeError::Init { function, message: format!("exited before asking for an event ({status}); see its log") },
                    (Some(_), None) => InvokeError::Crashed { function, status },
                });
            }
            _ = tokio::time::sleep(budget) => {
                return Err(InvokeError::Timeout { function, timeout: spec.timeout });
            }
        };
        let duration = started.elapsed();
        let answer = answer.ok_or_else(|| InvokeError::Crashed {
            function: function.clone(),
            status: "the Runtime API dropped the invocation".into(),
        })?;
        let body = match answer {
            Answer::Response(body) => body,
            Answer::Error { error_type, body } => {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                return Err(InvokeError::Function {
                    function,
                    error_type: parsed
                        .get("errorType")
                        .and_then(Value::as_str)
                        .unwrap_or(&error_type)
                        .to_owned(),
                    message: parsed
                        .get("errorMessage")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned()),
                });
            }
        };
        let response: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| InvokeError::BadResponse {
                function: function.clone(),
                reason: e.to_string(),
            })?
        };
        let cold_start = cold.then(|| {
            let ready = self.api.ready_at.lock().ok().and_then(|r| *r);
            ColdStart {
                init: ready.map_or(Duration::ZERO, |r| r.duration_since(self.spawned_at)),
                to_first_response: self.spawned_at.elapsed(),
            }
        });
        Ok(Report {
            response,
            duration,
            cold_start,
            pid: self.pid,
            peak_rss_kib: self.pid.and_then(peak_rss_kib),
        })
    }
}

/// `VmHWM` from `/proc/<pid>/status`, KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The Runtime API of one instance; anything else is answered `404`.
fn runtime_api(api: Arc<Api>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(api)
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    if let Ok(mut ready) = api.ready_at.lock() {
        ready.get_or_insert_with(Instant::now);
    }
    let invocation = api.next.lock().await.recv().await;
    let Some(inv) = invocation else {
        return (
            StatusCode::GONE,
            Json(json!({"errorMessage": "shutting down"})),
        )
            .into_response();
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in [
        ("lambda-runtime-aws-request-id", inv.request_id.clone()),
        ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", api.arn.clone()),
        (
            "lambda-runtime-trace-id",
            format!(
                "Root=1-{:08x}-{:024x};Sampled=0",
                shared::now_millis() / 1000,
                fastrand::u128(..) >> 32
            ),
        ),
    ] {
        if let Ok(v) = value.parse() {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    if let Ok(mut current) = api.current.lock() {
        *current = Some((inv.request_id, inv.answer));
    }
    (headers, inv.payload).into_response()
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let message = error_text(&body);
    tracing::warn!(
        function = api.function.as_str(),
        error = message.as_str(),
        "function init error"
    );
    if let Ok(mut e) = api.init_error.lock() {
        *e = Some(message);
    }
    accepted()
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> Response {
    answer(&api, &id, Answer::Response(body))
}

async fn error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_owned();
    answer(&api, &id, Answer::Error { error_type, body })
}

/// Hands the handler's answer to the invocation `id` waits on.
fn answer(api: &Api, id: &str, answer: Answer) -> Response {
    let pending = api
        .current
        .lock()
        .ok()
        .and_then(|mut current| match current.as_ref() {
            Some((current_id, _)) if current_id == id => current.take(),
            _ => None,
        });
    let Some((_, waiting)) = pending else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorMessage": format!("no invocation {id} is in progress"), "errorType": "InvalidRequestID"})),
        )
            .into_response();
    };
    let _ = waiting.send(answer);
    accepted()
}

fn error_text(body: &Bytes) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (
        parsed.get("errorType").and_then(Value::as_str),
        parsed.get("errorMessage").and_then(Value::as_str),
    ) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_owned(),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

async fn not_found(uri: Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"errorMessage": format!("unknown Runtime API path {}", uri.path()), "errorType": "NotFound"})),
    )
        .into_response()
}
