"""Graph benchmark (not a test): DOT building and graphviz layout, timed separately.

    .venv/bin/python -m bench.bench_graph [--repeat 5] [--huge]

Generated trees:
- mixed: a few steps, a wait, a parallel of three branches, and a map whose iterations
  each hold a step (one in 200 failed), for about 100, 1,000 and 10,000 operations;
  with the default collapse, and with every collapse off (thresholds and node budget
  out of reach) to show what collapse saves;
- sequence: 10,000 steps one after another (a loop of steps), default collapse;
- running map: a map of 5,000 iterations that are all still running (a fan-out with
  no concurrency limit), default collapse: the attention limit at work;
- the 10,000-operation mixed tree with its map expanded (as after a click on its
  summary node): the expanded limit at work.
`--huge` adds the 10,000-operation mixed tree with collapse off (one repetition: it
takes a while).

DOT building is `build_dot()` (tree -> model -> DOT text); layout is `render_svg()`
(graphviz `dot -Tsvg`, process start included). Medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import machine, median
from visualizer.graph import build_dot
from visualizer.render import render_svg

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OFF = {"collapse_threshold": 10**9, "sequence_threshold": 10**9, "node_budget": 10**9}


def op(
    id: str,
    type: str = "STEP",
    subtype: str = "Step",
    status: str = "SUCCEEDED",
    children: list[dict[str, Any]] | tuple[()] = (),
) -> dict[str, Any]:
    return {
        "id": id,
        "type": type,
        "subtype": subtype,
        "name": id,
        "status": status,
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=1),
        "attempt_count": 1,
        "children": list(children),
    }


def mixed(total: int) -> list[dict[str, Any]]:
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


def sequence(total: int) -> list[dict[str, Any]]:
    return [op(f"s{i}") for i in range(total)]


def running_map(iterations: int) -> list[dict[str, Any]]:
    items = [
        op(f"it{i}", "CONTEXT", "MapIteration", "STARTED", [op(f"s{i}", status="STARTED")])
        for i in range(iterations)
    ]
    return [op("map", "CONTEXT", "Map", "STARTED", items)]


def count(ops: list[dict[str, Any]]) -> int:
    return sum(1 + count(o["children"]) for o in ops)


def describe(options: dict[str, Any]) -> str:
    if options is OFF:
        return "off"
    if options.get("expanded"):
        return "default, expanded"
    return "default"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return median(times), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--huge", action="store_true", help="also 10,000 operations, no collapse")
    args = parser.parse_args()
    cases: list[tuple[str, list[dict[str, Any]], dict[str, Any], int]] = [
        ("mixed", mixed(100), {}, args.repeat),
        ("mixed", mixed(1000), {}, args.repeat),
        ("mixed", mixed(10000), {}, args.repeat),
        ("sequence", sequence(10000), {}, args.repeat),
        ("running map", running_map(5000), {}, args.repeat),
        ("mixed, map expanded", mixed(10000), {"expanded": {"map"}}, args.repeat),
        ("mixed", mixed(100), OFF, args.repeat),
        ("mixed", mixed(1000), OFF, args.repeat),
    ]
    if args.huge:
        cases.append(("mixed", mixed(10000), OFF, 1))
    print(f"machine: {machine()}")
    print(
        "| tree | operations | collapse | DOT build (ms) | layout + SVG (ms) | total (ms)"
        " | nodes drawn | SVG kB |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, ops, options, repeat in cases:
        build_s, dot = timed(
            lambda ops=ops, options=options: build_dot(
                ops,
                execution_status="RUNNING",
                node_url=lambda i: f"/executions/1/operations/{i}",
                expand_url=lambda i: f"/executions/1/graph/?expand={i}",
                **options,
            ),
            repeat,
        )
        layout_s, svg = timed(lambda dot=dot: render_svg(dot, timeout=600), repeat)
        drawn = dot.count(", class=")  # one per node statement
        print(
            f"| {name} | {count(ops):,} | {describe(options)} | "
            f"{build_s * 1000:.1f} | {layout_s * 1000:,.0f} | {(build_s + layout_s) * 1000:,.0f} | "
            f"{drawn:,} | {len(svg) / 1000:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
