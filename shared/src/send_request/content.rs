//! The object named by `type`, read and checked by kind.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contacts::ContactCard;
use super::interactive::Interactive;
use super::location::Location;
use super::media::{Media, MediaKind};
use super::message::located;
use super::reaction::Reaction;
use super::template::Template;
use super::{RequestError, limits, max_chars, non_empty};

/// The object named by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    /// A text message (free-form: only inside the 24-hour window).
    Text {
        /// The text and whether to preview its first URL.
        text: Text,
    },
    /// A message from an approved template: the only kind that may open a
    /// conversation.
    Template {
        /// The template's name, language and parameters.
        template: Template,
    },
    /// An image, with an optional caption.
    Image {
        /// The image, by id or link.
        image: Media,
    },
    /// An audio file.
    Audio {
        /// The audio, by id or link (no caption).
        audio: Media,
    },
    /// A video, with an optional caption.
    Video {
        /// The video, by id or link.
        video: Media,
    },
    /// A document, with an optional caption and file name.
    Document {
        /// The document, by id or link.
        document: Media,
    },
    /// A sticker.
    Sticker {
        /// The sticker, by id or link (no caption).
        sticker: Media,
    },
    /// A location pin.
    Location {
        /// The place.
        location: Location,
    },
    /// One or more contact cards.
    Contacts {
        /// The cards; at least one.
        contacts: Vec<ContactCard>,
    },
    /// An interactive message: buttons, a list, a URL button, a flow or a
    /// location request.
    Interactive {
        /// The interactive object, by its own `type`.
        interactive: Box<Interactive>,
    },
    /// An emoji reaction to a message.
    Reaction {
        /// The message reacted to and the emoji.
        reaction: Reaction,
    },
}

impl Content {
    /// The content of a `kind` message from the object of that name. Each
    /// kind's object is read on its own so serde keeps the path of a missing
    /// or unknown field: through the `type`-tagged enum it would report only
    /// "message". The error is `<path in the message>: <reason>`.
    pub(super) fn of(kind: &str, object: Option<Value>) -> Result<Self, String> {
        fn read<T: serde::de::DeserializeOwned>(kind: &str, object: Value) -> Result<T, String> {
            serde_path_to_error::deserialize(&object).map_err(|e| {
                // Below a `type`-tagged object (an interactive message, a
                // template component) serde loses the path again: there the
                // field it names may sit deeper, so it is not appended.
                let exact = e
                    .path()
                    .iter()
                    .try_fold(&object, |at, segment| match segment {
                        serde_path_to_error::Segment::Seq { index } => at.get(index),
                        serde_path_to_error::Segment::Map { key } => at.get(key),
                        _ => None,
                    })
                    .and_then(Value::as_object)
                    .is_some_and(|o| !o.contains_key("type"));
                let path = e.path().to_string();
                let path = if path == "." {
                    kind.to_owned()
                } else if path.starts_with('[') {
                    format!("{kind}{path}")
                } else {
                    format!("{kind}.{path}")
                };
                located(&path, e.into_inner().to_string(), exact)
            })
        }
        let Some(object) = object else {
            return Err(located("", format!("missing field `{kind}`"), true));
        };
        Ok(match kind {
            "text" => Content::Text {
                text: read(kind, object)?,
            },
            "template" => Content::Template {
                template: read(kind, object)?,
            },
            "image" => Content::Image {
                image: read(kind, object)?,
            },
            "audio" => Content::Audio {
                audio: read(kind, object)?,
            },
            "video" => Content::Video {
                video: read(kind, object)?,
            },
            "document" => Content::Document {
                document: read(kind, object)?,
            },
            "sticker" => Content::Sticker {
                sticker: read(kind, object)?,
            },
            "location" => Content::Location {
                location: read(kind, object)?,
            },
            "contacts" => Content::Contacts {
                contacts: read(kind, object)?,
            },
            "interactive" => Content::Interactive {
                interactive: read(kind, object)?,
            },
            "reaction" => Content::Reaction {
                reaction: read(kind, object)?,
            },
            other => {
                return Err(located(
                    "type",
                    format!(
                        "unknown variant `{other}`, expected one of `text`, `template`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contacts`, `interactive`, `reaction`"
                    ),
                    false,
                ));
            }
        })
    }

    pub(super) fn validate(&self) -> Result<(), RequestError> {
        match self {
            Content::Text { text } => {
                non_empty("message.text.body", &text.body)?;
                max_chars("message.text.body", &text.body, limits::TEXT_BODY)
            }
            Content::Template { template } => template.validate(),
            Content::Image { image } => image.validate("message.image", MediaKind::Image),
            Content::Audio { audio } => audio.validate("message.audio", MediaKind::Audio),
            Content::Video { video } => video.validate("message.video", MediaKind::Video),
            Content::Document { document } => {
                document.validate("message.document", MediaKind::Document)
            }
            Content::Sticker { sticker } => sticker.validate("message.sticker", MediaKind::Sticker),
            Content::Location { location } => location.validate("message.location"),
            Content::Contacts { contacts } => {
                if contacts.is_empty() {
                    return Err(RequestError::new(
                        "message.contacts",
                        "is empty; send at least one contact",
                    ));
                }
                contacts
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, c)| c.validate(&format!("message.contacts[{i}]")))
            }
            Content::Interactive { interactive } => interactive.validate(),
            Content::Reaction { reaction } => reaction.validate(),
        }
    }
}

/// Meta's `text` object of a text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// What the person reads: never empty, at most 4096 characters.
    #[schemars(length(min = 1, max = 4096))]
    pub body: String,
    /// Render a preview of the first URL in `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}
