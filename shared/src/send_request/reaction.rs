//! Reactions to a message.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RequestError, non_empty};

/// Meta's `reaction` object: an emoji set on (or removed from) a message in the
/// chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// The `wamid` of the message reacted to.
    pub message_id: String,
    /// One emoji; an empty string removes an earlier reaction.
    pub emoji: String,
}

/// A family emoji with skin tones is about ten code points; more is text.
const MAX_EMOJI_CHARS: usize = 10;

impl Reaction {
    pub(super) fn validate(&self) -> Result<(), RequestError> {
        non_empty("message.reaction.message_id", &self.message_id)?;
        let e = &self.emoji;
        if e.chars().count() > MAX_EMOJI_CHARS
            || e.chars()
                .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
        {
            return Err(RequestError::new(
                "message.reaction.emoji",
                format!("is {e:?}; give one emoji, or \"\" to remove a reaction"),
            ));
        }
        Ok(())
    }
}
