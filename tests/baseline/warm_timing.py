"""Warm cost of the baseline's pure handler logic (signature check, json.loads,
split with json.dumps per change; no SQS), per event, with timeit.

    python warm_timing.py NAME=PAYLOAD_FILE ...

Prints one JSON object: {NAME: {"bytes", "messages", "per_event_us" (best
repeat's mean), "median_us" (median repeat's mean)}}. The signature is made
with the module's APP_SECRET, so importing it needs its environment (the
benchmark's moto secret)."""

import hashlib
import hmac
import json
import statistics
import sys
import time
import timeit

import webhook_handler as wh


def logic(body, header):
    if not wh.signature_valid(wh.APP_SECRET, body, header):
        raise SystemExit("signature did not verify")
    return wh.split(body, int(time.time() * 1000))


results = {}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    with open(path, "rb") as f:
        body = f.read()
    header = "sha256=" + hmac.new(wh.APP_SECRET, body, hashlib.sha256).hexdigest()
    messages = len(logic(body, header))
    timer = timeit.Timer(lambda: logic(body, header))
    number, _ = timer.autorange()
    number = max(1, number // 2)
    repeats = [t / number for t in timer.repeat(repeat=7, number=number)]
    results[name] = {
        "bytes": len(body),
        "messages": messages,
        "per_event_us": min(repeats) * 1e6,
        "median_us": statistics.median(repeats) * 1e6,
    }
print(json.dumps(results))
