//! `chasqui send`: builds a send request (or takes one from a file),
//! checks it with the sender's own parser, and puts it on the send queue.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use shared::send_request::SendRequest;

use super::{CliError, Output, status};
use crate::target::Target;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct SendArgs {
    /// The recipient, in international format (+5511988887777).
    #[arg(long)]
    pub to: Option<String>,
    /// The recipient's business-scoped user id (BR.1502576394655843), for a
    /// customer known without a phone.
    #[arg(long)]
    pub recipient: Option<String>,
    /// An approved template's name.
    #[arg(long, conflicts_with_all = ["text", "file"], requires = "lang")]
    pub template: Option<String>,
    /// The template's language code (pt_BR, en_US, ...).
    #[arg(long)]
    pub lang: Option<String>,
    /// A body variable of the template, in order ({{1}}, {{2}}, ...).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// A variable of the template's text header.
    #[arg(long = "header-param")]
    pub header_params: Vec<String>,
    /// The variable of the template's first URL button.
    #[arg(long)]
    pub url_param: Option<String>,
    /// A free-form text (only within 24 h of the customer's last message).
    #[arg(long, conflicts_with = "file")]
    pub text: Option<String>,
    /// A whole send request (docs/send-request.md), `-` for stdin.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The message id (default: generated). The same id is sent once.
    #[arg(long)]
    pub id: Option<String>,
    /// Reply to this inbound wamid (quoted in the chat).
    #[arg(long)]
    pub reply_to: Option<String>,
    /// Send from this business number instead of the default.
    #[arg(long)]
    pub phone_number_id: Option<String>,
    /// Opaque metadata stored on the record, as key=value (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Follow the message until it is final (as `chasqui status --watch`).
    #[arg(long)]
    pub watch: bool,
    /// How long --watch waits, seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Send it at this time instead of now: RFC 3339 with its offset
    /// (2026-12-01T09:30:00-03:00), or `+SECONDS` from now. It is
    /// scheduled; `chasqui send cancel ID` cancels it before it goes.
    #[arg(long = "at", value_name = "TIME")]
    pub send_at: Option<String>,
    #[command(subcommand)]
    pub action: Option<SendAction>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum SendAction {
    /// Cancel a scheduled message before it goes (`shared::schedule::cancel`).
    Cancel {
        /// The message id.
        id: String,
    },
}

/// A send request that is on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: String,
    pub sqs_message_id: String,
}

/// The send request the arguments describe, checked by the sender's parser.
pub fn build(args: &SendArgs) -> Result<Value, CliError> {
    let mut request = match &args.file {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| CliError::new(format!("reading stdin: {e}")))?
            } else {
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))?
            };
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                CliError::new(format!("{} is not JSON: {e}", path.display()))
                    .hint("a send request is a JSON object; see docs/send-request.md")
            })?;
            if !value.is_object() {
                return Err(CliError::new(format!(
                    "{} is not a JSON object",
                    path.display()
                )));
            }
            value
        }
        None => {
            let message = if let Some(name) = &args.template {
                let mut components = Vec::new();
                if !args.header_params.is_empty() {
                    components
                        .push(json!({"type": "header", "parameters": texts(&args.header_params)}));
                }
                if !args.params.is_empty() {
                    components.push(json!({"type": "body", "parameters": texts(&args.params)}));
                }
                if let Some(p) = &args.url_param {
                    components.push(json!({"type": "button", "sub_type": "url", "index": "0",
                        "parameters": [{"type": "text", "text": p}]}));
                }
                json!({"type": "template", "template": {
                    "name": name,
                    "language": {"code": args.lang.clone().unwrap_or_default()},
                    "components": components,
                }})
            } else if let Some(text) = &args.text {
                json!({"type": "text", "text": {"body": text}})
            } else {
                return Err(CliError::new("nothing to send")
                    .hint("give --template NAME --lang CODE [--param ...], --text TEXT, or --file request.json")
                    .code(2));
            };
            let mut request = json!({ "message": message });
            if let Some(to) = &args.to {
                request["to"] = to.clone().into();
            }
            if let Some(recipient) = &args.recipient {
                request["recipient"] = recipient.clone().into();
            }
            request
        }
    };
    if let Some(id) = &args.id {
        request["id"] = id.clone().into();
    }
    if request.get("id").is_none() {
        request["id"] = format!(
            "cli-{}-{:06x}",
            shared::now_millis(),
            fastrand::u32(..0x0100_0000)
        )
        .into();
    }
    if let Some(pn) = &args.phone_number_id {
        request["phone_number_id"] = pn.clone().into();
    }
    if let Some(at) = &args.send_at {
        request["send_at"] = send_at(at, shared::now_millis())?.into();
    }
    if let Some(wamid) = &args.reply_to {
        request["message"]["context"] = json!({ "message_id": wamid });
    }
    if !args.metadata.is_empty() {
        let mut map = request
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for pair in &args.metadata {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                CliError::new(format!("--metadata {pair:?} is not KEY=VALUE")).code(2)
            })?;
            map.insert(k.to_owned(), Value::String(v.to_owned()));
        }
        request["metadata"] = Value::Object(map);
    }
    check(&request)?;
    Ok(request)
}

/// `--at`: RFC 3339 as given, or `+SECONDS` from `now_ms` (as UTC).
pub fn send_at(at: &str, now_ms: u64) -> Result<String, CliError> {
    match at.strip_prefix('+') {
        Some(secs) => secs
            .parse::<u64>()
            .map(|s| shared::time::rfc3339_utc(now_ms + s * 1000))
            .map_err(|_| CliError::new(format!("--at {at:?}: expected +SECONDS")).code(2)),
        None => Ok(at.to_owned()),
    }
}

/// Cancels the target tenant's message `id` (`shared::schedule::cancel`
/// with the stack's schedule group and events queue).
pub async fn cancel_message(
    target: &Target,
    id: &str,
) -> Result<shared::schedule::Cancel, CliError> {
    let timer = shared::schedule::EventBridgeTimer::new(
        &target.aws,
        target.send_queue()?,
        target.schedule_settings()?,
    );
    let events = target.events();
    shared::schedule::cancel(
        &target.dynamodb(),
        target.table()?,
        &timer,
        events.as_ref(),
        &target.tenant,
        id,
        shared::now_millis(),
    )
    .await
    .map_err(|e| {
        CliError::new(format!("cancelling {id}: {e}")).hint("try again: cancelling is idempotent")
    })
}

/// `chasqui send cancel ID`: cancels the tenant's scheduled message.
pub async fn cancel(target: &Target, out: Output, id: &str) -> Result<(), CliError> {
    use shared::schedule::Cancel;
    match cancel_message(target, id).await? {
        Cancel::Cancelled => {
            out.result(
                &format!("{id}: cancelled; it will not be sent"),
                &json!({"id": id, "outcome": "cancelled"}),
            );
            Ok(())
        }
        Cancel::AlreadyGone(status) => Err(CliError::new(format!(
            "{id}: too late to cancel, the sender already took it (status {status})"
        ))
        .hint(format!("chasqui status {id}"))),
        Cancel::Unknown => Err(CliError::new(format!(
            "{id}: no message of tenant {} has this id",
            target.tenant
        ))
        .hint("a request still on the send queue has no record yet; check the id and --tenant")),
    }
}

fn texts(values: &[String]) -> Vec<Value> {
    values
        .iter()
        .map(|t| json!({"type": "text", "text": t}))
        .collect()
}

/// Refuses what the sender would refuse, with the field and the reason.
pub fn check(request: &Value) -> Result<(), CliError> {
    SendRequest::parse(&request.to_string())
        .map(|_| ())
        .map_err(|e| {
            CliError::new(format!(
                "the send request is invalid: {}: {}",
                e.path, e.reason
            ))
            .hint("fix that field; the format is in docs/send-request.md")
            .code(2)
        })
}

/// Puts a checked request on the send queue.
pub async fn enqueue(target: &Target, request: &Value) -> Result<Queued, CliError> {
    let queue = target.send_queue()?;
    let out = target
        .sqs()
        .send_message()
        .queue_url(queue)
        .message_body(request.to_string())
        .send()
        .await
        .map_err(|e| CliError::aws("putting the request on the send queue", e))?;
    let sqs_message_id = out.message_id().unwrap_or_default().to_owned();
    let id = request
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| sqs_message_id.clone());
    Ok(Queued { id, sqs_message_id })
}

pub async fn run(target: &Target, out: Output, args: &SendArgs) -> Result<(), CliError> {
    if let Some(SendAction::Cancel { id }) = &args.action {
        return cancel(target, out, id).await;
    }
    let mut request = build(args)?;
    // `--tenant`: the request is that tenant's (a request file's own
    // `tenant` stays).
    if target.tenant != shared::tenant::DEFAULT_TENANT && request.get("tenant").is_none() {
        request["tenant"] = target.tenant.clone().into();
    }
    let queued = enqueue(target, &request).await?;
    let summary = describe(&request);
    out.result(
        &format!("queued {} ({summary})\n  follow it: chasqui status {} --watch", queued.id, queued.id),
        &json!({"id": queued.id, "sqs_message_id": queued.sqs_message_id, "queue_url": target.send_queue()?}),
    );
    if args.watch {
        status::run_watch(target, out, &queued.id, Duration::from_secs(args.timeout)).await?;
    }
    Ok(())
}

/// `template appointment_reminder (pt_BR) to +55...`.
pub fn describe(request: &Value) -> String {
    let to = request
        .get("to")
        .or_else(|| request.get("recipient"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let message = request
        .get("message")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let kind = if message.get("status").is_some() {
        "read receipt".to_owned()
    } else {
        message
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("text")
            .to_owned()
    };
    match message.get("template") {
        Some(t) => format!(
            "template {} ({}) to {to}",
            t.get("name").and_then(Value::as_str).unwrap_or("?"),
            t.pointer("/language/code")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ),
        None => format!("{kind} to {to}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_arguments_become_a_valid_request() {
        let args = SendArgs {
            to: Some("+55 11 98888-7777".into()),
            template: Some("order_update".into()),
            lang: Some("en_US".into()),
            params: vec!["Ana".into(), "A-1".into(), "shipped".into()],
            header_params: vec!["Order".into()],
            url_param: Some("A-1".into()),
            id: Some("order-1".into()),
            metadata: vec!["order=A-1".into()],
            ..SendArgs::default()
        };
        let r = build(&args).unwrap();
        assert_eq!(r["id"], "order-1");
        assert_eq!(r["message"]["template"]["components"][0]["type"], "header");
        assert_eq!(
            r["message"]["template"]["components"][1]["parameters"][2]["text"],
            "shipped"
        );
        assert_eq!(r["message"]["template"]["components"][2]["sub_type"], "url");
        assert_eq!(r["metadata"]["order"], "A-1");
        assert_eq!(
            describe(&r),
            "template order_update (en_US) to +55 11 98888-7777"
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let err = build(&SendArgs {
            to: Some("call me".into()),
            text: Some("hi".into()),
            ..SendArgs::default()
        })
        .unwrap_err();
        assert!(err.message.contains("to:"), "{}", err.message);
        assert_eq!(err.code, 2);
        let err = build(&SendArgs {
            to: Some("+5511988887777".into()),
            ..SendArgs::default()
        })
        .unwrap_err();
        assert!(err.hint.unwrap().contains("--template"));
        let err = build(&SendArgs {
            to: Some("+5511988887777".into()),
            text: Some("x".into()),
            metadata: vec!["novalue".into()],
            ..SendArgs::default()
        })
        .unwrap_err();
        assert!(err.message.contains("KEY=VALUE"));
        // a generated id is usable as biz_opaque_callback_data
        let r = build(&SendArgs {
            to: Some("+5511988887777".into()),
            text: Some("x".into()),
            ..SendArgs::default()
        })
        .unwrap();
        assert!(r["id"].as_str().unwrap().starts_with("cli-"));
    }
}
