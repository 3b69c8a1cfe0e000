//! The WhatsApp Cloud API client: one `reqwest` client per cold start
//! (connections are reused across invocations), the bearer token from the
//! cached secret, and Graph errors turned into a typed [`GraphError`] whose
//! [`ErrorClass`] says what a sender should do, following the error table in
//! Meta's documentation. Logic keys on Meta's numeric `code`, never on titles.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::config::GraphSettings;
use crate::secrets::{ExposeSecret, SecretError, SecretString};

/// Connecting to Graph takes milliseconds; longer means the network is bad.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-call budget. Graph answers sends in well under a second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a sender should do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again later with backoff (5xx, timeouts, Meta's transient codes).
    Retryable,
    /// A rate limit: try again later, slower.
    Throttled,
    /// Trying again cannot help: the request or the recipient is the problem.
    Permanent,
    /// The access token or the account cannot send at all: no call in this
    /// batch can succeed, and a human must act.
    Auth,
}

impl ErrorClass {
    /// The class's lowercase name, as recorded in the `error` map's `class` and
    /// in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Auth => "auth",
        }
    }

    /// Whether the message may succeed later (everything but `Permanent`:
    /// an auth failure is an operator problem, not the message's).
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::Permanent)
    }
}

/// Meta's error object (`{"error": {...}}`), as much of it as is useful.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaError {
    /// The HTTP status of Meta's answer.
    pub http_status: u16,
    /// Meta's numeric error `code` (`131047`, `190`, ...): what the class is
    /// decided on.
    pub code: i64,
    /// Meta's `error_subcode`, when given.
    pub subcode: Option<i64>,
    /// Meta's `error_user_title`, a short title, when given.
    pub title: Option<String>,
    /// Meta's `message`, a description of the error.
    pub message: String,
    /// Meta's `type` (`OAuthException`, ...), when given.
    pub kind: Option<String>,
    /// Meta's `error_data.details`, the precise reason, when given.
    pub details: Option<String>,
    /// Meta's `fbtrace_id`, the id Meta's support asks for.
    pub fbtrace_id: Option<String>,
    /// Meta's `is_transient`, when given: whether this occurrence will pass.
    pub is_transient: Option<bool>,
}

/// Why a Cloud API call failed; [`GraphError::class`] says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error object.
    #[error("Graph API error {} (HTTP {}): {}{}", .error.code, .error.http_status, .error.message, .error.details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Api {
        /// What Meta said.
        error: Box<MetaError>,
        /// What a sender should do, from Meta's code ([`classify`]).
        class: ErrorClass,
        /// From a `Retry-After` header, when Graph sent one.
        retry_after: Option<Duration>,
    },
    /// No whole answer: a connection, TLS or timeout failure, or a body cut
    /// off (the call may or may not have reached Meta).
    #[error("Graph API unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    /// Meta answered with an error status but no Graph error object (a proxy
    /// or load balancer page, an empty body).
    #[error("Graph API answered HTTP {status} without a Graph error: {snippet}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// The start of the body (at most 300 characters), for the log.
        snippet: String,
    },
    /// The access token could not be read from Secrets Manager.
    #[error("no access token: {0}")]
    Secret(#[source] SecretError),
}

impl GraphError {
    /// What a sender should do: Meta's class for an API error, by HTTP status
    /// for an unexpected answer, retry for transport.
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Api { class, .. } => *class,
            GraphError::Transport(_) => ErrorClass::Retryable,
            GraphError::Unexpected { status, .. } => match *status {
                429 => ErrorClass::Throttled,
                401 | 403 => ErrorClass::Auth,
                s if s >= 500 => ErrorClass::Retryable,
                _ => ErrorClass::Permanent,
            },
            GraphError::Secret(e) if e.is_retryable() => ErrorClass::Retryable,
            GraphError::Secret(_) => ErrorClass::Auth,
        }
    }

    /// Meta's code, for errors that carry one.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { error, .. } => Some(error.code),
            _ => None,
        }
    }

    /// Meta's error object, for errors that carry one.
    pub fn meta(&self) -> Option<&MetaError> {
        match self {
            GraphError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// How long Meta asked to wait (`Retry-After`, as seconds or an HTTP
    /// date), when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether no further call in this batch can succeed: the token is bad,
    /// or the account is blocked or locked. Callers stop and alert.
    pub fn halts_sending(&self) -> bool {
        self.class() == ErrorClass::Auth
    }
}

/// Meta's codes by what a sender should do. Unknown codes fall back on
/// `is_transient`, then on the HTTP status; `is_transient: true` also turns a
/// known permanent code retryable, since Meta says this occurrence will pass.
pub fn classify(http_status: u16, code: i64, is_transient: Option<bool>) -> ErrorClass {
    let class = by_code(http_status, code, is_transient);
    if class == ErrorClass::Permanent && is_transient == Some(true) {
        ErrorClass::Retryable
    } else {
        class
    }
}

/// Meta's code for a BSUID `recipient` on a message that needs a phone
/// number (one-tap, zero-tap and copy-code authentication templates).
pub const BSUID_RECIPIENT_NOT_ALLOWED: i64 = 131062;

/// The reason Chasqui records for a failure with Meta's `code` where the
/// caller must act differently (send to the phone instead); `None` for the
/// codes that are simply a `graph_error`.
pub fn failure_reason(code: Option<i64>) -> Option<&'static str> {
    match code {
        Some(BSUID_RECIPIENT_NOT_ALLOWED) => Some("bsuid_recipient_not_allowed"),
        _ => None,
    }
}

fn by_code(http_status: u16, code: i64, is_transient: Option<bool>) -> ErrorClass {
    match code {
        // throughput, pair rate, app and WABA call limits
        130429 | 131056 | 4 | 17 | 32 | 613 | 80007 => ErrorClass::Throttled,
        // unknown, service unavailable, maintenance, unknown Graph error
        131000 | 131016 | 131057 | 1 | 2 => ErrorClass::Retryable,
        // token expired or invalid, no permission, account locked, policy block
        190 | 0 | 3 | 10 | 102 | 200..=299 | 131005 | 131031 | 368 => ErrorClass::Auth,
        // outside the window, undeliverable, marketing opt-out, template
        // problems, spam and engagement limits, number not registered
        131047 | 131026 | 131050 | 132000 | 132001 | 132005 | 132007 | 132012 | 132015 | 132016
        | 131048 | 131049 | 133010 | 100 | 131008 | 131009 | 131051 | 131052 | 131053
        // a BSUID recipient where Meta needs a phone (authentication templates)
        | BSUID_RECIPIENT_NOT_ALLOWED => {
            ErrorClass::Permanent
        }
        _ => match is_transient {
            Some(true) => ErrorClass::Retryable,
            Some(false) => ErrorClass::Permanent,
            None if http_status == 429 => ErrorClass::Throttled,
            None if http_status >= 500 => ErrorClass::Retryable,
            None => ErrorClass::Permanent,
        },
    }
}

/// What Meta answered to an accepted call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Meta's message id; absent for a read receipt (or an answer without
    /// one, which still means Meta took the call).
    pub wamid: Option<String>,
    /// The recipient's WhatsApp id as Meta resolved it (a phone send).
    pub wa_id: Option<String>,
    /// The recipient's BSUID as Meta resolved it (a send by `recipient`).
    pub user_id: Option<String>,
}

/// Port: the Cloud API `messages` endpoint.
#[async_trait]
pub trait CloudApi: Send + Sync {
    /// Posts `body` to `/{phone_number_id}/messages`.
    async fn send(&self, phone_number_id: &str, body: &Value) -> Result<Accepted, GraphError>;
}

/// Where the bearer token for a business number comes from
/// (`shared::tenant::TenantTokens`: its binding's secret, or the
/// deployment's own).
#[async_trait]
pub trait AccessToken: Send + Sync {
    /// The bearer token of the business number `phone_number_id`.
    async fn access_token(&self, phone_number_id: &str) -> Result<SecretString, SecretError>;
}

/// Adapter: Meta's Graph API over `reqwest`.
pub struct CloudApiClient {
    http: reqwest::Client,
    messages_url_prefix: String,
    token: Arc<dyn AccessToken>,
}

impl CloudApiClient {
    /// A client for the Graph API at `graph`'s base URL and version, with
    /// `timeout` for each whole call (connecting at most 3 s).
    pub fn new(
        graph: &GraphSettings,
        token: Arc<dyn AccessToken>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = http_client(timeout)?;
        Ok(Self {
            http,
            messages_url_prefix: format!("{}/{}", graph.base_url, graph.version),
            token,
        })
    }
}

/// The Graph API's HTTP client: `timeout` for each whole call, connecting
/// in at most 3 s, connections kept for reuse across invocations.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::https::reqwest_builder()?
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("chasqui/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The answer's `Retry-After` header, when it has one that reads.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// The error of a Graph answer with a non-2xx `status`: Meta's error object
/// classified, or the start of whatever else the body is.
pub(crate) fn answer_error(status: u16, retry_after: Option<Duration>, bytes: &[u8]) -> GraphError {
    match serde_json::from_slice::<ErrorEnvelope>(bytes) {
        Ok(ErrorEnvelope { error: e }) => {
            let details = e.error_data.as_ref().and_then(|d| match d {
                Value::Object(m) => m.get("details").and_then(Value::as_str).map(str::to_owned),
                Value::String(s) => Some(s.clone()),
                _ => None,
            });
            let class = classify(status, e.code, e.is_transient);
            GraphError::Api {
                error: Box::new(MetaError {
                    http_status: status,
                    code: e.code,
                    subcode: e.error_subcode,
                    title: e.error_user_title,
                    message: e.message,
                    kind: e.kind,
                    details,
                    fbtrace_id: e.fbtrace_id,
                    is_transient: e.is_transient,
                }),
                class,
                retry_after,
            }
        }
        Err(_) => GraphError::Unexpected {
            status,
            snippet: String::from_utf8_lossy(bytes)
                .chars()
                .take(SNIPPET_CHARS)
                .collect(),
        },
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphErrorBody,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    error_user_title: Option<String>,
    #[serde(default)]
    error_data: Option<Value>,
    #[serde(default)]
    fbtrace_id: Option<String>,
    #[serde(default)]
    is_transient: Option<bool>,
}

/// Longest slice of an unexpected body kept for the log and the record.
const SNIPPET_CHARS: usize = 300;

#[async_trait]
impl CloudApi for CloudApiClient {
    async fn send(&self, phone_number_id: &str, body: &Value) -> Result<Accepted, GraphError> {
        let token = self
            .token
            .access_token(phone_number_id)
            .await
            .map_err(GraphError::Secret)?;
        let url = format!("{}/{phone_number_id}/messages", self.messages_url_prefix);
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(GraphError::Transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(GraphError::Transport)?;
        if (200..300).contains(&status) {
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let text = |ptr: &str| {
                value
                    .pointer(ptr)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            return Ok(Accepted {
                wamid: text("/messages/0/id"),
                wa_id: text("/contacts/0/wa_id"),
                user_id: text("/contacts/0/user_id"),
            });
        }
        Err(answer_error(status, retry_after, &bytes))
    }
}

/// A query component, percent-encoded (all but `A-Z a-z 0-9 - _ . ~ ,`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl CloudApiClient {
    /// `GET {base}/{version}/{path}` with `query`, authorised with the
    /// token of `phone_number_id` (any number of the account asked
    /// about): Meta's JSON answer, or its error.
    pub async fn get(
        &self,
        phone_number_id: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        let token = self
            .token
            .access_token(phone_number_id)
            .await
            .map_err(GraphError::Secret)?;
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let url = format!("{}/{path}?{}", self.messages_url_prefix, query.join("&"));
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(GraphError::Transport)?;
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(GraphError::Transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|_| GraphError::Unexpected {
                status,
                snippet: String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(SNIPPET_CHARS)
                    .collect(),
            });
        }
        Err(answer_error(status, retry_after, &bytes))
    }
}

/// A `Retry-After` value (RFC 9110): a number of seconds, or an HTTP date,
/// which counts from `now` (a date already past asks for no wait).
/// Anything else is ignored: the sender's own backoff applies.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    struct Fixed(&'static str);

    #[async_trait]
    impl AccessToken for Fixed {
        async fn access_token(&self, _: &str) -> Result<SecretString, SecretError> {
            Ok(SecretString::from(self.0))
        }
    }

    fn client(server: &MockServer, timeout: Duration) -> CloudApiClient {
        let graph = GraphSettings {
            base_url: server.uri(),
            version: "v25.0".into(),
            phone_number_id: "1122".into(),
        };
        CloudApiClient::new(&graph, Arc::new(Fixed("tok")), timeout).unwrap()
    }

    fn graph_error(code: i64, transient: Option<bool>) -> Value {
        let mut e = json!({"error": {"message": "(#x) boom", "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "the details"},
            "fbtrace_id": "TRACE"}});
        if let Some(t) = transient {
            e["error"]["is_transient"] = json!(t);
        }
        e
    }

    #[tokio::test]
    async fn posts_the_body_with_the_token_and_reads_the_wamid() {
        let server = MockServer::start().await;
        let body = json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "hi"}});
        Mock::given(method("POST"))
            .and(path("/v25.0/1122/messages"))
            .and(header("authorization", "Bearer tok"))
            .and(body_json(&body))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": "1", "wa_id": "551"}],
                "messages": [{"id": "wamid.OK"}]})))
            .expect(1)
            .mount(&server)
            .await;
        let got = client(&server, DEFAULT_TIMEOUT)
            .send("1122", &body)
            .await
            .unwrap();
        assert_eq!(got.wamid.as_deref(), Some("wamid.OK"));
        assert_eq!(got.wa_id.as_deref(), Some("551"));
    }

    #[tokio::test]
    async fn graph_errors_keep_code_details_trace_and_class() {
        let server = MockServer::start().await;
        let cases = [
            (
                "130429",
                400,
                graph_error(130429, None),
                ErrorClass::Throttled,
                Some(7),
            ),
            (
                "131047",
                400,
                graph_error(131047, None),
                ErrorClass::Permanent,
                None,
            ),
            ("190", 401, graph_error(190, None), ErrorClass::Auth, None),
            ("368", 400, graph_error(368, None), ErrorClass::Auth, None),
            (
                "unknown-transient",
                400,
                graph_error(999_999, Some(true)),
                ErrorClass::Retryable,
                None,
            ),
            (
                "unknown-5xx",
                503,
                graph_error(999_998, None),
                ErrorClass::Retryable,
                None,
            ),
            (
                "known-permanent-despite-5xx",
                500,
                graph_error(132000, None),
                ErrorClass::Permanent,
                None,
            ),
        ];
        for (id, status, body, _, retry_after) in &cases {
            let mut resp = ResponseTemplate::new(*status).set_body_json(body);
            if let Some(secs) = retry_after {
                resp = resp.insert_header("Retry-After", secs.to_string().as_str());
            }
            Mock::given(path(format!("/v25.0/{id}/messages")))
                .respond_with(resp)
                .mount(&server)
                .await;
        }
        let c = client(&server, DEFAULT_TIMEOUT);
        for (id, status, body, class, retry_after) in cases {
            let err = c.send(id, &json!({})).await.unwrap_err();
            assert_eq!(err.class(), class, "{id}");
            let meta = err.meta().unwrap();
            assert_eq!(meta.code, body["error"]["code"].as_i64().unwrap());
            assert_eq!(meta.http_status, status);
            assert_eq!(meta.details.as_deref(), Some("the details"));
            assert_eq!(meta.fbtrace_id.as_deref(), Some("TRACE"));
            assert_eq!(err.retry_after(), retry_after.map(Duration::from_secs));
            assert_eq!(err.halts_sending(), class == ErrorClass::Auth, "{id}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_785_000_000);
        assert_eq!(
            parse_retry_after(" 30 ", now),
            Some(Duration::from_secs(30))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[tokio::test]
    async fn non_graph_failures_are_classified_by_status() {
        let server = MockServer::start().await;
        Mock::given(path("/v25.0/502/messages"))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
            .mount(&server)
            .await;
        Mock::given(path("/v25.0/slow/messages"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
            .mount(&server)
            .await;
        let c = client(&server, Duration::from_millis(100));
        let err = c.send("502", &json!({})).await.unwrap_err();
        assert!(
            matches!(err, GraphError::Unexpected { status: 502, .. }),
            "{err}"
        );
        assert_eq!(err.class(), ErrorClass::Retryable);
        let err = c.send("slow", &json!({})).await.unwrap_err();
        assert!(matches!(err, GraphError::Transport(_)), "{err}");
        assert_eq!(err.class(), ErrorClass::Retryable);
    }

    #[test]
    fn is_transient_decides_unknown_codes_only() {
        assert_eq!(classify(400, 424242, Some(true)), ErrorClass::Retryable);
        assert_eq!(classify(500, 424242, Some(false)), ErrorClass::Permanent);
        assert_eq!(classify(400, 424242, None), ErrorClass::Permanent);
        assert_eq!(classify(429, 424242, None), ErrorClass::Throttled);
        assert_eq!(classify(400, 131000, Some(false)), ErrorClass::Retryable);
        assert_eq!(classify(400, 131026, Some(true)), ErrorClass::Retryable);
        assert_eq!(classify(400, 131026, None), ErrorClass::Permanent);
        // 131062 is listed, not left to the status fallback.
        assert_eq!(classify(500, 131062, None), ErrorClass::Permanent);
        assert_eq!(
            failure_reason(Some(131062)),
            Some("bsuid_recipient_not_allowed")
        );
        assert_eq!(failure_reason(Some(131026)), None);
        assert_eq!(failure_reason(None), None);
        assert_eq!(classify(400, 190, Some(true)), ErrorClass::Auth);
    }
}
