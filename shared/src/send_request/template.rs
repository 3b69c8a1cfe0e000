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
    pub language: TemplateLanguage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<TemplateComponent>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateLanguage {
    /// The template's language code, e.g. `en_US`, `pt_BR`, `es`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<LanguagePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguagePolicy {
    Deterministic,
}

/// A component's parameters; sent lowercase whatever case was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateComponent {
    #[serde(alias = "HEADER")]
    Header { parameters: Vec<TemplateParameter> },
    #[serde(alias = "BODY")]
    Body { parameters: Vec<TemplateParameter> },
    #[serde(alias = "BUTTON")]
    Button {
        sub_type: ButtonSubType,
        /// The button's position, `"0"` to `"9"` (a number is accepted).
        #[serde(deserialize_with = "button_index")]
        #[schemars(regex(pattern = r"^[0-9]$"))]
        index: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ButtonSubType {
    #[serde(alias = "QUICK_REPLY")]
    QuickReply,
    #[serde(alias = "URL")]
    Url,
    #[serde(alias = "COPY_CODE")]
    CopyCode,
    #[serde(alias = "FLOW")]
    Flow,
}

/// One parameter, by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateParameter {
    Text {
        text: String,
        /// For templates with named parameters (`{{order_id}}`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Currency {
        currency: Currency,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    DateTime {
        date_time: DateTime,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Image {
        image: Media,
    },
    Document {
        document: Media,
    },
    Video {
        video: Media,
    },
    Location {
        location: Location,
    },
    /// A quick-reply button's payload, returned when the person taps it.
    Payload {
        payload: String,
    },
    /// A copy-code button's code.
    CouponCode {
        coupon_code: String,
    },
    /// A flow button's token and initial data.
    Action {
        action: FlowButtonAction,
    },
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DateTime {
    pub fallback_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowButtonAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_action_data: Option<Map<String, Value>>,
}

impl TemplateParameter {
    fn name(&self) -> &'static str {
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
