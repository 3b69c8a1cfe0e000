//! The status function: consumes the webhook queue and keeps DynamoDB the
//! truth about every message and contact. Delivery statuses, inbound
//! messages, opt-outs and other webhook fields are applied with idempotent,
//! order-independent writes; upstream learns what happened from events
//! published after the writes they describe.
//!
//! Each SQS record is processed on its own and answered in a partial batch
//! response. A record that fails is retried by SQS; on its last allowed
//! attempt the function moves it to the dead-letter queue itself, with the
//! reason, and acknowledges it.

// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod apply;
pub mod dead_letter;
pub mod dynamo;
pub mod health;
pub mod keywords;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use shared::config::{ConfigError, Settings};
use shared::events::Payload;
use shared::metrics::{self, Emf};
use shared::pseudonym::{self, LOG_KEY_FIELD};
use shared::secrets::{SecretJson, SecretSource, SecretsManagerSource};
use shared::sqs::{Batch, BatchResponse, SqsRecord};
use shared::templates::store::{DynamoTemplates, TemplateStore};
use shared::tenant::{self, BINDINGS_TTL, Directory, DynamoBindings};

use crate::apply::{Applier, ApplyError, Policy};
use crate::dead_letter::{DeadLetter, DeadLetters, SqsDeadLetters};
use crate::dynamo::{DynamoStore, RequestCounter};
use crate::keywords::{DEFAULT_OPT_IN, DEFAULT_OPT_OUT, Keywords};
use crate::store::{ContactStore, HealthStore, MessageStore, WebhookLog};
use shared::events::publish::{self, EventPublisher};
use shared::media::MediaJob;
use shared::queue::{Outgoing, QueueError, SqsQueue};

/// Every alert this function logs (`alert = ...`); the SAM template has a
/// metric filter and an alarm for each (`tests/tests/template.rs`).
pub const ALERTS: &[&str] = &[
    health::QUALITY_DROPPED,
    health::ACCOUNT_RESTRICTED,
    shared::templates::ALERT,
];

/// Every AWS action this function calls, with the setting that names the
/// resource it acts on. (The SQS event source mapping that feeds the
/// function also needs `sqs:ReceiveMessage`, `sqs:DeleteMessage` and
/// `sqs:GetQueueAttributes` on the webhook queue; SAM adds those.) The
/// `Query` is on the table's `wamid` index (`shared::table::WAMID_INDEX`).
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    ("TABLE_NAME", "dynamodb:UpdateItem"),
    ("TABLE_NAME", "dynamodb:PutItem"),
    ("TABLE_NAME", "dynamodb:Query"),
    ("UPSTREAM_EVENTS_QUEUE_URL", "sqs:SendMessage"),
    ("CALLBACKS_QUEUE_URL", "sqs:SendMessage"),
    ("WEBHOOK_DLQ_URL", "sqs:SendMessage"),
    // The key of the customer references in log lines (`shared::pseudonym`).
    ("LOG_KEY_SECRET_ID", "secretsmanager:GetSecretValue"),
    // Inbound files to fetch (`docs/media.md`).
    ("MEDIA_QUEUE_URL", "sqs:SendMessage"),
];

pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
pub const DEFAULT_INBOUND_TTL_DAYS: u64 = 90;
pub const DEFAULT_RECORD_TTL_DAYS: u64 = 30;
pub const DEFAULT_FOREIGN_MESSAGE_TTL_DAYS: u64 = 30;

/// Everything the status function reads at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusConfig {
    pub table_name: String,
    /// Where events go; `None` logs them only.
    pub upstream_events_queue_url: Option<String>,
    /// `CALLBACKS_QUEUE_URL`: events also go there for signed callbacks.
    pub callbacks_queue_url: Option<String>,
    pub dlq_url: String,
    /// The receive count at which a failing record is dead-lettered by the
    /// function: the webhook queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    pub policy: Policy,
    pub metrics_namespace: String,
    /// `LOG_KEY_SECRET_ID`: the secret whose `log_key` keys the customer
    /// references of log lines (`shared::pseudonym`); `None`: lines name
    /// no customer.
    pub log_key_secret_id: Option<String>,
    /// `MEDIA_QUEUE_URL`: where inbound files to fetch are queued; `None`:
    /// media messages are recorded without their files.
    pub media_queue_url: Option<String>,
}

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<StatusConfig, ConfigError> {
    let table_name = settings.table_name()?;
    let upstream_events_queue_url = settings.upstream_events_queue_url()?;
    let callbacks_queue_url = settings.callbacks_queue_url()?;
    let dlq_url = Settings::checked(
        "WEBHOOK_DLQ_URL",
        settings.required(
            "WEBHOOK_DLQ_URL",
            "set it to the URL of the webhook queue's dead-letter queue: records that fail on their last attempt go there with a failure_reason",
        )?,
        shared::check::queue_url,
    )?;
    let max_receive_count = number(
        settings,
        "WEBHOOK_MAX_RECEIVE_COUNT",
        DEFAULT_MAX_RECEIVE_COUNT.into(),
        1..=1000,
        "expected a whole number from 1 to 1000 (the webhook queue's maxReceiveCount)",
    )? as u32;
    let days = |name, default| {
        number(
            settings,
            name,
            default,
            1..=36_500,
            "expected a whole number of days from 1 to 36500",
        )
    };
    let inbound_ttl_days = days("INBOUND_TTL_DAYS", DEFAULT_INBOUND_TTL_DAYS)?;
    let record_ttl_days = days("WEBHOOK_RECORD_TTL_DAYS", DEFAULT_RECORD_TTL_DAYS)?;
    let foreign_message_ttl_days =
        days("FOREIGN_MESSAGE_TTL_DAYS", DEFAULT_FOREIGN_MESSAGE_TTL_DAYS)?;
    let opt_out = settings.get("OPT_OUT_KEYWORDS");
    let opt_in = settings.get("OPT_IN_KEYWORDS");
    let list = |raw: &Option<String>, default: &[&str]| match raw {
        Some(raw) => Keywords::parse_list(raw),
        None => default.iter().map(|w| (*w).to_owned()).collect(),
    };
    let keywords = Keywords::new(list(&opt_out, DEFAULT_OPT_OUT), list(&opt_in, DEFAULT_OPT_IN))
        .map_err(|_| {
            let (name, value) = match &opt_out {
                Some(v) => ("OPT_OUT_KEYWORDS", v.clone()),
                None => ("OPT_IN_KEYWORDS", opt_in.clone().unwrap_or_default()),
            };
            ConfigError::Malformed {
                name,
                value,
                reason: "expected comma-separated keywords, each with a letter or digit, none on both OPT_OUT_KEYWORDS and OPT_IN_KEYWORDS",
            }
        })?;
    let metrics_namespace = settings.metrics_namespace()?;
    let log_key_secret_id = settings.get("LOG_KEY_SECRET_ID");
    let media_queue_url = settings.media_queue_url()?;
    let media_bucket = settings.media_bucket()?;
    if media_queue_url.is_some() && media_bucket.is_none() {
        return Err(ConfigError::Missing {
            name: "MEDIA_BUCKET",
            hint: "set it to the media bucket whenever MEDIA_QUEUE_URL is set: records and events name where each file will be",
        });
    }
    Ok(StatusConfig {
        media_queue_url: media_queue_url.clone(),
        metrics_namespace,
        log_key_secret_id,
        table_name,
        upstream_events_queue_url,
        callbacks_queue_url,
        dlq_url,
        max_receive_count,
        policy: Policy {
            keywords,
            inbound_ttl_days,
            record_ttl_days,
            foreign_message_ttl_days,
            media_bucket: media_queue_url.and(media_bucket),
        },
    })
}

fn number(
    settings: &Settings,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    reason: &'static str,
) -> Result<u64, ConfigError> {
    match settings.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(ConfigError::Malformed {
                name,
                value: raw,
                reason,
            }),
        },
    }
}

/// The adapters the function works through.
pub struct Ports {
    /// The bindings: which tenant each number's changes belong to.
    pub directory: Arc<Directory>,
    pub messages: Arc<dyn MessageStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub log: Arc<dyn WebhookLog>,
    pub health: Arc<dyn HealthStore>,
    /// The template catalogue.
    pub templates: Arc<dyn TemplateStore>,
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetters>,
}

/// What the function holds between invocations.
pub struct App {
    ports: Ports,
    policy: Policy,
    max_receive_count: u32,
    requests: RequestCounter,
    /// The media queue (`MEDIA_QUEUE_URL`), when inbound files are fetched.
    media_jobs: Option<SqsQueue>,
}

impl App {
    /// `requests` is the counter installed on the DynamoDB client behind
    /// the stores ([`RequestCounter::client`]); each record logs its share.
    pub fn new(
        ports: Ports,
        policy: Policy,
        max_receive_count: u32,
        requests: RequestCounter,
    ) -> Self {
        Self {
            ports,
            policy,
            max_receive_count,
            requests,
            media_jobs: None,
        }
    }

    /// Queues the files of media messages on `queue` (`MEDIA_QUEUE_URL`).
    pub fn with_media_queue(mut self, queue: SqsQueue) -> Self {
        self.media_jobs = Some(queue);
        self
    }

    /// The production adapters for a configuration: DynamoDB (counting its
    /// requests), SQS for events (or the log) and the dead-letter queue.
    pub fn from_config(config: &StatusConfig, aws: &aws_config::SdkConfig) -> Self {
        let requests = RequestCounter::default();
        let dynamodb = requests.client(aws);
        let store = Arc::new(DynamoStore::new(dynamodb.clone(), &config.table_name));
        let sqs = aws_sdk_sqs::Client::new(aws);
        let publisher = publish::publisher(
            &sqs,
            config.upstream_events_queue_url.as_deref(),
            config.callbacks_queue_url.as_deref(),
        );
        // Not counted per record: the bindings are read once a minute per
        // instance (and when a number is not found), not per change.
        let directory = Arc::new(Directory::new(
            Arc::new(DynamoBindings::new(
                aws_sdk_dynamodb::Client::new(aws),
                &config.table_name,
            )),
            BINDINGS_TTL,
        ));
        let ports = Ports {
            directory,
            messages: store.clone(),
            contacts: store.clone(),
            log: store.clone(),
            health: store,
            templates: Arc::new(DynamoTemplates::new(dynamodb, &config.table_name)),
            publisher,
            dead_letters: Arc::new(SqsDeadLetters::new(sqs.clone(), &config.dlq_url)),
        };
        let app = Self::new(
            ports,
            config.policy.clone(),
            config.max_receive_count,
            requests,
        );
        match &config.media_queue_url {
            Some(url) => app.with_media_queue(SqsQueue::new(sqs, url)),
            None => app,
        }
    }

    /// Cold start: read the configuration and build the clients once.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = configure(&Settings::from_env())?;
        metrics::install(&config.metrics_namespace);
        if config.upstream_events_queue_url.is_none() && config.callbacks_queue_url.is_none() {
            tracing::warn!(
                "neither UPSTREAM_EVENTS_QUEUE_URL nor CALLBACKS_QUEUE_URL is set: events are logged only"
            );
        }
        let aws = shared::aws_config().await;
        if let Some(secret_id) = &config.log_key_secret_id {
            install_log_key(&aws, secret_id).await;
        }
        Ok(Self::from_config(&config, &aws))
    }

    /// DynamoDB requests made so far, by operation.
    pub fn dynamodb_requests(&self) -> BTreeMap<String, u64> {
        self.requests.snapshot()
    }
}

/// Reads the log key once per cold start. Without it the function still
/// works: its lines name no customer (`shared::pseudonym::NO_KEY`).
async fn install_log_key(aws: &aws_config::SdkConfig, secret_id: &str) {
    let source = SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(aws));
    let key = match source.fetch(secret_id).await {
        Ok(raw) => SecretJson::parse(secret_id, &raw).and_then(|json| json.field(LOG_KEY_FIELD)),
        Err(e) => Err(e),
    };
    match key {
        Ok(key) => {
            pseudonym::install(key);
        }
        Err(error) => tracing::warn!(
            %error,
            "the log key could not be read: log lines name no customer until the next cold start"
        ),
    }
}

/// Why a queued record was not acknowledged (not to be confused with
/// `shared::record::RecordError`, an unreadable message item).
#[derive(Debug, thiserror::Error)]
pub enum NotAcknowledged {
    #[error("the record has no body")]
    NoBody,
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("{count} item(s) of the body failed (the others were applied); first: {first}")]
    Items {
        count: usize,
        #[source]
        first: ApplyError,
    },
    #[error("publishing {count} event(s) failed after the writes: {source}")]
    Publish {
        count: usize,
        #[source]
        source: QueueError,
    },
    #[error("queueing {count} media download(s) failed after the writes: {source}")]
    Media {
        count: usize,
        #[source]
        source: QueueError,
    },
}

impl NotAcknowledged {
    pub fn is_retryable(&self) -> bool {
        match self {
            NotAcknowledged::NoBody => false,
            // `ApplyError::retryable` keeps its name until apply.rs is split.
            NotAcknowledged::Apply(e) | NotAcknowledged::Items { first: e, .. } => e.is_retryable(),
            NotAcknowledged::Publish { source, .. } | NotAcknowledged::Media { source, .. } => {
                source.is_retryable()
            }
        }
    }
}

/// Handles one SQS batch, given as the raw event. Never panics; every
/// record logs one line; failures are reported by message id
/// (`shared::sqs` says when the invocation fails as a whole).
pub async fn handle(app: &App, event: Value) -> BatchResponse {
    let batch = Batch::read(&event);
    let mut response = batch.response();
    let mut emf = Emf::new();
    for record in &batch.records {
        let started = Instant::now();
        let requests_before = app.requests.total();
        let result = process(app, record).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let dynamodb_requests = app.requests.total() - requests_before;
        let (message_id, receive_count) = (record.message_id.as_str(), record.receive_count);
        let (kind, field) = (record.attribute("kind"), record.attribute("field"));
        match result {
            Ok(summary) => {
                tracing::info!(
                    message_id,
                    receive_count,
                    kind,
                    field,
                    outcome = "applied",
                    statuses = summary.statuses,
                    inbound = summary.inbound,
                    recorded = summary.recorded,
                    fragments_waiting = summary.fragments_waiting,
                    events = summary.events,
                    dynamodb_requests,
                    latency_ms,
                    "webhook record"
                );
                summary.record_metrics(&mut emf);
            }
            Err(err) => {
                if receive_count < app.max_receive_count {
                    emf.count(&metrics::WEBHOOK_RECORDS, &["retry"], 1);
                    tracing::warn!(message_id, receive_count, kind, field, outcome = "retry", retryable = err.is_retryable(), error = %err, dynamodb_requests, latency_ms, "webhook record failed; SQS will retry");
                    response.retry(record);
                    continue;
                }
                let letter = DeadLetter {
                    body: record.body.clone(),
                    attributes: record.attributes.clone(),
                    reason: err.to_string(),
                    message_id: message_id.to_owned(),
                    receive_count,
                };
                match app.ports.dead_letters.send(&letter).await {
                    Ok(()) => {
                        emf.count(&metrics::WEBHOOK_RECORDS, &["dead_lettered"], 1);
                        tracing::error!(message_id, receive_count, kind, field, outcome = "dead_lettered", error = %err, dynamodb_requests, latency_ms, "webhook record failed on its last attempt: moved to the dead-letter queue")
                    }
                    Err(dlq) => {
                        emf.count(&metrics::WEBHOOK_RECORDS, &["retry"], 1);
                        tracing::error!(message_id, receive_count, outcome = "retry", error = %err, dead_letter_error = %dlq, "webhook record failed and could not be dead-lettered; SQS will retry (its redrive policy moves it)");
                        response.retry(record);
                    }
                }
            }
        }
    }
    emf.flush();
    response
}

struct Summary {
    statuses: usize,
    inbound: usize,
    recorded: usize,
    fragments_waiting: usize,
    events: usize,
    /// Each status written: its kind and its lag from Meta's timestamp.
    status_lags: Vec<(&'static str, u64)>,
    /// The source of each opt-out and opt-in event.
    opt_outs: Vec<&'static str>,
    opt_ins: Vec<&'static str>,
}

impl Summary {
    /// An acknowledged record's share of the batch's metrics
    /// (`shared::metrics`). A record that fails counts only as such: its
    /// retry counts what it wrote.
    fn record_metrics(&self, emf: &mut Emf) {
        emf.count(&metrics::WEBHOOK_RECORDS, &["applied"], 1);
        for (kind, lag) in &self.status_lags {
            emf.count(&metrics::STATUSES, &[kind], 1);
            emf.value(&metrics::STATUS_LAG, &[], *lag as f64);
        }
        emf.count(&metrics::INBOUND_MESSAGES, &[], self.inbound as u64);
        for source in &self.opt_outs {
            emf.count(&metrics::OPT_OUTS, &[source], 1);
        }
        for source in &self.opt_ins {
            emf.count(&metrics::OPT_INS, &[source], 1);
        }
    }
}

async fn process(app: &App, record: &SqsRecord) -> Result<Summary, NotAcknowledged> {
    if record.body.is_empty() {
        return Err(NotAcknowledged::NoBody);
    }
    let body = record.body.as_str();
    let applier = Applier {
        directory: &app.ports.directory,
        tenant: tenant::DEFAULT_TENANT.to_owned(),
        messages: app.ports.messages.as_ref(),
        contacts: app.ports.contacts.as_ref(),
        log: app.ports.log.as_ref(),
        health: app.ports.health.as_ref(),
        templates: app.ports.templates.as_ref(),
        policy: &app.policy,
        now: shared::now_millis(),
    };
    let mut applied = applier.apply(body).await?;
    // Published after the writes, in the same attempt: if this fails the
    // record is retried, the writes are no-ops and the events go again.
    if !applied.events.is_empty() {
        app.ports
            .publisher
            .publish(&applied.events)
            .await
            .map_err(|source| NotAcknowledged::Publish {
                count: applied.events.len(),
                source,
            })?;
    }
    // Queued after the record that the media function updates exists; a
    // failure retries the record (its writes are no-ops the second time).
    if let (Some(queue), false) = (&app.media_jobs, applied.media_jobs.is_empty()) {
        queue_media(queue, &applied.media_jobs)
            .await
            .map_err(|source| NotAcknowledged::Media {
                count: applied.media_jobs.len(),
                source,
            })?;
    }
    if !applied.failures.is_empty() {
        let count = applied.failures.len();
        return Err(NotAcknowledged::Items {
            count,
            first: applied.failures.swap_remove(0),
        });
    }
    let opt_sources = |opted_out: bool| -> Vec<&'static str> {
        applied
            .events
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::OptedOut(c) if opted_out => Some(c.source.as_str()),
                Payload::OptedIn(c) if !opted_out => Some(c.source.as_str()),
                _ => None,
            })
            .collect()
    };
    Ok(Summary {
        statuses: applied.statuses,
        inbound: applied.inbound,
        recorded: applied.recorded,
        fragments_waiting: applied.fragments_waiting,
        events: applied.events.len(),
        opt_outs: opt_sources(true),
        opt_ins: opt_sources(false),
        status_lags: applied.status_lags,
    })
}

/// Sends the download jobs (`shared::media::MediaJob`, one message each,
/// with `tenant` and `kind` attributes).
async fn queue_media(queue: &SqsQueue, jobs: &[MediaJob]) -> Result<(), QueueError> {
    let bodies: Vec<String> = jobs
        .iter()
        .map(|job| serde_json::to_string(job).unwrap_or_default())
        .collect();
    let outgoing: Vec<Outgoing> = jobs
        .iter()
        .zip(&bodies)
        .map(|(job, body)| Outgoing {
            body,
            attributes: vec![
                ("tenant", "String", job.tenant.clone()),
                ("kind", "String", job.kind.clone()),
            ],
            ..Outgoing::default()
        })
        .collect();
    queue.send_outgoing(&outgoing).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TABLE_NAME", "chasqui-test"),
            (
                "WEBHOOK_DLQ_URL",
                "http://127.0.0.1:5000/123456789012/webhook-dlq",
            ),
        ]
    }

    #[test]
    fn defaults_apply() {
        let c = configure(&Settings::from_pairs(base())).unwrap();
        assert_eq!(c.upstream_events_queue_url, None);
        assert_eq!(c.max_receive_count, DEFAULT_MAX_RECEIVE_COUNT);
        assert_eq!(c.policy.inbound_ttl_days, DEFAULT_INBOUND_TTL_DAYS);
        assert_eq!(c.policy.keywords, Keywords::default());
    }

    #[test]
    fn settings_are_read_and_checked() {
        let mut pairs = base();
        pairs.extend([
            (
                "UPSTREAM_EVENTS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/events.fifo",
            ),
            ("WEBHOOK_MAX_RECEIVE_COUNT", "3"),
            ("INBOUND_TTL_DAYS", "7"),
            ("OPT_OUT_KEYWORDS", "desligar"),
            ("OPT_IN_KEYWORDS", "none"),
        ]);
        let s = Settings::from_pairs(pairs);
        let c = configure(&s).unwrap();
        assert_eq!(c.max_receive_count, 3);
        assert_eq!(c.policy.inbound_ttl_days, 7);
        assert!(c.policy.keywords.classify("DESLIGAR").is_some());
        assert!(c.policy.keywords.classify("start").is_none());
        for name in [
            "FOREIGN_MESSAGE_TTL_DAYS",
            "INBOUND_TTL_DAYS",
            "OPT_IN_KEYWORDS",
            "OPT_OUT_KEYWORDS",
            "TABLE_NAME",
            "UPSTREAM_EVENTS_QUEUE_URL",
            "WEBHOOK_DLQ_URL",
            "WEBHOOK_MAX_RECEIVE_COUNT",
            "WEBHOOK_RECORD_TTL_DAYS",
        ] {
            assert!(s.names_read().contains(&name), "{name} not recorded");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        for (name, value) in [
            ("WEBHOOK_MAX_RECEIVE_COUNT", "0"),
            ("WEBHOOK_MAX_RECEIVE_COUNT", "five"),
            ("INBOUND_TTL_DAYS", "-1"),
            ("WEBHOOK_RECORD_TTL_DAYS", "0"),
            ("UPSTREAM_EVENTS_QUEUE_URL", "events-queue"),
            ("WEBHOOK_DLQ_URL", "https://sqs.us-east-1.amazonaws.com"),
            ("OPT_OUT_KEYWORDS", "stop"),
        ] {
            let mut pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            if name == "OPT_OUT_KEYWORDS" {
                pairs.push(("OPT_IN_KEYWORDS", "STOP"));
            }
            match configure(&Settings::from_pairs(pairs)) {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name, "{value}"),
                other => panic!("{name}={value}: expected malformed, got {other:?}"),
            }
        }
        let pairs: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "WEBHOOK_DLQ_URL")
            .collect();
        assert!(matches!(
            configure(&Settings::from_pairs(pairs)),
            Err(ConfigError::Missing {
                name: "WEBHOOK_DLQ_URL",
                ..
            })
        ));
    }
}
