//! The webhook function: Meta's verification handshake on `GET`, and on `POST`
//! a signature check over the raw bytes followed by a lossless hand-off to SQS.
//! It answers `200` only once every part of the payload is queued.
//!
//! One route per Meta app: `/webhook` is the default app's (the
//! `WHATSAPP_SECRET_ID` secret), `/webhook/{app}` a further app's (the
//! `<WHATSAPP_SECRET_PREFIX>apps/{app}` secret). Each request is verified
//! with its route's app secret only, and its changes are queued with the
//! app's name; the status function applies a change only to the tenant whose
//! binding owns its number through that app (`shared::tenant`).

// Input from outside (Meta, SQS, upstream systems, settings) is never
// unwrapped: every failure is an error with its cause (tests may unwrap;
// clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use shared::config::{ConfigError, SecretSettings, Settings, WebhookConfig};
use shared::intake::{self, MAX_BODY_BYTES, MAX_WEBHOOK_BYTES};
use shared::metrics::{self, Emf};
use shared::queue::{Queue, SqsQueue};
use shared::secrets::{AppSecret, ExposeSecret, SecretCache, SecretError};
use shared::signature::{self, SignatureError};
use shared::tenant::{self, DEFAULT_APP};

/// Longest `hub.challenge` echoed back (Meta sends a short number).
const MAX_CHALLENGE_CHARS: usize = 1024;

/// Alerts this function logs: none (its failures show as 5xx answers, which
/// have their own alarm).
pub const ALERTS: &[&str] = &[];

/// Every AWS action this function calls, with the setting that names the
/// resource it acts on. The SAM template must grant exactly these
/// (`tests/tests/template.rs` checks it).
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    ("WHATSAPP_SECRET_ID", "secretsmanager:GetSecretValue"),
    // Further apps' secrets, `<prefix>apps/<app>`.
    ("WHATSAPP_SECRET_PREFIX", "secretsmanager:GetSecretValue"),
    ("WEBHOOK_QUEUE_URL", "sqs:SendMessage"),
];

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<WebhookConfig, ConfigError> {
    WebhookConfig::load(settings)
}

/// What the function holds between invocations.
pub struct App {
    secrets: SecretCache,
    secret: SecretSettings,
    queue: Arc<dyn Queue>,
}

impl App {
    pub fn new(secrets: SecretCache, secret: SecretSettings, queue: Arc<dyn Queue>) -> Self {
        Self {
            secrets,
            secret,
            queue,
        }
    }

    /// Cold start: read the configuration, build the clients and fetch the
    /// secret once. Any failure here names what to fix.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = configure(&Settings::from_env())?;
        metrics::install(&config.metrics_namespace);
        let aws = shared::aws_config().await;
        let secrets = SecretCache::secrets_manager(
            aws_sdk_secretsmanager::Client::new(&aws),
            config.secret.ttl,
        );
        secrets.app(&config.secret.secret_id).await?;
        let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), &config.queue_url);
        Ok(Self::new(secrets, config.secret, Arc::new(queue)))
    }

    /// The credentials of the app a route names, or the answer to give.
    async fn app_secret(&self, app: &str) -> Result<AppSecret, Reply> {
        let secret_id = if app == DEFAULT_APP {
            self.secret.secret_id.clone()
        } else {
            self.secret
                .app_secret_id(app)
                .ok_or_else(Reply::unknown_app)?
        };
        match self.secrets.app(&secret_id).await {
            Ok(secret) => Ok(secret),
            Err(SecretError::NotFound { .. }) if app != DEFAULT_APP => Err(Reply::unknown_app()),
            Err(err) => Err(Reply::failed(
                "secret_unavailable",
                SECRET_UNAVAILABLE,
                err.to_string(),
            )),
        }
    }
}

/// The Meta app a request path names: `/webhook` the default app,
/// `/webhook/{app}` another (a checked name; `default` has only the first
/// route). `None`: no such route.
pub fn app_of_path(path: &str) -> Option<&str> {
    let rest = path.trim_end_matches('/').strip_prefix("/webhook")?;
    if rest.is_empty() {
        return Some(DEFAULT_APP);
    }
    let app = rest.strip_prefix('/')?;
    (app != DEFAULT_APP && tenant::check_name(app).is_ok()).then_some(app)
}

/// The answer and what the request's log line reports.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: String,
    outcome: &'static str,
    detail: Option<String>,
    bytes: usize,
    entries: usize,
    changes: usize,
    queued: usize,
}

impl Reply {
    /// A route that names no configured Meta app.
    fn unknown_app() -> Self {
        Self::json(
            StatusCode::NOT_FOUND,
            "unknown_app",
            "no Meta app is configured for this route",
        )
    }

    fn json(status: StatusCode, outcome: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let key = if status.is_success() {
            "status"
        } else {
            "error"
        };
        Self {
            status,
            content_type: "application/json",
            body: serde_json::json!({ key: message }).to_string(),
            outcome,
            detail: (!status.is_success()).then_some(message),
            bytes: 0,
            entries: 0,
            changes: 0,
            queued: 0,
        }
    }

    /// A failure of ours: the caller reads `public`, a reason with no queue
    /// URL, secret ARN or account id; the log line keeps the `cause`.
    fn failed(outcome: &'static str, public: &str, cause: String) -> Self {
        Self {
            detail: Some(cause),
            ..Self::json(StatusCode::SERVICE_UNAVAILABLE, outcome, public)
        }
    }
}

/// What Meta is told when the secret cannot be read.
const SECRET_UNAVAILABLE: &str = "temporarily unable to verify requests; try again later";

/// Handles one HTTP request. Never panics; every request logs one line.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = match req.raw_http_path() {
        "" => req.uri().path(),
        raw => raw,
    };
    let route = app_of_path(path).map(str::to_owned);
    let reply = match (&method, route.as_deref()) {
        (_, None) => Reply::unknown_app(),
        (&Method::GET, Some(route)) => handshake(app, route, &req).await,
        (&Method::POST, Some(route)) => receive(app, route, &req).await,
        _ => Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use GET for the handshake or POST for events",
        ),
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = reply.status.as_u16();
    if reply.status.is_server_error() {
        tracing::error!(request_id, %method, app = route.as_deref(), status, outcome = reply.outcome, detail = reply.detail, bytes = reply.bytes, entries = reply.entries, changes = reply.changes, queued = reply.queued, latency_ms, "webhook request");
    } else {
        tracing::info!(request_id, %method, app = route.as_deref(), status, outcome = reply.outcome, detail = reply.detail, bytes = reply.bytes, entries = reply.entries, changes = reply.changes, queued = reply.queued, latency_ms, "webhook request");
    }
    let mut emf = Emf::new();
    emf.count(&metrics::WEBHOOK_REQUESTS, &[reply.outcome], 1);
    emf.value(&metrics::WEBHOOK_LATENCY, &[], latency_ms);
    emf.flush();
    Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, reply.content_type)
        .body(Body::Text(reply.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

async fn handshake(app: &App, route: &str, req: &Request) -> Reply {
    let query = req.query_string_parameters();
    let (Some(mode), Some(token), Some(challenge)) = (
        query.first("hub.mode"),
        query.first("hub.verify_token"),
        query.first("hub.challenge"),
    ) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            "handshake_incomplete",
            "hub.mode, hub.verify_token and hub.challenge are required",
        );
    };
    if challenge.is_empty() || challenge.chars().count() > MAX_CHALLENGE_CHARS {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            "handshake_incomplete",
            "hub.challenge must be 1 to 1024 characters",
        );
    }
    if mode != "subscribe" {
        return Reply::json(
            StatusCode::FORBIDDEN,
            "handshake_refused",
            "hub.mode must be subscribe",
        );
    }
    let secret = match app.app_secret(route).await {
        Ok(secret) => secret,
        Err(reply) => return reply,
    };
    if !signature::token_matches(token, secret.verify_token.expose_secret()) {
        return Reply::json(
            StatusCode::FORBIDDEN,
            "handshake_refused",
            "hub.verify_token does not match",
        );
    }
    Reply {
        content_type: "text/plain; charset=utf-8",
        body: challenge.to_owned(),
        ..Reply::json(StatusCode::OK, "handshake_ok", "")
    }
}

async fn receive(app: &App, route: &str, req: &Request) -> Reply {
    let body: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let bytes = body.len();
    if bytes > MAX_WEBHOOK_BYTES {
        return Reply {
            bytes,
            ..Reply::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the body has {bytes} bytes; Meta sends at most {MAX_WEBHOOK_BYTES}"),
            )
        };
    }
    let secret = match app.app_secret(route).await {
        Ok(secret) => secret,
        Err(reply) => return Reply { bytes, ..reply },
    };
    let header = req.headers().get(signature::HEADER).map(|v| v.as_bytes());
    if let Err(err) = signature::verify(header, body, secret.app_secret.expose_secret().as_bytes())
    {
        let (status, outcome) = match err {
            SignatureError::Missing => (StatusCode::UNAUTHORIZED, "signature_missing"),
            SignatureError::Malformed(_) | SignatureError::Mismatch => {
                (StatusCode::FORBIDDEN, "signature_invalid")
            }
        };
        return Reply {
            bytes,
            ..Reply::json(status, outcome, err.to_string())
        };
    }
    let split = intake::split(route, body, shared::now_millis(), MAX_BODY_BYTES);
    let counts = |reply: Reply| Reply {
        bytes,
        entries: split.entries,
        changes: split.changes,
        ..reply
    };
    if let Err(err) = app.queue.send_all(&split.messages).await {
        return counts(Reply::failed(
            "queue_failed",
            "could not queue the payload; Meta will retry",
            err.to_string(),
        ));
    }
    let queued = split.messages.len();
    let mut reply = counts(Reply::json(
        StatusCode::OK,
        "queued",
        format!("queued {queued} messages"),
    ));
    reply.queued = queued;
    if let Some(reason) = &split.raw_reason {
        reply.outcome = "queued_raw";
        reply.detail = Some(reason.clone());
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_has_one_route() {
        assert_eq!(app_of_path("/webhook"), Some(DEFAULT_APP));
        assert_eq!(app_of_path("/webhook/"), Some(DEFAULT_APP));
        assert_eq!(app_of_path("/webhook/shop-2"), Some("shop-2"));
        for none in [
            "/",
            "/webhooks",
            "/webhook/default",
            "/webhook/Shop",
            "/webhook/a/b",
            "/webhook/../x",
            "/other/webhook",
        ] {
            assert_eq!(app_of_path(none), None, "{none}");
        }
    }
}
