//! The HTTP API function (`docs/api.md`): upstream systems outside AWS send
//! and follow messages and manage opt-outs over HTTPS with an API key,
//! through the same validation, table and send queue as the SQS path.
//!
//! Routes (API Gateway HTTP API, payload 2.0): `POST /v1/messages`,
//! `GET|DELETE /v1/messages/{id}` (`DELETE` cancels a message not yet
//! sent), `GET /v1/contacts/{id}`, `PUT|DELETE /v1/contacts/{id}/opt-out`,
//! `GET|POST /v1/callbacks`, `DELETE /v1/callbacks/{id}` (with a key) and
//! `GET /v1/health` (without). Every call is scoped to its key's tenant;
//! every refusal is a problem (`application/problem+json`); every call
//! logs one line with ids and the outcome, never a key, phone number,
//! message text or path (a contact's path holds a phone number).

// Input from outside (callers, settings) is never unwrapped: every failure
// is an answer with its reason (tests may unwrap; clippy.toml).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod auth;
pub mod openapi;
pub mod problem;
pub mod rate;
pub mod views;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use shared::callbacks::ssrf::Guard;
use shared::callbacks::store::{CallbackStore, Registry, RegistryError};
use shared::config::{
    ApiSettings, CallbackRegistrySettings, ConfigError, ScheduleSettings, Settings,
};
use shared::contact::{self, DynamoContacts, OptOutcome, OptStore, OptWrite};
use shared::customer::{self, CustomerIds};
use shared::events::publish::{EventPublisher, publisher};
use shared::events::{Event, OptChange, OptSource};
use shared::intake::MAX_SQS_MESSAGE_BYTES;
use shared::keys::DynamoKeys;
use shared::queue::{Outgoing, SqsQueue};
use shared::schedule::{Cancel, EventBridgeTimer};
use shared::secrets::SecretCache;
use shared::send_request::SendRequest;
use shared::table;
use shared::table::attr::message as attr;
use shared::table::dynamo::{Update, failure, is_condition_failure, message_record};
use shared::tenant::{self, DEFAULT_TENANT, Directory, DynamoBindings};
use tokio::sync::Mutex;

use crate::auth::{Caller, Keys, Refused};
use crate::problem::Problem;
use crate::rate::{Decision, RateLimit};
use crate::views::{
    Accepted, CallbackList, CallbackView, ContactView, Health, MessageView, NewCallback, OptResult,
    RegisteredCallback,
};

/// Alerts this function logs: none (its failures show as 5xx answers and
/// Lambda errors, which have their alarm).
pub const ALERTS: &[&str] = &[];

/// Every AWS action this function calls, with the setting that names the
/// resource it acts on. The SAM template must grant exactly these
/// (`tests/tests/template.rs` checks it).
pub const AWS_PERMISSIONS: &[(&str, &str)] = &[
    // Message records, API keys, contact items.
    ("TABLE_NAME", "dynamodb:GetItem"),
    // The accepted message, the rate counter, a key's last use, an opt
    // decision.
    ("TABLE_NAME", "dynamodb:UpdateItem"),
    // The bindings (one partition).
    ("TABLE_NAME", "dynamodb:Query"),
    // A customer's linked contact items.
    ("TABLE_NAME", "dynamodb:BatchGetItem"),
    ("SEND_QUEUE_URL", "sqs:SendMessage"),
    // The health check.
    ("SEND_QUEUE_URL", "sqs:GetQueueAttributes"),
    // A manual opt decision is announced upstream (`docs/events.md`).
    ("UPSTREAM_EVENTS_QUEUE_URL", "sqs:SendMessage"),
    ("CALLBACKS_QUEUE_URL", "sqs:SendMessage"),
    // Callback endpoints (`docs/callbacks.md`): registered, listed,
    // removed; each one's secret is derived from the master key.
    ("TABLE_NAME", "dynamodb:PutItem"),
    ("TABLE_NAME", "dynamodb:DeleteItem"),
    ("CALLBACK_SECRET_ID", "secretsmanager:GetSecretValue"),
    // A cancelled message's schedule (`docs/scheduled-sends.md`).
    ("SCHEDULE_GROUP", "scheduler:DeleteSchedule"),
];

/// How long a health answer is reused.
pub const HEALTH_CACHE: Duration = Duration::from_secs(5);
/// Each health probe's budget.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything the function reads at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `SEND_QUEUE_URL`: where accepted requests go.
    pub send_queue_url: String,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the default tenant's number (the request
    /// hash names the number, as the sender computes it).
    pub default_phone_number_id: String,
    /// `MESSAGE_TTL_DAYS`: the TTL of a record the sender has not taken yet.
    pub message_ttl: Duration,
    /// `API_RATE_PER_MINUTE`, `API_KEY_CACHE_SECONDS`.
    pub api: ApiSettings,
    /// `UPSTREAM_EVENTS_QUEUE_URL`; `None`: opt events are logged.
    pub upstream_events_queue_url: Option<String>,
    /// `CALLBACKS_QUEUE_URL`: events also go there for signed callbacks.
    pub callbacks_queue_url: Option<String>,
    /// `CALLBACK_SECRET_ID`, `CALLBACK_ALLOWED_NETWORKS`, ...: registering
    /// callback endpoints (`POST /v1/callbacks`).
    pub callbacks: CallbackRegistrySettings,
    /// `SCHEDULE_GROUP`, ...: where a cancelled message's schedule is
    /// deleted.
    pub schedule: ScheduleSettings,
    /// `SEND_AT_MAX_DAYS`: how far ahead `send_at` may be.
    pub send_at_max_days: u64,
    /// `METRICS_NAMESPACE`: the namespace of the shared code's metrics.
    pub metrics_namespace: String,
}

/// Reads every setting this function uses.
pub fn configure(settings: &Settings) -> Result<ApiConfig, ConfigError> {
    Ok(ApiConfig {
        table_name: settings.table_name()?,
        send_queue_url: settings.send_queue_url()?,
        default_phone_number_id: settings.default_phone_number_id()?,
        message_ttl: settings.message_ttl()?,
        api: settings.api()?,
        upstream_events_queue_url: settings.upstream_events_queue_url()?,
        callbacks_queue_url: settings.callbacks_queue_url()?,
        callbacks: settings.callback_registry()?,
        schedule: settings.schedule()?.ok_or(ConfigError::Missing {
            name: "SCHEDULE_GROUP",
            hint: "the API cancels scheduled sends: set SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and SEND_QUEUE_ARN (the stack's)",
        })?,
        send_at_max_days: settings.send_at_max_days()?,
        metrics_namespace: settings.metrics_namespace()?,
    })
}

/// What the function holds between invocations.
pub struct App {
    config: ApiConfig,
    ddb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    queue: SqsQueue,
    keys: Keys,
    rate: RateLimit,
    directory: Directory,
    contacts: DynamoContacts,
    events: Arc<dyn EventPublisher>,
    registry: Registry,
    timer: EventBridgeTimer,
    health: Mutex<Option<(Instant, Health)>>,
}

impl App {
    /// The function on `aws`'s clients (no call is made).
    pub fn new(config: ApiConfig, aws: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let ddb = aws_sdk_dynamodb::Client::new(aws);
        let sqs = aws_sdk_sqs::Client::new(aws);
        let table = config.table_name.clone();
        let guard = Guard::new(
            Guard::parse_networks(&config.callbacks.allowed_networks).map_err(|reason| {
                ConfigError::Malformed {
                    name: "CALLBACK_ALLOWED_NETWORKS",
                    value: config.callbacks.allowed_networks.clone(),
                    reason,
                }
            })?,
        );
        let registry = Registry::new(
            CallbackStore::new(ddb.clone(), &table),
            guard,
            Arc::new(SecretCache::secrets_manager(
                aws_sdk_secretsmanager::Client::new(aws),
                config.callbacks.secret_ttl,
            )),
            config.callbacks.secret_id.clone(),
        );
        let timer = EventBridgeTimer::new(aws, &config.send_queue_url, config.schedule.clone());
        Ok(Self {
            queue: SqsQueue::new(sqs.clone(), &config.send_queue_url),
            keys: Keys::new(DynamoKeys::new(ddb.clone(), &table), config.api.key_cache),
            rate: RateLimit::new(ddb.clone(), &table, config.api.rate_per_minute),
            directory: Directory::new(
                Arc::new(DynamoBindings::new(ddb.clone(), &table)),
                tenant::BINDINGS_TTL,
            ),
            contacts: DynamoContacts::new(ddb.clone(), &table),
            events: publisher(
                &sqs,
                config.upstream_events_queue_url.as_deref(),
                config.callbacks_queue_url.as_deref(),
            ),
            registry,
            timer,
            health: Mutex::new(None),
            config,
            ddb,
            sqs,
        })
    }

    /// Cold start: the configuration and the clients; no secret and no
    /// call (the first request's calls open the connections).
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let config = configure(&Settings::from_env())?;
        shared::metrics::install(&config.metrics_namespace);
        let aws = shared::aws_config().await;
        Ok(Self::new(config, &aws)?)
    }
}

/// A route of the API, its path parameter decoded (`None`: not UTF-8
/// after decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v1/messages`.
    Messages,
    /// `/v1/messages/{id}`.
    Message(Option<String>),
    /// `/v1/health`.
    Health,
    /// `/v1/contacts/{id}`.
    Contact(Option<String>),
    /// `/v1/contacts/{id}/opt-out`.
    OptOut(Option<String>),
    /// `/v1/callbacks`.
    Callbacks,
    /// `/v1/callbacks/{id}`.
    Callback(Option<String>),
}

impl Route {
    /// The route's path as the template names it (what a log line names).
    pub fn template(&self) -> &'static str {
        match self {
            Route::Messages => "/v1/messages",
            Route::Message(_) => "/v1/messages/{id}",
            Route::Health => "/v1/health",
            Route::Contact(_) => "/v1/contacts/{id}",
            Route::OptOut(_) => "/v1/contacts/{id}/opt-out",
            Route::Callbacks => "/v1/callbacks",
            Route::Callback(_) => "/v1/callbacks/{id}",
        }
    }

    /// The methods the route answers.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Route::Messages => &[Method::POST],
            Route::Message(_) => &[Method::GET, Method::DELETE],
            Route::OptOut(_) => &[Method::PUT, Method::DELETE],
            Route::Callbacks => &[Method::GET, Method::POST],
            Route::Callback(_) => &[Method::DELETE],
            Route::Health | Route::Contact(_) => &[Method::GET],
        }
    }

    /// Every route's template and methods (the template's routes; a test
    /// checks they agree).
    pub fn all() -> Vec<(&'static str, &'static [Method])> {
        let p = Some(String::new());
        [
            Route::Messages,
            Route::Message(p.clone()),
            Route::Health,
            Route::Contact(p.clone()),
            Route::OptOut(p.clone()),
            Route::Callbacks,
            Route::Callback(p),
        ]
        .iter()
        .map(|r| (r.template(), r.methods()))
        .collect()
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
        .filter(|s| !s.is_empty())
}

/// The route of a request path; `None`: no such route.
pub fn route_of(path: &str) -> Option<Route> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.strip_prefix("/v1/")?.split('/').collect();
    match segments.as_slice() {
        ["messages"] => Some(Route::Messages),
        ["messages", id] => Some(Route::Message(decode(id))),
        ["health"] => Some(Route::Health),
        ["contacts", id] => Some(Route::Contact(decode(id))),
        ["contacts", id, "opt-out"] => Some(Route::OptOut(decode(id))),
        ["callbacks"] => Some(Route::Callbacks),
        ["callbacks", id] => Some(Route::Callback(decode(id))),
        _ => None,
    }
}

/// The answer and what the call's log line reports.
struct Reply {
    status: StatusCode,
    body: String,
    content_type: &'static str,
    headers: Vec<(header::HeaderName, String)>,
    outcome: String,
    /// The cause of a failure of ours (logged, never answered).
    cause: Option<String>,
    message_id: Option<String>,
}

impl Reply {
    fn json(status: StatusCode, outcome: &str, value: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()),
            content_type: "application/json",
            headers: Vec::new(),
            outcome: outcome.to_owned(),
            cause: None,
            message_id: None,
        }
    }

    fn problem(problem: Problem) -> Self {
        let mut reply = Self::json(problem.status(), &problem.reason, &problem);
        reply.content_type = problem::CONTENT_TYPE;
        if let Some(seconds) = problem.retry_after {
            reply
                .headers
                .push((header::RETRY_AFTER, seconds.to_string()));
        }
        reply
    }

    fn failed(problem: Problem, cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::problem(problem)
        }
    }

    fn with_message(mut self, id: &str) -> Self {
        self.message_id = Some(id.to_owned());
        self
    }
}

impl From<Problem> for Reply {
    fn from(problem: Problem) -> Self {
        Self::problem(problem)
    }
}

/// Handles one HTTP request. Never panics; every request logs one line.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = match req.raw_http_path() {
        "" => req.uri().path().to_owned(),
        raw => raw.to_owned(),
    };
    let route = route_of(&path);
    let mut caller: Option<Caller> = None;
    let reply = match &route {
        None => Problem::new(
            StatusCode::NOT_FOUND,
            "no_such_route",
            "no such route (see docs/openapi.json)",
        )
        .into(),
        Some(route) if !route.methods().contains(&method) => {
            let allow: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
            let mut reply = Reply::problem(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this route answers {}", allow.join(", ")),
            ));
            reply.headers.push((header::ALLOW, allow.join(", ")));
            reply
        }
        Some(Route::Health) => health(app).await,
        Some(route) => match authorize(app, &req).await {
            Err(reply) => reply,
            Ok(who) => {
                let reply = dispatch(app, &who, route, &method, &req).await;
                caller = Some(who);
                reply
            }
        },
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = reply.status.as_u16();
    let route_name = route.as_ref().map_or("-", Route::template);
    let key_id = caller.as_ref().map(|c| c.key_id.as_str());
    let tenant = caller.as_ref().map(|c| c.tenant.as_str());
    if reply.status.is_server_error() {
        tracing::error!(request_id, %method, route = route_name, status, outcome = %reply.outcome, cause = reply.cause, key_id, tenant, message_id = reply.message_id, latency_ms, "api request");
    } else {
        tracing::info!(request_id, %method, route = route_name, status, outcome = %reply.outcome, key_id, tenant, message_id = reply.message_id, latency_ms, "api request");
    }
    let mut builder = Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, reply.content_type);
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(Body::Text(reply.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// The caller, rate-limited; or the answer to give.
async fn authorize(app: &App, req: &Request) -> Result<Caller, Reply> {
    let now = shared::now_millis();
    let caller = match app.keys.authenticate(req.headers(), now).await {
        Ok(caller) => caller,
        Err(refused) => {
            let mut reply = Reply::problem(refused.problem().clone());
            match refused {
                Refused::Unauthenticated(_) => reply
                    .headers
                    .push((header::WWW_AUTHENTICATE, auth::CHALLENGE.to_owned())),
                Refused::Unavailable(_, cause) => reply.cause = Some(cause.to_string()),
                Refused::Forbidden(_) => {}
            }
            return Err(reply);
        }
    };
    match app.rate.check(&caller.key_id, now).await {
        Ok(Decision::Allowed) => Ok(caller),
        Ok(Decision::Limited { retry_after }) => {
            let mut problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this key made its {} calls of this minute (API_RATE_PER_MINUTE); try again in {retry_after} s",
                    app.config.api.rate_per_minute
                ),
            );
            problem.retry_after = Some(retry_after);
            Err(Reply::problem(problem))
        }
        // The limit protects the stack; a counter that cannot be written
        // does not refuse a caller whose key passed.
        Err(err) => {
            tracing::warn!(key_id = %caller.key_id, error = %err, "rate counter unavailable; the call is let through");
            Ok(caller)
        }
    }
}

async fn dispatch(
    app: &App,
    caller: &Caller,
    route: &Route,
    method: &Method,
    req: &Request,
) -> Reply {
    match route {
        Route::Messages => post_message(app, caller, req.body()).await,
        Route::Message(id) if *method == Method::DELETE => {
            cancel_message(app, caller, id.as_deref()).await
        }
        Route::Message(id) => get_message(app, caller, id.as_deref()).await,
        Route::Contact(id) => get_contact(app, caller, id.as_deref(), req).await,
        Route::OptOut(id) => opt(app, caller, id.as_deref(), req, *method == Method::PUT).await,
        Route::Callbacks if *method == Method::POST => add_callback(app, caller, req.body()).await,
        Route::Callbacks => list_callbacks(app, caller).await,
        Route::Callback(id) => remove_callback(app, caller, id.as_deref()).await,
        Route::Health => health(app).await,
    }
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The message id Chasqui gives a request that names none.
fn new_message_id() -> String {
    format!("msg_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The request as it is queued: the caller's body with the key's tenant
/// and an id filled in when it names none, or the answer to give instead.
/// Anything that is not a JSON object is left as it is, so the sender's
/// parser gives its own refusal.
fn as_queued(caller: &Caller, text: &str) -> Result<String, Box<Problem>> {
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(text) else {
        return Ok(text.to_owned());
    };
    match body.get("tenant") {
        Some(Value::String(t)) if *t != caller.tenant => {
            return Err(Box::new(
                Problem::new(
                    StatusCode::FORBIDDEN,
                    "tenant_mismatch",
                    "the request names another tenant than this key's; omit \"tenant\" (the key decides it)",
                )
                .at("tenant"),
            ));
        }
        None if caller.tenant != DEFAULT_TENANT => {
            body.insert("tenant".into(), caller.tenant.clone().into());
        }
        _ => {}
    }
    if !body.contains_key("id") {
        body.insert("id".into(), new_message_id().into());
    }
    Ok(Value::Object(body).to_string())
}

async fn post_message(app: &App, caller: &Caller, body: &Body) -> Reply {
    let bytes = body_bytes(body);
    if bytes.len() > MAX_SQS_MESSAGE_BYTES {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body has {} bytes; the send queue takes at most {MAX_SQS_MESSAGE_BYTES}",
                bytes.len()
            ),
        )
        .into();
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Problem::invalid("body", "is not UTF-8").into();
    };
    let queued = match as_queued(caller, text) {
        Ok(queued) => queued,
        Err(problem) => return (*problem).into(),
    };
    if queued.len() > MAX_SQS_MESSAGE_BYTES {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request is over the send queue's {MAX_SQS_MESSAGE_BYTES} bytes"),
        )
        .into();
    }
    // The one validation the sender runs, on the very text it will read.
    let request = match SendRequest::parse(&queued) {
        Ok(request) => request,
        Err(e) => return Problem::invalid(e.path, e.reason).into(),
    };
    let Some(id) = request.id.clone() else {
        return Problem::invalid("id", "is required").into();
    };
    // A `send_at` the sender would refuse (too far ahead).
    if let Err(e) = request.scheduled_for(shared::now_millis(), app.config.send_at_max_days) {
        return Problem::invalid(e.path, e.reason).into();
    }
    let phone_number_id = request
        .phone_number_id
        .clone()
        .unwrap_or_else(|| app.config.default_phone_number_id.clone());
    // The sender's check before any call: the number is the tenant's.
    match app.directory.binding(&phone_number_id).await {
        Err(e) => {
            return Reply::failed(
                Problem::unavailable("the business numbers could not be read; try again"),
                e,
            );
        }
        Ok(binding) => {
            if let Err(refusal) = tenant::check_sender(request.tenant(), binding.as_ref()) {
                return Problem::new(
                    StatusCode::BAD_REQUEST,
                    refusal.reason(),
                    refusal.explain(request.tenant(), &phone_number_id),
                )
                .at("phone_number_id")
                .into();
            }
        }
    }
    let hash = request.request_hash(&phone_number_id);
    let now = shared::now_millis();
    let old = match accept(app, request.tenant(), &id, &hash, now).await {
        Ok(Some(old)) => old,
        Ok(None) => {
            return Problem::new(
                StatusCode::CONFLICT,
                "id_conflict",
                "this id was used for another request; use a new id",
            )
            .at("id")
            .into();
        }
        Err(e) => {
            return Reply::failed(
                Problem::unavailable("the message could not be recorded; try again"),
                e,
            )
            .with_message(&id);
        }
    };
    let repeated = old.contains_key(attr::REQUEST_HASH);
    let record = if repeated {
        match message_record(&old) {
            Ok(record) => Some(record),
            Err(e) => {
                return Reply::failed(
                    Problem::unavailable("the message's record is unreadable"),
                    e,
                )
                .with_message(&id);
            }
        }
    } else {
        None
    };
    // Queued again while the sender has not taken it: a SendMessage lost
    // after the record was written must not lose the message (the sender's
    // lock makes a second copy harmless).
    let taken = record.as_ref().is_some_and(|r| {
        r.send_state.is_some() || r.times.accepted_at.is_some() || r.status().is_terminal()
    });
    if !taken
        && let Err(e) = app
            .queue
            .send_outgoing(&[Outgoing {
                body: &queued,
                ..Outgoing::default()
            }])
            .await
    {
        return Reply::failed(
            Problem::unavailable("the message could not be queued; send the same request again"),
            e,
        )
        .with_message(&id);
    }
    match record {
        Some(record) => Reply::json(
            StatusCode::OK,
            if taken { "repeated" } else { "requeued" },
            &MessageView::of(&id, request.tenant(), &record),
        ),
        None => Reply::json(
            StatusCode::ACCEPTED,
            "queued",
            &Accepted {
                id: id.clone(),
                status: shared::record::Status::Pending.as_str().to_owned(),
            },
        ),
    }
    .with_message(&id)
}

/// Writes the accepted message's item unless the id holds another
/// request: the item as it was (empty when new), or `None` on a conflict.
async fn accept(
    app: &App,
    tenant: &str,
    id: &str,
    hash: &str,
    now: u64,
) -> Result<Option<table::dynamo::Item>, shared::store::StoreError> {
    let mut u = Update::default();
    u.set(attr::REQUEST_HASH, AttributeValue::S(hash.to_owned()))
        .set(attr::TENANT, AttributeValue::S(tenant.to_owned()))
        .set(attr::MESSAGE_ID, AttributeValue::S(id.to_owned()))
        .set_if_absent(attr::CREATED_AT, AttributeValue::N(now.to_string()))
        .set_if_absent(
            attr::EXPIRES_AT,
            AttributeValue::N(
                ((now + app.config.message_ttl.as_millis() as u64) / 1000).to_string(),
            ),
        );
    let rh = u.name(attr::REQUEST_HASH);
    let h = u.value(AttributeValue::S(hash.to_owned()));
    let result = u
        .update_item(
            &app.ddb,
            &app.config.table_name,
            table::dynamo::message_key(tenant, id),
            Some(format!("attribute_not_exists({rh}) OR {rh} = {h}")),
        )
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(failure("UpdateItem message", e)),
    }
}

/// `DELETE /v1/messages/{id}`: cancels a message the sender has not taken
/// (a scheduled one, or one still waiting on the queue), with
/// `shared::schedule::cancel`, as `chasqui send cancel` does.
async fn cancel_message(app: &App, caller: &Caller, id: Option<&str>) -> Reply {
    let Some(id) = id else {
        return Problem::not_found("message_not_found", "message").into();
    };
    let cancelled = shared::schedule::cancel(
        &app.ddb,
        &app.config.table_name,
        &app.timer,
        app.events.as_ref(),
        &caller.tenant,
        id,
        shared::now_millis(),
    )
    .await;
    match cancelled {
        Ok(Cancel::Cancelled) => Reply::json(
            StatusCode::OK,
            "cancelled",
            &Accepted {
                id: id.to_owned(),
                status: shared::record::Status::Cancelled.as_str().to_owned(),
            },
        ),
        Ok(Cancel::AlreadyGone(status)) => Problem::new(
            StatusCode::CONFLICT,
            "not_cancellable",
            format!(
                "the message is {status} and the sender has taken it: it can no longer be cancelled"
            ),
        )
        .into(),
        Ok(Cancel::Unknown) => Problem::not_found("message_not_found", "message").into(),
        Err(e) => Reply::failed(
            Problem::unavailable("the message could not be cancelled; cancelling again is safe"),
            e,
        ),
    }
    .with_message(id)
}

/// `POST /v1/callbacks`: registers an endpoint for the key's tenant and
/// answers its signing secret, once.
async fn add_callback(app: &App, caller: &Caller, body: &Body) -> Reply {
    let new: NewCallback = match serde_json::from_slice(body_bytes(body)) {
        Ok(new) => new,
        Err(e) => {
            return Problem::invalid(
                "body",
                format!("expected {{\"url\": \"https://...\", \"events\": [...]}} ({e})"),
            )
            .into();
        }
    };
    match app
        .registry
        .register(&caller.tenant, &new.url, &new.events.unwrap_or_default())
        .await
    {
        Ok(registered) => {
            let view = RegisteredCallback {
                endpoint: CallbackView::of(&registered.endpoint),
                secret: registered.secret.expose_secret().to_owned(),
            };
            let mut reply = Reply::json(StatusCode::CREATED, "registered", &view);
            reply
                .headers
                .push((header::CACHE_CONTROL, "no-store".to_owned()));
            reply
        }
        Err(e) => match e.field() {
            Some(field) => {
                let status = if matches!(e, RegistryError::TooMany) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::BAD_REQUEST
                };
                let problem = Problem::new(status, "invalid_callback", e.to_string());
                if field.is_empty() {
                    problem
                } else {
                    problem.at(field)
                }
                .into()
            }
            None => Reply::failed(
                Problem::unavailable("the endpoint could not be registered; try again"),
                e,
            ),
        },
    }
}

/// `GET /v1/callbacks`: the key's tenant's endpoints.
async fn list_callbacks(app: &App, caller: &Caller) -> Reply {
    match app.registry.list(&caller.tenant).await {
        Ok(endpoints) => Reply::json(
            StatusCode::OK,
            "listed",
            &CallbackList {
                endpoints: endpoints.iter().map(CallbackView::of).collect(),
            },
        ),
        Err(e) => Reply::failed(
            Problem::unavailable("the endpoints could not be read; try again"),
            e,
        ),
    }
}

/// `DELETE /v1/callbacks/{id}`: removes one of the tenant's endpoints.
async fn remove_callback(app: &App, caller: &Caller, id: Option<&str>) -> Reply {
    let not_found = || Problem::not_found("callback_not_found", "callback endpoint").into();
    let Some(id) = id else {
        return not_found();
    };
    match app.registry.remove(&caller.tenant, id).await {
        Ok(true) => Reply::json(
            StatusCode::OK,
            "removed",
            &serde_json::json!({"endpoint_id": id, "removed": true}),
        ),
        Ok(false) => not_found(),
        Err(e) => Reply::failed(
            Problem::unavailable("the endpoint could not be removed; try again"),
            e,
        ),
    }
}

async fn get_message(app: &App, caller: &Caller, id: Option<&str>) -> Reply {
    let not_found = || Problem::not_found("message_not_found", "message").into();
    let Some(id) = id else {
        return not_found();
    };
    let out = app
        .ddb
        .get_item()
        .table_name(&app.config.table_name)
        .set_key(Some(table::dynamo::key(
            table::message_pk(&caller.tenant, id),
            table::MESSAGE_SK,
        )))
        .consistent_read(true)
        .send()
        .await;
    let item = match out {
        Ok(out) => out.item,
        Err(e) => {
            return Reply::failed(
                Problem::unavailable("the message could not be read; try again"),
                failure("GetItem message", e),
            );
        }
    };
    let Some(item) = item else {
        return not_found();
    };
    match message_record(&item) {
        Ok(record) if !record.is_expired(shared::now_millis() / 1000) => Reply::json(
            StatusCode::OK,
            "found",
            &MessageView::of(id, &caller.tenant, &record),
        )
        .with_message(id),
        Ok(_) => not_found(),
        Err(e) => Reply::failed(
            Problem::unavailable("the message's record is unreadable"),
            e,
        )
        .with_message(id),
    }
}

/// The customer of a contact route and the business number it is asked
/// for (`?phone_number_id=`, else the tenant's only or default number).
async fn contact_scope(
    app: &App,
    caller: &Caller,
    id: Option<&str>,
    req: &Request,
) -> Result<(CustomerIds, String), Reply> {
    let ids = id
        .ok_or_else(|| "is not a phone number or business-scoped user id".to_owned())
        .and_then(customer::parse)
        .map_err(|reason| {
            Reply::from(Problem::invalid("id", format!("the contact id {reason}")))
        })?;
    let query = req.query_string_parameters();
    let phone_number_id = match query.first("phone_number_id") {
        Some(pn) if shared::check::numeric_id(pn) => pn.to_owned(),
        Some(_) => {
            return Err(Problem::invalid(
                "phone_number_id",
                "must be the numeric phone number id from WhatsApp Manager",
            )
            .into());
        }
        None if caller.tenant == DEFAULT_TENANT => app.config.default_phone_number_id.clone(),
        None => {
            let numbers = app
                .directory
                .bindings_of_tenant(&caller.tenant)
                .await
                .map_err(|e| {
                    Reply::failed(
                        Problem::unavailable("the business numbers could not be read; try again"),
                        e,
                    )
                })?;
            match numbers.as_slice() {
                [one] => one.phone_number_id.clone(),
                [] => {
                    return Err(Problem::invalid(
                        "phone_number_id",
                        "this key's tenant has no business number (`chasqui bindings add`)",
                    )
                    .into());
                }
                _ => {
                    return Err(Problem::invalid(
                        "phone_number_id",
                        "this key's tenant has several business numbers: name one with ?phone_number_id=",
                    )
                    .into());
                }
            }
        }
    };
    let binding = app.directory.binding(&phone_number_id).await.map_err(|e| {
        Reply::failed(
            Problem::unavailable("the business numbers could not be read; try again"),
            e,
        )
    })?;
    if let Err(refusal) = tenant::check_sender(&caller.tenant, binding.as_ref()) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            refusal.reason(),
            refusal.explain(&caller.tenant, &phone_number_id),
        )
        .at("phone_number_id")
        .into());
    }
    Ok((ids, phone_number_id))
}

async fn get_contact(app: &App, caller: &Caller, id: Option<&str>, req: &Request) -> Reply {
    let (ids, pn) = match contact_scope(app, caller, id, req).await {
        Ok(scope) => scope,
        Err(reply) => return reply,
    };
    let now = shared::now_millis();
    let items = match contact::read_linked(
        &app.ddb,
        &app.config.table_name,
        &caller.tenant,
        &pn,
        &ids,
        now,
    )
    .await
    {
        Ok(items) => items,
        Err(e) => {
            return Reply::failed(
                Problem::unavailable("the contact could not be read; try again"),
                e,
            );
        }
    };
    match contact::resolve(&items) {
        Some(state) => Reply::json(StatusCode::OK, "found", &ContactView::of(&pn, state, now)),
        None => Problem::not_found(
            "contact_not_found",
            "contact (they have not written, and nobody opted them in or out)",
        )
        .into(),
    }
}

async fn opt(
    app: &App,
    caller: &Caller,
    id: Option<&str>,
    req: &Request,
    opted_out: bool,
) -> Reply {
    let (ids, pn) = match contact_scope(app, caller, id, req).await {
        Ok(scope) => scope,
        Err(reply) => return reply,
    };
    let Some(customer_id) = ids.primary().map(str::to_owned) else {
        return Problem::invalid("id", "names no customer").into();
    };
    let now = shared::now_millis();
    let decision = format!("{now:013}#api-{}-{:08x}", caller.key_id, fastrand::u32(..));
    let write = OptWrite {
        tenant: caller.tenant.clone(),
        phone_number_id: pn.clone(),
        customer_id,
        opted_out,
        at: now,
        source: OptSource::Manual,
        message_id: None,
        decision: decision.clone(),
        now,
    };
    let outcome = match app.contacts.decide_opt(&write).await {
        Ok(outcome) => outcome,
        Err(e) => {
            return Reply::failed(
                Problem::unavailable("the decision could not be recorded; try again"),
                e,
            );
        }
    };
    if outcome != OptOutcome::Superseded {
        let event = Event::opt(
            now,
            &decision,
            OptChange {
                phone_number_id: pn.clone(),
                wa_id: ids.wa_id.clone().unwrap_or_default(),
                user_id: ids.user_id.clone(),
                opted_out,
                source: OptSource::Manual,
                message_id: None,
                keyword: None,
            },
        )
        .of_tenant(&caller.tenant);
        if let Err(e) = app.events.publish(&[event]).await {
            return Reply::failed(
                Problem::unavailable(
                    "the decision is recorded but its event could not be published; send the call again",
                ),
                e,
            );
        }
    }
    let outcome = match outcome {
        OptOutcome::Applied | OptOutcome::Replayed => "applied",
        OptOutcome::Superseded => "superseded",
    };
    Reply::json(
        StatusCode::OK,
        outcome,
        &OptResult {
            customer: ids,
            phone_number_id: pn,
            opted_out,
            outcome: outcome.to_owned(),
        },
    )
}

async fn health(app: &App) -> Reply {
    let mut cached = app.health.lock().await;
    let answer = match cached.as_ref() {
        Some((at, health)) if at.elapsed() < HEALTH_CACHE => health.clone(),
        _ => {
            let health = probe(app).await;
            *cached = Some((Instant::now(), health.clone()));
            health
        }
    };
    let status = if answer.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Reply::json(status, &answer.status.clone(), &answer)
}

async fn probe(app: &App) -> Health {
    let table = tokio::time::timeout(
        HEALTH_TIMEOUT,
        app.ddb
            .get_item()
            .table_name(&app.config.table_name)
            .set_key(Some(table::dynamo::key(
                table::API_KEY_PK.to_owned(),
                "health-probe",
            )))
            .send(),
    );
    let queue = tokio::time::timeout(
        HEALTH_TIMEOUT,
        app.sqs
            .get_queue_attributes()
            .queue_url(&app.config.send_queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send(),
    );
    let (table, queue) = tokio::join!(table, queue);
    let mut checks = BTreeMap::new();
    let mut ok = true;
    for (part, passed, cause) in [
        (
            "table",
            matches!(table, Ok(Ok(_))),
            match &table {
                Ok(Err(e)) => Some(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
                Err(_) => Some("timed out".to_owned()),
                _ => None,
            },
        ),
        (
            "send_queue",
            matches!(queue, Ok(Ok(_))),
            match &queue {
                Ok(Err(e)) => Some(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()),
                Err(_) => Some("timed out".to_owned()),
                _ => None,
            },
        ),
    ] {
        if !passed {
            ok = false;
            tracing::error!(part, cause, "health check failed");
        }
        checks.insert(
            part.to_owned(),
            if passed { "ok" } else { "unavailable" }.to_owned(),
        );
    }
    Health {
        status: if ok { "ok" } else { "unavailable" }.to_owned(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_routes_and_decode_their_ids() {
        assert_eq!(route_of("/v1/messages"), Some(Route::Messages));
        assert_eq!(route_of("/v1/messages/"), Some(Route::Messages));
        assert_eq!(
            route_of("/v1/messages/order%2D1"),
            Some(Route::Message(Some("order-1".into())))
        );
        assert_eq!(route_of("/v1/messages/%FF"), Some(Route::Message(None)));
        assert_eq!(route_of("/v1/health"), Some(Route::Health));
        assert_eq!(
            route_of("/v1/contacts/%2B5511988887777"),
            Some(Route::Contact(Some("+5511988887777".into())))
        );
        assert_eq!(
            route_of("/v1/contacts/BR.1/opt-out"),
            Some(Route::OptOut(Some("BR.1".into())))
        );
        for none in [
            "/",
            "/v1",
            "/v2/messages",
            "/v1/messages/a/b",
            "/v1/contacts",
            "/webhook",
        ] {
            assert_eq!(route_of(none), None, "{none}");
        }
    }

    #[test]
    fn the_body_gets_the_keys_tenant_and_an_id_and_never_another_tenant() {
        let acme = Caller {
            key_id: "k".into(),
            tenant: "acme".into(),
        };
        let queued: Value =
            serde_json::from_str(&as_queued(&acme, r#"{"to":"+1","message":{}}"#).unwrap())
                .unwrap();
        assert_eq!(queued["tenant"], "acme");
        assert!(queued["id"].as_str().unwrap().starts_with("msg_"));
        let kept: Value =
            serde_json::from_str(&as_queued(&acme, r#"{"id":"a","tenant":"acme"}"#).unwrap())
                .unwrap();
        assert_eq!(kept["id"], "a");
        let err = as_queued(&acme, r#"{"tenant":"default"}"#).unwrap_err();
        assert_eq!((err.status, err.path.as_deref()), (403, Some("tenant")));
        // The default tenant's body stays without one.
        let default = Caller {
            key_id: "k".into(),
            tenant: DEFAULT_TENANT.into(),
        };
        let queued: Value = serde_json::from_str(&as_queued(&default, "{}").unwrap()).unwrap();
        assert!(queued.get("tenant").is_none());
        // Not an object: left for the parser's own refusal.
        assert_eq!(as_queued(&acme, "[1").unwrap(), "[1");
    }
}
