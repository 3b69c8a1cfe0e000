"""moto's server, handling one request at a time: `python moto_atomic_server.py PORT`.

moto serves each request on its own thread and takes no lock around a
DynamoDB conditional write: two `UpdateItem`s with the same condition can
both read the old item before either writes, and both succeed. DynamoDB
never allows that (a conditional write is atomic per item), and the
sender's exactly-once lock depends on it, so a run with many concurrent
writers (`make chaos`) would see double sends that production cannot.
Holding one lock over each whole request restores the guarantee. It costs
nothing moto had: the interpreter lock already runs one request's Python at a
time, and DynamoDB has no long polls to wait through (SQS has: never serve
SQS with this).

`scripts/with-moto` starts DynamoDB's server with this when
MOTO_PER_SERVICE=1.
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ, start_response):
        with lock:
            # The whole answer is built under the lock.
            return [b"".join(app(environ, start_response))]

    run_simple(
        "127.0.0.1",
        port,
        atomic,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
