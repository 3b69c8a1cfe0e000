//! Meta's media endpoints over `reqwest`, with the business number's token
//! ([`AccessToken`], `shared::tenant::TenantTokens`):
//! `GET /{media-id}` (the short-lived URL, type, checksum and size), the
//! download from that URL with the same bearer token, and
//! `POST /{phone_number_id}/media` (multipart) for uploads.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::cloud_api::{
    AccessToken, ErrorClass, GraphError, answer_error, http_client, retry_after,
};
use crate::secrets::ExposeSecret;

/// What `GET /{media-id}` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MediaUrl {
    /// The download URL: minutes long, needs the bearer token.
    pub url: String,
    /// The file's MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The file's SHA-256 (hex).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Bytes (Meta sends a number, sometimes as a string).
    #[serde(default, deserialize_with = "size")]
    pub file_size: Option<u64>,
}

fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The URL answered 401, 403, 404 or 410: it expired (or the media is
    /// gone). A fresh URL may still work.
    #[error("the download URL answered HTTP {0} (expired or gone)")]
    Expired(u16),
    /// More than the limit came (or was announced).
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// Another status: 5xx and 429 pass, the rest will not.
    #[error("the download URL answered HTTP {0}")]
    Status(u16),
    /// No whole answer (connection, TLS, timeout, body cut off). The
    /// short-lived URL is left out: it is never logged.
    #[error("the download failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// The token could not be read.
    #[error("no access token: {0}")]
    Secret(#[source] crate::secrets::SecretError),
}

impl DownloadError {
    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            DownloadError::Transport(_) => true,
            DownloadError::Status(s) => *s >= 500 || *s == 429,
            DownloadError::Secret(e) => e.is_retryable(),
            DownloadError::Expired(_) | DownloadError::TooLarge(_) => false,
        }
    }
}

/// Port: Meta's media endpoints.
#[async_trait::async_trait]
pub trait MediaApi: Send + Sync {
    /// `GET /{media_id}` with the token of `phone_number_id`.
    async fn resolve(&self, phone_number_id: &str, media_id: &str) -> Result<MediaUrl, GraphError>;
    /// The bytes at `url`, refused past `max_bytes`.
    async fn download(
        &self,
        phone_number_id: &str,
        url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, DownloadError>;
    /// `POST /{phone_number_id}/media`: Meta's id of the uploaded file.
    async fn upload(
        &self,
        phone_number_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String, GraphError>;
}

/// Adapter: the Graph API.
pub struct GraphMedia {
    http: reqwest::Client,
    prefix: String,
    token: Arc<dyn AccessToken>,
}

impl GraphMedia {
    /// A client for the Graph API at `base_url` and `version`; `timeout`
    /// bounds each whole call (a download of a large file included).
    pub fn new(
        base_url: &str,
        version: &str,
        token: Arc<dyn AccessToken>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: http_client(timeout)?,
            prefix: format!("{}/{version}", base_url.trim_end_matches('/')),
            token,
        })
    }

    async fn token(
        &self,
        phone_number_id: &str,
    ) -> Result<crate::secrets::SecretString, GraphError> {
        self.token
            .access_token(phone_number_id)
            .await
            .map_err(GraphError::Secret)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, GraphError> {
        let status = response.status().as_u16();
        let retry = retry_after(&response);
        let bytes = response.bytes().await.map_err(GraphError::Transport)?;
        if !(200..300).contains(&status) {
            return Err(answer_error(status, retry, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| GraphError::Unexpected {
            status,
            snippet: format!("an answer that is not the expected JSON: {e}"),
        })
    }
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

#[async_trait::async_trait]
impl MediaApi for GraphMedia {
    async fn resolve(&self, phone_number_id: &str, media_id: &str) -> Result<MediaUrl, GraphError> {
        let token = self.token(phone_number_id).await?;
        let response = self
            .http
            .get(format!(
                "{}/{media_id}?phone_number_id={phone_number_id}",
                self.prefix
            ))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(GraphError::Transport)?;
        Self::json(response).await
    }

    async fn download(
        &self,
        phone_number_id: &str,
        url: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, DownloadError> {
        let token = self
            .token
            .access_token(phone_number_id)
            .await
            .map_err(DownloadError::Secret)?;
        let mut response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| DownloadError::Transport(e.without_url()))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            401 | 403 | 404 | 410 => return Err(DownloadError::Expired(status)),
            _ => return Err(DownloadError::Status(status)),
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(DownloadError::TooLarge(max_bytes));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DownloadError::Transport(e.without_url()))?
        {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(DownloadError::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    async fn upload(
        &self,
        phone_number_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let token = self.token(phone_number_id).await?;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(content_type)
            .map_err(|e| GraphError::Unexpected {
                status: 0,
                snippet: format!("content type {content_type:?} is not a MIME type: {e}"),
            })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", content_type.to_owned())
            .part("file", part);
        let response = self
            .http
            .post(format!("{}/{phone_number_id}/media", self.prefix))
            .bearer_auth(token.expose_secret())
            .multipart(form)
            .send()
            .await
            .map_err(GraphError::Transport)?;
        let uploaded: Uploaded = Self::json(response).await?;
        Ok(uploaded.id)
    }
}

/// Whether a `GET /{media-id}` failure means the media is gone for good
/// (Meta's 100 "does not exist", or an HTTP 404) rather than a refusal.
pub fn is_gone(err: &GraphError) -> bool {
    err.class() == ErrorClass::Permanent
        && (err.code() == Some(100) || err.meta().is_some_and(|m| m.http_status == 404))
}
