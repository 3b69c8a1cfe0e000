//! A template send compared with the catalogue, before any call.
//!
//! What is refused, and its reason (`docs/templates.md`):
//!
//! | reason | when |
//! |---|---|
//! | `template_unknown` | the name is catalogued in other languages, not this one |
//! | `template_paused` | the template is `PAUSED` (Meta: 132015) |
//! | `template_not_approved` | any other status but `APPROVED` (`DISABLED`, `PENDING`, `REJECTED`, ...) |
//! | `template_parameters` | a wrong number of header or body parameters, a named parameter missing or unknown, names given to a positional template (or none to a named one) |
//! | `template_buttons` | a button index the template lacks, a sub-type that is not the button's, a dynamic button left without its parameter |
//! | `template_header` | a header the template does not have, or of another type than the template's |
//!
//! The catalogue never blocks what it has not seen: a name with no entry,
//! or an entry not confirmed by a sync or webhook within the allowed age,
//! is not checked (Meta's answer decides). A shape is checked only while
//! no status change came after the sync that read it (an edited template is
//! approved again with a new shape).

use crate::send_request::{ButtonSubType, Template, TemplateComponent, TemplateParameter};

use super::{APPROVED, Entry, Shape};

/// Why a send does not fit its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `template_unknown`, `template_paused`, ... (the table above).
    pub reason: &'static str,
    /// JSON path of the offending part of the send request.
    pub path: String,
    /// What the template expects there.
    pub expected: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}; the template expects {}",
            self.reason, self.path, self.expected
        )
    }
}

/// Every reason [`check`] gives.
pub const REASONS: &[&str] = &[UNKNOWN, PAUSED, NOT_APPROVED, PARAMETERS, BUTTONS, HEADER];
/// The name is catalogued, the language is not.
pub const UNKNOWN: &str = "template_unknown";
/// The template is paused.
pub const PAUSED: &str = "template_paused";
/// The template is neither approved nor paused.
pub const NOT_APPROVED: &str = "template_not_approved";
/// Header or body parameters that do not fit.
pub const PARAMETERS: &str = "template_parameters";
/// Buttons that do not fit.
pub const BUTTONS: &str = "template_buttons";
/// A header of the wrong kind.
pub const HEADER: &str = "template_header";

const P: &str = "message.template";

/// Checks `send` against `entries`, the catalogue's entries of its name (in
/// every language). `now` and `max_age` are ms: an entry last confirmed
/// (synced, or changed by a webhook) longer than `max_age` ago is not
/// trusted.
pub fn check(send: &Template, entries: &[Entry], now: u64, max_age: u64) -> Result<(), Mismatch> {
    let fresh = |at: Option<u64>| at.is_some_and(|at| now.saturating_sub(at) <= max_age);
    let Some(entry) = entries.iter().find(|e| e.language == send.language.code) else {
        // Another language of the name was synced lately: this one is not
        // among the template's languages.
        let mut known: Vec<&str> = entries
            .iter()
            .filter(|e| fresh(e.synced_at))
            .map(|e| e.language.as_str())
            .collect();
        if known.is_empty() {
            return Ok(());
        }
        known.sort_unstable();
        return Err(Mismatch {
            reason: UNKNOWN,
            path: format!("{P}.language.code"),
            expected: format!("one of its languages: {}", known.join(", ")),
        });
    };
    let seen_at = entry.synced_at.max(entry.status_at);
    if !fresh(seen_at) {
        return Ok(());
    }
    if let Some(status) = entry.status.as_deref()
        && status != APPROVED
    {
        let why = entry
            .status_reason
            .as_deref()
            .map(|r| format!(" (Meta's reason: {r})"))
            .unwrap_or_default();
        return Err(Mismatch {
            reason: if status == "PAUSED" {
                PAUSED
            } else {
                NOT_APPROVED
            },
            path: format!("{P}.name"),
            expected: format!(
                "an APPROVED template; {} ({}) is {status}{why}",
                entry.name, entry.language
            ),
        });
    }
    // A status change after the sync that read the shape may be an edited
    // template approved again: its shape is unconfirmed until the next sync.
    let confirmed = entry.synced_at >= entry.status_at;
    match &entry.shape {
        Some(shape) if fresh(entry.synced_at) && confirmed => check_shape(send, shape),
        _ => Ok(()),
    }
}

fn count(n: usize) -> String {
    match n {
        0 => "no parameters".into(),
        1 => "1 parameter".into(),
        n => format!("{n} parameters"),
    }
}

fn listed(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{{{{{n}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the template expects of a send, one line per component: what
/// `chasqui templates show` prints and mismatches quote.
pub fn describe(shape: &Shape) -> Vec<String> {
    let mut lines = vec![format!("parameters: {}", shape.parameter_format)];
    match &shape.header {
        Some(h) if h.format == "TEXT" && !h.parameters.is_empty() => lines.push(format!(
            "header: TEXT, {} ({})",
            count(h.parameters.len()),
            listed(&h.parameters)
        )),
        Some(h) if h.format == "TEXT" => lines.push("header: TEXT, no parameters".into()),
        Some(h) => lines.push(format!(
            "header: {}, one {} parameter",
            h.format,
            h.format.to_ascii_lowercase()
        )),
        None => lines.push("header: none".into()),
    }
    if shape.body.is_empty() {
        lines.push("body: no parameters".into());
    } else {
        lines.push(format!(
            "body: {} ({})",
            count(shape.body.len()),
            listed(&shape.body)
        ));
    }
    for (i, b) in shape.buttons.iter().enumerate() {
        let needs = match b.kind.as_str() {
            "URL" | "OTP" if b.dynamic => "a text parameter (the URL suffix); sub_type url",
            "COPY_CODE" => "a coupon_code parameter; sub_type copy_code",
            "QUICK_REPLY" => "optionally a payload parameter; sub_type quick_reply",
            "FLOW" => "optionally an action parameter; sub_type flow",
            _ => "nothing",
        };
        lines.push(format!("button {i}: {}, takes {needs}", b.kind));
    }
    lines
}

fn header_kind(p: &TemplateParameter) -> &'static str {
    match p {
        TemplateParameter::Image { .. } => "IMAGE",
        TemplateParameter::Video { .. } => "VIDEO",
        TemplateParameter::Document { .. } => "DOCUMENT",
        TemplateParameter::Location { .. } => "LOCATION",
        _ => "TEXT",
    }
}

fn parameter_name(p: &TemplateParameter) -> Option<&str> {
    match p {
        TemplateParameter::Text { parameter_name, .. }
        | TemplateParameter::Currency { parameter_name, .. }
        | TemplateParameter::DateTime { parameter_name, .. } => parameter_name.as_deref(),
        _ => None,
    }
}

/// Whether a send's button `sub_type` drives a template button of `kind`
/// (authentication templates' `OTP` buttons are sent as `url` or
/// `copy_code`).
fn drives(sub_type: ButtonSubType, kind: &str) -> bool {
    match sub_type {
        ButtonSubType::QuickReply => kind == "QUICK_REPLY",
        ButtonSubType::Url => matches!(kind, "URL" | "OTP"),
        ButtonSubType::CopyCode => matches!(kind, "COPY_CODE" | "OTP"),
        ButtonSubType::Flow => kind == "FLOW",
    }
}

/// Named or positional parameters against the template's placeholders.
fn check_parameters(
    path: &str,
    present: bool,
    place: &str,
    given: &[TemplateParameter],
    wanted: &[String],
    named: bool,
) -> Result<(), Mismatch> {
    let mismatch = |path: String, expected: String| Mismatch {
        reason: PARAMETERS,
        path,
        expected,
    };
    let all = || format!("{place} takes {} ({})", count(wanted.len()), listed(wanted));
    // The component's parameters, or the components when it is absent.
    let list = if present {
        format!("{path}.parameters")
    } else {
        path.to_owned()
    };
    if named {
        for (i, p) in given.iter().enumerate() {
            match parameter_name(p) {
                None => {
                    return Err(mismatch(
                        format!("{path}.parameters[{i}].parameter_name"),
                        format!("named parameters: {}", all()),
                    ));
                }
                Some(name) if !wanted.iter().any(|w| w == name) => {
                    return Err(mismatch(
                        format!("{path}.parameters[{i}].parameter_name"),
                        format!("no parameter {name:?}: {}", all()),
                    ));
                }
                Some(_) => {}
            }
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|w| !given.iter().any(|p| parameter_name(p) == Some(w.as_str())))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(mismatch(
                list.clone(),
                format!("{} too: {}", listed(&missing), all()),
            ));
        }
    } else if let Some(i) = given.iter().position(|p| parameter_name(p).is_some()) {
        return Err(mismatch(
            format!("{path}.parameters[{i}].parameter_name"),
            format!("positional parameters (no parameter_name): {}", all()),
        ));
    }
    if given.len() != wanted.len() {
        return Err(mismatch(list, format!("{}, got {}", all(), given.len())));
    }
    Ok(())
}

fn check_shape(send: &Template, shape: &Shape) -> Result<(), Mismatch> {
    let components = send.components.as_deref().unwrap_or_default();
    let named = shape.parameter_format == "NAMED";
    let (mut header, mut body) = (None, None);
    for (c, component) in components.iter().enumerate() {
        let cp = format!("{P}.components[{c}]");
        match component {
            TemplateComponent::Header { parameters } => header = Some((cp, parameters)),
            TemplateComponent::Body { parameters } => body = Some((cp, parameters)),
            TemplateComponent::Button {
                sub_type, index, ..
            } => {
                let i: usize = index.parse().unwrap_or(usize::MAX);
                let Some(button) = shape.buttons.get(i) else {
                    return Err(Mismatch {
                        reason: BUTTONS,
                        path: format!("{cp}.index"),
                        expected: format!(
                            "a button index below {} (the template has {} button(s))",
                            shape.buttons.len(),
                            shape.buttons.len()
                        ),
                    });
                };
                if !drives(*sub_type, &button.kind) {
                    return Err(Mismatch {
                        reason: BUTTONS,
                        path: format!("{cp}.sub_type"),
                        expected: format!("button {i} is {}", button.kind),
                    });
                }
            }
        }
    }
    // Dynamic buttons need their parameter.
    for (i, b) in shape.buttons.iter().enumerate() {
        let given = components.iter().any(|c| {
            matches!(c, TemplateComponent::Button { index, .. } if index.parse::<usize>() == Ok(i))
        });
        if b.dynamic && !given {
            return Err(Mismatch {
                reason: BUTTONS,
                path: format!("{P}.components"),
                expected: format!(
                    "a button component for index {i} ({}): its parameter is required",
                    b.kind
                ),
            });
        }
    }
    match (&shape.header, header) {
        (None, Some((cp, _))) => {
            return Err(Mismatch {
                reason: HEADER,
                path: cp,
                expected: "no header component (the template has no header)".into(),
            });
        }
        (Some(h), given) if h.format != "TEXT" => {
            let Some((cp, parameters)) = given else {
                return Err(Mismatch {
                    reason: HEADER,
                    path: format!("{P}.components"),
                    expected: format!(
                        "a header component with one {} parameter",
                        h.format.to_ascii_lowercase()
                    ),
                });
            };
            if let Some(p) = parameters.first()
                && header_kind(p) != h.format
            {
                return Err(Mismatch {
                    reason: HEADER,
                    path: format!("{cp}.parameters[0].type"),
                    expected: format!("a {} header", h.format.to_ascii_lowercase()),
                });
            }
        }
        (Some(h), given) => {
            let present = given.is_some();
            let (cp, parameters) = match given {
                Some((cp, p)) => (cp, p.as_slice()),
                None => (format!("{P}.components"), &[][..]),
            };
            if let Some(p) = parameters.first()
                && header_kind(p) != "TEXT"
            {
                return Err(Mismatch {
                    reason: HEADER,
                    path: format!("{cp}.parameters[0].type"),
                    expected: "a text header".into(),
                });
            }
            check_parameters(&cp, present, "the header", parameters, &h.parameters, named)?;
        }
        (None, None) => {}
    }
    let present = body.is_some();
    let (cp, parameters) = match body {
        Some((cp, p)) => (cp, p.as_slice()),
        None => (format!("{P}.components"), &[][..]),
    };
    check_parameters(&cp, present, "the body", parameters, &shape.body, named)
}

/// An example send request for a template: what `chasqui templates show`
/// prints.
pub fn example(entry: &Entry) -> serde_json::Value {
    use serde_json::json;
    let mut components = Vec::new();
    let named = entry
        .shape
        .as_ref()
        .is_some_and(|s| s.parameter_format == "NAMED");
    let param = |name: &str| {
        if named {
            json!({"type": "text", "parameter_name": name, "text": format!("<{name}>")})
        } else {
            json!({"type": "text", "text": format!("<{{{{{name}}}}}>")})
        }
    };
    if let Some(shape) = &entry.shape {
        match &shape.header {
            Some(h) if h.format == "TEXT" && !h.parameters.is_empty() => components.push(
                json!({"type": "header", "parameters": h.parameters.iter().map(|n| param(n)).collect::<Vec<_>>()}),
            ),
            Some(h) if h.format == "LOCATION" => components.push(json!({"type": "header", "parameters": [
                {"type": "location", "location": {"latitude": -23.56, "longitude": -46.65}}]})),
            Some(h) if h.format != "TEXT" => {
                let kind = h.format.to_ascii_lowercase();
                components.push(json!({"type": "header", "parameters": [
                    {"type": kind, kind.clone(): {"link": format!("https://example.com/file.{}", if kind == "image" { "jpg" } else if kind == "video" { "mp4" } else { "pdf" })}}]}));
            }
            _ => {}
        }
        if !shape.body.is_empty() {
            components.push(json!({"type": "body", "parameters": shape.body.iter().map(|n| param(n)).collect::<Vec<_>>()}));
        }
        for (i, b) in shape.buttons.iter().enumerate() {
            let button = match b.kind.as_str() {
                "URL" | "OTP" if b.dynamic => {
                    json!({"type": "button", "sub_type": "url", "index": i.to_string(), "parameters": [{"type": "text", "text": "<suffix>"}]})
                }
                "COPY_CODE" => {
                    json!({"type": "button", "sub_type": "copy_code", "index": i.to_string(), "parameters": [{"type": "coupon_code", "coupon_code": "<code>"}]})
                }
                _ => continue,
            };
            components.push(button);
        }
    }
    let mut template = json!({"name": entry.name, "language": {"code": entry.language}});
    if !components.is_empty() {
        template["components"] = json!(components);
    }
    json!({"to": "+5511988887777", "message": {"type": "template", "template": template}})
}

#[cfg(test)]
mod tests {
    use super::super::{Button, Header};
    use super::*;
    use serde_json::{Value, json};

    const NOW: u64 = 1_000_000_000;
    const AGE: u64 = 3_600_000;

    fn entry(language: &str, shape: Shape) -> Entry {
        Entry {
            name: "order_update".into(),
            language: language.into(),
            status: Some(APPROVED.into()),
            status_at: Some(NOW - 10),
            shape: Some(shape),
            synced_at: Some(NOW - 10),
            ..Entry::default()
        }
    }

    fn positional() -> Shape {
        Shape {
            parameter_format: "POSITIONAL".into(),
            header: Some(Header {
                format: "TEXT".into(),
                parameters: vec!["1".into()],
            }),
            body: vec!["1".into(), "2".into()],
            footer: vec![],
            buttons: vec![
                Button {
                    kind: "URL".into(),
                    dynamic: true,
                },
                Button {
                    kind: "QUICK_REPLY".into(),
                    dynamic: false,
                },
            ],
        }
    }

    fn named() -> Shape {
        Shape {
            parameter_format: "NAMED".into(),
            header: Some(Header {
                format: "IMAGE".into(),
                parameters: vec![],
            }),
            body: vec!["first_name".into(), "order_id".into()],
            ..Shape::default()
        }
    }

    fn send(template: Value) -> Template {
        serde_json::from_value(template).unwrap()
    }

    fn t(v: &str) -> Value {
        json!({"type": "text", "text": v})
    }

    fn n(name: &str) -> Value {
        json!({"type": "text", "text": "x", "parameter_name": name})
    }

    fn good_positional() -> Vec<Value> {
        vec![
            json!({"type": "header", "parameters": [t("A1")]}),
            json!({"type": "body", "parameters": [t("Ana"), t("A1")]}),
            json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [t("A1")]}),
        ]
    }

    fn image() -> Value {
        json!({"type": "image", "image": {"link": "https://example.com/a.jpg"}})
    }

    /// Every class of mismatch: (case, language, shape, components,
    /// reason, path).
    #[test]
    fn each_mismatch_is_refused_with_its_reason_and_path() {
        type Case = (
            &'static str,
            &'static str,
            fn() -> Shape,
            Value,
            &'static str,
            &'static str,
        );
        let with = |f: &dyn Fn(&mut Vec<Value>)| {
            let mut c = good_positional();
            f(&mut c);
            Value::Array(c)
        };
        let cases: Vec<Case> = vec![
            (
                "language not catalogued",
                "fr_FR",
                positional,
                with(&|_| {}),
                UNKNOWN,
                "message.template.language.code",
            ),
            (
                "body count",
                "en_US",
                positional,
                with(&|c| c[1] = json!({"type": "body", "parameters": [t("Ana")]})),
                PARAMETERS,
                "message.template.components[1].parameters",
            ),
            (
                "header count",
                "en_US",
                positional,
                with(&|c| c[0] = json!({"type": "header", "parameters": []})),
                PARAMETERS,
                "message.template.components[0].parameters",
            ),
            (
                "missing body",
                "en_US",
                positional,
                with(&|c| {
                    c.remove(1);
                }),
                PARAMETERS,
                "message.template.components",
            ),
            (
                "name on positional",
                "en_US",
                positional,
                with(&|c| c[1] = json!({"type": "body", "parameters": [t("Ana"), n("x")]})),
                PARAMETERS,
                "message.template.components[1].parameters[1].parameter_name",
            ),
            (
                "button index",
                "en_US",
                positional,
                with(&|c| {
                    c.push(json!({"type": "button", "sub_type": "quick_reply", "index": "5", "parameters": [{"type": "payload", "payload": "p"}]}))
                }),
                BUTTONS,
                "message.template.components[3].index",
            ),
            (
                "button sub_type",
                "en_US",
                positional,
                with(
                    &|c| c[2] = json!({"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": "C"}]}),
                ),
                BUTTONS,
                "message.template.components[2].sub_type",
            ),
            (
                "dynamic button left out",
                "en_US",
                positional,
                with(&|c| {
                    c.remove(2);
                }),
                BUTTONS,
                "message.template.components",
            ),
            (
                "media header on a text header",
                "en_US",
                positional,
                with(&|c| c[0] = json!({"type": "header", "parameters": [image()]})),
                HEADER,
                "message.template.components[0].parameters[0].type",
            ),
            (
                "named: missing",
                "en_US",
                named,
                json!([{"type": "header", "parameters": [image()]}, {"type": "body", "parameters": [n("first_name")]}]),
                PARAMETERS,
                "message.template.components[1].parameters",
            ),
            (
                "named: unknown",
                "en_US",
                named,
                json!([{"type": "header", "parameters": [image()]}, {"type": "body", "parameters": [n("first_name"), n("surname")]}]),
                PARAMETERS,
                "message.template.components[1].parameters[1].parameter_name",
            ),
            (
                "named: no name",
                "en_US",
                named,
                json!([{"type": "header", "parameters": [image()]}, {"type": "body", "parameters": [t("a"), n("order_id")]}]),
                PARAMETERS,
                "message.template.components[1].parameters[0].parameter_name",
            ),
            (
                "named: wrong media",
                "en_US",
                named,
                json!([{"type": "header", "parameters": [{"type": "document", "document": {"id": "1"}}]}, {"type": "body", "parameters": [n("first_name"), n("order_id")]}]),
                HEADER,
                "message.template.components[0].parameters[0].type",
            ),
            (
                "named: header missing",
                "en_US",
                named,
                json!([{"type": "body", "parameters": [n("first_name"), n("order_id")]}]),
                HEADER,
                "message.template.components",
            ),
            (
                "named: button the template lacks",
                "en_US",
                named,
                json!([{"type": "header", "parameters": [image()]}, {"type": "body", "parameters": [n("first_name"), n("order_id")]}, {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "p"}]}]),
                BUTTONS,
                "message.template.components[2].index",
            ),
        ];
        for (case, language, shape, components, reason, path) in cases {
            let entries = [entry("en_US", shape()), entry("es_MX", shape())];
            let request = send(
                json!({"name": "order_update", "language": {"code": language}, "components": components}),
            );
            let got = check(&request, &entries, NOW, AGE).expect_err(case);
            assert_eq!(
                (got.reason, got.path.as_str()),
                (reason, path),
                "{case}: {got}"
            );
            assert!(!got.expected.is_empty(), "{case}");
        }
    }

    #[test]
    fn good_sends_pass_and_status_refuses() {
        let entries = [entry("en_US", positional())];
        let good = send(
            json!({"name": "order_update", "language": {"code": "en_US"}, "components": good_positional()}),
        );
        assert_eq!(check(&good, &entries, NOW, AGE), Ok(()));
        let named_entries = [entry("en_US", named())];
        let good_named = send(
            json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "header", "parameters": [image()]},
            {"type": "body", "parameters": [n("order_id"), n("first_name")]}]}),
        );
        assert_eq!(check(&good_named, &named_entries, NOW, AGE), Ok(()));
        for (status, reason) in [
            ("PAUSED", PAUSED),
            ("DISABLED", NOT_APPROVED),
            ("PENDING", NOT_APPROVED),
        ] {
            let mut e = entry("en_US", positional());
            e.status = Some(status.into());
            let got = check(&good, &[e], NOW, AGE).unwrap_err();
            assert_eq!(
                (got.reason, got.path.as_str()),
                (reason, "message.template.name")
            );
            assert!(got.expected.contains(status), "{}", got.expected);
        }
    }

    #[test]
    fn what_the_catalogue_has_not_seen_or_not_lately_is_not_blocked() {
        let bad = send(json!({"name": "order_update", "language": {"code": "en_US"}}));
        // Never seen: no entry of the name.
        assert_eq!(check(&bad, &[], NOW, AGE), Ok(()));
        // Seen, but not confirmed within the age: neither shape nor status.
        let mut old = entry("en_US", positional());
        old.synced_at = Some(NOW - AGE - 1);
        old.status_at = Some(NOW - AGE - 1);
        old.status = Some("PAUSED".into());
        assert_eq!(check(&bad, std::slice::from_ref(&old), NOW, AGE), Ok(()));
        // Another language synced long ago does not make this one unknown.
        let fr = send(json!({"name": "order_update", "language": {"code": "fr_FR"}}));
        assert_eq!(check(&fr, &[old.clone()], NOW, AGE), Ok(()));
        // A fresh webhook status on a stale shape: the status counts, the
        // shape does not.
        old.status_at = Some(NOW - 5);
        assert_eq!(
            check(&bad, std::slice::from_ref(&old), NOW, AGE)
                .unwrap_err()
                .reason,
            PAUSED
        );
        old.status = Some(APPROVED.into());
        assert_eq!(check(&bad, std::slice::from_ref(&old), NOW, AGE), Ok(()));
        // A fresh shape, but a status change came after its sync (an edit
        // approved again?): the shape is not trusted until the next sync.
        old.synced_at = Some(NOW - 1);
        assert!(check(&bad, std::slice::from_ref(&old), NOW, AGE).is_err());
        old.status_at = Some(NOW);
        assert_eq!(check(&bad, &[old], NOW, AGE), Ok(()));
    }

    #[test]
    fn the_example_passes_its_own_check() {
        for shape in [positional(), named()] {
            let e = entry("en_US", shape);
            let example = example(&e);
            let request = send(example["message"]["template"].clone());
            assert_eq!(
                check(&request, std::slice::from_ref(&e), NOW, AGE),
                Ok(()),
                "{example}"
            );
            assert!(!describe(e.shape.as_ref().unwrap()).is_empty());
        }
    }
}
