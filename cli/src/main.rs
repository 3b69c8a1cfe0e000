//! `chasqui`: send, follow and debug WhatsApp messages through Chasqui, on
//! the local stack (`make dev`) or a deployed one.

use std::path::PathBuf;
use std::time::Duration;

use chasqui_cli::commands::{self, CliError, Output};
use chasqui_cli::target::Target;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chasqui",
    version,
    about = "Send, follow and debug WhatsApp messages through Chasqui",
    long_about = "Send, follow and debug WhatsApp messages through Chasqui.\n\n\
        Against the local stack (`make dev`), it finds everything in .dev/stack.json. Against a \
        deployed stack, set the stack's outputs as SEND_QUEUE_URL, SEND_DLQ_URL, WEBHOOK_QUEUE_URL, \
        WEBHOOK_DLQ_URL, TABLE_NAME, WHATSAPP_SECRET_ID, WHATSAPP_SECRET_PREFIX and WHATSAPP_PHONE_NUMBER_ID, with your \
        normal AWS credentials and region."
)]
struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// A local stack file (default: .dev/stack.json here or above, when no
    /// SEND_QUEUE_URL/TABLE_NAME is set).
    #[arg(long, global = true)]
    stack_file: Option<PathBuf>,
    /// The tenant whose messages, contacts and numbers to read or change
    /// (a deployment serving several businesses; README, "Several
    /// businesses").
    #[arg(long, global = true, env = "CHASQUI_TENANT", default_value = shared::tenant::DEFAULT_TENANT)]
    tenant: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put a send request on the send queue and print its id (`send cancel
    /// ID`: cancel a scheduled one).
    #[command(args_conflicts_with_subcommands = true)]
    Send(commands::send::SendArgs),
    /// A message's record, derived status and timeline.
    Status {
        id: String,
        /// Follow it until it is final (read, failed, suppressed).
        #[arg(long)]
        watch: bool,
        /// How long --watch waits, seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// A customer writes (through the sandbox; local stack only).
    Inbound(commands::inbound::InboundArgs),
    /// Inspect and redrive the dead-letter queues.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Show a contact, or opt them out or in by hand.
    Contacts {
        #[command(subcommand)]
        action: ContactsAction,
    },
    /// Bind business numbers to tenants, their WhatsApp Business Account,
    /// Meta app and access token secret.
    Bindings {
        #[command(subcommand)]
        action: BindingsAction,
    },
    /// The HTTP API's keys: create (printed once), list, revoke.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Inbound media kept in the media bucket.
    Media {
        #[command(subcommand)]
        action: MediaAction,
    },
    /// Signed callbacks: a tenant's endpoints, parked deliveries, replays
    /// and a local receiver that verifies signatures (docs/callbacks.md).
    Callbacks {
        #[command(subcommand)]
        action: CallbacksAction,
    },
    /// Each business number's quality, messaging limit and display name,
    /// and each account's standing, as Meta last reported them.
    Numbers,
    /// The template catalogue: sync it from Meta, list it, or show what a
    /// template expects with an example send request.
    Templates {
        #[command(subcommand)]
        action: TemplatesAction,
    },
    /// Compute or check X-Hub-Signature-256 for a payload.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
    },
    /// Run the Cloud API sandbox until Ctrl-C.
    Sandbox(commands::local::SandboxArgs),
    /// Run a local stack (sandbox, functions, pollers, HTTP front) until
    /// Ctrl-C; `make dev` starts it.
    Local(commands::local::LocalArgs),
    /// The guided tour of a running local stack (`make demo`).
    Demo,
}

#[derive(Subcommand)]
enum DlqAction {
    /// List dead letters with their reasons (they stay in the queue).
    List {
        #[arg(long, value_enum)]
        queue: Option<commands::dlq::Which>,
        /// At most this many per queue.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Move dead letters back to their queue to be processed again.
    Replay {
        #[arg(long, value_enum)]
        queue: commands::dlq::Which,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum ContactsAction {
    /// The contact, its opt decision, its window and last messages.
    Show {
        /// A phone number (international format) or a BSUID (BR.1502...).
        customer: String,
        #[arg(long)]
        phone_number_id: Option<String>,
    },
    /// Stop sending them messages (a manual opt-out).
    Optout {
        /// A phone number (international format) or a BSUID (BR.1502...).
        customer: String,
        #[arg(long)]
        phone_number_id: Option<String>,
    },
    /// Send to them again (a manual opt-in).
    Optin {
        /// A phone number (international format) or a BSUID (BR.1502...).
        customer: String,
        #[arg(long)]
        phone_number_id: Option<String>,
    },
}

#[derive(Subcommand)]
enum TemplatesAction {
    /// Read every account's templates from Meta (the sandbox, locally)
    /// into the catalogue, as the sender's schedule does.
    Sync {
        /// The default tenant's WhatsApp Business Account (default:
        /// WHATSAPP_WABA_ID, or the sandbox's locally).
        #[arg(long)]
        waba_id: Option<String>,
    },
    /// Every template of the tenant: status, quality, category.
    List,
    /// What a template expects, and an example send request.
    Show {
        name: String,
        /// One language (default: every language of the name).
        #[arg(long)]
        lang: Option<String>,
    },
}

#[derive(Subcommand)]
enum BindingsAction {
    /// Bind a number to a tenant (the token secret is named under
    /// WHATSAPP_SECRET_PREFIX's tenants/).
    Add(commands::bindings::AddArgs),
    /// Every binding.
    List,
    /// One number's binding, and whether its token secret exists.
    Show { phone_number_id: String },
    /// Unbind a number (its token secret is kept).
    Remove { phone_number_id: String },
}

#[derive(Subcommand)]
enum CallbacksAction {
    /// Registers an https endpoint for the tenant (--tenant); prints its
    /// signing secret once.
    Add {
        #[arg(long)]
        url: String,
        /// Comma-separated event types (default: every type).
        #[arg(long)]
        events: Option<String>,
    },
    /// The tenant's endpoints.
    List,
    /// Removes an endpoint.
    Remove { endpoint_id: String },
    /// Deliveries parked after the retry window, with their cause.
    Parked {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Sends kept events again, by id or time range.
    Replay(commands::callbacks::ReplayArgs),
    /// A local receiver that verifies every signature and prints what it got.
    Receive {
        #[arg(long, default_value_t = 9300)]
        port: u16,
        /// Verify with this secret (whsec_...) instead of the tenant's
        /// endpoints' (repeatable).
        #[arg(long)]
        secret: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a key for --tenant; it is printed once and stored as a hash.
    Create {
        /// What the key is for (shown by `list`).
        #[arg(long)]
        name: Option<String>,
    },
    /// The tenant's keys: id, name, created, last used, revoked.
    List,
    /// Refuse a key: now, at a time, or after a while (a rotation overlap).
    Revoke {
        key_id: String,
        /// From this UTC time (2026-12-01T09:00:00Z).
        #[arg(long, conflicts_with = "in_")]
        at: Option<String>,
        /// After this long (90s, 30m, 24h, 7d).
        #[arg(long = "in", id = "in_")]
        in_: Option<String>,
    },
}

#[derive(Subcommand)]
enum MediaAction {
    /// Fetch an inbound message's file (by its wamid, or the inbound id
    /// `chasqui contacts show` prints) from the media bucket.
    Get {
        id: String,
        /// Where to write it (default: the id, with the type's extension).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WebhookAction {
    /// Print the X-Hub-Signature-256 of FILE's exact bytes.
    Sign {
        file: PathBuf,
        #[arg(long)]
        app_secret: Option<String>,
    },
    /// Check a signature against FILE's exact bytes.
    Verify {
        file: PathBuf,
        /// The header's value (sha256=...).
        #[arg(long)]
        signature: String,
        #[arg(long)]
        app_secret: Option<String>,
    },
    /// Sign FILE and POST it to the webhook.
    Post {
        file: PathBuf,
        /// Default: the local stack's webhook.
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        app_secret: Option<String>,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CHASQUI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output { json: cli.json };
    let stack_file = cli.stack_file.as_deref();
    match cli.command {
        Command::Sandbox(args) => {
            init_tracing();
            return commands::local::sandbox(&args).await;
        }
        Command::Local(args) => {
            init_tracing();
            return commands::local::local(&args).await;
        }
        Command::Webhook {
            action: WebhookAction::Sign { file, app_secret },
        } => {
            let body = commands::webhook::read(&file)?;
            let target = Target::resolve(stack_file).await?;
            let secret = commands::webhook::app_secret(&target, app_secret.as_deref()).await?;
            commands::webhook::sign(out, &body, &secret);
            return Ok(());
        }
        Command::Webhook {
            action:
                WebhookAction::Verify {
                    file,
                    signature,
                    app_secret,
                },
        } => {
            let body = commands::webhook::read(&file)?;
            let target = Target::resolve(stack_file).await?;
            let secret = commands::webhook::app_secret(&target, app_secret.as_deref()).await?;
            return commands::webhook::verify(out, &body, &secret, &signature);
        }
        _ => {}
    }
    shared::tenant::check_name(&cli.tenant)
        .map_err(|reason| CliError::new(format!("--tenant {:?}: {reason}", cli.tenant)).code(2))?;
    let mut target = Target::resolve(stack_file).await?;
    target.tenant = cli.tenant.clone();
    let target = target;
    match cli.command {
        Command::Send(args) => commands::send::run(&target, out, &args).await,
        Command::Status { id, watch, timeout } => {
            if watch {
                commands::status::run_watch(&target, out, &id, Duration::from_secs(timeout)).await
            } else {
                commands::status::run(&target, out, &id).await
            }
        }
        Command::Inbound(args) => commands::inbound::run(&target, out, &args).await,
        Command::Media {
            action: MediaAction::Get { id, out: file },
        } => commands::media::get(&target, out, &id, file.as_deref()).await,
        Command::Callbacks { action } => match action {
            CallbacksAction::Add { url, events } => {
                commands::callbacks::add(&target, out, &url, events.as_deref())
                    .await
                    .map(drop)
            }
            CallbacksAction::List => commands::callbacks::list(&target, out).await,
            CallbacksAction::Remove { endpoint_id } => {
                commands::callbacks::remove(&target, out, &endpoint_id).await
            }
            CallbacksAction::Parked { limit } => commands::callbacks::parked(&target, out, limit)
                .await
                .map(drop),
            CallbacksAction::Replay(args) => commands::callbacks::replay(&target, out, &args)
                .await
                .map(drop),
            CallbacksAction::Receive { port, secret } => {
                commands::callbacks::receive_forever(&target, out, port, &secret).await
            }
        },
        Command::Dlq { action } => match action {
            DlqAction::List { queue, limit } => {
                commands::dlq::list(&target, out, queue, limit).await
            }
            DlqAction::Replay { queue, limit } => {
                commands::dlq::replay(&target, out, queue, limit).await
            }
        },
        Command::Contacts { action } => match action {
            ContactsAction::Show {
                customer: number,
                phone_number_id,
            } => commands::contacts::show(&target, out, &number, phone_number_id.as_deref()).await,
            ContactsAction::Optout {
                customer: number,
                phone_number_id,
            } => {
                commands::contacts::decide(&target, out, &number, phone_number_id.as_deref(), true)
                    .await
            }
            ContactsAction::Optin {
                customer: number,
                phone_number_id,
            } => {
                commands::contacts::decide(&target, out, &number, phone_number_id.as_deref(), false)
                    .await
            }
        },
        Command::Webhook {
            action:
                WebhookAction::Post {
                    file,
                    url,
                    app_secret,
                },
        } => {
            let body = commands::webhook::read(&file)?;
            let secret = commands::webhook::app_secret(&target, app_secret.as_deref()).await?;
            let url = url
                .or_else(|| target.resources.webhook_url.clone())
                .ok_or_else(|| {
                    CliError::new("no webhook URL")
                        .hint("pass --url, or start the local stack with `make dev`")
                })?;
            commands::webhook::post(out, body, &secret, &url).await
        }
        Command::Demo => commands::demo::run(&target, out).await,
        Command::Numbers => commands::numbers::run(&target, out).await,
        Command::Templates { action } => match action {
            TemplatesAction::Sync { waba_id } => {
                commands::templates::run_sync(&target, out, waba_id).await
            }
            TemplatesAction::List => commands::templates::run_list(&target, out).await,
            TemplatesAction::Show { name, lang } => {
                commands::templates::run_show(&target, out, &name, lang.as_deref()).await
            }
        },
        Command::Keys { action } => match action {
            KeysAction::Create { name } => {
                commands::keys::create(&target, out, name.as_deref()).await
            }
            KeysAction::List => commands::keys::list(&target, out).await,
            KeysAction::Revoke { key_id, at, in_ } => {
                commands::keys::revoke(&target, out, &key_id, at.as_deref(), in_.as_deref()).await
            }
        },
        Command::Bindings { action } => match action {
            BindingsAction::Add(args) => commands::bindings::run_add(&target, out, &args).await,
            BindingsAction::List => commands::bindings::run_list(&target, out).await,
            BindingsAction::Show { phone_number_id } => {
                commands::bindings::run_show(&target, out, &phone_number_id).await
            }
            BindingsAction::Remove { phone_number_id } => {
                commands::bindings::run_remove(&target, out, &phone_number_id).await
            }
        },
        Command::Webhook { .. } | Command::Sandbox(_) | Command::Local(_) => Ok(()),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("{err}");
        std::process::exit(err.code);
    }
}
