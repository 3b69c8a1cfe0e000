//! The SAM template and the code agree.
//!
//! Each function crate declares its side of the contract: `configure` reads
//! every setting the function uses (through `shared::config::Settings`, which
//! records the names) and `AWS_PERMISSIONS` lists every AWS action it calls
//! with the setting that names the resource. This test holds
//! `infra/template.yaml` to it: every setting read is set, nothing is set that
//! no one reads, every queue used exists and has a dead-letter queue, every
//! action is granted on exactly that resource, and the function's role grants
//! nothing else. The checks return their findings as text so the tests at the
//! bottom can prove each one fails on a template with a piece removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Value, json};
use shared::config::{ConfigError, Settings};

/// One function's side of the contract, as its crate declares it.
struct Manifest {
    /// The Cargo binary, as `Metadata.BuildProperties.Binary` names it.
    binary: &'static str,
    /// The function's library crate, which owns `configure`.
    krate: &'static str,
    configure: fn(&Settings) -> Result<(), ConfigError>,
    permissions: &'static [(&'static str, &'static str)],
    /// Every `alert = ...` the function logs.
    alerts: &'static [&'static str],
}

/// The manifest of a function crate that exposes `configure` and `AWS_PERMISSIONS`.
macro_rules! manifest {
    ($binary:ident: $krate:ident) => {
        Manifest {
            binary: stringify!($binary),
            krate: stringify!($krate),
            configure: |settings| $krate::configure(settings).map(drop),
            permissions: $krate::AWS_PERMISSIONS,
            alerts: $krate::ALERTS,
        }
    };
}

/// Every function checked against the template: one line per function crate.
fn manifests() -> Vec<Manifest> {
    vec![
        manifest!(webhook: chasqui_webhook),
        manifest!(sender: chasqui_sender),
        manifest!(status: chasqui_status),
        manifest!(media: chasqui_media),
        manifest!(callbacks: chasqui_callbacks),
        manifest!(api: chasqui_api),
    ]
}

/// A valid value for every setting any function reads. A function that starts
/// reading a setting not listed here fails the test, naming it: add a sample
/// and set it in the template.
const SAMPLES: &[(&str, &str)] = &[
    (
        "WHATSAPP_SECRET_ID",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:chasqui/whatsapp-AbCdEf",
    ),
    ("WHATSAPP_SECRET_PREFIX", "chasqui/"),
    (
        "LOG_KEY_SECRET_ID",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:chasqui/log-key-AbCdEf",
    ),
    ("SECRET_CACHE_TTL_SECONDS", "300"),
    (
        "WEBHOOK_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-WebhookQueue-1",
    ),
    (
        "WEBHOOK_DLQ_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-WebhookDeadLetterQueue-1",
    ),
    ("WEBHOOK_MAX_RECEIVE_COUNT", "5"),
    (
        "SEND_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-SendQueue-1",
    ),
    ("SEND_MAX_RECEIVE_COUNT", "5"),
    ("SEND_RATE_PER_SECOND", "40"),
    ("SEND_CONCURRENCY", "10"),
    ("SEND_LOCK_SECONDS", "120"),
    ("SEND_CONFIRM_GRACE_SECONDS", "60"),
    ("GRAPH_API_TIMEOUT_MS", "10000"),
    ("MESSAGE_TTL_DAYS", "90"),
    (
        "UPSTREAM_EVENTS_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-UpstreamEventsQueue-1",
    ),
    ("TABLE_NAME", "chasqui-Table-1A2B3C4D5E6F"),
    ("GRAPH_API_BASE_URL", "https://graph.facebook.com"),
    ("GRAPH_API_VERSION", "v25.0"),
    ("WHATSAPP_PHONE_NUMBER_ID", "1122334455"),
    ("INBOUND_TTL_DAYS", "90"),
    ("WEBHOOK_RECORD_TTL_DAYS", "30"),
    ("FOREIGN_MESSAGE_TTL_DAYS", "30"),
    ("OPT_OUT_KEYWORDS", "STOP,PARAR"),
    ("OPT_IN_KEYWORDS", "START,VOLTAR"),
    ("METRICS_NAMESPACE", "Chasqui/chasqui"),
    ("WHATSAPP_WABA_ID", "102290129340398"),
    ("TEMPLATE_CACHE_SECONDS", "30"),
    ("TEMPLATE_MAX_AGE_HOURS", "3"),
    ("MEDIA_BUCKET", "chasqui-mediabucket-1a2b3c4d5e6f"),
    ("MEDIA_ALLOWED_BUCKETS", "acme-invoices"),
    (
        "MEDIA_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-MediaQueue-1",
    ),
    ("MEDIA_MAX_RECEIVE_COUNT", "10"),
    ("MEDIA_MAX_BYTES", "104857600"),
    ("MEDIA_TIMEOUT_SECONDS", "60"),
    (
        "CALLBACKS_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-CallbacksQueue-1",
    ),
    (
        "CALLBACKS_DLQ_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/chasqui-CallbacksDeadLetterQueue-1",
    ),
    (
        "CALLBACK_SECRET_ID",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:chasqui/callbacks-AbCdEf",
    ),
    ("CALLBACK_TIMEOUT_MS", "5000"),
    ("CALLBACK_RETRY_HOURS", "24"),
    ("CALLBACK_BACKOFF_BASE_SECONDS", "30"),
    ("CALLBACK_BACKOFF_CAP_SECONDS", "3600"),
    ("CALLBACK_ALLOWED_NETWORKS", "10.20.0.0/16"),
    ("CALLBACK_RETENTION_DAYS", "7"),
    ("CALLBACK_ENDPOINT_CACHE_SECONDS", "30"),
    ("SCHEDULE_GROUP", "chasqui-ScheduleGroup-1A2B3C"),
    (
        "SCHEDULER_ROLE_ARN",
        "arn:aws:iam::123456789012:role/chasqui-SchedulerRole-1A2B3C",
    ),
    (
        "SEND_QUEUE_ARN",
        "arn:aws:sqs:us-east-1:123456789012:chasqui-SendQueue-1",
    ),
    (
        "SEND_DLQ_ARN",
        "arn:aws:sqs:us-east-1:123456789012:chasqui-SendDeadLetterQueue-1",
    ),
    ("SEND_AT_MAX_DAYS", "35"),
    ("API_RATE_PER_MINUTE", "600"),
    ("API_KEY_CACHE_SECONDS", "30"),
];

/// Read by `shared::telemetry::init` through tracing's `EnvFilter`, not `Settings`.
const READ_OUTSIDE_SETTINGS: &[&str] = &["RUST_LOG"];

/// What Lambda's SQS event source needs on the function's own queue.
const SQS_POLLING: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];
/// What Lambda needs to write the function's own log group.
const LOG_WRITING: &[&str] = &["logs:CreateLogStream", "logs:PutLogEvents"];
/// SQS keeps a message's first enqueue time when it moves to a dead-letter
/// queue, so the DLQ keeps the maximum.
const DLQ_RETENTION_SECONDS: u64 = 14 * 24 * 3600;

// ------------------------------------------------------------------ template

/// `infra/template.yaml` as JSON, short-form tags turned into their long form
/// (`!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`).
struct Template(Value);

impl Template {
    /// `infra/template.yaml`, or the copy `CHASQUI_TEMPLATE` names (to try an
    /// edit without touching the real one).
    fn load() -> Self {
        match std::env::var_os("CHASQUI_TEMPLATE") {
            Some(path) => Self::parse(Path::new(&path)),
            None => Self::real(),
        }
    }

    /// `infra/template.yaml` itself.
    fn real() -> Self {
        Self::parse(&harness::root().join("infra/template.yaml"))
    }

    fn parse(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let docs = Yaml::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        let [doc] = docs.as_slice() else {
            panic!("{}: expected one YAML document", path.display());
        };
        Self(to_json(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    fn resources(&self) -> &Map<String, Value> {
        self.0["Resources"]
            .as_object()
            .expect("the template has Resources")
    }

    fn resource(&self, id: &str) -> Option<&Value> {
        self.resources().get(id)
    }

    fn type_of(&self, id: &str) -> Option<&str> {
        self.resource(id).and_then(|r| r["Type"].as_str())
    }

    fn functions(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
    }

    /// The function whose build produces `binary`.
    fn function(&self, binary: &str) -> Option<(&String, &Value)> {
        self.functions()
            .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"] == binary)
    }

    /// A function property, falling back to `Globals.Function`.
    fn function_property<'a>(&'a self, function: &'a Value, name: &str) -> &'a Value {
        match &function["Properties"][name] {
            Value::Null => &self.0["Globals"]["Function"][name],
            own => own,
        }
    }

    /// Environment variables: `Globals.Function` merged under the function's own.
    fn environment(&self, function: &Value) -> BTreeMap<String, Value> {
        let mut env = BTreeMap::new();
        for scope in [&self.0["Globals"]["Function"], &function["Properties"]] {
            if let Some(vars) = scope["Environment"]["Variables"].as_object() {
                env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        env
    }

    /// The queues this function's SQS event sources poll.
    fn source_queues(&self, function: &Value) -> Vec<(String, Value)> {
        let Some(events) = function["Properties"]["Events"].as_object() else {
            return Vec::new();
        };
        events
            .iter()
            .filter(|(_, e)| e["Type"] == "SQS")
            .map(|(name, e)| {
                let queue = resource_of(&e["Properties"]["Queue"]).unwrap_or_default();
                (queue, json!({"event": name, "properties": e["Properties"]}))
            })
            .collect()
    }

    /// The dead-letter queue `queue`'s redrive policy names.
    fn dead_letter_queue_of(&self, queue: &str) -> Option<String> {
        let policy = &self.resource(queue)?["Properties"]["RedrivePolicy"];
        resource_of(&policy["deadLetterTargetArn"])
    }

    fn is_dead_letter_queue(&self, queue: &str) -> bool {
        self.resources()
            .keys()
            .any(|q| self.dead_letter_queue_of(q).as_deref() == Some(queue))
    }

    /// The resource (present or not) a value refers to; parameters are not resources.
    fn target(&self, value: &Value) -> Option<String> {
        resource_of(value).filter(|id| self.0["Parameters"][id.as_str()].is_null())
    }

    /// A number, directly or as the default of the parameter it refers to.
    fn number(&self, value: &Value) -> Option<u64> {
        match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => {
                let param = value["Ref"].as_str()?;
                self.number(&self.0["Parameters"][param]["Default"])
            }
        }
    }
}

/// YAML to JSON, CloudFormation short-form tags expanded.
fn to_json(node: &Yaml) -> Result<Value, String> {
    Ok(match node {
        Yaml::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => json!(i),
            Scalar::FloatingPoint(f) => json!(f.into_inner()),
            Scalar::String(s) => Value::String(s.to_string()),
        },
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match to_json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => {
            let value = to_json(inner)?;
            match tag.suffix.as_str() {
                "Ref" => json!({ "Ref": value }),
                "Condition" => json!({ "Condition": value }),
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (resource, attribute) = s
                            .split_once('.')
                            .ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?;
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                function => json!({ format!("Fn::{function}"): value }),
            }
        }
        other => return Err(format!("unsupported YAML node {other:?}")),
    })
}

/// The template resource a value refers to: `!Ref X`, `!GetAtt X.Attr`, or
/// the branch of an `!If` that refers to one.
fn resource_of(value: &Value) -> Option<String> {
    if let Some(id) = value["Ref"].as_str() {
        return (!id.starts_with("AWS::")).then(|| id.to_owned());
    }
    if let Some(id) = value["Fn::GetAtt"][0].as_str() {
        return Some(id.to_owned());
    }
    if let Some([_, yes, no]) = value["Fn::If"].as_array().map(Vec::as_slice) {
        return resource_of(yes).or_else(|| resource_of(no));
    }
    None
}

fn is_no_value(value: &Value) -> bool {
    value["Ref"] == "AWS::NoValue"
}

/// The branches of `!If` that are present; anything else as itself.
fn branches(value: &Value) -> Vec<&Value> {
    match value["Fn::If"].as_array().map(Vec::as_slice) {
        Some([_, yes, no]) => [yes, no]
            .into_iter()
            .flat_map(branches)
            .filter(|v| !is_no_value(v))
            .collect(),
        _ => vec![value],
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().flat_map(branches).collect(),
        Value::Null => Vec::new(),
        other => branches(other),
    }
}

// ------------------------------------------------------------------ grants

/// What a policy statement's `Resource` entry designates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// The ARN of a resource of the template.
    Arn(String),
    /// `<table ARN>/index/<name or *>`.
    Index(String, String),
    /// Every secret whose name starts with this `!Sub` text: the further
    /// apps' and bindings' secrets under `WHATSAPP_SECRET_PREFIX`.
    SecretPrefix(String),
    /// `!Sub ${<bucket>.Arn}/*`: the objects of a bucket of the template.
    Objects(String),
    /// `!Sub arn:${AWS::Partition}:s3:::${<parameter>}` (`/*` when
    /// `true`): a bucket the deployer names by parameter, or its objects.
    ParameterBucket(String, bool),
    /// `!Sub arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${<group>}/*`:
    /// the schedules of a schedule group of the template.
    Schedules(String),
    /// Anything else (a wildcard, a literal ARN, a queue URL): never allowed.
    Other(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Arn(id) => write!(f, "{id}"),
            Scope::Index(id, index) => write!(f, "{id}/index/{index}"),
            Scope::SecretPrefix(prefix) => write!(f, "secrets {prefix}*"),
            Scope::Objects(id) => write!(f, "{id}/*"),
            Scope::ParameterBucket(param, objects) => {
                write!(f, "bucket ${{{param}}}{}", if *objects { "/*" } else { "" })
            }
            Scope::Schedules(group) => write!(f, "schedules of {group}"),
            Scope::Other(raw) => write!(f, "{raw}"),
        }
    }
}

/// Types whose `Ref` is their ARN; for the rest `!GetAtt X.Arn` is.
const REF_IS_ARN: &[&str] = &["AWS::SecretsManager::Secret", "AWS::IAM::ManagedPolicy"];

/// The ARN of a secret of the stack's account and region, up to its name.
const SECRET_ARN: &str =
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:";

/// The schedules of a group of the stack's account and region, up to the
/// group's `${...}`.
const SCHEDULE_ARN: &str =
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${";

/// The kinds of secret named under `WHATSAPP_SECRET_PREFIX`: a role may read
/// one kind, never the whole prefix.
const SECRET_KINDS: &[&str] = &[shared::config::APP_SECRETS, shared::config::TOKEN_SECRETS];

fn scope(template: &Template, value: &Value) -> Scope {
    let other = || Scope::Other(value.to_string());
    if let Some(id) = value["Ref"].as_str() {
        return match template.type_of(id) {
            Some(t) if REF_IS_ARN.contains(&t) => Scope::Arn(id.to_owned()),
            _ => other(),
        };
    }
    if let (Some(id), Some("Arn")) = (
        value["Fn::GetAtt"][0].as_str(),
        value["Fn::GetAtt"][1].as_str(),
    ) {
        return Scope::Arn(id.to_owned());
    }
    // `!Sub arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:<prefix>*`
    if let Some(prefix) = value["Fn::Sub"]
        .as_str()
        .and_then(|sub| sub.strip_prefix(SECRET_ARN))
        .and_then(|rest| rest.strip_suffix('*'))
        .filter(|prefix| !prefix.contains('*'))
    {
        return Scope::SecretPrefix(prefix.to_owned());
    }
    // `!Sub arn:...:scheduler:...:schedule/${Group}/*`
    if let Some(group) = value["Fn::Sub"]
        .as_str()
        .and_then(|sub| sub.strip_prefix(SCHEDULE_ARN))
        .and_then(|rest| rest.strip_suffix("}/*"))
        .filter(|group| !group.contains(['$', '{', '}', '/', '*']))
    {
        return Scope::Schedules(group.to_owned());
    }
    // `!Sub ${Bucket.Arn}/*`
    if let Some(id) = value["Fn::Sub"]
        .as_str()
        .and_then(|sub| sub.strip_prefix("${"))
        .and_then(|rest| rest.strip_suffix(".Arn}/*"))
        .filter(|id| !id.contains(['$', '{', '}', '/']))
    {
        return Scope::Objects(id.to_owned());
    }
    // `!Sub arn:${AWS::Partition}:s3:::${Parameter}[/*]`
    if let Some(rest) = value["Fn::Sub"]
        .as_str()
        .and_then(|sub| sub.strip_prefix("arn:${AWS::Partition}:s3:::${"))
    {
        let (param, objects) = match rest.strip_suffix("}/*") {
            Some(param) => (param, true),
            None => (rest.strip_suffix('}').unwrap_or(rest), false),
        };
        if !template.0["Parameters"][param].is_null() {
            return Scope::ParameterBucket(param.to_owned(), objects);
        }
    }
    // `!Sub ${Table.Arn}/index/<name or *>`
    let index = value["Fn::Sub"]
        .as_str()
        .and_then(|sub| sub.split_once("/index/"))
        .and_then(|(head, index)| {
            let id = head.strip_prefix("${")?.strip_suffix(".Arn}")?;
            (!index.contains(['$', '/'])).then(|| Scope::Index(id.to_owned(), index.to_owned()))
        });
    index.unwrap_or_else(other)
}

/// Every (action, scope) a function's role allows, or why it cannot be read.
fn grants(
    template: &Template,
    function_id: &str,
    function: &Value,
) -> (BTreeSet<(String, Scope)>, Vec<String>) {
    let mut problems = Vec::new();
    if !function["Properties"]["Policies"].is_null() {
        problems.push(format!(
            "{function_id} uses SAM Policies: SAM then adds managed policies on `*`; grant through its own Role"
        ));
    }
    let role_value = &function["Properties"]["Role"];
    let role_id = match role_value["Fn::GetAtt"].as_array().map(Vec::as_slice) {
        Some([Value::String(id), attr]) if attr == "Arn" => id.clone(),
        _ => {
            problems.push(format!(
                "{function_id} has no Role of its own (`Role: !GetAtt <Role>.Arn`), so its grants cannot be checked"
            ));
            return (BTreeSet::new(), problems);
        }
    };
    let Some(role) = template.resource(&role_id) else {
        problems.push(format!(
            "{function_id}'s Role {role_id} is not in the template"
        ));
        return (BTreeSet::new(), problems);
    };
    if role["Type"] != "AWS::IAM::Role" {
        problems.push(format!(
            "{function_id}'s Role {role_id} is not an AWS::IAM::Role"
        ));
    }
    if !role["Properties"]["ManagedPolicyArns"].is_null() {
        problems.push(format!(
            "{role_id} attaches managed policies, whose grants this test cannot see: inline them"
        ));
    }
    let mut documents: Vec<&Value> = one_or_many(&role["Properties"]["Policies"])
        .into_iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    // Policies attached from outside the role count too.
    for resource in template.resources().values() {
        let kind = resource["Type"].as_str().unwrap_or_default();
        if matches!(kind, "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy")
            && one_or_many(&resource["Properties"]["Roles"])
                .iter()
                .any(|r| r["Ref"] == role_id.as_str())
        {
            documents.push(&resource["Properties"]["PolicyDocument"]);
        }
    }
    let mut out = BTreeSet::new();
    for document in documents {
        for statement in one_or_many(&document["Statement"]) {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            for key in ["NotAction", "NotResource", "NotPrincipal"] {
                if !statement[key].is_null() {
                    problems.push(format!("{role_id} statement {sid} uses {key}"));
                }
            }
            if statement["Effect"] != "Allow" {
                continue;
            }
            for action in one_or_many(&statement["Action"]) {
                let Some(action) = action.as_str() else {
                    problems.push(format!(
                        "{role_id} statement {sid}: action {action} is not a string"
                    ));
                    continue;
                };
                if action.contains('*') {
                    problems.push(format!(
                        "{role_id} statement {sid} allows {action}: no wildcards"
                    ));
                }
                for resource in one_or_many(&statement["Resource"]) {
                    if resource.as_str().is_some_and(|r| r.contains('*')) {
                        problems.push(format!(
                            "{role_id} statement {sid} allows {action} on {resource}: no wildcards"
                        ));
                    }
                    out.insert((action.to_owned(), scope(template, resource)));
                }
            }
        }
    }
    (out, problems)
}

// ------------------------------------------------------------------ checks

/// The settings `configure` reads, with the sample values.
fn names_read(manifest: &Manifest) -> Result<BTreeSet<&'static str>, Vec<String>> {
    let settings = Settings::from_pairs(SAMPLES.iter().copied());
    let result = (manifest.configure)(&settings);
    let read: BTreeSet<&'static str> = settings.names_read().into_iter().collect();
    let mut problems: Vec<String> = read
        .iter()
        .filter(|name| !SAMPLES.iter().any(|(known, _)| known == *name))
        .map(|name| {
            format!(
                "{} reads {name}, a setting this test does not know: add a sample value to SAMPLES in tests/tests/template.rs, set it in infra/template.yaml and document it in the README",
                manifest.binary
            )
        })
        .collect();
    if let Err(err) = result {
        problems.push(format!(
            "{}::configure refused the sample settings: {err}",
            manifest.binary
        ));
    }
    if problems.is_empty() {
        Ok(read)
    } else {
        Err(problems)
    }
}

/// Every setting read is set in the template, and nothing set goes unread.
fn check_settings(template: &Template, manifest: &Manifest) -> Vec<String> {
    let Some((id, function)) = template.function(manifest.binary) else {
        return vec![format!(
            "no function in the template builds {}",
            manifest.binary
        )];
    };
    let read = match names_read(manifest) {
        Ok(read) => read,
        Err(problems) => return problems,
    };
    let env = template.environment(function);
    let mut problems = Vec::new();
    for name in &read {
        if !env.contains_key(*name) {
            problems.push(format!(
                "{} reads {name}, which {id} does not set in Environment.Variables",
                manifest.binary
            ));
        }
    }
    for name in env.keys() {
        if !read.contains(name.as_str()) && !READ_OUTSIDE_SETTINGS.contains(&name.as_str()) {
            problems.push(format!(
                "{id} sets {name}, which {}::configure never reads",
                manifest.krate
            ));
        }
    }
    problems
}

/// Every queue the function's settings or event sources name exists, and has a
/// dead-letter queue unless it is one.
fn check_queues(template: &Template, manifest: &Manifest) -> Vec<String> {
    let Some((id, function)) = template.function(manifest.binary) else {
        return vec![format!(
            "no function in the template builds {}",
            manifest.binary
        )];
    };
    let mut used: Vec<(String, String)> = Vec::new();
    for (name, value) in template.environment(function) {
        if let Some(target) = template.target(&value) {
            used.push((name, target));
        } else if name.ends_with("_QUEUE_URL") || name.ends_with("_DLQ_URL") {
            // A queue URL that names no queue of the template (a literal, a
            // parameter) has no dead-letter queue this test can see.
            used.push((name, String::new()));
        }
    }
    for (queue, event) in template.source_queues(function) {
        used.push((format!("event {}", event["event"]), queue));
    }
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    for (user, queue) in used {
        match template.type_of(&queue) {
            None if queue.is_empty() => {
                problems.push(format!("{id}: {user} names no queue of the template"))
            }
            None => problems.push(format!(
                "{id}: {user} names {queue}, which is not in the template"
            )),
            Some("AWS::SQS::Queue") if checked.insert(queue.clone()) => {
                problems.extend(check_queue(template, &queue))
            }
            Some(_) => {}
        }
    }
    problems
}

/// One queue: encrypted; a dead-letter queue keeps 14 days, any other queue
/// has a redrive policy to one.
fn check_queue(template: &Template, queue: &str) -> Vec<String> {
    let Some(resource) = template.resource(queue) else {
        return vec![format!("{queue} is not in the template")];
    };
    let properties = &resource["Properties"];
    let mut problems = Vec::new();
    if properties["SqsManagedSseEnabled"] != true && properties["KmsMasterKeyId"].is_null() {
        problems.push(format!("{queue} is not encrypted at rest"));
    }
    if template.is_dead_letter_queue(queue) {
        if template.number(&properties["MessageRetentionPeriod"]) != Some(DLQ_RETENTION_SECONDS) {
            problems.push(format!(
                "dead-letter queue {queue} must keep messages 14 days"
            ));
        }
        return problems;
    }
    let redrive = &properties["RedrivePolicy"];
    if redrive.is_null() {
        problems.push(format!(
            "{queue} has no RedrivePolicy to a dead-letter queue (and no queue uses it as one)"
        ));
        return problems;
    }
    match template.dead_letter_queue_of(queue) {
        Some(dlq) if template.type_of(&dlq) == Some("AWS::SQS::Queue") => {
            problems.extend(check_queue(template, &dlq));
        }
        Some(dlq) => problems.push(format!(
            "{queue}'s dead-letter queue {dlq} is not a queue in the template"
        )),
        None => problems.push(format!(
            "{queue}'s RedrivePolicy names no dead-letter queue of the template"
        )),
    }
    if template
        .number(&redrive["maxReceiveCount"])
        .is_none_or(|n| n < 1)
    {
        problems.push(format!("{queue}'s RedrivePolicy has no maxReceiveCount"));
    }
    problems
}

/// Every action of the manifest is granted on the resource its setting names,
/// and the role grants nothing else but polling its own queue and writing its
/// own logs.
fn check_permissions(template: &Template, manifest: &Manifest) -> Vec<String> {
    let Some((id, function)) = template.function(manifest.binary) else {
        return vec![format!(
            "no function in the template builds {}",
            manifest.binary
        )];
    };
    let (granted, mut problems) = grants(template, id, function);
    let env = template.environment(function);
    // (action, scope) pairs the function needs, and those it may have.
    let mut needed: Vec<(String, Vec<Scope>)> = Vec::new();
    for (setting, action) in manifest.permissions {
        let Some(value) = env.get(*setting) else {
            problems.push(format!(
                "{}'s AWS_PERMISSIONS needs {action} on the resource {setting} names, but {id} does not set {setting}",
                manifest.binary
            ));
            continue;
        };
        // A name prefix (`!Sub ${AWS::StackName}/`): the grant is on the
        // secrets of one kind under it, a prefix specific to the stack.
        if let Some(prefix) = value["Fn::Sub"].as_str()
            && action.starts_with("secretsmanager:")
        {
            if !prefix.contains("${AWS::StackName}") || !prefix.ends_with('/') {
                problems.push(format!(
                    "{id} sets {setting} to {prefix}, which is not a stack-specific name prefix ending in '/'"
                ));
            }
            let scopes = SECRET_KINDS
                .iter()
                .map(|kind| Scope::SecretPrefix(format!("{prefix}{kind}")))
                .collect();
            needed.push((action.to_string(), scopes));
            continue;
        }
        // An S3 bucket the deployer names by parameter: the grant is on
        // that bucket (ListBucket) or its objects.
        if let Some(param) = value["Ref"]
            .as_str()
            .filter(|p| !template.0["Parameters"][*p].is_null())
            && action.starts_with("s3:")
        {
            let objects = *action != "s3:ListBucket";
            needed.push((
                action.to_string(),
                vec![Scope::ParameterBucket(param.to_owned(), objects)],
            ));
            continue;
        }
        let Some(target) = template.target(value) else {
            problems.push(format!(
                "{}'s AWS_PERMISSIONS needs {action} on the resource {setting} names, but {id} sets {setting} to {value}, no resource of the template",
                manifest.binary
            ));
            continue;
        };
        if template.resource(&target).is_none() {
            problems.push(format!(
                "{}'s AWS_PERMISSIONS needs {action} on {target} ({setting}), which is not in the template",
                manifest.binary
            ));
            continue;
        }
        let mut scopes = vec![Scope::Arn(target.clone())];
        // Schedule actions are granted on the group's schedules.
        if action.starts_with("scheduler:") {
            scopes = vec![Scope::Schedules(target.clone())];
        }
        // Object actions are granted on the bucket's objects.
        if action.starts_with("s3:") && *action != "s3:ListBucket" {
            scopes = vec![Scope::Objects(target.clone())];
        }
        if *action == "dynamodb:Query" {
            scopes.push(Scope::Index(target.clone(), "*".to_owned()));
            let indexes = &template
                .resource(&target)
                .map(|t| t["Properties"]["GlobalSecondaryIndexes"].clone())
                .unwrap_or_default();
            for index in one_or_many(indexes) {
                if let Some(name) = index["IndexName"].as_str() {
                    scopes.push(Scope::Index(target.clone(), name.to_owned()));
                }
            }
        }
        needed.push((action.to_string(), scopes));
    }
    for (queue, _) in template.source_queues(function) {
        for action in SQS_POLLING {
            needed.push((action.to_string(), vec![Scope::Arn(queue.clone())]));
        }
    }
    match resource_of(&template.function_property(function, "LoggingConfig")["LogGroup"]) {
        Some(group) => {
            for action in LOG_WRITING {
                needed.push((action.to_string(), vec![Scope::Arn(group.clone())]));
            }
        }
        None => problems.push(format!(
            "{id} has no LoggingConfig.LogGroup of the template: its role could not write logs without `*`"
        )),
    }
    for (action, scopes) in &needed {
        if !scopes
            .iter()
            .any(|s| granted.contains(&(action.clone(), s.clone())))
        {
            problems.push(format!(
                "{id}'s role is not granted {action} on {}",
                scopes[0]
            ));
        }
    }
    for (action, scope) in &granted {
        let allowed = needed
            .iter()
            .any(|(a, scopes)| a == action && scopes.contains(scope));
        if !allowed {
            problems.push(format!(
                "{id}'s role grants {action} on {scope}, which {}'s AWS_PERMISSIONS does not list",
                manifest.binary
            ));
        }
    }
    problems
}

/// SQS event sources report partial failures, take their tuning from
/// parameters, and the queue's visibility timeout covers six function timeouts.
fn check_event_sources(template: &Template, function_id: &str, function: &Value) -> Vec<String> {
    let timeout = template.number(template.function_property(function, "Timeout"));
    let mut problems = Vec::new();
    for (queue, event) in template.source_queues(function) {
        let name = &event["event"];
        let properties = &event["properties"];
        if !one_or_many(&properties["FunctionResponseTypes"])
            .iter()
            .any(|t| *t == "ReportBatchItemFailures")
        {
            problems.push(format!(
                "{function_id} event {name} does not report batch item failures: one bad message would retry its whole batch"
            ));
        }
        for (what, value) in [
            ("BatchSize", &properties["BatchSize"]),
            (
                "MaximumBatchingWindowInSeconds",
                &properties["MaximumBatchingWindowInSeconds"],
            ),
            (
                "ScalingConfig.MaximumConcurrency",
                &properties["ScalingConfig"]["MaximumConcurrency"],
            ),
        ] {
            if value["Ref"].as_str().is_none() {
                problems.push(format!(
                    "{function_id} event {name}: {what} is not a parameter"
                ));
            }
        }
        let Some(resource) = template.resource(&queue) else {
            problems.push(format!(
                "{function_id} event {name} polls {queue}, which is not in the template"
            ));
            continue;
        };
        let visibility = template
            .number(&resource["Properties"]["VisibilityTimeout"])
            .unwrap_or(30);
        match timeout {
            Some(t) if visibility >= 6 * t => {}
            Some(t) => problems.push(format!(
                "{queue}'s VisibilityTimeout is {visibility} s, under six times {function_id}'s {t} s timeout ({} s)",
                6 * t
            )),
            None => problems.push(format!("{function_id} has no Timeout")),
        }
    }
    problems
}

/// Every alert the function logs has a metric filter on the function's own
/// log group matching `alert` exactly, and an alarm on that metric.
fn check_alerts(template: &Template, manifest: &Manifest) -> Vec<String> {
    let Some((function_id, function)) = template.function(manifest.binary) else {
        return vec![format!("no function builds {}", manifest.binary)];
    };
    let log_group = &function["Properties"]["LoggingConfig"]["LogGroup"];
    let of_type = |kind: &'static str| {
        template
            .resources()
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
    };
    let mut problems = Vec::new();
    for alert in manifest.alerts {
        let pattern = format!("{{ $.alert = \"{alert}\" }}");
        let filter = of_type("AWS::Logs::MetricFilter").find(|(_, r)| {
            r["Properties"]["FilterPattern"] == pattern.as_str()
                && r["Properties"]["LogGroupName"] == *log_group
        });
        let Some((filter_id, filter)) = filter else {
            problems.push(format!(
                "{function_id} logs alert {alert}, but no metric filter `{pattern}` reads its log group"
            ));
            continue;
        };
        let metric = &filter["Properties"]["MetricTransformations"][0];
        if metric["MetricName"] != *alert {
            problems.push(format!("{filter_id} should count into the metric {alert}"));
            continue;
        }
        let alarmed = of_type("AWS::CloudWatch::Alarm").any(|(_, r)| {
            r["Properties"]["MetricName"] == *alert
                && r["Properties"]["Namespace"] == metric["MetricNamespace"]
        });
        if !alarmed {
            problems.push(format!(
                "no alarm watches the metric {alert} of {filter_id}"
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ metrics

/// A metric the template names in the functions' namespace: on the
/// dashboard or in an alarm.
#[derive(Debug)]
struct MetricRef {
    /// The dashboard widget or the alarm.
    place: String,
    name: String,
    /// Dimension names, with the value when one is named (a search names
    /// none: it graphs every value).
    dimensions: Vec<(String, Option<String>)>,
    /// How an alarm reads it: a ratio or a percentile, not a count.
    rate: bool,
}

/// The subjects the alarms must watch as rates (the issue's list): a metric
/// and, when one value of a dimension is the subject, that value.
const RATE_ALARMS: &[(&str, Option<(&str, &str)>)] = &[
    ("Sends", Some(("Outcome", "failed"))),
    ("SendErrors", Some(("ErrorClass", "throttled"))),
    ("WebhookRequests", Some(("Outcome", "signature_invalid"))),
    ("StatusLag", None),
];

/// `METRICS_NAMESPACE` as every function sets it (the `!Sub` text, or a
/// literal), or why it cannot be read.
fn metrics_namespace(template: &Template) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    for (id, function) in template.functions() {
        let value = template
            .environment(function)
            .get("METRICS_NAMESPACE")
            .cloned()
            .unwrap_or_default();
        let text = value["Fn::Sub"]
            .as_str()
            .or(value.as_str())
            .map(str::to_owned);
        seen.insert(text.ok_or_else(|| format!("{id} sets no METRICS_NAMESPACE text"))?);
    }
    match seen.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Ok(one.clone()),
        many => Err(format!(
            "the functions must share one METRICS_NAMESPACE, not {many:?}"
        )),
    }
}

/// The dashboard's metrics: explicit ones (`[namespace, name, dim, value,
/// ..., {options}]`) and searches (`SEARCH('{namespace,Dim,...}
/// MetricName="Name"', ...)`), with their namespace.
fn dashboard_metrics(template: &Template) -> Result<Vec<(String, MetricRef)>, String> {
    let mut out = Vec::new();
    for (id, resource) in template.resources() {
        if resource["Type"] != "AWS::CloudWatch::Dashboard" {
            continue;
        }
        let sub = &resource["Properties"]["DashboardBody"]["Fn::Sub"];
        let text = sub
            .as_str()
            .or(sub[0].as_str())
            .ok_or_else(|| format!("{id}: DashboardBody is not a !Sub of the dashboard's JSON"))?;
        // Every `${...}` sits inside a JSON string: the text parses as is.
        let body: Value = serde_json::from_str(text)
            .map_err(|e| format!("{id}: DashboardBody is not JSON: {e}"))?;
        for widget in body["widgets"].as_array().into_iter().flatten() {
            let place = format!("{id} widget {:?}", widget["properties"]["title"]);
            for entry in widget["properties"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let items = entry.as_array().cloned().unwrap_or_default();
                if let Some(expression) = items.first().and_then(|i| i["expression"].as_str()) {
                    out.extend(
                        searches(expression)
                            .into_iter()
                            .map(|(namespace, name, dims)| {
                                let dimensions = dims.into_iter().map(|d| (d, None)).collect();
                                let place = place.clone();
                                (
                                    namespace,
                                    MetricRef {
                                        place,
                                        name,
                                        dimensions,
                                        rate: false,
                                    },
                                )
                            }),
                    );
                    continue;
                }
                let strings: Vec<String> = items
                    .iter()
                    .map_while(|i| i.as_str().map(str::to_owned))
                    .collect();
                let [namespace, name, pairs @ ..] = strings.as_slice() else {
                    return Err(format!(
                        "{place}: a metric that is neither an expression nor [namespace, name, ...]: {entry}"
                    ));
                };
                if pairs.len() % 2 != 0 {
                    return Err(format!("{place}: {name} has a dimension without a value"));
                }
                let dimensions = pairs
                    .chunks(2)
                    .map(|p| (p[0].clone(), Some(p[1].clone())))
                    .collect();
                out.push((
                    namespace.clone(),
                    MetricRef {
                        place: place.clone(),
                        name: name.clone(),
                        dimensions,
                        rate: false,
                    },
                ));
            }
        }
    }
    Ok(out)
}

/// `(namespace, metric name, dimension names)` of each `SEARCH('{...}
/// MetricName="..."'` in a metric math expression.
fn searches(expression: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = expression;
    while let Some(start) = rest.find("SEARCH('{") {
        rest = &rest[start + "SEARCH('{".len()..];
        // The schema ends at the first `}` outside quotes (a quoted
        // namespace may hold `${AWS::StackName}`).
        let mut quoted = false;
        let Some(end) = rest.find(|c| {
            if c == '"' {
                quoted = !quoted;
            }
            c == '}' && !quoted
        }) else {
            break;
        };
        let (schema, tail) = (&rest[..end], &rest[end + 1..]);
        let mut parts = schema
            .split(',')
            .map(|p| p.trim().trim_matches('"').to_owned());
        let namespace = parts.next().unwrap_or_default();
        let name = tail
            .split_once("MetricName=\"")
            .and_then(|(_, n)| n.split_once('"'))
            .map(|(n, _)| n.to_owned())
            .unwrap_or_default();
        out.push((namespace, name, parts.collect()));
        rest = tail;
    }
    out
}

/// The metrics each alarm reads, with their namespace: its own metric, or
/// the `MetricStat`s of its metric math.
fn alarm_metrics(template: &Template) -> Vec<(String, Value, MetricRef)> {
    let mut out = Vec::new();
    for (id, resource) in template.resources() {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let p = &resource["Properties"];
        let dimensions = |metric: &Value| -> Vec<(String, Option<String>)> {
            one_or_many(&metric["Dimensions"])
                .iter()
                .map(|d| {
                    let value = d["Value"].as_str().map(str::to_owned);
                    (d["Name"].as_str().unwrap_or_default().to_owned(), value)
                })
                .collect()
        };
        if p["MetricName"].is_string() {
            let percentile = p["ExtendedStatistic"]
                .as_str()
                .is_some_and(|s| s.starts_with('p'));
            out.push((
                id.clone(),
                p["Namespace"].clone(),
                MetricRef {
                    place: id.clone(),
                    name: p["MetricName"].as_str().unwrap_or_default().to_owned(),
                    dimensions: dimensions(p),
                    rate: percentile,
                },
            ));
        }
        let queries = one_or_many(&p["Metrics"]);
        // A ratio: an expression that divides.
        let ratio = queries
            .iter()
            .any(|q| q["Expression"].as_str().is_some_and(|e| e.contains('/')));
        for query in queries {
            let metric = &query["MetricStat"]["Metric"];
            if metric.is_null() {
                continue;
            }
            let percentile = query["MetricStat"]["Stat"]
                .as_str()
                .is_some_and(|s| s.starts_with('p'));
            out.push((
                id.clone(),
                metric["Namespace"].clone(),
                MetricRef {
                    place: id.clone(),
                    name: metric["MetricName"].as_str().unwrap_or_default().to_owned(),
                    dimensions: dimensions(metric),
                    rate: ratio || percentile,
                },
            ));
        }
    }
    out
}

/// One metric reference against the code: a metric some function emits
/// (`shared::metrics::ALL`) under one of its dimension sets, with values
/// its dimensions take; or an alert's metric filter, without dimensions.
fn check_metric_ref(r: &MetricRef, alerts: &BTreeSet<&str>) -> Vec<String> {
    let names: BTreeSet<&str> = r.dimensions.iter().map(|(n, _)| n.as_str()).collect();
    if alerts.contains(r.name.as_str()) {
        return if names.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{} reads the alert metric {} by {names:?}; it has no dimensions",
                r.place, r.name
            )]
        };
    }
    let Some(metric) = shared::metrics::metric(&r.name) else {
        return vec![format!(
            "{} reads the metric {}, which no function emits (shared::metrics::ALL)",
            r.place, r.name
        )];
    };
    let mut problems = Vec::new();
    if !metric
        .dimension_sets
        .iter()
        .any(|set| set.iter().copied().collect::<BTreeSet<_>>() == names)
    {
        problems.push(format!(
            "{} reads {} by {names:?}, not one of its dimension sets {:?}",
            r.place, r.name, metric.dimension_sets
        ));
    }
    for (name, value) in &r.dimensions {
        if let (Some(key), Some(value)) = (metric.key(name), value)
            && !key.admits(value)
        {
            problems.push(format!(
                "{} reads {} with {name}={value}, a value the code never records",
                r.place, r.name
            ));
        }
    }
    problems
}

/// The dashboard and the alarms name only metrics the code emits, in its
/// namespace, by dimensions and values it records; the dashboard shows
/// every metric under each of its dimension sets; the alarms on them watch
/// rates or percentiles (the issue's four at least) and notify
/// `AlarmTopicArn`.
fn check_metrics(template: &Template, alerts: &BTreeSet<&str>) -> Vec<String> {
    let namespace = match metrics_namespace(template) {
        Ok(namespace) => namespace,
        Err(problem) => return vec![problem],
    };
    let ours = json!({ "Fn::Sub": namespace });
    let mut problems = Vec::new();
    let dashboard = match dashboard_metrics(template) {
        Ok(refs) => refs,
        Err(problem) => return vec![problem],
    };
    let mut shown = Vec::new();
    for (ns, r) in dashboard {
        if ns == namespace {
            problems.extend(check_metric_ref(&r, alerts));
            shown.push(r);
        } else if !ns.starts_with("AWS/") {
            problems.push(format!(
                "{} reads {} in the namespace {ns}, not METRICS_NAMESPACE ({namespace})",
                r.place, r.name
            ));
        }
    }
    for metric in shared::metrics::ALL {
        for set in metric.dimension_sets {
            let set: BTreeSet<&str> = set.iter().copied().collect();
            let on = shown.iter().any(|r| {
                r.name == metric.name
                    && r.dimensions
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<BTreeSet<_>>()
                        == set
            });
            if !on {
                problems.push(format!(
                    "the dashboard does not show {} by {set:?} ({} emits it)",
                    metric.name, metric.function
                ));
            }
        }
    }
    let alarms = alarm_metrics(template);
    for (id, ns, r) in &alarms {
        if *ns != ours {
            let emf =
                shared::metrics::metric(&r.name).is_some() || alerts.contains(r.name.as_str());
            if emf && !ns.to_string().starts_with("\"AWS/") {
                problems.push(format!(
                    "{id} reads {} in {ns}, not METRICS_NAMESPACE ({namespace})",
                    r.name
                ));
            }
            continue;
        }
        problems.extend(check_metric_ref(r, alerts));
        if shared::metrics::metric(&r.name).is_some() && !r.rate {
            problems.push(format!(
                "{id} alarms on a count of {}: alarm on a ratio (metric math that divides) or a percentile",
                r.name
            ));
        }
        let actions = &template
            .resource(id)
            .map(|a| a["Properties"]["AlarmActions"].clone())
            .unwrap_or_default();
        if !actions.to_string().contains("AlarmTopicArn") {
            problems.push(format!("{id} does not notify AlarmTopicArn"));
        }
    }
    for (name, subject) in RATE_ALARMS {
        let watched = alarms.iter().any(|(_, ns, r)| {
            *ns == ours
                && r.rate
                && r.name == *name
                && subject.is_none_or(|(k, v)| {
                    r.dimensions
                        .iter()
                        .any(|(n, value)| n == k && value.as_deref() == Some(v))
                })
        });
        if !watched {
            problems.push(format!("no alarm watches the rate of {name} {subject:?}"));
        }
    }
    problems
}

fn alerts() -> BTreeSet<&'static str> {
    manifests()
        .iter()
        .flat_map(|m| m.alerts.iter().copied())
        .collect()
}

fn all_problems(template: &Template, manifest: &Manifest) -> Vec<String> {
    let mut problems = check_settings(template, manifest);
    problems.extend(check_queues(template, manifest));
    problems.extend(check_permissions(template, manifest));
    problems.extend(check_alerts(template, manifest));
    problems
}

fn assert_none(mut problems: Vec<String>) {
    // Functions sharing a queue find the same fault once each.
    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    assert!(
        problems.is_empty(),
        "infra/template.yaml disagrees with the code:\n  - {}",
        problems.join("\n  - ")
    );
}

// ------------------------------------------------------------------ tests

#[test]
fn every_setting_a_function_reads_is_set_and_nothing_else_is() {
    let template = Template::load();
    assert_none(
        manifests()
            .iter()
            .flat_map(|m| check_settings(&template, m))
            .collect(),
    );
}

#[test]
fn every_queue_a_function_uses_exists_and_has_a_dead_letter_queue() {
    let template = Template::load();
    assert_none(
        manifests()
            .iter()
            .flat_map(|m| check_queues(&template, m))
            .collect(),
    );
}

#[test]
fn every_permission_is_granted_on_its_resource_and_nothing_more() {
    let template = Template::load();
    assert_none(
        manifests()
            .iter()
            .flat_map(|m| check_permissions(&template, m))
            .collect(),
    );
}

#[test]
fn every_alert_a_function_logs_has_a_metric_filter_and_an_alarm() {
    let template = Template::load();
    assert!(manifests().iter().any(|m| !m.alerts.is_empty()));
    assert_none(
        manifests()
            .iter()
            .flat_map(|m| check_alerts(&template, m))
            .collect(),
    );
}

#[test]
fn the_dashboard_and_alarms_read_the_metrics_the_code_emits_and_show_them_all() {
    let template = Template::load();
    assert_none(check_metrics(&template, &alerts()));
}

/// Queue consumers and every queue in the template, whether or not a manifest
/// names it yet.
#[test]
fn queues_and_their_consumers_are_configured_for_partial_failures() {
    let template = Template::load();
    let mut problems: Vec<String> = template
        .functions()
        .flat_map(|(id, f)| check_event_sources(&template, id, f))
        .collect();
    for (id, resource) in template.resources() {
        if resource["Type"] == "AWS::SQS::Queue" {
            problems.extend(check_queue(&template, id));
        }
    }
    assert_none(problems);
}

/// The template's own defaults pass each function's validation: a stack
/// deployed with defaults starts.
#[test]
fn the_template_defaults_pass_each_functions_configuration() {
    let template = Template::load();
    for manifest in manifests() {
        let (_, function) = template
            .function(manifest.binary)
            .unwrap_or_else(|| panic!("no function builds {}", manifest.binary));
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in template.environment(function) {
            let sample = SAMPLES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            let resolved = match value["Ref"].as_str() {
                Some(param) if !template.0["Parameters"][param].is_null() => {
                    match &template.0["Parameters"][param]["Default"] {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        // No default: the deployer must give one.
                        _ => sample.map(str::to_owned),
                    }
                }
                _ => match &value {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    // A resource: its deployed value looks like the sample.
                    _ => sample.map(str::to_owned),
                },
            };
            if let Some(resolved) = resolved {
                pairs.push((name, resolved));
            }
        }
        let settings = Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Err(err) = (manifest.configure)(&settings) {
            panic!("{} refuses the template's defaults: {err}", manifest.binary);
        }
    }
}

#[test]
fn table_matches_shared_table() {
    use shared::table::{EXPIRES_AT, PK, SK, WAMID, WAMID_INDEX, WAMID_INDEX_PROJECTION};
    let template = Template::load();
    let tables: Vec<_> = template
        .resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .collect();
    let [(_, table)] = tables.as_slice() else {
        panic!(
            "expected exactly one DynamoDB table, found {}",
            tables.len()
        );
    };
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}])
    );
    let mut attributes: Vec<(String, String)> = one_or_many(&p["AttributeDefinitions"])
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_owned(),
                a["AttributeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    attributes.sort();
    let mut expected = vec![
        (PK.to_owned(), "S".to_owned()),
        (SK.to_owned(), "S".to_owned()),
        (WAMID.to_owned(), "S".to_owned()),
    ];
    expected.sort();
    assert_eq!(attributes, expected);
    assert_eq!(
        p["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": WAMID_INDEX,
            "KeySchema": [{"AttributeName": WAMID, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": WAMID_INDEX_PROJECTION},
        }])
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": EXPIRES_AT, "Enabled": true})
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    let protection = p["DeletionProtectionEnabled"]["Ref"]
        .as_str()
        .expect("deletion protection is a parameter");
    assert_eq!(template.0["Parameters"][protection]["Default"], "true");
}

#[test]
fn every_function_is_a_cargo_lambda_build_of_a_workspace_binary() {
    let template = Template::load();
    let root = harness::root();
    let mut binaries = BTreeSet::new();
    for (id, function) in template.functions() {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no BuildProperties.Binary"));
        // SAM resolves CodeUri against the template's folder; it must be the
        // workspace root (a member folder is a known SAM bug).
        let code_uri = template.function_property(function, "CodeUri");
        let code_uri = code_uri
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no CodeUri"));
        assert_eq!(
            root.join("infra").join(code_uri).canonicalize().ok(),
            root.canonicalize().ok(),
            "{id}'s CodeUri must be the workspace root"
        );
        assert!(
            root.join("functions")
                .join(binary)
                .join("src/main.rs")
                .is_file(),
            "{id} builds {binary}, which is not a function crate of the workspace"
        );
        assert_eq!(
            template.function_property(function, "Runtime"),
            "provided.al2023"
        );
        assert_eq!(
            template.function_property(function, "Architectures"),
            &json!(["arm64"])
        );
        assert_eq!(
            template.function_property(function, "LoggingConfig")["LogFormat"],
            "JSON",
            "{id}"
        );
        binaries.insert(binary.to_owned());
    }
    let expected: BTreeSet<String> = ["webhook", "sender", "status", "media", "callbacks", "api"]
        .map(String::from)
        .into();
    assert_eq!(binaries, expected);
    for manifest in manifests() {
        assert!(binaries.contains(manifest.binary), "{}", manifest.binary);
    }
}

/// The `(method, path)` of each HTTP API route of the function building
/// `binary`, sorted; each on the stack's HTTP API.
fn http_routes(template: &Template, binary: &str) -> Vec<(String, String)> {
    let (_, function) = template.function(binary).expect("the function");
    let mut routes: Vec<(String, String)> = function["Properties"]["Events"]
        .as_object()
        .expect("its events")
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            let api = resource_of(&e["Properties"]["ApiId"]).unwrap_or_default();
            assert_eq!(template.type_of(&api), Some("AWS::Serverless::HttpApi"));
            let text = |k: &str| e["Properties"][k].as_str().unwrap_or_default().to_owned();
            (text("Method"), text("Path"))
        })
        .collect();
    routes.sort();
    routes
}

#[test]
fn the_webhook_answers_get_and_post_on_the_http_api() {
    let template = Template::load();
    let routes = http_routes(&template, "webhook");
    assert_eq!(
        routes,
        [
            ("GET", "/webhook"),
            ("GET", "/webhook/{app}"),
            ("POST", "/webhook"),
            ("POST", "/webhook/{app}")
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
    );
    // The function answers each app's route (`{app}` stands for a name).
    for (_, path) in &routes {
        assert!(
            chasqui_webhook::app_of_path(&path.replace("{app}", "shop")).is_some(),
            "{path}"
        );
    }
    assert!(
        template.0["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"]
            .as_str()
            .is_some_and(|url| url.ends_with("/webhook"))
    );
}

#[test]
fn the_api_answers_exactly_its_routes_on_the_http_api() {
    let template = Template::load();
    let routes = http_routes(&template, "api");
    // Every route and method the function answers, and no other.
    let mut expected: Vec<(String, String)> = chasqui_api::Route::all()
        .into_iter()
        .flat_map(|(path, methods)| {
            methods
                .iter()
                .map(move |m| (m.as_str().to_owned(), path.to_owned()))
        })
        .collect();
    expected.sort();
    assert_eq!(routes, expected);
    for (_, path) in &routes {
        assert!(
            chasqui_api::route_of(&path.replace("{id}", "x")).is_some(),
            "{path}"
        );
    }
    assert!(
        template.0["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
            .as_str()
            .is_some_and(|url| url.ends_with("/v1"))
    );
}

/// The sender's timeouts nest: one Cloud API call gives up well within the
/// invocation, and a send lock outlives the invocation that took it, so a lock
/// is only ever taken over from a crashed attempt.
#[test]
fn the_sender_timeouts_nest() {
    let template = Template::load();
    let (id, sender) = template.function("sender").expect("sender function");
    let env = template.environment(sender);
    let setting = |name: &str| {
        env.get(name)
            .and_then(|v| template.number(v))
            .unwrap_or_else(|| panic!("{id} sets no number for {name}"))
    };
    let timeout = template
        .number(template.function_property(sender, "Timeout"))
        .expect("sender Timeout");
    let call = setting("GRAPH_API_TIMEOUT_MS").div_ceil(1000);
    let lock = setting("SEND_LOCK_SECONDS");
    assert!(
        2 * call <= timeout,
        "a Cloud API call may take {call} s: {id}'s {timeout} s timeout must be at least twice that"
    );
    assert!(
        lock > timeout,
        "SEND_LOCK_SECONDS ({lock} s) must outlive {id}'s {timeout} s timeout"
    );
}

// ------------------------------------------------- the checks can fail

/// The template with `edit` applied.
/// Every S3 bucket the functions use is private, encrypted, reachable
/// over TLS only, and expires inbound media by a parameter's lifecycle
/// rule (`docs/media.md`).
fn check_buckets(template: &Template) -> Vec<String> {
    let mut problems = Vec::new();
    let buckets: Vec<&String> = template
        .resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::S3::Bucket")
        .map(|(id, _)| id)
        .collect();
    if buckets.is_empty() {
        problems.push("the template has no media bucket".to_owned());
    }
    for id in buckets {
        let p = &template.resources()[id.as_str()]["Properties"];
        let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"];
        if !matches!(sse.as_str(), Some("AES256" | "aws:kms" | "aws:kms:dsse")) {
            problems.push(format!("{id} has no default server-side encryption"));
        }
        let block = &p["PublicAccessBlockConfiguration"];
        for key in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            if block[key] != true {
                problems.push(format!(
                    "{id} does not set {key}: public access is not blocked"
                ));
            }
        }
        let expires = one_or_many(&p["LifecycleConfiguration"]["Rules"])
            .into_iter()
            .any(|r| {
                r["Status"] == "Enabled"
                    && r["ExpirationInDays"]["Ref"]
                        .as_str()
                        .is_some_and(|param| !template.0["Parameters"][param].is_null())
                    && r["Prefix"] == shared::media::INBOUND_PREFIX
            });
        if !expires {
            problems.push(format!(
                "{id} has no enabled lifecycle rule expiring {} after a parameter's days",
                shared::media::INBOUND_PREFIX
            ));
        }
        let tls_only = template.resources().values().any(|policy| {
            policy["Type"] == "AWS::S3::BucketPolicy"
                && policy["Properties"]["Bucket"]["Ref"] == id.as_str()
                && one_or_many(&policy["Properties"]["PolicyDocument"]["Statement"])
                    .into_iter()
                    .any(|st| {
                        let resources = one_or_many(&st["Resource"]);
                        st["Effect"] == "Deny"
                            && st["Condition"]["Bool"]["aws:SecureTransport"] == "false"
                            && resources
                                .iter()
                                .any(|r| scope(template, r) == Scope::Arn(id.clone()))
                            && resources
                                .iter()
                                .any(|r| scope(template, r) == Scope::Objects(id.clone()))
                    })
        });
        if !tls_only {
            problems.push(format!(
                "{id} has no bucket policy denying plain HTTP on the bucket and its objects"
            ));
        }
    }
    problems
}

#[test]
fn the_media_bucket_is_private_encrypted_tls_only_and_expires_inbound_media() {
    assert_none(check_buckets(&Template::load()));
}

#[test]
fn a_bucket_open_to_the_public_or_plain_http_or_kept_forever_is_found() {
    let template = edited(|t| {
        let p = &mut t["Resources"]["MediaBucket"]["Properties"];
        p["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = json!(false);
        p["LifecycleConfiguration"] = Value::Null;
        p["BucketEncryption"] = Value::Null;
        t["Resources"]
            .as_object_mut()
            .unwrap()
            .remove("MediaBucketTlsOnly");
    });
    let problems = check_buckets(&template);
    for expected in [
        "MediaBucket does not set RestrictPublicBuckets",
        "MediaBucket has no enabled lifecycle rule",
        "MediaBucket has no default server-side encryption",
        "MediaBucket has no bucket policy denying plain HTTP",
    ] {
        assert_finds(&problems, expected);
    }
}

#[test]
fn a_sender_reading_a_bucket_it_does_not_name_is_found() {
    let sender = manifest!(sender: chasqui_sender);
    let template = edited(|t| {
        let statements = &mut t["Resources"]["SenderRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"];
        statements.as_array_mut().unwrap().push(json!({
            "Sid": "ReadAnotherBucket", "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${WebhookQueue.Arn}/*"}
        }));
    });
    assert_finds(
        &check_permissions(&template, &sender),
        "SenderFunction's role grants s3:GetObject on WebhookQueue/*",
    );
}

fn edited(edit: impl FnOnce(&mut Value)) -> Template {
    let mut template = Template::real();
    edit(&mut template.0);
    template
}

fn webhook() -> Manifest {
    manifest!(webhook: chasqui_webhook)
}

fn assert_finds(problems: &[String], expected: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected)),
        "expected a problem containing {expected:?}, got {problems:#?}"
    );
}

#[test]
fn an_alert_without_its_filter_or_alarm_is_found() {
    let status = || manifest!(status: chasqui_status);
    let template = edited(|t| {
        t["Resources"]
            .as_object_mut()
            .unwrap()
            .remove("AccountRestrictedAlarm");
    });
    assert_finds(
        &check_alerts(&template, &status()),
        "no alarm watches the metric whatsapp_account_restricted",
    );
    let template = edited(|t| {
        t["Resources"]["NumberQualityDroppedMetricFilter"]["Properties"]["LogGroupName"] =
            serde_json::json!({"Ref": "SenderLogGroup"});
    });
    assert_finds(
        &check_alerts(&template, &status()),
        "StatusFunction logs alert whatsapp_number_quality_dropped, but no metric filter",
    );
}

#[test]
fn a_variable_removed_from_the_template_is_found() {
    let template = edited(|t| {
        t["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]
            .as_object_mut()
            .unwrap()
            .remove("WEBHOOK_QUEUE_URL");
    });
    let problems = all_problems(&template, &webhook());
    assert_finds(
        &problems,
        "webhook reads WEBHOOK_QUEUE_URL, which WebhookFunction does not set",
    );
    // The permission on that queue can no longer be placed either.
    assert_finds(
        &problems,
        "needs sqs:SendMessage on the resource WEBHOOK_QUEUE_URL names",
    );
}

#[test]
fn a_variable_no_one_reads_is_found() {
    let template = edited(|t| {
        t["Resources"]["WebhookFunction"]["Properties"]["Environment"]["Variables"]["GRAPH_API_VERSION"] =
            json!("v25.0");
    });
    assert_finds(
        &check_settings(&template, &webhook()),
        "WebhookFunction sets GRAPH_API_VERSION, which chasqui_webhook::configure never reads",
    );
}

#[test]
fn a_setting_unknown_to_the_test_is_named() {
    let manifest = Manifest {
        binary: "webhook",
        krate: "chasqui_webhook",
        configure: |settings| {
            let _ = settings.get("BRAND_NEW_SETTING");
            chasqui_webhook::configure(settings).map(drop)
        },
        permissions: chasqui_webhook::AWS_PERMISSIONS,
        alerts: chasqui_webhook::ALERTS,
    };
    assert_finds(
        &check_settings(&Template::load(), &manifest),
        "webhook reads BRAND_NEW_SETTING, a setting this test does not know",
    );
}

#[test]
fn a_queue_removed_from_the_template_is_found() {
    let template = edited(|t| {
        t["Resources"]
            .as_object_mut()
            .unwrap()
            .remove("WebhookQueue");
    });
    let problems = all_problems(&template, &webhook());
    assert_finds(
        &problems,
        "WebhookFunction: WEBHOOK_QUEUE_URL names WebhookQueue, which is not in the template",
    );
}

#[test]
fn a_queue_without_a_dead_letter_queue_is_found() {
    let template = edited(|t| {
        t["Resources"]["WebhookQueue"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("RedrivePolicy");
    });
    assert_finds(
        &check_queues(&template, &webhook()),
        "WebhookQueue has no RedrivePolicy to a dead-letter queue",
    );
    assert_finds(
        &check_queues(&template, &manifest!(status: chasqui_status)),
        "WebhookQueue has no RedrivePolicy to a dead-letter queue",
    );
}

#[test]
fn a_permission_removed_from_the_template_is_found() {
    let template = edited(|t| {
        let statements = t["Resources"]["WebhookRole"]["Properties"]["Policies"][0]
            ["PolicyDocument"]["Statement"]
            .as_array_mut()
            .unwrap();
        statements.retain(|s| s["Action"] != "sqs:SendMessage");
    });
    assert_finds(
        &check_permissions(&template, &webhook()),
        "WebhookFunction's role is not granted sqs:SendMessage on WebhookQueue",
    );
}

#[test]
fn a_permission_on_another_resource_is_found() {
    let template = edited(|t| {
        t["Resources"]["WebhookRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            [3]["Resource"] = json!({"Fn::GetAtt": ["SendQueue", "Arn"]});
    });
    let problems = check_permissions(&template, &webhook());
    assert_finds(
        &problems,
        "WebhookFunction's role is not granted sqs:SendMessage on WebhookQueue",
    );
    assert_finds(
        &problems,
        "WebhookFunction's role grants sqs:SendMessage on SendQueue, which webhook's AWS_PERMISSIONS does not list",
    );
}

#[test]
fn a_broader_grant_is_found() {
    let template = edited(|t| {
        let statements = t["Resources"]["WebhookRole"]["Properties"]["Policies"][0]
            ["PolicyDocument"]["Statement"]
            .as_array_mut()
            .unwrap();
        statements.push(json!({"Sid": "Extra", "Effect": "Allow", "Action": ["sqs:DeleteMessage"], "Resource": {"Fn::GetAtt": ["WebhookQueue", "Arn"]}}));
        statements.push(json!({"Sid": "Everything", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}));
        statements.push(json!({"Sid": "AllOfSqs", "Effect": "Allow", "Action": "sqs:*", "Resource": {"Fn::GetAtt": ["WebhookQueue", "Arn"]}}));
        statements.push(json!({"Sid": "WholePrefix", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/*"}}));
    });
    let problems = check_permissions(&template, &webhook());
    assert_finds(
        &problems,
        "grants secretsmanager:GetSecretValue on secrets ${AWS::StackName}/*, which webhook's AWS_PERMISSIONS does not list",
    );
    assert_finds(&problems, "statement AllOfSqs allows sqs:*: no wildcards");
    assert_finds(
        &problems,
        "statement Everything allows secretsmanager:GetSecretValue on \"*\": no wildcards",
    );
    assert_finds(
        &problems,
        "grants sqs:DeleteMessage on WebhookQueue, which webhook's AWS_PERMISSIONS does not list",
    );
    assert_finds(
        &problems,
        "grants secretsmanager:GetSecretValue on \"*\", which webhook's AWS_PERMISSIONS does not list",
    );
}

#[test]
fn sam_managed_policies_are_refused() {
    let template = edited(|t| {
        t["Resources"]["WebhookFunction"]["Properties"]["Policies"] =
            json!([{"SQSSendMessagePolicy": {"QueueName": "x"}}]);
    });
    assert_finds(
        &check_permissions(&template, &webhook()),
        "WebhookFunction uses SAM Policies",
    );
}

#[test]
fn a_short_visibility_timeout_and_missing_partial_failures_are_found() {
    let template = edited(|t| {
        t["Resources"]["WebhookQueue"]["Properties"]["VisibilityTimeout"] = json!(60);
        t["Resources"]["StatusFunction"]["Properties"]["Events"]["WebhookChanges"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("FunctionResponseTypes");
    });
    let (id, status) = template.function("status").expect("status function");
    let problems = check_event_sources(&template, id, status);
    assert_finds(
        &problems,
        "WebhookQueue's VisibilityTimeout is 60 s, under six times StatusFunction's 30 s timeout",
    );
    assert_finds(&problems, "does not report batch item failures");
}

/// The dashboard's JSON with `from` replaced by `to`.
fn dashboard_edited(from: &str, to: &str) -> Template {
    edited(|t| {
        let body = &mut t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
        let text = body.as_str().unwrap().to_owned();
        assert!(text.contains(from), "the dashboard has no {from}");
        *body = json!(text.replace(from, to));
    })
}

#[test]
fn a_dashboard_metric_the_code_does_not_emit_is_found() {
    let template = dashboard_edited(
        r#""Sends", "Outcome", "dead_letter""#,
        r#""Sends", "Outcome", "dead_lettered""#,
    );
    assert_finds(
        &check_metrics(&template, &alerts()),
        "reads Sends with Outcome=dead_lettered, a value the code never records",
    );
    let template = dashboard_edited(r#"MetricName=\"Statuses\""#, r#"MetricName=\"Status\""#);
    let problems = check_metrics(&template, &alerts());
    assert_finds(
        &problems,
        "reads the metric Status, which no function emits",
    );
    assert_finds(
        &problems,
        "the dashboard does not show Statuses by {\"Status\"}",
    );
    let template = dashboard_edited(
        r#"{\"Chasqui/${AWS::StackName}\",ErrorClass,ErrorCode}"#,
        r#"{\"Chasqui/${AWS::StackName}\",ErrorCode}"#,
    );
    let problems = check_metrics(&template, &alerts());
    assert_finds(
        &problems,
        "reads SendErrors by {\"ErrorCode\"}, not one of its dimension sets",
    );
    assert_finds(
        &problems,
        "the dashboard does not show SendErrors by {\"ErrorClass\", \"ErrorCode\"}",
    );
    let template = dashboard_edited(
        r#"["Chasqui/${AWS::StackName}", "InboundMessages""#,
        r#"["Chasqui/${AWS::StackName}x", "InboundMessages""#,
    );
    assert_finds(
        &check_metrics(&template, &alerts()),
        "reads InboundMessages in the namespace Chasqui/${AWS::StackName}x, not METRICS_NAMESPACE",
    );
}

#[test]
fn an_alarm_on_a_count_or_on_a_metric_the_code_does_not_emit_is_found() {
    let template = edited(|t| {
        let lag = &mut t["Resources"]["StatusLagAlarm"]["Properties"];
        lag.as_object_mut().unwrap().remove("ExtendedStatistic");
        lag["Statistic"] = json!("Sum");
        t["Resources"]["SendFailureRateAlarm"]["Properties"]["Metrics"][0]["MetricStat"]["Metric"]
            ["Dimensions"][0]["Value"] = json!("failure");
        t["Resources"]["SignatureFailureRateAlarm"]["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("AlarmActions");
    });
    let problems = check_metrics(&template, &alerts());
    assert_finds(&problems, "StatusLagAlarm alarms on a count of StatusLag");
    assert_finds(&problems, "no alarm watches the rate of StatusLag");
    assert_finds(
        &problems,
        "SendFailureRateAlarm reads Sends with Outcome=failure, a value the code never records",
    );
    assert_finds(
        &problems,
        "no alarm watches the rate of Sends Some((\"Outcome\", \"failed\"))",
    );
    assert_finds(
        &problems,
        "SignatureFailureRateAlarm does not notify AlarmTopicArn",
    );
    let template = edited(|t| {
        t["Resources"]["ThrottleStormAlarm"]["Properties"]["Metrics"][2]["Expression"] =
            json!("FILL(throttled, 0)");
    });
    let problems = check_metrics(&template, &alerts());
    assert_finds(
        &problems,
        "ThrottleStormAlarm alarms on a count of SendErrors",
    );
}

#[test]
fn short_form_tags_are_read_as_intrinsics() {
    let docs = Yaml::load_from_str(
        "a: !Ref X\nb: !GetAtt T.Arn\nc: !Sub '${T.Arn}/index/*'\nd: !If [C, !Ref Q, '']\ne: 300\n",
    )
    .unwrap();
    assert_eq!(
        to_json(&docs[0]).unwrap(),
        json!({
            "a": {"Ref": "X"},
            "b": {"Fn::GetAtt": ["T", "Arn"]},
            "c": {"Fn::Sub": "${T.Arn}/index/*"},
            "d": {"Fn::If": ["C", {"Ref": "Q"}, ""]},
            "e": 300,
        })
    );
}

// ------------------------------------------------------------ scheduled sends

/// Scheduled sends' resources: the sender's `SCHEDULE_GROUP` is a schedule
/// group of the stack; `SEND_QUEUE_ARN` is the queue the sender consumes and
/// `SEND_DLQ_ARN` its dead-letter queue; the role `SCHEDULER_ROLE_ARN`
/// names is assumed by Scheduler only (for this account) and may only put
/// messages on those two queues.
fn check_scheduling(template: &Template) -> Vec<String> {
    let Some((id, sender)) = template.function("sender") else {
        return vec!["no function in the template builds sender".to_owned()];
    };
    let env = template.environment(sender);
    let named = |name: &str| env.get(name).and_then(|v| template.target(v));
    let mut problems = Vec::new();
    let group = named("SCHEDULE_GROUP");
    if group.as_deref().and_then(|g| template.type_of(g)) != Some("AWS::Scheduler::ScheduleGroup") {
        problems.push(format!(
            "{id}'s SCHEDULE_GROUP names no AWS::Scheduler::ScheduleGroup of the template"
        ));
    }
    let sources: Vec<String> = template
        .source_queues(sender)
        .into_iter()
        .map(|(q, _)| q)
        .collect();
    let queue = named("SEND_QUEUE_ARN");
    if queue.as_ref().is_none_or(|q| !sources.contains(q))
        || env
            .get("SEND_QUEUE_ARN")
            .and_then(|v| v["Fn::GetAtt"][1].as_str())
            != Some("Arn")
    {
        problems.push(format!(
            "{id}'s SEND_QUEUE_ARN is not the ARN of the queue it consumes"
        ));
    }
    let dlq = named("SEND_DLQ_ARN");
    if dlq.is_none()
        || dlq
            != queue
                .as_deref()
                .and_then(|q| template.dead_letter_queue_of(q))
    {
        problems.push(format!(
            "{id}'s SEND_DLQ_ARN is not the send queue's dead-letter queue"
        ));
    }
    let Some(role_id) = named("SCHEDULER_ROLE_ARN") else {
        problems.push(format!("{id} sets no SCHEDULER_ROLE_ARN of the template"));
        return problems;
    };
    let Some(role) = template.resource(&role_id) else {
        problems.push(format!("{role_id} is not in the template"));
        return problems;
    };
    let trust = one_or_many(&role["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
    let only_scheduler = !trust.is_empty()
        && trust.iter().all(|t| {
            t["Principal"]["Service"] == "scheduler.amazonaws.com"
                && t["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"] == "AWS::AccountId"
        });
    if !only_scheduler {
        problems.push(format!(
            "{role_id} must be assumed by scheduler.amazonaws.com only, for this account (aws:SourceAccount)"
        ));
    }
    let mut granted = BTreeSet::new();
    for policy in one_or_many(&role["Properties"]["Policies"]) {
        for statement in one_or_many(&policy["PolicyDocument"]["Statement"]) {
            for action in one_or_many(&statement["Action"]) {
                for resource in one_or_many(&statement["Resource"]) {
                    granted.insert((
                        action.as_str().unwrap_or_default().to_owned(),
                        scope(template, resource),
                    ));
                }
            }
        }
    }
    let allowed: BTreeSet<(String, Scope)> = [queue, dlq]
        .into_iter()
        .flatten()
        .map(|q| ("sqs:SendMessage".to_owned(), Scope::Arn(q)))
        .collect();
    if granted != allowed {
        problems.push(format!(
            "{role_id} grants {granted:?}; it may only send to the send queue and its dead-letter queue ({allowed:?})"
        ));
    }
    problems
}

#[test]
fn scheduled_sends_have_their_group_and_a_role_that_only_reaches_the_send_queue() {
    let problems = check_scheduling(&Template::load());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_scheduler_role_that_reaches_further_or_trusts_anyone_is_found() {
    let broader = edited(|t| {
        t["Resources"]["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            [0]["Resource"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Fn::GetAtt": ["WebhookQueue", "Arn"]}));
    });
    assert_finds(
        &check_scheduling(&broader),
        "may only send to the send queue",
    );
    let anyone = edited(|t| {
        t["Resources"]["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
            ["Principal"] = json!({"Service": "lambda.amazonaws.com"});
    });
    assert_finds(&check_scheduling(&anyone), "scheduler.amazonaws.com only");
    let elsewhere = edited(|t| {
        t["Resources"]["SenderFunction"]["Properties"]["Environment"]["Variables"]["SEND_QUEUE_ARN"] =
            json!({"Fn::GetAtt": ["WebhookQueue", "Arn"]});
    });
    assert_finds(&check_scheduling(&elsewhere), "SEND_QUEUE_ARN");
}
