"""A Lambda runtime client in a few lines: the documented Runtime API
(GET .../invocation/next, POST .../{id}/response or /error) driving
`_HANDLER` (default `webhook_handler.lambda_handler`), as Lambda's Python
runtime does."""

import importlib
import json
import os
import sys
import urllib.request

api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def post(path, body):
    request = urllib.request.Request(f"{api}/{path}", data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request).close()


try:
    module, function = os.environ.get("_HANDLER", "webhook_handler.lambda_handler").rsplit(".", 1)
    handler = getattr(importlib.import_module(module), function)
except Exception as err:
    post("init/error", {"errorMessage": str(err), "errorType": type(err).__name__})
    sys.exit(1)

while True:
    with urllib.request.urlopen(f"{api}/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    try:
        post(f"invocation/{request_id}/response", handler(event, None))
    except Exception as err:
        post(f"invocation/{request_id}/error", {"errorMessage": str(err), "errorType": type(err).__name__})
