#!/usr/bin/env python3
"""The local AWS stack for `make dev`, on the moto server.

  local_stack.py up                 create the queues, table and secret (idempotent); print env exports
  local_stack.py peek QUEUE_URL     show what a queue holds, leaving it there
  local_stack.py post FILE [URL]    sign FILE with the local app secret and POST it to the webhook

Runs with the project's .venv, where moto brings boto3.
"""
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request

import boto3

PREFIX = os.environ.get("CHASQUI_STACK", "chasqui-local")
SECRET_ID = f"{PREFIX}/whatsapp"
# The local Meta app: documented in README.md and events/README.md.
APP_SECRET = "chasqui-test-app-secret"
VERIFY_TOKEN = "chasqui-test-verify-token"
ACCESS_TOKEN = "chasqui-test-access-token"
PHONE_NUMBER_ID = "1122334455"
MAX_RECEIVE_COUNT = "5"
WEBHOOK_URL = os.environ.get("WEBHOOK_URL", "http://127.0.0.1:9000/lambda-url/webhook/webhook")


def client(name):
    # boto3 reads AWS_DEFAULT_REGION only; the Rust SDK and the README use AWS_REGION.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(name, region_name=region)


def queue_with_dlq(sqs, name, visibility):
    dlq = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    url = sqs.create_queue(
        QueueName=name, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": str(visibility)}
    )["QueueUrl"]
    return url, dlq


def up():
    sqs, ddb, sm = client("sqs"), client("dynamodb"), client("secretsmanager")
    webhook_q, webhook_dlq = queue_with_dlq(sqs, f"{PREFIX}-webhook-events", 60)
    send_q, send_dlq = queue_with_dlq(sqs, f"{PREFIX}-send-requests", 180)
    events_q = sqs.create_queue(QueueName=f"{PREFIX}-upstream-events")["QueueUrl"]
    table = f"{PREFIX}-messages"
    if table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "wamid")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_wamid",
                "KeySchema": [{"AttributeName": "wamid", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )
        ddb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    value = json.dumps({"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN})
    try:
        sm.create_secret(Name=SECRET_ID, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=SECRET_ID, SecretString=value)
    env = {
        "WHATSAPP_SECRET_ID": SECRET_ID,
        "WEBHOOK_QUEUE_URL": webhook_q,
        "WEBHOOK_DLQ_URL": webhook_dlq,
        "SEND_QUEUE_URL": send_q,
        "SEND_DLQ_URL": send_dlq,
        "UPSTREAM_EVENTS_QUEUE_URL": events_q,
        "TABLE_NAME": table,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
    }
    for k, v in env.items():
        print(f"export {k}={v}")


def peek(queue_url):
    sqs = client("sqs")
    seen = 0
    while True:
        out = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
            MessageAttributeNames=["All"], WaitTimeSeconds=0,
        )
        batch = out.get("Messages", [])
        if not batch or seen >= 50:
            break
        for m in batch:
            seen += 1
            attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
            print(json.dumps({"attributes": attrs, "body": json.loads(m["Body"])}, ensure_ascii=False, indent=2))
        break
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
