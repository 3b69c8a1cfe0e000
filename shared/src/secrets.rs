//! The WhatsApp secret: fetched from Secrets Manager once per cold start and
//! kept for a TTL, because tokens rotate. Values never reach a log line: the
//! wrapper's `Debug` is redacted and parse errors name keys, never values.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// A string that must never be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The JSON secret named by `WHATSAPP_SECRET_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let malformed = |reason: String| SecretError::Malformed {
            secret_id: secret_id.to_owned(),
            reason,
        };
        let map: Map<String, Value> = serde_json::from_str(json)
            .map_err(|_| malformed("the secret string is not a JSON object".to_owned()))?;
        let field = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(SecretString::new(s.trim())),
            Some(Value::String(_)) => Err(malformed(format!("\"{key}\" is empty"))),
            Some(_) => Err(malformed(format!("\"{key}\" is not a string"))),
            None => Err(malformed(format!("\"{key}\" is missing"))),
        };
        Ok(Self {
            app_secret: field("app_secret")?,
            verify_token: field("verify_token")?,
            access_token: field("access_token")?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret {secret_id}: {source}")]
    Unavailable {
        secret_id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "secret {secret_id} is malformed: {reason}; it must be a JSON object with string keys app_secret, verify_token and access_token"
    )]
    Malformed { secret_id: String, reason: String },
}

impl SecretError {
    /// Whether trying again later can help (a malformed secret needs a human).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Port: where the secret comes from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn fetch(&self) -> Result<WhatsAppSecret, SecretError>;
}

/// Adapter: AWS Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<WhatsAppSecret, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                secret_id: self.secret_id.clone(),
                source: aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    .to_string()
                    .into(),
            })?;
        let json = out.secret_string().ok_or_else(|| SecretError::Malformed {
            secret_id: self.secret_id.clone(),
            reason: "it has no SecretString (binary secrets are not supported)".to_owned(),
        })?;
        WhatsAppSecret::from_json(&self.secret_id, json)
    }
}

struct Cached {
    value: Arc<WhatsAppSecret>,
    fresh_until: Instant,
}

/// The cold-start cache: one fetch, then a refresh whenever the TTL lapses. A
/// failed refresh keeps serving the last good value (and retries after a short
/// pause) so a Secrets Manager blip does not take the webhook down.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    state: Mutex<Option<Cached>>,
}

/// How long a stale value is served after a failed refresh before trying again.
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(30);

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            state: Mutex::new(None),
        }
    }

    /// The current secret, fetching it if it was never fetched or has expired.
    pub async fn get(&self) -> Result<Arc<WhatsAppSecret>, SecretError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.as_ref()
            && cached.fresh_until > now
        {
            return Ok(cached.value.clone());
        }
        match self.source.fetch().await {
            Ok(secret) => {
                let value = Arc::new(secret);
                *state = Some(Cached {
                    value: value.clone(),
                    fresh_until: now + self.ttl,
                });
                Ok(value)
            }
            Err(err) => match state.as_mut() {
                Some(stale) => {
                    tracing::warn!(error = %err, "secret refresh failed; serving the cached value");
                    stale.fresh_until = now + RETRY_AFTER_FAILED_REFRESH;
                    Ok(stale.value.clone())
                }
                None => Err(err),
            },
        }
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
        assert_eq!(s.app_secret.expose(), "s3cr3t");
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("EAAB") && !debug.contains("tok\""),
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
    }

    struct Counting {
        calls: AtomicUsize,
        fail_after: usize,
    }

    #[async_trait]
    impl SecretSource for Counting {
        async fn fetch(&self) -> Result<WhatsAppSecret, SecretError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if n >= self.fail_after {
                return Err(SecretError::Unavailable {
                    secret_id: "id".into(),
                    source: "down".into(),
                });
            }
            let mut s = WhatsAppSecret::from_json("id", JSON)?;
            s.access_token = SecretString::new(format!("token-{n}"));
            Ok(s)
        }
    }

    #[tokio::test]
    async fn caches_within_ttl_and_refreshes_after() {
        let source = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            fail_after: usize::MAX,
        });
        let cache = SecretCache::new(source.clone(), Duration::from_millis(50));
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-0");
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-0");
        assert_eq!(source.calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-1");
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_refresh_serves_stale_and_first_failure_errors() {
        let source = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            fail_after: 1,
        });
        let cache = SecretCache::new(source.clone(), Duration::from_millis(1));
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-0");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-0");
        // the stale value is now held for the retry pause: no hammering
        assert_eq!(cache.get().await.unwrap().access_token.expose(), "token-0");
        assert_eq!(source.calls.load(Ordering::SeqCst), 2);

        let never = SecretCache::new(
            Arc::new(Counting {
                calls: AtomicUsize::new(0),
                fail_after: 0,
            }),
            DEFAULT,
        );
        assert!(never.get().await.unwrap_err().is_retryable());
    }

    const DEFAULT: Duration = Duration::from_secs(300);
}
