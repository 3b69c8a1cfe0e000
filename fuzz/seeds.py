#!/usr/bin/env python3
"""Writes the committed seed corpora in fuzz/seeds/ from the project's own
examples: the signed webhook events and queued status bodies in events/, and
the send requests in events/ and docs/send-request.md. The Meta payload
fixtures (shared/fixtures/webhooks/) are read in place by `make fuzz`.
Re-run after changing those examples: `python3 fuzz/seeds.py`."""

import base64
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
# The test Meta app secret the signed events use (events/README.md).
APP_SECRET = b"chasqui-test-app-secret"


def write(target, name, data):
    out = SEEDS / target
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(data)


def webhook_bodies():
    for path in sorted((ROOT / "events").glob("webhook-post-*.json")):
        event = json.loads(path.read_text())
        body = event["body"].encode()
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body)
        yield path.stem, body, event["headers"].get("x-hub-signature-256", "").encode()


def main():
    for stem, body, header in webhook_bodies():
        write("webhook_body", stem, body)
        # signature input: [header len, secret len, position, change] header secret body
        prefix = bytes([len(header), len(APP_SECRET), len(body) % 256, 1])
        write("signature", stem, prefix + header + APP_SECRET + body)
    # The status function's input: queued bodies, as they sit on the queue.
    for path in sorted((ROOT / "events").glob("status-*.json")):
        for i, record in enumerate(json.loads(path.read_text())["Records"]):
            write("webhook_body", f"{path.stem}-{i}", record["body"].encode())
    for path in sorted((ROOT / "events").glob("sender-*.json")):
        for i, record in enumerate(json.loads(path.read_text())["Records"]):
            write("send_request", f"{path.stem}-{i}", record["body"].encode())
    doc = (ROOT / "docs" / "send-request.md").read_text()
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", doc, re.S)):
        try:
            json.loads(block)
        except ValueError:
            continue  # a fragment of a request, not a whole one
        write("send_request", f"docs-{i:02}", block.encode())
    # Names are stable, so re-running rewrites the same files.
    for target in sorted(p.name for p in SEEDS.iterdir()):
        files = list((SEEDS / target).iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{target}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
