//! The sandbox's template catalogue as Meta serves it, and its control:
//!
//! - `GET /{version}/{waba_id}/message_templates?fields=..&limit=N&after=C`:
//!   every template (each account of the sandbox has the same set), in
//!   Meta's shape, `template_page_size` at a time (less if `limit` asks),
//!   with `paging.cursors` and `paging.next` while more remain.
//! - `POST /_sandbox/templates/{name}/{language}` with any of
//!   `{"status", "reason", "quality", "category", "app"}`: changes the
//!   template (sends are then refused with Meta's codes) and delivers the
//!   matching signed webhook (`message_template_status_update`,
//!   `message_template_quality_update`, `template_category_update`) through
//!   the default app or `app`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::config::Template;
use super::delivery::schedule;
use super::validate::Refusal;
use super::{Inner, SandboxError, Webhook, webhooks};

/// Meta's template id for a sandbox template: stable per name and language.
pub fn template_id(t: &Template) -> String {
    // FNV-1a: stable across runs, digits only, as Meta's ids are.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}#{}", t.name, t.language).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}", 100_000_000_000_000 + h % 900_000_000_000_000)
}

/// One template as `message_templates` lists it.
pub fn render(t: &Template) -> Value {
    let named = !t.body_param_names.is_empty();
    let mut components = Vec::new();
    if let Some(header) = &t.header {
        let mut h = json!({"type": "HEADER", "format": header.to_ascii_uppercase()});
        if header == "text" {
            let vars: String = (1..=t.header_params)
                .map(|i| format!(" {{{{{i}}}}}"))
                .collect();
            h["text"] = json!(format!("Update{vars}"));
        }
        components.push(h);
    }
    let body: String = if named {
        t.body_param_names
            .iter()
            .map(|n| format!(" {{{{{n}}}}}"))
            .collect()
    } else {
        (1..=t.body_params)
            .map(|i| format!(" {{{{{i}}}}}"))
            .collect()
    };
    components.push(json!({"type": "BODY", "text": format!("Hello{body}.")}));
    if !t.buttons.is_empty() {
        let buttons: Vec<Value> = t
            .buttons
            .iter()
            .map(|b| match b.sub_type.as_str() {
                "url" if b.params > 0 => {
                    json!({"type": "URL", "text": "Open", "url": "https://example.com/{{1}}"})
                }
                "url" => json!({"type": "URL", "text": "Open", "url": "https://example.com/"}),
                "copy_code" => json!({"type": "COPY_CODE", "example": "CODE10"}),
                "phone_number" => {
                    json!({"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"})
                }
                other => json!({"type": other.to_ascii_uppercase(), "text": "Reply"}),
            })
            .collect();
        components.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    json!({
        "id": template_id(t),
        "name": t.name,
        "language": t.language,
        "status": t.status,
        "category": t.category.to_ascii_uppercase(),
        "parameter_format": if named { "NAMED" } else { "POSITIONAL" },
        "quality_score": {"score": t.quality.as_deref().unwrap_or("GREEN")},
        "components": components,
    })
}

/// The query of a `message_templates` call.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub after: Option<String>,
}

/// One page for the account `waba_id`, called with `bearer`.
pub(super) fn page(
    inner: &Inner,
    url: &str,
    waba_id: &str,
    bearer: Option<&str>,
    query: &PageQuery,
) -> Result<Value, Refusal> {
    let state = inner.state();
    let config = &state.config;
    let token = if waba_id == config.waba_id {
        Some(config.access_token.as_str())
    } else {
        config
            .apps
            .iter()
            .find(|a| a.waba_id == waba_id)
            .map(|a| a.access_token.as_str())
    };
    let Some(token) = token else {
        return Err(Refusal {
            subcode: Some(33),
            ..Refusal::invalid(format!(
                "Unsupported get request. Object with ID '{waba_id}' does not exist"
            ))
        });
    };
    if bearer != Some(token) {
        return Err(Refusal::new(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
            "the access token is not this account's",
        ));
    }
    let size = query
        .limit
        .unwrap_or(usize::MAX)
        .clamp(1, config.template_page_size.max(1));
    let start = match &query.after {
        None => 0,
        Some(c) => c
            .strip_prefix("QVFI")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Refusal::invalid(format!("after: {c:?} is not a cursor of this list"))
            })?,
    };
    let all = &config.templates;
    let end = (start + size).min(all.len());
    let data: Vec<Value> = all
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(render)
        .collect();
    let mut paging =
        json!({"cursors": {"before": format!("QVFI{start}"), "after": format!("QVFI{end}")}});
    if end < all.len() {
        paging["next"] = json!(format!("{url}?limit={size}&after=QVFI{end}"));
    }
    Ok(json!({"data": data, "paging": paging}))
}

/// A change asked through the control API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// `APPROVED`, `PAUSED` or `DISABLED`.
    pub status: Option<String>,
    /// Meta's reason on the status webhook (default `NONE`).
    pub reason: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub quality: Option<String>,
    /// `UTILITY`, `MARKETING` or `AUTHENTICATION`.
    pub category: Option<String>,
    /// The further app whose account's webhook it is (default: the
    /// default app's).
    pub app: Option<String>,
}

/// Applies `change` to the template and schedules one webhook per part
/// changed; answers the webhook bodies.
pub(super) fn change(
    inner: &Arc<Inner>,
    name: &str,
    language: &str,
    change: Change,
) -> Result<Value, SandboxError> {
    let (bodies, app) = {
        let mut state = inner.state();
        let waba_id = match &change.app {
            None => state.config.waba_id.clone(),
            Some(app) => state
                .config
                .apps
                .iter()
                .find(|a| &a.name == app)
                .map(|a| a.waba_id.clone())
                .ok_or_else(|| SandboxError::Invalid(format!("app: no app named {app:?}")))?,
        };
        let mut config = state.config.clone();
        let Some(t) = config
            .templates
            .iter_mut()
            .find(|t| t.name == name && t.language == language)
        else {
            return Err(SandboxError::Invalid(format!(
                "no template {name} in {language}"
            )));
        };
        let id = template_id(t);
        let mut values = Vec::new();
        let base = json!({"message_template_id": id.parse::<u64>().unwrap_or_default(),
                          "message_template_name": name, "message_template_language": language});
        let with = |field: &str, extra: Value| {
            let mut v = base.clone();
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            (field.to_owned(), v)
        };
        if let Some(status) = &change.status {
            let status = status.to_ascii_uppercase();
            t.status = status.clone();
            values.push(with(
                shared::templates::STATUS_FIELD,
                json!({"event": status, "reason": change.reason.as_deref().unwrap_or("NONE")}),
            ));
        }
        if let Some(quality) = &change.quality {
            let quality = quality.to_ascii_uppercase();
            let previous = t
                .quality
                .replace(quality.clone())
                .unwrap_or_else(|| "GREEN".into());
            values.push(with(
                shared::templates::QUALITY_FIELD,
                json!({"previous_quality_score": previous, "new_quality_score": quality}),
            ));
        }
        if let Some(category) = &change.category {
            let previous = std::mem::replace(&mut t.category, category.to_ascii_lowercase());
            values.push(with(
                shared::templates::CATEGORY_FIELD,
                json!({"previous_category": previous.to_ascii_uppercase(), "new_category": category.to_ascii_uppercase()}),
            ));
        }
        if values.is_empty() {
            return Err(SandboxError::Invalid(
                "give status, quality or category".into(),
            ));
        }
        state.config = config.patched(&json!({}))?;
        let time = shared::now_millis() / 1000;
        let bodies: Vec<Value> = values
            .into_iter()
            .map(|(field, value)| {
                json!({"object": "whatsapp_business_account",
                       "entry": [{"id": waba_id, "time": time,
                                  "changes": [{"field": field, "value": value}]}]})
            })
            .collect();
        (bodies, change.app)
    };
    let meta_escaping = inner.state().config.meta_escaping;
    for body in &bodies {
        schedule(
            inner,
            std::time::Duration::ZERO,
            Webhook {
                app: app.clone(),
                body: webhooks::encode(body, meta_escaping),
            },
        );
    }
    Ok(json!({"webhooks": bodies}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::config::default_templates;

    #[test]
    fn every_sandbox_template_reads_as_a_catalogue_entry_that_takes_what_the_sandbox_enforces() {
        for t in default_templates() {
            let entry = shared::templates::parse_template(&render(&t), 1).unwrap();
            let shape = entry.shape.unwrap();
            let expected = if t.body_param_names.is_empty() {
                t.body_params
            } else {
                t.body_param_names.len()
            };
            assert_eq!(shape.body.len(), expected, "{}", t.name);
            assert_eq!(shape.buttons.len(), t.buttons.len(), "{}", t.name);
            assert_eq!(entry.status.as_deref(), Some(t.status.as_str()));
            let header = shape.header.map(|h| (h.format, h.parameters.len()));
            let want = t.header.as_ref().map(|h| {
                (
                    h.to_ascii_uppercase(),
                    if h == "text" { t.header_params } else { 0 },
                )
            });
            assert_eq!(header, want, "{}", t.name);
        }
    }
}
