//! The sender's view of the catalogue: each template name's entries read
//! once (one `Query`, every language) and kept in the instance for a short
//! TTL. A batch loads the names it sends before any record is processed, so
//! a batch costs at most one read per template name, however many of its
//! messages use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::store::TemplateStore;
use super::{Entry, Mismatch};
use crate::send_request::Template;

/// How long a name's entries are kept by default (`TEMPLATE_CACHE_SECONDS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// How long an entry stays trusted after its last sync or webhook by
/// default (`TEMPLATE_MAX_AGE_HOURS`): three missed hourly syncs.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3 * 3600);

type Key = (String, String);
/// A name's entries and when they were read.
type Loaded = (Instant, Arc<Vec<Entry>>);

/// The cached catalogue.
pub struct Catalogue {
    store: Arc<dyn TemplateStore>,
    ttl: Duration,
    max_age: Duration,
    loaded: Mutex<HashMap<Key, Loaded>>,
}

impl Catalogue {
    /// A cache over `store`, keeping names `ttl` and trusting entries
    /// confirmed within `max_age`.
    pub fn new(store: Arc<dyn TemplateStore>, ttl: Duration, max_age: Duration) -> Self {
        Self {
            store,
            ttl,
            max_age,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &Key, now: Instant) -> Option<Arc<Vec<Entry>>> {
        let loaded = self.loaded.lock().ok()?;
        let (at, entries) = loaded.get(key)?;
        (now.duration_since(*at) < self.ttl).then(|| entries.clone())
    }

    /// Reads every `(tenant, name)` not cached (or expired), each once and
    /// concurrently. A read that fails is logged and left out: the
    /// catalogue never blocks a send it cannot read.
    pub async fn load(&self, wanted: impl IntoIterator<Item = (String, String)>) {
        let now = Instant::now();
        let mut missing: Vec<Key> = wanted
            .into_iter()
            .filter(|key| self.cached(key, now).is_none())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let reads = missing.iter().map(|(tenant, name)| async move {
            (tenant, name, self.store.entries(tenant, name).await)
        });
        for (tenant, name, result) in futures_util::future::join_all(reads).await {
            match result {
                Ok(entries) => {
                    if let Ok(mut loaded) = self.loaded.lock() {
                        loaded.insert((tenant.clone(), name.clone()), (now, Arc::new(entries)));
                    }
                }
                Err(error) => tracing::warn!(
                    tenant = %tenant,
                    template = %name,
                    %error,
                    "template catalogue not read: its sends go unchecked to Meta"
                ),
            }
        }
    }

    /// Checks a send against what [`Catalogue::load`] read for its name
    /// (nothing read: not checked).
    pub fn check(&self, tenant: &str, send: &Template, now_ms: u64) -> Result<(), Mismatch> {
        let key = (tenant.to_owned(), send.name.clone());
        let Some(entries) = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.get(&key).map(|(_, e)| e.clone()))
        else {
            return Ok(());
        };
        super::check(send, &entries, now_ms, self.max_age.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::MemoryTemplates;
    use super::*;

    #[tokio::test]
    async fn a_name_is_read_once_per_ttl_whatever_the_messages() {
        let store = Arc::new(MemoryTemplates::default());
        let cache = Catalogue::new(store.clone(), Duration::from_secs(60), DEFAULT_MAX_AGE);
        let wanted = || {
            (0..50).map(|i| {
                (
                    "default".to_owned(),
                    if i % 2 == 0 { "a" } else { "b" }.to_owned(),
                )
            })
        };
        cache.load(wanted()).await;
        cache.load(wanted()).await;
        assert_eq!(store.reads(), 2, "one read per name");
        let expired = Catalogue::new(store.clone(), Duration::ZERO, DEFAULT_MAX_AGE);
        expired.load(wanted()).await;
        expired.load(wanted()).await;
        assert_eq!(store.reads(), 6, "a zero TTL reads each name every batch");
    }
}
