//! Outbound media from S3 (`docs/media.md`): a request's `"s3": {"bucket",
//! "key"}` becomes Meta's media `id`.
//!
//! The object is checked against Meta's type and size limits for its kind
//! (`HeadObject`) before anything is read or uploaded, then uploaded once
//! per business number and object version (`POST /{phone_number_id}/media`)
//! and the id reused until a day before Meta forgets it (30 days): the id
//! is kept in this instance's memory and in the table (`MEDIAUP#` items),
//! and concurrent sends of the same object in one instance wait for one
//! upload. Only the buckets the deployment allows are read: the stack's
//! media bucket and `MEDIA_ALLOWED_BUCKETS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::cloud_api::GraphError;
use shared::media::Kind;
use shared::media::graph::MediaApi;
use shared::media::s3::MediaBucket;
use shared::store::StoreError;
use shared::table::attr::media_upload as attr;
use shared::table::dynamo::{Update, failure, get_item, key};
use shared::table::{MEDIA_UPLOAD_SK, media_upload_pk};

/// How long Meta keeps an uploaded file.
pub const META_KEEPS_MS: u64 = 30 * 24 * 3_600_000;
/// An id is reused until this long before Meta forgets it.
pub const REUSE_MARGIN_MS: u64 = 24 * 3_600_000;

/// One `s3` object named in a Cloud API body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Ref {
    /// The path of the `s3` object in the request (`message.document.s3`).
    pub path: String,
    /// The media kind (`document`, ...) of the object holding it.
    pub kind: Kind,
    pub bucket: String,
    pub key: String,
    /// The document's `filename`, when given.
    pub filename: Option<String>,
}

/// Every `s3` object in `body` (a Cloud API body: the request's `message`
/// with the envelope's fields), wherever media goes (the message, a
/// template's header parameter, an interactive header).
pub fn s3_refs(body: &Value) -> Vec<S3Ref> {
    let mut out = Vec::new();
    walk(body, "message", None, &mut out);
    out
}

fn walk(value: &Value, path: &str, parent_key: Option<&str>, out: &mut Vec<S3Ref>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::Object(s3)), Some(kind)) =
                (map.get("s3"), parent_key.and_then(Kind::parse))
            {
                let text = |k: &str| s3.get(k).and_then(Value::as_str).unwrap_or_default();
                out.push(S3Ref {
                    path: format!("{path}.s3"),
                    kind,
                    bucket: text("bucket").to_owned(),
                    key: text("key").to_owned(),
                    filename: map
                        .get("filename")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
            for (k, v) in map {
                walk(v, &format!("{path}.{k}"), Some(k), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), None, out);
            }
        }
        _ => {}
    }
}

/// Why an `s3` object cannot be sent: the path to fix and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {message}")]
pub struct Refusal {
    /// `media_bucket_not_allowed`, `media_not_found`, `media_not_accepted`.
    pub reason: &'static str,
    pub path: String,
    pub message: String,
}

/// The first object of `refs` in a bucket not in `allowed` (checked before
/// anything is called).
pub fn disallowed(refs: &[S3Ref], allowed: &[String]) -> Option<Refusal> {
    refs.iter()
        .find(|r| !allowed.iter().any(|b| b == &r.bucket))
        .map(|r| Refusal {
            reason: "media_bucket_not_allowed",
            path: format!("{}.bucket", r.path),
            message: format!(
                "names bucket {:?}, which this deployment does not allow (the stack's media bucket and MEDIA_ALLOWED_BUCKETS)",
                r.bucket
            ),
        })
}

/// Why resolving failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The object cannot be sent as it is: permanent.
    #[error(transparent)]
    Refused(Refusal),
    /// S3 or the table failed: retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upload failed ([`GraphError::class`] says whether to retry).
    #[error("uploading the media failed: {0}")]
    Upload(#[source] GraphError),
}

/// Port: the uploads already made (the table's `MEDIAUP#` items).
#[async_trait]
pub trait UploadCache: Send + Sync {
    /// The media id for `object` and when to stop using it (ms), if any.
    async fn get(
        &self,
        tenant: &str,
        number: &str,
        object: &str,
    ) -> Result<Option<(String, u64)>, StoreError>;
    /// Remembers an upload.
    async fn put(
        &self,
        tenant: &str,
        number: &str,
        object: &str,
        upload: &Upload,
    ) -> Result<(), StoreError>;
}

/// One upload to remember.
#[derive(Debug, Clone)]
pub struct Upload {
    pub media_id: String,
    pub description: String,
    pub version: String,
    pub uploaded_at: u64,
}

/// Adapter: the table.
pub struct DynamoUploads {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoUploads {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl UploadCache for DynamoUploads {
    async fn get(
        &self,
        tenant: &str,
        number: &str,
        object: &str,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let key = key(media_upload_pk(tenant, number, object), MEDIA_UPLOAD_SK);
        let Some(item) = get_item(&self.client, &self.table, key, "GetItem media upload").await?
        else {
            return Ok(None);
        };
        let id = item
            .get(attr::MEDIA_ID)
            .and_then(|v| v.as_s().ok())
            .cloned();
        let until = item
            .get(attr::REUSE_UNTIL)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        Ok(id.zip(until))
    }

    async fn put(
        &self,
        tenant: &str,
        number: &str,
        object: &str,
        upload: &Upload,
    ) -> Result<(), StoreError> {
        let n = |v: u64| AttributeValue::N(v.to_string());
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut e = Update::default();
        e.set(attr::MEDIA_ID, s(&upload.media_id))
            .set(attr::OBJECT, s(&upload.description))
            .set(attr::VERSION, s(&upload.version))
            .set(attr::UPLOADED_AT, n(upload.uploaded_at))
            .set(
                attr::REUSE_UNTIL,
                n(upload.uploaded_at + META_KEEPS_MS - REUSE_MARGIN_MS),
            )
            .set(
                attr::EXPIRES_AT,
                n((upload.uploaded_at + META_KEEPS_MS) / 1000),
            );
        e.update_item(
            &self.client,
            &self.table,
            key(media_upload_pk(tenant, number, object), MEDIA_UPLOAD_SK),
            None,
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure("UpdateItem media upload", e))
    }
}

/// Turns `s3` objects into Meta media ids.
pub struct OutboundMedia {
    pub bucket: MediaBucket,
    pub api: Arc<dyn MediaApi>,
    pub cache: Arc<dyn UploadCache>,
    /// The buckets requests may name.
    pub allowed: Vec<String>,
    /// This instance's uploads: object → (media id, reuse until ms).
    memo: Mutex<HashMap<String, (String, u64)>>,
    /// One upload at a time per object in this instance.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl OutboundMedia {
    pub fn new(
        bucket: MediaBucket,
        api: Arc<dyn MediaApi>,
        cache: Arc<dyn UploadCache>,
        allowed: Vec<String>,
    ) -> Self {
        Self {
            bucket,
            api,
            cache,
            allowed,
            memo: Mutex::default(),
            flights: Mutex::default(),
        }
    }

    /// Replaces every `s3` object of `body` by Meta's `id` of the file.
    pub async fn resolve(
        &self,
        tenant: &str,
        phone_number_id: &str,
        body: &mut Value,
        now: u64,
    ) -> Result<(), ResolveError> {
        for r in s3_refs(body) {
            if let Some(refusal) = disallowed(std::slice::from_ref(&r), &self.allowed) {
                return Err(ResolveError::Refused(refusal));
            }
            let id = self.media_id(tenant, phone_number_id, &r, now).await?;
            let pointer = body_pointer(&r.path);
            if let Some(Value::Object(media)) = body.pointer_mut(&pointer) {
                media.remove("s3");
                media.insert("id".into(), Value::String(id));
            }
        }
        Ok(())
    }

    async fn media_id(
        &self,
        tenant: &str,
        number: &str,
        r: &S3Ref,
        now: u64,
    ) -> Result<String, ResolveError> {
        let refused = |reason: &'static str, message: String| {
            ResolveError::Refused(Refusal {
                reason,
                path: r.path.clone(),
                message,
            })
        };
        let Some(head) = self.bucket.head(&r.bucket, &r.key).await? else {
            return Err(refused(
                "media_not_found",
                format!(
                    "names an object of bucket {:?} that does not exist",
                    r.bucket
                ),
            ));
        };
        let content_type = head.content_type.clone().unwrap_or_default();
        r.kind
            .check(&content_type, head.size)
            .map_err(|m| refused("media_not_accepted", format!("names an object that {m}")))?;
        let version = head.version();
        let description = format!("s3://{}/{}", r.bucket, r.key);
        let object = hex::encode(
            &Sha256::digest(format!("{}\n{}\n{version}", r.bucket, r.key).as_bytes())[..16],
        );
        let memo_key = format!("{tenant}\n{number}\n{object}");
        let fresh = |entry: Option<(String, u64)>| entry.filter(|(_, until)| *until > now);
        if let Some((id, _)) = fresh(self.memo_get(&memo_key)) {
            return Ok(id);
        }
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(memo_key.clone()).or_default().clone()
        };
        let _turn = flight.lock().await;
        if let Some((id, _)) = fresh(self.memo_get(&memo_key)) {
            return Ok(id);
        }
        if let Some((id, until)) = fresh(self.cache.get(tenant, number, &object).await?) {
            self.memo_put(&memo_key, &id, until);
            return Ok(id);
        }
        let Some((_, bytes)) = self
            .bucket
            .get(&r.bucket, &r.key, head.etag.as_deref())
            .await?
        else {
            return Err(refused(
                "media_not_found",
                format!("names an object of bucket {:?} that is gone", r.bucket),
            ));
        };
        let filename = r
            .filename
            .clone()
            .unwrap_or_else(|| r.key.rsplit('/').next().unwrap_or("file").to_owned());
        let id = self
            .api
            .upload(number, bytes, &content_type, &filename)
            .await
            .map_err(ResolveError::Upload)?;
        let upload = Upload {
            media_id: id.clone(),
            description,
            version,
            uploaded_at: now,
        };
        tracing::info!(object = %object, size = head.size, kind = r.kind.name(), "media uploaded to Meta from S3");
        // Remembered even if the table write fails: this instance reuses it.
        self.memo_put(&memo_key, &id, now + META_KEEPS_MS - REUSE_MARGIN_MS);
        self.cache.put(tenant, number, &object, &upload).await?;
        Ok(id)
    }

    fn memo_get(&self, key: &str) -> Option<(String, u64)> {
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn memo_put(&self, key: &str, id: &str, until: u64) {
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), (id.to_owned(), until));
    }
}

/// The JSON pointer in the Cloud API body of a request path's media object
/// (`message.document.s3` → `/document`).
fn body_pointer(path: &str) -> String {
    let inner = path
        .strip_prefix("message")
        .unwrap_or(path)
        .strip_suffix(".s3")
        .unwrap_or(path);
    let mut pointer = String::new();
    for part in inner.split('.').filter(|p| !p.is_empty()) {
        // `components[0]` → `/components/0`
        let mut rest = part;
        if let Some((name, _)) = rest.split_once('[') {
            pointer.push('/');
            pointer.push_str(name);
            rest = &rest[name.len()..];
        } else {
            pointer.push('/');
            pointer.push_str(rest);
            continue;
        }
        for index in rest.split('[').filter(|p| !p.is_empty()) {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_s3_object_with_its_path_and_kind() {
        let body = json!({
            "type": "template",
            "document": {"s3": {"bucket": "b", "key": "k.pdf"}, "filename": "Invoice.pdf"},
            "template": {"components": [{"type": "header", "parameters": [
                {"type": "image", "image": {"s3": {"bucket": "c", "key": "i.png"}}}
            ]}]}
        });
        let refs = s3_refs(&body);
        assert_eq!(refs.len(), 2);
        let doc = refs.iter().find(|r| r.kind == Kind::Document).unwrap();
        assert_eq!(doc.path, "message.document.s3");
        assert_eq!(doc.filename.as_deref(), Some("Invoice.pdf"));
        let image = refs.iter().find(|r| r.kind == Kind::Image).unwrap();
        assert_eq!(
            image.path,
            "message.template.components[0].parameters[0].image.s3"
        );
        assert_eq!(
            body_pointer(&image.path),
            "/template/components/0/parameters/0/image"
        );
        assert!(body.pointer(&body_pointer(&image.path)).is_some());
        assert_eq!(body_pointer(&doc.path), "/document");
    }

    #[test]
    fn a_bucket_not_allowed_is_named_with_its_path() {
        let body = json!({"document": {"s3": {"bucket": "other", "key": "k"}}});
        let refusal = disallowed(&s3_refs(&body), &["mine".to_owned()]).unwrap();
        assert_eq!(refusal.path, "message.document.s3.bucket");
        assert_eq!(refusal.reason, "media_bucket_not_allowed");
        assert!(disallowed(&s3_refs(&body), &["other".to_owned()]).is_none());
    }
}
