"""The needs-attention page and the overview's card on a large generated mirror, with the
query plan of every query each condition runs (not a test).

    .venv/bin/python -m bench.bench_attention [--executions 100000] [--repeat 5]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--no-plans]
        [--keep] [--reuse postgres://postgres@127.0.0.1:5432/durable_console_bench_<pid>]

--keep keeps the generated PostgreSQL database; --reuse measures a kept one again without
generating (at 1,000,000 executions generating takes 10-15 minutes).

The mirror is bench/generate.py's (20 functions over 2 sources, 30 days, the usual mix:
5% running), each function with a DurableConfig, plus what the conditions look for:
operations on every 10th execution (a step retried 2-4 times on most, 6-20 on every 50th
running one), running executions waiting to retry (a storm on one function), a few
near the operations limit, PAUSING ones with the pause in the audit log, stops not taken,
and running maps with 1,200 items. Each condition's queries are captured and run again
under EXPLAIN (ANALYZE) on PostgreSQL: every one must read through an index.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench.common import (
    drop_throwaway_database,
    git_revision,
    machine,
    timed,
    use_throwaway_database,
)
from bench.generate import generate_executions, make_functions


def add_trouble(rng: random.Random, now: datetime) -> dict[str, int]:
    from executions.models import AuditEntry, AuditOutcome, Execution, Function, Operation

    Function.objects.update(durable_config={"ExecutionTimeout": 86400 * 30})
    ids = list(Execution.objects.order_by("id").values_list("id", "status", "started_at"))
    ops = []
    for n, (pk, status, started) in enumerate(ids[::10]):
        running = status == "RUNNING"
        attempts = rng.randint(6, 20) if running and n % 50 == 0 else rng.choice([1, 1, 2, 3, 4])
        for i in range(5):
            ops.append(
                Operation(
                    execution_id=pk,
                    operation_id=f"op-{i}",
                    name=f"step-{i}",
                    type="STEP",
                    subtype="Step",
                    status="PENDING" if running and i == 4 and attempts > 1 else "SUCCEEDED",
                    attempt_count=attempts if i == 4 else 1,
                    started_at=started,
                    first_event_id=i + 1,
                )
            )
    running = [pk for pk, status, _ in ids if status == "RUNNING"]
    maps = running[1:6]
    for pk in maps:
        ops.append(
            Operation(
                execution_id=pk,
                operation_id="map",
                name="items",
                type="CONTEXT",
                subtype="Map",
                status="STARTED",
                started_at=now - timedelta(hours=1),
                first_event_id=10,
            )
        )
        ops.extend(
            Operation(
                execution_id=pk,
                operation_id=f"it-{i}",
                parent_operation_id="map",
                type="CONTEXT",
                subtype="MapIteration",
                status="STARTED",
                started_at=now - timedelta(seconds=i),
                first_event_id=11 + i,
            )
            for i in range(1200)
        )
    Operation.objects.bulk_create(ops, batch_size=5000)
    # A retry storm on one function; executions near the operations limit; stuck pauses
    # and stops not taken, in the audit log.
    first_function = Function.objects.order_by("id").first()
    Execution.objects.filter(pk__in=running[::7]).update(waiting_for="retry")
    Execution.objects.filter(function=first_function, status="RUNNING").update(waiting_for="retry")
    Execution.objects.filter(pk__in=running[10:30]).update(operation_count=2900)
    pausing = running[40:50]
    Execution.objects.filter(pk__in=pausing).update(status="PAUSING")
    stopped = running[60:80]
    arns = dict(Execution.objects.filter(pk__in=pausing + stopped).values_list("pk", "arn"))
    at = now - timedelta(minutes=30)
    AuditEntry.objects.bulk_create(
        AuditEntry(
            username="bench",
            action="pause" if pk in pausing else "stop",
            execution_arn=arns[pk],
            outcome=AuditOutcome.SUCCEEDED,
            created_at=at,
            completed_at=at,
        )
        for pk in pausing + stopped
    )
    return {"operations": len(ops), "maps": len(maps)}


def plans() -> None:
    """Each condition's queries (count and the page's first rows), under EXPLAIN ANALYZE."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from executions import attention

    now = timezone.now()
    for condition in attention.CONDITIONS:
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            total, _ = condition.look(None, now, 10)
            ms = (time.perf_counter() - t0) * 1000
        print(f"\n### {condition.name}: {total:,} found, {len(captured)} queries, {ms:.1f} ms\n")
        for query in captured:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) " + sql)
                lines = [row[0] for row in cursor.fetchall()]
            print("```")
            print(sql[:600] + (" …" if len(sql) > 600 else ""))
            print("\n".join(lines))
            print("```")


def guardrails(client, repeat: int) -> None:
    """Guardrails over the same mirror: one pass of a rule (what beat runs every
    GUARDRAIL_SECONDS), the first (which records every finding) and a steady one (nothing
    new: the condition's queries and one look per finding), and a rule's page (what it
    would do now, what it would have done over the last days, its history)."""
    from django.utils import timezone

    from executions.models import Function
    from guardrails import engine
    from guardrails.models import Guardrail, Mode

    print("\n| Guardrail (dry run, every function) | ms |\n| --- | ---: |")
    cases = [
        ("retrying, 5 attempts or more", "retrying", None),
        ("running longer than 1 day", "duration", 86400),
        ("1,000 operations or more", "operations", 1000),
    ]
    assert Function.objects.exists()
    Guardrail.objects.filter(name__startswith="bench ").delete()  # a reused database's
    for label, condition, threshold in cases:
        rule = Guardrail.objects.create(
            name=f"bench {condition}", condition=condition, threshold=threshold,
            action="stop", mode=Mode.DRY_RUN,
        )  # fmt: skip
        t0 = time.perf_counter()
        counts = engine.run_rule(rule, timezone.now())
        first = (time.perf_counter() - t0) * 1000
        steady = timed(lambda r=rule: engine.run_rule(r, timezone.now()), repeat)
        page = timed(lambda r=rule: client.get(f"/guardrails/{r.pk}/"), repeat)
        found = sum(counts.values())
        print(f"| {label}: first pass ({found:,} recorded) | {first:.1f} |")
        print(f"| {label}: a steady pass | {steady:.1f} |")
        print(f"| {label}: the rule's page | {page:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database (PostgreSQL)")
    parser.add_argument("--reuse", default="", help="a database --keep kept: measure it again")
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    if args.reuse:
        os.environ["DATABASE_URL"] = args.reuse
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        import django

        django.setup()
        run(args, f"the kept database {args.reuse.rsplit('/', 1)[-1]}")
        return
    where = use_throwaway_database(args.database_url)
    try:
        run(args, where)
    finally:
        if args.keep:
            print(f"kept: DATABASE_URL={os.environ['DATABASE_URL']}")
        else:
            drop_throwaway_database()


def run(args: argparse.Namespace, where: str) -> None:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from executions.models import Execution, Operation

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    if args.reuse:
        added = {
            "operations": Operation.objects.count(),
            "maps": Operation.objects.filter(subtype="Map").count(),
        }
        args.executions = Execution.objects.count()
    else:
        functions = make_functions()
        generate_executions(functions, 0, args.executions, now, rng)
        added = add_trouble(rng, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    generated = time.perf_counter() - t0

    client = Client()
    user = User.objects.filter(username="bench").first()
    client.force_login(user or User.objects.create_superuser("bench"))

    def cold():
        cache.delete_pattern("*attention:p95:*")

    rows = [
        ("the list's first page, for scale (its aim: under 100 ms)", "/executions/", None),
        ("needs attention, p95 cold", "/attention/", cold),
        ("needs attention, p95 cached", "/attention/", None),
        ("needs attention, one reason (?reason=slow)", "/attention/?reason=slow", None),
        ("overview (with the card)", "/", None),
    ]
    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"{args.executions:,} executions, {added['operations']:,} operations "
        f"({added['maps']} maps of 1,200 items); generated in {generated:.0f} s; {where}; "
        f"median of {args.repeat}\n"
    )
    print("| Page | ms |\n| --- | ---: |")
    for label, url, before in rows:
        ms = timed(lambda u=url: client.get(u), args.repeat, before)
        print(f"| {label} | {ms:.1f} |", flush=True)
    guardrails(client, args.repeat)
    if connection.vendor == "postgresql" and not args.no_plans:
        cache.delete_pattern("*attention:p95:*")
        plans()


if __name__ == "__main__":
    main()
