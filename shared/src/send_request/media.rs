//! Media messages (image, audio, video, document, sticker).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RequestError, http_url, limits, max_chars, non_empty};

/// Media by the `id` of an upload or by a public `link`: exactly one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// The id of media uploaded to Meta (`POST /{phone_number_id}/media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An http(s) URL Meta can download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Image, video and document only; at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub caption: Option<String>,
    /// Document only: the file name shown to the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

impl Media {
    pub(super) fn validate(&self, path: &str, kind: MediaKind) -> Result<(), RequestError> {
        match (&self.id, &self.link) {
            (Some(id), None) => non_empty(&format!("{path}.id"), id)?,
            (None, Some(link)) => http_url(&format!("{path}.link"), link)?,
            (Some(_), Some(_)) => {
                return Err(RequestError::new(
                    path,
                    "has both \"id\" and \"link\"; give exactly one",
                ));
            }
            (None, None) => {
                return Err(RequestError::new(
                    path,
                    "needs \"id\" (an uploaded media id) or \"link\" (an https URL)",
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
