//! `chasqui inbound`: a customer writes, through the sandbox (local only).

use serde_json::json;

use super::{CliError, Output};
use crate::sandbox::client::SandboxClient;
use crate::sandbox::{ButtonReply, Inbound, InteractiveReply};
use crate::target::Target;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct InboundArgs {
    /// The customer's number (+5511988887777). Leave it out, with
    /// --user-id, for a customer known only by username (no phone).
    #[arg(long, required_unless_present = "user_id")]
    pub from: Option<String>,
    /// The customer's business-scoped user id (BR.1502576394655843); default:
    /// the sandbox's BSUID of --from.
    #[arg(long)]
    pub user_id: Option<String>,
    /// The customer's WhatsApp username (@bia.reis).
    #[arg(long)]
    pub username: Option<String>,
    /// What they type.
    #[arg(long, conflicts_with_all = ["button", "reply_id"])]
    pub text: Option<String>,
    /// They tap a template's quick-reply button with this text.
    #[arg(long, conflicts_with = "reply_id")]
    pub button: Option<String>,
    /// The button's payload (default: its text).
    #[arg(long, requires = "button")]
    pub payload: Option<String>,
    /// They tap an interactive reply button with this id...
    #[arg(long, requires = "reply_title")]
    pub reply_id: Option<String>,
    /// ...and this title.
    #[arg(long, requires = "reply_id")]
    pub reply_title: Option<String>,
    /// Their WhatsApp profile name.
    #[arg(long)]
    pub name: Option<String>,
    /// The wamid of the business message they reply to.
    #[arg(long)]
    pub context: Option<String>,
}

impl InboundArgs {
    pub fn inbound(&self) -> Result<Inbound, CliError> {
        let inbound = Inbound {
            from: self.from.clone().unwrap_or_default(),
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            text: self.text.clone(),
            button: self.button.clone().map(|text| ButtonReply {
                text,
                payload: self.payload.clone(),
            }),
            interactive: match (&self.reply_id, &self.reply_title) {
                (Some(id), Some(title)) => Some(InteractiveReply {
                    id: id.clone(),
                    title: title.clone(),
                }),
                _ => None,
            },
            profile_name: self.name.clone(),
            context: self.context.clone(),
            phone_number_id: None,
            media: None,
        };
        if inbound.text.is_none() && inbound.button.is_none() && inbound.interactive.is_none() {
            return Err(CliError::new("nothing to say")
                .hint("give --text TEXT, --button TEXT or --reply-id ID --reply-title TITLE")
                .code(2));
        }
        Ok(inbound)
    }
}

pub async fn run(target: &Target, out: Output, args: &InboundArgs) -> Result<(), CliError> {
    let inbound = args.inbound()?;
    let client = SandboxClient::new(&target.sandbox_url());
    let receipt = client.inbound(&inbound).await?;
    let delivery = match (receipt.delivered, receipt.webhook_status) {
        (true, _) => "the webhook answered 200".to_owned(),
        (false, Some(status)) => format!("the webhook answered {status}; the sandbox retries"),
        (false, None) => "the webhook is not reachable yet; the sandbox retries".to_owned(),
    };
    out.result(
        &format!(
            "{} wrote ({}): {delivery}",
            args.from
                .as_deref()
                .or(args.user_id.as_deref())
                .unwrap_or_default(),
            receipt.wamid
        ),
        &json!(receipt),
    );
    Ok(())
}
