"""The webhook the way typical Python WhatsApp Lambda services write it.

Issue 7's baseline for Chasqui's `webhook` function: module-level boto3
clients, the secret fetched once at cold start, `hmac` over the raw body,
`json.loads`, and one SQS message per entry x change (`json.dumps` of the
change value) with attributes. Same status codes as the Rust function:
401 without a signature, 403 with a wrong one, 200 once everything is queued.
It does not split changes too large for one SQS message (the Rust function
does); the benchmark's payloads never need it.
"""

import base64
import hashlib
import hmac
import json
import os
import time

import boto3

QUEUE_URL = os.environ["WEBHOOK_QUEUE_URL"]
secretsmanager = boto3.client("secretsmanager")
sqs = boto3.client("sqs")

_secret = json.loads(
    secretsmanager.get_secret_value(SecretId=os.environ["WHATSAPP_SECRET_ID"])["SecretString"]
)
APP_SECRET = _secret["app_secret"].encode()
VERIFY_TOKEN = _secret["verify_token"]


def reply(status, body, content_type="application/json"):
    if not isinstance(body, str):
        body = json.dumps(body)
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": body}


def signature_valid(app_secret, body, header):
    expected = "sha256=" + hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def split(body, received_at):
    """One queue message per entry x change: (body, attributes)."""
    payload = json.loads(body)
    messages = []
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            message = json.dumps(
                {
                    "kind": "change",
                    "entry_id": entry.get("id", ""),
                    "field": change.get("field", ""),
                    "received_at": received_at,
                    "value": value,
                }
            )
            attributes = {
                "kind": {"DataType": "String", "StringValue": "change"},
                "received_at": {"DataType": "Number", "StringValue": str(received_at)},
                "field": {"DataType": "String", "StringValue": change.get("field", "") or "-"},
            }
            phone_number_id = (value.get("metadata") or {}).get("phone_number_id")
            if phone_number_id:
                attributes["phone_number_id"] = {"DataType": "String", "StringValue": phone_number_id}
            messages.append((message, attributes))
    return messages


def handshake(event):
    query = event.get("queryStringParameters") or {}
    mode, token, challenge = (query.get(k) for k in ("hub.mode", "hub.verify_token", "hub.challenge"))
    if not (mode and token and challenge):
        return reply(400, {"error": "hub.mode, hub.verify_token and hub.challenge are required"})
    if mode != "subscribe" or not hmac.compare_digest(token, VERIFY_TOKEN):
        return reply(403, {"error": "handshake refused"})
    return reply(200, challenge, "text/plain; charset=utf-8")


def lambda_handler(event, context):
    method = event["requestContext"]["http"]["method"]
    if method == "GET":
        return handshake(event)
    if method != "POST":
        return reply(405, {"error": "use GET for the handshake or POST for events"})
    body = event.get("body") or ""
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    signature = headers.get("x-hub-signature-256")
    if not signature:
        return reply(401, {"error": "missing X-Hub-Signature-256"})
    if not signature_valid(APP_SECRET, body, signature):
        return reply(403, {"error": "X-Hub-Signature-256 does not match"})
    try:
        messages = split(body, int(time.time() * 1000))
    except (ValueError, AttributeError):
        return reply(400, {"error": "the body is not a webhook payload"})
    for start in range(0, len(messages), 10):
        batch = messages[start : start + 10]
        out = sqs.send_message_batch(
            QueueUrl=QUEUE_URL,
            Entries=[
                {"Id": str(i), "MessageBody": message, "MessageAttributes": attributes}
                for i, (message, attributes) in enumerate(batch)
            ],
        )
        if out.get("Failed"):
            return reply(503, {"error": f"{len(out['Failed'])} messages not queued; Meta will retry"})
    return reply(200, {"status": f"queued {len(messages)} messages"})
