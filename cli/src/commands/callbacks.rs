//! `chasqui callbacks add|list|remove|parked|replay|receive`: a tenant's
//! callback endpoints (`docs/callbacks.md`), through the same registry the
//! callbacks function and the API use (`shared::callbacks::store`), and a
//! local receiver that verifies every signature.
//!
//! An endpoint's secret is printed once, by `add`; it is derived from the
//! stack's master key, never stored.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::MessageSystemAttributeName;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use shared::callbacks::signing;
use shared::callbacks::ssrf::Guard;
use shared::callbacks::store::{CallbackStore, Registry, RegistryError};
use shared::callbacks::{self as cb, Endpoint};
use shared::config::Settings;
use shared::queue::SqsQueue;
use shared::secrets::{ExposeSecret, SecretCache};

use super::{CliError, Output};
use crate::clock;
use crate::http::Server;
use crate::target::Target;

/// `CALLBACK_ALLOWED_NETWORKS` of the stack: the environment's, else the
/// local stack's (loopback, for the local receiver), else none.
fn allowed_networks(target: &Target) -> String {
    Settings::from_env()
        .get("CALLBACK_ALLOWED_NETWORKS")
        .or_else(|| target.local.then(|| "127.0.0.0/8".to_owned()))
        .unwrap_or_default()
}

/// The registry of the target stack.
pub fn registry(target: &Target) -> Result<Registry, CliError> {
    let secret_id = target.resources.callback_secret_id.clone().ok_or_else(|| {
        CliError::new(format!(
            "no CALLBACK_SECRET_ID (looked in {})",
            target.source
        ))
        .hint(
            "restart `make dev`, or set CALLBACK_SECRET_ID (the stack's CallbackSecretName output)",
        )
    })?;
    let networks = allowed_networks(target);
    let guard = Guard::new(Guard::parse_networks(&networks).map_err(|reason| {
        CliError::new(format!("CALLBACK_ALLOWED_NETWORKS {networks:?}: {reason}"))
    })?);
    let secrets = Arc::new(SecretCache::secrets_manager(
        target.secrets_manager(),
        shared::config::DEFAULT_SECRET_TTL,
    ));
    let store = CallbackStore::new(target.dynamodb(), target.table()?);
    Ok(Registry::new(store, guard, secrets, secret_id))
}

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "endpoint_id": e.endpoint_id, "tenant": e.tenant, "url": e.url,
        "events": e.events, "created_at": e.created_at, "disabled": e.disabled,
    })
}

/// `add`: registers `url` for the target's tenant; prints the secret once.
pub async fn add(
    target: &Target,
    out: Output,
    url: &str,
    events: Option<&str>,
) -> Result<cb::store::Registered, CliError> {
    let events = cb::parse_event_types(events.unwrap_or_default())
        .map_err(|e| CliError::new(format!("--events: {e}")).code(2))?;
    let registered = registry(target)?
        .register(&target.tenant, url, &events)
        .await
        .map_err(|e| match e {
            RegistryError::Store(_) | RegistryError::Secret(_) => CliError::new(e.to_string()),
            refused => CliError::new(format!("--{}", refused))
                .hint("callbacks go to https URLs on public addresses only (CALLBACK_ALLOWED_NETWORKS lets a range through)")
                .code(2),
        })?;
    let e = &registered.endpoint;
    let secret = registered.secret.expose_secret();
    let mut json = endpoint_json(e);
    json["secret"] = secret.into();
    out.result(
        &format!(
            "registered {} for tenant {} -> {} ({})\nsigning secret (shown once; Standard Webhooks): {secret}",
            e.endpoint_id,
            e.tenant,
            e.url,
            if e.events.is_empty() {
                "every event type".to_owned()
            } else {
                e.events.join(", ")
            }
        ),
        &json,
    );
    Ok(registered)
}

/// `list`: the target tenant's endpoints.
pub async fn list(target: &Target, out: Output) -> Result<(), CliError> {
    let endpoints = registry(target)?
        .list(&target.tenant)
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    let human = if endpoints.is_empty() {
        format!("no callback endpoints for tenant {}", target.tenant)
    } else {
        endpoints
            .iter()
            .map(|e| {
                format!(
                    "{}  {}  {}  created {}{}",
                    e.endpoint_id,
                    e.url,
                    if e.events.is_empty() {
                        "*".to_owned()
                    } else {
                        e.events.join(",")
                    },
                    clock::iso(e.created_at),
                    if e.disabled { "  (disabled)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.result(
        &human,
        &Value::Array(endpoints.iter().map(endpoint_json).collect()),
    );
    Ok(())
}

/// `remove`: deletes an endpoint of the target tenant.
pub async fn remove(target: &Target, out: Output, endpoint_id: &str) -> Result<(), CliError> {
    cb::check_endpoint_id(endpoint_id)
        .map_err(|r| CliError::new(format!("{endpoint_id:?}: {r}")).code(2))?;
    let removed = registry(target)?
        .remove(&target.tenant, endpoint_id)
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    if !removed {
        return Err(CliError::new(format!(
            "tenant {} has no endpoint {endpoint_id}",
            target.tenant
        ))
        .hint("`chasqui callbacks list` shows them"));
    }
    out.result(
        &format!("removed {endpoint_id}"),
        &json!({"removed": endpoint_id}),
    );
    Ok(())
}

/// `parked`: the target tenant's deliveries in the callbacks dead-letter
/// queue, with their cause (read without removing them).
pub async fn parked(target: &Target, out: Output, limit: usize) -> Result<Vec<Value>, CliError> {
    // Every tenant's are in the one queue: up to 1000 read, this one's kept.
    let messages = super::dlq::receive(target, target.callbacks_dlq()?, 1000, 5).await?;
    let mut rows = Vec::new();
    for m in &messages {
        let attr = |name: &str| {
            m.message_attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.string_value())
                .unwrap_or_default()
                .to_owned()
        };
        if attr("tenant") != target.tenant && !attr("tenant").is_empty() {
            continue;
        }
        rows.push(json!({
            "event_id": attr("event_id"), "endpoint_id": attr("endpoint_id"),
            "reason": attr("failure_reason"),
            "parked_at": m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp)).and_then(|v| v.parse::<u64>().ok()),
        }));
    }
    rows.truncate(limit);
    let human = if rows.is_empty() {
        format!("no parked callbacks for tenant {}", target.tenant)
    } else {
        rows.iter()
            .map(|r| {
                format!(
                    "{} -> {}: {}",
                    r["event_id"].as_str().unwrap_or("?"),
                    r["endpoint_id"].as_str().unwrap_or("?"),
                    r["reason"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.result(&human, &Value::Array(rows.clone()));
    Ok(rows)
}

/// What `replay` re-sends.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// One event, by id (`evt_...`).
    #[arg(long, conflicts_with_all = ["since", "until"], required_unless_present = "since")]
    pub event: Option<String>,
    /// Every event kept from this time (RFC 3339 UTC, e.g.
    /// 2026-11-30T04:00:00Z, or Unix milliseconds).
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this time (default: now).
    #[arg(long, requires = "since")]
    pub until: Option<String>,
    /// Only to this endpoint (default: every endpoint that wants each
    /// event).
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// `replay`: queues delivery jobs that send kept events again (a receiver
/// deduplicates by `webhook-id`).
pub async fn replay(target: &Target, out: Output, args: &ReplayArgs) -> Result<usize, CliError> {
    if let Some(e) = &args.endpoint {
        cb::check_endpoint_id(e)
            .map_err(|r| CliError::new(format!("--endpoint {e:?}: {r}")).code(2))?;
    }
    let registry = registry(target)?;
    let ids = match (&args.event, &args.since) {
        (Some(id), _) => vec![id.clone()],
        (None, Some(since)) => {
            let since = parse_time("--since", since)?;
            let until = match &args.until {
                Some(u) => parse_time("--until", u)?,
                None => shared::now_millis(),
            };
            if until < since {
                return Err(CliError::new("--until is before --since").code(2));
            }
            registry
                .store
                .events_between(&target.tenant, since, until)
                .await
                .map_err(|e| CliError::new(e.to_string()))?
        }
        (None, None) => return Err(CliError::new("pass --event ID or --since TIME").code(2)),
    };
    let (jobs, gone) = registry
        .replay_jobs(&target.tenant, &ids, args.endpoint.as_deref())
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    let queue = SqsQueue::new(target.sqs(), target.callbacks_queue()?);
    cb::enqueue(&queue, &jobs, None)
        .await
        .map_err(|e| CliError::new(format!("queueing the replays: {e}")))?;
    if let (Some(id), true) = (&args.event, !gone.is_empty()) {
        return Err(CliError::new(format!(
            "event {id} is not kept for tenant {} (unknown, another tenant's, or past CALLBACK_RETENTION_DAYS)",
            target.tenant
        )));
    }
    out.result(
        &format!(
            "queued {} deliveries of {} event(s){}",
            jobs.len(),
            ids.len() - gone.len(),
            if gone.is_empty() {
                String::new()
            } else {
                format!("; {} no longer kept", gone.len())
            }
        ),
        &json!({"queued": jobs.len(), "events": ids.len() - gone.len(), "not_kept": gone}),
    );
    Ok(jobs.len())
}

/// Unix milliseconds, or `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_time(flag: &str, value: &str) -> Result<u64, CliError> {
    let bad = || {
        CliError::new(format!(
            "{flag} {value:?}: expected RFC 3339 UTC (2026-11-30T04:00:00Z) or Unix milliseconds"
        ))
        .code(2)
    };
    if let Ok(ms) = value.parse::<u64>() {
        return Ok(ms);
    }
    let v = value
        .strip_suffix('Z')
        .or_else(|| value.strip_suffix("+00:00"))
        .ok_or_else(bad)?;
    let (date, time) = v.split_once(['T', ' ']).ok_or_else(bad)?;
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let (time, millis) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<&str> = time.split(':').collect();
    let ([y, mo, da], [h, mi, s]) = (d.as_slice(), t.as_slice()) else {
        return Err(bad());
    };
    let (y, mo, da, h, mi, s) = (num(y)?, num(mo)?, num(da)?, num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 60 || y < 1970
    {
        return Err(bad());
    }
    // Howard Hinnant's days-from-civil.
    let (y, m) = if mo <= 2 {
        (y as i64 - 1, mo + 9)
    } else {
        (y as i64, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m as i64 + 2) / 5 + da as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis: u64 = format!("{millis:0<3}")[..3].parse().map_err(|_| bad())?;
    Ok(days as u64 * 86_400_000 + (h * 3600 + mi * 60 + s) * 1000 + millis)
}

/// One callback a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub event_type: String,
    /// `data.message_id`, when the event has one.
    pub message_id: Option<String>,
    /// The endpoint whose secret verified it; `None`: none did.
    pub verified_by: Option<String>,
    pub reason: Option<String>,
}

/// A local callback receiver: answers `204` to a delivery whose signature
/// verifies with one of the keys, `401` otherwise; keeps what it got.
pub struct Receiver {
    pub server: Server,
    pub received: Arc<Mutex<Vec<Received>>>,
}

/// Where a receiver's keys come from.
#[derive(Clone)]
pub enum Keys {
    /// Given secrets (`--secret whsec_...`).
    Given(Vec<Vec<u8>>),
    /// The target tenant's endpoints, derived from the master key at each
    /// request (so one registered after the receiver started works).
    Registry(Registry, String),
}

struct ReceiverState {
    keys: Keys,
    /// Where each callback is printed; `None`: nowhere.
    out: Option<Output>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(
        addr: SocketAddr,
        keys: Keys,
        out: Option<Output>,
    ) -> Result<Self, CliError> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(ReceiverState {
            keys,
            out,
            received: received.clone(),
        });
        let router = Router::new()
            .route("/", post(receive))
            .route("/{*path}", post(receive))
            .with_state(state);
        let server = Server::bind(addr, router)
            .await
            .map_err(|e| CliError::new(format!("cannot listen on {addr}: {e}")))?;
        Ok(Self { server, received })
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let keys: Vec<(String, Vec<u8>)> = match &state.keys {
        Keys::Given(keys) => keys
            .iter()
            .map(|k| ("--secret".to_owned(), k.clone()))
            .collect(),
        Keys::Registry(registry, tenant) => {
            let mut keys = Vec::new();
            for e in registry.list(tenant).await.unwrap_or_default() {
                if let Ok(key) = registry.key(&e).await {
                    keys.push((e.endpoint_id.clone(), key.to_vec()));
                }
            }
            keys
        }
    };
    let now = shared::now_millis() / 1000;
    let mut reason = Some("no endpoint secret to verify with".to_owned());
    let mut verified_by = None;
    for (id, key) in &keys {
        match signing::verify(
            key,
            header(signing::ID_HEADER),
            header(signing::TIMESTAMP_HEADER),
            header(signing::SIGNATURE_HEADER),
            &body,
            now,
        ) {
            Ok(()) => {
                verified_by = Some(id.clone());
                reason = None;
                break;
            }
            Err(e) => reason = Some(e.to_string()),
        }
    }
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let got = Received {
        event_id: header(signing::ID_HEADER).unwrap_or_default().to_owned(),
        event_type: event["type"].as_str().unwrap_or_default().to_owned(),
        message_id: event["data"]["message_id"].as_str().map(str::to_owned),
        verified_by: verified_by.clone(),
        reason: reason.clone(),
    };
    if let Some(out) = state.out {
        out.result(
        &match &verified_by {
            Some(by) => format!(
                "verified  {} {} (secret of {by})",
                got.event_id, got.event_type
            ),
            None => format!(
                "REFUSED   {} {}: {}",
                got.event_id,
                got.event_type,
                reason.as_deref().unwrap_or_default()
            ),
        },
        &json!({"event_id": got.event_id, "type": got.event_type, "verified": verified_by.is_some(),
                "verified_by": verified_by, "reason": reason, "event": event}),
        );
    }
    if let Ok(mut r) = state.received.lock() {
        r.push(got);
    }
    if verified_by.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// `receive`: serves a receiver until Ctrl-C.
pub async fn receive_forever(
    target: &Target,
    out: Output,
    port: u16,
    secrets: &[String],
) -> Result<(), CliError> {
    let keys = if secrets.is_empty() {
        Keys::Registry(registry(target)?, target.tenant.clone())
    } else {
        Keys::Given(
            secrets
                .iter()
                .map(|s| {
                    signing::key_of(s).map_err(|r| CliError::new(format!("--secret: {r}")).code(2))
                })
                .collect::<Result<_, _>>()?,
        )
    };
    let receiver = Receiver::start(([127, 0, 0, 1], port).into(), keys, Some(out)).await?;
    out.progress(&format!(
        "receiving callbacks on {}/ (register it with `chasqui callbacks add --url {}/hook`); Ctrl-C stops",
        receiver.server.url(),
        receiver.server.url()
    ));
    let _ = tokio::signal::ctrl_c().await;
    receiver.server.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc_3339_utc_or_milliseconds() {
        assert_eq!(
            parse_time("--since", "1730000001234").unwrap(),
            1_730_000_001_234
        );
        for ms in [0, 951_782_400_000, 1_730_000_001_234, 1_795_348_800_000] {
            let iso = clock::iso(ms).replace(' ', "T");
            assert_eq!(parse_time("--since", &iso).unwrap(), ms, "{iso}");
        }
        assert_eq!(
            parse_time("--since", "2026-11-22T12:00:00Z").unwrap(),
            1_795_348_800_000
        );
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-22T12:00:00-03:00",
        ] {
            assert!(parse_time("--since", bad).is_err(), "{bad}");
        }
    }
}
