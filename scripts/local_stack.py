#!/usr/bin/env python3
"""The local AWS stack for `make dev`, on the moto server, made from the SAM template.

  local_stack.py up [--spec FILE] [--template FILE] [Param=Value ...]
        create the media bucket, queues, dead-letter queues, table and secret of
        infra/template.yaml (idempotent), write the stack description the
        local runner reads (default .dev/stack.json) and print env exports
  local_stack.py peek QUEUE_URL     show what a queue holds, leaving it there
  local_stack.py post FILE [URL]    sign FILE with the local app secret and POST it to the webhook

Resources are named as CloudFormation names them, without its random suffix:
`<stack>-<LogicalId>` for queues and the table (`chasqui-local-SendQueue`),
the secret by its `Name` (`chasqui-local/whatsapp`). Queue attributes, redrive
policies, key schema, TTL, each function's environment, and its SQS event
source (batch size, batching window, maximum concurrency, partial batch
responses) come from the template, so the local stack follows it.

Runs with the project's .venv, where moto brings boto3 and PyYAML.
"""
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
from botocore.exceptions import ClientError
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STACK = os.environ.get("CHASQUI_STACK", "chasqui-local")
# The local Meta app: documented in README.md and events/README.md; the
# sandbox reads them back from the secret.
APP_SECRET = "chasqui-test-app-secret"
VERIFY_TOKEN = "chasqui-test-verify-token"
ACCESS_TOKEN = "chasqui-test-access-token"
# Where further apps' secrets (<prefix>apps/<app>) and binding token secrets
# (<prefix>tenants/<tenant>) are named locally, so `chasqui bindings` works:
# set for the webhook and sender functions unless the template sets it.
SECRET_PREFIX = os.environ.get("WHATSAPP_SECRET_PREFIX", f"{STACK}/")
SECRET_PREFIX_FUNCTIONS = ("webhook", "sender")
SANDBOX_URL = os.environ.get("CHASQUI_SANDBOX_URL", "http://127.0.0.1:9100")
WEBHOOK_URL = os.environ.get("WEBHOOK_URL", "http://127.0.0.1:9000/webhook")
# Parameters a local stack sets differently from the template's defaults.
LOCAL_PARAMETERS = {
    "PhoneNumberId": "1122334455",
    # The sandbox's account: the template sync reads its catalogue.
    "WabaId": "102290129340398",
    "GraphApiBaseUrl": SANDBOX_URL,
    "CreateUpstreamEventsQueue": "true",
    "TableDeletionProtection": "false",
    # The local callback receiver (`chasqui callbacks receive`) listens on
    # loopback: let callbacks reach it, over plain http.
    "CallbackAllowedNetworks": "127.0.0.0/8",
    # An endpoint registered locally (`make demo`) gets the next event.
    "CallbackEndpointCacheSeconds": "0",
}
# Template outputs the CLI finds its way with.
OUTPUTS = {
    "SendQueueUrl": "send_queue_url",
    "SendDeadLetterQueueUrl": "send_dlq_url",
    "WebhookQueueUrl": "webhook_queue_url",
    "WebhookDeadLetterQueueUrl": "webhook_dlq_url",
    "UpstreamEventsQueueUrl": "upstream_events_queue_url",
    "TableName": "table_name",
    "SecretName": "secret_id",
    "WhatsAppSecretPrefix": "secret_prefix",
    "MediaBucketName": "media_bucket",
    "MediaQueueUrl": "media_queue_url",
    "MediaDeadLetterQueueUrl": "media_dlq_url",
    "CallbacksQueueUrl": "callbacks_queue_url",
    "CallbacksDeadLetterQueueUrl": "callbacks_dlq_url",
    "CallbackSecretName": "callback_secret_id",
    "ScheduleGroupName": "schedule_group",
    "SchedulerRoleArn": "scheduler_role_arn",
    "SendQueueArn": "send_queue_arn",
}
NO_VALUE = object()


def region():
    # boto3 reads AWS_DEFAULT_REGION only; the Rust SDK and the README use AWS_REGION.
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(name):
    return boto3.client(name, region_name=region())


class Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (`!Ref X` → {"Ref": "X"})."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


Loader.add_multi_constructor("!", _tag)


class Template:
    def __init__(self, path, overrides):
        with open(path) as f:
            self.doc = yaml.load(f, Loader=Loader)
        self.params = {}
        for name, spec in self.doc.get("Parameters", {}).items():
            self.params[name] = str(spec.get("Default", ""))
        self.params.update(LOCAL_PARAMETERS)
        self.params.update(overrides)
        self.region = region()
        self.resources = self.doc.get("Resources", {})
        self.conditions = {}
        for name, expr in self.doc.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expr))
        # Logical id → {"Ref": ..., "Arn": ..., "QueueName": ...}, filled as resources are made.
        self.made = {}

    def active(self, logical_id):
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.conditions.get(cond, False)

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg == "AWS::StackName":
                    return STACK
                if arg == "AWS::Region":
                    return self.region
                if arg in self.params:
                    return self.params[arg]
                if arg in self.made:
                    return self.made[arg]["Ref"]
                raise KeyError(f"!Ref {arg}: not a parameter or a resource made locally")
            if key == "Fn::GetAtt":
                res, attr = arg
                if res not in self.made or attr not in self.made[res]:
                    raise KeyError(f"!GetAtt {res}.{attr}: not made locally")
                return self.made[res][attr]
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                names = {"AWS::StackName": STACK, "AWS::Region": self.region,
                         "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com"}
                names.update(self.params)
                for name, made in self.made.items():
                    names[name] = made["Ref"]
                    for attr, v in made.items():
                        names[f"{name}.{attr}"] = v
                for name, v in names.items():
                    text = text.replace("${" + name + "}", str(v))
                return text
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.conditions.get(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(i) for i in self.resolve(items))
        out = {}
        for k, v in value.items():
            r = self.resolve(v)
            if r is not NO_VALUE:
                out[k] = r
        return out

    def of_type(self, kind):
        return [(lid, r) for lid, r in self.resources.items() if r.get("Type") == kind and self.active(lid)]


def queue_attributes(t, props):
    attrs = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if key in props:
            attrs[key] = str(t.resolve(props[key]))
    if "RedrivePolicy" in props:
        policy = t.resolve(props["RedrivePolicy"])
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": str(policy["maxReceiveCount"])}
        )
    return attrs


def make_queues(t, sqs):
    pending = dict(t.of_type("AWS::SQS::Queue"))
    while pending:
        progressed = False
        for lid, res in list(pending.items()):
            props = res.get("Properties", {})
            try:
                attrs = queue_attributes(t, props)
            except KeyError:
                continue  # its dead-letter queue is not made yet
            name = f"{STACK}-{lid}"
            try:
                url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            except ClientError:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            t.made[lid] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
            del pending[lid]
            progressed = True
        if not progressed:
            raise SystemExit(f"queues whose references cannot be resolved: {sorted(pending)}")


def make_buckets(t, s3):
    for lid, res in t.of_type("AWS::S3::Bucket"):
        # CloudFormation names a bucket <stack>-<logicalid>-<suffix>, lowercased.
        name = f"{STACK}-{lid}".lower()
        try:
            s3.create_bucket(Bucket=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        t.made[lid] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}


def make_table(t, ddb):
    for lid, res in t.of_type("AWS::DynamoDB::Table"):
        props = t.resolve(res.get("Properties", {}))
        name = f"{STACK}-{lid}"
        if name not in ddb.list_tables()["TableNames"]:
            args = {
                "TableName": name,
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
            }
            if props.get("GlobalSecondaryIndexes"):
                args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            ddb.create_table(**args)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and str(ttl.get("Enabled")).lower() == "true":
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        t.made[lid] = {"Ref": name, "Arn": arn}


def make_schedules(t, scheduler):
    """The schedule group scheduled sends use (moto stores schedules and
    never fires them: the CLI's local loop does, `chasqui local`), and the
    role Scheduler would assume, by ARN only (moto checks no role)."""
    for lid, res in t.of_type("AWS::Scheduler::ScheduleGroup"):
        name = f"{STACK}-{lid}"
        try:
            arn = scheduler.create_schedule_group(Name=name)["ScheduleGroupArn"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            arn = scheduler.get_schedule_group(Name=name)["Arn"]
        t.made[lid] = {"Ref": name, "Arn": arn}
    for lid, res in t.of_type("AWS::IAM::Role"):
        t.made.setdefault(lid, {"Ref": f"{STACK}-{lid}", "Arn": f"arn:aws:iam::123456789012:role/{STACK}-{lid}"})


def make_secrets(t, sm):
    whatsapp = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN}
    for lid, res in t.of_type("AWS::SecretsManager::Secret"):
        props = res.get("Properties", {})
        name = t.resolve(props.get("Name", f"{STACK}-{lid}"))
        # A generated key the local values lack (the callbacks' master_key)
        # gets a fixed local one.
        generated = props.get("GenerateSecretString", {}).get("GenerateStringKey")
        fields = dict(whatsapp)
        if generated and generated not in fields:
            fields[generated] = f"local-{generated}-not-a-secret"
        value = json.dumps(fields)
        try:
            arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
        except sm.exceptions.ResourceExistsException:
            arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
        # CloudFormation's Ref of a secret is its ARN.
        t.made[lid] = {"Ref": arn, "Arn": arn, "Name": name}


def functions(t):
    glob = t.doc.get("Globals", {}).get("Function", {})
    base_env = t.resolve(glob.get("Environment", {}).get("Variables", {}))
    out, sources, routes = {}, [], []
    for lid, res in t.of_type("AWS::Serverless::Function"):
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary", lid)
        props = res.get("Properties", {})
        env = dict(base_env)
        env.update(t.resolve(props.get("Environment", {}).get("Variables", {})))
        env = {k: str(v) for k, v in env.items() if v is not NO_VALUE}
        if binary in SECRET_PREFIX_FUNCTIONS and not env.get("WHATSAPP_SECRET_PREFIX"):
            env["WHATSAPP_SECRET_PREFIX"] = SECRET_PREFIX
        out[binary] = {
            "binary": binary,
            "env": env,
            "timeout_seconds": int(t.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
            "memory_mb": int(t.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))),
        }
        for event in (props.get("Events") or {}).values():
            ep = event.get("Properties", {})
            if event.get("Type") == "SQS":
                ep = t.resolve(ep)
                arn = ep["Queue"]
                url = next(m["Ref"] for m in t.made.values() if m.get("Arn") == arn)
                sources.append({
                    "function": binary,
                    "queue_url": url,
                    "queue_arn": arn,
                    "batch_size": int(ep.get("BatchSize", 10)),
                    "batching_window_seconds": int(ep.get("MaximumBatchingWindowInSeconds", 0)),
                    # Lambda's default scaling is far above what a laptop needs.
                    "maximum_concurrency": int(ep.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
                    "report_batch_item_failures": "ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                })
            elif event.get("Type") in ("HttpApi", "Api"):
                path = ep.get("Path", "/")
                if not any(r["path"] == path for r in routes):
                    routes.append({"path": path, "function": binary})
    return out, sources, routes


def outputs(t):
    res = {}
    for name, spec in t.doc.get("Outputs", {}).items():
        key = OUTPUTS.get(name)
        if key is None:
            continue
        cond = spec.get("Condition")
        if cond and not t.conditions.get(cond):
            continue
        res[key] = t.resolve(spec["Value"])
    return res


def up(*args):
    spec_path = os.path.join(ROOT, ".dev", "stack.json")
    template_path = os.path.join(ROOT, "infra", "template.yaml")
    overrides = {}
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg == "--spec":
            spec_path = args.pop(0)
        elif arg == "--template":
            template_path = args.pop(0)
        elif "=" in arg:
            k, v = arg.split("=", 1)
            overrides[k] = v
        else:
            sys.exit(f"unknown argument {arg!r}\n{__doc__}")
    if not os.path.exists(template_path):
        sys.exit(f"{template_path} not found: the local stack is made from the SAM template")
    t = Template(template_path, overrides)
    make_buckets(t, client("s3"))
    make_queues(t, client("sqs"))
    make_table(t, client("dynamodb"))
    make_secrets(t, client("secretsmanager"))
    make_schedules(t, client("scheduler"))
    funcs, sources, routes = functions(t)
    resources = outputs(t)
    resources.update({
        "phone_number_id": t.params.get("PhoneNumberId"),
        "aws_endpoint_url": os.environ.get("AWS_ENDPOINT_URL"),
        "region": t.region,
        "sandbox_url": SANDBOX_URL,
        "webhook_url": WEBHOOK_URL,
    })
    if not resources.get("secret_prefix"):
        resources["secret_prefix"] = next(
            (f["env"]["WHATSAPP_SECRET_PREFIX"] for f in funcs.values() if f["env"].get("WHATSAPP_SECRET_PREFIX")),
            None,
        )
    spec = {"name": STACK, "functions": funcs, "event_sources": sources, "http_routes": routes, "resources": resources}
    os.makedirs(os.path.dirname(os.path.abspath(spec_path)), exist_ok=True)
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    env = {
        "WHATSAPP_SECRET_ID": resources.get("secret_id"),
        "WEBHOOK_QUEUE_URL": resources.get("webhook_queue_url"),
        "WEBHOOK_DLQ_URL": resources.get("webhook_dlq_url"),
        "SEND_QUEUE_URL": resources.get("send_queue_url"),
        "SEND_DLQ_URL": resources.get("send_dlq_url"),
        "UPSTREAM_EVENTS_QUEUE_URL": resources.get("upstream_events_queue_url"),
        "TABLE_NAME": resources.get("table_name"),
        "WHATSAPP_PHONE_NUMBER_ID": resources.get("phone_number_id"),
        "WHATSAPP_SECRET_PREFIX": resources.get("secret_prefix"),
        "MEDIA_BUCKET": resources.get("media_bucket"),
        "MEDIA_QUEUE_URL": resources.get("media_queue_url"),
        "CALLBACKS_QUEUE_URL": resources.get("callbacks_queue_url"),
        "CALLBACKS_DLQ_URL": resources.get("callbacks_dlq_url"),
        "CALLBACK_SECRET_ID": resources.get("callback_secret_id"),
    }
    for k, v in env.items():
        if v:
            print(f"export {k}={v}")


def peek(queue_url):
    sqs = client("sqs")
    out = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
        MessageAttributeNames=["All"], WaitTimeSeconds=0,
    )
    for m in out.get("Messages", []):
        attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
        try:
            body = json.loads(m["Body"])
        except ValueError:
            body = m["Body"]
        print(json.dumps({"attributes": attrs, "body": body}, ensure_ascii=False, indent=2))
    depth = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    print(f"# {depth['Attributes']['ApproximateNumberOfMessages']} message(s) in {queue_url}", file=sys.stderr)


def post(path, url=WEBHOOK_URL):
    body = open(path, "rb").read()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            print(resp.status, resp.read().decode())
    except urllib.error.HTTPError as err:
        print(err.code, err.read().decode())
        sys.exit(1)


if __name__ == "__main__":
    commands = {"up": up, "peek": peek, "post": post}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
