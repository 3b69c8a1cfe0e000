"""moto's server under load, DynamoDB atomic: `python moto_atomic_server.py PORT`.

Three changes to moto, all about the emulator's cost, none about
DynamoDB's behaviour:

1. One DynamoDB request at a time. moto serves each request on its own thread and
   takes no lock around a DynamoDB conditional write: two `UpdateItem`s with
   the same condition can both read the old item before either writes, and
   both succeed. DynamoDB never allows that (a conditional write is atomic
   per item), and the sender's exactly-once lock depends on it, so a run
   with many concurrent writers (`make chaos`) would see double sends that
   production cannot. Holding one lock over each whole request restores the
   guarantee. It costs nothing moto had: the interpreter lock already runs
   one request's Python at a time, and DynamoDB has no long polls to wait
   through (SQS has: never serve SQS with this).

2. A `Query` reads only what it can match. moto 5.2.5's `Table.query`
   starts from `all_items()`, which lists and sorts every item of the table
   (by Python-level comparisons) before keeping the one partition asked for.
   A query therefore costs time in proportion to the table: 15 ms at 1,000
   items, 250 ms at 20,000 on this machine, and the functions query on hot
   paths (the tenant directory reloads its bindings, one `Query` of one
   partition, at most once a second per instance while a number has none;
   the status function looks a `wamid` up in `by_wamid_keys` when a status
   has no callback data). Here `all_items()`, inside a `Query`, gives only
   the candidates: the asked partition's items for the table, the items
   whose index hash key attributes equal the asked values for an index, in
   `all_items()`'s order. moto's own code still filters, sorts, pages and
   projects them, so the answer is the same (`scripts/moto_check.py`
   compares it with plain moto's), at a cost set by the partition's size.

3. Each distinct `UpdateExpression` is parsed once. moto parses it twice
   per `UpdateItem` (once to list the names and values it uses, once to
   apply it); its readers only walk the tree, and the validator that
   applies it works on its own deep copy, so one tree serves every request
   with the same text.

It writes no access log line per request (errors still go to stderr).
Every `MOTO_STATS_SECONDS` (default 30; 0 turns it off) it prints one line
to stderr: requests served and their rate, the items in the tables, the
share of the time a request held the lock, the mean time (wall and the
serving thread's CPU time) of a request and of each operation, and the
process's CPU use, so a run shows whether the cost per request stays flat.
On a busy machine wall time includes waiting for a core; CPU time does
not.

`scripts/with-moto` starts DynamoDB's server with this when
MOTO_PER_SERVICE=1.
"""

import inspect
import io
import os
import sys
import threading
import time
from collections import defaultdict

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

_original_all_items = Table.all_items
_original_query = Table.query
_query_signature = inspect.signature(_original_query)
# The candidates of the query running on this thread: (table, items).
_scope = threading.local()


def _all_items(self):
    narrowed = getattr(_scope, "narrowed", None)
    if narrowed is not None and narrowed[0] is self:
        return narrowed[1]
    return _original_all_items(self)


def _in_table_order(table, items):
    # all_items()'s order.
    return sorted(
        items,
        key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key,
    )


def _candidates(table, args):
    """The items a query can match, in all_items()'s order, or None to let
    moto look at every item."""
    index_name = args.get("index_name")
    if not index_name:
        hash_key = args.get("hash_key")
        if hash_key is None:
            return None
        partition = table.items.get(hash_key)
        if partition is None:
            return []
        if table.range_key_attr:
            return _in_table_order(table, partition.values())
        return [partition]
    # An index: moto keeps an item only when each of the query's hash key
    # conditions holds (`not value or value != expected` rejects it); the
    # same test, without listing and sorting the whole table first.
    conditions = args.get("hash_key_conditions") or []
    if not conditions:
        return None
    found = []
    for partition in table.items.values():
        items = partition.values() if table.range_key_attr else (partition,)
        for item in items:
            attrs = item.attrs
            for name, expected in conditions:
                value = attrs.get(name)
                if not value or value != expected:
                    break
            else:
                found.append(item)
    return _in_table_order(table, found)


def _query(self, *args, **kwargs):
    bound = _query_signature.bind(self, *args, **kwargs)
    candidates = _candidates(self, bound.arguments)
    if candidates is None:
        return _original_query(self, *args, **kwargs)
    _scope.narrowed = (self, candidates)
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        _scope.narrowed = None


_original_make = UpdateExpressionParser.make.__func__
# Parsed update expressions by their text: the functions use a handful.
_parsed: dict = {}


def _make(cls, expression_str):
    key = (cls, expression_str)
    ast = _parsed.get(key)
    if ast is None:
        ast = _original_make(cls, expression_str)
        if len(_parsed) < 10_000:
            _parsed[key] = ast
    return ast


def patch_moto() -> None:
    """Makes moto's `Table.query` look only at its candidates, and parse
    each update expression once."""
    Table.all_items = _all_items
    Table.query = _query
    UpdateExpressionParser.make = classmethod(_make)


class Stats:
    """Requests served, printed every `every` seconds."""

    def __init__(self, every: float):
        self.every = every
        self.started = self.last = time.monotonic()
        self.process_cpu = time.process_time()
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.busy = 0.0
        self.cpu = 0.0
        self.ops = defaultdict(lambda: [0, 0.0, 0.0])

    def add(self, op: str, wall: float, cpu: float) -> None:
        self.count += 1
        self.busy += wall
        self.cpu += cpu
        entry = self.ops[op]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu
        now = time.monotonic()
        if self.every > 0 and now - self.last >= self.every:
            self.print(now)

    def print(self, now: float) -> None:
        span = now - self.last
        items = 0
        for account in dynamodb_backends.values():
            for backend in account.values():
                items += sum(len(t) for t in backend.tables.values())
        ops = ", ".join(
            f"{op} {n} x {1000 * t / n:.1f} ms (cpu {1000 * c / n:.1f})"
            for op, (n, t, c) in sorted(self.ops.items(), key=lambda kv: -kv[1][1])
        )
        process_cpu = time.process_time()
        count = max(self.count, 1)
        print(
            f"dynamodb stats [{now - self.started:7.1f} s]: {self.count} requests"
            f" in {span:.1f} s ({self.count / span:.1f}/s), {items} items;"
            f" under the lock {100 * self.busy / span:.0f}% of the time,"
            f" {1000 * self.busy / count:.1f} ms a request (cpu {1000 * self.cpu / count:.1f});"
            f" process cpu {100 * (process_cpu - self.process_cpu) / span:.0f}%; {ops}",
            file=sys.stderr,
            flush=True,
        )
        self.process_cpu = process_cpu
        self.last = now
        self.reset()


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without a log line per request (werkzeug writes one
    for each, about 6% of this server's time under `make chaos`); errors are
    still logged."""

    def log_request(self, code="-", size="-") -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    patch_moto()
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    stats = Stats(float(os.environ.get("MOTO_STATS_SECONDS", "30")))

    def atomic(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            # Any other service (when this server serves them all, as under
            # `make test`) runs as in moto_server: SQS long polls must not
            # hold the lock.
            return app(environ, start_response)
        op = target.rpartition(".")[2] or environ.get("PATH_INFO", "")
        if op == "Query":
            # Queries of an index apart from those of the table.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            if b'"IndexName"' in body:
                op = "Query(index)"
        with lock:
            wall, cpu = time.perf_counter(), time.thread_time()
            # The whole answer is built under the lock.
            body = b"".join(app(environ, start_response))
            stats.add(op, time.perf_counter() - wall, time.thread_time() - cpu)
        return [body]

    run_simple(
        "127.0.0.1",
        port,
        atomic,
        threaded=True,
        request_handler=QuietRequestHandler,
    )


if __name__ == "__main__":
    main()
