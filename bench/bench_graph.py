"""Graph benchmark (not a test): DOT building and graphviz layout, timed separately.

    .venv/bin/python -m bench.bench_graph [--repeat 5]

Trees of about 100, 1,000 and 10,000 operations: a few steps, a parallel of three
branches, and a map whose iterations each hold a step (one in 200 failed). With the
default collapse (25) and, for the smaller sizes, with collapse off.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from bench.common import machine, median
from visualizer.graph import build_dot
from visualizer.render import render_svg

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def op(id: str, type: str = "STEP", subtype: str = "Step", status: str = "SUCCEEDED", children=()):
    return {
        "id": id, "type": type, "subtype": subtype, "name": id, "status": status,
        "started_at": T0, "ended_at": T0 + timedelta(seconds=1), "attempt_count": 1,
        "children": list(children),
    }  # fmt: skip


def tree(total: int) -> list[dict]:
    iterations = max(1, (total - 12) // 2)
    branches = [
        op(f"branch{b}", "CONTEXT", "ParallelBranch", children=[op(f"task{b}")]) for b in range(3)
    ]
    items = []
    for i in range(iterations):
        status = "FAILED" if i % 200 == 7 else "SUCCEEDED"
        items.append(
            op(f"it{i}", "CONTEXT", "MapIteration", status, children=[op(f"s{i}", status=status)])
        )
    return [
        op("validate"),
        op("wait", "WAIT", "Wait"),
        op("fanout", "CONTEXT", "Parallel", children=branches),
        op("map", "CONTEXT", "Map", children=items),
        op("aggregate"),
    ]


def count(ops: list[dict]) -> int:
    return sum(1 + count(o["children"]) for o in ops)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return median(times), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print("| operations | collapse | DOT build (ms) | layout + SVG (ms) | total (ms) | SVG kB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for size, threshold in [(100, 25), (1000, 25), (10000, 25), (100, 10**9), (1000, 10**9)]:
        ops = tree(size)
        build_s, dot = timed(
            lambda ops=ops, t=threshold: build_dot(
                ops, execution_status="FAILED", collapse_threshold=t,
                node_url=lambda i: f"/executions/1/operations/{i}",
            ),
            args.repeat,
        )  # fmt: skip
        layout_s, svg = timed(lambda dot=dot: render_svg(dot, timeout=300), args.repeat)
        label = "on (25)" if threshold == 25 else "off"
        print(
            f"| {count(ops):,} | {label} | {build_s * 1000:.1f} | {layout_s * 1000:.0f} | "
            f"{(build_s + layout_s) * 1000:.0f} | {len(svg) / 1000:.0f} |"
        )


if __name__ == "__main__":
    main()
