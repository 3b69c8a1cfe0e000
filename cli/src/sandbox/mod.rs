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
//! - `GET /{version}/{waba_id}/message_templates`: the template catalogue,
//!   paged as Meta pages it ([`catalogue`]).
//! - `POST /_sandbox/templates/{name}/{language}`: pause, approve or change
//!   a template and deliver its webhook ([`catalogue::Change`]).
//! - `POST /_sandbox/inbound`: a customer writes ([`Inbound`]).
//! - `GET /_sandbox/calls[?callback=ID]`: calls received, with a summary per
//!   `biz_opaque_callback_data`.
//! - `GET|POST /_sandbox/config`: the configuration; a POST merges a
//!   partial document.
//! - `GET /_sandbox/webhooks`: webhook delivery counters.
//! - `POST /_sandbox/reset`: forgets calls, windows and inbound messages.
//! - `GET /_sandbox/health`.
//! - Media: `GET /{version}/{media-id}`, the download URL it hands out,
//!   `POST /{version}/{phone_number_id}/media`, and `POST|GET
//!   /_sandbox/media` ([`media`]).

pub mod client;
pub mod config;
pub mod media;
pub mod validate;
pub mod webhooks;

mod answers;
pub mod catalogue;
mod delivery;
mod inbound;
mod routes;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

pub use self::config::{Delays, SandboxApp, SandboxConfig, Template};
use self::delivery::deliver;
use self::inbound::inbound_message;
pub use self::webhooks::{ButtonReply, Inbound, InboundMedia, InteractiveReply};
use crate::http::Server;

/// The business number used when a call or an inbound message names none.
pub const DEFAULT_PHONE_NUMBER_ID: &str = "1122334455";

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
    /// Files served and uploads received (`media`).
    media: Mutex<media::MediaState>,
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
            media: Mutex::default(),
        });
        let server = Server::bind(addr, routes::router(inner.clone()))
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

    /// Registers a file a customer can send (`POST /_sandbox/media`).
    pub fn register_media(&self, file: media::NewFile) -> Result<media::Registered, SandboxError> {
        media::register(&self.inner, file).map_err(SandboxError::Invalid)
    }

    /// Files, uploads and counters (`GET /_sandbox/media`).
    pub fn media_summary(&self) -> Value {
        self.inner.media_summary()
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
