//! Which Chasqui the CLI talks to. A deployed stack is named by the same
//! settings the functions read (`SEND_QUEUE_URL`, `TABLE_NAME`, ...) with the
//! normal AWS credential chain; without them, the local stack that
//! `make dev` describes in `.dev/stack.json`, with its emulator endpoint.

use std::path::{Path, PathBuf};

use shared::config::Settings;

use crate::error::CliError;
use crate::stack::{Resources, StackSpec};

/// The local stack file `make dev` writes.
pub const STACK_FILE: &str = ".dev/stack.json";
/// The sandbox's port under `make dev`.
pub const DEFAULT_SANDBOX_URL: &str = "http://127.0.0.1:9100";

/// Resolved resources and the AWS configuration to reach them.
#[derive(Clone)]
pub struct Target {
    pub resources: Resources,
    pub aws: aws_config::SdkConfig,
    /// Where the resources came from, for messages.
    pub source: String,
    pub local: bool,
    /// The tenant whose data commands read and write (`--tenant`).
    pub tenant: String,
}

impl Target {
    /// Reads the environment, then the stack file.
    pub async fn resolve(stack_file: Option<&Path>) -> Result<Self, CliError> {
        let settings = Settings::from_env();
        let env = Resources {
            secret_id: settings.get("WHATSAPP_SECRET_ID"),
            table_name: settings.get("TABLE_NAME"),
            send_queue_url: settings.get("SEND_QUEUE_URL"),
            send_dlq_url: settings.get("SEND_DLQ_URL"),
            webhook_queue_url: settings.get("WEBHOOK_QUEUE_URL"),
            webhook_dlq_url: settings.get("WEBHOOK_DLQ_URL"),
            upstream_events_queue_url: settings.get("UPSTREAM_EVENTS_QUEUE_URL"),
            callbacks_queue_url: settings.get("CALLBACKS_QUEUE_URL"),
            callbacks_dlq_url: settings.get("CALLBACKS_DLQ_URL"),
            callback_secret_id: settings.get("CALLBACK_SECRET_ID"),
            phone_number_id: settings.get("WHATSAPP_PHONE_NUMBER_ID"),
            aws_endpoint_url: settings.get("AWS_ENDPOINT_URL"),
            region: settings.get("AWS_REGION"),
            sandbox_url: settings.get("CHASQUI_SANDBOX_URL"),
            media_bucket: settings.get("MEDIA_BUCKET"),
            media_queue_url: settings.get("MEDIA_QUEUE_URL"),
            media_dlq_url: settings.get("MEDIA_DLQ_URL"),
            webhook_url: None,
            secret_prefix: settings.get("WHATSAPP_SECRET_PREFIX"),
            schedule_group: settings.get("SCHEDULE_GROUP"),
            scheduler_role_arn: settings.get("SCHEDULER_ROLE_ARN"),
            send_queue_arn: settings.get("SEND_QUEUE_ARN"),
        };
        let explicit = stack_file
            .map(Path::to_path_buf)
            .or_else(|| settings.get("CHASQUI_STACK_FILE").map(PathBuf::from));
        let deployed = explicit.is_none()
            && (env.send_queue_url.is_some()
                || env.table_name.is_some()
                || env.webhook_queue_url.is_some());
        if deployed {
            return Ok(Self {
                aws: shared::aws_config().await,
                resources: env,
                source: "the environment (SEND_QUEUE_URL, TABLE_NAME, ...)".into(),
                local: false,
                tenant: shared::tenant::DEFAULT_TENANT.to_owned(),
            });
        }
        let path = match explicit {
            Some(p) => Some(p),
            None => find_stack_file(),
        };
        let Some(path) = path else {
            // Nothing local: the environment alone (it may name only a
            // sandbox or a secret, which some commands need).
            return Ok(Self {
                aws: shared::aws_config().await,
                resources: env,
                source: "the environment".into(),
                local: false,
                tenant: shared::tenant::DEFAULT_TENANT.to_owned(),
            });
        };
        let spec = StackSpec::read(&path).map_err(|e| {
            CliError::new(e.to_string()).hint("start the local stack with `make dev`, or set SEND_QUEUE_URL, TABLE_NAME, ... for a deployed one")
        })?;
        let secret_prefix = spec.secret_prefix();
        let mut resources = spec.resources;
        resources.secret_prefix = secret_prefix;
        // The environment still wins key by key (e.g. another sandbox).
        let overlay = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        overlay(&mut resources.sandbox_url, env.sandbox_url);
        overlay(&mut resources.phone_number_id, env.phone_number_id);
        overlay(&mut resources.secret_prefix, env.secret_prefix);
        let endpoint = env.aws_endpoint_url.or(resources.aws_endpoint_url.clone());
        let region = env
            .region
            .or(resources.region.clone())
            .unwrap_or_else(|| "us-east-1".into());
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
            if settings.get("AWS_ACCESS_KEY_ID").is_none() && settings.get("AWS_PROFILE").is_none()
            {
                // The emulator takes any credentials; do not look for real ones.
                loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "chasqui-local",
                ));
            }
        }
        Ok(Self {
            aws: loader.load().await,
            resources,
            source: path.display().to_string(),
            local: true,
            tenant: shared::tenant::DEFAULT_TENANT.to_owned(),
        })
    }

    /// Scheduled sends' settings, as the sender reads them
    /// (`SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`, `SEND_QUEUE_ARN`).
    pub fn schedule_settings(&self) -> Result<shared::config::ScheduleSettings, CliError> {
        let r = &self.resources;
        let mut pairs = Vec::new();
        for (name, value) in [
            ("SCHEDULE_GROUP", &r.schedule_group),
            ("SCHEDULER_ROLE_ARN", &r.scheduler_role_arn),
            ("SEND_QUEUE_ARN", &r.send_queue_arn),
        ] {
            if let Some(v) = value {
                pairs.push((name, v.as_str()));
            }
        }
        Settings::from_pairs(pairs)
            .schedule()
            .map_err(|e| CliError::new(e.to_string()))?
            .ok_or_else(|| {
                CliError::new(format!("no schedule group in {}", self.source))
                    .hint("set SCHEDULE_GROUP, SCHEDULER_ROLE_ARN and SEND_QUEUE_ARN (the stack's outputs ScheduleGroupName, SchedulerRoleArn, SendQueueArn), or restart `make dev`")
            })
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }

    /// Where the CLI's own events go: the stack's upstream events queue and
    /// callbacks queue, as the functions' do (logged when neither is known).
    pub fn events(&self) -> std::sync::Arc<dyn shared::events::publish::EventPublisher> {
        shared::events::publish::publisher(
            &self.sqs(),
            self.resources.upstream_events_queue_url.as_deref(),
            self.resources.callbacks_queue_url.as_deref(),
        )
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.aws)
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.aws)
    }

    fn need<'a>(
        &self,
        value: &'a Option<String>,
        setting: &str,
        output: &str,
    ) -> Result<&'a str, CliError> {
        value.as_deref().ok_or_else(|| {
            CliError::new(format!("no {setting} (looked in {})", self.source)).hint(format!(
                "start the local stack with `make dev`, or set {setting} (the stack's {output} output) for a deployed one"
            ))
        })
    }

    pub fn send_queue(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.send_queue_url,
            "SEND_QUEUE_URL",
            "SendQueueUrl",
        )
    }

    pub fn send_dlq(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.send_dlq_url,
            "SEND_DLQ_URL",
            "SendDeadLetterQueueUrl",
        )
    }

    pub fn webhook_queue(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.webhook_queue_url,
            "WEBHOOK_QUEUE_URL",
            "WebhookQueueUrl",
        )
    }

    pub fn webhook_dlq(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.webhook_dlq_url,
            "WEBHOOK_DLQ_URL",
            "WebhookDeadLetterQueueUrl",
        )
    }

    pub fn media_queue(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.media_queue_url,
            "MEDIA_QUEUE_URL",
            "MediaQueueUrl",
        )
    }

    pub fn media_dlq(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.media_dlq_url,
            "MEDIA_DLQ_URL",
            "MediaDeadLetterQueueUrl",
        )
    }

    pub fn callbacks_queue(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.callbacks_queue_url,
            "CALLBACKS_QUEUE_URL",
            "CallbacksQueueUrl",
        )
    }

    pub fn callbacks_dlq(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.callbacks_dlq_url,
            "CALLBACKS_DLQ_URL",
            "CallbacksDeadLetterQueueUrl",
        )
    }

    pub fn table(&self) -> Result<&str, CliError> {
        self.need(&self.resources.table_name, "TABLE_NAME", "TableName")
    }

    pub fn secret_id(&self) -> Result<&str, CliError> {
        self.need(
            &self.resources.secret_id,
            "WHATSAPP_SECRET_ID",
            "SecretName",
        )
    }

    /// `WHATSAPP_SECRET_PREFIX`, checked as the functions check it, with
    /// the names it gives app and token secrets.
    pub fn secret_settings(&self) -> Result<shared::config::SecretSettings, CliError> {
        let Some(prefix) = self.resources.secret_prefix.as_deref() else {
            return Err(CliError::new(format!(
                "no WHATSAPP_SECRET_PREFIX (looked in {})",
                self.source
            ))
            .hint(
                "bindings need the stack's secret prefix: set WHATSAPP_SECRET_PREFIX to the prefix the stack's webhook and sender functions have (e.g. chasqui/prod/), or, locally, restart `make dev`, which sets chasqui-local/",
            ));
        };
        // Only the prefix is used here; WHATSAPP_SECRET_ID may be unset.
        let secret_id = self.resources.secret_id.as_deref().unwrap_or("-");
        Settings::from_pairs([
            ("WHATSAPP_SECRET_ID", secret_id),
            ("WHATSAPP_SECRET_PREFIX", prefix),
        ])
        .secret()
        .map_err(|e| {
            CliError::new(e.to_string())
                .hint("set WHATSAPP_SECRET_PREFIX to the stack's prefix, e.g. chasqui/prod/")
        })
    }

    /// The business number: the stack's default, or the one given.
    pub fn phone_number_id(&self, given: Option<&str>) -> Result<String, CliError> {
        given
            .map(str::to_owned)
            .or_else(|| self.resources.phone_number_id.clone())
            .ok_or_else(|| {
                CliError::new("no business phone number id")
                    .hint("pass --phone-number-id or set WHATSAPP_PHONE_NUMBER_ID")
            })
    }

    /// The sandbox's control API (local stacks only).
    pub fn sandbox_url(&self) -> String {
        self.resources
            .sandbox_url
            .clone()
            .unwrap_or_else(|| DEFAULT_SANDBOX_URL.to_owned())
    }
}

/// `.dev/stack.json` in this directory or the nearest parent that has one.
fn find_stack_file() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join(STACK_FILE))
        .find(|p| p.is_file())
}
