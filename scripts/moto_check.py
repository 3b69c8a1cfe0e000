"""Checks scripts/moto_atomic_server.py against plain moto: `.venv/bin/python scripts/moto_check.py`.

1. Racing conditional writes: 16 threads make 8 conditional `UpdateItem`s
   on each of 100 keys (the condition holds only for the first); DynamoDB
   lets exactly one per key succeed. Run against the atomic server, and
   against plain moto to show the check can fail (plain moto lets more
   through; that count is printed, not asserted, since it depends on timing).
2. Queries: the same items in both servers (a table with a range key and
   two indexes, one keys-only on a hash key alone like `by_wamid_keys`, and
   a table with a hash key alone), then the same queries, paged, both
   directions, with key conditions, filters, projections and limits: every
   answer must be equal.
3. Updates: the same `UpdateItem`s in both (ten expression texts, used
   again and again with other values, some refused or failing their
   condition): every answer must be equal (the atomic server parses each
   text once).
4. Cost: the mean time of a `Query` of one partition at 1,000 and at 5,000
   items (the table's other items): printed, and the atomic server's must
   not grow more than twofold (plain moto's grows with the table).

Exits non-zero on a failed check.
"""

import os
import random
import socket
import subprocess
import sys
import multiprocessing
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.dirname(sys.executable)


def start(command):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, MOTO_STATS_SECONDS="0")
    proc = subprocess.Popen(
        command + [str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    else:
        proc.kill()
        sys.exit(f"{command} did not start")
    return proc, f"http://127.0.0.1:{port}"


def client(endpoint):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


def create_tables(ddb):
    ddb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "wamid", "g")
        ]
        + [{"AttributeName": "n", "AttributeType": "N"}],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_wamid_keys",
                "KeySchema": [{"AttributeName": "wamid", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_g_n",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    ddb.create_table(
        TableName="h",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def fill(ddb, rng, count):
    for i in range(count):
        item = {
            "pk": {"S": f"P#{rng.randrange(40)}"},
            "sk": {"S": f"S#{rng.randrange(1000):04d}"},
            "n": {"N": str(rng.randrange(-50, 50))},
            "v": {"S": rng.choice(["a", "b", "c"])},
        }
        if rng.random() < 0.7:
            # Some wamids are shared, as a foreign status's may be.
            item["wamid"] = {"S": f"w.{rng.randrange(count // 2)}"}
        if rng.random() < 0.5:
            item["g"] = {"S": f"G{rng.randrange(5)}"}
        ddb.put_item(TableName="t", Item=item)
        ddb.put_item(TableName="h", Item={"id": {"S": f"I{i % 30}"}, "x": {"N": str(i)}})
    # Updates that add and remove index keys after the put.
    for i in range(count // 10):
        key = {"pk": {"S": f"P#{rng.randrange(40)}"}, "sk": {"S": f"S#{rng.randrange(1000):04d}"}}
        if rng.random() < 0.5:
            ddb.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="SET wamid = :w",
                ExpressionAttributeValues={":w": {"S": f"w.{rng.randrange(count // 2)}"}},
            )
        else:
            ddb.update_item(TableName="t", Key=key, UpdateExpression="REMOVE wamid")


def queries(rng):
    out = []
    for p in list(range(40)) + [99]:
        pk = {":p": {"S": f"P#{p}"}}
        out += [
            dict(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues=pk),
            dict(
                TableName="t",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=pk,
                ScanIndexForward=False,
                Limit=3,
            ),
            dict(
                TableName="t",
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={**pk, ":s": {"S": "S#01"}},
                ConsistentRead=True,
            ),
            dict(
                TableName="t",
                KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={**pk, ":a": {"S": "S#0200"}, ":b": {"S": "S#0700"}},
                FilterExpression="v = :v",
                ProjectionExpression="pk, sk, n",
                Limit=4,
            ),
        ]
    for w in [rng.randrange(300) for _ in range(40)] + [10_000]:
        out += [
            dict(
                TableName="t",
                IndexName="by_wamid_keys",
                KeyConditionExpression="wamid = :w",
                ExpressionAttributeValues={":w": {"S": f"w.{w}"}},
            ),
            dict(
                TableName="t",
                IndexName="by_wamid_keys",
                KeyConditionExpression="#w = :w",
                ExpressionAttributeNames={"#w": "wamid"},
                ExpressionAttributeValues={":w": {"S": f"w.{w}"}},
                Limit=1,
            ),
        ]
    for g in range(6):
        gv = {":g": {"S": f"G{g}"}}
        out += [
            dict(TableName="t", IndexName="by_g_n", KeyConditionExpression="g = :g", ExpressionAttributeValues=gv, Limit=7),
            dict(
                TableName="t",
                IndexName="by_g_n",
                KeyConditionExpression="g = :g AND n > :n",
                ExpressionAttributeValues={**gv, ":n": {"N": "10"}},
                ScanIndexForward=False,
                Limit=5,
            ),
        ]
    for i in list(range(30)) + [77]:
        out.append(
            dict(
                TableName="h",
                KeyConditionExpression="id = :i",
                ExpressionAttributeValues={":i": {"S": f"I{i}"}},
            )
        )
    return out


def updates(rng, count):
    """UpdateItems with a few expression texts and many values, some failing."""
    exprs = [
        ("SET #s = :v, #n = if_not_exists(#n, :z) + :one", {"#s": "st", "#n": "cnt"}, ["v", "z", "one"], None),
        ("ADD cnt :one SET st = :v", None, ["one", "v"], "attribute_exists(pk)"),
        ("SET tags = list_append(if_not_exists(tags, :empty), :l)", None, ["empty", "l"], None),
        ("REMOVE st, missing", None, [], "st = :v"),
        ("SET m = if_not_exists(m, :map)", None, ["map"], None),
        ("SET m.inner = :v", None, ["v"], "attribute_exists(m)"),
        ("ADD cnt :v", None, ["v"], None),  # a string: a type error
        ("SET #owner = :v", {"#owner": "owner"}, ["v"], "attribute_not_exists(#owner) OR #owner = :v"),
        ("SET owner = :v", None, ["v"], None),  # a reserved word: refused
        ("DELETE ss :set ADD ss :set2", None, ["set", "set2"], None),
    ]
    values = {
        "v": lambda: {"S": rng.choice(["a", "b"])},
        "z": lambda: {"N": "0"},
        "one": lambda: {"N": str(rng.randrange(1, 3))},
        "empty": lambda: {"L": []},
        "l": lambda: {"L": [{"S": "x"}]},
        "map": lambda: {"M": {"k": {"N": "1"}}},
        "set": lambda: {"SS": ["a"]},
        "set2": lambda: {"SS": [rng.choice(["a", "b", "c"])]},
    }
    out = []
    for _ in range(count):
        text, names, used, condition = rng.choice(exprs)
        args = dict(
            TableName="t",
            Key={"pk": {"S": f"U#{rng.randrange(20)}"}, "sk": {"S": "U"}},
            UpdateExpression=text,
            ReturnValues="ALL_NEW",
        )
        if names:
            args["ExpressionAttributeNames"] = names
        vals = {f":{k}": values[k]() for k in used}
        if condition:
            args["ConditionExpression"] = condition
            if ":v" in condition and ":v" not in vals:
                vals[":v"] = values["v"]()
        if vals:
            args["ExpressionAttributeValues"] = vals
        out.append(args)
    return out


def update(ddb, args):
    try:
        answer = ddb.update_item(**args)
    except ClientError as e:
        return ("error", e.response["Error"]["Code"], e.response["Error"]["Message"])
    answer.pop("ResponseMetadata", None)
    return answer


def pages(ddb, query):
    """Every page of a query, following LastEvaluatedKey."""
    got = []
    start = None
    while True:
        args = dict(query)
        if start:
            args["ExclusiveStartKey"] = start
        try:
            page = ddb.query(**args)
        except ClientError as e:
            got.append(("error", e.response["Error"]))
            return got
        page.pop("ResponseMetadata", None)
        got.append(page)
        start = page.get("LastEvaluatedKey")
        if not start or len(got) > 500:
            return got


def _race_worker(endpoint, mine, barrier, results):
    """One racing process: its conditional writes, and which succeeded."""
    ddb = client(endpoint)
    won, errors = [], []
    barrier.wait()
    for k in mine:
        try:
            ddb.update_item(
                TableName="race",
                Key={"pk": {"S": f"lock#{k}"}},
                UpdateExpression="SET #o = :me",
                ConditionExpression="attribute_not_exists(#o)",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": str(os.getpid())}},
            )
            won.append(k)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                errors.append(str(e))
    results.put((won, errors))


def race(endpoint, keys=100, per_key=8, workers=16):
    """Winners of racing conditional writes, per key, from `workers`
    processes (threads of one client process would take turns on its
    interpreter lock and rarely overlap at the server)."""
    ddb = client(endpoint)
    ddb.create_table(
        TableName="race",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    # Existing items: the update runs moto's expression validator and
    # executor after the condition check, a window other threads can use.
    for k in range(keys):
        ddb.put_item(TableName="race", Item={"pk": {"S": f"lock#{k}"}})
    # In key order: worker i takes jobs i, i + workers, ..., so the
    # `per_key` writes of a key are made by as many workers at once.
    jobs = [k for k in range(keys) for _ in range(per_key)]
    barrier = multiprocessing.Barrier(workers)
    results = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_race_worker, args=(endpoint, jobs[i::workers], barrier, results))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    wins = [0] * keys
    for _ in procs:
        won, errors = results.get()
        if errors:
            sys.exit(f"racing writes failed: {errors[0]}")
        for k in won:
            wins[k] += 1
    for p in procs:
        p.join()
    return wins


def query_cost(ddb, sizes):
    """Mean ms of a one-partition Query with `size` other items in the table."""
    ddb.create_table(
        TableName="cost",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    ddb.put_item(TableName="cost", Item={"pk": {"S": "BINDING"}, "sk": {"S": "1"}})
    n, out = 0, []
    query = dict(
        TableName="cost",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "BINDING"}},
    )
    for size in sizes:
        while n < size:
            ddb.put_item(TableName="cost", Item={"pk": {"S": f"M#{n}"}, "sk": {"S": "M"}, "x": {"S": "y" * 50}})
            n += 1
        ddb.query(**query)
        started = time.perf_counter()
        for _ in range(20):
            ddb.query(**query)
        out.append(1000 * (time.perf_counter() - started) / 20)
    return out


def main() -> int:
    failures = []
    atomic, fast_at = start([sys.executable, os.path.join(HERE, "moto_atomic_server.py")])
    plain, slow_at = start([os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p"])
    fast, slow = client(fast_at), client(slow_at)
    try:
        wins = race(fast_at)
        bad = {k: w for k, w in enumerate(wins) if w != 1}
        print(f"racing writes, atomic server: {sum(wins)} winners on {len(wins)} keys")
        if bad:
            failures.append(f"keys without exactly one winner: {bad}")
        plain_wins = race(slow_at)
        print(f"racing writes, plain moto:    {sum(plain_wins)} winners on {len(plain_wins)} keys")

        for ddb in (fast, slow):
            create_tables(ddb)
            fill(ddb, random.Random(7), 1000)
        all_queries = queries(random.Random(8))
        differ = 0
        answers = 0
        for q in all_queries:
            a, b = pages(fast, q), pages(slow, q)
            answers += len(a)
            if a != b:
                differ += 1
                if differ <= 3:
                    print(f"differs: {q}\n  atomic: {a}\n  plain:  {b}")
        print(f"queries: {len(all_queries)} ({answers} pages), {differ} answers differ from plain moto")
        if differ:
            failures.append(f"{differ} query answers differ")

        all_updates = updates(random.Random(9), 400)
        differ = 0
        failed = 0
        for u in all_updates:
            a, b = update(fast, u), update(slow, u)
            failed += a[0] == "error" if isinstance(a, tuple) else 0
            if a != b:
                differ += 1
                if differ <= 3:
                    print(f"differs: {u}\n  atomic: {a}\n  plain:  {b}")
        print(
            f"updates: {len(all_updates)} with {len({u['UpdateExpression'] for u in all_updates})}"
            f" expression texts ({failed} refused), {differ} answers differ from plain moto"
        )
        if differ:
            failures.append(f"{differ} update answers differ")

        sizes = [1000, 5000]
        fast_cost, slow_cost = query_cost(fast, sizes), query_cost(slow, sizes[:1])
        print(
            "one-partition Query, ms: atomic server "
            + ", ".join(f"{c:.1f} at {s}" for c, s in zip(fast_cost, sizes))
            + f"; plain moto {slow_cost[0]:.1f} at {sizes[0]} items"
        )
        if fast_cost[-1] > 2 * fast_cost[0] + 5:
            failures.append("the atomic server's Query cost grows with the table")
    finally:
        for proc in (atomic, plain):
            proc.terminate()
            proc.wait()
    if failures:
        print("moto check: FAIL: " + "; ".join(failures))
        return 1
    print("moto check: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
