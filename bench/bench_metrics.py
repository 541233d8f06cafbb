"""A /metrics scrape on a large generated mirror, with the query plan of every query a
scrape runs (not a test).

    .venv/bin/python -m bench.bench_metrics [--executions 1000000] [--repeat 5]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--no-plans]

The mirror is bench/generate.py's (20 functions over 2 sources, 30 days, 5% running),
with a pending callback (an operation, and its CallbackStarted event with a timeout) on
every third running execution, and a day of notifications (one a minute per channel,
one in ten failed). Every query of a scrape is run again under EXPLAIN (ANALYZE) on
PostgreSQL.
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


def add_callbacks_and_notifications(now: datetime) -> dict[str, int]:
    from executions.models import Execution, HistoryEvent, Operation
    from notify.models import Delivery

    waiting = list(
        Execution.objects.filter(status="RUNNING", pending_callbacks=1).values_list(
            "pk", "started_at"
        )
    )
    ops, events = [], []
    for pk, started in waiting:
        ops.append(
            Operation(
                execution_id=pk, operation_id="cb-1", name="approve", type="CALLBACK",
                subtype="WaitForCallback", status="STARTED", started_at=started,
                callback_id=f"cb-{pk}", first_event_id=1, last_event_id=1,
            )
        )  # fmt: skip
        events.append(
            HistoryEvent(
                execution_id=pk, event_id=1, event_type="CallbackStarted", operation_id="cb-1",
                timestamp=started, details={"Timeout": 86400 * 40},
            )
        )  # fmt: skip
    # As the scheduler leaves them: every running execution checked, its next check due
    # within the next minute.
    Execution.objects.filter(history_complete=False).update(
        next_check_at=now + timedelta(seconds=30), last_synced_at=now
    )
    Operation.objects.bulk_create(ops, batch_size=5000)
    HistoryEvent.objects.bulk_create(events, batch_size=5000)
    deliveries = [
        Delivery(
            channel=channel, event="callback", subject_key=f"bench:{channel}:{minute}",
            status="failed" if minute % 10 == 0 else "delivered",
            created_at=now - timedelta(minutes=minute),
        )
        for minute in range(24 * 60)
        for channel in ("email", "webhook")
    ]  # fmt: skip
    Delivery.objects.bulk_create(deliveries, batch_size=5000)
    return {"callbacks": len(ops), "deliveries": len(deliveries)}


def plans() -> None:
    """Every SELECT of one scrape, under EXPLAIN ANALYZE."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from monitoring import metrics

    with CaptureQueriesContext(connection) as captured:
        metrics.exposition()
    print(f"\n### One scrape: {len(captured)} queries\n")
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database (PostgreSQL)")
    parser.add_argument(
        "--existing", action="store_true", help="scrape the kept database at DATABASE_URL as is"
    )
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    if args.existing:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
        import django

        django.setup()
        measure(args, f"the kept database {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}")
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
    from django.db import connection

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    functions = make_functions()
    t0 = time.perf_counter()
    generate_executions(functions, 0, args.executions, now, rng)
    add_callbacks_and_notifications(now)
    if connection.vendor == "postgresql":
        # What autovacuum does in a while: statistics, and the visibility map that lets
        # counts read an index alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(f"generated in {time.perf_counter() - t0:.0f} s")
    measure(args, where)


def measure(args: argparse.Namespace, where: str) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from executions.models import Execution, Operation
    from notify.models import Delivery

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench")
    client = Client()
    client.force_login(user)
    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"{Execution.objects.count():,} executions "
        f"({Execution.objects.filter(history_complete=False).count():,} running), "
        f"{Operation.objects.pending_callbacks().count():,} pending callbacks, "
        f"{Delivery.objects.count():,} notifications; {where}; median of {args.repeat}\n"
    )
    ms = timed(lambda: client.get("/metrics"), args.repeat)
    print("| Request | ms |\n| --- | ---: |")
    print(f"| GET /metrics (every figure) | {ms:.1f} |", flush=True)
    if connection.vendor == "postgresql" and not args.no_plans:
        plans()


if __name__ == "__main__":
    main()
