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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: ButtonAction,
    },
    /// A menu of up to ten rows in up to ten sections.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: ListAction,
    },
    /// One button that opens a URL.
    CtaUrl {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: CtaUrlAction,
    },
    /// A WhatsApp Flow.
    Flow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<InteractiveHeader>,
        body: InteractiveText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        footer: Option<InteractiveText>,
        action: FlowAction,
    },
    /// Asks the person to share their location.
    LocationRequestMessage {
        body: InteractiveText,
        action: LocationRequestAction,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractiveText {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InteractiveHeader {
    Text { text: String },
    Image { image: Media },
    Video { video: Media },
    Document { document: Media },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ButtonAction {
    pub buttons: Vec<ReplyButton>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyButton {
    #[serde(rename = "type")]
    pub kind: ReplyButtonKind,
    pub reply: Reply,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyButtonKind {
    Reply,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Comes back in the person's `button_reply`; unique in the message.
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAction {
    /// The label of the button that opens the list.
    pub button: String,
    pub sections: Vec<ListSection>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSection {
    /// Required when there is more than one section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlAction {
    pub name: CtaUrlName,
    pub parameters: CtaUrlParameters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CtaUrlName {
    CtaUrl,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CtaUrlParameters {
    pub display_text: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowAction {
    pub name: FlowName,
    pub parameters: FlowParameters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowName {
    Flow,
}

/// Meta's flow parameters: `flow_id` or `flow_name`, not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowParameters {
    /// Must be `"3"`.
    pub flow_message_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_name: Option<String>,
    /// The button label, at most 20 characters.
    pub flow_cta: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FlowMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action: Option<FlowActionKind>,
    /// Required for `navigate` (the default), absent for `data_exchange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_payload: Option<FlowActionPayload>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowMode {
    Draft,
    Published,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowActionKind {
    Navigate,
    DataExchange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowActionPayload {
    pub screen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequestAction {
    pub name: SendLocationName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendLocationName {
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
