//! A local stack: the functions, how they are fed (SQS event sources and
//! HTTP routes) and the resources they use, as one JSON document
//! ([`StackSpec`]); and the running loop built from it ([`LocalLoop`]):
//! each function served by the local runtime, each queue polled into its
//! function, the HTTP routes behind the API Gateway front.
//!
//! `scripts/local_stack.py up` writes the document for `make dev` from
//! `infra/template.yaml` (names, environment, batch sizes, concurrency);
//! the end-to-end tests build one in code over their own resources.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gateway::{self, Gateway, GatewayError, GatewayOptions, Route};
use crate::poller::{EventSource, Poller, PollerStats};
use crate::runtime::{
    FunctionSpec, FunctionStats, Invoke, InvokeApi, LocalFunction, LogSink, aws_passthrough,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack name resources are named after (`chasqui-local`).
    #[serde(default)]
    pub name: String,
    pub functions: BTreeMap<String, FunctionConfig>,
    #[serde(default)]
    pub event_sources: Vec<EventSourceConfig>,
    #[serde(default)]
    pub http_routes: Vec<HttpRoute>,
    #[serde(default)]
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    /// The cargo binary (default: the function's name).
    #[serde(default)]
    pub binary: Option<String>,
    /// The function's environment, as its template declares it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Instances at once; an event source's `maximum_concurrency` wins.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

fn default_timeout() -> u64 {
    30
}

fn default_memory() -> u32 {
    256
}

impl FunctionConfig {
    pub fn new(env: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        Self {
            binary: None,
            env: env.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            timeout_seconds: default_timeout(),
            memory_mb: default_memory(),
            max_concurrency: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSourceConfig {
    pub function: String,
    pub queue_url: String,
    #[serde(default)]
    pub queue_arn: Option<String>,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default)]
    pub batching_window_seconds: u64,
    #[serde(default = "default_concurrency")]
    pub maximum_concurrency: usize,
    #[serde(default = "yes")]
    pub report_batch_item_failures: bool,
}

fn default_batch() -> usize {
    10
}

fn default_concurrency() -> usize {
    2
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRoute {
    pub path: String,
    pub function: String,
}

/// Where things are, for the CLI (`chasqui send`, `status`, `dlq`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub secret_id: Option<String>,
    #[serde(default)]
    pub table_name: Option<String>,
    #[serde(default)]
    pub send_queue_url: Option<String>,
    #[serde(default)]
    pub send_dlq_url: Option<String>,
    #[serde(default)]
    pub webhook_queue_url: Option<String>,
    #[serde(default)]
    pub webhook_dlq_url: Option<String>,
    #[serde(default)]
    pub upstream_events_queue_url: Option<String>,
    /// The callbacks queue and its dead-letter queue (`docs/callbacks.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callbacks_queue_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callbacks_dlq_url: Option<String>,
    /// The master key secret of callback signing secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_secret_id: Option<String>,
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// The emulator the stack lives in.
    #[serde(default)]
    pub aws_endpoint_url: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// The sandbox's control API.
    #[serde(default)]
    pub sandbox_url: Option<String>,
    /// The media bucket (`docs/media.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_bucket: Option<String>,
    /// The media queue and its dead-letter queue (`docs/media.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_queue_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_dlq_url: Option<String>,
    /// Where the webhook is served (Meta's callback URL).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// `WHATSAPP_SECRET_PREFIX` of the webhook and sender functions: where
    /// further apps' secrets and binding token secrets are named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_prefix: Option<String>,
    /// Scheduled sends: the schedule group, the role Scheduler assumes and
    /// the send queue's ARN (`docs/scheduled-sends.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_queue_arn: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("could not read the stack file {path}: {reason}")]
    File { path: String, reason: String },
    #[error(
        "{function}: no binary at {path}; build the functions first (`cargo build --bins`) or pass the directory that holds them"
    )]
    MissingBinary { function: String, path: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

impl StackSpec {
    pub fn read(path: &Path) -> Result<Self, StackError> {
        let text = std::fs::read_to_string(path).map_err(|e| StackError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| StackError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// Sets `name=value` in one function's environment (e.g. the sandbox's
    /// URL once it listens).
    pub fn set_env(&mut self, function: &str, name: &str, value: &str) {
        if let Some(f) = self.functions.get_mut(function) {
            f.env.insert(name.to_owned(), value.to_owned());
        }
    }

    /// The functions' `WHATSAPP_SECRET_PREFIX`: the resources' own, else
    /// the one the sender's (or any function's) environment sets.
    pub fn secret_prefix(&self) -> Option<String> {
        const NAME: &str = "WHATSAPP_SECRET_PREFIX";
        let set = |v: &String| !v.trim().is_empty();
        self.resources
            .secret_prefix
            .clone()
            .filter(set)
            .or_else(|| {
                let sender = self.functions.get("sender").and_then(|f| f.env.get(NAME));
                sender
                    .into_iter()
                    .chain(self.functions.values().filter_map(|f| f.env.get(NAME)))
                    .find(|v| set(v))
                    .map(|v| v.trim().to_owned())
            })
    }

    fn check(&self) -> Result<(), StackError> {
        for source in &self.event_sources {
            if !self.functions.contains_key(&source.function) {
                return Err(StackError::Invalid(format!(
                    "event source on {} names an unknown function {}",
                    source.queue_url, source.function
                )));
            }
            if !(1..=10_000).contains(&source.batch_size) {
                return Err(StackError::Invalid(format!(
                    "event source of {}: batch_size must be 1 to 10000",
                    source.function
                )));
            }
        }
        for route in &self.http_routes {
            if !self.functions.contains_key(&route.function) {
                return Err(StackError::Invalid(format!(
                    "HTTP route {} names an unknown function {}",
                    route.path, route.function
                )));
            }
        }
        gateway::route_paths(self.http_routes.iter().map(|r| r.path.as_str()))?;
        Ok(())
    }
}

/// How to run a stack locally.
pub struct LoopOptions {
    /// Where the function binaries are (`target/debug`).
    pub bin_dir: PathBuf,
    /// The API Gateway front (port 0: any free port).
    pub gateway_addr: SocketAddr,
    pub gateway: GatewayOptions,
    pub logs: Arc<dyn LogSink>,
    /// Instances of an HTTP function when its config names none.
    pub http_concurrency: usize,
    /// Invoke the functions through this Lambda Invoke API (`cargo lambda
    /// watch`, which rebuilds them on change) instead of running them here.
    pub invoke_api: Option<String>,
}

impl LoopOptions {
    pub fn new(bin_dir: impl Into<PathBuf>, logs: Arc<dyn LogSink>) -> Self {
        Self {
            bin_dir: bin_dir.into(),
            gateway_addr: ([127, 0, 0, 1], 0).into(),
            gateway: GatewayOptions::default(),
            logs,
            http_concurrency: 4,
            invoke_api: None,
        }
    }
}

/// A running local stack.
pub struct LocalLoop {
    /// The functions run here (none when an Invoke API serves them).
    functions: BTreeMap<String, Arc<LocalFunction>>,
    pollers: Vec<Poller>,
    gateway: Gateway,
    routes: Vec<HttpRoute>,
}

impl LocalLoop {
    /// Starts every function's runtime, the HTTP front and the pollers.
    pub async fn start(
        spec: &StackSpec,
        sqs: aws_sdk_sqs::Client,
        options: LoopOptions,
    ) -> Result<Self, StackError> {
        spec.check()?;
        let mut functions = BTreeMap::new();
        let mut invokers: BTreeMap<String, Arc<dyn Invoke>> = BTreeMap::new();
        for (name, config) in &spec.functions {
            if let Some(api) = &options.invoke_api {
                let timeout = Duration::from_secs(config.timeout_seconds + 10);
                invokers.insert(name.clone(), Arc::new(InvokeApi::new(api, name, timeout)));
                continue;
            }
            let binary = config.binary.clone().unwrap_or_else(|| name.clone());
            let program = options.bin_dir.join(&binary);
            if !program.is_file() {
                return Err(StackError::MissingBinary {
                    function: name.clone(),
                    path: program.display().to_string(),
                });
            }
            let sources: Vec<&EventSourceConfig> = spec
                .event_sources
                .iter()
                .filter(|s| &s.function == name)
                .collect();
            let concurrency = if sources.is_empty() {
                config.max_concurrency.unwrap_or(options.http_concurrency)
            } else {
                sources.iter().map(|s| s.maximum_concurrency).sum()
            };
            let mut env = aws_passthrough();
            env.retain(|(k, _)| !config.env.contains_key(k));
            env.extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
            let function = LocalFunction::new(FunctionSpec {
                name: name.clone(),
                program,
                args: Vec::new(),
                env,
                timeout: Duration::from_secs(config.timeout_seconds),
                memory_mb: config.memory_mb,
                max_concurrency: concurrency.max(1),
                logs: options.logs.clone(),
            });
            invokers.insert(name.clone(), function.clone());
            functions.insert(name.clone(), function);
        }
        let routes: Vec<Route> = spec
            .http_routes
            .iter()
            .filter_map(|r| {
                invokers.get(&r.function).map(|f| Route {
                    path: r.path.clone(),
                    function: f.clone(),
                })
            })
            .collect();
        let all: Vec<Arc<dyn Invoke>> = invokers.values().cloned().collect();
        let gateway = Gateway::start(options.gateway_addr, routes, all, options.gateway).await?;
        let region = spec
            .resources
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let pollers = spec
            .event_sources
            .iter()
            .filter_map(|s| {
                let function = invokers.get(&s.function)?.clone();
                let source = EventSource {
                    queue_url: s.queue_url.clone(),
                    queue_arn: s.queue_arn.clone(),
                    region: region.clone(),
                    batch_size: s.batch_size,
                    batching_window: Duration::from_secs(s.batching_window_seconds),
                    max_concurrency: s.maximum_concurrency.max(1),
                    report_batch_item_failures: s.report_batch_item_failures,
                };
                Some(Poller::start(sqs.clone(), source, function))
            })
            .collect();
        Ok(Self {
            functions,
            pollers,
            gateway,
            routes: spec.http_routes.clone(),
        })
    }

    /// The HTTP front's base URL.
    pub fn gateway_url(&self) -> String {
        self.gateway.url()
    }

    /// The URL of the first HTTP route (the webhook): Meta's callback URL.
    pub fn webhook_url(&self) -> Option<String> {
        self.routes
            .first()
            .map(|r| format!("{}{}", self.gateway.url(), r.path))
    }

    pub fn function(&self, name: &str) -> Option<&Arc<LocalFunction>> {
        self.functions.get(name)
    }

    pub fn function_stats(&self) -> BTreeMap<String, FunctionStats> {
        self.functions
            .iter()
            .map(|(k, f)| (k.clone(), f.stats()))
            .collect()
    }

    /// Per poller: the function it feeds and its counters.
    pub fn poller_stats(&self) -> Vec<(String, PollerStats)> {
        self.pollers
            .iter()
            .map(|p| (p.function().to_owned(), p.stats()))
            .collect()
    }

    /// Stops in dependency order: pollers (finishing batches in flight),
    /// the HTTP front, then the function processes.
    pub async fn stop(self) {
        for poller in self.pollers {
            poller.stop().await;
        }
        self.gateway.stop().await;
        for function in self.functions.values() {
            function.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_prefix_comes_from_the_resources_or_the_functions() {
        let mut spec = StackSpec {
            functions: BTreeMap::from([
                (
                    "status".to_owned(),
                    FunctionConfig::new([("TABLE_NAME", "t")]),
                ),
                (
                    "sender".to_owned(),
                    FunctionConfig::new([("WHATSAPP_SECRET_PREFIX", "chasqui-local/")]),
                ),
            ]),
            ..StackSpec::default()
        };
        assert_eq!(spec.secret_prefix().as_deref(), Some("chasqui-local/"));
        spec.resources.secret_prefix = Some("other/".into());
        assert_eq!(spec.secret_prefix().as_deref(), Some("other/"));
        spec.resources.secret_prefix = Some(" ".into());
        spec.set_env("sender", "WHATSAPP_SECRET_PREFIX", "");
        assert_eq!(spec.secret_prefix(), None);
    }
}
