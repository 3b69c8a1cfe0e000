//! A forwarding HTTP proxy that records what passes: the functions under
//! test reach moto (and the sender the Cloud API sandbox) through it. The
//! cold-start bench learns how many round trips a job made and how long the
//! services took to answer them (what is left of a cold start is the
//! function's own overhead); the end-to-end test learns which AWS actions
//! each function really called, to hold them to its declared permissions.
//!
//! Each record is the time from sending the request upstream to having read
//! the whole answer, on a warm connection from this process. The hop from
//! the function to the proxy (loopback) is not subtracted: it counts as the
//! function's, which makes the overhead a little pessimistic; the bench
//! prints what the hop costs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use chasqui_cli::http::Server;

/// One request that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Upstream time: request sent to answer read.
    pub took: Duration,
    /// The AWS action of a JSON-protocol call (`X-Amz-Target`, e.g.
    /// `DynamoDB_20120810.UpdateItem`), as `dynamodb:UpdateItem`.
    pub action: Option<String>,
    /// The access key id the request was signed with (who called).
    pub access_key: Option<String>,
}

/// The IAM action a call needs: `DynamoDB_20120810.UpdateItem` →
/// `dynamodb:UpdateItem`, `secretsmanager.GetSecretValue` →
/// `secretsmanager:GetSecretValue`. SQS authorises its batch calls with the
/// single action (`AmazonSQS.SendMessageBatch` → `sqs:SendMessage`);
/// DynamoDB's batch calls are actions of their own.
pub fn action_of(target: &str) -> Option<String> {
    let (service, operation) = target.split_once('.')?;
    let (prefix, operation) = match service {
        s if s.starts_with("DynamoDB") => ("dynamodb", operation),
        "AmazonSQS" => ("sqs", operation.strip_suffix("Batch").unwrap_or(operation)),
        "secretsmanager" => ("secretsmanager", operation),
        other => return Some(format!("{}:{operation}", other.to_lowercase())),
    };
    Some(format!("{prefix}:{operation}"))
}

/// The access key id of a SigV4 `Authorization` header.
fn access_key_of(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().map(str::to_owned)
}

/// A running proxy to one upstream base URL.
pub struct RecordingProxy {
    server: Server,
    log: Arc<Mutex<Vec<Call>>>,
}

impl RecordingProxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .build()
            .expect("a plain HTTP client");
        let log = Arc::new(Mutex::new(Vec::new()));
        let records = log.clone();
        let forward = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
            let url = format!(
                "{upstream}{}",
                uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let action = text("x-amz-target").as_deref().and_then(action_of);
            let access_key = text("authorization").as_deref().and_then(access_key_of);
            let mut headers = headers;
            for hop in [
                header::HOST,
                header::CONTENT_LENGTH,
                header::CONNECTION,
                header::TRANSFER_ENCODING,
            ] {
                headers.remove(hop);
            }
            let started = Instant::now();
            let answer = async {
                let response = client
                    .request(method, url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let headers = response.headers().clone();
                Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
            }
            .await;
            records.lock().expect("the log").push(Call {
                took: started.elapsed(),
                action,
                access_key,
            });
            match answer {
                Ok((status, mut headers, body)) => {
                    for hop in [
                        header::CONTENT_LENGTH,
                        header::TRANSFER_ENCODING,
                        header::CONNECTION,
                    ] {
                        headers.remove(hop);
                    }
                    (status, headers, body).into_response()
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        };
        let server = Server::bind(([127, 0, 0, 1], 0).into(), Router::new().fallback(forward))
            .await
            .expect("a port for the timing proxy");
        Self { server, log }
    }

    /// `http://<addr>`, to use as the function's endpoint.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The upstream times recorded since the last call.
    pub fn take(&self) -> Vec<Duration> {
        self.take_calls().into_iter().map(|c| c.took).collect()
    }

    /// The calls recorded since the last call.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.log.lock().expect("the log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_credentials_name_the_action_and_the_caller() {
        assert_eq!(
            action_of("DynamoDB_20120810.BatchGetItem").as_deref(),
            Some("dynamodb:BatchGetItem")
        );
        assert_eq!(
            action_of("AmazonSQS.SendMessageBatch").as_deref(),
            Some("sqs:SendMessage")
        );
        assert_eq!(
            action_of("AmazonSQS.ChangeMessageVisibility").as_deref(),
            Some("sqs:ChangeMessageVisibility")
        );
        assert_eq!(
            action_of("secretsmanager.GetSecretValue").as_deref(),
            Some("secretsmanager:GetSecretValue")
        );
        assert_eq!(action_of("nodot"), None);
        assert_eq!(
            access_key_of(
                "AWS4-HMAC-SHA256 Credential=sender-key/20261129/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=ab"
            )
            .as_deref(),
            Some("sender-key")
        );
        assert_eq!(access_key_of("Bearer x"), None);
    }
}
