//! Where bindings are kept (the table), the cached directory the functions
//! read them through, and the access token of each number.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::Mutex;

use super::Binding;
use crate::cloud_api::AccessToken;
use crate::config::SecretSettings;
use crate::secrets::{SecretCache, SecretError, SecretString};
use crate::table;
use crate::table::dynamo::{Item, from_item};

/// Why the bindings could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// DynamoDB could not be reached or refused the call: a later try may pass.
    #[error("could not read or write bindings: {}", crate::error::Chain(source.as_ref()))]
    Unavailable {
        /// The SDK error itself.
        #[source]
        source: crate::error::Cause,
    },
    /// A binding item does not read as a [`Binding`].
    #[error("binding item {sk} is malformed: {reason}")]
    Malformed {
        /// The item's sort key: the phone number id.
        sk: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Port: the bindings, by phone number id.
#[async_trait]
pub trait BindingStore: Send + Sync {
    /// Every binding.
    async fn list(&self) -> Result<Vec<Binding>, DirectoryError>;
    /// Binds a number; `false` when it is already bound (to anyone): a
    /// number is unbound before it is bound again.
    async fn put(&self, binding: &Binding) -> Result<bool, DirectoryError>;
    /// Unbinds a number; the binding it had.
    async fn remove(&self, phone_number_id: &str) -> Result<Option<Binding>, DirectoryError>;
}

/// Adapter: the binding items of the table.
pub struct DynamoBindings {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoBindings {
    /// An adapter on the binding items of the table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> DirectoryError {
    DirectoryError::Unavailable {
        source: Box::new(e),
    }
}

/// A binding as its item: its fields, named as in [`Binding`], under
/// the `BINDING` partition, keyed by its number.
fn item(binding: &Binding) -> Result<Item, DirectoryError> {
    let mut item: Item = serde_dynamo::to_item(binding).map_err(|e| DirectoryError::Malformed {
        sk: binding.phone_number_id.clone(),
        reason: e.to_string(),
    })?;
    item.insert(
        table::PK.to_owned(),
        AttributeValue::S(table::BINDING_PK.into()),
    );
    item.insert(
        table::SK.to_owned(),
        AttributeValue::S(binding.phone_number_id.clone()),
    );
    Ok(item)
}

fn binding(item: &Item) -> Result<Binding, DirectoryError> {
    from_item(item).map_err(|e| DirectoryError::Malformed {
        sk: match item.get(table::SK) {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => String::new(),
        },
        reason: e.to_string(),
    })
}

#[async_trait]
impl BindingStore for DynamoBindings {
    async fn list(&self) -> Result<Vec<Binding>, DirectoryError> {
        table::dynamo::query_partition(&self.client, &self.table, table::BINDING_PK)
            .await
            .map_err(unavailable)?
            .iter()
            .map(binding)
            .collect()
    }

    async fn put(&self, binding: &Binding) -> Result<bool, DirectoryError> {
        table::dynamo::put_new(&self.client, &self.table, item(binding)?)
            .await
            .map_err(unavailable)
    }

    async fn remove(&self, phone_number_id: &str) -> Result<Option<Binding>, DirectoryError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(table::PK, AttributeValue::S(table::BINDING_PK.into()))
            .key(table::SK, AttributeValue::S(phone_number_id.into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        out.attributes().map(binding).transpose()
    }
}

/// How soon after a load a lookup that finds nothing loads again: a number
/// bound a moment ago is found within a second, not after the TTL, and a
/// flood of requests for unbound numbers costs at most one query a second.
const RELOAD_ON_MISS_AFTER: Duration = Duration::from_secs(1);

/// How long a number (or account) that a reload of its own found unbound is
/// answered as unbound without loading again. The default tenant's number
/// has no binding and is looked up on every send and status: without this,
/// every warm instance would query the bindings once a second for it. A
/// number bound within this time after it was last looked up unbound is seen
/// after it; a number never looked up is still seen within a second.
const CONFIRMED_UNBOUND_FOR: Duration = Duration::from_secs(60);

/// At most this many confirmed-unbound keys are remembered (webhooks may name
/// any number): past it, the memory starts again empty.
const CONFIRMED_UNBOUND_MAX: usize = 1024;

struct Loaded {
    /// A few per tenant: a linear search is as fast as a map here.
    bindings: Vec<Binding>,
    at: Instant,
}

#[derive(Default)]
struct State {
    loaded: Option<Loaded>,
    /// Keys a reload made for them found unbound, and when.
    unbound: HashMap<String, Instant>,
}

/// The bindings as the functions read them: loaded whole (one query), kept
/// for a TTL, loaded again early when a number is not found. A removed
/// binding may be served until the TTL lapses (the README says so).
pub struct Directory {
    store: Arc<dyn BindingStore>,
    ttl: Duration,
    state: Mutex<State>,
}

impl Directory {
    /// A directory over `store`, reloading every binding after `ttl`.
    pub fn new(store: Arc<dyn BindingStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// A binding of the WhatsApp Business Account `waba_id` (its account
    /// and template webhooks name no number): every binding of one account
    /// has the same tenant and app (`chasqui bindings add` checks it).
    pub async fn binding_of_account(
        &self,
        waba_id: &str,
    ) -> Result<Option<Binding>, DirectoryError> {
        self.find(&format!("account:{waba_id}"), |b| b.waba_id == waba_id)
            .await
    }

    /// The binding of a business number, if it has one.
    pub async fn binding(&self, phone_number_id: &str) -> Result<Option<Binding>, DirectoryError> {
        self.find(&format!("number:{phone_number_id}"), |b| {
            b.phone_number_id == phone_number_id
        })
        .await
    }

    /// Every binding of `tenant` (its business numbers).
    pub async fn bindings_of_tenant(&self, tenant: &str) -> Result<Vec<Binding>, DirectoryError> {
        self.select(&format!("tenant:{tenant}"), |b| b.tenant == tenant)
            .await
    }

    async fn find(
        &self,
        key: &str,
        matches: impl Fn(&Binding) -> bool,
    ) -> Result<Option<Binding>, DirectoryError> {
        Ok(self.select(key, matches).await?.into_iter().next())
    }

    /// The bindings `matches` keeps; `key` names the lookup, so one that a
    /// reload of its own found nothing for is answered from memory for a
    /// while (`CONFIRMED_UNBOUND_FOR`).
    async fn select(
        &self,
        key: &str,
        matches: impl Fn(&Binding) -> bool,
    ) -> Result<Vec<Binding>, DirectoryError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let lookup = |loaded: &Loaded| -> Vec<Binding> {
            loaded
                .bindings
                .iter()
                .filter(|b| matches(b))
                .cloned()
                .collect()
        };
        if let Some(loaded) = state.loaded.as_ref() {
            let age = now.duration_since(loaded.at);
            let found = lookup(loaded);
            let confirmed_unbound = || {
                state
                    .unbound
                    .get(key)
                    .is_some_and(|at| now.duration_since(*at) < CONFIRMED_UNBOUND_FOR)
            };
            let fresh = age < self.ttl
                && (!found.is_empty() || age < RELOAD_ON_MISS_AFTER || confirmed_unbound());
            if fresh {
                return Ok(found);
            }
        }
        match self.store.list().await {
            Ok(bindings) => {
                let loaded = Loaded { bindings, at: now };
                let found = lookup(&loaded);
                state.loaded = Some(loaded);
                if !found.is_empty() {
                    state.unbound.remove(key);
                } else {
                    if state.unbound.len() >= CONFIRMED_UNBOUND_MAX {
                        state.unbound.clear();
                    }
                    state.unbound.insert(key.to_owned(), now);
                }
                Ok(found)
            }
            // A failed reload keeps answering from what was loaded, like the
            // secret cache, and tries again after the miss interval.
            Err(err) => match state.loaded.as_mut() {
                Some(loaded) => {
                    tracing::warn!(error = %err, "bindings reload failed; serving the loaded bindings");
                    loaded.at = now
                        .checked_sub(self.ttl.saturating_sub(RELOAD_ON_MISS_AFTER))
                        .unwrap_or(now);
                    Ok(lookup(loaded))
                }
                None => Err(err),
            },
        }
    }
}

/// The access token of each business number: its binding's secret, or the
/// deployment's own secret for a number no binding names.
#[derive(Clone)]
pub struct TenantTokens {
    /// The cache the token secrets are read through.
    pub secrets: Arc<SecretCache>,
    /// The bindings, to find a number's token secret.
    pub directory: Arc<Directory>,
    /// The deployment's secret and the prefix binding secrets live under.
    pub secret: SecretSettings,
}

impl TenantTokens {
    /// The production tokens: `secrets` (Secrets Manager through a cache,
    /// [`SecretCache::secrets_manager`]), the bindings of `table_name` read
    /// through the function's one DynamoDB client and reloaded every
    /// [`super::BINDINGS_TTL`].
    pub fn new(
        secrets: Arc<SecretCache>,
        dynamodb: aws_sdk_dynamodb::Client,
        table_name: &str,
        secret: &SecretSettings,
    ) -> Self {
        Self {
            secrets,
            directory: Arc::new(Directory::new(
                Arc::new(DynamoBindings::new(dynamodb, table_name)),
                super::BINDINGS_TTL,
            )),
            secret: secret.clone(),
        }
    }
}

#[async_trait]
impl AccessToken for TenantTokens {
    async fn access_token(&self, phone_number_id: &str) -> Result<SecretString, SecretError> {
        let secret_id = match self.directory.binding(phone_number_id).await {
            // The functions' roles may read only under the prefix: a binding
            // naming another secret is a mistake to name, not to retry.
            Ok(Some(binding)) if !self.secret.allows(&binding.token_secret) => {
                return Err(SecretError::Malformed {
                    secret_id: binding.token_secret,
                    reason: format!(
                        "the binding of {phone_number_id} names a secret outside WHATSAPP_SECRET_PREFIX"
                    ),
                });
            }
            Ok(Some(binding)) => binding.token_secret,
            Ok(None) => self.secret.secret_id.clone(),
            Err(e) => {
                return Err(SecretError::Unavailable {
                    secret_id: format!("(the binding of {phone_number_id})"),
                    source: Box::new(e),
                });
            }
        };
        self.secrets.access_token(&secret_id).await
    }
}

/// Bindings in memory, counting lists: for tests and benches of the code
/// that reads them (the adapter above is tested against the emulator).
#[derive(Default)]
pub struct MemoryBindings {
    bindings: std::sync::Mutex<Vec<Binding>>,
    lists: std::sync::atomic::AtomicUsize,
}

impl MemoryBindings {
    /// How many times the bindings were listed.
    #[cfg(test)]
    fn lists(&self) -> usize {
        self.lists.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl BindingStore for MemoryBindings {
    async fn list(&self) -> Result<Vec<Binding>, DirectoryError> {
        self.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.bindings.lock().map(|b| b.clone()).unwrap_or_default())
    }

    async fn put(&self, binding: &Binding) -> Result<bool, DirectoryError> {
        let mut bindings = self
            .bindings
            .lock()
            .map_err(|_| DirectoryError::Malformed {
                sk: binding.phone_number_id.clone(),
                reason: "poisoned".into(),
            })?;
        if bindings
            .iter()
            .any(|b| b.phone_number_id == binding.phone_number_id)
        {
            return Ok(false);
        }
        bindings.push(binding.clone());
        Ok(true)
    }

    async fn remove(&self, phone_number_id: &str) -> Result<Option<Binding>, DirectoryError> {
        let Ok(mut bindings) = self.bindings.lock() else {
            return Ok(None);
        };
        let at = bindings
            .iter()
            .position(|b| b.phone_number_id == phone_number_id);
        Ok(at.map(|i| bindings.remove(i)))
    }
}

impl Directory {
    /// A directory of fixed bindings (none: a single business).
    pub fn fixed(bindings: Vec<Binding>) -> Self {
        let store = MemoryBindings {
            bindings: std::sync::Mutex::new(bindings),
            ..MemoryBindings::default()
        };
        Self::new(Arc::new(store), crate::tenant::BINDINGS_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Binding {
        Binding {
            phone_number_id: "111".into(),
            tenant: "acme".into(),
            app: "app-a".into(),
            waba_id: "999".into(),
            display_phone_number: None,
            token_secret: "chasqui/tenants/acme".into(),
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn loads_once_and_finds_a_new_binding_soon_after() {
        let store = Arc::new(MemoryBindings::default());
        store.put(&acme()).await.unwrap();
        let dir = Directory::new(store.clone(), Duration::from_secs(300));
        assert_eq!(dir.binding("111").await.unwrap().unwrap().tenant, "acme");
        assert_eq!(dir.binding("111").await.unwrap().unwrap().tenant, "acme");
        // A miss right after a load does not query again...
        assert!(dir.binding("222").await.unwrap().is_none());
        assert_eq!(store.lists(), 1);
        // ...one after the miss interval does, and finds the new number.
        store
            .put(&Binding {
                phone_number_id: "222".into(),
                ..acme()
            })
            .await
            .unwrap();
        age(&dir, RELOAD_ON_MISS_AFTER).await;
        assert!(dir.binding("222").await.unwrap().is_some());
        assert_eq!(store.lists(), 2);
    }

    /// Moves the directory's clock back by `by`: its load and what it found
    /// unbound happened that much earlier.
    async fn age(dir: &Directory, by: Duration) {
        let mut state = dir.state.lock().await;
        if let Some(loaded) = state.loaded.as_mut() {
            loaded.at -= by;
        }
        for at in state.unbound.values_mut() {
            *at -= by;
        }
    }

    #[tokio::test]
    async fn a_number_found_unbound_is_not_reloaded_for_every_lookup() {
        let store = Arc::new(MemoryBindings::default());
        store.put(&acme()).await.unwrap();
        let dir = Directory::new(store.clone(), Duration::from_secs(300));
        // The default tenant's number: no binding, looked up all the time.
        assert!(dir.binding("555").await.unwrap().is_none());
        assert_eq!(store.lists(), 1);
        for _ in 0..5 {
            age(&dir, RELOAD_ON_MISS_AFTER).await;
            assert!(dir.binding("555").await.unwrap().is_none());
        }
        assert_eq!(
            store.lists(),
            1,
            "a confirmed unbound number reloads nothing"
        );
        // Another number never looked up is still found within a second.
        store
            .put(&Binding {
                phone_number_id: "777".into(),
                ..acme()
            })
            .await
            .unwrap();
        assert_eq!(
            dir.binding("777").await.unwrap().unwrap().phone_number_id,
            "777"
        );
        assert_eq!(store.lists(), 2);
        // Bound later, the first number is seen once its confirmation lapses.
        store
            .put(&Binding {
                phone_number_id: "555".into(),
                ..acme()
            })
            .await
            .unwrap();
        assert!(dir.binding("555").await.unwrap().is_none());
        age(&dir, CONFIRMED_UNBOUND_FOR).await;
        assert!(dir.binding("555").await.unwrap().is_some());
        assert_eq!(store.lists(), 3);
        // Found, it is served from that load.
        assert!(dir.binding("555").await.unwrap().is_some());
        assert_eq!(store.lists(), 3);
    }
}
