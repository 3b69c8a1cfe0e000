//! The sandbox's control API over HTTP, for the CLI and for tests that run
//! the sandbox in another process.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{CallRecord, CallSummary, Inbound, InboundReceipt, SandboxConfig, WebhookStats};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the sandbox at {url} is not reachable ({source}); start the local stack with `make dev`, or point CHASQUI_SANDBOX_URL at a running `chasqui sandbox`"
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the sandbox refused the request: {0}")]
    Refused(String),
    #[error("the sandbox answered something unexpected: {0}")]
    Unexpected(String),
}

#[derive(Clone)]
pub struct SandboxClient {
    base: String,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct Calls {
    calls: Vec<CallRecord>,
    by_callback: BTreeMap<String, CallSummary>,
}

impl SandboxClient {
    pub fn new(base_url: &str) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: self.base.clone(),
                source,
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            return Err(ClientError::Refused(message));
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Unexpected(format!("{e}: {text}")))
    }

    pub async fn health(&self) -> Result<Value, ClientError> {
        self.call(reqwest::Method::GET, "/_sandbox/health", None)
            .await
    }

    pub async fn inbound(&self, inbound: &Inbound) -> Result<InboundReceipt, ClientError> {
        let body =
            serde_json::to_value(inbound).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        self.call(reqwest::Method::POST, "/_sandbox/inbound", Some(body))
            .await
    }

    /// Registers a file a customer can send (`POST /_sandbox/media`):
    /// `{"mime_type", "text"|"base64"|"size", "fault"?}`.
    pub async fn register_media(
        &self,
        file: &Value,
    ) -> Result<super::media::Registered, ClientError> {
        self.call(reqwest::Method::POST, "/_sandbox/media", Some(file.clone()))
            .await
    }

    pub async fn config(&self) -> Result<SandboxConfig, ClientError> {
        self.call(reqwest::Method::GET, "/_sandbox/config", None)
            .await
    }

    pub async fn configure(&self, patch: &Value) -> Result<SandboxConfig, ClientError> {
        self.call(
            reqwest::Method::POST,
            "/_sandbox/config",
            Some(patch.clone()),
        )
        .await
    }

    /// Every call, or those for one `biz_opaque_callback_data`, and the
    /// summary per callback.
    pub async fn calls(
        &self,
        callback: Option<&str>,
    ) -> Result<(Vec<CallRecord>, BTreeMap<String, CallSummary>), ClientError> {
        let path = match callback {
            Some(cb) => format!("/_sandbox/calls?callback={}", encode(cb)),
            None => "/_sandbox/calls".to_owned(),
        };
        let calls: Calls = self.call(reqwest::Method::GET, &path, None).await?;
        Ok((calls.calls, calls.by_callback))
    }

    pub async fn webhooks(&self) -> Result<WebhookStats, ClientError> {
        self.call(reqwest::Method::GET, "/_sandbox/webhooks", None)
            .await
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
