"""Replay and comparison at 10,000 operations (not a test).

    .venv/bin/python -m bench.bench_replay [--operations 10000] [--repeat 15]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Builds a throwaway database (bench/common.py) holding two executions of --operations
generated operations each (bench/generate.py generate_big_execution: a map of ~5,000
iterations, ~2 history events per operation). The second differs from the first in a few
places: some steps failed, some results changed, one step missing. Then requests, through
the Django test client (all middleware, logged in), each tab now and at past moments
(`?at=`), and the comparison of the two, "cold" (the rendered-fragment cache emptied
before each request: the first view of a moment) and "warm"; and times the parts of a
replay (reading the events, the fold, linking the tree) and of a comparison by themselves.
Medians of --repeat. The ratios replay / now are within this one run.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

from bench.common import (
    drop_throwaway_database,
    git_revision,
    machine,
    median,
    timed,
    use_throwaway_database,
)
from bench.generate import generate_big_execution, make_functions


def interleaved(
    fns: list[Callable[[], object]], repeat: int, before: Callable[[], None]
) -> list[float]:
    """Median ms of each of `fns`, called in turn `repeat` times (`before` each call)."""
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for index, fn in enumerate(fns):
            before()
            t0 = time.perf_counter()
            response = fn()
            samples[index].append((time.perf_counter() - t0) * 1000)
            assert getattr(response, "status_code", 200) == 200
    return [median(values) for values in samples]


def _differ(execution, rng: random.Random) -> int:
    """Make `execution` differ from its twin in a few places; return how many."""
    from executions.models import Operation

    steps = list(
        Operation.objects.filter(execution=execution, type="STEP", status="SUCCEEDED").order_by(
            "position"
        )
    )
    picked = rng.sample(steps, 30)
    for op in picked[:10]:
        op.status = "FAILED"
        op.error = {"ErrorType": "LedgerLocked", "ErrorMessage": "row locked"}
    for op in picked[10:29]:
        op.result_payload = '{"t":"m","v":{"ok":{"t":"b","v":false},"why":{"t":"s","v":"x"}}}'
    Operation.objects.bulk_update(picked[:29], ["status", "error", "result_payload"])
    picked[29].delete()
    return 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server (any database on it)"
    )
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    where = use_throwaway_database(args.database_url)
    try:
        run(args, where)
    finally:
        drop_throwaway_database()


def run(args: argparse.Namespace, where: str) -> None:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client, RequestFactory

    from browser import compare, replay

    rng = random.Random(args.seed)
    functions = make_functions()
    t0 = time.perf_counter()
    big, map_id, ops = generate_big_execution(functions[0], args.operations, rng)
    twin, _, _ = generate_big_execution(functions[0], args.operations, rng)
    changed = _differ(twin, rng)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    generated = time.perf_counter() - t0
    client = Client()
    client.force_login(User.objects.create_user("bench", password="bench-bench-1"))

    def get(url: str, **headers: str) -> Callable[[], object]:
        return lambda: client.get(url, **headers)

    def forget_renders() -> None:
        cache.delete_pattern("browser:*")

    pk, last = big.pk, big.last_event_id
    middle, early = last // 2, 40
    base = f"/executions/{pk}"
    pages = [
        ("graph tab", f"{base}/graph/"),
        ("operations tab", f"{base}/operations/"),
        ("timeline tab", f"{base}/timeline/"),
    ]
    rows: list[tuple[str, float, float, float | None]] = []
    moments = (("half-way", middle), ("last event", last), ("40th event", early))
    for label, url in pages:
        # Cold requests of the tab now and at each moment take turns, so that a burst of
        # load on the shared machine weighs on all of them alike (ratios within a run).
        urls = [url] + [f"{url}?at={at}" for _, at in moments]
        cold = interleaved([get(u) for u in urls], args.repeat, forget_renders)
        warm = [timed(get(u), args.repeat) for u in urls]
        rows.append((f"{label}, now", cold[0], warm[0], None))
        for index, (name, at) in enumerate(moments, start=1):
            rows.append(
                (
                    f"{label} at the {name} (?at={at})",
                    cold[index],
                    warm[index],
                    cold[index] / cold[0],
                )
            )
    expand = f"{base}/tree-rows?parent={map_id}&at={middle}"
    rows.append(
        (
            "operations: expand the map at half-way (htmx)",
            timed(get(expand, HTTP_HX_REQUEST="true"), args.repeat, before=forget_renders),
            timed(get(expand, HTTP_HX_REQUEST="true"), args.repeat),
            None,
        )
    )
    compare_url = f"/executions/compare?a={pk}&b={twin.pk}"
    rows.append(
        (
            f"compare two runs ({changed} differences)",
            timed(get(compare_url), args.repeat, before=forget_renders),
            timed(get(compare_url), args.repeat),
            None,
        )
    )

    request = RequestFactory().get("/", {"at": last})
    moment = replay.moment_from_request(request, big)
    parts = [
        ("read the events (stored_events)", lambda: replay.stored_events(big, last)),
        ("read + fold (replay.replay)", lambda: replay.replay(big, moment)),
        (
            "read + fold + link (replay.operation_tree)",
            lambda: replay.operation_tree(replay.replay(big, moment)),
        ),
        ("compare() alone (load both trees, match, diff)", lambda: compare.compare(big, twin)),
    ]
    part_rows = [(label, timed(fn, args.repeat)) for label, fn in parts]

    print(f"\n{machine()} · git {git_revision()}")
    print(
        f"two executions of {len(ops):,} operations / {last:,} events each; generated in "
        f"{generated:.0f} s; {where}; median of {args.repeat}\n"
    )
    print("| Page | Cold (ms) | Warm (ms) | Cold, replay / now |")
    print("| --- | ---: | ---: | ---: |")
    for label, cold, warm, ratio in rows:
        shown = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"| {label} | {cold:.1f} | {warm:.1f} | {shown} |")
    print("\n| Part | ms |")
    print("| --- | ---: |")
    for label, value in part_rows:
        print(f"| {label} | {value:.1f} |")


if __name__ == "__main__":
    main()
