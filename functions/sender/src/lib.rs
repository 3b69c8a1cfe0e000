//! The sender function: each send request on the queue becomes at most one
//! Cloud API call and a DynamoDB record.
//!
//! A batch is processed concurrently (bounded), paced per business number and
//! serialised per recipient. Every record ends one of three ways: done
//! (sent, duplicate, suppressed, or failed for good, all recorded and deleted
//! from the queue), or reported failed with its visibility set to a backoff so
//! SQS redelivers it later and, after `maxReceiveCount`, dead-letters it.

// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod media;
pub mod memory;
pub mod pacing;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::cloud_api::{CloudApi, CloudApiClient, ErrorClass, GraphError};
use shared::config::{
    ConfigError, GraphSettings, ScheduleSettings, SecretSettings, Settings, TemplateSettings,
};
use shared::events::publish::{self, EventPublisher, LogPublisher};
use shared::events::{Event, RecipientIds, StatusChanged};
use shared::metrics::{self, Emf};
use shared::now_millis;
use shared::queue::QueueError;
use shared::record::{ErrorRecord, Status};
use shared::secrets::SecretCache;
use shared::send_request::{RequestError, SendRequest};
use shared::sqs::requeue::{self, Requeue, SqsRequeue, backoff};
use shared::sqs::{Batch, BatchResponse, SqsRecord};
use shared::templates::cache::Catalogue;
use shared::templates::store::{DynamoTemplates, TemplateStore};
use shared::templates::sync::{self as template_sync, Account};
use shared::tenant::{self, BindingStore, Directory, DynamoBindings, TenantTokens};

use crate::pacing::{AUTH_BACKOFF_FLOOR, RateLimiter};
use crate::store::{
    Begin, Claim, ContactBook, DynamoLedger, Earlier, Finish, RecordedError, Scheduling,
    SendLedger, StoreError, Stored,
};
use shared::schedule::{EventBridgeTimer, Fire, Timer};

/// The alert logged (`alert = ...`) when Meta refuses the token or account.
pub const SENDING_HALTED: &str = "whatsapp_sending_halted";
/// Every alert this function logs; the SAM template has a metric filter and
/// an alarm for each (`tests/tests/template.rs` checks it).
/// The template sync logs `shared::templates::ALERT` when it finds a
/// template no longer approved whose webhook was missed.
pub const ALERTS: &[&str] = &[SENDING_HALTED, shared::templates::ALERT];

/// Every AWS action this function calls, with the setting that names the
/// resource. The receive/delete/attributes actions are the SQS event source
/// mapping's, which polls under the function's role.
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    ("WHATSAPP_SECRET_ID", "secretsmanager:GetSecretValue"),
    // Each binding's access token, `<prefix>...`.
    ("WHATSAPP_SECRET_PREFIX", "secretsmanager:GetSecretValue"),
    ("TABLE_NAME", "dynamodb:UpdateItem"),
    // The bindings (one partition).
    ("TABLE_NAME", "dynamodb:Query"),
    ("TABLE_NAME", "dynamodb:GetItem"),
    // A customer's linked contact items (phone and BSUID) in one read.
    ("TABLE_NAME", "dynamodb:BatchGetItem"),
    ("SEND_QUEUE_URL", "sqs:ChangeMessageVisibility"),
    ("SEND_QUEUE_URL", "sqs:ReceiveMessage"),
    ("SEND_QUEUE_URL", "sqs:DeleteMessage"),
    ("SEND_QUEUE_URL", "sqs:GetQueueAttributes"),
    // A message the sender ends itself (refused, failed at the call,
    // suppressed) is announced upstream (`docs/events.md`).
    ("UPSTREAM_EVENTS_QUEUE_URL", "sqs:SendMessage"),
    ("CALLBACKS_QUEUE_URL", "sqs:SendMessage"),
    // Outbound media from S3 (`docs/media.md`): `HeadObject` and
    // `GetObject` are `s3:GetObject`'s; `s3:ListBucket` makes a missing
    // object 404 rather than 403. Buckets in MEDIA_ALLOWED_BUCKETS get the
    // same two, from the template's `MediaAllowedBuckets` parameter.
    ("MEDIA_BUCKET", "s3:GetObject"),
    ("MEDIA_BUCKET", "s3:ListBucket"),
    ("MEDIA_ALLOWED_BUCKETS", "s3:GetObject"),
    ("MEDIA_ALLOWED_BUCKETS", "s3:ListBucket"),
    // Scheduled sends (`docs/scheduled-sends.md`): a one-time schedule in
    // the stack's group whose target the scheduler's role reaches, or a
    // delayed fire on the send queue for a `send_at` within 15 minutes.
    ("SCHEDULE_GROUP", "scheduler:CreateSchedule"),
    ("SCHEDULER_ROLE_ARN", "iam:PassRole"),
    ("SEND_QUEUE_URL", "sqs:SendMessage"),
];

/// The budget of one upload of outbound media to Meta (a 100 MB document
/// needs a fast link; keep the function's timeout above it).
pub const MEDIA_UPLOAD_TIMEOUT: Duration = Duration::from_secs(25);

pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
pub const DEFAULT_RATE_PER_SECOND: u32 = 80;
pub const DEFAULT_CONCURRENCY: usize = 10;
pub const DEFAULT_LOCK: Duration = Duration::from_secs(120);
pub const DEFAULT_GRAPH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after an unanswered call the sender waits for a status webhook
/// (Meta's `sent` usually follows acceptance within seconds) before it
/// concludes the call did not reach Meta and sends again.
pub const DEFAULT_CONFIRM_GRACE: Duration = Duration::from_secs(60);

/// Everything the sender reads at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderConfig {
    pub secret: SecretSettings,
    pub graph: GraphSettings,
    pub graph_timeout: Duration,
    pub table_name: String,
    pub queue_url: String,
    pub max_receive_count: u32,
    pub rate_per_second: u32,
    pub concurrency: usize,
    pub lock: Duration,
    pub confirm_grace: Duration,
    pub message_ttl: Duration,
    pub metrics_namespace: String,
    /// The template catalogue's cache and trust, and the default tenant's
    /// account for the sync.
    pub templates: TemplateSettings,
    /// `UPSTREAM_EVENTS_QUEUE_URL`; `None`: the sender's events are logged.
    pub upstream_events_queue_url: Option<String>,
    pub callbacks_queue_url: Option<String>,
    /// `MEDIA_BUCKET`: the stack's media bucket; `None`: requests naming
    /// an S3 object are refused.
    pub media_bucket: Option<String>,
    /// `MEDIA_ALLOWED_BUCKETS`: further buckets requests may name.
    pub media_allowed_buckets: Vec<String>,
    /// Scheduled sends' group, role and target; `None`: a request with a
    /// future `send_at` is refused.
    pub schedule: Option<ScheduleSettings>,
    /// `SEND_AT_MAX_DAYS`: how far ahead `send_at` may be.
    pub send_at_max_days: u64,
}

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<SenderConfig, ConfigError> {
    let queue_url = settings.send_queue_url()?;
    Ok(SenderConfig {
        secret: settings.secret()?,
        graph: settings.graph()?,
        graph_timeout: Duration::from_millis(positive(
            settings,
            "GRAPH_API_TIMEOUT_MS",
            DEFAULT_GRAPH_TIMEOUT.as_millis() as u64,
            120_000,
        )?),
        table_name: settings.table_name()?,
        queue_url,
        max_receive_count: positive(
            settings,
            "SEND_MAX_RECEIVE_COUNT",
            DEFAULT_MAX_RECEIVE_COUNT.into(),
            1000,
        )? as u32,
        rate_per_second: positive(
            settings,
            "SEND_RATE_PER_SECOND",
            DEFAULT_RATE_PER_SECOND.into(),
            100_000,
        )? as u32,
        concurrency: positive(
            settings,
            "SEND_CONCURRENCY",
            DEFAULT_CONCURRENCY as u64,
            1000,
        )? as usize,
        lock: Duration::from_secs(positive(
            settings,
            "SEND_LOCK_SECONDS",
            DEFAULT_LOCK.as_secs(),
            43_200,
        )?),
        confirm_grace: Duration::from_secs(positive(
            settings,
            "SEND_CONFIRM_GRACE_SECONDS",
            DEFAULT_CONFIRM_GRACE.as_secs(),
            43_200,
        )?),
        message_ttl: settings.message_ttl()?,
        metrics_namespace: settings.metrics_namespace()?,
        templates: settings.templates()?,
        upstream_events_queue_url: settings.upstream_events_queue_url()?,
        callbacks_queue_url: settings.callbacks_queue_url()?,
        media_bucket: settings.media_bucket()?,
        media_allowed_buckets: match settings.get("MEDIA_ALLOWED_BUCKETS") {
            None => Vec::new(),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(|b| {
                    Settings::checked(
                        "MEDIA_ALLOWED_BUCKETS",
                        b.to_owned(),
                        shared::config::bucket_name,
                    )
                })
                .collect::<Result<_, _>>()?,
        },
        schedule: settings.schedule()?,
        send_at_max_days: settings.send_at_max_days()?,
    })
}

/// An optional whole-number setting between 1 and `max`.
fn positive(
    settings: &Settings,
    name: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = settings.get(name) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(ConfigError::Malformed {
            name,
            value: raw,
            reason: "expected a whole number within its documented range (see README)",
        }),
    }
}

/// What the function holds between invocations: adapters, the pacing state
/// and the policy read from configuration.
pub struct App {
    directory: Arc<Directory>,
    store: Arc<dyn SendLedger>,
    contacts: Arc<dyn ContactBook>,
    api: Arc<dyn CloudApi>,
    requeue: Arc<dyn Requeue>,
    limiter: RateLimiter,
    default_phone_number_id: String,
    max_receive_count: u32,
    concurrency: usize,
    lock: Duration,
    confirm_grace: Duration,
    message_ttl: Duration,
    /// Outbound media from S3, when `MEDIA_BUCKET` is set.
    media: Option<Arc<media::OutboundMedia>>,
    /// Where the messages this function ends are announced.
    events: Arc<dyn EventPublisher>,
    /// The template catalogue sends are checked against; none: unchecked.
    templates: Option<Arc<Catalogue>>,
    /// What the scheduled template sync needs; none: it cannot run here.
    sync: Option<TemplateSync>,
    /// Sets scheduled messages' fires; none: a future `send_at` is refused.
    timer: Option<Arc<dyn Timer>>,
    send_at_max_days: u64,
}

/// The template sync's adapters (`shared::templates::sync`).
pub struct TemplateSync {
    /// The Graph client (the one sends use).
    pub api: Arc<CloudApiClient>,
    /// The catalogue.
    pub store: Arc<dyn TemplateStore>,
    /// Every binding (read whole at each sync).
    pub bindings: Arc<dyn BindingStore>,
    /// The default tenant's account (`WHATSAPP_WABA_ID`), if set.
    pub default: Option<Account>,
}

impl App {
    pub fn new(
        config: &SenderConfig,
        directory: Arc<Directory>,
        store: Arc<dyn SendLedger>,
        contacts: Arc<dyn ContactBook>,
        api: Arc<dyn CloudApi>,
        requeue: Arc<dyn Requeue>,
    ) -> Self {
        Self {
            directory,
            store,
            contacts,
            api,
            requeue,
            limiter: RateLimiter::new(config.rate_per_second.into()),
            default_phone_number_id: config.graph.phone_number_id.clone(),
            max_receive_count: config.max_receive_count,
            concurrency: config.concurrency,
            lock: config.lock,
            confirm_grace: config.confirm_grace,
            message_ttl: config.message_ttl,
            templates: None,
            sync: None,
            media: None,
            events: Arc::new(LogPublisher),
            timer: None,
            send_at_max_days: config.send_at_max_days,
        }
    }

    /// This app putting scheduled messages on schedule through `timer`.
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// This app announcing the messages it ends through `events`.
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    /// This app checking template sends against `catalogue`.
    pub fn with_catalogue(mut self, catalogue: Arc<Catalogue>) -> Self {
        self.templates = Some(catalogue);
        self
    }

    /// This app able to run the template sync.
    pub fn with_sync(mut self, sync: TemplateSync) -> Self {
        self.sync = Some(sync);
        self
    }

    /// Sends media named by S3 object through `media`.
    pub fn with_media(mut self, media: Arc<media::OutboundMedia>) -> Self {
        self.media = Some(media);
        self
    }

    /// Builds the real adapters and fetches the secret once.
    pub async fn from_config(
        config: &SenderConfig,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, lambda_runtime::Error> {
        let secrets = Arc::new(SecretCache::secrets_manager(
            aws_sdk_secretsmanager::Client::new(aws),
            config.secret.ttl,
        ));
        secrets.access_token(&config.secret.secret_id).await?;
        // One client per service, shared by every adapter (`shared::clients`).
        let (dynamodb, sqs) = (
            aws_sdk_dynamodb::Client::new(aws),
            aws_sdk_sqs::Client::new(aws),
        );
        let tokens = TenantTokens::new(
            secrets,
            dynamodb.clone(),
            &config.table_name,
            &config.secret,
        );
        let directory = tokens.directory.clone();
        let api = Arc::new(CloudApiClient::new(
            &config.graph,
            Arc::new(tokens.clone()),
            config.graph_timeout,
        )?);
        let templates: Arc<dyn TemplateStore> =
            Arc::new(DynamoTemplates::new(dynamodb.clone(), &config.table_name));
        let catalogue = Arc::new(Catalogue::new(
            templates.clone(),
            config.templates.cache_ttl,
            config.templates.max_age,
        ));
        let sync = TemplateSync {
            api: api.clone(),
            store: templates,
            bindings: Arc::new(DynamoBindings::new(dynamodb.clone(), &config.table_name)),
            default: config
                .templates
                .default_waba_id
                .as_ref()
                .map(|waba_id| Account {
                    tenant: tenant::DEFAULT_TENANT.to_owned(),
                    waba_id: waba_id.clone(),
                    phone_number_id: config.graph.phone_number_id.clone(),
                }),
        };
        let store = Arc::new(DynamoLedger::new(dynamodb.clone(), &config.table_name));
        let events = publish::publisher(
            &sqs,
            config.upstream_events_queue_url.as_deref(),
            config.callbacks_queue_url.as_deref(),
        );
        let requeue = SqsRequeue::new(sqs, &config.queue_url);
        let app = Self::new(
            config,
            directory.clone(),
            store.clone(),
            store,
            api,
            Arc::new(requeue),
        )
        .with_catalogue(catalogue)
        .with_sync(sync)
        .with_events(events);
        let app = match &config.schedule {
            Some(schedule) => app.with_timer(Arc::new(EventBridgeTimer::new(
                aws,
                &config.queue_url,
                schedule.clone(),
            ))),
            None => app,
        };
        let Some(bucket) = &config.media_bucket else {
            return Ok(app);
        };
        let uploads = shared::media::graph::GraphMedia::new(
            &config.graph.base_url,
            &config.graph.version,
            Arc::new(tokens),
            MEDIA_UPLOAD_TIMEOUT,
        )?;
        let mut allowed = vec![bucket.clone()];
        allowed.extend(config.media_allowed_buckets.iter().cloned());
        Ok(app.with_media(Arc::new(media::OutboundMedia::new(
            shared::media::s3::MediaBucket::new(aws),
            Arc::new(uploads),
            Arc::new(media::DynamoUploads::new(dynamodb, &config.table_name)),
            allowed,
        ))))
    }

    /// Cold start: configuration, clients and secret. Failures name what to fix.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = configure(&Settings::from_env())?;
        metrics::install(&config.metrics_namespace);
        Self::from_config(&config, &shared::aws_config().await).await
    }
}

/// A record ready to process.
struct Job {
    received: SqsRecord,
    /// The request's tenant; for an invalid request, the one it names if
    /// that is a valid name (its refusal is recorded where it looks).
    tenant: String,
    message_id: String,
    phone_number_id: String,
    request: Result<SendRequest, RequestError>,
    request_hash: String,
    /// A scheduled message's fire: what its record held when it arrived.
    fire: Option<FireFound>,
}

/// What a fire found on its message's record.
#[derive(Debug, Clone)]
enum FireFound {
    /// The kept request (now in the job's `request`): send it if due.
    Due,
    /// Nothing to send: settled, cancelled or unknown.
    Nothing(Stored),
    /// The record could not be read.
    Unreadable(String),
}

impl Job {
    fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Sent {
        wamid: Option<String>,
    },
    Duplicate,
    /// An earlier attempt's call had been accepted (a status webhook says
    /// so) though its answer was lost: recorded, not sent again.
    Confirmed {
        wamid: Option<String>,
    },
    Suppressed,
    Failed {
        reason: String,
        detail: String,
    },
    Invalid {
        detail: String,
    },
    Refused,
    Retry {
        delay: Duration,
        reason: String,
        dead_letter: bool,
    },
    /// Put on schedule for `send_at` (ms).
    Scheduled {
        send_at: u64,
    },
    /// A fire that came before `send_at`: back on the queue for the
    /// seconds left.
    Held {
        delay: Duration,
    },
    /// Not sent and nothing to record: cancelled, or a fire for an
    /// unknown message.
    Dropped {
        reason: &'static str,
    },
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Duplicate => "duplicate",
            Outcome::Confirmed { .. } => "confirmed",
            Outcome::Suppressed => "suppressed",
            Outcome::Failed { .. } => "failed",
            Outcome::Invalid { .. } => "invalid",
            Outcome::Refused => "refused",
            Outcome::Retry { .. } => "retry",
            Outcome::Scheduled { .. } => "scheduled",
            Outcome::Held { .. } => "held",
            Outcome::Dropped { .. } => "dropped",
        }
    }
}

/// What the Cloud API answered this attempt's call, for the metrics.
#[derive(Debug, Clone, Copy)]
struct Call {
    /// When Meta answered (accepting or refusing); `None` when no answer
    /// came (a timeout, no connection, no token).
    answered_at: Option<u64>,
    /// The class and Meta's code of a call that did not succeed.
    error: Option<(ErrorClass, Option<i64>)>,
}

impl Call {
    fn of(answer: &Result<shared::cloud_api::Accepted, GraphError>) -> Self {
        let answered = match answer {
            Ok(_) => true,
            Err(err) => matches!(err, GraphError::Api { .. } | GraphError::Unexpected { .. }),
        };
        Self {
            answered_at: answered.then(now_millis),
            error: answer.as_ref().err().map(|e| (e.class(), e.code())),
        }
    }
}

/// Set when Meta says no call can succeed (token, account): the rest of the
/// batch is handed back untried.
#[derive(Default)]
struct Halt(OnceLock<String>);

/// Processes one SQS batch. Never panics; answers the records to retry
/// (`shared::sqs` says when the invocation fails as a whole).
pub async fn handle(app: &App, event: Value) -> BatchResponse {
    let started = Instant::now();
    let batch = Batch::read(&event);
    let mut response = batch.response();
    let jobs: Vec<Job> = futures_util::stream::iter(batch.records)
        .map(|record| prepare_any(app, record))
        .buffered(app.concurrency.max(1))
        .collect()
        .await;
    // Each template name of the batch read once (or taken from the cache)
    // before any record is processed.
    if let Some(catalogue) = &app.templates {
        catalogue
            .load(jobs.iter().filter_map(|job| {
                let (name, _) = job.request.as_ref().ok()?.template()?;
                Some((job.tenant.clone(), name.to_owned()))
            }))
            .await;
    }

    // Per-recipient serialisation: one group per (number, recipient), run in
    // arrival order; groups run concurrently.
    let mut groups: Vec<Vec<&Job>> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for job in &jobs {
        let customer = job.request.as_ref().map(SendRequest::customer).ok();
        let key = match customer.as_ref().and_then(|c| c.primary()) {
            Some(id) => format!("{}#{id}", job.phone_number_id),
            None => format!("sqs#{}", job.received.message_id),
        };
        match by_key.get(&key) {
            Some(&g) => groups[g].push(job),
            None => {
                by_key.insert(key, groups.len());
                groups.push(vec![job]);
            }
        }
    }

    let halt = Halt::default();
    let outcomes: Vec<Vec<(&Job, Outcome, Option<Call>)>> = futures_util::stream::iter(groups)
        .map(|group| {
            let halt = &halt;
            async move {
                let mut out = Vec::with_capacity(group.len());
                for job in group {
                    let job_started = Instant::now();
                    let mut call = None;
                    let outcome = process(app, job, halt, &mut call).await;
                    settle(app, job, &outcome, job_started).await;
                    out.push((job, outcome, call));
                }
                out
            }
        })
        .buffer_unordered(app.concurrency.max(1))
        .collect()
        .await;

    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let mut emf = Emf::new();
    for (job, outcome, call) in outcomes.iter().flatten() {
        *counts.entry(outcome.name()).or_default() += 1;
        if matches!(outcome, Outcome::Retry { .. } | Outcome::Held { .. }) {
            response.retry(&job.received);
        }
        record_metrics(&mut emf, job, outcome, call.as_ref());
    }
    emf.flush();
    let count = |name| counts.get(name).copied().unwrap_or(0);
    tracing::info!(
        records = jobs.len(),
        unreadable = batch.unreadable,
        sent = count("sent"),
        duplicate = count("duplicate"),
        confirmed = count("confirmed"),
        suppressed = count("suppressed"),
        failed = count("failed"),
        invalid = count("invalid"),
        refused = count("refused"),
        retry = count("retry"),
        scheduled = count("scheduled"),
        held = count("held"),
        dropped = count("dropped"),
        halted = halt.0.get().map(String::as_str),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "send batch"
    );
    response
}

/// A record's share of the batch's metrics (`shared::metrics`): its
/// outcome as its log line names it, the call's error, the lag from the
/// queue to Meta's answer, and a template send Meta answered.
fn record_metrics(emf: &mut Emf, job: &Job, outcome: &Outcome, call: Option<&Call>) {
    emf.count(&metrics::SENDS, &[LogLine::of(outcome).outcome], 1);
    let Some(call) = call else {
        return;
    };
    if let Some((class, code)) = call.error {
        emf.count(
            &metrics::SEND_ERRORS,
            &[class.as_str(), &metrics::error_code(code)],
            1,
        );
    }
    let Some(answered_at) = call.answered_at else {
        return;
    };
    if let Some(sent_at) = job.received.sent_at {
        emf.value(
            &metrics::SEND_LAG,
            &[],
            answered_at.saturating_sub(sent_at) as f64,
        );
    }
    // Only a name Meta knows: a template that does not exist (132001) is
    // no template of the account, and would add a metric per typo.
    let template = job.request.as_ref().ok().and_then(|r| r.template());
    let ended = match (outcome, call.error) {
        (Outcome::Sent { .. }, _) => Some("sent"),
        (Outcome::Failed { .. }, Some((_, code))) if code != Some(TEMPLATE_DOES_NOT_EXIST) => {
            Some("failed")
        }
        _ => None,
    };
    if let (Some((name, _)), Some(ended)) = (template, ended) {
        emf.count(&metrics::TEMPLATE_SENDS, &[name, ended], 1);
    }
}

/// Meta's code for a template name the account does not have.
const TEMPLATE_DOES_NOT_EXIST: i64 = 132001;

/// A record ready to process: a send request, or a scheduled message's
/// fire with the request its record kept.
async fn prepare_any(app: &App, received: SqsRecord) -> Job {
    let Some(fire) = Fire::read(&received.body) else {
        return prepare(app, received);
    };
    let found = app.store.stored(&fire.tenant, &fire.id, now_millis()).await;
    let (body, found) = match found {
        Ok(Stored::Request(body)) => (body, FireFound::Due),
        Ok(other) => (String::new(), FireFound::Nothing(other)),
        Err(e) => (String::new(), FireFound::Unreadable(e.to_string())),
    };
    if !matches!(found, FireFound::Due) {
        return Job {
            tenant: fire.tenant,
            message_id: fire.id,
            phone_number_id: app.default_phone_number_id.clone(),
            request: Err(RequestError {
                path: "body".to_owned(),
                reason: "a scheduled message's fire".to_owned(),
            }),
            request_hash: String::new(),
            fire: Some(found),
            received,
        };
    }
    let mut kept = received;
    kept.body = body;
    let mut job = prepare(app, kept);
    job.fire = Some(FireFound::Due);
    job
}

fn prepare(app: &App, received: SqsRecord) -> Job {
    let request = SendRequest::parse(&received.body);
    let (tenant, message_id, phone_number_id, request_hash) = match &request {
        Ok(req) => {
            let pn = req
                .phone_number_id
                .clone()
                .unwrap_or_else(|| app.default_phone_number_id.clone());
            let hash = req.request_hash(&pn);
            let id = req
                .id
                .clone()
                .unwrap_or_else(|| received.message_id.clone());
            (req.tenant().to_owned(), id, pn, hash)
        }
        Err(_) => {
            let raw: Option<Value> = serde_json::from_str(&received.body).ok();
            let pn = raw
                .as_ref()
                .and_then(|v| v.get("phone_number_id"))
                .and_then(Value::as_str)
                .filter(|p| shared::check::numeric_id(p))
                .map_or_else(|| app.default_phone_number_id.clone(), str::to_owned);
            let id = shared::send_request::id_hint(&received.body)
                .unwrap_or_else(|| received.message_id.clone());
            let hash = hex::encode(Sha256::digest(
                format!("invalid\n{}", received.body).as_bytes(),
            ));
            let tenant = raw
                .as_ref()
                .and_then(|v| v.get("tenant"))
                .and_then(Value::as_str)
                .filter(|t| tenant::check_name(t).is_ok())
                .unwrap_or(tenant::DEFAULT_TENANT)
                .to_owned();
            (tenant, id, pn, hash)
        }
    };
    Job {
        received,
        tenant,
        message_id,
        phone_number_id,
        request,
        request_hash,
        fire: None,
    }
}

fn claim<'a>(app: &App, job: &'a Job, now: u64) -> Claim<'a> {
    let (recipient, recipient_user_id, kind, template, metadata) = match &job.request {
        Ok(req) => (
            req.to.as_deref(),
            req.recipient.as_deref(),
            req.kind(),
            req.template(),
            req.metadata.as_ref(),
        ),
        Err(_) => (None, None, "invalid", None, None),
    };
    Claim {
        tenant: job.tenant(),
        message_id: &job.message_id,
        request_hash: &job.request_hash,
        phone_number_id: &job.phone_number_id,
        recipient,
        recipient_user_id,
        kind,
        template,
        metadata,
        now_ms: now,
        lock_expires_at: now + app.lock.as_millis() as u64,
        expires_at: (now + app.message_ttl.as_millis() as u64) / 1000,
    }
}

fn sender_error(reason: &str, class: ErrorClass, message: impl Into<String>) -> RecordedError {
    RecordedError {
        reason: reason.to_owned(),
        class: class.as_str().to_owned(),
        source: "sender".to_owned(),
        message: message.into(),
        ..RecordedError::default()
    }
}

fn graph_recorded(err: &GraphError, reason: &str) -> RecordedError {
    match err.meta() {
        Some(meta) => RecordedError {
            reason: reason.to_owned(),
            code: Some(meta.code),
            title: meta.title.clone(),
            message: meta.message.clone(),
            details: meta.details.clone(),
            class: err.class().as_str().to_owned(),
            source: "cloud_api".to_owned(),
            fbtrace_id: meta.fbtrace_id.clone(),
            http_status: Some(meta.http_status),
        },
        None => RecordedError {
            reason: reason.to_owned(),
            message: err.to_string(),
            class: err.class().as_str().to_owned(),
            source: "cloud_api".to_owned(),
            ..RecordedError::default()
        },
    }
}

/// Decides one record. Every path either records an end state or releases
/// the lock with the reason, and no path calls Meta twice. `call` is set
/// to what the Cloud API answered, when this attempt called it.
async fn process(app: &App, job: &Job, halt: &Halt, call: &mut Option<Call>) -> Outcome {
    let now = now_millis();
    let last_receive = job.received.receive_count >= app.max_receive_count;
    let retry = |reason: String, at_least: Option<Duration>| Outcome::Retry {
        delay: backoff(job.received.receive_count, at_least),
        reason,
        dead_letter: last_receive,
    };
    match &job.fire {
        None | Some(FireFound::Due) => {}
        Some(FireFound::Nothing(Stored::Claimed)) => return Outcome::Duplicate,
        Some(FireFound::Nothing(Stored::Cancelled)) => {
            return Outcome::Dropped {
                reason: "cancelled",
            };
        }
        Some(FireFound::Nothing(_)) => {
            return Outcome::Dropped {
                reason: "unknown_message",
            };
        }
        Some(FireFound::Unreadable(e)) => {
            return retry(format!("could not read the scheduled message: {e}"), None);
        }
    }
    let claim = claim(app, job, now);
    // Refusals before any call are recorded under the lock too, so a refused
    // copy never overwrites the record of a valid request with the same id.
    let claim = &claim;
    let refuse = |error: RecordedError, outcome: Outcome| async move {
        match app.store.begin(claim).await {
            Ok(Begin::Acquired(_)) => {
                let finish = Finish::Failed {
                    error,
                    called: false,
                };
                match end(app, job, &finish, now).await {
                    Ok(_) => outcome,
                    Err(e) => retry(format!("could not record the refusal: {e}"), None),
                }
            }
            Ok(_) => match outcome {
                Outcome::Invalid { detail } | Outcome::Failed { detail, .. } => Outcome::Invalid {
                    detail: format!("{detail} (not recorded: the id belongs to another request)"),
                },
                other => other,
            },
            Err(e) => retry(format!("could not record the refusal: {e}"), None),
        }
    };
    // A valid request, and when it goes: now, or on schedule (refused
    // beyond the limit, or without an id).
    let checked = job
        .request
        .as_ref()
        .map_err(RequestError::clone)
        .and_then(|request| Ok((request, request.scheduled_for(now, app.send_at_max_days)?)));
    let (request, send_at) = match checked {
        Ok(checked) => checked,
        Err(invalid) => {
            let mut error = sender_error(
                "invalid_request",
                ErrorClass::Permanent,
                invalid.to_string(),
            );
            error.details = Some(invalid.path.clone());
            let detail = invalid.to_string();
            return refuse(error, Outcome::Invalid { detail }).await;
        }
    };
    // The number must be the request's tenant's.
    match app.directory.binding(&job.phone_number_id).await {
        Err(e) => return retry(format!("could not read the number's binding: {e}"), None),
        Ok(binding) => {
            if let Err(refusal) = tenant::check_sender(request.tenant(), binding.as_ref()) {
                let detail = refusal.explain(request.tenant(), &job.phone_number_id);
                let mut error =
                    sender_error(refusal.reason(), ErrorClass::Permanent, detail.clone());
                error.details = Some("phone_number_id".to_owned());
                let reason = refusal.reason().to_owned();
                return refuse(error, Outcome::Failed { reason, detail }).await;
            }
        }
    }

    if let Some(send_at) = send_at {
        if job.fire.is_some() {
            // Scheduler fires within the minute before `send_at`: held
            // back for the seconds left (whole seconds, rounded up).
            let left = Duration::from_millis(send_at.saturating_sub(now));
            return Outcome::Held {
                delay: Duration::from_secs(left.as_millis().div_ceil(1000) as u64)
                    .min(requeue::MAX_VISIBILITY),
            };
        }
        return schedule(app, job, claim, send_at, now).await;
    }

    // The template must fit the catalogue's entry, when it has a trusted one.
    if let (Some(catalogue), Some(template)) = (&app.templates, request.template_message())
        && let Err(mismatch) = catalogue.check(request.tenant(), template, now)
    {
        let mut error = sender_error(mismatch.reason, ErrorClass::Permanent, mismatch.to_string());
        error.source = "catalogue".to_owned();
        error.details = Some(mismatch.path.clone());
        let reason = mismatch.reason.to_owned();
        let detail = mismatch.to_string();
        return refuse(error, Outcome::Failed { reason, detail }).await;
    }

    // S3 objects: only from the buckets the deployment allows, refused
    // before any call.
    let s3_refs = media::s3_refs(&request.cloud_api_body(&job.message_id));
    if !s3_refs.is_empty() {
        let refusal = match &app.media {
            None => Some(media::Refusal {
                reason: "media_not_configured",
                path: s3_refs[0].path.clone(),
                message: "names an S3 object, but this deployment has no MEDIA_BUCKET".to_owned(),
            }),
            Some(m) => media::disallowed(&s3_refs, &m.allowed),
        };
        if let Some(refusal) = refusal {
            let detail = refusal.to_string();
            let mut error = sender_error(refusal.reason, ErrorClass::Permanent, detail.clone());
            error.details = Some(refusal.path);
            let reason = refusal.reason.to_owned();
            return refuse(error, Outcome::Failed { reason, detail }).await;
        }
    }

    let earlier = match app.store.begin(claim).await {
        Ok(Begin::Acquired(earlier)) => earlier,
        Ok(Begin::Done) => return Outcome::Duplicate,
        Ok(Begin::Cancelled) => {
            return Outcome::Dropped {
                reason: "cancelled",
            };
        }
        Ok(Begin::Conflict) => return Outcome::Refused,
        Ok(Begin::Busy { lock_expires_at }) => {
            let wait = Duration::from_millis(lock_expires_at.saturating_sub(now));
            return Outcome::Retry {
                delay: (wait
                    + Duration::from_secs(1)
                    + Duration::from_millis(fastrand::u64(0..2000)))
                .min(requeue::MAX_VISIBILITY),
                reason: "another attempt holds the lock".to_owned(),
                dead_letter: last_receive,
            };
        }
        Err(e) => return retry(format!("could not take the lock: {e}"), None),
    };

    // From here this attempt holds the lock: every exit records or releases.
    let release = |error: RecordedError, called: bool| {
        let dead_letter = last_receive.then(|| RecordedError {
            reason: "dead_lettered_after_retries".to_owned(),
            message: format!(
                "gave up after {} receives; the message is in the dead-letter queue. Last error: {}",
                job.received.receive_count, error.message
            ),
            ..error.clone()
        });
        Finish::Released {
            last_error: error,
            called,
            dead_letter,
        }
    };
    let finish = |f: Finish| async move { end(app, job, &f, now_millis()).await };

    match earlier {
        Earlier::Clean => {}
        Earlier::Accepted { wamid } => {
            // The lost answer of an earlier call: Meta's status webhook
            // (which carries our id) arrived, so it went out. Never again.
            return match finish(Finish::Confirmed).await {
                Ok(_) => Outcome::Confirmed { wamid },
                Err(e) => retry(format!("could not record the confirmation: {e}"), None),
            };
        }
        Earlier::Unconfirmed => tracing::warn!(
            message_id = %job.message_id,
            outcome = "resending_unconfirmed",
            "an earlier attempt crashed or its call went unanswered, and no status webhook arrived within the grace delay: sending (the customer may get it twice if that call had reached Meta)"
        ),
    }

    if let Some(reason) = halt.0.get() {
        let error = sender_error("sending_halted", ErrorClass::Auth, reason.clone());
        let _ = finish(release(error, false)).await;
        return retry(format!("not tried: {reason}"), Some(AUTH_BACKOFF_FLOOR));
    }

    let customer = request.customer();
    if request.delivers_content() && !customer.is_empty() {
        match app
            .contacts
            .contact(request.tenant(), &job.phone_number_id, &customer, now)
            .await
        {
            Err(e) => {
                let error = sender_error("store_unavailable", ErrorClass::Retryable, e.to_string());
                let _ = finish(release(error, false)).await;
                return retry(format!("could not read the contact: {e}"), None);
            }
            Ok(Some(contact)) if contact.opted_out => {
                let reason = "opted_out".to_owned();
                return match finish(Finish::Suppressed { reason }).await {
                    Ok(_) => Outcome::Suppressed,
                    Err(e) => retry(format!("could not record the suppression: {e}"), None),
                };
            }
            Ok(Some(contact))
                if request.needs_service_window()
                    && contact
                        .last_inbound_at
                        .is_some_and(|at| !shared::check::window_open(at, now)) =>
            {
                let at = contact.last_inbound_at.unwrap_or_default();
                let hours = now.saturating_sub(at) / 3_600_000;
                let error = sender_error(
                    "outside_service_window",
                    ErrorClass::Permanent,
                    format!(
                        "the contact last wrote {hours} h ago (last_inbound_at {at}); a free-form {} message is allowed only within 24 h: send a template",
                        request.kind()
                    ),
                );
                let detail = error.message.clone();
                return match finish(Finish::Failed {
                    error,
                    called: false,
                })
                .await
                {
                    Ok(_) => Outcome::Failed {
                        reason: "outside_service_window".to_owned(),
                        detail,
                    },
                    Err(e) => retry(format!("could not record the failure: {e}"), None),
                };
            }
            Ok(_) => {}
        }
    }

    app.limiter.acquire(&job.phone_number_id).await;
    // Another record may have hit a token error while this one waited.
    if let Some(reason) = halt.0.get() {
        let error = sender_error("sending_halted", ErrorClass::Auth, reason.clone());
        let _ = finish(release(error, false)).await;
        return retry(format!("not tried: {reason}"), Some(AUTH_BACKOFF_FLOOR));
    }

    let mut body = request.cloud_api_body(&job.message_id);
    if let (Some(media), false) = (&app.media, s3_refs.is_empty()) {
        match media
            .resolve(
                request.tenant(),
                &job.phone_number_id,
                &mut body,
                now_millis(),
            )
            .await
        {
            Ok(()) => {}
            Err(media::ResolveError::Refused(refusal)) => {
                let detail = refusal.to_string();
                let mut error = sender_error(refusal.reason, ErrorClass::Permanent, detail.clone());
                error.details = Some(refusal.path);
                let reason = refusal.reason.to_owned();
                return match finish(Finish::Failed {
                    error,
                    called: false,
                })
                .await
                {
                    Ok(_) => Outcome::Failed { reason, detail },
                    Err(e) => retry(format!("could not record the failure: {e}"), None),
                };
            }
            Err(media::ResolveError::Upload(err)) if err.class() == ErrorClass::Permanent => {
                let error = graph_recorded(&err, "media_upload_failed");
                let detail = err.to_string();
                return match finish(Finish::Failed {
                    error,
                    called: false,
                })
                .await
                {
                    Ok(_) => Outcome::Failed {
                        reason: "media_upload_failed".to_owned(),
                        detail,
                    },
                    Err(e) => retry(format!("could not record the failure: {e}"), None),
                };
            }
            Err(e) => {
                let error = sender_error("media_unavailable", ErrorClass::Retryable, e.to_string());
                let _ = finish(release(error, false)).await;
                return retry(format!("could not prepare the media: {e}"), None);
            }
        }
    }
    let answer = app.api.send(&job.phone_number_id, &body).await;
    *call = Some(Call::of(&answer));
    match answer {
        Ok(accepted) => {
            let wamid = accepted.wamid.clone();
            match finish(Finish::Accepted {
                wamid: wamid.clone(),
            })
            .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    message_id = %job.message_id,
                    "Meta accepted the message but the lock had been taken over; record left to the other attempt"
                ),
                // Retrying would send the message twice; the status
                // webhooks (which carry our id) still complete the record.
                Err(e) => tracing::error!(
                    message_id = %job.message_id,
                    wamid = wamid.as_deref(),
                    error = %e,
                    "Meta accepted the message but recording it failed; not retrying, to avoid a duplicate"
                ),
            }
            Outcome::Sent { wamid }
        }
        Err(err) if err.class() == ErrorClass::Permanent => {
            let reason = shared::cloud_api::failure_reason(err.code()).unwrap_or("graph_error");
            let error = graph_recorded(&err, reason);
            let detail = err.to_string();
            match finish(Finish::Failed {
                error,
                called: true,
            })
            .await
            {
                Ok(_) => Outcome::Failed {
                    reason: reason.to_owned(),
                    detail,
                },
                Err(e) => retry(
                    format!("{err}; and recording the failure failed: {e}"),
                    None,
                ),
            }
        }
        Err(err) if unconfirmed(&err) && !last_receive => {
            // The request left, the answer did not come: Meta may have
            // accepted it. Keep the lock through the grace delay; the retry
            // (or any copy) takes it over then and sends only if no status
            // webhook arrived meanwhile.
            let grace = app.confirm_grace;
            let mut error = graph_recorded(&err, "unconfirmed_call");
            error.details = Some(format!(
                "no answer from the Cloud API; waiting up to {} s for a status webhook before sending again",
                grace.as_secs()
            ));
            let grace_until = now_millis() + grace.as_millis() as u64;
            let _ = finish(Finish::Unconfirmed {
                last_error: error,
                grace_until,
            })
            .await;
            let after_grace = grace + Duration::from_millis(1000 + fastrand::u64(0..2000));
            retry(err.to_string(), Some(after_grace))
        }
        Err(err) => {
            let mut at_least = err.retry_after();
            if err.halts_sending() {
                let meta = err.meta();
                tracing::error!(
                    alert = SENDING_HALTED,
                    message_id = %job.message_id,
                    code = err.code(),
                    details = meta.and_then(|m| m.details.as_deref()),
                    fbtrace_id = meta.and_then(|m| m.fbtrace_id.as_deref()),
                    error = %err,
                    "the Cloud API refuses this token or account; no more sends in this batch. Fix the access token in the secret or the account's standing with Meta"
                );
                let _ = halt.0.set(format!("sending halted by {err}"));
                at_least = at_least.max(Some(AUTH_BACKOFF_FLOOR));
            }
            let _ = finish(release(graph_recorded(&err, "graph_error"), true)).await;
            retry(err.to_string(), at_least)
        }
    }
}

/// Puts a request with a future `send_at` on schedule: records it
/// `scheduled` (with the request, for the fire), sets its fire and
/// announces it. Each step is idempotent, so a failure retries them all.
async fn schedule(app: &App, job: &Job, claim: &Claim<'_>, send_at: u64, now: u64) -> Outcome {
    let retry = |reason: String| Outcome::Retry {
        delay: backoff(job.received.receive_count, None),
        reason,
        dead_letter: job.received.receive_count >= app.max_receive_count,
    };
    let Some(timer) = &app.timer else {
        let detail = "send_at is in the future, but this deployment has no SCHEDULE_GROUP: scheduled sends are off".to_owned();
        let mut error = sender_error(
            "scheduling_not_configured",
            ErrorClass::Permanent,
            detail.clone(),
        );
        error.details = Some("send_at".to_owned());
        return match app.store.begin(claim).await {
            Ok(Begin::Acquired(_)) => match end(
                app,
                job,
                &Finish::Failed {
                    error,
                    called: false,
                },
                now,
            )
            .await
            {
                Ok(_) => Outcome::Failed {
                    reason: "scheduling_not_configured".to_owned(),
                    detail,
                },
                Err(e) => retry(format!("could not record the refusal: {e}")),
            },
            Ok(_) => Outcome::Duplicate,
            Err(e) => retry(format!("could not record the refusal: {e}")),
        };
    };
    let scheduled = Claim {
        // The record lives its TTL after the message goes.
        expires_at: (send_at + app.message_ttl.as_millis() as u64) / 1000,
        ..claim.clone()
    };
    let scheduled_at = match app
        .store
        .schedule(&scheduled, send_at, &job.received.body)
        .await
    {
        Ok(Scheduling::Recorded { scheduled_at }) => scheduled_at,
        Ok(Scheduling::Claimed) => return Outcome::Duplicate,
        Ok(Scheduling::Cancelled) => {
            return Outcome::Dropped {
                reason: "cancelled",
            };
        }
        Ok(Scheduling::Conflict) => return Outcome::Refused,
        Err(e) => return retry(format!("could not record the schedule: {e}")),
    };
    if let Err(e) = timer.set(job.tenant(), &job.message_id, send_at, now).await {
        return retry(format!("could not set the schedule: {e}"));
    }
    let request = job.request.as_ref().ok();
    let data = StatusChanged {
        message_id: Some(job.message_id.clone()),
        phone_number_id: Some(job.phone_number_id.clone()),
        recipient: request.and_then(|r| r.to.clone()),
        recipient_ids: RecipientIds {
            recipient_user_id: request.and_then(|r| r.recipient.clone()),
            ..RecipientIds::default()
        },
        status: Status::Scheduled.as_str().to_owned(),
        old_status: Status::Pending,
        new_status: Status::Scheduled,
        metadata: request.and_then(|r| r.metadata.clone()),
        ..StatusChanged::default()
    };
    let event = Event::ended_by_sender(job.tenant(), scheduled_at, data);
    if let Err(e) = app.events.publish(std::slice::from_ref(&event)).await {
        return retry(format!("the scheduled event was not published: {e}"));
    }
    Outcome::Scheduled { send_at }
}

/// Runs the template sync (`shared::templates::sync`) for every account:
/// the default tenant's and each binding's. One account failing does not
/// stop the others; the answer lists each account's report or error.
pub async fn sync_templates(app: &App) -> Value {
    let Some(sync) = &app.sync else {
        return serde_json::json!({"error": "this instance has no template sync"});
    };
    template_sync::sync_all(
        &sync.api,
        sync.store.as_ref(),
        app.events.as_ref(),
        sync.bindings.as_ref(),
        sync.default.clone(),
    )
    .await
}

/// Recording how an attempt ends failed: the upstream event that announces
/// it, or the record itself. Either way the record is retried.
#[derive(Debug, thiserror::Error)]
enum EndError {
    #[error("the upstream event was not published: {0}")]
    Event(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records how this attempt ends. A message the sender ends itself (failed
/// or suppressed: Meta will send no status for it) is announced upstream
/// first, so a failed publish leaves the record open and the retry
/// announces it again, under the same event id.
async fn end(app: &App, job: &Job, finish: &Finish, now: u64) -> Result<bool, EndError> {
    if let Some(event) = announcement(job, finish, now) {
        app.events.publish(std::slice::from_ref(&event)).await?;
    }
    Ok(app
        .store
        .finish(
            job.tenant(),
            &job.message_id,
            &job.request_hash,
            finish,
            now,
        )
        .await?)
}

/// The `message.status_changed` event of an end the sender decides: failed
/// (refused before the call, refused by Meta, retries run out) or
/// suppressed (opted out). `None` for every other end: Meta's status
/// webhooks tell those.
fn announcement(job: &Job, finish: &Finish, now: u64) -> Option<Event> {
    let (status, error) = match finish {
        Finish::Failed { error, .. } => (Status::Failed, Some(error)),
        Finish::Released {
            dead_letter: Some(error),
            ..
        } => (Status::Failed, Some(error)),
        Finish::Suppressed { .. } => (Status::Suppressed, None),
        _ => return None,
    };
    let request = job.request.as_ref().ok();
    let error = error.map(|e| ErrorRecord {
        code: e.code,
        title: e.title.clone(),
        message: Some(e.message.clone()),
        details: e.details.clone(),
        class: Some(e.class.clone()),
        source: Some(e.source.clone()),
        reason: Some(e.reason.clone()),
    });
    let data = StatusChanged {
        message_id: Some(job.message_id.clone()),
        phone_number_id: Some(job.phone_number_id.clone()).filter(|p| !p.is_empty()),
        recipient: request.and_then(|r| r.to.clone()),
        recipient_ids: RecipientIds {
            recipient_user_id: request.and_then(|r| r.recipient.clone()),
            ..RecipientIds::default()
        },
        status: status.as_str().to_owned(),
        old_status: Status::Pending,
        new_status: status,
        errors: error.iter().cloned().collect(),
        error,
        metadata: request.and_then(|r| r.metadata.clone()),
        ..StatusChanged::default()
    };
    Some(Event::ended_by_sender(job.tenant(), now, data))
}

/// Whether a failed call may still have reached Meta: the request was sent
/// (or being sent) when the answer was lost. A refused connection is not.
fn unconfirmed(err: &GraphError) -> bool {
    matches!(err, GraphError::Transport(e) if !e.is_connect())
}

/// Logs the record's outcome and, for a retry, sets when it comes back.
async fn settle(app: &App, job: &Job, outcome: &Outcome, started: Instant) {
    let message_id = job.message_id.as_str();
    let tenant = job.tenant();
    let sqs_message_id = job.received.message_id.as_str();
    let line = LogLine::of(outcome);
    let request_hash = matches!(outcome, Outcome::Refused).then_some(job.request_hash.as_str());
    // One line per record, at the outcome's level; absent fields are left
    // out of the JSON.
    macro_rules! emit {
        ($level:ident) => {
            tracing::$level!(
                message_id,
                tenant,
                sqs_message_id,
                kind = job.request.as_ref().map_or("invalid", |r| r.kind()),
                outcome = line.outcome,
                reason = line.reason,
                detail = line.detail,
                wamid = line.wamid,
                receive_count = line.retry.then_some(job.received.receive_count),
                delay_s = line.delay_s,
                request_hash,
                latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                "{}",
                line.message
            )
        };
    }
    match line.level {
        tracing::Level::ERROR => emit!(error),
        tracing::Level::WARN => emit!(warn),
        _ => emit!(info),
    }
    if let Outcome::Retry { delay, .. } | Outcome::Held { delay } = outcome {
        match &job.received.receipt_handle {
            Some(handle) => {
                if let Err(e) = app.requeue.retry_in(handle, *delay).await {
                    tracing::warn!(message_id, tenant, sqs_message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
                }
            }
            None => tracing::warn!(
                message_id,
                tenant,
                sqs_message_id,
                "no receiptHandle; the queue's visibility timeout applies"
            ),
        }
    }
}

/// What a record's log line says about its outcome.
struct LogLine<'a> {
    level: tracing::Level,
    outcome: &'static str,
    reason: Option<&'a str>,
    detail: Option<&'a str>,
    wamid: Option<&'a str>,
    delay_s: Option<u64>,
    /// A retry or dead letter: the line names the receive count.
    retry: bool,
    message: &'static str,
}

impl<'a> LogLine<'a> {
    fn of(outcome: &'a Outcome) -> Self {
        let line = |level, reason: Option<&'a str>, detail: Option<&'a str>| Self {
            level,
            outcome: outcome.name(),
            reason,
            detail,
            wamid: None,
            delay_s: None,
            retry: false,
            message: "send request",
        };
        use tracing::Level;
        match outcome {
            Outcome::Sent { wamid } => Self {
                wamid: wamid.as_deref(),
                ..line(Level::INFO, None, None)
            },
            Outcome::Duplicate => line(
                Level::INFO,
                Some("already sent or settled; not calling Meta again"),
                None,
            ),
            Outcome::Confirmed { wamid } => Self {
                wamid: wamid.as_deref(),
                ..line(
                    Level::INFO,
                    Some(
                        "an earlier call's answer was lost, but its status webhook arrived: recorded without sending again",
                    ),
                    None,
                )
            },
            Outcome::Suppressed => line(Level::INFO, Some("opted_out"), None),
            Outcome::Failed { reason, detail } => line(Level::WARN, Some(reason), Some(detail)),
            Outcome::Invalid { detail } => line(Level::WARN, Some("invalid_request"), Some(detail)),
            Outcome::Refused => line(
                Level::ERROR,
                Some("id_reused"),
                Some(
                    "this id was already used for a different request (another body); give each distinct message its own id",
                ),
            ),
            Outcome::Retry {
                delay,
                reason,
                dead_letter: true,
            } => Self {
                outcome: "dead_letter",
                retry: true,
                delay_s: Some(delay.as_secs()),
                message: "last receive failed; the queue moves the message to its dead-letter queue",
                ..line(Level::ERROR, Some(reason), None)
            },
            Outcome::Retry { delay, reason, .. } => Self {
                retry: true,
                delay_s: Some(delay.as_secs()),
                ..line(Level::WARN, Some(reason), None)
            },
            Outcome::Scheduled { .. } => line(
                Level::INFO,
                Some("send_at is ahead: recorded scheduled, its fire set"),
                None,
            ),
            Outcome::Held { delay } => Self {
                delay_s: Some(delay.as_secs()),
                ..line(
                    Level::INFO,
                    Some("the fire came before send_at: back on the queue for the seconds left"),
                    None,
                )
            },
            Outcome::Dropped { reason } => line(
                Level::INFO,
                Some(reason),
                Some(match *reason {
                    "cancelled" => "cancelled before it went: not sent",
                    _ => "a fire for a message with no record (or an expired one): nothing to send",
                }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryLedger, MemoryRequeue};
    use async_trait::async_trait;
    use serde_json::json;
    use shared::cloud_api::{Accepted, MetaError};
    use shared::events::Payload;
    use std::sync::Mutex;

    /// A Cloud API that answers with `answer` after `delay`, counting calls.
    struct FakeApi {
        calls: Mutex<Vec<Value>>,
        delay: Duration,
        answer: fn() -> Result<Accepted, GraphError>,
    }

    #[async_trait]
    impl CloudApi for FakeApi {
        async fn send(&self, _: &str, body: &Value) -> Result<Accepted, GraphError> {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(body.clone());
            }
            tokio::time::sleep(self.delay).await;
            (self.answer)()
        }
    }

    fn accepted() -> Result<Accepted, GraphError> {
        Ok(Accepted {
            wamid: Some("wamid.FAKE".into()),
            wa_id: None,
            user_id: None,
        })
    }

    fn graph(code: i64, retry_after: Option<u64>) -> Result<Accepted, GraphError> {
        Err(GraphError::Api {
            error: Box::new(MetaError {
                http_status: 400,
                code,
                message: format!("error {code}"),
                ..MetaError::default()
            }),
            class: shared::cloud_api::classify(400, code, None),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    struct Fixture {
        app: App,
        api: Arc<FakeApi>,
        store: Arc<MemoryLedger>,
        requeue: Arc<MemoryRequeue>,
    }

    fn fixture(delay: Duration, answer: fn() -> Result<Accepted, GraphError>) -> Fixture {
        let config = configure(&Settings::from_pairs([
            ("WHATSAPP_SECRET_ID", "s"),
            ("TABLE_NAME", "chasqui"),
            ("SEND_QUEUE_URL", "http://127.0.0.1:1/q"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1122"),
        ]))
        .unwrap();
        let api = Arc::new(FakeApi {
            calls: Mutex::default(),
            delay,
            answer,
        });
        let store = Arc::new(MemoryLedger::default());
        let requeue = Arc::new(MemoryRequeue::default());
        let app = App::new(
            &config,
            Arc::new(shared::tenant::Directory::fixed(Vec::new())),
            store.clone(),
            store.clone(),
            api.clone(),
            requeue.clone(),
        );
        Fixture {
            app,
            api,
            store,
            requeue,
        }
    }

    fn event(records: &[(&str, Value, u32)]) -> Value {
        let records: Vec<SqsRecord> = records
            .iter()
            .map(|(id, body, count)| {
                SqsRecord::new(*id, body.to_string()).with_receive_count(*count)
            })
            .collect();
        shared::sqs::sqs_event(&records)
    }

    fn text(id: &str, to: &str) -> Value {
        json!({"id": id, "to": to, "message": {"type": "text", "text": {"body": "hi"}}})
    }

    #[tokio::test]
    async fn simultaneous_copies_make_one_call_with_an_atomic_store() {
        let f = fixture(Duration::from_millis(50), accepted);
        let body = text("same", "+5511988887777");
        let batches: Vec<Value> = (0..8)
            .map(|i| event(&[(&format!("sqs-{i}"), body.clone(), 1)]))
            .collect();
        let responses =
            futures_util::future::join_all(batches.into_iter().map(|e| handle(&f.app, e))).await;
        let failed: usize = responses.iter().map(|r| r.batch_item_failures.len()).sum();
        assert_eq!(f.api.calls.lock().unwrap().len(), 1);
        assert_eq!(failed, 7, "every copy that lost the lock comes back later");
        // each is handed back until just after the winner's lock would expire
        for (_, delay) in f.requeue.delays.lock().unwrap().iter() {
            assert!(*delay >= DEFAULT_LOCK - Duration::from_secs(1), "{delay:?}");
        }
        assert!(f.store.record("same").unwrap().accepted);
    }

    #[tokio::test]
    async fn retry_after_and_auth_errors_set_the_visibility() {
        let f = fixture(Duration::ZERO, || graph(130429, Some(120)));
        let r = handle(&f.app, event(&[("a", text("a", "+5511988887777"), 1)])).await;
        assert_eq!(r.batch_item_failures.len(), 1);
        assert_eq!(
            f.requeue.delays.lock().unwrap()[0],
            ("AQEB-a".to_owned(), Duration::from_secs(120))
        );

        let f = fixture(Duration::ZERO, || graph(190, None));
        let r = handle(&f.app, event(&[("b", text("b", "+5511988887777"), 1)])).await;
        assert_eq!(r.batch_item_failures.len(), 1);
        assert!(f.requeue.delays.lock().unwrap()[0].1 >= AUTH_BACKOFF_FLOOR);
    }

    /// A publisher that refuses the first `fail` publishes, then keeps
    /// what it is given.
    #[derive(Default)]
    struct Flaky {
        fail: Mutex<usize>,
        published: Mutex<Vec<Event>>,
    }

    #[async_trait]
    impl EventPublisher for Flaky {
        async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(QueueError::Unavailable {
                    queue_url: "events".into(),
                    source: "connection refused".into(),
                });
            }
            self.published.lock().unwrap().extend_from_slice(events);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_refusal_is_announced_before_it_is_recorded_and_again_after_a_failed_publish() {
        let f = fixture(Duration::ZERO, accepted);
        let events = Arc::new(Flaky {
            fail: Mutex::new(1),
            ..Flaky::default()
        });
        let app = App {
            events: events.clone(),
            ..f.app
        };
        // An invalid request (no message type) is refused before any call.
        let body = json!({"id": "bad", "to": "+5511988887777", "message": {}});
        let first = handle(&app, event(&[("m1", body.clone(), 1)])).await;
        assert_eq!(first.batch_item_failures.len(), 1, "the record is retried");
        assert_eq!(f.store.record("bad").and_then(|r| r.failed_reason), None);
        assert!(events.published.lock().unwrap().is_empty());
        // The attempt's lock lapses (SEND_LOCK_SECONDS) and the message
        // comes back.
        let key = shared::table::message_pk(shared::tenant::DEFAULT_TENANT, "bad");
        f.store
            .messages
            .lock()
            .unwrap()
            .get_mut(&key)
            .unwrap()
            .lock_expires_at = 0;
        let second = handle(&app, event(&[("m1", body, 2)])).await;
        assert!(second.batch_item_failures.is_empty(), "{second:?}");
        assert_eq!(
            f.store
                .record("bad")
                .and_then(|r| r.failed_reason)
                .as_deref(),
            Some("invalid_request")
        );
        let published = events.published.lock().unwrap().clone();
        assert_eq!(published.len(), 1);
        let Payload::StatusChanged(data) = &published[0].payload else {
            panic!("{published:?}")
        };
        assert_eq!(data.message_id.as_deref(), Some("bad"));
        assert_eq!(
            (data.old_status, data.new_status),
            (Status::Pending, Status::Failed)
        );
        assert_eq!(
            data.error.as_ref().and_then(|e| e.reason.as_deref()),
            Some("invalid_request")
        );
        assert!(f.api.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn only_the_ends_meta_never_reports_are_announced_under_one_id_per_tenant() {
        let job = |tenant: &str| Job {
            received: SqsRecord::new("m", "{}"),
            tenant: tenant.to_owned(),
            message_id: "order-1".to_owned(),
            phone_number_id: "1122".to_owned(),
            request: SendRequest::parse(&text("order-1", "+5511988887777").to_string()),
            request_hash: "h".to_owned(),
            fire: None,
        };
        let suppressed = Finish::Suppressed {
            reason: "opted_out".to_owned(),
        };
        let a = announcement(&job("default"), &suppressed, 1_000).unwrap();
        let again = announcement(&job("default"), &suppressed, 9_000).unwrap();
        let other = announcement(&job("acme"), &suppressed, 1_000).unwrap();
        assert_eq!(a.id, again.id, "a retried announcement keeps its id");
        assert_ne!(
            a.id, other.id,
            "tenants' message ids never share an event id"
        );
        assert_eq!(other.tenant, "acme");
        let Payload::StatusChanged(data) = &a.payload else {
            panic!("{a:?}")
        };
        assert_eq!(data.status, "suppressed");
        assert_eq!(data.recipient.as_deref(), Some("5511988887777"));
        assert!(data.error.is_none());
        let error = RecordedError {
            reason: "graph_error".to_owned(),
            ..RecordedError::default()
        };
        for quiet in [
            Finish::Accepted { wamid: None },
            Finish::Confirmed,
            Finish::Released {
                last_error: error.clone(),
                called: true,
                dead_letter: None,
            },
        ] {
            assert!(
                announcement(&job("default"), &quiet, 1).is_none(),
                "{quiet:?}"
            );
        }
        let dead = Finish::Released {
            last_error: error.clone(),
            called: true,
            dead_letter: Some(error),
        };
        assert!(announcement(&job("default"), &dead, 1).is_some());
    }

    #[tokio::test]
    async fn the_last_receive_records_the_dead_letter_and_a_redrive_clears_it() {
        let f = fixture(Duration::ZERO, || graph(131000, None));
        let body = text("dl", "+5511988887777");
        handle(
            &f.app,
            event(&[("m", body.clone(), DEFAULT_MAX_RECEIVE_COUNT - 1)]),
        )
        .await;
        let record = f.store.record("dl").unwrap();
        assert_eq!(record.send_state, None);
        assert_eq!(record.failed_reason, None);
        handle(
            &f.app,
            event(&[("m", body.clone(), DEFAULT_MAX_RECEIVE_COUNT)]),
        )
        .await;
        let record = f.store.record("dl").unwrap();
        assert_eq!(
            record.send_state.as_deref(),
            Some(store::state::DEAD_LETTERED)
        );
        assert_eq!(
            record.failed_reason.as_deref(),
            Some("dead_lettered_after_retries")
        );
        assert_eq!(record.attempts, 2);
    }

    /// Records the fires it is asked to set.
    #[derive(Default)]
    struct FakeTimer {
        set: Mutex<Vec<(String, String, u64)>>,
    }

    #[async_trait]
    impl Timer for FakeTimer {
        async fn set(
            &self,
            tenant: &str,
            id: &str,
            send_at_ms: u64,
            _now_ms: u64,
        ) -> Result<(), shared::schedule::ScheduleError> {
            self.set
                .lock()
                .unwrap()
                .push((tenant.to_owned(), id.to_owned(), send_at_ms));
            Ok(())
        }
        async fn clear(&self, _: &str, _: &str) -> Result<(), shared::schedule::ScheduleError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_future_send_at_is_scheduled_and_its_early_fire_held() {
        let in_an_hour = now_millis() + 3_600_000;
        let mut body = text("later", "+5511988887777");
        body["send_at"] = shared::time::rfc3339_utc(in_an_hour).into();
        // Without a timer (no SCHEDULE_GROUP): refused, naming send_at.
        let f = fixture(Duration::ZERO, accepted);
        handle(&f.app, event(&[("m", body.clone(), 1)])).await;
        assert_eq!(
            f.store.record("later").unwrap().failed_reason.as_deref(),
            Some("scheduling_not_configured")
        );
        // With one: recorded with the request, one fire set, no call.
        let f = fixture(Duration::ZERO, accepted);
        let timer = Arc::new(FakeTimer::default());
        let app = f.app.with_timer(timer.clone());
        let r = handle(&app, event(&[("m", body.clone(), 1)])).await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
        let record = f.store.record("later").unwrap();
        assert_eq!(record.request.as_deref(), Some(body.to_string().as_str()));
        assert!(record.send_state.is_none() && record.scheduled_at.is_some());
        let set = timer.set.lock().unwrap().clone();
        assert_eq!(
            set,
            [(
                "default".to_owned(),
                "later".to_owned(),
                in_an_hour / 1000 * 1000
            )]
        );
        // Its fire, an hour early: held for the time left, not sent.
        let fire: Value = serde_json::from_str(&Fire::new("default", "later").body()).unwrap();
        let r = handle(&app, event(&[("f", fire, 1)])).await;
        assert_eq!(r.batch_item_failures.len(), 1);
        let (_, delay) = f.requeue.delays.lock().unwrap()[0].clone();
        assert!(
            delay > Duration::from_secs(3_500) && delay <= Duration::from_secs(3_600),
            "{delay:?}"
        );
        assert!(f.api.calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_recipient_is_served_in_arrival_order() {
        let f = fixture(Duration::from_millis(10), accepted);
        let r = handle(
            &f.app,
            event(&[
                ("1", text("1", "+5511900000001"), 1),
                ("2", text("2", "+5511900000001"), 1),
                ("3", text("3", "+5511900000002"), 1),
            ]),
        )
        .await;
        assert!(r.batch_item_failures.is_empty());
        let calls = f.api.calls.lock().unwrap().clone();
        let order: Vec<_> = calls
            .iter()
            .filter(|c| c["to"] == "5511900000001")
            .map(|c| c["biz_opaque_callback_data"].clone())
            .collect();
        assert_eq!(order, [json!("1"), json!("2")]);
        assert_eq!(calls.len(), 3);
    }
}
