//! Secrets: fetched from Secrets Manager once per cold start and kept for a
//! TTL, because tokens rotate. Values never reach a log line: the wrapper's
//! `Debug` is redacted and parse errors name keys, never values.
//!
//! Three kinds of secret, all JSON objects of strings:
//! - the deployment's own (`WHATSAPP_SECRET_ID`): `app_secret`,
//!   `verify_token` and `access_token` of the default Meta app and business;
//! - a further Meta app's (`<WHATSAPP_SECRET_PREFIX>apps/<app>`):
//!   `app_secret` and `verify_token`;
//! - a business binding's access token (any id under the prefix, named by
//!   the binding): `access_token`.
//!
//! One [`SecretCache`] holds every secret a function reads, by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// A string that must never be logged: its `Debug` is redacted, its value
/// is read with [`ExposeSecret::expose_secret`] where it is used, and it
/// is zeroed when dropped.
pub use secrecy::{ExposeSecret, SecretString};

/// One secret's JSON object, checked to be one; fields are read by name.
pub struct SecretJson {
    secret_id: String,
    map: Map<String, Value>,
}

impl SecretJson {
    /// Parses a secret string. Errors name the secret, never a value.
    pub fn parse(secret_id: &str, json: &str) -> Result<Self, SecretError> {
        let map: Map<String, Value> =
            serde_json::from_str(json).map_err(|_| SecretError::Malformed {
                secret_id: secret_id.to_owned(),
                reason: "the secret string is not a JSON object".to_owned(),
            })?;
        Ok(Self {
            secret_id: secret_id.to_owned(),
            map,
        })
    }

    /// A non-empty string field. Errors name the key, never a value.
    pub fn field(&self, key: &str) -> Result<SecretString, SecretError> {
        let malformed = |reason: String| SecretError::Malformed {
            secret_id: self.secret_id.clone(),
            reason,
        };
        match self.map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(SecretString::from(s.trim())),
            Some(Value::String(_)) => Err(malformed(format!("\"{key}\" is empty"))),
            Some(_) => Err(malformed(format!("\"{key}\" is not a string"))),
            None => Err(malformed(format!("\"{key}\" is missing"))),
        }
    }
}

impl std::fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretJson")
            .field("secret_id", &self.secret_id)
            .field("keys", &self.map.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A Meta app's webhook credentials.
#[derive(Debug, Clone)]
pub struct AppSecret {
    /// The HMAC key of `X-Hub-Signature-256`.
    pub app_secret: SecretString,
    /// The token typed into Meta's dashboard for the verification handshake.
    pub verify_token: SecretString,
}

impl AppSecret {
    /// Reads `app_secret` and `verify_token` from a Meta app's secret.
    pub fn from_secret(json: &SecretJson) -> Result<Self, SecretError> {
        Ok(Self {
            app_secret: json.field("app_secret")?,
            verify_token: json.field("verify_token")?,
        })
    }
}

/// The JSON secret named by `WHATSAPP_SECRET_ID`: the default app's
/// credentials and the default business's access token.
#[derive(Debug, Clone)]
pub struct WhatsAppSecret {
    /// Meta app secret: the HMAC key of `X-Hub-Signature-256`.
    pub app_secret: SecretString,
    /// The token typed into Meta's dashboard for the verification handshake.
    pub verify_token: SecretString,
    /// System-user access token for the Cloud API.
    pub access_token: SecretString,
}

impl WhatsAppSecret {
    /// Parses the secret's JSON. Errors name the offending key, never a value.
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, SecretError> {
        let json = SecretJson::parse(secret_id, json)?;
        let app = AppSecret::from_secret(&json)?;
        Ok(Self {
            app_secret: app.app_secret,
            verify_token: app.verify_token,
            access_token: json.field(ACCESS_TOKEN)?,
        })
    }
}

/// The key of a Cloud API access token in any secret that holds one.
pub const ACCESS_TOKEN: &str = "access_token";

/// Why a secret could not be had; never holds a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager could not be reached or refused the call: a later try
    /// may pass.
    #[error("could not read secret {secret_id}: {}", crate::error::Chain(source.as_ref()))]
    Unavailable {
        /// The secret's id.
        secret_id: String,
        /// What the SDK reported.
        #[source]
        source: crate::error::Cause,
    },
    /// No secret has that id.
    #[error("secret {secret_id} does not exist")]
    NotFound {
        /// The secret's id.
        secret_id: String,
    },
    /// The secret is not what its kind needs: a JSON object of non-empty
    /// strings.
    #[error(
        "secret {secret_id} is malformed: {reason}; it must be a JSON object of strings (see the README's configuration section for the keys of each kind of secret)"
    )]
    Malformed {
        /// The secret's id.
        secret_id: String,
        /// What is wrong: it may name a key, never a value.
        reason: String,
    },
}

impl SecretError {
    /// Whether trying again later can help (a missing or malformed secret
    /// needs a human).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Port: where secrets come from, by id; answers the secret string.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret string of `secret_id`.
    async fn fetch(&self, secret_id: &str) -> Result<String, SecretError>;
}

/// Adapter: AWS Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    /// An adapter reading through `client`.
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self, secret_id: &str) -> Result<String, SecretError> {
        let out = match self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    return Err(SecretError::NotFound {
                        secret_id: secret_id.to_owned(),
                    });
                }
                return Err(SecretError::Unavailable {
                    secret_id: secret_id.to_owned(),
                    source: Box::new(e),
                });
            }
        };
        out.secret_string()
            .map(str::to_owned)
            .ok_or_else(|| SecretError::Malformed {
                secret_id: secret_id.to_owned(),
                reason: "it has no SecretString (binary secrets are not supported)".to_owned(),
            })
    }
}

struct Cached {
    /// `None`: the secret does not exist (remembered for a short while, so
    /// requests naming an unknown app do not each cost a call).
    value: Option<Arc<SecretJson>>,
    fresh_until: Instant,
}

/// The cold-start cache of every secret a function reads: one fetch per id,
/// then a refresh whenever the TTL lapses. A failed refresh keeps serving the
/// last good value (and retries after a short pause) so a Secrets Manager
/// blip does not take a function down.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    state: Mutex<HashMap<String, Cached>>,
}

/// How long a stale value is served after a failed refresh before trying
/// again, and how long a missing secret is remembered as missing.
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(30);

impl SecretCache {
    /// A cache of `source`'s secrets, each refreshed after `ttl`.
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// A cache of Secrets Manager's secrets through `client`, each refreshed
    /// after `ttl`: the one every function and the CLI read through.
    pub fn secrets_manager(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> Self {
        Self::new(Arc::new(SecretsManagerSource::new(client)), ttl)
    }

    /// The secret `secret_id`, fetching it if it was never fetched or has
    /// expired.
    pub async fn json(&self, secret_id: &str) -> Result<Arc<SecretJson>, SecretError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.get(secret_id)
            && cached.fresh_until > now
        {
            return cached.value.clone().ok_or_else(|| SecretError::NotFound {
                secret_id: secret_id.to_owned(),
            });
        }
        let fetched = self
            .source
            .fetch(secret_id)
            .await
            .and_then(|json| SecretJson::parse(secret_id, &json));
        match fetched {
            Ok(json) => {
                let value = Arc::new(json);
                state.insert(
                    secret_id.to_owned(),
                    Cached {
                        value: Some(value.clone()),
                        fresh_until: now + self.ttl,
                    },
                );
                Ok(value)
            }
            Err(err @ SecretError::NotFound { .. }) => {
                state.insert(
                    secret_id.to_owned(),
                    Cached {
                        value: None,
                        fresh_until: now + RETRY_AFTER_FAILED_REFRESH,
                    },
                );
                Err(err)
            }
            Err(err) => match state.get_mut(secret_id) {
                Some(stale) if stale.value.is_some() => {
                    tracing::warn!(error = %err, "secret refresh failed; serving the cached value");
                    stale.fresh_until = now + RETRY_AFTER_FAILED_REFRESH;
                    stale.value.clone().ok_or(err)
                }
                _ => Err(err),
            },
        }
    }

    /// A Meta app's webhook credentials from the secret `secret_id`.
    pub async fn app(&self, secret_id: &str) -> Result<AppSecret, SecretError> {
        AppSecret::from_secret(&*self.json(secret_id).await?)
    }

    /// The Cloud API access token in the secret `secret_id`.
    pub async fn access_token(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        self.json(secret_id).await?.field(ACCESS_TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const JSON: &str = r#"{"app_secret":"s3cr3t","verify_token":"tok","access_token":"EAAB"}"#;

    #[test]
    fn parses_and_redacts() {
        let s = WhatsAppSecret::from_json("id", JSON).unwrap();
        assert_eq!(s.app_secret.expose_secret(), "s3cr3t");
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("EAAB") && !debug.contains("tok\""),
            "{debug}"
        );
        let json = SecretJson::parse("id", JSON).unwrap();
        let debug = format!("{json:?}");
        assert!(
            debug.contains("app_secret") && !debug.contains("s3cr3t"),
            "{debug}"
        );
    }

    #[test]
    fn malformed_secrets_name_the_key_not_the_value() {
        for (json, key) in [
            (
                r#"{"verify_token":"tok","access_token":"EAAB"}"#,
                "app_secret",
            ),
            (
                r#"{"app_secret":"s3cr3t","verify_token":"  ","access_token":"EAAB"}"#,
                "verify_token",
            ),
            (
                r#"{"app_secret":"s3cr3t","verify_token":"tok","access_token":12345}"#,
                "access_token",
            ),
        ] {
            let err = WhatsAppSecret::from_json("chasqui/whatsapp", json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
            assert!(
                !err.contains("s3cr3t") && !err.contains("12345") && !err.contains("EAAB"),
                "{err}"
            );
        }
        let err = WhatsAppSecret::from_json("id", "s3cr3t")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        // An app's secret needs no token; a token secret needs nothing else.
        let app = SecretJson::parse("a", r#"{"app_secret":"x","verify_token":"y"}"#).unwrap();
        assert_eq!(
            AppSecret::from_secret(&app)
                .unwrap()
                .verify_token
                .expose_secret(),
            "y"
        );
        assert!(app.field(ACCESS_TOKEN).is_err());
    }

    /// Answers `JSON` with a numbered token per call, or fails from call
    /// `fail_after` on; `missing` ids do not exist.
    struct Counting {
        calls: AtomicUsize,
        fail_after: usize,
        missing: &'static str,
    }

    impl Counting {
        fn new(fail_after: usize) -> Arc<Self> {
            Arc::new(Self {
                calls: AtomicUsize::new(0),
                fail_after,
                missing: "missing",
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl SecretSource for Counting {
        async fn fetch(&self, secret_id: &str) -> Result<String, SecretError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if secret_id == self.missing {
                return Err(SecretError::NotFound {
                    secret_id: secret_id.into(),
                });
            }
            if n >= self.fail_after {
                return Err(SecretError::Unavailable {
                    secret_id: secret_id.into(),
                    source: "down".into(),
                });
            }
            Ok(format!(r#"{{"access_token":"{secret_id}-{n}"}}"#))
        }
    }

    async fn token(cache: &SecretCache, id: &str) -> String {
        cache
            .access_token(id)
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    #[tokio::test]
    async fn caches_each_id_within_ttl_and_refreshes_after() {
        let source = Counting::new(usize::MAX);
        let cache = SecretCache::new(source.clone(), Duration::from_millis(50));
        assert_eq!(token(&cache, "a").await, "a-0");
        assert_eq!(token(&cache, "a").await, "a-0");
        assert_eq!(token(&cache, "b").await, "b-1");
        assert_eq!(token(&cache, "a").await, "a-0");
        assert_eq!(source.calls(), 2);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(token(&cache, "a").await, "a-2");
        assert_eq!(source.calls(), 3);
    }

    #[tokio::test]
    async fn failed_refresh_serves_stale_and_first_failure_errors() {
        let source = Counting::new(1);
        let cache = SecretCache::new(source.clone(), Duration::from_millis(1));
        assert_eq!(token(&cache, "a").await, "a-0");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(token(&cache, "a").await, "a-0");
        // the stale value is now held for the retry pause: no hammering
        assert_eq!(token(&cache, "a").await, "a-0");
        assert_eq!(source.calls(), 2);

        let never = SecretCache::new(Counting::new(0), DEFAULT);
        assert!(never.json("a").await.unwrap_err().is_retryable());
    }

    #[tokio::test]
    async fn a_missing_secret_is_remembered_and_not_retryable() {
        let source = Counting::new(usize::MAX);
        let cache = SecretCache::new(source.clone(), DEFAULT);
        for _ in 0..3 {
            let err = cache.json("missing").await.unwrap_err();
            assert!(matches!(err, SecretError::NotFound { .. }), "{err}");
            assert!(!err.is_retryable());
        }
        assert_eq!(source.calls(), 1);
    }

    const DEFAULT: Duration = Duration::from_secs(300);
}
