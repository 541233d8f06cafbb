"""Server time of the execution browser's pages on a large generated mirror (not a test).

    .venv/bin/python -m bench.bench_browser [--executions 100000] [--operations 10000] [--repeat 15]

Builds a throwaway SQLite database (bench/common.py) holding --executions generated
executions across 20 functions, plus one execution of --operations generated operations
(a map of ~5,000 iterations with one step each, some failed and retried, and ~2 history
events per operation). Then requests each page through the Django test client (all
middleware included, logged in) and reports the median server time of --repeat requests.

Detail tabs are measured twice: "cold" with the rendered-tree cache emptied before each
request (the first view after a new event), and "warm" (every later view).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import git_revision, machine, median, use_throwaway_database

STATUS_MIX = [
    ("SUCCEEDED", 0.85),
    ("FAILED", 0.08),
    ("RUNNING", 0.05),
    ("TIMED_OUT", 0.01),
    ("STOPPED", 0.01),
]
BATCH = 5000


def _status(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for status, share in STATUS_MIX:
        total += share
        if roll < total:
            return status
    return "SUCCEEDED"


def generate_executions(count: int, rng: random.Random) -> tuple[list, datetime]:
    from executions.models import Credentials, Execution, Function, Source

    source = Source.objects.create(
        name="bench", endpoint_url="http://127.0.0.1:9", credentials=Credentials.NONE
    )
    functions = [
        Function.objects.create(source=source, name=f"service-{i:02d}", qualifier="$LATEST")
        for i in range(20)
    ]
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        status = _status(rng)
        started = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        ended = None if status == "RUNNING" else started + timedelta(seconds=rng.uniform(1, 3600))
        function = functions[i % len(functions)]
        ops = rng.randint(3, 40)
        rows.append(
            Execution(
                arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}:$LATEST"
                f"/durable-execution/order-{i}/{uuid.UUID(int=rng.getrandbits(128))}",
                name=f"order-{i}",
                source=source,
                function=function,
                qualifier="$LATEST",
                status=status,
                started_at=started,
                ended_at=ended,
                operation_count=ops,
                operation_counts={"SUCCEEDED": ops},
                pending_callbacks=1 if status == "RUNNING" and i % 3 == 0 else 0,
                last_event_id=ops * 2,
                history_complete=status != "RUNNING",
                last_synced_at=now,
            )
        )
        if len(rows) == BATCH:
            Execution.objects.bulk_create(rows)
            rows = []
    Execution.objects.bulk_create(rows)
    return functions, now


def generate_big_execution(function, operations: int, rng: random.Random):
    """One execution shaped like the bulk-ledger sample, with `operations` operations."""
    from executions.models import Execution, HistoryEvent, Operation

    start = datetime.now(UTC) - timedelta(hours=2)
    execution = Execution.objects.create(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}:$LATEST"
        f"/durable-execution/ledger-big/{uuid.uuid4()}",
        name="ledger-big",
        source=function.source,
        function=function,
        qualifier="$LATEST",
        status="SUCCEEDED",
        started_at=start,
        ended_at=start + timedelta(minutes=50),
        input_payload=f'{{"entries": {operations}}}',
        result_payload=f'{{"posted": {operations}}}',
        history_complete=True,
        last_synced_at=datetime.now(UTC),
    )
    ops: list[Operation] = []
    events: list[HistoryEvent] = []
    clock = [start]

    def add(op_id: str, parent: str, name: str, type_: str, subtype: str, status: str,
            seconds: float, retries: list | None = None) -> None:  # fmt: skip
        begin = clock[0]
        end = begin + timedelta(seconds=seconds)
        clock[0] = begin + timedelta(milliseconds=rng.randint(1, 400))
        first = len(events) + 1
        family = {"STEP": "Step", "CONTEXT": "Context", "WAIT": "Wait", "CALLBACK": "Callback"}[
            type_
        ]
        outcome = "Succeeded" if status == "SUCCEEDED" else "Failed"
        for kind, moment in (("Started", begin), (outcome, end)):
            event_id = len(events) + 1
            raw = {
                "EventType": f"{family}{kind}",
                "SubType": subtype,
                "EventId": event_id,
                "Id": op_id,
                "Name": name,
                "ParentId": parent or None,
                "EventTimestamp": moment.isoformat(),
                f"{family}{kind}Details": {
                    "Result": {"Payload": '{"ok": true}', "Truncated": False}
                }
                if kind == "Succeeded"
                else {},
            }
            events.append(
                HistoryEvent(
                    execution=execution,
                    event_id=event_id,
                    event_type=raw["EventType"],
                    sub_type=subtype,
                    operation_id=op_id,
                    name=name,
                    parent_id=parent,
                    timestamp=moment,
                    details=raw[f"{family}{kind}Details"],
                    raw=raw,
                )
            )
        ops.append(
            Operation(
                execution=execution,
                operation_id=op_id,
                parent_operation_id=parent,
                name=name,
                type=type_,
                subtype=subtype,
                status=status,
                started_at=begin,
                ended_at=end,
                attempt_count=len(retries or []) + 1 if type_ == "STEP" else 0,
                result_payload='{"t":"m","v":{"ok":{"t":"b","v":true}}}',
                retries=retries or [],
                first_event_id=first,
                last_event_id=len(events),
                position=len(ops),
            )
        )

    def hexid() -> str:
        return f"{rng.getrandbits(256):064x}"

    add(hexid(), "", "validateBatch", "STEP", "Step", "SUCCEEDED", 0.2)
    map_id = hexid()
    iterations = (operations - 6) // 2
    add(map_id, "", "postEntries", "CONTEXT", "Map", "SUCCEEDED", 2400)
    for i in range(iterations):
        item = hexid()
        failed = i % 500 == 7
        status = "FAILED" if failed else "SUCCEEDED"
        retries = (
            [
                {
                    "attempt": a,
                    "at": start.isoformat(),
                    "error": {"ErrorType": "LedgerLocked"},
                    "next_attempt_delay_seconds": 0 if a == 3 else 2**a,
                }  # fmt: skip
                for a in (1, 2, 3)
            ]
            if failed
            else []
        )
        add(item, map_id, f"map-item-{i}", "CONTEXT", "MapIteration", status, 0.5)
        add(hexid(), item, f"post-{i + 1}", "STEP", "Step", status, 0.3, retries)
    callback_ctx = hexid()
    add(callback_ctx, "", "auditorSignOff", "CONTEXT", "WaitForCallback", "SUCCEEDED", 600)
    add(hexid(), callback_ctx, "auditorSignOff callback", "CALLBACK", "Callback", "SUCCEEDED", 600)
    add(hexid(), "", "sumEntries", "STEP", "Step", "SUCCEEDED", 0.4)
    add(hexid(), "", "closePeriod", "STEP", "Step", "SUCCEEDED", 0.3)
    Operation.objects.bulk_create(ops, batch_size=2000)
    HistoryEvent.objects.bulk_create(events, batch_size=2000)
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.status] = counts.get(op.status, 0) + 1
    Execution.objects.filter(pk=execution.pk).update(
        operation_count=len(ops), operation_counts=counts, last_event_id=len(events)
    )
    execution.refresh_from_db()
    return execution, map_id, ops


def timed(fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None):
    fn()  # warm-up: connection, template loading
    samples = []
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        response = fn()
        samples.append((time.perf_counter() - t0) * 1000)
        status = getattr(response, "status_code", 200)
        assert status in (200, 286), status
    return median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    # The test client's host; a separate cache prefix keeps the bench apart from `make run`.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    folder = use_throwaway_database()

    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from browser import listing

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    functions, now = generate_executions(args.executions, rng)
    big, map_id, ops = generate_big_execution(functions[0], args.operations, rng)
    generated_in = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM executions_execution")
        total = cursor.fetchone()[0]

    client = Client()
    client.force_login(User.objects.create_user("bench", password="bench-bench-1"))

    def get(url: str, **headers: str) -> Callable[[], object]:
        return lambda: client.get(url, **headers)

    def forget_renders() -> None:
        cache.delete_pattern("browser:*")

    # A cursor half-way down the unfiltered list.
    middle = listing.list_page(listing.ListFilter(), size=args.executions // 2).rows[-1]
    cursor = listing.Cursor.of(middle)
    window_from = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    window_to = (now - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    f = functions[3].pk
    list_cases = [
        ("list, first page", "/executions/"),
        ("list, page half-way down (keyset cursor)", f"/executions/?after={cursor}"),
        ("list, status=FAILED", "/executions/?status=FAILED"),
        (
            "list, status=FAILED+TIMED_OUT+STOPPED",
            "/executions/?status=FAILED&status=TIMED_OUT&status=STOPPED",
        ),  # fmt: skip
        ("list, one function", f"/executions/?function={f}"),
        ("list, one function + status=RUNNING", f"/executions/?function={f}&status=RUNNING"),
        ("list, name contains (rare: 'order-4242')", "/executions/?name=order-4242"),
        ("list, name contains (every row: 'order')", "/executions/?name=order"),
        ("list, started in a 1-day window", f"/executions/?from={window_from}&to={window_to}"),
        ("list, htmx partial (filter change)", "/executions/?status=RUNNING"),
    ]
    results: list[tuple[str, float, float | None]] = []
    for label, url in list_cases:
        headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}
        results.append((label, timed(get(url, **headers), args.repeat), None))
    t_counts = timed(lambda: listing.status_counts(listing.ListFilter()), args.repeat)
    results.append(("  of which: counts per status (GROUP BY, no filter)", t_counts, None))

    pk = big.pk
    leaf = next(op for op in ops if op.status == "FAILED" and op.type == "STEP")
    tab_cases = [
        ("detail, graph tab (default)", f"/executions/{pk}/"),
        ("operations tab", f"/executions/{pk}/operations/"),
        ("operations tab, failed only", f"/executions/{pk}/operations/?failed=1"),
        (
            "operations: expand the 5,000-item map (htmx, first 200)",
            f"/executions/{pk}/tree-rows?parent={map_id}",
        ),  # fmt: skip
        ("events tab (first page of 100)", f"/executions/{pk}/events/"),
        ("events tab, filtered by type", f"/executions/{pk}/events/?type=StepFailed"),
        ("timeline tab", f"/executions/{pk}/timeline/"),
        ("io tab", f"/executions/{pk}/io/"),
        ("graph tab (tree, DOT, graphviz layout, SVG)", f"/executions/{pk}/graph/"),
        ("graph.svg alone", f"/executions/{pk}/graph.svg"),
        ("header poll", f"/executions/{pk}/header?since=0"),
        ("operation panel (htmx)", f"/executions/{pk}/operations/{leaf.operation_id}"),
        ("export.json (10,000 operations, 20,000 events)", f"/executions/{pk}/export.json"),
    ]
    for label, url in tab_cases:
        headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}
        cold = timed(get(url, **headers), args.repeat, before=forget_renders)
        warm = timed(get(url, **headers), args.repeat)
        results.append((label, cold, warm))
    forget_renders()

    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"{total:,} executions + one of {len(ops):,} operations / {big.last_event_id:,} events; "
        f"generated in {generated_in:.0f} s; SQLite at {folder}; median of {args.repeat}\n"
    )
    print("| List page (100 ms aim) | Median (ms) |")
    print("| --- | ---: |")
    for label, value, warm in results:
        if warm is None:
            print(f"| {label} | {value:.1f} |")
    print("\n| Detail of the big execution (300 ms aim) | Cold (ms) | Warm (ms) |")
    print("| --- | ---: | ---: |")
    for label, cold, warm in results:
        if warm is not None:
            print(f"| {label} | {cold:.1f} | {warm:.1f} |")


if __name__ == "__main__":
    main()
