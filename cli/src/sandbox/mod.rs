//! The Cloud API sandbox: a local stand-in for Meta's `messages` endpoint
//! that answers as Meta does (success or Meta's error object with real
//! codes) and then reports each accepted message through signed status
//! webhooks, with configurable delays and faults: transient errors, lost
//! responses, throttling, duplicated and reordered webhooks. A control API
//! under `/_sandbox/` lets a test or a person play the customer and see
//! every call it received.
//!
//! Routes:
//! - `POST /{version}/{phone_number_id}/messages`: the Cloud API.
//! - `POST /_sandbox/inbound`: a customer writes ([`Inbound`]).
//! - `GET /_sandbox/calls[?callback=ID]`: calls received, with a summary per
//!   `biz_opaque_callback_data`.
//! - `GET|POST /_sandbox/config`: the configuration; a POST merges a
//!   partial document.
//! - `GET /_sandbox/webhooks`: webhook delivery counters.
//! - `POST /_sandbox/reset`: forgets calls, windows and inbound messages.
//! - `GET /_sandbox/health`.

pub mod client;
pub mod config;
pub mod validate;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use hyper::http::{Method, Request, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

pub use self::config::{Delays, SandboxApp, SandboxConfig, Template};
use self::validate::{Call, Outbound, Refusal};
use self::webhooks::StatusEvent;
pub use self::webhooks::{ButtonReply, Inbound, InteractiveReply};
use crate::http::{self, Reply, Server};

/// The business number used when a call or an inbound message names none.
pub const DEFAULT_PHONE_NUMBER_ID: &str = "1122334455";
/// Meta's customer service window.
const WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// What became of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered 200; the message goes out and its statuses follow.
    Accepted,
    /// Accepted, but the answer was held past `timeout_ms` (a lost
    /// response): the caller cannot know the message went out.
    TimedOut,
    /// Answered with Meta's error; nothing was sent.
    Refused,
}

/// One call to the messages endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    pub at_ms: u64,
    pub phone_number_id: String,
    /// The message type, `read` for a read receipt, or `unknown` when the
    /// body did not say.
    pub kind: String,
    pub to: Option<String>,
    /// `biz_opaque_callback_data`: Chasqui's message id.
    pub callback: Option<String>,
    pub outcome: Outcome,
    pub http_status: u16,
    pub code: Option<i64>,
    pub wamid: Option<String>,
}

/// The calls for one `biz_opaque_callback_data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    pub calls: usize,
    /// Calls after which the message went out (accepted or timed out):
    /// more than one means the person got it more than once.
    pub delivered: usize,
    /// Meta codes of the refused calls, in order.
    pub refused: Vec<i64>,
}

/// Webhook delivery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStats {
    /// Webhooks planned (statuses, duplicates and inbound messages).
    pub scheduled: u64,
    /// Answered 200.
    pub delivered: u64,
    /// Attempts that failed (non-200 or no answer) and were retried.
    pub retried: u64,
    /// Given up after `webhook_attempts`.
    pub given_up: u64,
    /// Not yet delivered or given up (waiting for their time, a webhook
    /// URL, or a retry).
    pub pending: u64,
}

/// The answer to `POST /_sandbox/inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundReceipt {
    pub wamid: String,
    /// The webhook's HTTP status on the first attempt, if it got one.
    pub webhook_status: Option<u16>,
    /// Whether the webhook was answered 200; if not it is retried in the
    /// background.
    pub delivered: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running sandbox. Stops (and drops every pending webhook) on
/// [`Sandbox::stop`] or drop.
pub struct Sandbox {
    inner: Arc<Inner>,
    server: Option<Server>,
}

struct Inner {
    state: Mutex<State>,
    http: reqwest::Client,
    stats: Counters,
    gate: Semaphore,
    stop: watch::Sender<bool>,
    /// Distinguishes this run's wamids from an earlier run's.
    boot: String,
}

#[derive(Default)]
struct Counters {
    scheduled: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    given_up: AtomicU64,
    pending: AtomicU64,
}

struct State {
    config: SandboxConfig,
    rng: fastrand::Rng,
    seq: u64,
    calls: Vec<CallRecord>,
    /// Last inbound message per customer (E.164 digits), Unix ms.
    windows: HashMap<String, u64>,
    inbound_ids: HashSet<String>,
    /// Recent calls per business number, for the rate limit.
    recent: HashMap<String, VecDeque<Instant>>,
    /// Webhooks waiting for a webhook URL.
    held: Vec<Webhook>,
}

/// One webhook's bytes and the app it goes through (`None`: the default
/// app); its URL and signing secret are read when it is delivered.
struct Webhook {
    app: Option<String>,
    body: Vec<u8>,
}

impl Sandbox {
    /// Starts the sandbox on `addr` (port 0 picks a free port).
    pub async fn start(addr: SocketAddr, config: SandboxConfig) -> Result<Self, SandboxError> {
        let config = config.patched(&json!({}))?;
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
        let (stop, _) = watch::channel(false);
        let boot = format!("{:06X}", fastrand::u32(..0x0100_0000));
        let inner = Arc::new(Inner {
            gate: Semaphore::new(config.webhook_concurrency),
            state: Mutex::new(State {
                config,
                rng: fastrand::Rng::with_seed(seed),
                seq: 0,
                calls: Vec::new(),
                windows: HashMap::new(),
                inbound_ids: HashSet::new(),
                recent: HashMap::new(),
                held: Vec::new(),
            }),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent("facebookexternalua")
                .build()
                .map_err(|e| SandboxError::Invalid(format!("HTTP client: {e}")))?,
            stats: Counters::default(),
            stop,
            boot,
        });
        let handler_inner = inner.clone();
        let server = Server::bind(addr, move |req| {
            let inner = handler_inner.clone();
            async move { route(inner, req).await }
        })
        .await
        .map_err(|source| SandboxError::Bind { addr, source })?;
        tracing::info!(url = %server.url(), "Cloud API sandbox listening");
        Ok(Self {
            inner,
            server: Some(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map_or(([127, 0, 0, 1], 0).into(), Server::addr)
    }

    /// The base URL to use as `GRAPH_API_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn config(&self) -> SandboxConfig {
        self.inner.state().config.clone()
    }

    /// Merges a partial configuration document; held webhooks go out once
    /// a webhook URL is set.
    pub fn configure(&self, patch: &Value) -> Result<SandboxConfig, SandboxError> {
        configure(&self.inner, patch)
    }

    /// Points webhooks at `url`.
    pub fn set_webhook_url(&self, url: &str) -> Result<(), SandboxError> {
        self.configure(&json!({ "webhook_url": url })).map(|_| ())
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.inner.state().calls.clone()
    }

    /// Calls per `biz_opaque_callback_data`.
    pub fn calls_by_callback(&self) -> BTreeMap<String, CallSummary> {
        summarise(&self.inner.state().calls)
    }

    pub fn webhook_stats(&self) -> WebhookStats {
        self.inner.stats()
    }

    /// A customer writes: the sandbox opens their window and sends the
    /// signed inbound webhook.
    pub async fn inbound(&self, inbound: Inbound) -> Result<InboundReceipt, SandboxError> {
        inbound_message(&self.inner, inbound).await
    }

    /// Waits until no webhook is pending; `false` if `timeout` passed first.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.inner.stats.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub async fn stop(mut self) {
        let _ = self.inner.stop.send(true);
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.inner.stop.send(true);
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every
        // update is a push or an insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stats(&self) -> WebhookStats {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        WebhookStats {
            scheduled: get(&self.stats.scheduled),
            delivered: get(&self.stats.delivered),
            retried: get(&self.stats.retried),
            given_up: get(&self.stats.given_up),
            pending: get(&self.stats.pending),
        }
    }
}

fn summarise(calls: &[CallRecord]) -> BTreeMap<String, CallSummary> {
    let mut out: BTreeMap<String, CallSummary> = BTreeMap::new();
    for call in calls {
        let Some(cb) = &call.callback else { continue };
        let s = out.entry(cb.clone()).or_default();
        s.calls += 1;
        match call.outcome {
            Outcome::Accepted | Outcome::TimedOut => s.delivered += 1,
            Outcome::Refused => s.refused.extend(call.code),
        }
    }
    out
}

fn configure(inner: &Arc<Inner>, patch: &Value) -> Result<SandboxConfig, SandboxError> {
    let (config, held) = {
        let mut state = inner.state();
        let config = state.config.patched(patch)?;
        if let Some(seed) = patch.get("seed").and_then(Value::as_u64) {
            state.rng = fastrand::Rng::with_seed(seed);
        }
        state.config = config.clone();
        let held = if config.webhook_url.is_some() {
            std::mem::take(&mut state.held)
        } else {
            Vec::new()
        };
        (config, held)
    };
    for webhook in held {
        let inner = inner.clone();
        tokio::spawn(async move { deliver(&inner, webhook).await });
    }
    Ok(config)
}

async fn route(inner: Arc<Inner>, req: Request<Bytes>) -> Reply {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (method, segments.as_slice()) {
        (Method::POST, [version, phone_number_id, "messages"]) => {
            let (version, pnid) = (version.to_string(), phone_number_id.to_string());
            messages(&inner, &version, &pnid, &req).await
        }
        (Method::GET, ["_sandbox", "health"]) => {
            let state = inner.state();
            http::json(
                StatusCode::OK,
                &json!({"ok": true, "webhook_url": state.config.webhook_url, "calls": state.calls.len()}),
            )
        }
        (Method::GET, ["_sandbox", "config"]) => {
            let config = inner.state().config.clone();
            http::json(StatusCode::OK, &json!(config))
        }
        (Method::POST, ["_sandbox", "config"]) => {
            let patch = match serde_json::from_slice::<Value>(req.body()) {
                Ok(p) => p,
                Err(e) => return control_error(&format!("the body is not JSON: {e}")),
            };
            match configure(&inner, &patch) {
                Ok(config) => http::json(StatusCode::OK, &json!(config)),
                Err(e) => control_error(&e.to_string()),
            }
        }
        (Method::POST, ["_sandbox", "inbound"]) => {
            let inbound = match serde_json::from_slice::<Inbound>(req.body()) {
                Ok(i) => i,
                Err(e) => {
                    return control_error(&format!(
                        "expected {{\"from\": \"+5511...\", \"text\": \"...\"}} (or \"button\": {{\"text\"}}, or \"interactive\": {{\"id\", \"title\"}}): {e}"
                    ));
                }
            };
            match inbound_message(&inner, inbound).await {
                Ok(receipt) => http::json(StatusCode::OK, &json!(receipt)),
                Err(e) => control_error(&e.to_string()),
            }
        }
        (Method::GET, ["_sandbox", "calls"]) => {
            let callback = http::query_pairs(req.uri().query())
                .into_iter()
                .find(|(k, _)| k == "callback")
                .map(|(_, v)| v);
            let state = inner.state();
            let calls: Vec<&CallRecord> = state
                .calls
                .iter()
                .filter(|c| callback.is_none() || c.callback == callback)
                .collect();
            let owned: Vec<CallRecord> = calls.into_iter().cloned().collect();
            let summary = summarise(&owned);
            http::json(
                StatusCode::OK,
                &json!({"calls": owned, "by_callback": summary}),
            )
        }
        (Method::GET, ["_sandbox", "webhooks"]) => {
            http::json(StatusCode::OK, &json!(inner.stats()))
        }
        (Method::POST, ["_sandbox", "reset"]) => {
            let mut state = inner.state();
            state.calls.clear();
            state.windows.clear();
            state.inbound_ids.clear();
            state.recent.clear();
            http::json(StatusCode::OK, &json!({"ok": true}))
        }
        _ => {
            let refusal = Refusal {
                subcode: Some(2500),
                ..Refusal::invalid(format!("Unknown path components: {path}"))
            };
            meta_error(&inner, &refusal)
        }
    }
}

fn control_error(message: &str) -> Reply {
    http::json(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

fn meta_error(inner: &Inner, refusal: &Refusal) -> Reply {
    let trace = {
        let mut state = inner.state();
        let rng = &mut state.rng;
        let t: String = (0..27).map(|_| rng.alphanumeric()).collect();
        format!("A{t}")
    };
    let status = StatusCode::from_u16(refusal.http).unwrap_or(StatusCode::BAD_REQUEST);
    http::json(status, &refusal.body(&trace))
}

/// What the messages endpoint decided, made under the lock and acted on
/// outside it.
struct Decision {
    reply: Reply,
    webhooks: Vec<(Duration, Vec<u8>)>,
    hold: Option<Duration>,
}

async fn messages(inner: &Arc<Inner>, version: &str, pnid: &str, req: &Request<Bytes>) -> Reply {
    let decision = decide(inner, version, pnid, req);
    let app = inner.state().config.app_of(pnid).map(|a| a.name.clone());
    for (delay, body) in decision.webhooks {
        let app = app.clone();
        schedule(inner, delay, Webhook { app, body });
    }
    if let Some(hold) = decision.hold {
        // The message went out; the answer is "lost" by arriving too late.
        let mut stop = inner.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(hold) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
    decision.reply
}

fn decide(inner: &Inner, version: &str, pnid: &str, req: &Request<Bytes>) -> Decision {
    let now_ms = shared::now_millis();
    let mut state = inner.state();
    let state = &mut *state;
    let mut record = CallRecord {
        seq: {
            state.seq += 1;
            state.seq
        },
        at_ms: now_ms,
        phone_number_id: pnid.to_owned(),
        kind: "unknown".into(),
        to: None,
        callback: None,
        outcome: Outcome::Refused,
        http_status: 0,
        code: None,
        wamid: None,
    };
    // Best effort, so refused calls are attributed to their message too.
    if let Ok(body) = serde_json::from_slice::<Value>(req.body()) {
        record.callback = body
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned);
        record.to = body
            .get("to")
            .and_then(Value::as_str)
            .map(config::digits)
            .or_else(|| {
                body.get("recipient")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        record.kind = if body.get("status").is_some() {
            "read".into()
        } else {
            body.get("type")
                .and_then(Value::as_str)
                .unwrap_or("text")
                .to_owned()
        };
    }
    let result = judge(state, version, pnid, req, now_ms);
    let (reply, webhooks, hold) = match result {
        Err(refusal) => {
            record.http_status = refusal.http;
            record.code = Some(refusal.code);
            let trace: String = (0..27).map(|_| state.rng.alphanumeric()).collect();
            let status = StatusCode::from_u16(refusal.http).unwrap_or(StatusCode::BAD_REQUEST);
            tracing::info!(
                target: "sandbox",
                phone_number_id = pnid,
                callback = record.callback.as_deref(),
                to = record.to.as_deref(),
                code = refusal.code,
                details = refusal.details.as_str(),
                "Cloud API call refused"
            );
            (
                http::json(status, &refusal.body(&format!("A{trace}"))),
                Vec::new(),
                None,
            )
        }
        Ok(Judged::Read) => {
            record.http_status = 200;
            record.outcome = Outcome::Accepted;
            (
                http::json(StatusCode::OK, &json!({"success": true})),
                Vec::new(),
                None,
            )
        }
        Ok(Judged::Send(out)) => {
            let wamid = format!(
                "wamid.SBX{}{:08X}{:08X}",
                inner.boot,
                record.seq,
                state.rng.u32(..)
            );
            let webhooks = plan(state, pnid, &out, &wamid, now_ms);
            let on_cue = out.callback.as_ref().is_some_and(|cb| {
                state.config.timeout_callbacks.contains(cb)
                    && !state
                        .calls
                        .iter()
                        .any(|c| c.callback.as_ref() == Some(cb) && c.outcome != Outcome::Refused)
            });
            let timed_out = on_cue
                || (state.config.timeout_rate > 0.0 && state.rng.f64() < state.config.timeout_rate);
            record.http_status = 200;
            record.outcome = if timed_out {
                Outcome::TimedOut
            } else {
                Outcome::Accepted
            };
            record.wamid = Some(wamid.clone());
            // Meta answers a BSUID send with the BSUID, a phone send with
            // the phone.
            let contact = if out.by_user_id {
                json!({"input": out.input, "user_id": out.to})
            } else {
                json!({"input": out.input, "wa_id": out.to})
            };
            let mut body = json!({
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": wamid}],
            });
            if out.template.is_some() {
                body["messages"][0]["message_status"] = "accepted".into();
            }
            tracing::info!(
                target: "sandbox",
                phone_number_id = pnid,
                callback = out.callback.as_deref(),
                to = out.to.as_str(),
                kind = out.kind.as_str(),
                wamid = wamid.as_str(),
                timed_out,
                "Cloud API call accepted"
            );
            let hold = timed_out.then(|| Duration::from_millis(state.config.timeout_ms));
            (http::json(StatusCode::OK, &body), webhooks, hold)
        }
    };
    state.calls.push(record);
    Decision {
        reply,
        webhooks,
        hold,
    }
}

enum Judged {
    Send(Outbound),
    Read,
}

/// Meta's checks, in the order it applies them.
fn judge(
    state: &mut State,
    version: &str,
    pnid: &str,
    req: &Request<Bytes>,
    now_ms: u64,
) -> Result<Judged, Refusal> {
    let config = &state.config;
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => {
            return Err(Refusal::auth(
                "no Authorization: Bearer <access token> header",
            ));
        }
        Some(t) if !shared::signature::token_matches(t, config.access_token_of(pnid)) => {
            return Err(Refusal::auth(match config.app_of(pnid) {
                Some(app) => format!(
                    "the access token is not the one of app {}, whose number {pnid} is",
                    app.name
                ),
                None => "the access token is not the sandbox's".to_owned(),
            }));
        }
        Some(_) => {}
    }
    let version_ok = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && (a.to_owned() + b).bytes().all(|c| c.is_ascii_digit())
        });
    if !version_ok {
        return Err(Refusal {
            subcode: Some(2500),
            ..Refusal::invalid(format!(
                "Unknown path components: /{version}/{pnid}/messages"
            ))
        });
    }
    let known = config.phone_number_ids.is_empty()
        || config.phone_number_ids.iter().any(|p| p == pnid)
        || config.app_of(pnid).is_some();
    if pnid.is_empty() || !pnid.bytes().all(|b| b.is_ascii_digit()) || !known {
        return Err(Refusal {
            subcode: Some(33),
            ..Refusal::invalid(format!(
                "Unsupported post request. Object with ID '{pnid}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
            ))
        });
    }
    if let Some(limit) = config.rate_limit_per_second {
        let now = Instant::now();
        let recent = state.recent.entry(pnid.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            recent.pop_front();
        }
        if recent.len() >= limit as usize {
            return Err(throttled(format!(
                "more than {limit} calls in one second for phone number {pnid}"
            )));
        }
        recent.push_back(now);
    }
    let config = &state.config;
    if config.transient_rate > 0.0 && state.rng.f64() < config.transient_rate {
        let mut r = Refusal::new(
            500,
            131000,
            "Something went wrong",
            "Something went wrong. Please try again later.",
        );
        r.is_transient = Some(true);
        return Err(r);
    }
    if config.throttle_rate > 0.0 && state.rng.f64() < config.throttle_rate {
        return Err(throttled("the sandbox's throttle_rate".into()));
    }
    let config = &state.config;
    match validate::check(req.body(), config)? {
        Call::MarkRead { message_id } => {
            if state.inbound_ids.contains(&message_id) {
                Ok(Judged::Read)
            } else {
                Err(Refusal::invalid(format!(
                    "message_id {message_id} is not an inbound message of this sandbox"
                )))
            }
        }
        Call::Send(out) => {
            if config.undeliverable.contains(&out.to) {
                return Err(Refusal::new(
                    400,
                    131026,
                    "Message undeliverable",
                    "Message could not be delivered: the recipient's phone number is not a WhatsApp number, or they have not accepted the latest terms.",
                ));
            }
            let window_open = config.open_windows.contains(&out.to)
                || state
                    .windows
                    .get(&out.to)
                    .is_some_and(|at| now_ms.saturating_sub(*at) < WINDOW_MS);
            if out.free_form && config.enforce_window && !window_open {
                return Err(Refusal::new(
                    400,
                    131047,
                    "Re-engagement message",
                    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
                ));
            }
            Ok(Judged::Send(out))
        }
    }
}

fn throttled(details: String) -> Refusal {
    Refusal::new(
        400,
        130429,
        "Rate limit hit",
        format!("Cloud API message throughput has been reached: {details}"),
    )
}

/// The status webhooks of an accepted message, with when each goes out.
fn plan(
    state: &mut State,
    pnid: &str,
    out: &Outbound,
    wamid: &str,
    now_ms: u64,
) -> Vec<(Duration, Vec<u8>)> {
    let config = &state.config;
    let d = &config.delays;
    let mut events: Vec<(u64, StatusEvent)> = Vec::new();
    let conversation_id = format!("{:032x}", state.rng.u128(..));
    let (recipient, recipient_user_id) = if out.by_user_id {
        (String::new(), out.to.clone())
    } else {
        (out.to.clone(), config::user_id_of(&out.to))
    };
    let event = |status: &'static str, offset: u64, error| StatusEvent {
        wamid: wamid.to_owned(),
        status,
        timestamp: (now_ms + offset) / 1000,
        recipient: recipient.clone(),
        recipient_user_id: recipient_user_id.clone(),
        callback: out.callback.clone(),
        category: out.category.clone(),
        conversation_id: conversation_id.clone(),
        error,
    };
    if config.silent.contains(&out.to) {
        return Vec::new();
    }
    if config.fail_after_send.contains(&out.to) {
        let error = (
            131026,
            "Message undeliverable".to_owned(),
            "Message could not be delivered to the recipient.".to_owned(),
        );
        events.push((d.sent_ms, event("failed", d.sent_ms, Some(error))));
    } else {
        events.push((d.sent_ms, event("sent", d.sent_ms, None)));
        events.push((d.delivered_ms, event("delivered", d.delivered_ms, None)));
        if !config.unread.contains(&out.to) {
            events.push((d.read_ms, event("read", d.read_ms, None)));
        }
    }
    let jitter = d.jitter_ms;
    let mut offsets: Vec<u64> = events
        .iter()
        .map(|(o, _)| {
            o + if jitter > 0 {
                state.rng.u64(0..=jitter)
            } else {
                0
            }
        })
        .collect();
    if config.out_of_order_rate > 0.0 && state.rng.f64() < config.out_of_order_rate {
        // Arrival order changes; Meta's timestamps keep the true order.
        state.rng.shuffle(&mut offsets);
    }
    let mut webhooks = Vec::new();
    let spread = d.read_ms.max(200);
    for ((_, e), offset) in events.iter().zip(offsets) {
        let body = webhooks::encode(
            &webhooks::status_payload(config, pnid, e),
            config.meta_escaping,
        );
        if config.duplicate_rate > 0.0 && state.rng.f64() < config.duplicate_rate {
            let again = offset + state.rng.u64(0..=spread);
            webhooks.push((Duration::from_millis(again), body.clone()));
        }
        webhooks.push((Duration::from_millis(offset), body));
    }
    webhooks
}

fn schedule(inner: &Arc<Inner>, delay: Duration, webhook: Webhook) {
    inner.stats.scheduled.fetch_add(1, Ordering::SeqCst);
    inner.stats.pending.fetch_add(1, Ordering::SeqCst);
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut stop = inner.stop.subscribe();
        let due = tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(|s| *s) => false,
        };
        if due {
            deliver(&inner, webhook).await;
        }
    });
}

/// Posts one webhook until it is answered 200 or its attempts run out.
/// Without a webhook URL it is held until one is configured.
async fn deliver(inner: &Arc<Inner>, webhook: Webhook) {
    let mut stop = inner.stop.subscribe();
    let Ok(_permit) = inner.gate.acquire().await else {
        return;
    };
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (url, secret, attempts, retry_ms) = {
            let mut state = inner.state();
            match state.config.destination(webhook.app.as_deref()) {
                Some((url, secret)) => (
                    url,
                    secret,
                    state.config.webhook_attempts,
                    state.config.webhook_retry_ms,
                ),
                None => {
                    state.held.push(webhook);
                    return;
                }
            }
        };
        let body = &webhook.body;
        let signature = shared::signature::sign(body, secret.as_bytes());
        let result = inner
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(shared::signature::HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        let failure = match result {
            Ok(resp) if resp.status() == reqwest::StatusCode::OK => None,
            Ok(resp) => Some(format!("HTTP {}", resp.status().as_u16())),
            Err(e) => Some(e.to_string()),
        };
        let Some(failure) = failure else {
            inner.stats.delivered.fetch_add(1, Ordering::SeqCst);
            inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        if attempt >= attempts {
            tracing::warn!(target: "sandbox", url, attempt, error = failure, "webhook given up");
            inner.stats.given_up.fetch_add(1, Ordering::SeqCst);
            inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        inner.stats.retried.fetch_add(1, Ordering::SeqCst);
        let backoff = Duration::from_millis(retry_ms.saturating_mul(1 << (attempt - 1).min(16)))
            .min(Duration::from_secs(30));
        tracing::debug!(target: "sandbox", url, attempt, error = failure, ?backoff, "webhook failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn inbound_message(
    inner: &Arc<Inner>,
    inbound: Inbound,
) -> Result<InboundReceipt, SandboxError> {
    let from = config::digits(&inbound.from);
    if inbound.from.is_empty() {
        // A username customer: no phone, so their BSUID must be given.
        if inbound.user_id.is_none() {
            return Err(SandboxError::Invalid(
                "give from (the customer's number) or user_id (a username customer's BSUID)".into(),
            ));
        }
    } else if from.len() < 7 || from.len() > 15 || from.starts_with('0') {
        return Err(SandboxError::Invalid(format!(
            "from: {:?} is not an international number (e.g. +5511988887777)",
            inbound.from
        )));
    }
    if let Some(user_id) = &inbound.user_id {
        shared::customer::check_user_id(user_id)
            .map_err(|reason| SandboxError::Invalid(format!("user_id: {user_id:?} {reason}")))?;
    }
    let user_id = inbound.customer_user_id();
    let given = [
        inbound.text.is_some(),
        inbound.button.is_some(),
        inbound.interactive.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(SandboxError::Invalid(
            "give exactly one of text, button or interactive".into(),
        ));
    }
    if inbound.text.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(SandboxError::Invalid("text is empty".into()));
    }
    let now_ms = shared::now_millis();
    let (wamid, body, app, destination) = {
        let mut state = inner.state();
        state.seq += 1;
        let (seq, noise) = (state.seq, state.rng.u32(..));
        let wamid = format!("wamid.SBXIN{}{seq:08X}{noise:08X}", inner.boot);
        let pnid = inbound
            .phone_number_id
            .clone()
            .or_else(|| state.config.phone_number_ids.first().cloned())
            .unwrap_or_else(|| DEFAULT_PHONE_NUMBER_ID.to_owned());
        let payload =
            webhooks::inbound_payload(&state.config, &pnid, &inbound, &wamid, now_ms / 1000);
        let body = webhooks::encode(&payload, state.config.meta_escaping);
        // The window opens for the customer by either id a send may use.
        for key in [&from, &user_id] {
            if key.is_empty() {
                continue;
            }
            let previous = state.windows.get(key).copied().unwrap_or(0);
            state.windows.insert(key.clone(), previous.max(now_ms));
        }
        state.inbound_ids.insert(wamid.clone());
        let app = state.config.app_of(&pnid).map(|a| a.name.clone());
        let destination = state.config.destination(app.as_deref());
        (wamid, body, app, destination)
    };
    inner.stats.scheduled.fetch_add(1, Ordering::SeqCst);
    inner.stats.pending.fetch_add(1, Ordering::SeqCst);
    // One attempt now, so the caller learns the outcome; retries go on in
    // the background.
    let first = match &destination {
        None => None,
        Some((url, secret)) => inner
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                shared::signature::HEADER,
                shared::signature::sign(&body, secret.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16()),
    };
    let delivered = first == Some(200);
    if delivered {
        inner.stats.delivered.fetch_add(1, Ordering::SeqCst);
        inner.stats.pending.fetch_sub(1, Ordering::SeqCst);
    } else {
        if destination.is_some() {
            inner.stats.retried.fetch_add(1, Ordering::SeqCst);
        }
        let inner = inner.clone();
        tokio::spawn(async move { deliver(&inner, Webhook { app, body }).await });
    }
    tracing::info!(target: "sandbox", wamid = wamid.as_str(), webhook_status = first, "inbound message");
    Ok(InboundReceipt {
        wamid,
        webhook_status: first,
        delivered,
    })
}
