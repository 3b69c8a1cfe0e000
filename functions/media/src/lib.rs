//! The media function: consumes the media queue and keeps each inbound file
//! in the stack's bucket before Meta's link expires (`docs/media.md`).
//!
//! One job (`shared::media::MediaJob`, queued by the status function after
//! it recorded the message) is one file: `GET /{media-id}` with the
//! business number's token, the download from the short-lived URL with the
//! same token, Meta's SHA-256 checked, `PutObject` under the message's key,
//! then the inbound record's `media` map set and a `message.media` event
//! published. A file already in the bucket (a replay, a second copy of the
//! job) is not fetched again. A passing failure goes back to the queue
//! with an exponential backoff (`ChangeMessageVisibility`); one that can
//! never pass (expired, deleted, too large, checksum) is recorded with its
//! reason. Jobs are independent: one failing never fails another.

// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod records;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::cloud_api::{ErrorClass, GraphError};
use shared::config::{ConfigError, SecretSettings, Settings};
use shared::events::publish::{self, EventPublisher};
use shared::events::{Event, MediaChanged};
use shared::media::graph::{DownloadError, GraphMedia, MediaApi, MediaUrl, is_gone};
use shared::media::s3::{Head, MediaBucket, Put, SHA256_METADATA};
use shared::media::{DEFAULT_MAX_BYTES, MediaInfo, MediaJob, checksum_matches, reason, state};
use shared::secrets::SecretCache;
use shared::sqs::requeue::{Requeue, SqsRequeue, backoff};
use shared::sqs::{Batch, BatchResponse, SqsRecord};
use shared::store::StoreError;
use shared::tenant::TenantTokens;

use crate::records::{DynamoMediaRecords, MediaRecords};

/// Every alert this function logs: none (its dead-letter queue and errors
/// have alarms).
pub const ALERTS: &[&str] = &[];

/// Every AWS action this function calls, with the setting that names the
/// resource. `HeadObject` is `s3:GetObject`'s; `s3:ListBucket` makes S3
/// answer a missing object 404 rather than 403.
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    ("WHATSAPP_SECRET_ID", "secretsmanager:GetSecretValue"),
    ("WHATSAPP_SECRET_PREFIX", "secretsmanager:GetSecretValue"),
    // The bindings (a number's tenant and token secret), one partition.
    ("TABLE_NAME", "dynamodb:Query"),
    ("TABLE_NAME", "dynamodb:UpdateItem"),
    ("MEDIA_BUCKET", "s3:PutObject"),
    ("MEDIA_BUCKET", "s3:GetObject"),
    ("MEDIA_BUCKET", "s3:ListBucket"),
    ("MEDIA_QUEUE_URL", "sqs:ChangeMessageVisibility"),
    ("UPSTREAM_EVENTS_QUEUE_URL", "sqs:SendMessage"),
    ("CALLBACKS_QUEUE_URL", "sqs:SendMessage"),
];

/// `MEDIA_MAX_RECEIVE_COUNT` when unset: the media queue's
/// `maxReceiveCount` (with the backoff, about an hour of tries).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 10;
/// `MEDIA_TIMEOUT_SECONDS` when unset: the budget of each Graph call, a
/// whole download included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Jobs of a batch worked at once.
const CONCURRENCY: usize = 5;

/// Everything the media function reads at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    pub secret: SecretSettings,
    pub graph_base_url: String,
    pub graph_version: String,
    pub timeout: Duration,
    pub table_name: String,
    pub bucket: String,
    pub queue_url: String,
    pub max_receive_count: u32,
    pub max_bytes: u64,
    pub upstream_events_queue_url: Option<String>,
    pub callbacks_queue_url: Option<String>,
    pub metrics_namespace: String,
}

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<MediaConfig, ConfigError> {
    let (graph_base_url, graph_version) = settings.graph_endpoint()?;
    let number = |name: &'static str, default: u64, max: u64, reason: &'static str| match settings
        .get(name)
    {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(ConfigError::Malformed {
                name,
                value: raw,
                reason,
            }),
        },
    };
    Ok(MediaConfig {
        secret: settings.secret()?,
        graph_base_url,
        graph_version,
        timeout: Duration::from_secs(number(
            "MEDIA_TIMEOUT_SECONDS",
            DEFAULT_TIMEOUT.as_secs(),
            900,
            "expected a whole number of seconds from 1 to 900",
        )?),
        table_name: settings.table_name()?,
        bucket: settings.media_bucket()?.ok_or(ConfigError::Missing {
            name: "MEDIA_BUCKET",
            hint: "set it to the S3 bucket inbound media is kept in",
        })?,
        queue_url: settings.media_queue_url()?.ok_or(ConfigError::Missing {
            name: "MEDIA_QUEUE_URL",
            hint: "set it to the URL of the media queue this function consumes (for ChangeMessageVisibility)",
        })?,
        max_receive_count: number(
            "MEDIA_MAX_RECEIVE_COUNT",
            DEFAULT_MAX_RECEIVE_COUNT.into(),
            1000,
            "expected a whole number from 1 to 1000 (the media queue's maxReceiveCount)",
        )? as u32,
        max_bytes: number(
            "MEDIA_MAX_BYTES",
            DEFAULT_MAX_BYTES,
            DEFAULT_MAX_BYTES,
            "expected a whole number of bytes from 1 to 104857600 (Meta's largest media)",
        )?,
        upstream_events_queue_url: settings.upstream_events_queue_url()?,
        callbacks_queue_url: settings.callbacks_queue_url()?,
        metrics_namespace: settings.metrics_namespace()?,
    })
}

/// What the function holds between invocations.
pub struct App {
    pub api: Arc<dyn MediaApi>,
    pub bucket: MediaBucket,
    pub records: Arc<dyn MediaRecords>,
    pub publisher: Arc<dyn EventPublisher>,
    pub requeue: Arc<dyn Requeue>,
    pub bucket_name: String,
    pub max_receive_count: u32,
    pub max_bytes: u64,
}

impl App {
    /// The production adapters for a configuration.
    pub fn from_config(
        config: &MediaConfig,
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, lambda_runtime::Error> {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let tokens = TenantTokens::new(
            Arc::new(SecretCache::secrets_manager(
                aws_sdk_secretsmanager::Client::new(aws),
                config.secret.ttl,
            )),
            dynamodb.clone(),
            &config.table_name,
            &config.secret,
        );
        let api = GraphMedia::new(
            &config.graph_base_url,
            &config.graph_version,
            Arc::new(tokens),
            config.timeout,
        )?;
        let sqs = aws_sdk_sqs::Client::new(aws);
        let publisher = publish::publisher(
            &sqs,
            config.upstream_events_queue_url.as_deref(),
            config.callbacks_queue_url.as_deref(),
        );
        Ok(Self {
            api: Arc::new(api),
            bucket: MediaBucket::new(aws),
            records: Arc::new(DynamoMediaRecords::new(dynamodb, &config.table_name)),
            publisher,
            requeue: Arc::new(SqsRequeue::new(sqs, &config.queue_url)),
            bucket_name: config.bucket.clone(),
            max_receive_count: config.max_receive_count,
            max_bytes: config.max_bytes,
        })
    }

    /// Cold start: read the configuration and build the clients once.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = configure(&Settings::from_env())?;
        shared::metrics::install(&config.metrics_namespace);
        Self::from_config(&config, &shared::aws_config().await)
    }
}

/// How one job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// In the bucket (`fetched`: downloaded now; else it already was).
    Stored { info: MediaInfo, fetched: bool },
    /// Not kept, for `reason` (recorded, event published).
    Failed {
        reason: &'static str,
        detail: String,
    },
    /// Try again after `delay`.
    Retry { delay: Duration, error: String },
}

/// Handles one SQS batch of jobs. Never panics; every job logs one line;
/// jobs to try again are reported by message id.
pub async fn handle(app: &App, event: Value) -> BatchResponse {
    let batch = Batch::read(&event);
    let mut response = batch.response();
    let results: Vec<(&SqsRecord, Outcome)> = futures_util::stream::iter(&batch.records)
        .map(|record| async move { (record, process(app, record).await) })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (record, outcome) in results {
        if let Outcome::Retry { delay, .. } = &outcome {
            if let Some(handle) = record.receipt_handle.as_deref()
                && let Err(e) = app.requeue.retry_in(handle, *delay).await
            {
                tracing::warn!(message_id = %record.message_id, error = %e, "could not set the retry delay; the queue's visibility timeout applies");
            }
            response.retry(record);
        }
    }
    response
}

/// One job: parsed, fetched (or found), recorded. Logs its line.
pub async fn process(app: &App, record: &SqsRecord) -> Outcome {
    let started = Instant::now();
    let job: MediaJob = match serde_json::from_str(&record.body) {
        Ok(job) => job,
        Err(e) => {
            // Nothing to record it on: SQS retries it into the dead-letter
            // queue, where the log line's reason explains it.
            tracing::error!(message_id = %record.message_id, receive_count = record.receive_count, outcome = "unreadable", error = %e, "media job is not a MediaJob; it goes to the dead-letter queue");
            return Outcome::Retry {
                delay: Duration::from_secs(1),
                error: format!("unreadable job: {e}"),
            };
        }
    };
    let last = record.receive_count >= app.max_receive_count;
    let outcome = keep(app, &job).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) if last => Outcome::Failed {
            reason: reason::GAVE_UP,
            detail: format!(
                "gave up after {} receives; the job is in the media dead-letter queue. Last error: {error}",
                record.receive_count
            ),
        },
        Err(error) => Outcome::Retry {
            delay: backoff(record.receive_count, None),
            error,
        },
    };
    // The record and the event: a failure to record is retried like a
    // failed download (the object, if written, is found next time).
    let outcome = match settle(app, &job, &outcome).await {
        Ok(()) => outcome,
        Err(e) if !matches!(outcome, Outcome::Retry { .. }) => Outcome::Retry {
            delay: backoff(record.receive_count, None),
            error: format!("recording the outcome failed: {e}"),
        },
        Err(_) => outcome,
    };
    // A job given up on still goes to the dead-letter queue (after being
    // recorded), so it can be replayed once the cause is fixed.
    let outcome = match outcome {
        Outcome::Failed {
            reason: reason::GAVE_UP,
            detail,
        } => Outcome::Retry {
            delay: Duration::from_secs(1),
            error: detail,
        },
        other => other,
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (message_id, receive_count) = (record.message_id.as_str(), record.receive_count);
    match &outcome {
        Outcome::Stored { info, fetched } => {
            tracing::info!(message_id, receive_count, tenant = %job.tenant, wamid = %job.inbound_id, media_id = %job.media_id, kind = %job.kind, outcome = "stored", fetched, size = info.size, latency_ms, "inbound media")
        }
        Outcome::Failed { reason, detail } => {
            tracing::warn!(message_id, receive_count, tenant = %job.tenant, wamid = %job.inbound_id, media_id = %job.media_id, kind = %job.kind, outcome = "failed", reason, detail = %detail, latency_ms, "inbound media not kept")
        }
        Outcome::Retry { delay, error } => {
            tracing::warn!(message_id, receive_count, tenant = %job.tenant, wamid = %job.inbound_id, media_id = %job.media_id, kind = %job.kind, outcome = "retry", delay_s = delay.as_secs(), error = %error, latency_ms, "inbound media: will retry")
        }
    }
    outcome
}

/// Fetches and writes the file unless it is already in the bucket. `Err`:
/// a passing failure (retry); `Ok(Failed)`: one that will not pass.
async fn keep(app: &App, job: &MediaJob) -> Result<Outcome, String> {
    let key = job.key();
    if let Some(head) = app
        .bucket
        .head(&app.bucket_name, &key)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(Outcome::Stored {
            info: stored_info(app, job, &head),
            fetched: false,
        });
    }
    let failed = |reason: &'static str, detail: String| Ok(Outcome::Failed { reason, detail });
    let mut url = match resolve(app, job).await? {
        Ok(url) => url,
        Err(failure) => return Ok(failure),
    };
    if url.file_size.is_some_and(|size| size > app.max_bytes) {
        return failed(
            reason::TOO_LARGE,
            format!(
                "Meta gives {} bytes; MEDIA_MAX_BYTES is {}",
                url.file_size.unwrap_or_default(),
                app.max_bytes
            ),
        );
    }
    let mut fresh = false;
    let bytes = loop {
        match app
            .api
            .download(&job.phone_number_id, &url.url, app.max_bytes)
            .await
        {
            Ok(bytes) => break bytes,
            // The URL lives minutes: ask for a fresh one, once.
            Err(DownloadError::Expired(status)) if !fresh => {
                tracing::info!(wamid = %job.inbound_id, status, "download URL expired: asking for a fresh one");
                fresh = true;
                url = match resolve(app, job).await? {
                    Ok(url) => url,
                    Err(failure) => return Ok(failure),
                };
            }
            Err(e @ DownloadError::Expired(_)) => {
                return failed(reason::URL_EXPIRED, format!("{e}, also after a fresh URL"));
            }
            Err(e @ DownloadError::TooLarge(_)) => return failed(reason::TOO_LARGE, e.to_string()),
            Err(e) if e.is_retryable() => return Err(e.to_string()),
            Err(e) => return failed(reason::REFUSED, e.to_string()),
        }
    };
    let digest = Sha256::digest(&bytes);
    let sha256 = shared::media::sha256_hex(&bytes);
    if let Some(expected) = url.sha256.as_deref().or(job.sha256.as_deref())
        && !checksum_matches(expected, &digest)
    {
        return failed(
            reason::CHECKSUM_MISMATCH,
            format!(
                "the {} bytes downloaded hash to {sha256}, not Meta's {expected}",
                bytes.len()
            ),
        );
    }
    let content_type = url
        .mime_type
        .clone()
        .or_else(|| job.mime_type.clone())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let head = Head {
        size: bytes.len() as u64,
        content_type: Some(content_type.clone()),
        metadata: [(SHA256_METADATA.to_owned(), sha256.clone())].into(),
        ..Head::default()
    };
    app.bucket
        .put(Put {
            bucket: &app.bucket_name,
            key: &key,
            bytes,
            content_type: &content_type,
            metadata: vec![
                (SHA256_METADATA, sha256),
                ("media-id", job.media_id.clone()),
                ("kind", job.kind.clone()),
            ],
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome::Stored {
        info: stored_info(app, job, &head),
        fetched: true,
    })
}

/// `GET /{media-id}`: the URL; `Ok(Err(Failed))` when Meta says the media
/// is gone or refuses for good; `Err` when a retry may help.
async fn resolve(app: &App, job: &MediaJob) -> Result<Result<MediaUrl, Outcome>, String> {
    match app.api.resolve(&job.phone_number_id, &job.media_id).await {
        Ok(url) => Ok(Ok(url)),
        Err(e) if is_gone(&e) => Ok(Err(Outcome::Failed {
            reason: reason::NOT_FOUND,
            detail: e.to_string(),
        })),
        Err(e) if e.class() == ErrorClass::Permanent => Ok(Err(Outcome::Failed {
            reason: reason::REFUSED,
            detail: e.to_string(),
        })),
        // Retryable, throttled, or a token problem a person will fix.
        Err(e) => Err(describe(&e)),
    }
}

fn describe(e: &GraphError) -> String {
    format!("GET /{{media-id}}: {e}")
}

/// Records the outcome on the inbound item and publishes `message.media`;
/// a retry records nothing.
async fn settle(app: &App, job: &MediaJob, outcome: &Outcome) -> Result<(), String> {
    let info = match outcome {
        Outcome::Retry { .. } => return Ok(()),
        Outcome::Stored { info, .. } => info.clone(),
        Outcome::Failed { reason, detail } => MediaInfo {
            state: state::FAILED.to_owned(),
            media_id: job.media_id.clone(),
            bucket: app.bucket_name.clone(),
            key: job.key(),
            content_type: job.mime_type.clone(),
            sha256: job.sha256.clone(),
            reason: Some((*reason).to_owned()),
            detail: Some(detail.clone()),
            ..MediaInfo::default()
        },
    };
    let updated = app
        .records
        .set_media(job, &info)
        .await
        .map_err(|e: StoreError| e.to_string())?;
    if !updated {
        tracing::info!(wamid = %job.inbound_id, state = %info.state, "inbound record not updated (gone, or already stored)");
    }
    let event = Event::media(
        shared::now_millis(),
        MediaChanged {
            phone_number_id: job.phone_number_id.clone(),
            wamid: job.inbound_id.clone(),
            from: job.from.clone().unwrap_or_default(),
            from_user_id: job.from_user_id.clone(),
            kind: job.kind.clone(),
            media: info,
        },
    )
    .of_tenant(&job.tenant);
    app.publisher
        .publish(std::slice::from_ref(&event))
        .await
        .map_err(|e| e.to_string())
}

fn stored_info(app: &App, job: &MediaJob, head: &Head) -> MediaInfo {
    MediaInfo {
        state: state::STORED.to_owned(),
        media_id: job.media_id.clone(),
        bucket: app.bucket_name.clone(),
        key: job.key(),
        size: Some(head.size),
        content_type: head.content_type.clone().or_else(|| job.mime_type.clone()),
        sha256: head.metadata.get(SHA256_METADATA).cloned(),
        ..MediaInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("WHATSAPP_SECRET_ID", "chasqui/whatsapp"),
            ("TABLE_NAME", "chasqui-test"),
            ("MEDIA_BUCKET", "chasqui-media"),
            (
                "MEDIA_QUEUE_URL",
                "http://127.0.0.1:5000/123456789012/media",
            ),
        ]
    }

    #[test]
    fn defaults_apply_and_bad_settings_are_named() {
        let c = configure(&Settings::from_pairs(base())).unwrap();
        assert_eq!(c.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(c.max_receive_count, DEFAULT_MAX_RECEIVE_COUNT);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        for (name, value) in [
            ("MEDIA_BUCKET", "Not_A_Bucket"),
            ("MEDIA_MAX_BYTES", "0"),
            ("MEDIA_MAX_BYTES", "104857601"),
            ("MEDIA_QUEUE_URL", "media"),
            ("MEDIA_TIMEOUT_SECONDS", "x"),
        ] {
            let mut pairs: Vec<_> = base().into_iter().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            match configure(&Settings::from_pairs(pairs)) {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name, "{value}"),
                other => panic!("{name}={value}: expected malformed, got {other:?}"),
            }
        }
        let pairs: Vec<_> = base()
            .into_iter()
            .filter(|(k, _)| *k != "MEDIA_BUCKET")
            .collect();
        assert!(matches!(
            configure(&Settings::from_pairs(pairs)),
            Err(ConfigError::Missing {
                name: "MEDIA_BUCKET",
                ..
            })
        ));
    }
}
