//! Checks a `POST /{phone_number_id}/messages` body the way the Cloud API
//! does and names the first problem with Meta's code: 100 for a malformed
//! request, 131008/131009 for a missing or bad value, 132000-132016 for
//! template problems. What depends on the sandbox's state (the 24-hour
//! window, undeliverable numbers, rate limits) is decided by the caller.

use serde_json::{Map, Value, json};
use shared::send_request::limits;

use super::config::{SandboxConfig, Template, digits};

/// A call Meta would refuse: the HTTP status and Meta's error object.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub http: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    /// Meta's message (`(#131026) Message undeliverable`).
    pub message: String,
    /// `error_data.details`: what exactly is wrong.
    pub details: String,
    pub is_transient: Option<bool>,
}

impl Refusal {
    pub fn new(http: u16, code: i64, title: &str, details: impl Into<String>) -> Self {
        Self {
            http,
            code,
            subcode: None,
            message: format!("(#{code}) {title}"),
            details: details.into(),
            is_transient: None,
        }
    }

    /// 100: a malformed request.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::new(400, 100, "Invalid parameter", details)
    }

    /// 100: a required parameter is absent (Meta's own wording).
    pub fn required(param: &str) -> Self {
        let mut r = Self::invalid(format!("{param} is required"));
        r.message = format!("(#100) The parameter {param} is required.");
        r
    }

    pub fn missing_value(details: impl Into<String>) -> Self {
        Self::new(400, 131008, "Required parameter is missing", details)
    }

    pub fn bad_value(details: impl Into<String>) -> Self {
        Self::new(400, 131009, "Parameter value is not valid", details)
    }

    pub fn auth(details: impl Into<String>) -> Self {
        let mut r = Self::new(401, 190, "Invalid OAuth access token", details);
        r.message = "Invalid OAuth access token - Cannot parse access token".into();
        r
    }

    /// Meta's JSON error body.
    pub fn body(&self, fbtrace_id: &str) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": fbtrace_id,
        });
        if let Some(sub) = self.subcode {
            error["error_subcode"] = sub.into();
        }
        if let Some(t) = self.is_transient {
            error["is_transient"] = t.into();
        }
        json!({ "error": error })
    }
}

/// A call that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Send(Outbound),
    /// `status: read` for an inbound message.
    MarkRead {
        message_id: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// As the caller wrote it (echoed in `contacts[].input`).
    pub input: String,
    /// The customer: E.164 digits for a phone send, the BSUID for a send
    /// by `recipient` alone.
    pub to: String,
    /// The send named the customer by BSUID only (Meta's `recipient`).
    pub by_user_id: bool,
    pub kind: String,
    pub callback: Option<String>,
    pub template: Option<(String, String)>,
    /// Pricing category: the template's, or `service` for free-form.
    pub category: String,
    /// Allowed only inside the 24-hour customer service window.
    pub free_form: bool,
}

const TYPES: &[&str] = &[
    "text",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
];

/// Checks a body against Meta's rules and the template catalogue.
pub fn check(body: &[u8], config: &SandboxConfig) -> Result<Call, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::invalid(format!("the body is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Refusal::invalid("the body must be a JSON object"));
    };
    match obj.get("messaging_product") {
        None => return Err(Refusal::required("messaging_product")),
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(_) => {
            return Err(Refusal::invalid("messaging_product must be \"whatsapp\""));
        }
    }
    if let Some(status) = obj.get("status") {
        if status != "read" {
            return Err(Refusal::invalid("status must be \"read\" (mark as read)"));
        }
        let id = string(&obj, "message_id", "message_id")?;
        return Ok(Call::MarkRead {
            message_id: id.to_owned(),
        });
    }
    if let Some(rt) = obj.get("recipient_type")
        && rt != "individual"
        && rt != "group"
    {
        return Err(Refusal::invalid("recipient_type must be \"individual\""));
    }
    // Meta's rule: `to` wins when both are set; `recipient` alone is a BSUID.
    let by_user_id = obj.get("to").is_none() && obj.get("recipient").is_some();
    let (input, to) = if by_user_id {
        let input = string(&obj, "recipient", "recipient")?.to_owned();
        shared::customer::check_user_id(&input)
            .map_err(|reason| Refusal::invalid(format!("recipient: {input:?} {reason}")))?;
        (input.clone(), input)
    } else {
        let input = string(&obj, "to", "to")?.to_owned();
        let to = digits(&input);
        let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
        if !input.chars().all(allowed) || !(5..=15).contains(&to.len()) {
            return Err(Refusal::invalid(format!(
                "to: {input:?} is not a phone number in international format"
            )));
        }
        (input, to)
    };
    let kind = match obj.get("type") {
        None => "text",
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.as_str(),
        Some(other) => {
            return Err(Refusal::invalid(format!(
                "type {other} is not one of {}",
                TYPES.join(", ")
            )));
        }
    };
    let callback = match obj.get("biz_opaque_callback_data") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= limits::MESSAGE_ID => Some(s.clone()),
        Some(_) => {
            return Err(Refusal::invalid(format!(
                "biz_opaque_callback_data must be a string of at most {} characters",
                limits::MESSAGE_ID
            )));
        }
    };
    if let Some(context) = obj.get("context") {
        let ok = context
            .get("message_id")
            .and_then(Value::as_str)
            .is_some_and(|id| !id.is_empty());
        if !ok {
            return Err(Refusal::required("context['message_id']"));
        }
    }
    if kind == "contacts" {
        check_contacts(obj.get("contacts").unwrap_or(&Value::Null))?;
        return Ok(Call::Send(Outbound {
            input,
            to,
            by_user_id,
            kind: kind.to_owned(),
            callback,
            template: None,
            category: "service".into(),
            free_form: true,
        }));
    }
    let content = match obj.get(kind) {
        Some(Value::Object(content)) => content,
        Some(_) => return Err(Refusal::invalid(format!("{kind} must be an object"))),
        None => return Err(Refusal::required(kind)),
    };
    let mut category = "service".to_owned();
    let mut template = None;
    match kind {
        "text" => {
            let body = string(content, "body", "text['body']")?;
            too_long("text['body']", body, limits::TEXT_BODY)?;
        }
        "image" | "video" | "document" | "audio" | "sticker" => media(kind, content)?,
        "location" => {
            for (key, range) in [("latitude", 90.0), ("longitude", 180.0)] {
                match content.get(key).and_then(Value::as_f64) {
                    Some(v) if v.abs() <= range => {}
                    Some(_) => {
                        return Err(Refusal::bad_value(format!(
                            "location['{key}'] is out of range"
                        )));
                    }
                    None => return Err(Refusal::required(&format!("location['{key}']"))),
                }
            }
        }
        "interactive" => interactive(content)?,
        "reaction" => {
            string(content, "message_id", "reaction['message_id']")?;
            if !content.get("emoji").is_some_and(Value::is_string) {
                return Err(Refusal::required("reaction['emoji']"));
            }
        }
        "template" => {
            let t = template_call(content, config)?;
            category = t.category.clone();
            template = Some((t.name.clone(), t.language.clone()));
        }
        _ => {}
    }
    if by_user_id && category == "authentication" {
        return Err(Refusal::new(
            400,
            shared::cloud_api::BSUID_RECIPIENT_NOT_ALLOWED,
            "BSUID recipient not allowed",
            "Authentication templates (one-tap, zero-tap, copy code) need the recipient's phone number: send with \"to\".",
        ));
    }
    Ok(Call::Send(Outbound {
        input,
        to,
        by_user_id,
        kind: kind.to_owned(),
        callback,
        template,
        category,
        free_form: kind != "template",
    }))
}

/// `contacts` is the one type whose object is an array of cards.
fn check_contacts(cards: &Value) -> Result<(), Refusal> {
    let Some(cards) = cards.as_array().filter(|c| !c.is_empty()) else {
        return Err(Refusal::required("contacts"));
    };
    for (i, card) in cards.iter().enumerate() {
        let ok = card
            .pointer("/name/formatted_name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.trim().is_empty());
        if !ok {
            return Err(Refusal::required(&format!(
                "contacts[{i}]['name']['formatted_name']"
            )));
        }
    }
    Ok(())
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, Refusal> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Refusal::missing_value(format!("{path} is empty"))),
        Some(_) => Err(Refusal::invalid(format!("{path} must be a string"))),
        None => Err(Refusal::required(path)),
    }
}

fn too_long(path: &str, value: &str, limit: usize) -> Result<(), Refusal> {
    let n = value.chars().count();
    if n > limit {
        return Err(Refusal::invalid(format!(
            "{path} has {n} characters; the limit is {limit}"
        )));
    }
    Ok(())
}

fn media(kind: &str, content: &Map<String, Value>) -> Result<(), Refusal> {
    let id = content
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let link = content
        .get("link")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (id, link) {
        (Some(_), Some(_)) => {
            return Err(Refusal::invalid(format!(
                "{kind}: give either id or link, not both"
            )));
        }
        (None, None) => {
            return Err(Refusal::required(&format!(
                "{kind}['id'] or {kind}['link']"
            )));
        }
        (None, Some(link)) if shared::check::http_url(link).is_err() => {
            return Err(Refusal::bad_value(format!(
                "{kind}['link'] must be an http(s) URL"
            )));
        }
        _ => {}
    }
    if let Some(caption) = content.get("caption") {
        if matches!(kind, "audio" | "sticker") {
            return Err(Refusal::invalid(format!("{kind} messages take no caption")));
        }
        let caption = caption
            .as_str()
            .ok_or_else(|| Refusal::invalid(format!("{kind}['caption'] must be a string")))?;
        too_long(&format!("{kind}['caption']"), caption, limits::CAPTION)?;
    }
    Ok(())
}

fn interactive(content: &Map<String, Value>) -> Result<(), Refusal> {
    let kind = string(content, "type", "interactive['type']")?;
    let body = || -> Result<&str, Refusal> {
        content
            .get("body")
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Refusal::required("interactive['body']['text']"))
    };
    let action = content
        .get("action")
        .and_then(Value::as_object)
        .ok_or_else(|| Refusal::required("interactive['action']"));
    match kind {
        "button" => {
            too_long(
                "interactive['body']['text']",
                body()?,
                limits::INTERACTIVE_BODY,
            )?;
            let buttons = action?
                .get("buttons")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or_else(|| Refusal::required("interactive['action']['buttons']"))?;
            if buttons.len() > limits::REPLY_BUTTONS {
                return Err(Refusal::invalid(format!(
                    "interactive['action']['buttons'] has {}; the limit is {}",
                    buttons.len(),
                    limits::REPLY_BUTTONS
                )));
            }
            let mut ids = std::collections::HashSet::new();
            for (i, b) in buttons.iter().enumerate() {
                let path = format!("interactive['action']['buttons'][{i}]['reply']");
                let id = b
                    .pointer("/reply/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let title = b
                    .pointer("/reply/title")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if id.is_empty() || title.is_empty() {
                    return Err(Refusal::required(&format!("{path}['id'] and ['title']")));
                }
                too_long(
                    &format!("{path}['title']"),
                    title,
                    limits::REPLY_BUTTON_TITLE,
                )?;
                too_long(&format!("{path}['id']"), id, limits::REPLY_BUTTON_ID)?;
                if !ids.insert(id) {
                    return Err(Refusal::invalid(format!(
                        "{path}['id'] {id:?} is not unique"
                    )));
                }
            }
        }
        "list" => {
            too_long("interactive['body']['text']", body()?, limits::LIST_BODY)?;
            let action = action?;
            let button = action
                .get("button")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if button.is_empty() {
                return Err(Refusal::required("interactive['action']['button']"));
            }
            too_long(
                "interactive['action']['button']",
                button,
                limits::LIST_BUTTON,
            )?;
            let sections = action
                .get("sections")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty() && s.len() <= limits::LIST_SECTIONS)
                .ok_or_else(|| {
                    Refusal::invalid(format!(
                        "interactive['action']['sections'] needs 1 to {} sections",
                        limits::LIST_SECTIONS
                    ))
                })?;
            let rows: usize = sections
                .iter()
                .map(|s| s.get("rows").and_then(Value::as_array).map_or(0, Vec::len))
                .sum();
            if rows == 0 || rows > limits::LIST_ROWS {
                return Err(Refusal::invalid(format!(
                    "a list needs 1 to {} rows in all; it has {rows}",
                    limits::LIST_ROWS
                )));
            }
        }
        "cta_url" => {
            body()?;
            let params = action?
                .get("parameters")
                .ok_or_else(|| Refusal::required("interactive['action']['parameters']"))?;
            let text = params
                .get("display_text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let url = params
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if text.is_empty() || url.is_empty() {
                return Err(Refusal::required(
                    "interactive['action']['parameters']['display_text'] and ['url']",
                ));
            }
            too_long(
                "interactive['action']['parameters']['display_text']",
                text,
                limits::CTA_DISPLAY_TEXT,
            )?;
        }
        "flow" => {
            body()?;
            action?;
        }
        "location_request_message" => {
            body()?;
        }
        "product" | "product_list" | "catalog_message" | "call_permission_request" => {}
        other => {
            return Err(Refusal::invalid(format!(
                "interactive['type'] {other:?} is not a known interactive type"
            )));
        }
    }
    Ok(())
}

fn template_call<'c>(
    content: &Map<String, Value>,
    config: &'c SandboxConfig,
) -> Result<&'c Template, Refusal> {
    let name = string(content, "name", "template['name']")?;
    let language = content
        .get("language")
        .and_then(|l| l.get("code"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Refusal::required("template['language']['code']"))?;
    let Some(template) = config.template(name, language) else {
        let details = if config.has_template_named(name) {
            format!("template name ({name}) does not exist in {language}")
        } else {
            format!("template name ({name}) does not exist")
        };
        return Err(Refusal::new(
            404,
            132001,
            "Template name does not exist in the translation",
            details,
        ));
    };
    match template.status.as_str() {
        "PAUSED" => {
            return Err(Refusal::new(
                400,
                132015,
                "Template is Paused",
                format!("template {name} ({language}) is paused for low quality"),
            ));
        }
        "DISABLED" => {
            return Err(Refusal::new(
                400,
                132016,
                "Template is disabled",
                format!("template {name} ({language}) is disabled"),
            ));
        }
        _ => {}
    }
    let components = match content.get("components") {
        None => Vec::new(),
        Some(Value::Array(c)) => c.iter().collect(),
        Some(_) => return Err(Refusal::invalid("template['components'] must be an array")),
    };
    let mismatch = |part: &str, got: usize, expected: usize| {
        Refusal::new(
            400,
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "{part}: number of localizable_params ({got}) does not match the expected number of params ({expected})"
            ),
        )
    };
    let mut body_params = 0;
    let mut body_names: Vec<Option<&str>> = Vec::new();
    let mut header_params: Vec<&Value> = Vec::new();
    let mut buttons_seen = vec![0usize; template.buttons.len()];
    let body_only = template.header.is_none() && template.buttons.is_empty();
    for (i, component) in components.iter().enumerate() {
        let kind = component
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| Refusal::required(&format!("template['components'][{i}]['type']")))?;
        let params: Vec<&Value> = match component.get("parameters") {
            None => Vec::new(),
            Some(Value::Array(p)) => p.iter().collect(),
            Some(_) => {
                return Err(Refusal::invalid(format!(
                    "template['components'][{i}]['parameters'] must be an array"
                )));
            }
        };
        for (j, p) in params.iter().enumerate() {
            parameter(
                &format!("template['components'][{i}]['parameters'][{j}]"),
                p,
            )?;
        }
        match kind.as_str() {
            "body" => {
                let limit = if body_only {
                    limits::TEMPLATE_BODY_ONLY_PARAM
                } else {
                    limits::TEMPLATE_BODY_PARAM
                };
                for p in &params {
                    if let Some(text) = p.get("text").and_then(Value::as_str)
                        && text.chars().count() > limit
                    {
                        return Err(Refusal::new(
                            400,
                            132005,
                            "Translated text too long",
                            format!("a body parameter has more than {limit} characters"),
                        ));
                    }
                }
                body_params += params.len();
                body_names.extend(
                    params
                        .iter()
                        .map(|p| p.get("parameter_name").and_then(Value::as_str)),
                );
            }
            "header" => header_params.extend(params),
            "button" => {
                let index = component
                    .get("index")
                    .and_then(|v| match v {
                        Value::String(s) => s.parse::<usize>().ok(),
                        Value::Number(n) => n.as_u64().map(|n| n as usize),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        Refusal::required(&format!("template['components'][{i}]['index']"))
                    })?;
                let Some(button) = template.buttons.get(index) else {
                    return Err(Refusal::bad_value(format!(
                        "template {name} has no button at index {index}"
                    )));
                };
                let sub_type = component
                    .get("sub_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !sub_type.eq_ignore_ascii_case(&button.sub_type) {
                    return Err(Refusal::bad_value(format!(
                        "button {index} of {name} is {}, not {sub_type:?}",
                        button.sub_type
                    )));
                }
                buttons_seen[index] += params.len();
            }
            other => {
                return Err(Refusal::invalid(format!(
                    "template['components'][{i}]['type'] {other:?} takes no parameters; use header, body or button"
                )));
            }
        }
    }
    if !template.body_param_names.is_empty() {
        // A named template: each of its names once, nothing else.
        let names = &template.body_param_names;
        let given: Vec<&str> = body_names.iter().flatten().copied().collect();
        if given.len() != body_names.len()
            || given.iter().any(|g| !names.iter().any(|n| n == g))
            || names.iter().any(|n| !given.contains(&n.as_str()))
        {
            return Err(Refusal::new(
                400,
                132000,
                "Number of parameters does not match the expected number of params",
                format!("body: expected the named parameters {}", names.join(", ")),
            ));
        }
    } else if body_params != template.body_params {
        return Err(mismatch("body", body_params, template.body_params));
    }
    match template.header.as_deref() {
        Some("text") | None => {
            if header_params.len() != template.header_params {
                return Err(mismatch(
                    "header",
                    header_params.len(),
                    template.header_params,
                ));
            }
            for p in &header_params {
                if let Some(text) = p.get("text").and_then(Value::as_str) {
                    too_long("header parameter", text, limits::TEMPLATE_HEADER_PARAM)?;
                }
            }
        }
        Some(format) => match header_params.as_slice() {
            [] => {
                return Err(Refusal::missing_value(format!(
                    "template {name} has a {format} header: give it as a header parameter"
                )));
            }
            [p] if p.get("type").and_then(Value::as_str) == Some(format) => {}
            _ => {
                return Err(Refusal::new(
                    400,
                    132012,
                    "Parameter format does not match format in the created template",
                    format!("header: expected one {format} parameter"),
                ));
            }
        },
    }
    for (index, (button, seen)) in template.buttons.iter().zip(&buttons_seen).enumerate() {
        if *seen != button.params {
            return Err(mismatch(&format!("button {index}"), *seen, button.params));
        }
    }
    Ok(template)
}

fn parameter(path: &str, p: &Value) -> Result<(), Refusal> {
    let kind = p
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::required(&format!("{path}['type']")))?;
    let present = |key: &str| p.get(key).is_some_and(|v| !v.is_null());
    let ok = match kind {
        "text" => p
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.trim().is_empty()),
        "payload" => p
            .get("payload")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty()),
        "coupon_code" => p
            .get("coupon_code")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty() && c.chars().count() <= limits::COUPON_CODE),
        "currency" => p
            .get("currency")
            .is_some_and(|c| c.get("fallback_value").is_some() && c.get("code").is_some()),
        "date_time" => p
            .get("date_time")
            .is_some_and(|d| d.get("fallback_value").is_some()),
        "image" | "video" | "document" => p
            .get(kind)
            .is_some_and(|m| m.get("link").is_some() || m.get("id").is_some()),
        "location" | "action" | "product" => present(kind),
        other => {
            return Err(Refusal::invalid(format!(
                "{path}['type'] {other:?} is not a parameter type"
            )));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::missing_value(format!(
            "{path}: parameter of type {kind} is missing its {kind} value"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SandboxConfig {
        SandboxConfig::default()
    }

    fn code(body: Value) -> i64 {
        match check(body.to_string().as_bytes(), &cfg()) {
            Ok(call) => panic!("expected a refusal for {body}, got {call:?}"),
            Err(r) => r.code,
        }
    }

    fn template(name: &str, lang: &str, body: &[&str]) -> Value {
        let params: Vec<Value> = body
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        json!({"messaging_product": "whatsapp", "to": "+5511988887777", "type": "template",
               "biz_opaque_callback_data": "m-1",
               "template": {"name": name, "language": {"code": lang},
                            "components": [{"type": "body", "parameters": params}]}})
    }

    #[test]
    fn a_good_template_call_passes_with_its_category() {
        let call = check(
            template("appointment_reminder", "pt_BR", &["Ana", "10h"])
                .to_string()
                .as_bytes(),
            &cfg(),
        )
        .unwrap();
        let Call::Send(out) = call else { panic!() };
        assert_eq!(out.to, "5511988887777");
        assert_eq!(out.input, "+5511988887777");
        assert_eq!(out.callback.as_deref(), Some("m-1"));
        assert_eq!(out.category, "utility");
        assert!(!out.free_form);
    }

    #[test]
    fn template_problems_get_metas_codes() {
        assert_eq!(
            code(template("appointment_reminder", "pt_BR", &["Ana"])),
            132000
        );
        assert_eq!(code(template("no_such_template", "pt_BR", &[])), 132001);
        assert_eq!(
            code(template("appointment_reminder", "fr_FR", &["a", "b"])),
            132001
        );
        assert_eq!(code(template("spring_sale", "en_US", &["x"])), 132015);
        assert_eq!(code(template("legacy_notice", "en_US", &[])), 132016);
        assert_eq!(
            code(template("appointment_reminder", "pt_BR", &["Ana", " "])),
            131008
        );
        let long = "x".repeat(limits::TEMPLATE_BODY_PARAM + 1);
        assert_eq!(
            code(template("appointment_reminder", "pt_BR", &["Ana", &long])),
            132005
        );
        // a document header must be given, as a document
        assert_eq!(
            code(template("purchase_order", "en_US", &["a", "b"])),
            131008
        );
        let mut t = template("purchase_order", "en_US", &["a", "b"]);
        t["template"]["components"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/y.png"}}]}));
        assert_eq!(code(t), 132012);
        // a url button with its suffix passes; without it, 132000
        let mut t = template("order_update", "en_US", &["Ana", "A-1", "shipped"]);
        let comps = t["template"]["components"].as_array_mut().unwrap();
        comps.push(json!({"type": "header", "parameters": [{"type": "text", "text": "Order"}]}));
        let ok = t.clone();
        assert_eq!(code(t), 132000);
        let mut ok = ok;
        ok["template"]["components"].as_array_mut().unwrap().push(json!(
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-1"}]}));
        assert!(check(ok.to_string().as_bytes(), &cfg()).is_ok());
    }

    #[test]
    fn malformed_calls_are_code_100() {
        let base = json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text", "text": {"body": "hi"}});
        assert!(check(base.to_string().as_bytes(), &cfg()).is_ok());
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = base.clone();
            b.as_object_mut().unwrap().remove(k);
            b
        };
        assert_eq!(code(without("messaging_product")), 100);
        assert_eq!(code(with("messaging_product", json!("sms"))), 100);
        assert_eq!(code(without("to")), 100);
        assert_eq!(code(with("to", json!("call me"))), 100);
        assert_eq!(code(with("type", json!("fax"))), 100);
        assert_eq!(code(without("text")), 100);
        assert_eq!(code(with("text", json!({"body": "x".repeat(4097)}))), 100);
        assert_eq!(
            code(with("biz_opaque_callback_data", json!("x".repeat(513)))),
            100
        );
        assert_eq!(code(with("context", json!({}))), 100);
        assert!(check(b"not json", &cfg()).is_err());
        assert!(check(b"[1]", &cfg()).is_err());
    }

    #[test]
    fn media_interactive_and_read_receipts() {
        let msg = |kind: &str, content: Value| {
            let mut m =
                json!({"messaging_product": "whatsapp", "to": "5511988887777", "type": kind});
            m[kind] = content;
            m
        };
        assert!(
            check(
                msg("image", json!({"link": "https://x/a.png", "caption": "hi"}))
                    .to_string()
                    .as_bytes(),
                &cfg()
            )
            .is_ok()
        );
        assert_eq!(
            code(msg("image", json!({"link": "https://x", "id": "1"}))),
            100
        );
        assert_eq!(code(msg("image", json!({"caption": "no media"}))), 100);
        assert_eq!(code(msg("audio", json!({"id": "1", "caption": "no"}))), 100);
        assert_eq!(code(msg("image", json!({"link": "ftp://x"}))), 131009);
        let buttons: Vec<Value> = (0..4)
            .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": "T"}}))
            .collect();
        assert_eq!(
            code(msg(
                "interactive",
                json!({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": buttons}})
            )),
            100
        );
        assert!(check(msg("interactive", json!({"type": "button", "body": {"text": "Pick"}, "action": {"buttons": [buttons[0]]}})).to_string().as_bytes(), &cfg()).is_ok());
        assert_eq!(
            code(msg("location", json!({"latitude": 91.0, "longitude": 0.0}))),
            131009
        );
        let read =
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"});
        assert_eq!(
            check(read.to_string().as_bytes(), &cfg()).unwrap(),
            Call::MarkRead {
                message_id: "wamid.X".into()
            }
        );
    }

    #[test]
    fn refusals_serialise_as_metas_error_object() {
        let mut r = Refusal::new(500, 131000, "Something went wrong", "try again");
        r.is_transient = Some(true);
        let body = r.body("Atrace");
        assert_eq!(body["error"]["code"], 131000);
        assert_eq!(body["error"]["message"], "(#131000) Something went wrong");
        assert_eq!(body["error"]["error_data"]["details"], "try again");
        assert_eq!(body["error"]["is_transient"], true);
        assert_eq!(body["error"]["fbtrace_id"], "Atrace");
    }
}
