//! The callback registry and the kept events, in the table
//! (`docs/data-model.md`), and the [`Registry`] the CLI and the API call to
//! register, list and remove endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::ssrf::{Guard, Refused};
use super::{Endpoint, MASTER_KEY_FIELD, MAX_ENDPOINTS_PER_TENANT, endpoint_key};
use crate::secrets::{ExposeSecret, SecretCache, SecretError};
use crate::store::StoreError;
use crate::table::attr::{callback as ep, callback_event as ev};
use crate::table::dynamo::{
    self, Item, Update, failure, from_item, is_condition_failure, n, query_partition, s,
};
use crate::table::{self, EXPIRES_AT};

/// Delivery states.
pub mod state {
    /// The endpoint answered `2xx`.
    pub const DELIVERED: &str = "delivered";
    /// A try failed; a job will try again.
    pub const RETRYING: &str = "retrying";
    /// Given up after `CALLBACK_RETRY_HOURS`; the job is in the callbacks
    /// dead-letter queue.
    pub const PARKED: &str = "parked";
}

/// One endpoint's delivery state of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Delivery {
    /// [`state`].
    pub state: String,
    /// Tries so far.
    #[serde(default)]
    pub attempts: u32,
    /// When last changed (ms).
    #[serde(default)]
    pub updated_at: u64,
    /// The endpoint's last answer, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why the last try failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An event kept for callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptEvent {
    /// The event's id.
    pub event_id: String,
    /// The tenant.
    pub tenant: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The exact JSON POSTed.
    pub body: String,
    /// When first kept (ms).
    pub kept_at: u64,
    /// Each endpoint's delivery state.
    #[serde(default)]
    pub deliveries: HashMap<String, Delivery>,
    /// TTL (Unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
}

/// Adapter: the callback items of the table.
#[derive(Clone)]
pub struct CallbackStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The key of `tenant`'s kept event `event_id`.
fn event_key(tenant: &str, event_id: &str) -> Item {
    dynamo::key(
        table::callback_event_pk(tenant, event_id),
        table::CALLBACK_EVENT_SK,
    )
}

/// Days since the Unix epoch (UTC) of `ms`.
pub fn day_of(ms: u64) -> u64 {
    ms / 86_400_000
}

impl CallbackStore {
    /// The adapter on `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Writes a new endpoint (never over another with its id).
    pub async fn put_endpoint(&self, e: &Endpoint) -> Result<(), StoreError> {
        let mut item = dynamo::key(table::callback_pk(&e.tenant), e.endpoint_id.clone());
        item.insert(ep::ENDPOINT_ID.into(), s(&e.endpoint_id));
        item.insert(ep::TENANT.into(), s(&e.tenant));
        item.insert(ep::URL.into(), s(&e.url));
        if !e.events.is_empty() {
            item.insert(
                ep::EVENTS.into(),
                AttributeValue::L(e.events.iter().map(s).collect()),
            );
        }
        item.insert(ep::CREATED_AT.into(), n(e.created_at));
        item.insert(ep::DISABLED.into(), AttributeValue::Bool(e.disabled));
        item.insert(ep::SECRET_VERSION.into(), n(e.secret_version.into()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", table::PK)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("PutItem callback", e))
    }

    /// Every endpoint of `tenant`, disabled ones included.
    pub async fn endpoints(&self, tenant: &str) -> Result<Vec<Endpoint>, StoreError> {
        query_partition(&self.client, &self.table, &table::callback_pk(tenant))
            .await
            .map_err(|e| failure("Query callback", e))?
            .iter()
            .map(|item| read("Query callback", item))
            .collect()
    }

    /// One endpoint of `tenant` (another tenant's id is not found).
    pub async fn endpoint(&self, tenant: &str, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let key = dynamo::key(table::callback_pk(tenant), id);
        dynamo::get_item(&self.client, &self.table, key, "GetItem callback")
            .await?
            .map(|i| read("GetItem callback", &i))
            .transpose()
    }

    /// Deletes an endpoint of `tenant`; `false` when there was none.
    pub async fn delete_endpoint(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(dynamo::key(table::callback_pk(tenant), id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failure("DeleteItem callback", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    /// Keeps an event (its body unchanged if already kept) and its entry in
    /// its day, until `expires_at` (Unix seconds); answers the kept event,
    /// delivery states included.
    pub async fn keep_event(
        &self,
        tenant: &str,
        event_id: &str,
        kind: &str,
        body: &str,
        now_ms: u64,
        expires_at: u64,
    ) -> Result<KeptEvent, StoreError> {
        let mut e = Update::default();
        e.set_if_absent(ev::EVENT_ID, s(event_id))
            .set_if_absent(ev::TENANT, s(tenant))
            .set_if_absent(ev::TYPE, s(kind))
            .set_if_absent(ev::BODY, s(body))
            .set_if_absent(ev::KEPT_AT, n(now_ms))
            .set_if_absent(ev::DELIVERIES, AttributeValue::M(HashMap::new()))
            .set_if_absent(EXPIRES_AT, n(expires_at));
        let out = e
            .update_item(&self.client, &self.table, event_key(tenant, event_id), None)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| failure("UpdateItem callback event", e))?;
        let kept: KeptEvent = out
            .attributes()
            .map(|a| read("UpdateItem callback event", a))
            .transpose()?
            .ok_or_else(|| StoreError::Unreadable {
                operation: "UpdateItem callback event",
                source: crate::record::RecordError::Malformed {
                    attribute: "".into(),
                    reason: "no attributes returned".into(),
                },
            })?;
        let mut day = dynamo::key(
            table::callback_day_pk(tenant, day_of(kept.kept_at)),
            table::callback_day_sk(kept.kept_at, event_id),
        );
        day.insert(ev::EVENT_ID.into(), s(event_id));
        day.insert(EXPIRES_AT.into(), n(expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(day))
            .send()
            .await
            .map_err(|e| failure("PutItem callback day", e))?;
        Ok(kept)
    }

    /// A kept event of `tenant`; `None` when unknown or past its retention.
    pub async fn event(
        &self,
        tenant: &str,
        event_id: &str,
    ) -> Result<Option<KeptEvent>, StoreError> {
        let key = event_key(tenant, event_id);
        let kept: Option<KeptEvent> =
            dynamo::get_item(&self.client, &self.table, key, "GetItem callback event")
                .await?
                .map(|i| read("GetItem callback event", &i))
                .transpose()?;
        let now = crate::now_millis() / 1000;
        Ok(kept.filter(|k| !k.expires_at.is_some_and(|at| table::has_expired(at, now))))
    }

    /// Records an endpoint's delivery state of a kept event.
    pub async fn set_delivery(
        &self,
        tenant: &str,
        event_id: &str,
        endpoint_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let value =
            serde_dynamo::to_attribute_value::<_, AttributeValue>(delivery).map_err(|e| {
                StoreError::Rejected {
                    operation: "UpdateItem callback delivery",
                    source: Box::new(e),
                }
            })?;
        let mut e = Update::default();
        let (map, id) = (e.name(ev::DELIVERIES), e.name(endpoint_id));
        let v = e.value(value);
        let mut u = e.update_item(
            &self.client,
            &self.table,
            event_key(tenant, event_id),
            Some(format!("attribute_exists({map})")),
        );
        u = u.update_expression(format!("SET {map}.{id} = {v}"));
        match u.send().await {
            Ok(_) => Ok(()),
            // The kept event is gone (TTL): nothing to record on.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(failure("UpdateItem callback delivery", err)),
        }
    }

    /// The ids of `tenant`'s events kept from `since_ms` to `until_ms`
    /// (inclusive), oldest first.
    pub async fn events_between(
        &self,
        tenant: &str,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let now = crate::now_millis() / 1000;
        for day in day_of(since_ms)..=day_of(until_ms) {
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :a AND :b")
                    .expression_attribute_names("#pk", table::PK)
                    .expression_attribute_names("#sk", table::SK)
                    .expression_attribute_values(":pk", s(table::callback_day_pk(tenant, day)))
                    .expression_attribute_values(":a", s(table::callback_day_sk(since_ms, "")))
                    .expression_attribute_values(":b", s(table::callback_day_sk(until_ms, "~")))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| failure("Query callback day", e))?;
                for item in page.items() {
                    let expired = item
                        .get(EXPIRES_AT)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .is_some_and(|at| table::has_expired(at, now));
                    if let (false, Some(AttributeValue::S(id))) = (expired, item.get(ev::EVENT_ID))
                    {
                        out.push(id.clone());
                    }
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn read<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    item: &Item,
) -> Result<T, StoreError> {
    from_item(item).map_err(|source| StoreError::Unreadable { operation, source })
}

/// Why an endpoint was not registered. [`RegistryError::field`] names the
/// request field at fault (the API's JSON path).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The tenant name is malformed.
    #[error("tenant: {0}")]
    Tenant(&'static str),
    /// The URL is refused by the SSRF guard.
    #[error("url: {0}")]
    Url(Refused),
    /// An unknown event type.
    #[error("events: {0}")]
    Events(String),
    /// The tenant has [`MAX_ENDPOINTS_PER_TENANT`] already.
    #[error("the tenant has {MAX_ENDPOINTS_PER_TENANT} endpoints already; remove one first")]
    TooMany,
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl RegistryError {
    /// The request field at fault, for refusals (`None`: not the caller's).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RegistryError::Tenant(_) => Some("tenant"),
            RegistryError::Url(_) => Some("url"),
            RegistryError::Events(_) => Some("events"),
            RegistryError::TooMany => Some(""),
            RegistryError::Store(_) | RegistryError::Secret(_) => None,
        }
    }
}

/// A registered endpoint and its signing secret, shown once.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `whsec_...`: never stored, derived again when needed.
    pub secret: crate::secrets::SecretString,
}

/// Registration, listing and removal of a tenant's endpoints, and each
/// endpoint's signing key: what `chasqui callbacks` and the API call.
#[derive(Clone)]
pub struct Registry {
    /// The table's callback items.
    pub store: CallbackStore,
    guard: Guard,
    secrets: Arc<SecretCache>,
    secret_id: String,
}

impl Registry {
    /// A registry on `store`, checking URLs with `guard` and deriving keys
    /// from the master key in the secret `secret_id` (`CALLBACK_SECRET_ID`).
    pub fn new(
        store: CallbackStore,
        guard: Guard,
        secrets: Arc<SecretCache>,
        secret_id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            guard,
            secrets,
            secret_id: secret_id.into(),
        }
    }

    /// Registers an endpoint of `tenant` for `events` (empty: all); answers
    /// it with its secret.
    pub async fn register(
        &self,
        tenant: &str,
        url: &str,
        events: &[String],
    ) -> Result<Registered, RegistryError> {
        crate::tenant::check_name(tenant).map_err(RegistryError::Tenant)?;
        let checked = self.guard.check_url(url).map_err(RegistryError::Url)?;
        // A name is resolved now too (and again at every delivery).
        if let super::ssrf::Host::Name(host) = &checked.host {
            let addrs: Vec<std::net::IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|a| a.map(|a| a.ip()).collect())
                .unwrap_or_default();
            self.guard
                .check_resolved(&addrs)
                .map_err(RegistryError::Url)?;
        }
        let events = super::parse_event_types(&events.join(",")).map_err(RegistryError::Events)?;
        if self.store.endpoints(tenant).await?.len() >= MAX_ENDPOINTS_PER_TENANT {
            return Err(RegistryError::TooMany);
        }
        let endpoint = Endpoint {
            endpoint_id: super::new_endpoint_id(),
            tenant: tenant.to_owned(),
            url: url.to_owned(),
            events,
            created_at: crate::now_millis(),
            disabled: false,
            secret_version: 1,
        };
        let key = self.key(&endpoint).await?;
        self.store.put_endpoint(&endpoint).await?;
        Ok(Registered {
            endpoint,
            secret: super::signing::secret_text(&key).into(),
        })
    }

    /// Every endpoint of `tenant`.
    pub async fn list(&self, tenant: &str) -> Result<Vec<Endpoint>, StoreError> {
        self.store.endpoints(tenant).await
    }

    /// Removes an endpoint of `tenant`; `false` when it had none by that id.
    pub async fn remove(&self, tenant: &str, endpoint_id: &str) -> Result<bool, StoreError> {
        self.store.delete_endpoint(tenant, endpoint_id).await
    }

    /// The endpoint's signing key (derived from the cached master key).
    pub async fn key(&self, endpoint: &Endpoint) -> Result<[u8; 32], SecretError> {
        let master = self
            .secrets
            .json(&self.secret_id)
            .await?
            .field(MASTER_KEY_FIELD)?;
        Ok(endpoint_key(
            master.expose_secret().as_bytes(),
            &endpoint.tenant,
            &endpoint.endpoint_id,
            endpoint.secret_version,
        ))
    }

    /// The delivery jobs that re-send the kept events `event_ids` of
    /// `tenant`: to `endpoint_id` only, or to every endpoint that wants
    /// each event. Events no longer kept are left out (their ids are in
    /// the second list).
    pub async fn replay_jobs(
        &self,
        tenant: &str,
        event_ids: &[String],
        endpoint_id: Option<&str>,
    ) -> Result<(Vec<super::DeliveryJob>, Vec<String>), StoreError> {
        let endpoints = self.store.endpoints(tenant).await?;
        let now = crate::now_millis();
        let (mut jobs, mut gone) = (Vec::new(), Vec::new());
        for event_id in event_ids {
            let Some(kept) = self.store.event(tenant, event_id).await? else {
                gone.push(event_id.clone());
                continue;
            };
            for e in &endpoints {
                let chosen = match endpoint_id {
                    Some(id) => e.endpoint_id == id && !e.disabled,
                    None => e.wants(&kept.kind),
                };
                if chosen {
                    jobs.push(super::DeliveryJob {
                        tenant: tenant.to_owned(),
                        event_id: event_id.clone(),
                        endpoint_id: e.endpoint_id.clone(),
                        first_attempt_at: now,
                        replay: true,
                    });
                }
            }
        }
        Ok((jobs, gone))
    }

    /// The guard registrations are checked with.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }
}
