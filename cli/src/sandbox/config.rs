//! What the sandbox knows and how it misbehaves: credentials, the template
//! catalogue, per-number outcomes, webhook timing and the fault knobs. One
//! JSON document, readable from a file, changeable at run time through
//! `POST /_sandbox/config` with a partial document.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The built-in template catalogue (`cli/sandbox/templates.json`).
pub const DEFAULT_TEMPLATES: &str = include_str!("../../sandbox/templates.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// The bearer token calls must carry (code 190 otherwise).
    pub access_token: String,
    /// Signs every webhook (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// Where status and inbound webhooks go; none: they wait until one is set.
    pub webhook_url: Option<String>,
    /// The WhatsApp Business Account id in webhook `entry[].id`.
    pub waba_id: String,
    /// The business number's display form, in webhook metadata.
    pub display_phone_number: String,
    /// Business phone number ids that exist; empty accepts any numeric id.
    pub phone_number_ids: Vec<String>,
    pub templates: Vec<Template>,
    /// Templates per page of `message_templates` at most (Meta's default is
    /// 25; small, so paging is exercised).
    pub template_page_size: usize,
    pub delays: Delays,
    /// Recipients Meta refuses at once: HTTP 400, code 131026.
    pub undeliverable: Vec<String>,
    /// Recipients whose messages are accepted, then fail: a `failed`
    /// status webhook with 131026 (how Meta usually reports it).
    pub fail_after_send: Vec<String>,
    /// Recipients who never read: their messages end `delivered`.
    pub unread: Vec<String>,
    /// Refuse free-form messages (131047) to anyone who has not written in
    /// the last 24 hours (through `POST /_sandbox/inbound`).
    pub enforce_window: bool,
    /// Recipients whose customer service window is always open.
    pub open_windows: Vec<String>,
    /// Calls per second per business number before 130429; none: no limit.
    pub rate_limit_per_second: Option<u32>,
    /// Share of calls answered HTTP 500, code 131000, `is_transient`.
    pub transient_rate: f64,
    /// Share of calls that are accepted (the message goes out) but answered
    /// only after `timeout_ms`, as when a response is lost on the way.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// Message ids (`biz_opaque_callback_data`) whose first accepted call is
    /// answered only after `timeout_ms`: a lost response on cue, e.g. to
    /// kill the caller while it waits (the crash window).
    pub timeout_callbacks: Vec<String>,
    /// Recipients whose messages are accepted but get no status webhook
    /// at all (a webhook subscription that lost them).
    pub silent: Vec<String>,
    /// Share of calls answered 130429 whatever the rate.
    pub throttle_rate: f64,
    /// Share of webhooks delivered twice.
    pub duplicate_rate: f64,
    /// Share of messages whose status webhooks arrive in a shuffled order.
    pub out_of_order_rate: f64,
    /// Escape `/` as `\/` and non-ASCII as `\uXXXX` in webhook bodies, as
    /// Meta does (a re-serialising receiver breaks the signature).
    pub meta_escaping: bool,
    /// Seeds every random decision; none: seeded from the clock.
    pub seed: Option<u64>,
    /// Delivery attempts per webhook before it is given up (Meta retries
    /// for days; a local loop does not need to).
    pub webhook_attempts: u32,
    /// First retry delay; doubles per attempt up to 30 s.
    pub webhook_retry_ms: u64,
    /// Webhook POSTs in flight at once.
    pub webhook_concurrency: usize,
    /// Further Meta apps (tenants' apps). The fields above are the default
    /// app's; a number of one of these apps has its webhooks signed with
    /// the app's secret and sent to `<webhook_url>/<name>`, and only the
    /// app's access token may send from it.
    pub apps: Vec<SandboxApp>,
}

/// A further Meta app and the business numbers whose webhooks it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxApp {
    /// The app's name, as in the `/webhook/<name>` route and its bindings.
    pub name: String,
    /// Signs the webhooks of the app's numbers.
    pub app_secret: String,
    /// The bearer token calls from the app's numbers must carry.
    pub access_token: String,
    /// The app's business phone number ids (no other app's, nor the
    /// default's `phone_number_ids`).
    pub phone_number_ids: Vec<String>,
    /// The WhatsApp Business Account in its webhooks' `entry[].id`.
    pub waba_id: String,
    /// The display number in its webhooks' metadata.
    #[serde(default)]
    pub display_phone_number: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            access_token: "chasqui-test-access-token".into(),
            app_secret: "chasqui-test-app-secret".into(),
            webhook_url: None,
            waba_id: "102290129340398".into(),
            display_phone_number: "15550001111".into(),
            phone_number_ids: Vec::new(),
            templates: default_templates(),
            template_page_size: 3,
            delays: Delays::default(),
            undeliverable: Vec::new(),
            fail_after_send: Vec::new(),
            unread: Vec::new(),
            enforce_window: true,
            open_windows: Vec::new(),
            rate_limit_per_second: None,
            transient_rate: 0.0,
            timeout_rate: 0.0,
            timeout_ms: 15_000,
            timeout_callbacks: Vec::new(),
            silent: Vec::new(),
            throttle_rate: 0.0,
            duplicate_rate: 0.0,
            out_of_order_rate: 0.0,
            meta_escaping: true,
            seed: None,
            webhook_attempts: 10,
            webhook_retry_ms: 500,
            webhook_concurrency: 16,
            apps: Vec::new(),
        }
    }
}

/// When each status webhook follows an accepted call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delays {
    pub sent_ms: u64,
    pub delivered_ms: u64,
    pub read_ms: u64,
    /// Each delivery is late by up to this much more.
    pub jitter_ms: u64,
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            sent_ms: 300,
            delivered_ms: 1_000,
            read_ms: 2_500,
            jitter_ms: 200,
        }
    }
}

/// One approved (or paused, or disabled) template in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// `utility`, `marketing` or `authentication`: the pricing category.
    #[serde(default = "utility")]
    pub category: String,
    /// `APPROVED`, `PAUSED` (132015) or `DISABLED` (132016).
    #[serde(default = "approved")]
    pub status: String,
    /// `text`, `image`, `video`, `document` or `location`; none: no header.
    #[serde(default)]
    pub header: Option<String>,
    /// Variables of a text header.
    #[serde(default)]
    pub header_params: usize,
    /// Variables of the body (`{{1}}`, `{{2}}`, ...).
    #[serde(default)]
    pub body_params: usize,
    #[serde(default)]
    pub buttons: Vec<TemplateButton>,
    /// The body's named variables (`{{first_name}}`): a template with
    /// names takes named parameters (`parameter_format` `NAMED`), one per
    /// name, and `body_params` is ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_param_names: Vec<String>,
    /// Meta's quality score (`GREEN` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
}

/// A button of a template, by index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateButton {
    /// `quick_reply`, `url`, `copy_code`, `flow` or `phone_number`.
    pub sub_type: String,
    /// Variables the button takes (a dynamic URL suffix, a coupon code).
    #[serde(default)]
    pub params: usize,
}

fn utility() -> String {
    "utility".into()
}

fn approved() -> String {
    "APPROVED".into()
}

/// The built-in catalogue. It is compiled in, so a parse failure is a bug
/// caught by the unit test below, never a user error.
pub fn default_templates() -> Vec<Template> {
    serde_json::from_str(DEFAULT_TEMPLATES).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("could not read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxConfig {
    /// Reads a configuration file: a whole or partial document over the
    /// defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let patch: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            reason: format!("not JSON: {e}"),
        })?;
        Self::default().patched(&patch)
    }

    /// Reads a template catalogue file (a JSON array of templates).
    pub fn templates_from_file(path: &std::path::Path) -> Result<Vec<Template>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            reason: format!("expected a JSON array of templates: {e}"),
        })
    }

    /// This configuration with `patch` merged in: objects merge key by key,
    /// anything else replaces. The result is checked as a whole.
    pub fn patched(&self, patch: &Value) -> Result<Self, ConfigError> {
        if !patch.is_object() {
            return Err(ConfigError::Invalid {
                path: "config".into(),
                reason: "expected a JSON object".into(),
            });
        }
        let mut base = serde_json::to_value(self).map_err(|e| ConfigError::Invalid {
            path: "config".into(),
            reason: e.to_string(),
        })?;
        merge(&mut base, patch);
        let mut config: SandboxConfig =
            serde_json::from_value(base).map_err(|e| ConfigError::Invalid {
                path: "config".into(),
                reason: e.to_string(),
            })?;
        config.normalise();
        config.check()?;
        Ok(config)
    }

    /// Numbers are compared as E.164 digits.
    fn normalise(&mut self) {
        for list in [
            &mut self.undeliverable,
            &mut self.fail_after_send,
            &mut self.unread,
            &mut self.open_windows,
            &mut self.silent,
        ] {
            for number in list.iter_mut() {
                *number = digits(number);
            }
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |path: &str, reason: &str| ConfigError::Invalid {
            path: path.into(),
            reason: reason.into(),
        };
        for (name, rate) in [
            ("transient_rate", self.transient_rate),
            ("timeout_rate", self.timeout_rate),
            ("throttle_rate", self.throttle_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("out_of_order_rate", self.out_of_order_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(name, "expected a share between 0 and 1"));
            }
        }
        if self.rate_limit_per_second == Some(0) {
            return Err(invalid(
                "rate_limit_per_second",
                "expected at least 1 (or null for no limit)",
            ));
        }
        if self.webhook_attempts == 0 || self.webhook_concurrency == 0 {
            return Err(invalid(
                "webhook_attempts",
                "webhook_attempts and webhook_concurrency must be at least 1",
            ));
        }
        if let Some(url) = &self.webhook_url
            && shared::check::http_url(url).is_err()
        {
            return Err(invalid(
                "webhook_url",
                "expected an http:// or https:// URL",
            ));
        }
        for (i, t) in self.templates.iter().enumerate() {
            if t.name.is_empty() || t.language.is_empty() {
                return Err(invalid(
                    &format!("templates[{i}]"),
                    "name and language are required",
                ));
            }
            if !matches!(t.status.as_str(), "APPROVED" | "PAUSED" | "DISABLED") {
                return Err(invalid(
                    &format!("templates[{i}].status"),
                    "expected APPROVED, PAUSED or DISABLED",
                ));
            }
            if let Some(h) = &t.header
                && !matches!(
                    h.as_str(),
                    "text" | "image" | "video" | "document" | "location"
                )
            {
                return Err(invalid(
                    &format!("templates[{i}].header"),
                    "expected text, image, video, document or location",
                ));
            }
        }
        self.check_apps()
    }

    /// The further app a business number belongs to; `None`: the default
    /// app's.
    pub fn app_of(&self, phone_number_id: &str) -> Option<&SandboxApp> {
        self.apps
            .iter()
            .find(|a| a.phone_number_ids.iter().any(|p| p == phone_number_id))
    }

    /// The access token calls from `phone_number_id` must carry.
    pub fn access_token_of(&self, phone_number_id: &str) -> &str {
        self.app_of(phone_number_id)
            .map_or(&self.access_token, |a| &a.access_token)
    }

    /// The WABA id and display number of `phone_number_id`'s webhooks.
    pub fn account_of(&self, phone_number_id: &str) -> (&str, &str) {
        match self.app_of(phone_number_id) {
            Some(a) => (&a.waba_id, &a.display_phone_number),
            None => (&self.waba_id, &self.display_phone_number),
        }
    }

    /// Where the webhooks of `app` (`None`: the default app) go and the
    /// secret they are signed with; `None` until a webhook URL is set. An
    /// app no longer configured falls back to the default app's.
    pub fn destination(&self, app: Option<&str>) -> Option<(String, String)> {
        let base = self.webhook_url.as_deref()?;
        Some(
            match app.and_then(|n| self.apps.iter().find(|a| a.name == n)) {
                Some(a) => (
                    format!("{}/{}", base.trim_end_matches('/'), a.name),
                    a.app_secret.clone(),
                ),
                None => (base.to_owned(), self.app_secret.clone()),
            },
        )
    }

    fn check_apps(&self) -> Result<(), ConfigError> {
        let invalid = |i: usize, field: &str, reason: String| ConfigError::Invalid {
            path: format!("apps[{i}].{field}"),
            reason,
        };
        let numeric = shared::check::numeric_id;
        let mut numbers: Vec<&str> = self.phone_number_ids.iter().map(String::as_str).collect();
        for (i, app) in self.apps.iter().enumerate() {
            shared::tenant::check_name(&app.name).map_err(|r| invalid(i, "name", r.to_owned()))?;
            if app.name == shared::tenant::DEFAULT_APP {
                return Err(invalid(
                    i,
                    "name",
                    "\"default\" is the app the top-level fields describe".into(),
                ));
            }
            if self.apps[..i].iter().any(|a| a.name == app.name) {
                return Err(invalid(i, "name", format!("{:?} is named twice", app.name)));
            }
            if app.app_secret.is_empty() || app.access_token.is_empty() {
                return Err(invalid(
                    i,
                    "app_secret",
                    "app_secret and access_token are required".into(),
                ));
            }
            if !numeric(&app.waba_id) {
                return Err(invalid(i, "waba_id", "expected a numeric id".into()));
            }
            if app.phone_number_ids.is_empty() {
                return Err(invalid(
                    i,
                    "phone_number_ids",
                    "expected the app's business phone number ids".into(),
                ));
            }
            for p in &app.phone_number_ids {
                if !numeric(p) {
                    return Err(invalid(
                        i,
                        "phone_number_ids",
                        format!("{p:?} is not a numeric id"),
                    ));
                }
                if numbers.contains(&p.as_str()) {
                    return Err(invalid(
                        i,
                        "phone_number_ids",
                        format!("{p} is already another app's (each number belongs to one app)"),
                    ));
                }
                numbers.push(p);
            }
        }
        Ok(())
    }

    pub fn template(&self, name: &str, language: &str) -> Option<&Template> {
        self.templates
            .iter()
            .find(|t| t.name == name && t.language == language)
    }

    pub fn has_template_named(&self, name: &str) -> bool {
        self.templates.iter().any(|t| t.name == name)
    }
}

/// The digits of a phone number (`+55 11 98888-7777` → `5511988887777`).
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// The sandbox's business-scoped user id of a phone number: the same for
/// the same number on every run, in Meta's shape (`BR.` and 16 digits for a
/// Brazilian number, `US.` otherwise).
pub fn user_id_of(phone: &str) -> String {
    use sha2::{Digest, Sha256};
    let digits = digits(phone);
    let hash = Sha256::digest(format!("sandbox-bsuid\n{digits}").as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&hash[..8]);
    let country = if digits.starts_with("55") { "BR" } else { "US" };
    format!("{country}.{:016}", u64::from_be_bytes(n) % 10_u64.pow(16))
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                match base.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_built_in_catalogue_parses_and_checks() {
        let templates: Vec<Template> = serde_json::from_str(DEFAULT_TEMPLATES).unwrap();
        assert!(templates.len() >= 5);
        let config = SandboxConfig::default();
        config.check().unwrap();
        let t = config.template("appointment_reminder", "pt_BR").unwrap();
        assert_eq!(t.body_params, 2);
        assert!(config.has_template_named("hello_world"));
        assert!(config.template("appointment_reminder", "xx_XX").is_none());
    }

    #[test]
    fn patches_merge_and_are_checked() {
        let c = SandboxConfig::default()
            .patched(&json!({
                "delays": {"read_ms": 5},
                "undeliverable": ["+1 555 000-9999"],
                "rate_limit_per_second": 20
            }))
            .unwrap();
        assert_eq!(c.delays.read_ms, 5);
        assert_eq!(
            c.delays.sent_ms,
            Delays::default().sent_ms,
            "nested keys merge"
        );
        assert_eq!(c.undeliverable, ["15550009999"]);
        assert_eq!(c.rate_limit_per_second, Some(20));

        for bad in [
            json!({"transient_rate": 1.5}),
            json!({"rate_limit_per_second": 0}),
            json!({"no_such_knob": true}),
            json!({"webhook_url": "localhost:9000"}),
            json!({"templates": [{"name": "x", "language": "en", "status": "LIVE"}]}),
            json!([1, 2]),
        ] {
            assert!(SandboxConfig::default().patched(&bad).is_err(), "{bad}");
        }
    }
}
