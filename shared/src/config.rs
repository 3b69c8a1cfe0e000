//! The configuration contract. Every setting comes from the environment; a
//! missing or malformed one fails the cold start with a message naming it, so a
//! broken deployment is loud at its first invocation instead of quietly wrong.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// `GRAPH_API_BASE_URL` when unset: Meta's Graph API.
pub const DEFAULT_GRAPH_API_BASE_URL: &str = "https://graph.facebook.com";
/// `GRAPH_API_VERSION` when unset.
pub const DEFAULT_GRAPH_API_VERSION: &str = "v25.0";
/// `SECRET_CACHE_TTL_SECONDS` when unset: how long a fetched secret is used
/// before a refresh.
pub const DEFAULT_SECRET_TTL: Duration = Duration::from_secs(300);
/// Where further Meta apps' secrets live under `WHATSAPP_SECRET_PREFIX`
/// (the webhook function's role reads `<prefix>apps/*`).
pub const APP_SECRETS: &str = "apps/";
/// Where binding token secrets live under `WHATSAPP_SECRET_PREFIX` (the
/// sender function's role reads `<prefix>tenants/*`).
pub const TOKEN_SECRETS: &str = "tenants/";

/// Why the configuration could not be loaded; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is unset or blank.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// The variable's name.
        name: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// A variable is set to a value Chasqui cannot use.
    #[error("{name} is malformed ({value:?}): {reason}")]
    Malformed {
        /// The variable's name.
        name: &'static str,
        /// The value as found (trimmed).
        value: String,
        /// What was expected instead.
        reason: &'static str,
    },
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where settings are read from: the process environment in production, a map
/// in tests (edition 2024 makes mutating the process environment `unsafe`).
pub struct Settings {
    lookup: Lookup,
    /// Every name asked for: the template-agreement test reads it to know
    /// which variables a function's configuration uses.
    read: Mutex<BTreeSet<&'static str>>,
}

impl Settings {
    /// Settings read from the process environment (production).
    pub fn from_env() -> Self {
        Self {
            lookup: Box::new(|name| std::env::var(name).ok()),
            read: Mutex::default(),
        }
    }

    /// Settings read from `pairs` (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            lookup: Box::new(move |name| map.get(name).cloned()),
            read: Mutex::default(),
        }
    }

    /// The names of every setting read so far, set or not.
    pub fn names_read(&self) -> Vec<&'static str> {
        self.read
            .lock()
            .map(|names| names.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A setting that is unset or blank counts as absent.
    pub fn get(&self, name: &'static str) -> Option<String> {
        if let Ok(mut names) = self.read.lock() {
            names.insert(name);
        }
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A setting that must be present: [`ConfigError::Missing`] with `hint`
    /// when it is not.
    pub fn required(&self, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name, hint })
    }

    /// `value` if `valid` accepts it, else a `Malformed` error naming `name`.
    pub fn checked(
        name: &'static str,
        value: String,
        valid: impl Fn(&str) -> Result<(), &'static str>,
    ) -> Result<String, ConfigError> {
        match valid(&value) {
            Ok(()) => Ok(value),
            Err(reason) => Err(ConfigError::Malformed {
                name,
                value,
                reason,
            }),
        }
    }

    /// `WHATSAPP_SECRET_ID` and the cache lifetime of the secret it names.
    pub fn secret(&self) -> Result<SecretSettings, ConfigError> {
        let secret_id = self.required(
            "WHATSAPP_SECRET_ID",
            "set it to the Secrets Manager id of the JSON secret {app_secret, verify_token, access_token}",
        )?;
        let ttl = self.secret_ttl()?;
        let prefix = match self.get("WHATSAPP_SECRET_PREFIX") {
            None => None,
            Some(raw) => Some(Self::checked("WHATSAPP_SECRET_PREFIX", raw, |v| {
                let ok = v.len() <= 256
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
                if ok {
                    Ok(())
                } else {
                    Err(
                        "expected a Secrets Manager name prefix such as chasqui/prod/ (a-z, A-Z, 0-9 and /_+=.@-)",
                    )
                }
            })?),
        };
        Ok(SecretSettings {
            secret_id,
            prefix,
            ttl,
        })
    }

    /// `WEBHOOK_QUEUE_URL`: where verified webhook payloads are queued.
    pub fn webhook_queue_url(&self) -> Result<String, ConfigError> {
        let url = self.required(
            "WEBHOOK_QUEUE_URL",
            "set it to the URL of the SQS queue the status function consumes",
        )?;
        Self::checked("WEBHOOK_QUEUE_URL", url, crate::check::http_url)
    }

    /// `TABLE_NAME`: the DynamoDB table holding messages, contacts and idempotency.
    pub fn table_name(&self) -> Result<String, ConfigError> {
        let name = self.required("TABLE_NAME", "set it to the DynamoDB table name")?;
        Self::checked("TABLE_NAME", name, |v| {
            let ok = (3..=255).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if ok {
                Ok(())
            } else {
                Err("expected 3-255 characters of a-z, A-Z, 0-9, '_', '-' or '.'")
            }
        })
    }

    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the functions'
    /// metrics (`shared::metrics`); the template sets `Chasqui/<stack>`.
    pub fn metrics_namespace(&self) -> Result<String, ConfigError> {
        let namespace = self
            .get("METRICS_NAMESPACE")
            .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned());
        Self::checked("METRICS_NAMESPACE", namespace, |v| {
            let ok = v.len() <= 255
                && !v.starts_with("AWS/")
                && v.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '-' | '_' | '/' | '#' | ':' | ' ')
                });
            if ok {
                Ok(())
            } else {
                Err(
                    "expected a CloudWatch namespace such as Chasqui/prod (at most 255 of a-z, A-Z, 0-9 and . - _ / # : space, not starting with AWS/)",
                )
            }
        })
    }

    /// `GRAPH_API_BASE_URL` and `GRAPH_API_VERSION`: where Graph calls go,
    /// for a function that needs no default business number.
    pub fn graph_endpoint(&self) -> Result<(String, String), ConfigError> {
        let graph = self.graph_base()?;
        Ok((graph.base_url, graph.version))
    }

    /// `MEDIA_BUCKET`: the stack's media bucket (`docs/media.md`); `None`
    /// when unset (media is not kept or sent from S3).
    pub fn media_bucket(&self) -> Result<Option<String>, ConfigError> {
        self.get("MEDIA_BUCKET")
            .map(|v| Self::checked("MEDIA_BUCKET", v, bucket_name))
            .transpose()
    }

    /// `MEDIA_QUEUE_URL`: the queue of inbound media downloads; `None`
    /// when unset (inbound media is recorded, not fetched).
    pub fn media_queue_url(&self) -> Result<Option<String>, ConfigError> {
        self.get("MEDIA_QUEUE_URL")
            .map(|v| Self::checked("MEDIA_QUEUE_URL", v, crate::check::queue_url))
            .transpose()
    }

    /// `UPSTREAM_EVENTS_QUEUE_URL`: the queue upstream events go to
    /// (`docs/events.md`); `None`: events are logged, not published.
    pub fn upstream_events_queue_url(&self) -> Result<Option<String>, ConfigError> {
        self.get("UPSTREAM_EVENTS_QUEUE_URL")
            .map(|v| Self::checked("UPSTREAM_EVENTS_QUEUE_URL", v, crate::check::queue_url))
            .transpose()
    }

    /// `CALLBACKS_QUEUE_URL`: the queue every event also goes to for
    /// signed callbacks (`docs/callbacks.md`); `None`: no callbacks.
    pub fn callbacks_queue_url(&self) -> Result<Option<String>, ConfigError> {
        self.get("CALLBACKS_QUEUE_URL")
            .map(|v| Self::checked("CALLBACKS_QUEUE_URL", v, crate::check::queue_url))
            .transpose()
    }

    /// `SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN` and `SEND_QUEUE_ARN`: where
    /// scheduled sends are put on schedule (`docs/scheduled-sends.md`), all
    /// three or none; `None`: a request with a future `send_at` is refused.
    pub fn schedule(&self) -> Result<Option<ScheduleSettings>, ConfigError> {
        let group = self.get("SCHEDULE_GROUP");
        let role = self.get("SCHEDULER_ROLE_ARN");
        let queue = self.get("SEND_QUEUE_ARN");
        let (group, role_arn, send_queue_arn) = match (group, role, queue) {
            (None, None, None) => return Ok(None),
            (Some(g), Some(r), Some(q)) => (g, r, q),
            (g, r, q) => {
                let missing = [
                    ("SCHEDULE_GROUP", g.is_none()),
                    ("SCHEDULER_ROLE_ARN", r.is_none()),
                    ("SEND_QUEUE_ARN", q.is_none()),
                ]
                .into_iter()
                .find_map(|(name, absent)| absent.then_some(name))
                .unwrap_or("SCHEDULE_GROUP");
                return Err(ConfigError::Missing {
                    name: missing,
                    hint: "SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and SEND_QUEUE_ARN go together (scheduled sends); set all three or none",
                });
            }
        };
        let group = Self::checked("SCHEDULE_GROUP", group, schedule_group_name)?;
        let role_arn = Self::checked("SCHEDULER_ROLE_ARN", role_arn, |v| arn(v, "iam"))?;
        let send_queue_arn = Self::checked("SEND_QUEUE_ARN", send_queue_arn, |v| arn(v, "sqs"))?;
        let dead_letter_arn = self
            .get("SEND_DLQ_ARN")
            .map(|v| Self::checked("SEND_DLQ_ARN", v, |v| arn(v, "sqs")))
            .transpose()?;
        Ok(Some(ScheduleSettings {
            group,
            role_arn,
            send_queue_arn,
            dead_letter_arn,
            max_days: self.send_at_max_days()?,
        }))
    }

    /// `SEND_AT_MAX_DAYS` (default 35, 1 to 365): how far ahead a send
    /// request's `send_at` may be.
    pub fn send_at_max_days(&self) -> Result<u64, ConfigError> {
        let Some(raw) = self.get("SEND_AT_MAX_DAYS") else {
            return Ok(crate::send_request::DEFAULT_SEND_AT_MAX_DAYS);
        };
        match raw.parse::<u64>() {
            Ok(days) if (1..=365).contains(&days) => Ok(days),
            _ => Err(ConfigError::Malformed {
                name: "SEND_AT_MAX_DAYS",
                value: raw,
                reason: "expected a whole number of days from 1 to 365",
            }),
        }
    }

    /// The Graph API endpoint, version and default business number.
    pub fn graph(&self) -> Result<GraphSettings, ConfigError> {
        let base = self.graph_base()?;
        let phone_number_id = self.default_phone_number_id()?;
        Ok(GraphSettings {
            phone_number_id,
            ..base
        })
    }

    /// `WHATSAPP_PHONE_NUMBER_ID`: the default tenant's business number, a
    /// send request's when it names none.
    pub fn default_phone_number_id(&self) -> Result<String, ConfigError> {
        Self::checked(
            "WHATSAPP_PHONE_NUMBER_ID",
            self.required(
                "WHATSAPP_PHONE_NUMBER_ID",
                "set it to the default business phone number id from Meta's WhatsApp manager",
            )?,
            |v| {
                if crate::check::numeric_id(v) {
                    Ok(())
                } else {
                    Err("expected the numeric phone number id, not the phone number")
                }
            },
        )
    }

    /// `SEND_QUEUE_URL`: the send queue (the sender consumes it; the API
    /// function puts accepted requests on it).
    pub fn send_queue_url(&self) -> Result<String, ConfigError> {
        Self::checked(
            "SEND_QUEUE_URL",
            self.required(
                "SEND_QUEUE_URL",
                "set it to the URL of the send queue the sender function consumes",
            )?,
            |v| {
                crate::check::http_url(v).map_err(|_| {
                    "expected the queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>), not its ARN or name"
                })
            },
        )
    }

    /// `MESSAGE_TTL_DAYS` (default 90, 1 to 3650): how long message records
    /// are kept.
    pub fn message_ttl(&self) -> Result<Duration, ConfigError> {
        let days = self.whole_number("MESSAGE_TTL_DAYS", DEFAULT_MESSAGE_TTL_DAYS, 1, 3650)?;
        Ok(Duration::from_secs(days * 86_400))
    }

    /// The HTTP API's settings (`docs/api.md`).
    pub fn api(&self) -> Result<ApiSettings, ConfigError> {
        Ok(ApiSettings {
            rate_per_minute: self.whole_number(
                "API_RATE_PER_MINUTE",
                DEFAULT_API_RATE_PER_MINUTE,
                1,
                1_000_000,
            )?,
            key_cache: Duration::from_secs(self.whole_number(
                "API_KEY_CACHE_SECONDS",
                DEFAULT_API_KEY_CACHE.as_secs(),
                0,
                300,
            )?),
        })
    }

    /// An optional whole number from `min` to `max`; `default` when unset.
    fn whole_number(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ConfigError::Malformed {
                name,
                value: raw,
                reason: "expected a whole number within its documented range (see README)",
            }),
        }
    }

    fn graph_base(&self) -> Result<GraphSettings, ConfigError> {
        let base_url = Self::checked(
            "GRAPH_API_BASE_URL",
            self.get("GRAPH_API_BASE_URL")
                .unwrap_or_else(|| DEFAULT_GRAPH_API_BASE_URL.to_owned()),
            crate::check::http_url,
        )?
        .trim_end_matches('/')
        .to_owned();
        let version = Self::checked(
            "GRAPH_API_VERSION",
            self.get("GRAPH_API_VERSION")
                .unwrap_or_else(|| DEFAULT_GRAPH_API_VERSION.to_owned()),
            graph_version,
        )?;
        Ok(GraphSettings {
            base_url,
            version,
            phone_number_id: String::new(),
        })
    }
}

/// The template catalogue's settings (the sender's; `docs/templates.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSettings {
    /// `TEMPLATE_CACHE_SECONDS`: how long the sender keeps a template
    /// name's entries before reading them again.
    pub cache_ttl: Duration,
    /// `TEMPLATE_MAX_AGE_HOURS`: how long an entry stays trusted after its
    /// last sync or webhook; older ones are not checked.
    pub max_age: Duration,
    /// `WHATSAPP_WABA_ID`: the default tenant's WhatsApp Business Account,
    /// whose templates the sync reads (unset: only bound accounts').
    pub default_waba_id: Option<String>,
}

impl Settings {
    /// `TEMPLATE_CACHE_SECONDS` (default 30, 0 to 3600),
    /// `TEMPLATE_MAX_AGE_HOURS` (default 3, 1 to 720) and
    /// `WHATSAPP_WABA_ID` (optional, numeric).
    pub fn templates(&self) -> Result<TemplateSettings, ConfigError> {
        let number = |name: &'static str, default: u64, max: u64, reason: &'static str| match self
            .get(name)
        {
            None => Ok(default),
            Some(raw) => match raw.parse::<u64>() {
                Ok(v) if v <= max && (v > 0 || name == "TEMPLATE_CACHE_SECONDS") => Ok(v),
                _ => Err(ConfigError::Malformed {
                    name,
                    value: raw,
                    reason,
                }),
            },
        };
        let cache = number(
            "TEMPLATE_CACHE_SECONDS",
            30,
            3600,
            "expected a whole number of seconds from 0 to 3600",
        )?;
        let max_age = number(
            "TEMPLATE_MAX_AGE_HOURS",
            3,
            720,
            "expected a whole number of hours from 1 to 720",
        )?;
        let default_waba_id = self
            .get("WHATSAPP_WABA_ID")
            .map(|v| {
                Self::checked("WHATSAPP_WABA_ID", v, |v| {
                    if crate::check::numeric_id(v) {
                        Ok(())
                    } else {
                        Err("expected the numeric WhatsApp Business Account id")
                    }
                })
            })
            .transpose()?;
        Ok(TemplateSettings {
            cache_ttl: Duration::from_secs(cache),
            max_age: Duration::from_secs(max_age * 3600),
            default_waba_id,
        })
    }
}

/// The callbacks' settings (`docs/callbacks.md`): the callbacks function's,
/// and the CLI's for registration and replays.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackSettings {
    /// `CALLBACK_SECRET_ID`: the secret whose `master_key` every endpoint's
    /// signing secret is derived from.
    pub secret_id: String,
    /// `SECRET_CACHE_TTL_SECONDS`: how long the master key is cached.
    pub secret_ttl: Duration,
    /// `CALLBACK_TIMEOUT_MS`: the whole budget of one POST (default 5000).
    pub timeout: Duration,
    /// `CALLBACK_RETRY_HOURS`: how long a delivery is retried before it is
    /// parked (default 24; fractions allowed).
    pub retry_for: Duration,
    /// `CALLBACK_BACKOFF_BASE_SECONDS` / `CALLBACK_BACKOFF_CAP_SECONDS`: the
    /// first retry waits about the base, each next one doubles, up to the
    /// cap (defaults 30 and 3600), jittered.
    pub backoff_base: Duration,
    /// See `backoff_base`.
    pub backoff_cap: Duration,
    /// `CALLBACK_ALLOWED_NETWORKS` as written (CIDRs the SSRF guard lets
    /// through; empty: none), checked.
    pub allowed_networks: String,
    /// `CALLBACK_RETENTION_DAYS`: how long events are kept for replays
    /// (default 7).
    pub retention: Duration,
    /// `CALLBACK_ENDPOINT_CACHE_SECONDS`: how long a tenant's endpoints are
    /// kept before reading them again (default 30; 0: every batch reads).
    pub endpoint_cache: Duration,
}

/// What registering callback endpoints needs (`chasqui callbacks add`, the
/// API's `POST /v1/callbacks`): the master key's secret and the ranges the
/// SSRF guard lets through. A part of [`CallbackSettings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRegistrySettings {
    /// `CALLBACK_SECRET_ID`: the secret whose `master_key` every endpoint's
    /// signing secret is derived from.
    pub secret_id: String,
    /// `SECRET_CACHE_TTL_SECONDS`: how long the master key is cached.
    pub secret_ttl: Duration,
    /// `CALLBACK_ALLOWED_NETWORKS` as written (CIDRs the SSRF guard lets
    /// through; empty: none), checked.
    pub allowed_networks: String,
}

impl Settings {
    /// `SECRET_CACHE_TTL_SECONDS`: how long a fetched secret is used.
    pub fn secret_ttl(&self) -> Result<Duration, ConfigError> {
        match self.get("SECRET_CACHE_TTL_SECONDS") {
            None => Ok(DEFAULT_SECRET_TTL),
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
                _ => Err(ConfigError::Malformed {
                    name: "SECRET_CACHE_TTL_SECONDS",
                    value: raw,
                    reason: "expected a positive number of seconds",
                }),
            },
        }
    }

    /// What registering endpoints needs; `CALLBACK_SECRET_ID` is required.
    #[cfg(feature = "aws")]
    pub fn callback_registry(&self) -> Result<CallbackRegistrySettings, ConfigError> {
        let secret_id = self.required(
            "CALLBACK_SECRET_ID",
            "set it to the Secrets Manager id of the JSON secret {master_key} callback secrets are derived from",
        )?;
        let allowed_networks = Self::checked(
            "CALLBACK_ALLOWED_NETWORKS",
            self.get("CALLBACK_ALLOWED_NETWORKS").unwrap_or_default(),
            |v| crate::callbacks::ssrf::Guard::parse_networks(v).map(drop),
        )?;
        Ok(CallbackRegistrySettings {
            secret_id,
            secret_ttl: self.secret_ttl()?,
            allowed_networks,
        })
    }

    /// The callbacks' settings; `CALLBACK_SECRET_ID` is required.
    #[cfg(feature = "aws")]
    pub fn callbacks(&self) -> Result<CallbackSettings, ConfigError> {
        let number =
            |name: &'static str, default: u64, min: u64, max: u64, reason: &'static str| match self
                .get(name)
            {
                None => Ok(default),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(v) if (min..=max).contains(&v) => Ok(v),
                    _ => Err(ConfigError::Malformed {
                        name,
                        value: raw,
                        reason,
                    }),
                },
            };
        let registry = self.callback_registry()?;
        let timeout = number(
            "CALLBACK_TIMEOUT_MS",
            5000,
            100,
            30_000,
            "expected a whole number of milliseconds from 100 to 30000",
        )?;
        let retry_for = match self.get("CALLBACK_RETRY_HOURS") {
            None => Duration::from_secs(24 * 3600),
            Some(raw) => match raw.parse::<f64>() {
                Ok(h) if h > 0.0 && h <= 168.0 => Duration::from_secs_f64(h * 3600.0),
                _ => {
                    return Err(ConfigError::Malformed {
                        name: "CALLBACK_RETRY_HOURS",
                        value: raw,
                        reason: "expected a number of hours above 0, at most 168",
                    });
                }
            },
        };
        let base = number(
            "CALLBACK_BACKOFF_BASE_SECONDS",
            30,
            1,
            3600,
            "expected a whole number of seconds from 1 to 3600",
        )?;
        let cap = number(
            "CALLBACK_BACKOFF_CAP_SECONDS",
            3600,
            1,
            43_200,
            "expected a whole number of seconds from 1 to 43200 (SQS's 12 hours)",
        )?;
        let retention = number(
            "CALLBACK_RETENTION_DAYS",
            7,
            1,
            90,
            "expected a whole number of days from 1 to 90",
        )?;
        let cache = number(
            "CALLBACK_ENDPOINT_CACHE_SECONDS",
            30,
            0,
            3600,
            "expected a whole number of seconds from 0 to 3600",
        )?;
        Ok(CallbackSettings {
            secret_id: registry.secret_id,
            secret_ttl: registry.secret_ttl,
            timeout: Duration::from_millis(timeout),
            retry_for,
            backoff_base: Duration::from_secs(base),
            backoff_cap: Duration::from_secs(cap.max(base)),
            allowed_networks: registry.allowed_networks,
            retention: Duration::from_secs(retention * 86_400),
            endpoint_cache: Duration::from_secs(cache),
        })
    }

    /// `CALLBACKS_DLQ_URL`: where deliveries given up on are parked.
    pub fn callbacks_dlq_url(&self) -> Result<String, ConfigError> {
        let url = self.required(
            "CALLBACKS_DLQ_URL",
            "set it to the URL of the callbacks dead-letter queue",
        )?;
        Self::checked("CALLBACKS_DLQ_URL", url, crate::check::queue_url)
    }
}

/// Scheduled sends' settings (`docs/scheduled-sends.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// `SCHEDULE_GROUP`: the EventBridge Scheduler schedule group the
    /// one-time schedules are created in (the stack's).
    pub group: String,
    /// `SCHEDULER_ROLE_ARN`: the role Scheduler assumes to put a fire on
    /// the send queue (it may do nothing else).
    pub role_arn: String,
    /// `SEND_QUEUE_ARN`: the send queue, the schedules' target.
    pub send_queue_arn: String,
    /// `SEND_DLQ_ARN`: where Scheduler puts a fire it could not deliver
    /// after its retries (the send queue's dead-letter queue, redriven like
    /// any send); unset: none.
    pub dead_letter_arn: Option<String>,
    /// `SEND_AT_MAX_DAYS`: how far ahead `send_at` may be.
    pub max_days: u64,
}

/// An EventBridge Scheduler group name: 1 to 64 of `[0-9a-zA-Z-_.]`.
pub fn schedule_group_name(value: &str) -> Result<(), &'static str> {
    if (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Ok(())
    } else {
        Err("expected a schedule group name: 1 to 64 letters, digits, '-', '_' or '.'")
    }
}

/// An ARN of `service` (`arn:<partition>:<service>:...`).
fn arn(value: &str, service: &str) -> Result<(), &'static str> {
    let mut parts = value.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| !p.is_empty())
        && parts.next() == Some(service)
        && parts.nth(2).is_some_and(|resource| !resource.is_empty());
    if ok {
        Ok(())
    } else {
        Err("expected an ARN (arn:aws:<service>:<region>:<account>:<name>), not a name or URL")
    }
}

/// `MESSAGE_TTL_DAYS` when unset.
pub const DEFAULT_MESSAGE_TTL_DAYS: u64 = 90;
/// `API_RATE_PER_MINUTE` when unset: requests per key per minute.
pub const DEFAULT_API_RATE_PER_MINUTE: u64 = 600;
/// `API_KEY_CACHE_SECONDS` when unset: how long an instance trusts a key it
/// loaded, so how long a revoked key may still pass.
pub const DEFAULT_API_KEY_CACHE: Duration = Duration::from_secs(30);

/// The HTTP API's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// `API_RATE_PER_MINUTE`: requests each key may make per minute, counted
    /// across every instance.
    pub rate_per_minute: u64,
    /// `API_KEY_CACHE_SECONDS`: how long an instance keeps a key it loaded
    /// (0: every call reads it); a revocation takes effect within it.
    pub key_cache: Duration,
}

/// Where the secrets are and how long a fetched one is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSettings {
    /// `WHATSAPP_SECRET_ID`: the default app's and default business's secret.
    pub secret_id: String,
    /// `WHATSAPP_SECRET_PREFIX`: every further app's secret and every
    /// binding's token secret is named under it (the functions' roles may
    /// read nothing else). Unset: one business, one app.
    pub prefix: Option<String>,
    /// `SECRET_CACHE_TTL_SECONDS`: how long a fetched secret is used before it
    /// is fetched again.
    pub ttl: Duration,
}

impl SecretSettings {
    /// The secret of the Meta app `app` (`<prefix>apps/<app>`); `None`
    /// without a prefix. `app` must be a checked name
    /// (`shared::tenant::check_name`).
    pub fn app_secret_id(&self, app: &str) -> Option<String> {
        self.prefix
            .as_ref()
            .map(|p| format!("{p}{APP_SECRETS}{app}"))
    }

    /// The token secret `chasqui bindings add` names for `tenant` by default
    /// (`<prefix>tenants/<tenant>`); `None` without a prefix. `tenant` must
    /// be a checked name (`shared::tenant::check_name`).
    pub fn token_secret_id(&self, tenant: &str) -> Option<String> {
        self.prefix
            .as_ref()
            .map(|p| format!("{p}{TOKEN_SECRETS}{tenant}"))
    }

    /// Whether `secret_id` is one a binding may name: under
    /// `<prefix>tenants/`, the only secrets the sender's role may read
    /// besides `WHATSAPP_SECRET_ID`.
    pub fn allows(&self, secret_id: &str) -> bool {
        self.prefix.as_ref().is_some_and(|p| {
            secret_id
                .strip_prefix(p.as_str())
                .and_then(|rest| rest.strip_prefix(TOKEN_SECRETS))
                .is_some_and(|name| !name.is_empty())
        })
    }
}

/// The Cloud API endpoint and the default business number (the sender's
/// settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphSettings {
    /// `GRAPH_API_BASE_URL`, without a trailing `/`.
    pub base_url: String,
    /// `GRAPH_API_VERSION` (`v25.0`), part of every call's path.
    pub version: String,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the business number a request is sent from
    /// unless it names another.
    pub phone_number_id: String,
}

/// Everything the webhook function needs at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where the secrets are.
    pub secret: SecretSettings,
    /// `WEBHOOK_QUEUE_URL`: the queue verified payloads go to.
    pub queue_url: String,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of its metrics.
    pub metrics_namespace: String,
}

impl WebhookConfig {
    /// Reads the webhook function's settings, failing on the first missing or
    /// malformed one.
    pub fn load(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            secret: settings.secret()?,
            queue_url: settings.webhook_queue_url()?,
            metrics_namespace: settings.metrics_namespace()?,
        })
    }
}

/// An S3 bucket name: 3-63 of `a-z`, `0-9`, `.`, `-`, starting and ending
/// with a letter or digit.
pub fn bucket_name(value: &str) -> Result<(), &'static str> {
    let ok = (3..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("expected an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
    }
}

fn graph_version(value: &str) -> Result<(), &'static str> {
    let reason = "expected a Graph API version such as v25.0";
    let (major, minor) = value
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .ok_or(reason)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(major) && digits(minor) {
        Ok(())
    } else {
        Err(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn webhook_config_loads_with_defaults() {
        let s = settings(&[
            ("WHATSAPP_SECRET_ID", "chasqui/whatsapp"),
            (
                "WEBHOOK_QUEUE_URL",
                "http://127.0.0.1:5000/123/webhook-events",
            ),
        ]);
        let cfg = WebhookConfig::load(&s).unwrap();
        assert_eq!(cfg.secret.secret_id, "chasqui/whatsapp");
        assert_eq!(cfg.secret.ttl, DEFAULT_SECRET_TTL);
        assert_eq!(cfg.queue_url, "http://127.0.0.1:5000/123/webhook-events");
    }

    #[test]
    fn missing_settings_are_named() {
        let err =
            WebhookConfig::load(&settings(&[("WEBHOOK_QUEUE_URL", "https://q")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                name: "WHATSAPP_SECRET_ID",
                ..
            }
        ));
        assert!(err.to_string().starts_with("WHATSAPP_SECRET_ID is not set"));

        let err = WebhookConfig::load(&settings(&[
            ("WHATSAPP_SECRET_ID", "x"),
            ("WEBHOOK_QUEUE_URL", "  "),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Missing {
                name: "WEBHOOK_QUEUE_URL",
                ..
            }
        ));
    }

    #[test]
    fn malformed_settings_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[
                    ("WHATSAPP_SECRET_ID", "x"),
                    ("WEBHOOK_QUEUE_URL", "sqs/queue"),
                ],
                "WEBHOOK_QUEUE_URL",
            ),
            (
                &[
                    ("WHATSAPP_SECRET_ID", "x"),
                    ("WEBHOOK_QUEUE_URL", "https://q"),
                    ("SECRET_CACHE_TTL_SECONDS", "0"),
                ],
                "SECRET_CACHE_TTL_SECONDS",
            ),
            (
                &[
                    ("WHATSAPP_SECRET_ID", "x"),
                    ("WEBHOOK_QUEUE_URL", "https://q"),
                    ("SECRET_CACHE_TTL_SECONDS", "5m"),
                ],
                "SECRET_CACHE_TTL_SECONDS",
            ),
        ];
        for (pairs, name) in cases {
            match WebhookConfig::load(&settings(pairs)) {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(&got, name),
                other => panic!("{pairs:?}: expected {name} malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn graph_settings_default_and_validate() {
        let g = settings(&[("WHATSAPP_PHONE_NUMBER_ID", "1122334455")])
            .graph()
            .unwrap();
        assert_eq!(g.base_url, DEFAULT_GRAPH_API_BASE_URL);
        assert_eq!(g.version, DEFAULT_GRAPH_API_VERSION);

        let g = settings(&[
            ("WHATSAPP_PHONE_NUMBER_ID", "1"),
            ("GRAPH_API_BASE_URL", "http://127.0.0.1:8080/"),
            ("GRAPH_API_VERSION", "v26.0"),
        ])
        .graph()
        .unwrap();
        assert_eq!(g.base_url, "http://127.0.0.1:8080");
        assert_eq!(g.version, "v26.0");

        for (name, value) in [
            ("GRAPH_API_VERSION", "25.0"),
            ("GRAPH_API_VERSION", "v25"),
            ("GRAPH_API_VERSION", "vX.0"),
            ("GRAPH_API_BASE_URL", "graph.facebook.com"),
            ("GRAPH_API_BASE_URL", "https://"),
            ("WHATSAPP_PHONE_NUMBER_ID", "+1 555 0100"),
        ] {
            let mut pairs = vec![("WHATSAPP_PHONE_NUMBER_ID", "1")];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            match settings(&pairs).graph() {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name, "{value}"),
                other => panic!("{name}={value}: expected malformed, got {other:?}"),
            }
        }
        assert!(matches!(
            settings(&[]).graph(),
            Err(ConfigError::Missing {
                name: "WHATSAPP_PHONE_NUMBER_ID",
                ..
            })
        ));
    }

    #[test]
    fn names_read_include_unset_optional_settings() {
        let s = settings(&[
            ("WHATSAPP_SECRET_ID", "x"),
            ("WEBHOOK_QUEUE_URL", "https://q"),
        ]);
        WebhookConfig::load(&s).unwrap();
        assert_eq!(
            s.names_read(),
            [
                "METRICS_NAMESPACE",
                "SECRET_CACHE_TTL_SECONDS",
                "WEBHOOK_QUEUE_URL",
                "WHATSAPP_SECRET_ID",
                "WHATSAPP_SECRET_PREFIX"
            ]
        );
    }

    #[test]
    fn secret_prefix_names_app_secrets_and_bounds_binding_secrets() {
        let s = settings(&[("WHATSAPP_SECRET_ID", "x")]).secret().unwrap();
        assert_eq!(s.app_secret_id("shop"), None);
        assert_eq!(s.token_secret_id("acme"), None);
        assert!(!s.allows("chasqui/prod/tenants/acme"));
        let s = settings(&[
            ("WHATSAPP_SECRET_ID", "x"),
            ("WHATSAPP_SECRET_PREFIX", "chasqui/prod/"),
        ])
        .secret()
        .unwrap();
        assert_eq!(
            s.app_secret_id("shop").as_deref(),
            Some("chasqui/prod/apps/shop")
        );
        assert_eq!(
            s.token_secret_id("acme").as_deref(),
            Some("chasqui/prod/tenants/acme")
        );
        assert!(s.allows("chasqui/prod/tenants/acme"));
        assert!(s.allows(&s.token_secret_id("acme").unwrap()));
        assert!(!s.allows("chasqui/prod/"));
        assert!(!s.allows("chasqui/prod/tenants/"));
        // App secrets and anything else under the prefix are not tokens.
        assert!(!s.allows("chasqui/prod/apps/shop"));
        assert!(!s.allows("chasqui/prod/acme"));
        assert!(!s.allows("chasqui/prod/tenantsacme"));
        assert!(!s.allows("chasqui/other/tenants/acme"));
        assert!(matches!(
            settings(&[
                ("WHATSAPP_SECRET_ID", "x"),
                ("WHATSAPP_SECRET_PREFIX", "chasqui prod*"),
            ])
            .secret(),
            Err(ConfigError::Malformed {
                name: "WHATSAPP_SECRET_PREFIX",
                ..
            })
        ));
    }

    #[test]
    fn metrics_namespace_defaults_and_is_checked() {
        assert_eq!(settings(&[]).metrics_namespace().unwrap(), "Chasqui");
        assert_eq!(
            settings(&[("METRICS_NAMESPACE", "Chasqui/prod-1")])
                .metrics_namespace()
                .unwrap(),
            "Chasqui/prod-1"
        );
        for bad in ["AWS/Lambda", "Chasqui{prod}", &"x".repeat(256)] {
            assert!(
                matches!(
                    settings(&[("METRICS_NAMESPACE", bad)]).metrics_namespace(),
                    Err(ConfigError::Malformed {
                        name: "METRICS_NAMESPACE",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn template_settings_default_and_are_checked() {
        let t = settings(&[]).templates().unwrap();
        assert_eq!(t.cache_ttl, Duration::from_secs(30));
        assert_eq!(t.max_age, Duration::from_secs(3 * 3600));
        assert_eq!(t.default_waba_id, None);
        let t = settings(&[
            ("TEMPLATE_CACHE_SECONDS", "0"),
            ("TEMPLATE_MAX_AGE_HOURS", "24"),
            ("WHATSAPP_WABA_ID", "102290129340398"),
        ])
        .templates()
        .unwrap();
        assert_eq!(t.cache_ttl, Duration::ZERO);
        assert_eq!(t.default_waba_id.as_deref(), Some("102290129340398"));
        for (name, value) in [
            ("TEMPLATE_CACHE_SECONDS", "-1"),
            ("TEMPLATE_MAX_AGE_HOURS", "0"),
            ("WHATSAPP_WABA_ID", "my-waba"),
        ] {
            match settings(&[(name, value)]).templates() {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn callback_settings_default_and_are_checked() {
        let c = settings(&[("CALLBACK_SECRET_ID", "chasqui/callbacks")])
            .callbacks()
            .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retry_for, Duration::from_secs(24 * 3600));
        assert_eq!(
            (c.backoff_base, c.backoff_cap),
            (Duration::from_secs(30), Duration::from_secs(3600))
        );
        assert_eq!(c.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(c.allowed_networks, "");
        let c = settings(&[
            ("CALLBACK_SECRET_ID", "x"),
            ("CALLBACK_RETRY_HOURS", "0.001"),
            ("CALLBACK_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ])
        .callbacks()
        .unwrap();
        assert_eq!(c.retry_for, Duration::from_millis(3600));
        for (name, value) in [
            ("CALLBACK_TIMEOUT_MS", "50"),
            ("CALLBACK_RETRY_HOURS", "0"),
            ("CALLBACK_RETRY_HOURS", "a day"),
            ("CALLBACK_BACKOFF_BASE_SECONDS", "0"),
            ("CALLBACK_BACKOFF_CAP_SECONDS", "86400"),
            ("CALLBACK_ALLOWED_NETWORKS", "intranet"),
            ("CALLBACK_RETENTION_DAYS", "0"),
        ] {
            match settings(&[("CALLBACK_SECRET_ID", "x"), (name, value)]).callbacks() {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name, "{value}"),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert!(matches!(
            settings(&[]).callbacks(),
            Err(ConfigError::Missing {
                name: "CALLBACK_SECRET_ID",
                ..
            })
        ));
    }

    #[test]
    fn api_settings_default_and_are_checked() {
        let a = settings(&[]).api().unwrap();
        assert_eq!(a.rate_per_minute, DEFAULT_API_RATE_PER_MINUTE);
        assert_eq!(a.key_cache, DEFAULT_API_KEY_CACHE);
        let a = settings(&[("API_RATE_PER_MINUTE", "5"), ("API_KEY_CACHE_SECONDS", "0")])
            .api()
            .unwrap();
        assert_eq!((a.rate_per_minute, a.key_cache), (5, Duration::ZERO));
        for (name, value) in [
            ("API_RATE_PER_MINUTE", "0"),
            ("API_KEY_CACHE_SECONDS", "301"),
            ("API_KEY_CACHE_SECONDS", "1m"),
        ] {
            match settings(&[(name, value)]).api() {
                Err(ConfigError::Malformed { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert_eq!(
            settings(&[("MESSAGE_TTL_DAYS", "7")])
                .message_ttl()
                .unwrap(),
            Duration::from_secs(7 * 86_400)
        );
    }

    #[test]
    fn table_name_is_checked() {
        assert_eq!(
            settings(&[("TABLE_NAME", "chasqui-messages")])
                .table_name()
                .unwrap(),
            "chasqui-messages"
        );
        assert!(matches!(
            settings(&[("TABLE_NAME", "no spaces")]).table_name(),
            Err(ConfigError::Malformed {
                name: "TABLE_NAME",
                ..
            })
        ));
    }
}
