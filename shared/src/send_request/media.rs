//! Media messages (image, audio, video, document, sticker).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RequestError, http_url, limits, max_chars, non_empty};

/// Media by the `id` of an upload, by a public `link`, or by an object in
/// S3 the deployment allows (`s3`, `docs/media.md`): exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// The id of media uploaded to Meta (`POST /{phone_number_id}/media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An http(s) URL Meta can download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// An object in the stack's media bucket or a bucket the deployer
    /// allows (`MEDIA_ALLOWED_BUCKETS`); the sender uploads it to Meta once
    /// per object version and sends the media id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Object>,
    /// Image, video and document only; at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub caption: Option<String>,
    /// Document only: the file name shown to the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// An S3 object to send (`"s3": {"bucket": ..., "key": ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Object {
    /// The bucket: the stack's media bucket or one in `MEDIA_ALLOWED_BUCKETS`.
    pub bucket: String,
    /// The object's key.
    pub key: String,
}

pub(super) use crate::media::Kind as MediaKind;

impl Media {
    pub(super) fn validate(&self, path: &str, kind: MediaKind) -> Result<(), RequestError> {
        match (&self.id, &self.link, &self.s3) {
            (Some(id), None, None) => non_empty(&format!("{path}.id"), id)?,
            (None, Some(link), None) => http_url(&format!("{path}.link"), link)?,
            (None, None, Some(object)) => {
                non_empty(&format!("{path}.s3.bucket"), &object.bucket)?;
                non_empty(&format!("{path}.s3.key"), &object.key)?;
            }
            (None, None, None) => {
                return Err(RequestError::new(
                    path,
                    "needs \"id\" (an uploaded media id), \"link\" (an https URL) or \"s3\" ({\"bucket\", \"key\"})",
                ));
            }
            _ => {
                return Err(RequestError::new(
                    path,
                    "has more than one of \"id\", \"link\" and \"s3\"; give exactly one",
                ));
            }
        }
        if let Some(caption) = &self.caption {
            if matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
                return Err(RequestError::new(
                    format!("{path}.caption"),
                    format!("is not allowed: a {} has no caption", kind.name()),
                ));
            }
            max_chars(&format!("{path}.caption"), caption, limits::CAPTION)?;
        }
        if let Some(filename) = &self.filename {
            if kind != MediaKind::Document {
                return Err(RequestError::new(
                    format!("{path}.filename"),
                    format!(
                        "is not allowed: only a document has a filename, not a {}",
                        kind.name()
                    ),
                ));
            }
            non_empty(&format!("{path}.filename"), filename)?;
        }
        Ok(())
    }
}

pub(super) fn no_caption(path: &str, media: &Media) -> Result<(), RequestError> {
    if media.caption.is_some() {
        return Err(RequestError::new(
            format!("{path}.caption"),
            "is not allowed in a header; put the text in the body",
        ));
    }
    Ok(())
}
