"""The list, its counts, the approvals inbox and the API's lists with permissions per team
(access/scope.py) on a large generated mirror, against the same pages for someone who sees
everything, in one run (not a test).

    .venv/bin/python -m bench.bench_scope [--executions 1000000] [--repeat 9]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

The mirror is bench/generate.py's (20 functions over 2 sources, 30 days, the usual mix),
plus a pending callback in every 25th running execution (the inbox). Three people: one
who sees everything, a team operator on 3 of the 20 functions (`service-0[012]`), and one
on a single function. Each page is requested through the Django test client (every
middleware, signed in) and timed as the median of --repeat requests.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime

from bench.common import (
    drop_throwaway_database,
    git_revision,
    machine,
    timed,
    use_throwaway_database,
)
from bench.generate import generate_executions, make_functions

PEOPLE = [
    ("sees everything", None),
    ("operator on 3 of 20 functions", "service-0[012]"),
    ("operator on 1 function", "service-07"),
]


def add_pending_callbacks(every: int = 25) -> int:
    """A waiting callback in every `every`th running execution, for the inbox."""
    from executions.models import Execution, Operation

    running = list(
        Execution.objects.filter(status="RUNNING").order_by("id").values_list("id", "started_at")
    )
    rows = [
        Operation(
            execution_id=pk,
            operation_id=f"cb-{pk}",
            name="approve create callback id",
            type="CALLBACK",
            subtype="Callback",
            status="STARTED",
            started_at=started,
            callback_id=f"callback-{pk}",
            first_event_id=1,
            last_event_id=1,
        )
        for pk, started in running[::every]
    ]
    Operation.objects.bulk_create(rows, batch_size=5000)
    Execution.objects.filter(pk__in=[pk for pk, _ in running[::every]]).update(pending_callbacks=1)
    return len(rows)


# The API's rows: the person's token instead of their session (API_RATE_PER_MINUTE is
# raised for the run, so the rate limit does not answer instead).
API = {"token": True}


def _headers(headers: dict, token: str) -> dict:
    if headers.get("token"):
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return headers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["API_RATE_PER_MINUTE"] = "1000000"
    where = use_throwaway_database(args.database_url)
    try:
        run(args, where)
    finally:
        drop_throwaway_database()


def run(args: argparse.Namespace, where: str) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from access import api_tokens
    from access.models import RoleGrant
    from browser.listing import Cursor
    from executions.models import Execution

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    functions = make_functions()
    t0 = time.perf_counter()
    generate_executions(functions, 0, args.executions, now, rng)
    callbacks = add_pending_callbacks()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    generated = time.perf_counter() - t0

    clients: list[tuple[str, Client]] = []
    tokens: list[str] = []
    operator = Group.objects.get_or_create(name="operator")[0]
    for n, (label, pattern) in enumerate(PEOPLE):
        user = User.objects.create_user(f"person-{n}")
        if pattern is None:
            user.groups.add(operator)
        else:
            RoleGrant.objects.create(
                user=user, role="operator", function_pattern=pattern, source="manual"
            )
        client = Client()
        client.force_login(user)
        clients.append((label, client))
        tokens.append(api_tokens.issue(user, "bench", "act").secret)

    # A position 10,000 rows down the list, for a page deep in it.
    deep = Execution.objects.order_by("-started_at", "-id")[10_000]
    cursor = str(Cursor.of(deep))

    pages = [
        ("list, first page", "/executions/", {}),
        ("list, status=FAILED", "/executions/?status=FAILED", {}),
        ("list, status=RUNNING+PAUSED", "/executions/?status=RUNNING&status=PAUSED", {}),
        ("list, name contains 'order'", "/executions/?name=order", {}),
        ("list, htmx partial", "/executions/?status=SUCCEEDED", {"HTTP_HX_REQUEST": "true"}),
        ("list, new-executions poll", "/executions/news?since=0.0", {}),
        ("approvals inbox", "/approvals/", {}),
        ("approvals count (navigation badge)", "/approvals/count", {}),
        ("overview (home page)", "/", {}),
        ("API: executions, first page", "/api/v1/executions", API),
        ("API: executions, status=FAILED", "/api/v1/executions?status=FAILED", API),
        ("API: executions, 10,000 rows deep", f"/api/v1/executions?cursor={cursor}", API),
        ("API: callbacks waiting", "/api/v1/callbacks", API),
        ("API: callbacks I may answer", "/api/v1/callbacks?mine=true", API),
    ]
    results: dict[str, list[float]] = {}
    for label, url, headers in pages:
        results[label] = []
        for (_, client), token in zip(clients, tokens, strict=True):
            sent = _headers(headers, token)
            results[label].append(timed(lambda c=client, u=url, h=sent: c.get(u, **h), args.repeat))
        print(f"{label}: " + ", ".join(f"{ms:.1f} ms" for ms in results[label]), flush=True)

    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"{args.executions:,} executions, {callbacks:,} waiting callbacks; generated in "
        f"{generated:.0f} s; {where}; median of {args.repeat}\n"
    )
    print("| Page (ms) | " + " | ".join(label for label, _ in PEOPLE) + " |")
    print("| --- |" + " ---: |" * len(PEOPLE))
    for label, values in results.items():
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
