//! Template messages: the only kind that may open a conversation.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::location::Location;
use super::media::{Media, MediaKind, no_caption};
use super::{RequestError, limits, max_chars, non_empty};

/// A message template: the only kind that may open a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The approved template's name.
    pub name: String,
    /// The language of the approved translation to send.
    pub language: TemplateLanguage,
    /// The values of the template's variables, per component; left out for a
    /// template without variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<TemplateComponent>>,
}

/// Meta's `language` object of a template message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateLanguage {
    /// The template's language code, e.g. `en_US`, `pt_BR`, `es`.
    pub code: String,
    /// Optional; `deterministic` is the only policy Meta accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<LanguagePolicy>,
}

/// How Meta picks the translation: the only policy left is the exact one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguagePolicy {
    /// `deterministic`: the translation in `code`, exactly.
    Deterministic,
}

/// A component's parameters; sent lowercase whatever case was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateComponent {
    /// The parameter of the template's header.
    #[serde(alias = "HEADER")]
    Header {
        /// Exactly one: text, currency, date_time, image, video, document or
        /// location.
        parameters: Vec<TemplateParameter>,
    },
    /// The parameters of the template's body, in order (or by name).
    #[serde(alias = "BODY")]
    Body {
        /// Each text, currency or date_time.
        parameters: Vec<TemplateParameter>,
    },
    /// The parameter of one of the template's buttons, by position.
    #[serde(alias = "BUTTON")]
    Button {
        /// The button's kind, as the template defines it.
        sub_type: ButtonSubType,
        /// The button's position, `"0"` to `"9"` (a number is accepted).
        #[serde(deserialize_with = "button_index")]
        #[schemars(regex(pattern = r"^[0-9]$"))]
        index: String,
        /// Exactly one parameter, of the type the button's kind takes
        /// (`payload`, `text`, `coupon_code` or `action`).
        #[serde(default)]
        parameters: Vec<TemplateParameter>,
    },
}

fn button_index<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error;
    let index = match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expected \"0\" to \"9\", got {other}"
            )));
        }
    };
    if index.len() == 1 && index.as_bytes()[0].is_ascii_digit() {
        Ok(index)
    } else {
        Err(D::Error::custom(format!(
            "expected a button position \"0\" to \"9\", got {index:?}"
        )))
    }
}

/// A template button's kind (`sub_type`); upper case is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonSubType {
    /// `quick_reply`: takes a `payload` parameter.
    #[serde(alias = "QUICK_REPLY")]
    QuickReply,
    /// `url`: takes a `text` parameter, the suffix of the template's dynamic
    /// URL.
    #[serde(alias = "URL")]
    Url,
    /// `copy_code`: takes a `coupon_code` parameter.
    #[serde(alias = "COPY_CODE")]
    CopyCode,
    /// `flow`: takes an `action` parameter.
    #[serde(alias = "FLOW")]
    Flow,
}

/// One parameter, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateParameter {
    /// A text value (header at most 60 characters, body 1024, or 32768 when the
    /// body is the only component given).
    Text {
        /// The value; never empty.
        text: String,
        /// For templates with named parameters (`{{order_id}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// An amount of money, localised on the person's phone.
    Currency {
        /// The amount and its currency.
        currency: Currency,
        /// For templates with named parameters (`{{order_id}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// A date and time, given as the text to show.
    DateTime {
        /// The text to show.
        date_time: DateTime,
        /// For templates with named parameters (`{{order_id}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    /// A header image (no caption).
    Image {
        /// The image, by id or link.
        image: Media,
    },
    /// A header document (no caption).
    Document {
        /// The document, by id or link.
        document: Media,
    },
    /// A header video (no caption).
    Video {
        /// The video, by id or link.
        video: Media,
    },
    /// A header location.
    Location {
        /// The place.
        location: Location,
    },
    /// A quick-reply button's payload, returned when the person taps it.
    Payload {
        /// The payload; never empty.
        payload: String,
    },
    /// A copy-code button's code.
    CouponCode {
        /// The code the button copies; at most 15 characters.
        coupon_code: String,
    },
    /// A flow button's token and initial data.
    Action {
        /// The flow's token and initial data.
        action: FlowButtonAction,
    },
}

/// Meta's `currency` parameter object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Currency {
    /// Shown when the device cannot localise the amount.
    pub fallback_value: String,
    /// ISO 4217, e.g. `USD`.
    pub code: String,
    /// The amount times 1000 (`100990` is 100.99).
    pub amount_1000: i64,
}

/// Meta's `date_time` parameter object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTime {
    /// The date and time as the person reads it; never empty.
    pub fallback_value: String,
}

/// Meta's `action` parameter of a flow button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowButtonAction {
    /// An opaque token the flow's endpoint receives (Meta's default: `unused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    /// The data the flow's first screen receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_data: Option<Map<String, Value>>,
}

impl TemplateParameter {
    /// The parameter's `type` (`text`, `image`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            TemplateParameter::Text { .. } => "text",
            TemplateParameter::Currency { .. } => "currency",
            TemplateParameter::DateTime { .. } => "date_time",
            TemplateParameter::Image { .. } => "image",
            TemplateParameter::Document { .. } => "document",
            TemplateParameter::Video { .. } => "video",
            TemplateParameter::Location { .. } => "location",
            TemplateParameter::Payload { .. } => "payload",
            TemplateParameter::CouponCode { .. } => "coupon_code",
            TemplateParameter::Action { .. } => "action",
        }
    }
}

impl Template {
    pub(super) fn validate(&self) -> Result<(), RequestError> {
        const P: &str = "message.template";
        non_empty(&format!("{P}.name"), &self.name)?;
        max_chars(&format!("{P}.name"), &self.name, limits::TEMPLATE_NAME)?;
        if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(RequestError::new(
                format!("{P}.name"),
                format!(
                    "is {:?}; template names are lowercase letters, digits and underscores",
                    self.name
                ),
            ));
        }
        let code = &self.language.code;
        let code_ok = {
            let (lang, region) = code.split_once('_').unwrap_or((code, ""));
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && (region.is_empty()
                    || ((2..=4).contains(&region.len())
                        && region.bytes().all(|b| b.is_ascii_alphanumeric())))
        };
        if !code_ok {
            return Err(RequestError::new(
                format!("{P}.language.code"),
                format!("is {code:?}; use the template's language code, e.g. en_US, pt_BR or es"),
            ));
        }
        let components = self.components.as_deref().unwrap_or_default();
        let body_only = components.len() == 1;
        let (mut header, mut body) = (false, false);
        let mut buttons = HashSet::new();
        for (c, component) in components.iter().enumerate() {
            let cp = format!("{P}.components[{c}]");
            match component {
                TemplateComponent::Header { parameters } => {
                    if std::mem::replace(&mut header, true) {
                        return Err(RequestError::new(cp, "is a second header component"));
                    }
                    if parameters.len() != 1 {
                        return Err(RequestError::new(
                            format!("{cp}.parameters"),
                            format!(
                                "has {} parameters; a header takes exactly one",
                                parameters.len()
                            ),
                        ));
                    }
                    for (i, p) in parameters.iter().enumerate() {
                        let pp = format!("{cp}.parameters[{i}]");
                        match p {
                            TemplateParameter::Text { text, .. } => {
                                non_empty(&format!("{pp}.text"), text)?;
                                max_chars(
                                    &format!("{pp}.text"),
                                    text,
                                    limits::TEMPLATE_HEADER_PARAM,
                                )?;
                            }
                            TemplateParameter::Currency { currency, .. } => {
                                currency.validate(&pp)?
                            }
                            TemplateParameter::DateTime { date_time, .. } => non_empty(
                                &format!("{pp}.date_time.fallback_value"),
                                &date_time.fallback_value,
                            )?,
                            TemplateParameter::Image { image } => {
                                image.validate(&format!("{pp}.image"), MediaKind::Image)?;
                                no_caption(&format!("{pp}.image"), image)?;
                            }
                            TemplateParameter::Video { video } => {
                                video.validate(&format!("{pp}.video"), MediaKind::Video)?;
                                no_caption(&format!("{pp}.video"), video)?;
                            }
                            TemplateParameter::Document { document } => {
                                document
                                    .validate(&format!("{pp}.document"), MediaKind::Document)?;
                                no_caption(&format!("{pp}.document"), document)?;
                            }
                            TemplateParameter::Location { location } => {
                                location.validate(&format!("{pp}.location"))?
                            }
                            other => {
                                return Err(wrong_parameter(
                                    &pp,
                                    other,
                                    "a header",
                                    "text, currency, date_time, image, video, document or location",
                                ));
                            }
                        }
                    }
                }
                TemplateComponent::Body { parameters } => {
                    if std::mem::replace(&mut body, true) {
                        return Err(RequestError::new(cp, "is a second body component"));
                    }
                    let limit = if body_only {
                        limits::TEMPLATE_BODY_ONLY_PARAM
                    } else {
                        limits::TEMPLATE_BODY_PARAM
                    };
                    for (i, p) in parameters.iter().enumerate() {
                        let pp = format!("{cp}.parameters[{i}]");
                        match p {
                            TemplateParameter::Text { text, .. } => {
                                non_empty(&format!("{pp}.text"), text)?;
                                max_chars(&format!("{pp}.text"), text, limit)?;
                            }
                            TemplateParameter::Currency { currency, .. } => {
                                currency.validate(&pp)?
                            }
                            TemplateParameter::DateTime { date_time, .. } => non_empty(
                                &format!("{pp}.date_time.fallback_value"),
                                &date_time.fallback_value,
                            )?,
                            other => {
                                return Err(wrong_parameter(
                                    &pp,
                                    other,
                                    "the body",
                                    "text, currency or date_time",
                                ));
                            }
                        }
                    }
                }
                TemplateComponent::Button {
                    sub_type,
                    index,
                    parameters,
                } => {
                    if !buttons.insert(index.as_str()) {
                        return Err(RequestError::new(
                            format!("{cp}.index"),
                            format!("repeats button index {index}"),
                        ));
                    }
                    let (wanted, label) = match sub_type {
                        ButtonSubType::QuickReply => ("payload", "a quick_reply button"),
                        ButtonSubType::Url => ("text", "a url button"),
                        ButtonSubType::CopyCode => ("coupon_code", "a copy_code button"),
                        ButtonSubType::Flow => ("action", "a flow button"),
                    };
                    if parameters.len() != 1 {
                        return Err(RequestError::new(
                            format!("{cp}.parameters"),
                            format!(
                                "has {} parameters; {label} takes exactly one {wanted} parameter",
                                parameters.len()
                            ),
                        ));
                    }
                    let pp = format!("{cp}.parameters[0]");
                    match &parameters[0] {
                        TemplateParameter::Payload { payload } if wanted == "payload" => {
                            non_empty(&format!("{pp}.payload"), payload)?
                        }
                        TemplateParameter::Text { text, .. } if wanted == "text" => {
                            non_empty(&format!("{pp}.text"), text)?
                        }
                        TemplateParameter::CouponCode { coupon_code }
                            if wanted == "coupon_code" =>
                        {
                            non_empty(&format!("{pp}.coupon_code"), coupon_code)?;
                            max_chars(
                                &format!("{pp}.coupon_code"),
                                coupon_code,
                                limits::COUPON_CODE,
                            )?;
                        }
                        TemplateParameter::Action { .. } if wanted == "action" => {}
                        other => return Err(wrong_parameter(&pp, other, label, wanted)),
                    }
                }
            }
        }
        Ok(())
    }
}

fn wrong_parameter(
    path: &str,
    got: &TemplateParameter,
    place: &str,
    allowed: &str,
) -> RequestError {
    RequestError::new(
        format!("{path}.type"),
        format!("is {}; {place} takes {allowed}", got.name()),
    )
}

impl Currency {
    fn validate(&self, path: &str) -> Result<(), RequestError> {
        non_empty(
            &format!("{path}.currency.fallback_value"),
            &self.fallback_value,
        )?;
        if self.code.len() != 3 || !self.code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RequestError::new(
                format!("{path}.currency.code"),
                format!(
                    "is {:?}; use an ISO 4217 code such as USD or BRL",
                    self.code
                ),
            ));
        }
        Ok(())
    }
}
