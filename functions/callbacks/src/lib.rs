//! The callbacks function: consumes the callbacks queue and POSTs each
//! event, signed, to every endpoint of its tenant that wants its type
//! (`docs/callbacks.md`).
//!
//! The queue holds two kinds of message:
//!
//! - **an event**, as every function publishes it: kept in the table (its
//!   exact body, for retries and replays, until `CALLBACK_RETENTION_DAYS`),
//!   then tried once at each wanted endpoint, all at once. An endpoint that
//!   fails gets a **delivery job** (`shared::callbacks::DeliveryJob`) of
//!   its own on the same queue, so its retries never send again to the
//!   others. A redelivered event skips the endpoints that have a state.
//! - **a delivery job**: one endpoint, one event. `2xx` is delivered;
//!   anything else (a timeout, a `3xx`: redirects are not followed) is
//!   retried with the queue's visibility timeout, an exponential, jittered,
//!   capped backoff, until `CALLBACK_RETRY_HOURS` after its first try; then
//!   it is parked in the callbacks dead-letter queue with its cause.
//!
//! Every record and delivery of a batch runs concurrently, each POST within
//! `CALLBACK_TIMEOUT_MS`, so a slow or failing endpoint delays nothing but
//! its own retries. At least once: the event id (`webhook-id`) is the
//! receiver's deduplication key.

// Input from outside (SQS, endpoints, settings) is never unwrapped: every
// failure is an error with its cause (tests may unwrap; clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use shared::callbacks::deliver::{Attempt, Deliverer};
use shared::callbacks::ssrf::Guard;
use shared::callbacks::store::{CallbackStore, Delivery, KeptEvent, Registry, state};
use shared::callbacks::{DeliveryJob, Endpoint, JOB_KIND, enqueue};
use shared::config::{CallbackSettings, ConfigError, Settings};
use shared::queue::{Outgoing, SqsQueue};
use shared::secrets::SecretCache;
use shared::sqs::requeue::{Requeue, SqsRequeue, backoff_between};
use shared::sqs::{Batch, BatchResponse, SqsRecord};
use tokio::sync::Mutex;

/// Every alert this function logs: none (its dead-letter queue, queue age
/// and errors have alarms).
pub const ALERTS: &[&str] = &[];

/// Every AWS action this function calls, with the setting that names the
/// resource.
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    ("CALLBACK_SECRET_ID", "secretsmanager:GetSecretValue"),
    // Endpoints (Query, GetItem), kept events (UpdateItem, GetItem) and
    // their day entries (PutItem).
    ("TABLE_NAME", "dynamodb:Query"),
    ("TABLE_NAME", "dynamodb:GetItem"),
    ("TABLE_NAME", "dynamodb:PutItem"),
    ("TABLE_NAME", "dynamodb:UpdateItem"),
    // Delivery jobs, and their backoff.
    ("CALLBACKS_QUEUE_URL", "sqs:SendMessage"),
    ("CALLBACKS_QUEUE_URL", "sqs:ChangeMessageVisibility"),
    // Parked deliveries, with their cause.
    ("CALLBACKS_DLQ_URL", "sqs:SendMessage"),
];

/// Everything the callbacks function reads at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbacksConfig {
    pub table_name: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub callbacks: CallbackSettings,
    pub metrics_namespace: String,
}

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<CallbacksConfig, ConfigError> {
    Ok(CallbacksConfig {
        table_name: settings.table_name()?,
        queue_url: settings
            .callbacks_queue_url()?
            .ok_or(ConfigError::Missing {
                name: "CALLBACKS_QUEUE_URL",
                hint: "set it to the URL of the callbacks queue this function consumes",
            })?,
        dlq_url: settings.callbacks_dlq_url()?,
        callbacks: settings.callbacks()?,
        metrics_namespace: settings.metrics_namespace()?,
    })
}

/// A tenant's endpoints and when they were read.
type Cached = (Instant, Arc<Vec<Endpoint>>);

/// What the function holds between invocations.
pub struct App {
    pub registry: Registry,
    pub deliverer: Deliverer,
    pub jobs: SqsQueue,
    pub dlq: SqsQueue,
    pub requeue: Arc<dyn Requeue>,
    pub settings: CallbackSettings,
    endpoints: Mutex<HashMap<String, Cached>>,
}

impl App {
    /// The production adapters for a configuration.
    pub fn from_config(
        config: &CallbacksConfig,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, lambda_runtime::Error> {
        let settings = config.callbacks.clone();
        let guard = Guard::new(Guard::parse_networks(&settings.allowed_networks)?);
        let secrets = Arc::new(SecretCache::secrets_manager(
            aws_sdk_secretsmanager::Client::new(aws),
            settings.secret_ttl,
        ));
        let store = CallbackStore::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name);
        let sqs = aws_sdk_sqs::Client::new(aws);
        Ok(Self {
            registry: Registry::new(store, guard.clone(), secrets, &settings.secret_id),
            deliverer: Deliverer::new(guard, settings.timeout)?,
            jobs: SqsQueue::new(sqs.clone(), &config.queue_url),
            dlq: SqsQueue::new(sqs.clone(), &config.dlq_url),
            requeue: Arc::new(SqsRequeue::new(sqs, &config.queue_url)),
            settings,
            endpoints: Mutex::default(),
        })
    }

    /// Cold start: read the configuration and build the clients once.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = configure(&Settings::from_env())?;
        shared::metrics::install(&config.metrics_namespace);
        Self::from_config(&config, &shared::aws_config().await)
    }

    /// The tenant's endpoints, read at most every
    /// `CALLBACK_ENDPOINT_CACHE_SECONDS`.
    async fn endpoints_of(&self, tenant: &str) -> Result<Arc<Vec<Endpoint>>, String> {
        let ttl = self.settings.endpoint_cache;
        if let Some((at, list)) = self.endpoints.lock().await.get(tenant)
            && at.elapsed() < ttl
        {
            return Ok(list.clone());
        }
        let list = Arc::new(
            self.registry
                .store
                .endpoints(tenant)
                .await
                .map_err(|e| e.to_string())?,
        );
        self.endpoints
            .lock()
            .await
            .insert(tenant.to_owned(), (Instant::now(), list.clone()));
        Ok(list)
    }

    fn backoff(&self, attempts: u32) -> Duration {
        backoff_between(
            attempts,
            None,
            self.settings.backoff_base,
            self.settings.backoff_cap,
        )
    }
}

/// How one record ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing more to do with the record (delivered, queued as jobs,
    /// parked, or nothing to deliver).
    Done,
    /// SQS delivers the record again after `delay`.
    Retry { delay: Duration, error: String },
}

/// Handles one SQS batch: every record at once. Never panics.
pub async fn handle(app: &App, event: Value) -> BatchResponse {
    let batch = Batch::read(&event);
    let mut response = batch.response();
    let outcomes =
        futures_util::future::join_all(batch.records.iter().map(|r| process(app, r))).await;
    for (record, outcome) in batch.records.iter().zip(outcomes) {
        if let Outcome::Retry { delay, error } = outcome {
            tracing::warn!(message_id = %record.message_id, receive_count = record.receive_count, delay_s = delay.as_secs(), error = %error, "callbacks record will be retried");
            if let Some(handle) = record.receipt_handle.as_deref()
                && let Err(e) = app.requeue.retry_in(handle, delay).await
            {
                tracing::warn!(message_id = %record.message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
            }
            response.retry(record);
        }
    }
    response
}

/// One record: a delivery job or an event.
pub async fn process(app: &App, record: &SqsRecord) -> Outcome {
    if record.attribute("kind") == JOB_KIND {
        job(app, record).await
    } else {
        fan_out(app, record).await
    }
}

/// The part of an event the function reads; the body is sent as it is.
#[derive(Deserialize)]
struct EventHead {
    id: String,
    #[serde(default = "default_tenant")]
    tenant: String,
    #[serde(rename = "type")]
    kind: String,
}

fn default_tenant() -> String {
    shared::tenant::DEFAULT_TENANT.to_owned()
}

/// The record's body as `T`; when it is not `what`, the record is parked
/// with the reason (the outcome is the error).
async fn read<T: serde::de::DeserializeOwned>(
    app: &App,
    record: &SqsRecord,
    what: &str,
) -> Result<T, Outcome> {
    match serde_json::from_str(&record.body) {
        Ok(value) => Ok(value),
        Err(e) => {
            let cause = format!("not {what}: {e}");
            Err(park(app, record, &record.body, &[], &cause).await)
        }
    }
}

/// An event: kept, then tried once at each endpoint that wants it; the
/// failures become delivery jobs.
async fn fan_out(app: &App, record: &SqsRecord) -> Outcome {
    let head: EventHead = match read(app, record, "an event").await {
        Ok(head) => head,
        Err(parked) => return parked,
    };
    if shared::tenant::check_name(&head.tenant).is_err() {
        return park(
            app,
            record,
            &record.body,
            &[],
            "the event's tenant is malformed",
        )
        .await;
    }
    let endpoints = match app.endpoints_of(&head.tenant).await {
        Ok(list) => list,
        Err(error) => return retry(app, record, error),
    };
    let wanted: Vec<&Endpoint> = endpoints.iter().filter(|e| e.wants(&head.kind)).collect();
    if wanted.is_empty() {
        tracing::info!(tenant = %head.tenant, event_id = %head.id, event_type = %head.kind, outcome = "no_endpoint", "no endpoint wants this event");
        return Outcome::Done;
    }
    let now = shared::now_millis();
    let expires_at = (now + app.settings.retention.as_millis() as u64) / 1000;
    let kept = match app
        .registry
        .store
        .keep_event(
            &head.tenant,
            &head.id,
            &head.kind,
            &record.body,
            now,
            expires_at,
        )
        .await
    {
        Ok(kept) => kept,
        Err(e) => return retry(app, record, format!("keeping the event failed: {e}")),
    };
    // A redelivered event: endpoints with a state were handled (delivered,
    // or their job is queued).
    let fresh: Vec<&Endpoint> = wanted
        .into_iter()
        .filter(|e| !kept.deliveries.contains_key(&e.endpoint_id))
        .collect();
    let tries = futures_util::future::join_all(
        fresh
            .iter()
            .map(|endpoint| attempt(app, endpoint, &kept, 1)),
    )
    .await;
    let mut failed = Vec::new();
    for (endpoint, (outcome, delivery)) in fresh.iter().zip(tries) {
        match outcome {
            Attempt::Delivered { .. } => {
                save(
                    app,
                    &kept.tenant,
                    &kept.event_id,
                    &endpoint.endpoint_id,
                    &delivery,
                )
                .await
            }
            Attempt::Failed { .. } => failed.push((endpoint, delivery)),
        }
    }
    if failed.is_empty() {
        return Outcome::Done;
    }
    let jobs: Vec<DeliveryJob> = failed
        .iter()
        .map(|(endpoint, _)| DeliveryJob {
            tenant: kept.tenant.clone(),
            event_id: kept.event_id.clone(),
            endpoint_id: endpoint.endpoint_id.clone(),
            first_attempt_at: now,
            replay: false,
        })
        .collect();
    let delay = app.backoff(1).as_secs().min(900) as i32;
    if let Err(e) = enqueue(&app.jobs, &jobs, Some(delay)).await {
        return retry(app, record, format!("queueing the retries failed: {e}"));
    }
    for (endpoint, delivery) in failed {
        save(
            app,
            &kept.tenant,
            &kept.event_id,
            &endpoint.endpoint_id,
            &delivery,
        )
        .await;
    }
    Outcome::Done
}

/// A job that ends without a send: logged at `level` with the job's ids
/// (tenant, event, endpoint), its `outcome` and why; then it is done.
macro_rules! dropped {
    ($level:ident, $ids:expr, $outcome:literal, $why:literal) => {{
        let (tenant, event_id, endpoint_id) = $ids;
        tracing::$level!(tenant, event_id, endpoint_id, outcome = $outcome, $why);
        Outcome::Done
    }};
}

/// A delivery job: one endpoint, one kept event.
async fn job(app: &App, record: &SqsRecord) -> Outcome {
    let job: DeliveryJob = match read(app, record, "a delivery job").await {
        Ok(job) => job,
        Err(parked) => return parked,
    };
    let ids = (
        job.tenant.as_str(),
        job.event_id.as_str(),
        job.endpoint_id.as_str(),
    );
    let endpoint = match app
        .registry
        .store
        .endpoint(&job.tenant, &job.endpoint_id)
        .await
    {
        Ok(Some(endpoint)) if !endpoint.disabled => endpoint,
        Ok(_) => {
            return dropped!(
                info,
                ids,
                "endpoint_gone",
                "the endpoint was removed or disabled: delivery dropped"
            );
        }
        Err(e) => return retry(app, record, format!("reading the endpoint failed: {e}")),
    };
    let kept = match app.registry.store.event(&job.tenant, &job.event_id).await {
        Ok(Some(kept)) => kept,
        Ok(None) => {
            return dropped!(
                warn,
                ids,
                "event_gone",
                "the event is no longer kept (CALLBACK_RETENTION_DAYS): delivery dropped"
            );
        }
        Err(e) => return retry(app, record, format!("reading the event failed: {e}")),
    };
    let before = kept.deliveries.get(&job.endpoint_id);
    if !job.replay && before.is_some_and(|d| d.state == state::DELIVERED) {
        return dropped!(
            info,
            ids,
            "already_delivered",
            "delivered before: not sent again"
        );
    }
    let attempts = before.map_or(0, |d| d.attempts) + 1;
    let (outcome, mut delivery) = attempt(app, &endpoint, &kept, attempts).await;
    let elapsed = shared::now_millis().saturating_sub(job.first_attempt_at);
    let outcome = match outcome {
        Attempt::Delivered { .. } => Outcome::Done,
        Attempt::Failed { reason, .. } if elapsed >= app.settings.retry_for.as_millis() as u64 => {
            delivery.state = state::PARKED.to_owned();
            let cause = format!(
                "gave up after {attempts} tries in {} s (CALLBACK_RETRY_HOURS); last: {reason}",
                elapsed / 1000
            );
            let parked = park(app, record, &record.body, &[ids.0, ids.1, ids.2], &cause).await;
            if parked != Outcome::Done {
                return parked;
            }
            Outcome::Done
        }
        // The job's first receive follows the first try: the second wait.
        Attempt::Failed { reason, .. } => Outcome::Retry {
            delay: app.backoff(record.receive_count.saturating_add(1)),
            error: reason,
        },
    };
    save(app, ids.0, ids.1, ids.2, &delivery).await;
    outcome
}

/// Records a delivery state; a failure is logged (the state is advisory:
/// a lost `delivered` means at most one more send, deduplicated by id).
async fn save(app: &App, tenant: &str, event_id: &str, endpoint_id: &str, delivery: &Delivery) {
    if let Err(e) = app
        .registry
        .store
        .set_delivery(tenant, event_id, endpoint_id, delivery)
        .await
    {
        tracing::warn!(tenant, event_id, endpoint_id, state = %delivery.state, error = %e, "could not record the delivery state");
    }
}

/// One POST of a kept event to an endpoint, logged; answers the attempt
/// and the delivery state it leaves.
async fn attempt(
    app: &App,
    endpoint: &Endpoint,
    kept: &KeptEvent,
    attempts: u32,
) -> (Attempt, Delivery) {
    let started = Instant::now();
    let outcome = match app.registry.key(endpoint).await {
        Ok(key) => {
            let timestamp = shared::now_millis() / 1000;
            app.deliverer
                .post(&endpoint.url, &key, &kept.event_id, timestamp, &kept.body)
                .await
        }
        Err(e) => Attempt::Failed {
            status: None,
            reason: format!("signing key unavailable: {e}"),
        },
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (tenant, event_id, endpoint_id) = (&kept.tenant, &kept.event_id, &endpoint.endpoint_id);
    let (reached, status, error) = match &outcome {
        Attempt::Delivered { status } => {
            tracing::info!(%tenant, %event_id, %endpoint_id, event_type = %kept.kind, attempt = attempts, outcome = "delivered", status, latency_ms, "callback delivered");
            (state::DELIVERED, Some(*status), None)
        }
        Attempt::Failed { status, reason } => {
            tracing::warn!(%tenant, %event_id, %endpoint_id, event_type = %kept.kind, attempt = attempts, outcome = "failed", status, reason = %reason, latency_ms, "callback failed");
            (state::RETRYING, *status, Some(reason.clone()))
        }
    };
    let delivery = Delivery {
        state: reached.to_owned(),
        attempts,
        updated_at: shared::now_millis(),
        status,
        error,
    };
    (outcome, delivery)
}

/// Puts a record in the callbacks dead-letter queue with its cause
/// (`failure_reason`), then it is done; if the queue fails, it is retried.
async fn park(app: &App, record: &SqsRecord, body: &str, ids: &[&str], cause: &str) -> Outcome {
    let mut attributes = vec![
        (
            "failure_reason",
            "String",
            cause.chars().take(1000).collect(),
        ),
        ("failed_message_id", "String", record.message_id.clone()),
        ("receive_count", "Number", record.receive_count.to_string()),
    ];
    for (name, value) in ["tenant", "event_id", "endpoint_id"].into_iter().zip(ids) {
        attributes.push((name, "String", (*value).to_owned()));
    }
    let kind = record.attribute("kind");
    if !kind.is_empty() {
        attributes.push(("kind", "String", kind.to_owned()));
    }
    let outgoing = Outgoing {
        body,
        attributes,
        ..Outgoing::default()
    };
    match app.dlq.send_outgoing(std::slice::from_ref(&outgoing)).await {
        Ok(()) => {
            tracing::error!(message_id = %record.message_id, tenant = ids.first().copied().unwrap_or("-"), event_id = ids.get(1).copied().unwrap_or("-"), endpoint_id = ids.get(2).copied().unwrap_or("-"), outcome = "parked", reason = %cause, "callback parked in the dead-letter queue");
            Outcome::Done
        }
        Err(e) => retry(app, record, format!("parking failed: {e}")),
    }
}

fn retry(app: &App, record: &SqsRecord, error: String) -> Outcome {
    Outcome::Retry {
        delay: app.backoff(record.receive_count),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("TABLE_NAME", "chasqui-test"),
            ("CALLBACK_SECRET_ID", "chasqui/callbacks"),
            (
                "CALLBACKS_QUEUE_URL",
                "http://127.0.0.1:5000/123456789012/callbacks",
            ),
            (
                "CALLBACKS_DLQ_URL",
                "http://127.0.0.1:5000/123456789012/callbacks-dlq",
            ),
        ]
    }

    #[test]
    fn defaults_apply_and_missing_settings_are_named() {
        let c = configure(&Settings::from_pairs(base())).unwrap();
        assert_eq!(c.callbacks.retry_for, Duration::from_secs(24 * 3600));
        for name in [
            "CALLBACKS_QUEUE_URL",
            "CALLBACKS_DLQ_URL",
            "CALLBACK_SECRET_ID",
        ] {
            let pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
            match configure(&Settings::from_pairs(pairs)) {
                Err(ConfigError::Missing { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
