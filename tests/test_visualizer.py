"""The graph of an execution: structure asserted on the graph model and its DOT, for
trees built from histories recorded from the sandbox and for hand-built edge cases."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest

from executions.tree import build_tree, nested
from visualizer.graph import Cluster, Node, build_dot, build_graph, q, to_dot
from visualizer.render import RenderError, render_svg

HISTORIES = Path(__file__).parent / "fixtures" / "histories"


def recorded(name: str) -> tuple[list[dict], str]:
    data = json.loads((HISTORIES / f"{name}.json").read_text())
    for event in data["events"]:
        for key in ("EventTimestamp",):
            if isinstance(event.get(key), str):
                event[key] = datetime.fromisoformat(event[key])
    return nested(build_tree(data["events"])), data["execution"]["Status"]


def cluster_named(graph, name: str) -> Cluster:
    return next(c for c in graph.clusters.values() if c.label == name)


def labels(cluster: Cluster) -> list[str]:
    return [
        i.label[0] if isinstance(i, Node) else i.label
        for i in cluster.items
        if not (isinstance(i, Node) and i.kind == "join")
    ]


def successors(graph, node_id: str) -> set[str]:
    return {t for s, t in graph.edges if s == node_id}


def op(
    id: str,
    type: str = "STEP",
    subtype: str | None = "Step",
    status: str = "SUCCEEDED",
    children=(),
    **extra,
):
    return {
        "id": id,
        "type": type,
        "subtype": subtype,
        "name": extra.pop("name", id),
        "status": status,
        "children": list(children),
        **extra,
    }


@pytest.mark.parametrize("name", sorted(p.stem for p in HISTORIES.glob("*.json")))
def test_every_recorded_sample_renders_to_svg(name):
    operations, status = recorded(name)
    svg = render_svg(build_dot(operations, execution_status=status, node_url=lambda i: f"/ops/{i}"))
    assert svg.startswith("<svg") and 'id="start"' in svg and 'id="end"' in svg


def test_the_durable_function_example_draws_each_construct_as_its_cluster():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    parallel = cluster_named(graph, "parallelOperations")
    branches = [i for i in parallel.items if isinstance(i, Cluster)]
    assert [b.kind for b in branches] == ["ParallelBranch"] * 3
    assert [labels(b) for b in branches] == [
        ["validation-task"],
        ["enrichment-task"],
        ["notification-task"],
    ]
    # Branches stand side by side: the fork leads into every one, every one into the join.
    fork = next(i for i in parallel.items if isinstance(i, Node) and i.id.startswith("fork-"))
    assert len(successors(graph, fork.id)) == 3
    mapped = cluster_named(graph, "mapWorkItems")
    assert [c.kind for c in mapped.items if isinstance(c, Cluster)] == ["MapIteration"] * 5
    callback = cluster_named(graph, "waitForExternalApproval")
    assert callback.kind == "WaitForCallback"
    assert labels(callback) == ["waitForExternalApproval", "waitForExternalApproval submitter"]
    child = cluster_named(graph, "isolatedContext")
    assert child.kind == "RunInChildContext" and labels(child) == ["loadMetadata", "validateConfig"]
    nodes = {n.label[0]: n for n in graph.nodes.values() if n.label}
    assert nodes["waitForSystemReady"].label[1] == "condition · 3 attempts"
    assert nodes["invokeHelloWorld"].label[1] == "invoke hello-world"
    assert nodes["simpleWait"].label[1] == "wait 5 s"
    assert nodes["process-work-item-2"].state == "failed"
    assert "6 attempts" in nodes["process-work-item-2"].label[1]


def test_the_flow_runs_from_start_through_operations_in_order_to_end():
    operations, status = recorded("order-processor-succeeded")
    graph = build_graph(operations, execution_status=status)
    order, node = [], "start"
    while node != "end":
        (node,) = successors(graph, node)
        order.append(graph.nodes[node].label[0])
    assert order == [
        "validate-order",
        "enrich-order",
        "wait-before-finalize",
        "finalize-order",
        "End",
    ]
    assert graph.nodes["end"].state == "succeeded"


def test_a_retried_step_shows_its_attempts_and_a_failed_execution_ends_red():
    operations, status = recorded("fraud-low-retried")
    graph = build_graph(operations, execution_status=status)
    scoring = next(n for n in graph.nodes.values() if n.label[0] == "scoreRisk")
    assert scoring.label[1] == "step · 2 attempts" and "2 attempts" in scoring.tooltip
    operations, status = recorded("fraud-high-failed")
    graph = build_graph(operations, execution_status=status)
    assert graph.nodes["end"].state == "failed" and "failed" in graph.nodes["end"].label[0]


def test_a_waiting_execution_shows_its_pending_callback_as_waiting_and_end_not_reached():
    operations, status = recorded("durable-function-example-waiting")
    graph = build_graph(operations, execution_status=status)
    callback = next(n for n in graph.nodes.values() if n.label[1:] == ["callback"])
    assert callback.state == "waiting"
    assert graph.nodes["end"].state == "not_started" and "running" in graph.nodes["end"].label[0]


def test_arbitrary_nesting_draws_a_map_inside_a_branch_inside_a_child_context():
    inner_map = op("m", "CONTEXT", "Map", children=[
        op(f"it{i}", "CONTEXT", "MapIteration", children=[op(f"s{i}")]) for i in range(2)
    ])  # fmt: skip
    tree = [
        op("c", "CONTEXT", "RunInChildContext", children=[
            op("p", "CONTEXT", "Parallel", children=[
                op("b0", "CONTEXT", "ParallelBranch", children=[inner_map]),
                op("b1", "CONTEXT", "ParallelBranch", children=[op("lonely")]),
            ]),
        ]),
    ]  # fmt: skip
    graph = build_graph(tree, execution_status="SUCCEEDED")
    child = graph.clusters["cluster-op-c"]
    parallel = child.items[0]
    assert isinstance(parallel, Cluster) and parallel.kind == "Parallel"
    branch = graph.clusters["cluster-op-b0"]
    assert branch.items[0].id == "cluster-op-m"
    assert {i.id for i in graph.clusters["cluster-op-it1"].items} == {"op-s1"}
    # The map's join flows out of its branch into the parallel's join, then to End.
    assert successors(graph, "join-m") == {"join-p"}
    assert successors(graph, "join-p") == {"end"}
    render_svg(to_dot(graph))


def test_an_empty_parallel_and_an_empty_context_still_connect():
    graph = build_graph(
        [op("p", "CONTEXT", "Parallel"), op("c", "CONTEXT", "RunInChildContext")],
        execution_status="RUNNING",
    )
    assert successors(graph, "fork-p") == {"empty-p"} and successors(graph, "empty-p") == {"join-p"}
    assert successors(graph, "join-p") == {"empty-c"}
    render_svg(to_dot(graph))


def big_map(n: int, failed=(), running=()) -> list[dict]:
    iterations = []
    for i in range(n):
        status = "FAILED" if i in failed else "STARTED" if i in running else "SUCCEEDED"
        iterations.append(
            op(
                f"it{i}",
                "CONTEXT",
                "MapIteration",
                status=status,
                children=[op(f"s{i}", status=status)],
            )
        )
    return [op("m", "CONTEXT", "Map", status="STARTED", children=iterations)]


def test_a_big_map_collapses_to_a_preview_a_summary_and_everything_that_did_not_succeed():
    graph = build_graph(big_map(30, failed={10, 20}, running={29}), execution_status="RUNNING",
                        expand_url=lambda i: f"?expand={i}")  # fmt: skip
    mapped = graph.clusters["cluster-op-m"]
    shown = [c.op_id for c in mapped.items if isinstance(c, Cluster)]
    assert shown == ["it0", "it1", "it2", "it10", "it20", "it29"]
    summary = graph.nodes["more-m"]
    assert summary.label == ["24 more", "24 succeeded"]
    assert summary.url == "?expand=m"
    assert successors(graph, "fork-m") >= {"more-m"} and successors(graph, "more-m") == {"join-m"}


def test_the_threshold_is_configurable_and_expanding_draws_every_child():
    assert (
        "more-m"
        not in build_graph(big_map(30), execution_status="SUCCEEDED", collapse_threshold=50).nodes
    )
    assert (
        "more-m"
        in build_graph(big_map(30), execution_status="SUCCEEDED", collapse_threshold=10).nodes
    )
    expanded = build_graph(big_map(30), execution_status="SUCCEEDED", expanded={"m"})
    assert len([c for c in expanded.clusters.values() if c.kind == "MapIteration"]) == 30


def test_ten_thousand_operations_collapse_to_a_small_graph():
    graph = build_graph(big_map(5000, failed={4000}), execution_status="FAILED")
    assert len(graph.nodes) < 20
    assert graph.nodes["more-m"].label[0] == "4,996 more"


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '"quoted" \\ back\\slash {braces} \\n \\N \\G ; -> }',
    "日本語の操作 · العربية · Ελληνικά",
    "line one\nline two\r\n\ttabbed",
    "x" * 100_000,
    "</svg><script>alert(1)</script>",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_render_as_inert_text_and_never_break_the_dot(name):
    tree = [
        op("a", name=name),
        op(
            "ctx",
            "CONTEXT",
            "RunInChildContext",
            name=name,
            children=[op("b", name=name, status="FAILED")],
        ),
    ]
    dot = build_dot(
        tree, execution_status="FAILED", node_url=lambda i: f"/ops/{i}?a=1&n={name[:20]}"
    )
    svg = render_svg(dot)
    ElementTree.fromstring(svg)  # still well-formed XML, so no markup was injected
    assert "<img" not in svg and "<script" not in svg.lower()
    first_line = " ".join(name.split())[:20]
    if "<" in first_line:
        assert "&lt;" in svg
    assert len(dot) < 20_000  # labels and tooltips are clipped


def test_dot_quoting_keeps_backslashes_and_quotes_literal():
    assert q('a"b\\nc') == '"a\\"b\\\\nc"'
    assert q("bell\x07") == '"bell"'


def test_a_render_error_is_raised_for_broken_dot():
    with pytest.raises(RenderError, match="graphviz failed"):
        render_svg("digraph { this is not dot")


def test_durations_and_tooltips_describe_each_node():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    graph = build_graph(
        [op("w", "WAIT", "Wait", name="nap", status="STARTED", wait_seconds=7200,
            started_at=start, ended_at=None),
         op("s", name="work", started_at=start, ended_at=start + timedelta(seconds=125))],
        execution_status="RUNNING",
    )  # fmt: skip
    assert (
        graph.nodes["op-w"].label[1] == "wait 2 h 0 min" and graph.nodes["op-w"].state == "waiting"
    )
    assert (
        "2 min 5 s" in graph.nodes["op-s"].tooltip
        and "status succeeded" in graph.nodes["op-s"].tooltip
    )


def test_the_layout_can_run_left_to_right():
    dot = build_dot([op("a")], execution_status="SUCCEEDED", rankdir="LR")
    assert "rankdir=LR" in dot
    subprocess.run(["dot", "-Tsvg"], input=dot.encode(), check=True, capture_output=True)
