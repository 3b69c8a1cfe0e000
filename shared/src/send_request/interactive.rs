//! Interactive messages: buttons, lists, call-to-action URLs, flows, location requests.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::media::{Media, MediaKind, no_caption};
use super::{RequestError, http_url, limits, max_chars, non_empty};

/// An interactive message, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Interactive {
    /// Up to three quick-reply buttons.
    Button {
        /// Optional header: text (at most 60 characters), image, video or
        /// document (no caption).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        /// The body text, required, at most 1024 characters.
        body: InteractiveText,
        /// Optional footer text, at most 60 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        /// The buttons.
        action: ButtonAction,
    },
    /// A menu of up to ten rows in up to ten sections.
    List {
        /// Optional header: text only, at most 60 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        /// The body text, required, at most 4096 characters.
        body: InteractiveText,
        /// Optional footer text, at most 60 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        /// The list's button label and sections.
        action: ListAction,
    },
    /// One button that opens a URL.
    CtaUrl {
        /// Optional header: text (at most 60 characters), image, video or
        /// document (no caption).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        /// The body text, required, at most 1024 characters.
        body: InteractiveText,
        /// Optional footer text, at most 60 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        /// The button's label and URL.
        action: CtaUrlAction,
    },
    /// A WhatsApp Flow.
    Flow {
        /// Optional header: text (at most 60 characters), image, video or
        /// document (no caption).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        /// The body text, required, at most 1024 characters.
        body: InteractiveText,
        /// Optional footer text, at most 60 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        /// Which flow to open, and how.
        action: FlowAction,
    },
    /// Asks the person to share their location.
    LocationRequestMessage {
        /// The body text, required, at most 1024 characters.
        body: InteractiveText,
        /// Meta's fixed `send_location` action.
        action: LocationRequestAction,
    },
}

/// Meta's `{"text": ...}` object of an interactive body or footer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractiveText {
    /// The text; never empty, its limit set by where it is used.
    pub text: String,
}

/// The header of an interactive message, by `type` (a list takes only `text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InteractiveHeader {
    /// A text header.
    Text {
        /// At most 60 characters, never empty.
        text: String,
    },
    /// An image header.
    Image {
        /// The image, by id or link, without a caption.
        image: Media,
    },
    /// A video header.
    Video {
        /// The video, by id or link, without a caption.
        video: Media,
    },
    /// A document header.
    Document {
        /// The document, by id or link, without a caption.
        document: Media,
    },
}

/// Meta's `action` of a reply-button message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonAction {
    /// One to three buttons; ids and titles unique within the message.
    pub buttons: Vec<ReplyButton>,
}

/// One quick-reply button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyButton {
    /// Always `reply`.
    #[serde(rename = "type")]
    pub kind: ReplyButtonKind,
    /// The button's id and title.
    pub reply: Reply,
}

/// Meta's only button `type` for a reply-button message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyButtonKind {
    /// `reply`: a quick-reply button.
    Reply,
}

/// A quick-reply button's id and label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Comes back in the person's `button_reply`; unique in the message.
    pub id: String,
    /// The button's label, at most 20 characters, unique in the message.
    pub title: String,
}

/// Meta's `action` of a list message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAction {
    /// The label of the button that opens the list.
    pub button: String,
    /// One to ten sections, with at most ten rows in all.
    pub sections: Vec<ListSection>,
}

/// A titled group of rows in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSection {
    /// Required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The section's rows, at least one.
    pub rows: Vec<ListRow>,
}

/// One choice in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRow {
    /// Comes back in the person's `list_reply`; at most 200 characters, unique
    /// in the list.
    pub id: String,
    /// The row's label, at most 24 characters.
    pub title: String,
    /// Optional text under the title, at most 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Meta's `action` of a call-to-action URL message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlAction {
    /// Always `cta_url`.
    pub name: CtaUrlName,
    /// The button's label and URL.
    pub parameters: CtaUrlParameters,
}

/// Meta's only action name of a call-to-action URL message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CtaUrlName {
    /// `cta_url`.
    CtaUrl,
}

/// The label and target of a call-to-action URL button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlParameters {
    /// The button's label, at most 20 characters.
    pub display_text: String,
    /// The URL the button opens: an absolute `http://` or `https://` URL.
    pub url: String,
}

/// Meta's `action` of a flow message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowAction {
    /// Always `flow`.
    pub name: FlowName,
    /// Which flow to open, and how.
    pub parameters: FlowParameters,
}

/// Meta's only action name of a flow message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowName {
    /// `flow`.
    Flow,
}

/// Meta's flow parameters: `flow_id` or `flow_name`, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowParameters {
    /// Must be `"3"`.
    pub flow_message_version: String,
    /// An opaque token the flow's endpoint receives, to tie its answers to this
    /// message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// The flow's id (or give `flow_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    /// The flow's name (or give `flow_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// The button label, at most 20 characters.
    pub flow_cta: String,
    /// `draft` or `published` (Meta's default); a draft flow can be sent for
    /// testing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FlowMode>,
    /// `navigate` (the default) opens `flow_action_payload.screen`;
    /// `data_exchange` asks the flow's endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action: Option<FlowActionKind>,
    /// Required for `navigate` (the default), absent for `data_exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_payload: Option<FlowActionPayload>,
}

/// Which version of a flow is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowMode {
    /// The flow's draft, for testing.
    Draft,
    /// The published flow.
    Published,
}

/// How a flow starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowActionKind {
    /// Open the screen named in `flow_action_payload`.
    Navigate,
    /// Ask the flow's endpoint for the first screen.
    DataExchange,
}

/// The first screen of a `navigate` flow and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowActionPayload {
    /// The id of the screen to open; never empty.
    pub screen: String,
    /// The data the screen receives; left out rather than empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// Meta's `action` of a location request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequestAction {
    /// Always `send_location`.
    pub name: SendLocationName,
}

/// Meta's only action name of a location request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendLocationName {
    /// `send_location`.
    SendLocation,
}

impl Interactive {
    pub(super) fn validate(&self) -> Result<(), RequestError> {
        const P: &str = "message.interactive";
        let (header, body, footer, body_limit) = match self {
            Interactive::Button {
                header,
                body,
                footer,
                ..
            }
            | Interactive::CtaUrl {
                header,
                body,
                footer,
                ..
            }
            | Interactive::Flow {
                header,
                body,
                footer,
                ..
            } => (
                header.as_ref(),
                body,
                footer.as_ref(),
                limits::INTERACTIVE_BODY,
            ),
            Interactive::List {
                header,
                body,
                footer,
                ..
            } => (header.as_ref(), body, footer.as_ref(), limits::LIST_BODY),
            Interactive::LocationRequestMessage { body, .. } => {
                (None, body, None, limits::INTERACTIVE_BODY)
            }
        };
        non_empty(&format!("{P}.body.text"), &body.text)?;
        max_chars(&format!("{P}.body.text"), &body.text, body_limit)?;
        if let Some(footer) = footer {
            non_empty(&format!("{P}.footer.text"), &footer.text)?;
            max_chars(
                &format!("{P}.footer.text"),
                &footer.text,
                limits::FOOTER_TEXT,
            )?;
        }
        match header {
            None => {}
            Some(InteractiveHeader::Text { text }) => {
                non_empty(&format!("{P}.header.text"), text)?;
                max_chars(&format!("{P}.header.text"), text, limits::HEADER_TEXT)?;
            }
            Some(_) if matches!(self, Interactive::List { .. }) => {
                return Err(RequestError::new(
                    format!("{P}.header"),
                    "a list message takes only a text header",
                ));
            }
            Some(InteractiveHeader::Image { image }) => {
                image.validate(&format!("{P}.header.image"), MediaKind::Image)?;
                no_caption(&format!("{P}.header.image"), image)?;
            }
            Some(InteractiveHeader::Video { video }) => {
                video.validate(&format!("{P}.header.video"), MediaKind::Video)?;
                no_caption(&format!("{P}.header.video"), video)?;
            }
            Some(InteractiveHeader::Document { document }) => {
                document.validate(&format!("{P}.header.document"), MediaKind::Document)?;
                no_caption(&format!("{P}.header.document"), document)?;
            }
        }
        match self {
            Interactive::Button { action, .. } => {
                let path = format!("{P}.action.buttons");
                let n = action.buttons.len();
                if n == 0 || n > limits::REPLY_BUTTONS {
                    return Err(RequestError::new(
                        path,
                        format!("has {n} buttons; give 1 to {}", limits::REPLY_BUTTONS),
                    ));
                }
                let mut ids = HashSet::new();
                let mut titles = HashSet::new();
                for (i, b) in action.buttons.iter().enumerate() {
                    let id_path = format!("{path}[{i}].reply.id");
                    let title_path = format!("{path}[{i}].reply.title");
                    non_empty(&id_path, &b.reply.id)?;
                    max_chars(&id_path, &b.reply.id, limits::REPLY_BUTTON_ID)?;
                    non_empty(&title_path, &b.reply.title)?;
                    max_chars(&title_path, &b.reply.title, limits::REPLY_BUTTON_TITLE)?;
                    if !ids.insert(b.reply.id.as_str()) {
                        return Err(RequestError::new(id_path, "repeats another button's id"));
                    }
                    if !titles.insert(b.reply.title.as_str()) {
                        return Err(RequestError::new(
                            title_path,
                            "repeats another button's title",
                        ));
                    }
                }
                Ok(())
            }
            Interactive::List { action, .. } => {
                let path = format!("{P}.action");
                non_empty(&format!("{path}.button"), &action.button)?;
                max_chars(
                    &format!("{path}.button"),
                    &action.button,
                    limits::LIST_BUTTON,
                )?;
                let sections = action.sections.len();
                if sections == 0 || sections > limits::LIST_SECTIONS {
                    return Err(RequestError::new(
                        format!("{path}.sections"),
                        format!(
                            "has {sections} sections; give 1 to {}",
                            limits::LIST_SECTIONS
                        ),
                    ));
                }
                let rows: usize = action.sections.iter().map(|s| s.rows.len()).sum();
                if rows > limits::LIST_ROWS {
                    return Err(RequestError::new(
                        format!("{path}.sections"),
                        format!(
                            "have {rows} rows in all; a list holds at most {}",
                            limits::LIST_ROWS
                        ),
                    ));
                }
                let mut ids = HashSet::new();
                for (s, section) in action.sections.iter().enumerate() {
                    let sp = format!("{path}.sections[{s}]");
                    match &section.title {
                        Some(title) => {
                            non_empty(&format!("{sp}.title"), title)?;
                            max_chars(&format!("{sp}.title"), title, limits::SECTION_TITLE)?;
                        }
                        None if sections > 1 => {
                            return Err(RequestError::new(
                                format!("{sp}.title"),
                                "is required when the list has more than one section",
                            ));
                        }
                        None => {}
                    }
                    if section.rows.is_empty() {
                        return Err(RequestError::new(
                            format!("{sp}.rows"),
                            "is empty; every section needs at least one row",
                        ));
                    }
                    for (r, row) in section.rows.iter().enumerate() {
                        let rp = format!("{sp}.rows[{r}]");
                        non_empty(&format!("{rp}.id"), &row.id)?;
                        max_chars(&format!("{rp}.id"), &row.id, limits::ROW_ID)?;
                        non_empty(&format!("{rp}.title"), &row.title)?;
                        max_chars(&format!("{rp}.title"), &row.title, limits::ROW_TITLE)?;
                        if let Some(d) = &row.description {
                            max_chars(&format!("{rp}.description"), d, limits::ROW_DESCRIPTION)?;
                        }
                        if !ids.insert(row.id.as_str()) {
                            return Err(RequestError::new(
                                format!("{rp}.id"),
                                "repeats another row's id",
                            ));
                        }
                    }
                }
                Ok(())
            }
            Interactive::CtaUrl { action, .. } => {
                let path = format!("{P}.action.parameters");
                let p = &action.parameters;
                non_empty(&format!("{path}.display_text"), &p.display_text)?;
                max_chars(
                    &format!("{path}.display_text"),
                    &p.display_text,
                    limits::CTA_DISPLAY_TEXT,
                )?;
                http_url(&format!("{path}.url"), &p.url)
            }
            Interactive::Flow { action, .. } => {
                let path = format!("{P}.action.parameters");
                let p = &action.parameters;
                if p.flow_message_version != "3" {
                    return Err(RequestError::new(
                        format!("{path}.flow_message_version"),
                        format!("is {:?}; Meta accepts \"3\"", p.flow_message_version),
                    ));
                }
                match (&p.flow_id, &p.flow_name) {
                    (Some(id), None) => non_empty(&format!("{path}.flow_id"), id)?,
                    (None, Some(name)) => non_empty(&format!("{path}.flow_name"), name)?,
                    _ => {
                        return Err(RequestError::new(
                            path,
                            "needs exactly one of \"flow_id\" and \"flow_name\"",
                        ));
                    }
                }
                non_empty(&format!("{path}.flow_cta"), &p.flow_cta)?;
                max_chars(&format!("{path}.flow_cta"), &p.flow_cta, limits::FLOW_CTA)?;
                match (p.flow_action, &p.flow_action_payload) {
                    (Some(FlowActionKind::DataExchange), Some(_)) => Err(RequestError::new(
                        format!("{path}.flow_action_payload"),
                        "must be left out for flow_action data_exchange",
                    )),
                    (Some(FlowActionKind::DataExchange), None) => Ok(()),
                    (_, None) => Err(RequestError::new(
                        format!("{path}.flow_action_payload"),
                        "is required for flow_action navigate (the default): give the first screen",
                    )),
                    (_, Some(payload)) => {
                        non_empty(
                            &format!("{path}.flow_action_payload.screen"),
                            &payload.screen,
                        )?;
                        if payload.data.as_ref().is_some_and(Map::is_empty) {
                            return Err(RequestError::new(
                                format!("{path}.flow_action_payload.data"),
                                "is an empty object; leave it out or give the screen's data",
                            ));
                        }
                        Ok(())
                    }
                }
            }
            Interactive::LocationRequestMessage { .. } => Ok(()),
        }
    }
}
