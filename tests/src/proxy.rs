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
//!
//! [`RecordingProxy::metered`] also meters DynamoDB (the cost bench): each
//! write is serialised and the items it touches are read before and after
//! it, each read's answer is measured, and [`crate::meter`] turns that into
//! the units DynamoDB bills ([`Call::dynamodb`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use chasqui_cli::http::Server;
use serde_json::{Map, Value, json};

use crate::meter::{Index, ItemWrite, read_units};

/// One request that went through.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// When the request was sent upstream.
    pub started: Instant,
    /// Upstream time: request sent to answer read.
    pub took: Duration,
    /// The AWS action of a JSON-protocol call (`X-Amz-Target`, e.g.
    /// `DynamoDB_20120810.UpdateItem`), as `dynamodb:UpdateItem`.
    pub action: Option<String>,
    /// The access key id the request was signed with (who called).
    pub access_key: Option<String>,
    /// A metered proxy's measure of a DynamoDB request.
    pub dynamodb: Option<Metered>,
}

/// What one DynamoDB request costs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metered {
    /// Every item it wrote (or tried to: a failed condition still costs).
    pub writes: Vec<ItemWrite>,
    /// Read units of what it read.
    pub read_units: f64,
}

/// A table's key and indexes, from `DescribeTable`.
#[derive(Clone)]
struct TableInfo {
    key: Vec<String>,
    indexes: Vec<Index>,
}

/// The metered proxy's state: one write at a time, each table described
/// once.
#[derive(Default)]
struct Meter {
    tables: tokio::sync::Mutex<std::collections::HashMap<String, TableInfo>>,
}

const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// A DynamoDB call to the upstream with the original request's headers
/// (moto does not check signatures).
async fn dynamodb_call(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    operation: &str,
    body: &Value,
) -> Value {
    let mut headers = headers.clone();
    headers.insert(
        "x-amz-target",
        format!("DynamoDB_20120810.{operation}")
            .parse()
            .expect("a header value"),
    );
    let answer = client
        .post(url)
        .headers(headers)
        .body(body.to_string())
        .send()
        .await;
    match answer {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

impl Meter {
    async fn table(
        &self,
        tables: &mut std::collections::HashMap<String, TableInfo>,
        client: &reqwest::Client,
        url: &str,
        headers: &HeaderMap,
        name: &str,
    ) -> TableInfo {
        if let Some(info) = tables.get(name) {
            return info.clone();
        }
        let describe = dynamodb_call(
            client,
            url,
            headers,
            "DescribeTable",
            &json!({"TableName": name}),
        )
        .await;
        let info = TableInfo {
            key: describe["Table"]["KeySchema"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k["AttributeName"].as_str().map(str::to_owned))
                .collect(),
            indexes: Index::of_table(&describe),
        };
        tables.insert(name.to_owned(), info.clone());
        info
    }

    /// The (table, key) of every item a write request names.
    fn targets(
        operation: &str,
        body: &Value,
        key_of: impl Fn(&str, &Map<String, Value>) -> Map<String, Value>,
    ) -> Vec<(String, Map<String, Value>)> {
        let table = body["TableName"].as_str().unwrap_or_default().to_owned();
        let obj = |v: &Value| v.as_object().cloned().unwrap_or_default();
        match operation {
            "PutItem" => vec![(table.clone(), key_of(&table, &obj(&body["Item"])))],
            "UpdateItem" | "DeleteItem" => vec![(table, obj(&body["Key"]))],
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(t, requests)| {
                    requests
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            let key = match r.get("PutRequest") {
                                Some(p) => key_of(t, &obj(&p["Item"])),
                                None => obj(&r["DeleteRequest"]["Key"]),
                            };
                            (t.clone(), key)
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    let (kind, op) = t.as_object()?.iter().next()?;
                    let table = op["TableName"].as_str()?.to_owned();
                    let key = match kind.as_str() {
                        "Put" => key_of(&table, &obj(&op["Item"])),
                        _ => obj(&op["Key"]),
                    };
                    Some((table, key))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Forwards a DynamoDB request through `forward`, measuring it.
    async fn measure<F, Fut, T>(
        &self,
        client: &reqwest::Client,
        url: &str,
        headers: &HeaderMap,
        operation: &str,
        body: &[u8],
        forward: F,
    ) -> (T, Metered)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = (T, Option<(StatusCode, Vec<u8>)>)>,
    {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let obj = |v: &Value| v.as_object().cloned().unwrap_or_default();
        if !WRITES.contains(&operation) {
            let (out, answer) = forward().await;
            let answer: Value = answer
                .and_then(|(_, b)| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let sizes = |items: &Value| -> Vec<usize> {
                items
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| crate::meter::item_size(&obj(i)))
                    .collect()
            };
            let read = match operation {
                "GetItem" => read_units(
                    &answer
                        .get("Item")
                        .map(|i| vec![crate::meter::item_size(&obj(i))])
                        .unwrap_or_default(),
                    request["ConsistentRead"].as_bool() == Some(true),
                    false,
                ),
                "Query" | "Scan" => read_units(
                    &sizes(&answer["Items"]),
                    request["ConsistentRead"].as_bool() == Some(true),
                    true,
                ),
                "BatchGetItem" => answer["Responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(t, items)| {
                        let consistent =
                            request["RequestItems"][t]["ConsistentRead"].as_bool() == Some(true);
                        sizes(items)
                            .iter()
                            .map(|s| read_units(&[*s], consistent, false))
                            .sum::<f64>()
                    })
                    .sum(),
                _ => 0.0,
            };
            return (
                out,
                Metered {
                    writes: Vec::new(),
                    read_units: read,
                },
            );
        }
        // One write at a time, so the images before and after are this
        // write's.
        let mut tables = self.tables.lock().await;
        let mut infos = std::collections::HashMap::new();
        for name in request["RequestItems"]
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(request["TableName"].as_str().map(str::to_owned))
            .chain(
                request["TransactItems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| {
                        t.as_object()?.values().next()?["TableName"]
                            .as_str()
                            .map(str::to_owned)
                    }),
            )
        {
            let info = self.table(&mut tables, client, url, headers, &name).await;
            infos.insert(name, info);
        }
        let targets = Self::targets(operation, &request, |t, item| {
            infos
                .get(t)
                .map(|info| {
                    info.key
                        .iter()
                        .filter_map(|k| Some((k.clone(), item.get(k)?.clone())))
                        .collect()
                })
                .unwrap_or_default()
        });
        let read = |table: String, key: Map<String, Value>| async move {
            let answer = dynamodb_call(
                client,
                url,
                headers,
                "GetItem",
                &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
            )
            .await;
            answer.get("Item").and_then(Value::as_object).cloned()
        };
        let mut before = Vec::new();
        for (t, k) in &targets {
            before.push(read(t.clone(), k.clone()).await);
        }
        let (out, answer) = forward().await;
        let condition_failed = answer.as_ref().is_some_and(|(status, body)| {
            !status.is_success() && String::from_utf8_lossy(body).contains("ConditionalCheckFailed")
        });
        let mut writes = Vec::new();
        for ((t, k), before) in targets.into_iter().zip(before) {
            let after = read(t.clone(), k.clone()).await;
            let text = |name: &str| {
                k.get(name)
                    .and_then(|v| v["S"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let info = &infos[&t];
            let key: Vec<&str> = info.key.iter().map(String::as_str).collect();
            writes.push(ItemWrite::cost(
                text(key.first().copied().unwrap_or("pk")),
                text(key.get(1).copied().unwrap_or("sk")),
                before.as_ref(),
                after.as_ref(),
                condition_failed,
                &info.indexes,
                &key,
            ));
        }
        drop(tables);
        (
            out,
            Metered {
                writes,
                read_units: 0.0,
            },
        )
    }
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
        Self::spawn(upstream, None).await
    }

    /// A proxy that also meters DynamoDB ([`Call::dynamodb`]): it serialises
    /// writes and reads each written item before and after, so it is for
    /// measuring, not for timing.
    pub async fn metered(upstream: &str) -> Self {
        Self::spawn(upstream, Some(Arc::new(Meter::default()))).await
    }

    async fn spawn(upstream: &str, meter: Option<Arc<Meter>>) -> Self {
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
            let send = || async {
                let answer = async {
                    let response = client
                        .request(method.clone(), &url)
                        .headers(headers.clone())
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = response.status();
                    let headers = response.headers().clone();
                    Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
                }
                .await;
                let seen = answer
                    .as_ref()
                    .ok()
                    .map(|(status, _, body)| (*status, body.to_vec()));
                (answer, seen)
            };
            let operation = action
                .as_deref()
                .and_then(|a| a.strip_prefix("dynamodb:"))
                .map(str::to_owned);
            let (answer, dynamodb) = match (&meter, operation) {
                (Some(meter), Some(operation)) => {
                    let (answer, metered) = meter
                        .measure(&client, &url, &headers, &operation, &body, send)
                        .await;
                    (answer, Some(metered))
                }
                _ => (send().await.0, None),
            };
            records.lock().expect("the log").push(Call {
                started,
                took: started.elapsed(),
                action,
                access_key,
                dynamodb,
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
