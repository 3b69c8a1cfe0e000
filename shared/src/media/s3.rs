//! The media bucket adapter: S3 through `aws-sdk-s3` on the SDK
//! configuration every function builds ([`crate::aws_config`]). Failures
//! are [`StoreError`]s, classified like the table's.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream;

use crate::clients::Lazy;
use crate::store::StoreError;
use crate::table::dynamo::failure;

/// User metadata key of the SHA-256 (hex) an inbound object was checked
/// against.
pub const SHA256_METADATA: &str = "sha256";

/// What S3 says about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Bytes.
    pub size: u64,
    /// Its `Content-Type`, when set.
    pub content_type: Option<String>,
    /// Its ETag (quotes removed): changes with the content.
    pub etag: Option<String>,
    /// Its version id, in a versioned bucket.
    pub version_id: Option<String>,
    /// Its user metadata.
    pub metadata: HashMap<String, String>,
}

impl Head {
    /// What names this version of the object: its version id in a versioned
    /// bucket, else its ETag.
    pub fn version(&self) -> String {
        self.version_id
            .clone()
            .filter(|v| !v.is_empty() && v != "null")
            .or_else(|| self.etag.clone())
            .unwrap_or_default()
    }
}

/// One object to write.
#[derive(Debug, Clone)]
pub struct Put<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The key.
    pub key: &'a str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: &'a str,
    /// User metadata.
    pub metadata: Vec<(&'static str, String)>,
}

/// Adapter: S3. Its client is made at its first use, not at cold start
/// (`crate::clients`): the sender needs it only for media kept in S3.
#[derive(Clone)]
pub struct MediaBucket {
    client: Lazy<aws_sdk_s3::Client>,
}

impl MediaBucket {
    /// The adapter over `config` (path-style addressing, so a local
    /// emulator and dotted bucket names work like AWS).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Lazy::new(config, |config| {
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(config)
                        .force_path_style(true)
                        .build(),
                )
            }),
        }
    }

    /// The object's metadata; `None` when there is no such object.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, StoreError> {
        match self
            .client
            .get()
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Head {
                size: out.content_length().unwrap_or_default().max(0) as u64,
                content_type: out.content_type().map(str::to_owned),
                etag: out.e_tag().map(|e| e.trim_matches('"').to_owned()),
                version_id: out.version_id().map(str::to_owned),
                metadata: out.metadata().cloned().unwrap_or_default(),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(None)
            }
            Err(err) => Err(failure("HeadObject media", err)),
        }
    }

    /// The object's bytes and metadata; `None` when there is no such object.
    /// `version` (an ETag from [`MediaBucket::head`]) pins the read to what
    /// was checked.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Option<(Head, Vec<u8>)>, StoreError> {
        let mut request = self.client.get().get_object().bucket(bucket).key(key);
        if let Some(etag) = etag {
            request = request.if_match(format!("\"{etag}\""));
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(failure("GetObject media", err)),
        };
        let head = Head {
            size: out.content_length().unwrap_or_default().max(0) as u64,
            content_type: out.content_type().map(str::to_owned),
            etag: out.e_tag().map(|e| e.trim_matches('"').to_owned()),
            version_id: out.version_id().map(str::to_owned),
            metadata: out.metadata().cloned().unwrap_or_default(),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                operation: "GetObject media (body)",
                source: Box::new(e),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some((head, bytes)))
    }

    /// Writes the object (server-side encrypted with S3's keys; the
    /// bucket's default does the same).
    pub async fn put(&self, put: Put<'_>) -> Result<(), StoreError> {
        let mut request = self
            .client
            .get()
            .put_object()
            .bucket(put.bucket)
            .key(put.key)
            .content_type(put.content_type)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .body(ByteStream::from(put.bytes));
        for (name, value) in put.metadata {
            request = request.metadata(name, value);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("PutObject media", e))
    }
}
