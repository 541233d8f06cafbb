"""The prune at scale (not a test): a generated mirror of --executions executions, the
oldest --prune of them past their source's retention, each with its operations and history
events; the list page served over and over with and without the prune running beside it,
in one run; and (--sizes-only, on a fresh database) the size per execution by operation count.

    .venv/bin/python -m bench.bench_prune [--executions 1000000] [--prune 100000]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--archive]
        [--sizes-only]

The prune is executions/prune.py's, as the beat task runs it (batches of PRUNE_BATCH_SIZE
under the sync's per-execution locks, each deleted in one transaction). Without --archive it
runs with PRUNE_WITHOUT_ARCHIVE (what is measured is the database's side: the delete and
its effect on the pages); with --archive each execution is first written to a local moto S3
server and read back, as in production.

List latencies: the executions list (newest first, the first page), through the Django test
client with every middleware, one request after another on this thread: first --baseline
requests without the prune, then as many as fit while the prune runs on another thread
(its own database connection). p50 and p95 of each are reported.

Sizes (--sizes-only): executions with 10, 100 and 1,000 operations (two history events
per operation, the shape of a step's Started and Succeeded) inserted into a fresh mirror,
the tables' growth divided by their number: PostgreSQL's pg_total_relation_size (tables,
indexes, TOAST), and on SQLite the file's pages after VACUUM.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import drop_throwaway_database, git_revision, machine, use_throwaway_database
from bench.generate import BATCH, generate_executions, make_functions

RETENTION_DAYS = 45


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def add_history(ids: list[tuple[int, datetime]], ops_each: int) -> int:
    """Operations (steps) and their two events each for these executions; rows written."""
    from executions.models import HistoryEvent, Operation

    ops: list[Operation] = []
    events: list[HistoryEvent] = []
    written = 0
    for pk, started in ids:
        for i in range(ops_each):
            at = started + timedelta(seconds=i)
            ops.append(
                Operation(
                    execution_id=pk,
                    operation_id=f"op-{i:04d}",
                    name=f"step-{i}",
                    type="STEP",
                    subtype="Step",
                    status="SUCCEEDED",
                    started_at=at,
                    ended_at=at + timedelta(milliseconds=300),
                    attempt_count=1,
                    result_payload='{"ok": true}',
                    first_event_id=2 * i + 1,
                    last_event_id=2 * i + 2,
                    position=i,
                )
            )
            for n, kind in ((1, "StepStarted"), (2, "StepSucceeded")):
                details = (
                    {"Result": {"Payload": '{"ok": true}', "Truncated": False}} if n == 2 else {}
                )
                events.append(
                    HistoryEvent(
                        execution_id=pk,
                        event_id=2 * i + n,
                        event_type=kind,
                        sub_type="Step",
                        operation_id=f"op-{i:04d}",
                        name=f"step-{i}",
                        timestamp=at,
                        details=details,
                        raw={
                            "EventType": kind,
                            "EventId": 2 * i + n,
                            "Id": f"op-{i:04d}",
                            "Name": f"step-{i}",
                            "EventTimestamp": at.isoformat(),
                            f"{kind}Details": details,
                        },
                    )
                )
        if len(events) >= BATCH * 2:
            Operation.objects.bulk_create(ops)
            HistoryEvent.objects.bulk_create(events)
            written += len(ops) + len(events)
            ops, events = [], []
    Operation.objects.bulk_create(ops)
    HistoryEvent.objects.bulk_create(events)
    return written + len(ops) + len(events)


def prepare(args: argparse.Namespace, rng: random.Random) -> dict[str, object]:
    from executions.models import Execution, Source

    now = datetime.now(UTC)
    functions = make_functions()
    t0 = time.perf_counter()
    for start in range(0, args.executions, 50_000):
        generate_executions(functions, start, min(50_000, args.executions - start), now, rng)
    generated = time.perf_counter() - t0
    # The oldest --prune ended executions: past the retention, with their history.
    old = list(
        Execution.objects.exclude(status="RUNNING")
        .order_by("started_at", "id")
        .values_list("pk", "started_at")[: args.prune]
    )
    shift = timedelta(days=60)
    for i in range(0, len(old), 10_000):
        chunk = [pk for pk, _ in old[i : i + 10_000]]
        Execution.objects.filter(pk__in=chunk).update(
            started_at=now - shift - timedelta(days=1), ended_at=now - shift
        )
    t1 = time.perf_counter()
    rows = add_history([(pk, now - shift) for pk, _ in old], args.operations)
    Source.objects.update(retention_days=RETENTION_DAYS)
    return {
        "generated_seconds": generated,
        "history_rows": rows,
        "history_seconds": time.perf_counter() - t1,
        "due": len(old),
    }


def list_latencies(client, stop: threading.Event | None, count: int) -> list[float]:
    samples = []
    while (stop is None and len(samples) < count) or (stop is not None and not stop.is_set()):
        t0 = time.perf_counter()
        response = client.get("/executions/")
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.status_code
    return samples


def run_prune(result: dict[str, object], done: threading.Event) -> None:
    from django.db import connection

    from executions import prune
    from executions.models import Source

    try:
        t0 = time.perf_counter()
        runs = []
        while True:
            batch = [prune.prune_source(s) for s in Source.objects.order_by("name")]
            runs.extend(batch)
            if not any(r.pruned for r in batch):
                break
        result["seconds"] = time.perf_counter() - t0
        result["pruned"] = sum(r.pruned for r in runs)
        result["operations"] = sum(r.operations for r in runs)
        result["events"] = sum(r.events for r in runs)
        result["batches"] = sum(r.batches for r in runs)
        result["stopped"] = [r.stopped for r in runs if r.stopped]
    finally:
        connection.close()
        done.set()


def sizes(vendor: str) -> list[tuple[int, float]]:
    """Bytes per execution, by its operation count, in an emptied mirror."""
    from django.db import connection

    from executions.models import Execution, Function

    function = Function.objects.first()
    found = []
    for ops_each, count in ((10, 2000), (100, 400), (1000, 40)):
        before = _db_bytes(vendor)
        now = datetime.now(UTC)
        made = Execution.objects.bulk_create(
            Execution(
                arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"
                f"/durable-execution/size-{ops_each}-{i}/{uuid.uuid4()}",
                name=f"size-{ops_each}-{i}",
                source_id=function.source_id,
                function=function,
                status="SUCCEEDED",
                started_at=now,
                ended_at=now,
                input_payload='{"orderId": "ORD-0000001"}',
                result_payload='{"ok": true}',
                operation_count=ops_each,
                operation_counts={"SUCCEEDED": ops_each},
                last_event_id=2 * ops_each,
                history_complete=True,
            )
            for i in range(count)
        )
        if vendor == "postgresql":
            made = list(Execution.objects.filter(name__startswith=f"size-{ops_each}-"))
        add_history([(e.pk, now) for e in made], ops_each)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM" if vendor == "sqlite" else "VACUUM ANALYZE")
        found.append((ops_each, (_db_bytes(vendor) - before) / count))
    return found


def _db_bytes(vendor: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY["
                "'executions_execution', 'executions_operation', 'executions_historyevent'"
                "]::regclass[]) AS c"
            )
            return int(cursor.fetchone()[0])
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return int(pages * cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--prune", type=int, default=100_000)
    parser.add_argument("--operations", type=int, default=5, help="operations per pruned one")
    parser.add_argument("--baseline", type=int, default=200, help="list requests without")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--archive", action="store_true", help="archive to a local S3 first")
    parser.add_argument("--sizes-only", action="store_true")
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ.setdefault("REDIS_KEY_PREFIX", "durable-console-bench-prune")
    where = use_throwaway_database(args.database_url)
    try:
        run(args, where)
    finally:
        drop_throwaway_database()


def run(args: argparse.Namespace, where: str) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    print(f"# bench_prune · {machine()} · {git_revision()} · {where}")
    rng = random.Random(args.seed)
    if args.sizes_only:
        make_functions()
        for ops_each, per in sizes(connection.vendor):
            print(f"size: {ops_each} operations -> {per / 1024:.1f} KiB per execution")
        return
    server = None
    if args.archive:
        from sandbox import s3

        server = s3.LocalS3().start()
        s3.ensure_bucket(server.endpoint_url, "bench-prune")
        settings.ARCHIVE_BUCKET = "bench-prune"
        settings.ARCHIVE_ENDPOINT_URL = server.endpoint_url
        settings.ARCHIVE_CREDENTIALS = "none"
    else:
        settings.PRUNE_WITHOUT_ARCHIVE = True
    settings.PRUNE_RUN_SECONDS = 24 * 3600
    try:
        facts = prepare(args, rng)
        print(
            f"generated {args.executions:,} executions in {facts['generated_seconds']:.0f} s; "
            f"{facts['due']:,} past retention with {facts['history_rows']:,} operation and "
            f"event rows in {facts['history_seconds']:.0f} s"
        )
        client = Client()
        client.force_login(User.objects.create_user("bench", password="bench-bench-1"))
        list_latencies(client, None, 5)  # warm-up
        without = list_latencies(client, None, args.baseline)
        result: dict[str, object] = {}
        done = threading.Event()
        pruner = threading.Thread(target=run_prune, args=(result, done))
        pruner.start()
        during = list_latencies(client, done, 0)
        pruner.join()
    finally:
        if server is not None:
            server.stop()
    rate = result["pruned"] / result["seconds"] if result.get("seconds") else 0
    print(
        f"pruned {result['pruned']:,} executions, {result['operations']:,} operations, "
        f"{result['events']:,} events in {result['seconds']:.1f} s ({rate:,.0f} executions/s, "
        f"{result['batches']} batches of {settings.PRUNE_BATCH_SIZE}); stopped: {result['stopped']}"
    )
    for label, samples in (("without the prune", without), ("during the prune", during)):
        print(
            f"list /executions/ {label}: {len(samples)} requests, "
            f"p50 {statistics.median(samples):.1f} ms, p95 {_percentile(samples, 95):.1f} ms, "
            f"max {max(samples):.1f} ms"
        )
    print("sizes: run again with --sizes-only (a fresh database: no dead rows to fill)")


if __name__ == "__main__":
    main()
