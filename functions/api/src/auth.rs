//! Who is calling: the `Authorization: Bearer chq_<key id>_<secret>` key,
//! checked against its item (`shared::keys`), which an instance keeps for
//! `API_KEY_CACHE_SECONDS`: a revoked key stops working within that bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lambda_http::http::{HeaderMap, StatusCode, header};
use shared::keys::{self, ApiKey, DynamoKeys};
use shared::store::StoreError;
use tokio::sync::Mutex;

use crate::problem::Problem;

/// An unknown key id is remembered this long at most (a flood of made-up
/// ids costs one read each per instance per interval).
const UNKNOWN_FOR: Duration = Duration::from_secs(5);
/// Entries an instance keeps before it starts over.
const MAX_ENTRIES: usize = 10_000;

/// `WWW-Authenticate` of a `401`.
pub const CHALLENGE: &str = "Bearer realm=\"chasqui\"";

/// The caller, once its key passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id (logged; not a secret).
    pub key_id: String,
    /// The tenant every read and write of the call is scoped to.
    pub tenant: String,
}

struct Cached {
    key: Option<ApiKey>,
    at: Instant,
}

/// The keys an instance has loaded.
pub struct Keys {
    store: DynamoKeys,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

/// Why a call's key did not pass: the problem to answer and the outcome
/// to log.
#[derive(Debug)]
pub enum Refused {
    /// `401`: no key, or not a key.
    Unauthenticated(Box<Problem>),
    /// `403`: unknown, wrong or revoked.
    Forbidden(Box<Problem>),
    /// `503`: the key could not be read.
    Unavailable(Box<Problem>, StoreError),
}

impl Refused {
    /// The answer.
    pub fn problem(&self) -> &Problem {
        match self {
            Refused::Unauthenticated(p) | Refused::Forbidden(p) | Refused::Unavailable(p, _) => p,
        }
    }
}

fn unauthenticated(detail: &str) -> Refused {
    Refused::Unauthenticated(Box::new(Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        detail,
    )))
}

fn forbidden(reason: &str, detail: &str) -> Refused {
    Refused::Forbidden(Box::new(Problem::new(
        StatusCode::FORBIDDEN,
        reason,
        detail,
    )))
}

/// The key of `Authorization: Bearer <key>`, as the header holds it.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Refused> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated(
            "send the API key as `Authorization: Bearer chq_...`",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| unauthenticated("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthenticated(
            "the Authorization header must be `Bearer chq_...`",
        ));
    }
    Ok(token.trim())
}

impl Keys {
    /// Keys read from `store`, each kept `ttl`.
    pub fn new(store: DynamoKeys, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The caller of a request with these headers, or why it is refused.
    pub async fn authenticate(&self, headers: &HeaderMap, now_ms: u64) -> Result<Caller, Refused> {
        let token = bearer(headers)?;
        let Some(presented) = keys::parse(token) else {
            return Err(unauthenticated(
                "the bearer token is not a Chasqui API key (chq_<16 hex>_<64 hex>)",
            ));
        };
        let key = self.load(presented.key_id, now_ms).await?;
        let Some(key) = key else {
            return Err(forbidden("unknown_key", "this API key is not known"));
        };
        if !keys::secret_matches(presented.secret, &key.secret_hash) {
            return Err(forbidden("unknown_key", "this API key is not known"));
        }
        if key.is_revoked(now_ms) {
            return Err(forbidden("revoked_key", "this API key was revoked"));
        }
        Ok(Caller {
            key_id: key.key_id,
            tenant: key.tenant,
        })
    }

    async fn load(&self, key_id: &str, now_ms: u64) -> Result<Option<ApiKey>, Refused> {
        let now = Instant::now();
        {
            let cache = self.cache.lock().await;
            if let Some(c) = cache.get(key_id) {
                let ttl = if c.key.is_some() {
                    self.ttl
                } else {
                    self.ttl.min(UNKNOWN_FOR)
                };
                if now.duration_since(c.at) < ttl {
                    return Ok(c.key.clone());
                }
            }
        }
        let key = self.store.get(key_id).await.map_err(|e| {
            Refused::Unavailable(
                Box::new(Problem::unavailable(
                    "the API keys could not be read; try again",
                )),
                e,
            )
        })?;
        if key.is_some()
            && let Err(err) = self.store.touch(key_id, now_ms).await
        {
            // Only the `last used` column suffers.
            tracing::warn!(key_id, error = %err, "could not record the key's last use");
        }
        let mut cache = self.cache.lock().await;
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(
            key_id.to_owned(),
            Cached {
                key: key.clone(),
                at: now,
            },
        );
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_key_is_read_from_a_bearer_header_only() {
        assert_eq!(bearer(&headers(Some("Bearer chq_x"))).unwrap(), "chq_x");
        assert_eq!(bearer(&headers(Some("bearer  chq_x "))).unwrap(), "chq_x");
        for bad in [
            None,
            Some("Basic abc"),
            Some("Bearer"),
            Some("Bearer  "),
            Some("chq_x"),
        ] {
            match bearer(&headers(bad)) {
                Err(Refused::Unauthenticated(p)) => assert_eq!(p.status, 401),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
