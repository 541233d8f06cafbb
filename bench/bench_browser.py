"""Server time of the execution browser's pages on a large generated mirror (not a test).

    .venv/bin/python -m bench.bench_browser [--executions 100000] [--operations 10000] [--repeat 15]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Builds a throwaway database (bench/common.py: a SQLite file, or with --database-url or
DATABASE_URL a new PostgreSQL database beside the one named, dropped at the end) holding
--executions generated executions across 20 functions and 2 sources, plus one execution of
--operations generated operations (a map of ~5,000 iterations with one step each, some
failed and retried, and ~2 history events per operation). Then requests each page through
the Django test client (all middleware included, logged in) and reports the median server
time of --repeat requests.

`--executions 100000,1000000` measures the list at each size in one run (the mirror grows
from one to the next), so that how the list scales is a ratio of one run.

Detail tabs are measured twice: "cold" with the rendered-tree cache emptied before each
request (the first view after a new event), and "warm" (every later view).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import (
    drop_throwaway_database,
    git_revision,
    machine,
    timed,
    use_throwaway_database,
)
from bench.generate import generate_big_execution, generate_executions, make_functions


def list_cases(functions: list, now: datetime, size: int) -> list[tuple[str, str]]:
    """Every filter the list offers, with deep keyset pages and the htmx partial."""
    from browser import listing

    def cursor_at(fraction: float, **filters: object) -> str:
        # Walk to the page `fraction` of the way down by keyset (as a reader clicking
        # "Older" would arrive there), in one query of that many rows.
        rows = listing.list_page(listing.ListFilter(**filters), size=max(1, int(size * fraction)))
        return str(listing.Cursor.of(rows.rows[-1]))

    window_from = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    window_to = (now - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    f, source = functions[3].pk, functions[0].source_id
    rare, everywhere = f"order-{size // 2 + 4242}", "order"
    return [
        ("list, first page", "/executions/"),
        ("list, page half-way down (keyset cursor)", f"/executions/?after={cursor_at(0.5)}"),
        ("list, page 99 % of the way down", f"/executions/?after={cursor_at(0.99)}"),
        ("list, status=FAILED", "/executions/?status=FAILED"),
        (
            "list, status=FAILED+TIMED_OUT+STOPPED",
            "/executions/?status=FAILED&status=TIMED_OUT&status=STOPPED",
        ),
        (
            "list, status=FAILED, half-way down",
            f"/executions/?status=FAILED&after={cursor_at(0.04, statuses=['FAILED'])}",
        ),
        ("list, one source", f"/executions/?source={source}"),
        ("list, one function", f"/executions/?function={f}"),
        ("list, one function + status=RUNNING", f"/executions/?function={f}&status=RUNNING"),
        ("list, one source + status=FAILED", f"/executions/?source={source}&status=FAILED"),
        ("list, name contains (rare: one execution's name)", f"/executions/?name={rare}"),
        (f"list, name contains (every row: '{everywhere}')", f"/executions/?name={everywhere}"),
        (
            "list, name contains (every row) + status=FAILED",
            f"/executions/?name={everywhere}&status=FAILED",
        ),
        (
            "list, input contains (rare: an order id)",
            f"/executions/?input=ORD-{size // 3:07d}",
        ),
        ("list, input contains (every row: 'orderId')", "/executions/?input=orderId"),
        ("list, started in a 1-day window", f"/executions/?from={window_from}&to={window_to}"),
        (
            "list, 1-day window + one function + status=SUCCEEDED",
            f"/executions/?from={window_from}&to={window_to}&function={f}&status=SUCCEEDED",
        ),
        ("list, htmx partial (filter change)", "/executions/?status=RUNNING"),
        ("list, new-executions poll (none new)", "/executions/news?since=" + cursor_at(0.0)),
        ("overview (home page)", "/"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--executions",
        default="100000",
        help="how many executions; several sizes separated by commas measure the list at each",
    )
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server (any database on it)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database (to EXPLAIN queries)"
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in str(args.executions).split(","))
    # The test client's host; a separate cache prefix keeps the bench apart from `make run`.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    where = use_throwaway_database(args.database_url)
    try:
        run(args, sizes, where)
    finally:
        if not args.keep:
            drop_throwaway_database()


def run(args: argparse.Namespace, sizes: list[int], where: str) -> None:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from browser import listing

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    functions = make_functions()
    client = Client()
    client.force_login(User.objects.create_user("bench", password="bench-bench-1"))

    def get(url: str, **headers: str) -> Callable[[], object]:
        return lambda: client.get(url, **headers)

    def forget_renders() -> None:
        cache.delete_pattern("browser:*")

    def analyse() -> None:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    generated, made = 0, 0
    by_size: dict[int, dict[str, float]] = {}
    labels: list[str] = []
    for size in sizes:
        t0 = time.perf_counter()
        generate_executions(functions, made, size - made, now, rng)
        analyse()
        generated += time.perf_counter() - t0
        made = size
        timings: dict[str, float] = {}
        for label, url in list_cases(functions, now, size):
            headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}
            timings[label] = timed(get(url, **headers), args.repeat)
        timings["  of which: the status counts (no filter)"] = timed(
            lambda: listing.status_counts(listing.ListFilter()), args.repeat
        )
        by_size[size] = timings
        labels = list(timings)
        print(f"measured the list at {size:,} executions:", flush=True)
        for label, value in timings.items():
            print(f"    {label}: {value:.1f} ms", flush=True)

    t0 = time.perf_counter()
    big, map_id, ops = generate_big_execution(functions[0], args.operations, rng)
    analyse()
    generated += time.perf_counter() - t0
    pk = big.pk
    leaf = next(op for op in ops if op.status == "FAILED" and op.type == "STEP")
    tab_cases = [
        ("detail, graph tab (default)", f"/executions/{pk}/"),
        ("operations tab", f"/executions/{pk}/operations/"),
        ("operations tab, failed only", f"/executions/{pk}/operations/?failed=1"),
        (
            "operations: expand the 5,000-item map (htmx, first 200)",
            f"/executions/{pk}/tree-rows?parent={map_id}",
        ),
        ("events tab (first page of 100)", f"/executions/{pk}/events/"),
        ("events tab, filtered by type", f"/executions/{pk}/events/?type=StepFailed"),
        ("timeline tab", f"/executions/{pk}/timeline/"),
        ("io tab", f"/executions/{pk}/io/"),
        ("graph tab (tree, DOT, graphviz layout, SVG)", f"/executions/{pk}/graph/"),
        ("graph.svg alone", f"/executions/{pk}/graph.svg"),
        ("header poll", f"/executions/{pk}/header?since=0"),
        ("operation panel (htmx)", f"/executions/{pk}/operations/{leaf.operation_id}"),
    ]
    tabs: list[tuple[str, float, float]] = []
    for label, url in tab_cases:
        headers = {"HTTP_HX_REQUEST": "true"} if "htmx" in label else {}
        cold = timed(get(url, **headers), args.repeat, before=forget_renders)
        warm = timed(get(url, **headers), args.repeat)
        tabs.append((label, cold, warm))
    forget_renders()
    export_url = f"/executions/{pk}/export.json"
    first_byte = timed(lambda: next(iter(client.get(export_url).streaming_content)), args.repeat)
    whole = timed(lambda: b"".join(client.get(export_url).streaming_content), args.repeat)

    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"{sizes[-1]:,} executions + one of {len(ops):,} operations / "
        f"{big.last_event_id:,} events; generated in {generated:.0f} s; {where}; "
        f"median of {args.repeat}\n"
    )
    print("| List page (ms) | " + " | ".join(f"{s:,}" for s in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for label in labels:
        print(f"| {label} | " + " | ".join(f"{by_size[s][label]:.1f}" for s in sizes) + " |")
    print("\n| Detail of the big execution | Cold (ms) | Warm (ms) |")
    print("| --- | ---: | ---: |")
    for label, cold, warm in tabs:
        print(f"| {label} | {cold:.1f} | {warm:.1f} |")
    print(f"| export.json (a stream): first bytes | {first_byte:.1f} | |")
    print(f"| export.json: all of it (10,000 operations, 20,000 events) | {whole:.1f} | |")


if __name__ == "__main__":
    main()
