//! `chasqui sandbox` (the Cloud API sandbox on its own) and `chasqui local`
//! (a whole local stack: the sandbox, the functions under the local
//! runtime, their SQS event sources and the HTTP front), both until Ctrl-C.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shared::secrets::{ExposeSecret, WhatsAppSecret};

use super::CliError;
use crate::runtime::LogSink;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::stack::{LocalLoop, LoopOptions, StackSpec};

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, default_value_t = 9100)]
    pub port: u16,
    /// Where status and inbound webhooks go.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Signs the webhooks (default: the local app's).
    #[arg(long)]
    pub app_secret: Option<String>,
    /// The bearer token calls must carry (default: the local app's).
    #[arg(long)]
    pub access_token: Option<String>,
    /// A configuration file (JSON, any subset of `GET /_sandbox/config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A template catalogue (JSON array) replacing the built-in one.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Seeds every random decision.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl SandboxArgs {
    pub fn config(&self) -> Result<SandboxConfig, CliError> {
        let mut config = match &self.config {
            Some(path) => {
                SandboxConfig::from_file(path).map_err(|e| CliError::new(e.to_string()))?
            }
            None => SandboxConfig::default(),
        };
        if let Some(path) = &self.templates {
            config.templates = SandboxConfig::templates_from_file(path)
                .map_err(|e| CliError::new(e.to_string()))?;
        }
        let mut patch = json!({});
        if let Some(v) = &self.webhook_url {
            patch["webhook_url"] = v.clone().into();
        }
        if let Some(v) = &self.app_secret {
            patch["app_secret"] = v.clone().into();
        }
        if let Some(v) = &self.access_token {
            patch["access_token"] = v.clone().into();
        }
        if let Some(v) = self.seed {
            patch["seed"] = v.into();
        }
        config
            .patched(&patch)
            .map_err(|e| CliError::new(e.to_string()))
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn sandbox(args: &SandboxArgs) -> Result<(), CliError> {
    let config = args.config()?;
    let addr = SocketAddr::new(args.host, args.port);
    let sandbox = Sandbox::start(addr, config.clone()).await.map_err(|e| {
        CliError::new(e.to_string())
            .hint("is another sandbox (or `make dev`) already using the port? pass --port")
    })?;
    eprintln!("Cloud API sandbox on {}", sandbox.url());
    eprintln!("  GRAPH_API_BASE_URL={}", sandbox.url());
    match &config.webhook_url {
        Some(url) => eprintln!("  webhooks go to {url}"),
        None => {
            eprintln!("  no --webhook-url: webhooks wait until one is set (POST /_sandbox/config)")
        }
    }
    eprintln!(
        "  control API: {0}/_sandbox/calls, {0}/_sandbox/config, POST {0}/_sandbox/inbound",
        sandbox.url()
    );
    shutdown_signal().await;
    sandbox.stop().await;
    eprintln!("sandbox stopped");
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    /// The stack description `scripts/local_stack.py up` writes.
    #[arg(long, default_value = crate::target::STACK_FILE)]
    pub stack: PathBuf,
    /// Where the function binaries are.
    #[arg(long, default_value = "target/debug")]
    pub bin_dir: PathBuf,
    /// The HTTP front (the webhook, the Invoke API).
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    #[arg(long, default_value_t = 9100)]
    pub sandbox_port: u16,
    /// A callback receiver that verifies every signature with the default
    /// tenant's endpoints (`chasqui callbacks add --url
    /// http://127.0.0.1:<port>/hook`); 0: none.
    #[arg(long, default_value_t = 9300)]
    pub callback_port: u16,
    /// Sandbox configuration file (JSON).
    #[arg(long)]
    pub sandbox_config: Option<PathBuf>,
    /// Sandbox template catalogue (JSON array).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Every function log line, in full (the console gets a short form).
    #[arg(long, default_value = ".dev/functions.log")]
    pub function_log: PathBuf,
    /// Hand the webhook base64-encoded bodies, as API Gateway does for
    /// binary media types.
    #[arg(long)]
    pub base64_bodies: bool,
    /// Invoke the functions through this Lambda Invoke API (`cargo lambda
    /// watch`, e.g. http://127.0.0.1:9001) instead of running them here.
    #[arg(long)]
    pub invoke_api: Option<String>,
}

/// Function output: every line to a file, a short form on the console.
struct DevLogs {
    file: Mutex<Option<std::fs::File>>,
}

impl LogSink for DevLogs {
    fn line(&self, function: &str, line: &str) {
        if let Ok(mut file) = self.file.lock()
            && let Some(f) = file.as_mut()
        {
            let _ = writeln!(f, "[{function}] {line}");
        }
        eprintln!("{}", compact(function, line));
    }
}

/// `[sender] INFO send request message_id=x outcome=sent` from a JSON log line.
pub fn compact(function: &str, line: &str) -> String {
    let Ok(Value::Object(v)) = serde_json::from_str::<Value>(line) else {
        return format!("[{function}] {line}");
    };
    // An EMF line (shared::metrics): its values and dimensions, not its
    // directives.
    let level = match v.get("_aws") {
        Some(_) => "EMF",
        None => v.get("level").and_then(Value::as_str).unwrap_or(""),
    };
    // Flattened events (shared::telemetry) or nested under "fields".
    let fields = v.get("fields").and_then(Value::as_object).unwrap_or(&v);
    let message = fields.get("message").and_then(Value::as_str).unwrap_or("");
    let mut out = format!("[{function}] {level:<5} {message}");
    for (k, val) in fields {
        if matches!(
            k.as_str(),
            "message" | "timestamp" | "level" | "target" | "fields" | "_aws"
        ) {
            continue;
        }
        let text = match val {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" {k}={text}"));
    }
    out
}

async fn local_secret(
    spec: &StackSpec,
    aws: &aws_config::SdkConfig,
) -> Result<Option<WhatsAppSecret>, CliError> {
    let Some(id) = &spec.resources.secret_id else {
        return Ok(None);
    };
    let value = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| CliError::aws("reading the local WhatsApp secret", e))?;
    WhatsAppSecret::from_json(id, value.secret_string().unwrap_or_default())
        .map(Some)
        .map_err(|e| CliError::new(e.to_string()))
}

pub async fn local(args: &LocalArgs) -> Result<(), CliError> {
    let mut spec = StackSpec::read(&args.stack).map_err(|e| {
        CliError::new(e.to_string()).hint("`make dev` creates it (scripts/local_stack.py up)")
    })?;
    let aws = shared::aws_config().await;
    let mut sandbox_config = SandboxArgs {
        host: [127, 0, 0, 1].into(),
        port: args.sandbox_port,
        webhook_url: None,
        app_secret: None,
        access_token: None,
        config: args.sandbox_config.clone(),
        templates: args.templates.clone(),
        seed: None,
    }
    .config()?;
    // The sandbox is the Meta app of the local secret.
    if let Some(secret) = local_secret(&spec, &aws).await? {
        sandbox_config.app_secret = secret.app_secret.expose_secret().to_owned();
        sandbox_config.access_token = secret.access_token.expose_secret().to_owned();
    }
    if let Some(pn) = &spec.resources.phone_number_id
        && sandbox_config.phone_number_ids.is_empty()
    {
        sandbox_config.phone_number_ids = vec![pn.clone()];
    }
    let sandbox = Sandbox::start(([127, 0, 0, 1], args.sandbox_port).into(), sandbox_config)
        .await
        .map_err(|e| {
            CliError::new(e.to_string())
                .hint("is another `make dev` running? stop it, or pass --sandbox-port")
        })?;
    let functions: Vec<String> = spec.functions.keys().cloned().collect();
    for name in &functions {
        if spec.functions[name].env.contains_key("GRAPH_API_BASE_URL") {
            spec.set_env(name, "GRAPH_API_BASE_URL", &sandbox.url());
        }
    }
    if let Some(parent) = args.function_log.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let logs = Arc::new(DevLogs {
        file: Mutex::new(std::fs::File::create(&args.function_log).ok()),
    });
    let mut options = LoopOptions::new(&args.bin_dir, logs);
    options.gateway_addr = ([127, 0, 0, 1], args.port).into();
    options.gateway.base64_bodies = args.base64_bodies;
    options.invoke_api = args.invoke_api.clone();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let looped = LocalLoop::start(&spec, sqs, options).await.map_err(|e| {
        CliError::new(e.to_string()).hint("is another `make dev` running? stop it, or pass --port")
    })?;
    let webhook_url = looped.webhook_url().unwrap_or_else(|| looped.gateway_url());
    sandbox
        .set_webhook_url(&webhook_url)
        .map_err(|e| CliError::new(e.to_string()))?;
    // moto never fires schedules: the local stand-in for EventBridge
    // Scheduler does (cli/src/firer.rs).
    let firer = spec
        .resources
        .schedule_group
        .clone()
        .map(|group| crate::firer::Firer::start(&aws, group));
    spec.resources.sandbox_url = Some(sandbox.url());
    spec.resources.webhook_url = Some(webhook_url.clone());
    spec.write(&args.stack)
        .map_err(|e| CliError::new(format!("writing {}: {e}", args.stack.display())))?;

    // A receiver for signed callbacks (docs/callbacks.md): it checks each
    // delivery against the default tenant's endpoints and prints it. Not
    // fatal when its port is taken: the rest of the stack works without it.
    let receiver = match args.callback_port {
        0 => None,
        port => match callback_receiver(&args.stack, port).await {
            Ok(receiver) => Some(receiver),
            Err(e) => {
                eprintln!("no callback receiver on :{port}: {}", e.message);
                None
            }
        },
    };
    let r = &spec.resources;
    let sources: Vec<String> = spec
        .event_sources
        .iter()
        .map(|s| {
            format!(
                "{} ← {} (batch {}, {} at once)",
                s.function,
                short(&s.queue_url),
                s.batch_size,
                s.maximum_concurrency
            )
        })
        .collect();
    eprintln!(
        "\nChasqui is running locally
  AWS emulator (moto)   {endpoint}
  Cloud API sandbox     {sandbox}   (plays Meta; GET {sandbox}/_sandbox/calls)
  webhook (HTTP API)    {webhook_url}
  upstream API          {gateway}/v1   (docs/api.md; keys: chasqui keys create)
  functions             {functions} ({served})
  event sources         {sources}
  scheduled sends       {firer}
  callback receiver     {receiver}
  table {table}, secret {secret}, secret prefix {prefix} (for `chasqui bindings`)

Try, in another terminal (the CLI is target/debug/chasqui: alias chasqui=$PWD/target/debug/chasqui):
  make demo                     the tour: a template read, a reply, STOP, a throttled burst, a failure
  chasqui send --to +5511988887777 --template appointment_reminder --lang pt_BR --param Ana --param 10h --watch
  chasqui inbound --from +5511988887777 --text 'Posso remarcar?'
  chasqui send --to +5511988887777 --text 'Claro!' --watch
  chasqui send --to +5511988887777 --template appointment_reminder --lang pt_BR --param Ana --param 10h --id later-1 --at +20
  chasqui send cancel later-1
  chasqui callbacks add --url {receiver_url}/hook --events message.status_changed
  chasqui contacts show +5511988887777
  chasqui dlq list
  curl '{webhook_url}?hub.mode=subscribe&hub.verify_token=chasqui-test-verify-token&hub.challenge=42'
  curl {gateway}/v1/health

Ctrl-C stops everything.",
        endpoint = r.aws_endpoint_url.as_deref().unwrap_or("(AWS_ENDPOINT_URL)"),
        sandbox = sandbox.url(),
        gateway = looped.gateway_url(),
        functions = functions.join(", "),
        served = match &args.invoke_api {
            Some(api) => format!("served by `cargo lambda watch` at {api}, rebuilt on change"),
            None => format!("target/debug under the local Lambda runtime; full logs: {}", args.function_log.display()),
        },
        sources = sources.join("; "),
        receiver_url = receiver.as_ref().map_or_else(|| "http://127.0.0.1:9300".to_owned(), |r| r.server.url()),
        receiver = match &receiver {
            Some(r) => format!("{}/ (verifies every signature with the default tenant's endpoints; prints what it gets)", r.server.url()),
            None => "off".to_owned(),
        },
        firer = match &r.schedule_group {
            Some(group) => format!("schedule group {group}, fired locally every second (moto never fires schedules)"),
            None => "off (no schedule group in the stack)".to_owned(),
        },
        table = r.table_name.as_deref().unwrap_or("-"),
        secret = r.secret_id.as_deref().unwrap_or("-"),
        prefix = spec.secret_prefix().as_deref().unwrap_or("- (bindings need WHATSAPP_SECRET_PREFIX)"),
    );
    shutdown_signal().await;
    eprintln!("\nstopping: pollers (finishing batches in flight), HTTP front, functions, sandbox");
    if let Some(firer) = firer {
        firer.stop().await;
    }
    if let Some(receiver) = receiver {
        receiver.server.stop().await;
    }
    looped.stop().await;
    sandbox.stop().await;
    eprintln!("stopped");
    Ok(())
}

fn short(queue_url: &str) -> &str {
    queue_url.rsplit('/').next().unwrap_or(queue_url)
}

/// The local callback receiver, on the stack just described in `stack`.
async fn callback_receiver(
    stack: &std::path::Path,
    port: u16,
) -> Result<super::callbacks::Receiver, CliError> {
    let target = crate::target::Target::resolve(Some(stack)).await?;
    let registry = super::callbacks::registry(&target)?;
    super::callbacks::Receiver::start(
        ([127, 0, 0, 1], port).into(),
        super::callbacks::Keys::Registry(registry, target.tenant.clone()),
        Some(super::Output { json: false }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_log_lines_are_shortened() {
        for line in [
            r#"{"timestamp":"t","level":"INFO","message":"send request","message_id":"m-1","outcome":"sent","latency_ms":3.5,"target":"sender"}"#,
            r#"{"timestamp":"t","level":"INFO","fields":{"message":"send request","message_id":"m-1","outcome":"sent","latency_ms":3.5},"target":"sender"}"#,
        ] {
            let short = compact("sender", line);
            assert!(short.starts_with("[sender] INFO  send request "), "{short}");
            for part in [" message_id=m-1", " outcome=sent", " latency_ms=3.5"] {
                assert!(short.contains(part), "{short}");
            }
            assert!(
                !short.contains("timestamp") && !short.contains("target"),
                "{short}"
            );
        }
        assert_eq!(compact("webhook", "plain text"), "[webhook] plain text");
        let emf = r#"{"Outcome":"sent","Sends":3,"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}"#;
        assert_eq!(
            compact("sender", emf),
            "[sender] EMF    Outcome=sent Sends=3"
        );
    }
}
