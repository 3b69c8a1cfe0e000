//! Media both ways (`docs/media.md`): inbound files kept in the stack's S3
//! bucket, outbound files sent from S3.
//!
//! This module is the part every side agrees on and that builds without
//! the AWS SDK: Meta's media kinds and their limits, where an inbound
//! file is kept (its S3 key), the job the status function queues for the
//! media function, and what the record and the events say about a file.
//! The adapters are behind the `media` feature: [`s3`] (the bucket) and
//! [`graph`] (Meta's media endpoints).

#[cfg(feature = "media")]
pub mod graph;
#[cfg(feature = "media")]
pub mod s3;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest inbound file kept, bytes, when `MEDIA_MAX_BYTES` is unset:
/// Meta's largest media (a 100 MB document). A larger file is recorded as
/// [`reason::TOO_LARGE`] without being downloaded.
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Prefix of every inbound object key.
pub const INBOUND_PREFIX: &str = "inbound/";

/// Why a file was not kept (`media.reason` in the record and the event).
pub mod reason {
    /// The bytes' SHA-256 is not the one Meta gave.
    pub const CHECKSUM_MISMATCH: &str = "checksum_mismatch";
    /// The download URL answered as expired (or refused the token), also
    /// after a fresh URL was asked for.
    pub const URL_EXPIRED: &str = "url_expired";
    /// Meta no longer has the media (deleted, or past its 30 days).
    pub const NOT_FOUND: &str = "media_not_found";
    /// Larger than `MEDIA_MAX_BYTES`.
    pub const TOO_LARGE: &str = "too_large";
    /// Meta refused the call for a reason a retry cannot change.
    pub const REFUSED: &str = "media_refused";
    /// Every attempt failed for passing reasons; the job is in the media
    /// dead-letter queue and can be replayed (SQS redrive: `aws sqs start-message-move-task`).
    pub const GAVE_UP: &str = "gave_up_after_retries";
}

/// What the record's `media.state` says.
pub mod state {
    /// Queued for download.
    pub const PENDING: &str = "pending";
    /// In the bucket: `bucket`, `key`, `size`, `content_type`, `sha256`.
    pub const STORED: &str = "stored";
    /// Not kept, for `reason`.
    pub const FAILED: &str = "failed";
}

/// Meta's media kinds, each with its types and size limit (Meta's
/// "supported media types"; a sticker's 500 KB is an animated sticker's,
/// a static one's is 100 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `image`: JPEG or PNG, 5 MB.
    Image,
    /// `audio`: AAC, AMR, MP3, MP4 audio or OGG (Opus), 16 MB.
    Audio,
    /// `video`: MP4 or 3GPP, 16 MB.
    Video,
    /// `document`: text, PDF and office files, 100 MB.
    Document,
    /// `sticker`: WebP, 500 KB.
    Sticker,
}

const MB: u64 = 1024 * 1024;

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Image,
        Kind::Audio,
        Kind::Video,
        Kind::Document,
        Kind::Sticker,
    ];

    /// Meta's name of the kind (the message `type`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Document => "document",
            Kind::Sticker => "sticker",
        }
    }

    /// The kind Meta calls `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The largest file Meta takes for the kind, bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::Image => 5 * MB,
            Kind::Audio | Kind::Video => 16 * MB,
            Kind::Document => 100 * MB,
            Kind::Sticker => 500 * 1024,
        }
    }

    /// The MIME types Meta takes for the kind.
    pub fn types(self) -> &'static [&'static str] {
        match self {
            Kind::Image => &["image/jpeg", "image/png"],
            Kind::Audio => &[
                "audio/aac",
                "audio/amr",
                "audio/mpeg",
                "audio/mp4",
                "audio/ogg",
            ],
            Kind::Video => &["video/mp4", "video/3gpp"],
            Kind::Document => &[
                "text/plain",
                "application/pdf",
                "application/vnd.ms-powerpoint",
                "application/msword",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ],
            Kind::Sticker => &["image/webp"],
        }
    }

    /// Whether Meta takes a `content_type` file of `size` bytes for the
    /// kind; `Err` says why not. Parameters (`; codecs=opus`) are ignored.
    pub fn check(self, content_type: &str, size: u64) -> Result<(), String> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !self.types().contains(&essence.as_str()) {
            return Err(format!(
                "is {content_type:?}, a type Meta does not take for {} (it takes {})",
                self.name(),
                self.types().join(", ")
            ));
        }
        if size > self.max_bytes() {
            return Err(format!(
                "is {size} bytes; Meta takes at most {} bytes for {}",
                self.max_bytes(),
                self.name()
            ));
        }
        Ok(())
    }
}

/// Where an inbound file is kept: `inbound/<tenant>/<inbound id>`, the id
/// (the `wamid`) percent-encoded outside `A-Z a-z 0-9 . _ -`. One message
/// has one file and one key, so a replay writes the same object.
pub fn object_key(tenant: &str, inbound_id: &str) -> String {
    format!(
        "{INBOUND_PREFIX}{}/{}",
        encode_segment(tenant),
        encode_segment(inbound_id)
    )
}

fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SHA-256 of `bytes`, lowercase hex (what the record and events carry).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether Meta's `sha256` names `digest`: Meta gives it as hex in
/// `GET /{media-id}` and as base64 in some webhooks; both are accepted.
pub fn checksum_matches(meta: &str, digest: &[u8]) -> bool {
    use base64::Engine;
    let meta = meta.trim();
    if meta.len() == 64 && meta.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(meta).is_ok_and(|d| d == digest);
    }
    [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ]
    .iter()
    .any(|engine| engine.decode(meta).is_ok_and(|d| d == digest))
}

/// One inbound file to fetch: queued by the status function after it
/// recorded the message, consumed by the media function. Everything
/// needed to fetch the file, write it and find the record again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaJob {
    /// The tenant whose record and object it is (`shared::tenant`).
    pub tenant: String,
    /// The business number the message was sent to (its token fetches it).
    pub phone_number_id: String,
    /// The customer partition of the inbound record (BSUID, else phone).
    pub customer_id: String,
    /// The record's id: the `wamid`, or a digest when Meta sent none.
    pub inbound_id: String,
    /// Meta's time of the message, ms (the record's sort key).
    pub at: u64,
    /// The message `type` (`image`, `audio`, ...).
    pub kind: String,
    /// Meta's media id.
    pub media_id: String,
    /// Meta's MIME type, from the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Meta's SHA-256, from the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The sender's phone, for the `message.media` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The sender's BSUID, for the `message.media` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user_id: Option<String>,
}

impl MediaJob {
    /// The object key of the job's file.
    pub fn key(&self) -> String {
        object_key(&self.tenant, &self.inbound_id)
    }
}

/// What the record's `media` map and the events say about a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// [`state::PENDING`], [`state::STORED`] or [`state::FAILED`].
    pub state: String,
    /// Meta's media id.
    pub media_id: String,
    /// The bucket the file is (or will be) in.
    pub bucket: String,
    /// Its key there ([`object_key`]).
    pub key: String,
    /// Bytes, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The MIME type (Meta's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// SHA-256 of the bytes, lowercase hex, once stored (checked against
    /// Meta's); while pending, Meta's as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it was not kept ([`reason`]), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure in words, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_tenant_and_safe() {
        assert_eq!(
            object_key("default", "wamid.HBg+/=x"),
            "inbound/default/wamid.HBg%2B%2F%3Dx"
        );
        assert_ne!(object_key("acme", "w1"), object_key("default", "w1"));
    }

    #[test]
    fn checksums_in_hex_or_base64() {
        use base64::Engine;
        let digest = Sha256::digest(b"photo");
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(checksum_matches(&hex, &digest));
        assert!(checksum_matches(&hex.to_uppercase(), &digest));
        assert!(checksum_matches(&b64, &digest));
        assert!(!checksum_matches(&sha256_hex(b"other"), &digest));
        assert!(!checksum_matches("abc123", &digest));
    }

    #[test]
    fn kinds_check_type_and_size() {
        assert!(Kind::Image.check("image/jpeg", 5 * MB).is_ok());
        assert!(Kind::Image.check("image/jpeg", 5 * MB + 1).is_err());
        assert!(Kind::Image.check("image/gif", 10).is_err());
        assert!(Kind::Audio.check("audio/ogg; codecs=opus", 10).is_ok());
        assert!(Kind::Sticker.check("image/webp", 500 * 1024 + 1).is_err());
        assert!(Kind::Document.check("application/pdf", 100 * MB).is_ok());
        assert_eq!(Kind::parse("video"), Some(Kind::Video));
        assert_eq!(Kind::parse("text"), None);
    }
}
