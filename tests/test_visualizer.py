"""The graph of an execution (visualizer/): structure asserted on the graph model, on the
DOT as graphviz itself reads it back (`dot -Tjson0`), and on the SVG it renders. Trees come
from histories recorded from the sandbox (tests/fixtures/histories) and from hand-built
edge cases. Nothing here asserts on pixels or coordinates."""

from __future__ import annotations

import itertools
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from domain import status
from executions.tree import build_tree, nested
from visualizer.dot import q, to_dot, url_attr
from visualizer.graph import ROOT, build_dot, build_graph
from visualizer.labels import LABEL_LIMIT, TOOLTIP_LIMIT, clip
from visualizer.labels import wrap as wrap_label
from visualizer.model import Cluster, Graph, Node
from visualizer.render import RenderError, render_svg
from visualizer.style import (
    BACKGROUNDS,
    LEGEND,
    LIGHT,
    SHAPE_LEGEND,
    SHAPES,
    STATES,
    THEMES,
    StateStyle,
    legend_html,
    operation_state,
    theme_css,
    with_theme_css,
)

HISTORIES = Path(__file__).parent / "fixtures" / "histories"
SAMPLES = sorted(p.stem for p in HISTORIES.glob("*.json"))
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---- helpers --------------------------------------------------------------------------


def recorded(name: str) -> tuple[list[dict[str, Any]], str]:
    """The operation tree of a recorded history, and the execution's status."""
    data = json.loads((HISTORIES / f"{name}.json").read_text())
    for event in data["events"]:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
    return nested(build_tree(data["events"])), data["execution"]["Status"]


def op(
    id: str,
    type: str = "STEP",
    subtype: str | None = "Step",
    status: str = "SUCCEEDED",
    children: Any = (),
    **extra: Any,
) -> dict[str, Any]:
    """A hand-built operation, shaped like a node of executions.tree.nested()."""
    return {
        "id": id,
        "type": type,
        "subtype": subtype,
        "name": extra.pop("name", id),
        "status": status,
        "attempt_count": 1 if type == "STEP" else 0,
        "children": list(children),
        **extra,
    }


def cluster_named(graph: Graph, name: str) -> Cluster:
    return next(c for c in graph.clusters.values() if c.label == name)


def node_named(graph: Graph, name: str) -> Node:
    return next(n for n in graph.nodes.values() if n.label and n.label[0] == name)


def inside(cluster: Cluster) -> list[str]:
    """What a cluster holds, by label, leaving out its fork and join points."""
    return [
        item.label[0] if isinstance(item, Node) else item.label
        for item in cluster.items
        if not (isinstance(item, Node) and item.kind == "join")
    ]


def successors(graph: Graph, node_id: str) -> set[str]:
    return {target for source, target in graph.edges if source == node_id}


def reachable(graph: Graph, start: str, reverse: bool = False) -> set[str]:
    step = {}
    for source, target in graph.edges:
        a, b = (target, source) if reverse else (source, target)
        step.setdefault(a, set()).add(b)
    seen, stack = {start}, [start]
    while stack:
        for nxt in step.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def assert_one_connected_flow(graph: Graph) -> None:
    """Every node lies on a path from Start to End."""
    nodes = set(graph.nodes)
    assert reachable(graph, "start") == nodes
    assert reachable(graph, "end", reverse=True) == nodes


@dataclass
class Parsed:
    """A DOT text as graphviz reads it: clusters (with every node inside, nested ones
    included, and their direct sub-clusters), edges, and node attributes."""

    clusters: dict[str, set[str]]
    subclusters: dict[str, set[str]]
    edges: set[tuple[str, str]]
    attrs: dict[str, dict[str, str]]


def parse(dot: str) -> Parsed:
    result = subprocess.run(
        ["dot", "-Tjson0"], input=dot.encode(), capture_output=True, check=True, timeout=60
    )
    data = json.loads(result.stdout)
    objects = data.get("objects", [])
    names = {o["_gvid"]: o["name"] for o in objects}
    n_sub = data.get("_subgraph_cnt", 0)
    # A context's label is a node of its own, placed beside its first node by a rank
    # constraint and an invisible edge (visualizer/dot.py, _label_dot): drawing, not the
    # graph's structure, so left out here and read by label_nodes().
    drawn = {i for i, name in names.items() if not name.startswith("label-cluster-")}
    clusters, subclusters, attrs = {}, {}, {}
    for o in objects:
        if o["_gvid"] < n_sub:
            if not o["name"].startswith("cluster"):
                continue  # a rank constraint
            clusters[o["name"]] = {names[i] for i in o.get("nodes", []) if i in drawn}
            subclusters[o["name"]] = {
                names[i] for i in o.get("subgraphs", []) if names[i].startswith("cluster")
            }
        elif o["_gvid"] in drawn:
            attrs[o["name"]] = o
    edges = {
        (names[e["tail"]], names[e["head"]])
        for e in data.get("edges", [])
        if e.get("style") != "invis"
    }
    return Parsed(clusters, subclusters, edges, attrs)


def svg_tree(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # fails if anything broke the markup


def svg_group(root: ElementTree.Element, element_id: str) -> ElementTree.Element:
    found = [g for g in root.iter(f"{SVG}g") if g.get("id") == element_id]
    assert len(found) == 1, f"{element_id} is drawn {len(found)} times"
    return found[0]


def svg_label(group: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def svg_link(group: ElementTree.Element) -> ElementTree.Element:
    return next(group.iter(f"{SVG}a"))


def wrap(kind: str, children: list[dict[str, Any]], tag: str) -> dict[str, Any]:
    """One level of nesting around `children`: a parallel (one branch), a map (one
    iteration) or a child context."""
    if kind == "parallel":
        branch = op(f"{tag}-branch", "CONTEXT", "ParallelBranch", children=children)
        return op(f"{tag}-parallel", "CONTEXT", "Parallel", children=[branch])
    if kind == "map":
        iteration = op(f"{tag}-iteration", "CONTEXT", "MapIteration", children=children)
        return op(f"{tag}-map", "CONTEXT", "Map", children=[iteration])
    return op(f"{tag}-child", "CONTEXT", "RunInChildContext", children=children)


def big_map(n: int, failed: Any = (), running: Any = (), map_id: str = "m") -> dict[str, Any]:
    iterations = []
    for i in range(n):
        status = "FAILED" if i in failed else "STARTED" if i in running else "SUCCEEDED"
        iterations.append(
            op(f"{map_id}-it{i}", "CONTEXT", "MapIteration", status,
               [op(f"{map_id}-s{i}", status=status)])
        )  # fmt: skip
    return op(map_id, "CONTEXT", "Map", "STARTED", iterations)


def drawn_iterations(graph: Graph, map_id: str = "m") -> list[str]:
    return [
        item.op_id for item in graph.clusters[f"cluster-op-{map_id}"].items
        if isinstance(item, Cluster)
    ]  # fmt: skip


# ---- recorded histories ---------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_recorded_sample_renders_with_a_linked_element_per_operation(name):
    operations, status = recorded(name)
    svg = render_svg(build_dot(operations, execution_status=status, node_url=lambda i: f"/o/{i}"))
    assert svg.startswith("<svg")  # no XML prolog or DOCTYPE: it is inlined in HTML
    root = svg_tree(svg)
    svg_group(root, "start")
    svg_group(root, "end")
    stack = list(operations)
    while stack:
        operation = stack.pop()
        stack.extend(operation["children"])
        if operation["type"] == "CONTEXT":
            group = svg_group(root, f"cluster-op-{operation['id']}")
        else:
            group = svg_group(root, f"op-{operation['id']}")
        assert svg_link(group).get(f"{XLINK}href") == f"/o/{operation['id']}"


def test_graphviz_reads_back_the_clusters_nodes_and_edges_of_the_model():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    parsed = parse(to_dot(graph))
    assert set(parsed.clusters) == set(graph.clusters)
    for cluster in graph.clusters.values():
        within = Graph(items=cluster.items)
        assert parsed.clusters[cluster.id] == set(within.nodes)
        assert parsed.subclusters[cluster.id] == {
            i.id for i in cluster.items if isinstance(i, Cluster)
        }
    assert parsed.edges == set(graph.edges)
    assert len(graph.edges) == len(parsed.edges)  # and no edge twice


def test_the_example_draws_its_parallel_as_three_branches_side_by_side():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    parallel = cluster_named(graph, "parallelOperations")
    assert parallel.kind == "Parallel" and parallel.detail == "parallel · 3 branches"
    branches = [i for i in parallel.items if isinstance(i, Cluster)]
    assert [b.kind for b in branches] == ["ParallelBranch"] * 3
    assert [inside(b) for b in branches] == [
        ["validation-task"],
        ["enrichment-task"],
        ["notification-task"],
    ]
    # Side by side: the fork leads into every branch and every branch into the join.
    fork, join = f"fork-{parallel.op_id}", f"join-{parallel.op_id}"
    tasks = {f"op-{b.items[0].op_id}" for b in branches}
    assert successors(graph, fork) == tasks
    assert all(successors(graph, task) == {join} for task in tasks)


def test_the_example_draws_its_map_with_one_flow_per_iteration():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    mapped = cluster_named(graph, "mapWorkItems")
    iterations = [i for i in mapped.items if isinstance(i, Cluster)]
    assert [i.kind for i in iterations] == ["MapIteration"] * 5
    assert [inside(i) for i in iterations] == [[f"process-work-item-{n}"] for n in range(1, 6)]
    assert len(successors(graph, f"fork-{mapped.op_id}")) == 5
    failed = node_named(graph, "process-work-item-2")
    assert failed.state == "failed" and failed.label[1] == "step · 6 attempts"
    assert "work item work-item-2 could not be processed" in failed.tooltip
    assert cluster_named(graph, "map-item-1").state == "failed"


def test_a_wait_for_callback_is_a_cluster_holding_the_callback_and_its_submitter():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    approval = cluster_named(graph, "waitForExternalApproval")
    assert approval.kind == "WaitForCallback"
    callback, submitter = approval.items
    assert callback.shape == "callback" and callback.label == [
        "waitForExternalApproval",
        "callback",
    ]
    assert submitter.label == ["waitForExternalApproval submitter", "step"]
    assert successors(graph, callback.id) == {submitter.id}


def test_a_child_context_is_a_labelled_cluster_around_its_two_steps():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    child = cluster_named(graph, "isolatedContext")
    assert child.kind == "RunInChildContext" and child.detail == "child context"
    assert inside(child) == ["loadMetadata", "validateConfig"]
    load, validate = child.items
    assert successors(graph, load.id) == {validate.id}
    assert 'label="isolatedContext\\lchild context\\l"' in to_dot(graph)


def test_a_wait_for_condition_is_one_node_showing_its_three_attempts():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    condition = node_named(graph, "waitForSystemReady")
    assert condition.label == ["waitForSystemReady", "condition · 3 attempts"]
    assert condition.shape == "condition" and "3 attempts" in condition.tooltip


def test_a_retried_step_shows_its_attempts():
    operations, status = recorded("fraud-low-retried")
    graph = build_graph(operations, execution_status=status)
    scoring = node_named(graph, "scoreRisk")
    assert scoring.label == ["scoreRisk", "step · 2 attempts"] and "2 attempts" in scoring.tooltip
    assert node_named(graph, "autoApprove").label == ["autoApprove", "step"]


def test_a_chained_invoke_shows_its_target_function():
    operations, status = recorded("durable-function-example")
    graph = build_graph(operations, execution_status=status)
    invoke = node_named(graph, "invokeHelloWorld")
    assert invoke.label[1] == "invoke hello-world" and invoke.shape == "invoke"


def test_a_chained_invoke_links_to_its_child_execution_only_when_the_mirror_has_it():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o/1"
    tree = [
        op("a", "CHAINED_INVOKE", "ChainedInvoke", invoke_function="orders",
           child_execution_arn=arn),
        op("b", "CHAINED_INVOKE", "ChainedInvoke", invoke_function="x",
           child_execution_arn="gone"),
    ]  # fmt: skip
    graph = build_graph(
        tree,
        execution_status="SUCCEEDED",
        node_url=lambda i: f"/ops/{i}",
        child_url=lambda a: "/executions/7/" if a == arn else None,
    )
    assert graph.nodes["op-a"].url == "/executions/7/"
    assert graph.nodes["op-b"].url == "/ops/b"  # not mirrored: its own panel
    assert arn in graph.nodes["op-a"].tooltip


def test_a_node_linking_to_a_child_execution_says_so_in_its_class():
    arn = "arn:aws:lambda:us-east-1:1:function:child:$LATEST/durable-execution/c/1"
    tree = [op("a", "CHAINED_INVOKE", "ChainedInvoke", child_execution_arn=arn), op("b")]
    dot = build_dot(tree, execution_status="SUCCEEDED", node_url=lambda i: f"/ops/{i}",
                    child_url=lambda a: "/executions/7/")  # fmt: skip
    attrs = parse(dot).attrs
    assert attrs["op-a"]["class"].split()[0] == "child"  # graph.js follows it as a link
    assert attrs["op-b"]["class"].split()[0] == "op"  # graph.js opens its panel


def test_a_wait_shows_its_duration_or_else_its_scheduled_end():
    until = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    graph = build_graph(
        [
            op("a", "WAIT", "Wait", wait_seconds=5),
            op("b", "WAIT", "Wait", wait_seconds=7200),
            op("c", "WAIT", "Wait", wait_seconds=90061),
            op("d", "WAIT", "Wait", "STARTED", wait_scheduled_end=until),
        ],
        execution_status="RUNNING",
    )
    labels = {n.op_id: n.label[1] for n in graph.nodes.values() if n.op_id}
    assert labels == {
        "a": "wait 5 s",
        "b": "wait 2 h",
        "c": "wait 1 d 1 h",
        "d": "wait until 2026-03-01 12:30:00 UTC",
    }
    assert graph.nodes["op-d"].state == "waiting" and graph.nodes["op-d"].shape == "wait"


def test_the_flow_runs_from_start_through_the_operations_in_start_order_to_end():
    operations, status = recorded("order-processor-succeeded")
    graph = build_graph(operations, execution_status=status)
    order, node = [], "start"
    while node != "end":
        (node,) = successors(graph, node)
        order.append(graph.nodes[node].label[0])
    assert order == ["validate-order", "enrich-order", "wait-before-finalize", "finalize-order",
                     "End"]  # fmt: skip


@pytest.mark.parametrize(
    "status, state, word",
    [
        ("SUCCEEDED", "succeeded", "succeeded"),
        ("FAILED", "failed", "failed"),
        ("TIMED_OUT", "ended", "timed out"),
        ("STOPPED", "ended", "stopped"),
        ("RUNNING", "not_started", "running"),
        ("PAUSED", "waiting", "paused"),
    ],
)
def test_end_shows_the_status_of_the_execution(status, state, word):
    end = build_graph([op("a")], execution_status=status).nodes["end"]
    assert end.state == state and end.label == ["End", word]


def test_a_failed_execution_ends_red_even_when_its_steps_succeeded():
    operations, status = recorded("fraud-high-failed")
    dot = build_dot(operations, execution_status=status)
    assert parse(dot).attrs["end"]["fillcolor"] == STATES["failed"].fill


def test_a_waiting_execution_shows_its_pending_callback_amber_and_its_end_grey():
    operations, status = recorded("durable-function-example-waiting")
    graph = build_graph(operations, execution_status=status)
    callback = next(n for n in graph.nodes.values() if n.shape == "callback")
    assert callback.state == "waiting" and "waiting" in callback.tooltip
    assert cluster_named(graph, "waitForExternalApproval").state == "waiting"
    assert graph.nodes["end"].state == "not_started"


@pytest.mark.parametrize(
    "type, subtype, status, state",
    [
        ("STEP", "Step", "SUCCEEDED", "succeeded"),
        ("STEP", "Step", "FAILED", "failed"),
        ("STEP", "Step", "STARTED", "running"),
        ("STEP", "Step", "READY", "running"),
        ("STEP", "Step", "PENDING", "waiting"),  # a retry is scheduled
        ("CALLBACK", "Callback", "STARTED", "waiting"),  # a pending callback
        ("WAIT", "Wait", "STARTED", "waiting"),  # a running timer
        ("STEP", "Step", "CANCELLED", "ended"),
        ("STEP", "Step", "STOPPED", "ended"),
        ("CHAINED_INVOKE", "ChainedInvoke", "TIMED_OUT", "ended"),
        ("STEP", "Step", "", "not_started"),
    ],
)
def test_status_colours_follow_the_step_functions_console(type, subtype, status, state):
    operation = op("x", type, subtype, status)
    assert operation_state(operation) == state
    drawn = parse(build_dot([operation], execution_status="RUNNING")).attrs["op-x"]
    assert (drawn["fillcolor"], drawn["color"]) == (STATES[state].fill, STATES[state].border)
    assert f"state-{state}" in drawn["class"].split()


def test_each_kind_of_operation_has_its_own_shape():
    tree = [
        op("s"),
        op("c", "STEP", "WaitForCondition", attempt_count=4),
        op("w", "WAIT", "Wait", wait_seconds=3),
        op("cb", "CALLBACK", "Callback"),
        op("i", "CHAINED_INVOKE", "ChainedInvoke", invoke_function="f"),
    ]
    attrs = parse(build_dot(tree, execution_status="SUCCEEDED")).attrs
    shapes = {key: attrs[f"op-{key}"]["shape"] for key in ("s", "c", "w", "cb", "i")}
    assert shapes == {"s": "box", "c": "box", "w": "hexagon", "cb": "cds", "i": "component"}
    assert attrs["op-c"]["peripheries"] == "2"  # the polled step's double border
    assert len({SHAPES[k] for k in ("step", "wait", "callback", "invoke", "condition")}) == 5


def test_every_node_has_a_tooltip_a_url_and_an_id_the_page_can_find():
    error = {"ErrorType": "CardDeclined", "ErrorMessage": "insufficient funds"}
    tree = [op("abc", name="charge-card", status="FAILED", attempt_count=3,
               started_at=T0, ended_at=T0 + timedelta(seconds=125), error=error)]  # fmt: skip
    svg = render_svg(build_dot(tree, execution_status="FAILED", node_url=lambda i: f"/ops/{i}"))
    group = svg_group(svg_tree(svg), "op-abc")
    assert "op" in group.get("class").split() and "state-failed" in group.get("class").split()
    link = svg_link(group)
    assert link.get(f"{XLINK}href") == "/ops/abc"
    assert link.get(f"{XLINK}title").split("\n") == [
        "charge-card",
        "Step · failed · 2 min 5 s · 3 attempts",
        "started 2026-01-01 00:00:00 UTC",
        "error CardDeclined: insufficient funds",
    ]
    assert svg_label(group) == ["charge-card", "step · 3 attempts"]


# ---- nesting ----------------------------------------------------------------------------


def test_a_map_inside_a_parallel_branch_inside_a_child_context_draws_correctly():
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
        op("after"),
    ]  # fmt: skip
    graph = build_graph(tree, execution_status="SUCCEEDED")
    parsed = parse(to_dot(graph))
    assert parsed.subclusters["cluster-op-c"] == {"cluster-op-p"}
    assert parsed.subclusters["cluster-op-p"] == {"cluster-op-b0", "cluster-op-b1"}
    assert parsed.subclusters["cluster-op-b0"] == {"cluster-op-m"}
    assert parsed.subclusters["cluster-op-m"] == {"cluster-op-it0", "cluster-op-it1"}
    assert parsed.clusters["cluster-op-it1"] == {"op-s1"}
    assert successors(graph, "fork-p") == {"fork-m", "op-lonely"}
    assert successors(graph, "fork-m") == {"op-s0", "op-s1"}
    # Out of the map, out of its branch, into the parallel's join, then on.
    assert successors(graph, "join-m") == {"join-p"} and successors(graph, "join-p") == {"op-after"}
    assert_one_connected_flow(graph)
    render_svg(to_dot(graph))


SHAPES_OF_NESTING = [
    kinds
    for depth in (1, 2, 3)
    for kinds in itertools.product(["parallel", "map", "child"], repeat=depth)
]


@pytest.mark.parametrize("kinds", SHAPES_OF_NESTING, ids="-in-".join)
def test_every_nesting_shape_draws_one_connected_flow_with_the_clusters_nested(kinds):
    tree: list[dict[str, Any]] = [op("leaf")]
    for level, kind in enumerate(kinds):  # kinds[0] is innermost
        tree = [op(f"before{level}"), wrap(kind, tree, f"l{level}")]
    graph = build_graph(tree, execution_status="SUCCEEDED")
    assert_one_connected_flow(graph)
    parsed = parse(to_dot(graph))
    # Walk down from the outermost cluster: each holds the next level, the last the leaf.
    expected_chain = []
    for level in reversed(range(len(kinds))):
        kind = kinds[level]
        outer = {"parallel": "parallel", "map": "map", "child": "child"}[kind]
        expected_chain.append(f"cluster-op-l{level}-{outer}")
        if kind == "parallel":
            expected_chain.append(f"cluster-op-l{level}-branch")
        if kind == "map":
            expected_chain.append(f"cluster-op-l{level}-iteration")
    for outer, inner in itertools.pairwise(expected_chain):
        assert parsed.subclusters[outer] == {inner}
    assert "op-leaf" in parsed.clusters[expected_chain[-1]]
    assert "op-leaf" in parsed.clusters[expected_chain[0]]


@pytest.mark.parametrize("subtype", ["Parallel", "Map", "RunInChildContext", "WaitForCallback"])
def test_an_empty_context_still_connects_the_flow(subtype):
    tree = [op("a"), op("e", "CONTEXT", subtype, "STARTED"), op("b")]
    graph = build_graph(tree, execution_status="RUNNING")
    assert_one_connected_flow(graph)
    assert "empty-e" in parse(to_dot(graph)).clusters["cluster-op-e"]


def test_an_empty_parallel_inside_a_branch_still_connects():
    tree = [wrap("parallel", [op("p2", "CONTEXT", "Parallel", "STARTED")], "outer")]
    graph = build_graph(tree, execution_status="RUNNING")
    assert successors(graph, "fork-p2") == {"empty-p2"} and successors(graph, "empty-p2") == {
        "join-p2"
    }
    assert_one_connected_flow(graph)


def test_an_execution_without_operations_goes_straight_from_start_to_end():
    graph = build_graph([], execution_status="RUNNING")
    assert graph.edges == [("start", "end")]
    render_svg(to_dot(graph))


def test_an_operation_with_children_that_is_not_a_context_keeps_them():
    tree = [op("s", children=[op("inner")])]
    graph = build_graph(tree, execution_status="SUCCEEDED")
    assert inside(graph.clusters["cluster-op-s"]) == ["s", "inner"]
    assert_one_connected_flow(graph)


def test_very_deep_nesting_is_cut_short_instead_of_crashing():
    tree: list[dict[str, Any]] = [op("leaf")]
    for level in range(400):
        tree = [op(f"c{level}", "CONTEXT", "RunInChildContext", children=tree)]
    graph = build_graph(tree, execution_status="SUCCEEDED")
    stub = next(n for n in graph.nodes.values() if "nested deeper" in n.label[-1])
    assert stub.label[1].endswith("operations nested deeper")
    assert_one_connected_flow(graph)


# ---- collapse ---------------------------------------------------------------------------


def test_a_big_map_draws_a_preview_a_summary_and_every_child_that_did_not_succeed():
    graph = build_graph(
        [big_map(30, failed={10, 20}, running={29})],
        execution_status="RUNNING",
        expand_url=lambda i: f"?expand={i}",
    )
    assert drawn_iterations(graph) == ["m-it0", "m-it1", "m-it2", "m-it10", "m-it20", "m-it29"]
    summary = graph.nodes["more-m"]
    assert summary.label == ["24 more", "24 succeeded"] and summary.counts == {"SUCCEEDED": 24}
    assert summary.url == "?expand=m" and summary.op_id == "m" and summary.state == "succeeded"
    assert successors(graph, "fork-m") >= {"more-m"} and successors(graph, "more-m") == {"join-m"}
    assert_one_connected_flow(graph)
    svg = svg_tree(render_svg(to_dot(graph)))
    assert svg_link(svg_group(svg, "more-m")).get(f"{XLINK}href") == "?expand=m"


def test_a_summary_counts_what_it_hides_by_status():
    failed = set(range(100, 120))
    graph = build_graph(
        [big_map(9_973, failed=failed)], execution_status="FAILED", attention_limit=0
    )
    summary = graph.nodes["more-m"]
    assert summary.label == ["9,970 more", "9,950 succeeded, 20 failed"]
    assert summary.state == "failed"  # the worst it hides
    assert summary.tooltip.startswith("9,970 more iterations: 9,950 succeeded, 20 failed")


def test_failures_are_drawn_first_when_more_children_need_attention_than_the_limit():
    graph = build_graph(
        [big_map(100, failed={90, 95}, running=set(range(10, 60)))],
        execution_status="RUNNING",
        attention_limit=5,
    )
    assert drawn_iterations(graph) == ["m-it0", "m-it1", "m-it2", "m-it10", "m-it11", "m-it12",
                                       "m-it90", "m-it95"]  # fmt: skip
    assert graph.nodes["more-m"].counts == {"SUCCEEDED": 45, "STARTED": 47}
    assert graph.nodes["more-m"].label[1] == "45 succeeded, 47 running"


@pytest.mark.parametrize("threshold, collapsed", [(29, True), (30, False), (31, False)])
def test_a_fan_out_collapses_only_with_more_children_than_the_threshold(threshold, collapsed):
    graph = build_graph([big_map(30)], execution_status="SUCCEEDED", collapse_threshold=threshold)
    assert ("more-m" in graph.nodes) is collapsed


def test_the_preview_count_is_configurable():
    graph = build_graph([big_map(30)], execution_status="SUCCEEDED", preview_count=5)
    assert drawn_iterations(graph) == [f"m-it{i}" for i in range(5)]
    assert graph.nodes["more-m"].label[0] == "25 more"


def test_expanding_a_collapsed_map_draws_every_child():
    graph = build_graph([big_map(30)], execution_status="SUCCEEDED", expanded={"m"})
    assert len(drawn_iterations(graph)) == 30 and "more-m" not in graph.nodes


def test_an_expanded_map_still_stops_at_the_expanded_limit():
    graph = build_graph(
        [big_map(30, failed={25})],
        execution_status="FAILED",
        expanded={"m"},
        expanded_limit=10,
        expand_url=lambda i: f"?e={i}",
    )
    assert drawn_iterations(graph) == [f"m-it{i}" for i in range(10)] + ["m-it25"]
    summary = graph.nodes["more-m"]
    assert summary.label == ["19 more", "19 succeeded"]
    assert summary.url == "" and summary.tooltip.endswith("Too many to draw.")


def test_a_big_parallel_collapses_like_a_map():
    branches = [op(f"b{i}", "CONTEXT", "ParallelBranch", children=[op(f"t{i}")]) for i in range(40)]
    graph = build_graph(
        [op("p", "CONTEXT", "Parallel", children=branches)], execution_status="SUCCEEDED"
    )
    assert graph.nodes["more-p"].label[0] == "37 more"
    assert graph.nodes["more-p"].tooltip.startswith("37 more branches")


def test_a_collapsed_map_inside_a_drawn_iteration_collapses_on_its_own():
    inner = big_map(50, failed={40}, map_id="inner")
    outer = op("outer", "CONTEXT", "Map", children=[
        op("o-it0", "CONTEXT", "MapIteration", "FAILED", [inner]),
        *[op(f"o-it{i}", "CONTEXT", "MapIteration", children=[op(f"x{i}")]) for i in range(1, 40)],
    ])  # fmt: skip
    graph = build_graph([outer], execution_status="FAILED", expand_url=lambda i: f"?e={i}")
    assert drawn_iterations(graph, "outer") == ["o-it0", "o-it1", "o-it2"]
    assert drawn_iterations(graph, "inner") == [f"inner-it{i}" for i in (0, 1, 2, 40)]
    assert (
        graph.nodes["more-outer"].url == "?e=outer" and graph.nodes["more-inner"].url == "?e=inner"
    )
    assert_one_connected_flow(graph)


def test_a_long_sequence_keeps_its_head_its_tail_and_its_failures_and_summarises_the_gaps():
    tree = [op(f"s{i}", status="FAILED" if i == 100 else "SUCCEEDED") for i in range(200)]
    graph = build_graph(tree, execution_status="FAILED", expand_url=lambda i: f"?e={i}")
    order, node = [], "start"
    while node != "end":
        (node,) = successors(graph, node)
        order.append(node)
    assert order == ["op-s0", "op-s1", "op-s2", f"more-{ROOT}", "op-s100", f"more-{ROOT}-2",
                     "op-s197", "op-s198", "op-s199", "end"]  # fmt: skip
    assert graph.nodes[f"more-{ROOT}"].label == ["97 more", "97 succeeded"]
    assert graph.nodes[f"more-{ROOT}-2"].label == ["96 more", "96 succeeded"]
    assert graph.nodes[f"more-{ROOT}"].url == f"?e={ROOT}"
    expanded = build_graph(tree, execution_status="FAILED", expanded={ROOT})
    assert len(expanded.nodes) == 202


def test_past_the_node_budget_later_fan_outs_collapse_to_their_preview():
    maps = [big_map(20, failed={15}, map_id=f"m{k}") for k in range(4)]
    graph = build_graph(maps, execution_status="FAILED", node_budget=50)
    # The first two maps fit (20 iterations + 20 steps each); the rest collapse, and
    # their summaries still say what they hide, in the colour of the worst of it.
    assert len(drawn_iterations(graph, "m0")) == 20 and len(drawn_iterations(graph, "m1")) == 20
    assert drawn_iterations(graph, "m2") == ["m2-it0", "m2-it1", "m2-it2"]
    assert graph.nodes["more-m3"].label == ["17 more", "16 succeeded, 1 failed"]
    assert graph.nodes["more-m3"].state == "failed"
    again = build_graph(maps, execution_status="FAILED", node_budget=50, expanded={"m2"})
    assert len(drawn_iterations(again, "m2")) == 20


def test_ten_thousand_operations_make_a_small_graph():
    tree = [op("first"), big_map(5_000, failed={4_000}, running={4_999}), op("last")]
    graph = build_graph(tree, execution_status="RUNNING")
    assert len(graph.nodes) < 20
    assert drawn_iterations(graph) == ["m-it0", "m-it1", "m-it2", "m-it4000", "m-it4999"]
    assert graph.nodes["more-m"].label == ["4,995 more", "4,995 succeeded"]
    render_svg(to_dot(graph))


# ---- escaping ---------------------------------------------------------------------------

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '"quoted" \\ back\\slash {braces}',
    "graphviz escapes \\n \\l \\N \\G \\E \\T \\H \\L",
    "entities &lt;b&gt; &amp; &#60;i&#62; &quot;",
    "日本語の操作 · العربية · Ελληνικά",
    "line one\nline two\r\n\ttabbed",
    "x" * 100_000,
    "</svg><script>alert(1)</script>",
    '" ]; evil [label="pwned',
    "} digraph { a -> b",
    "a -- b -> c ; d",
    "bell\x07 nul\x00 del\x7f",
    "-->< !-- <![CDATA[ ]]>",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_render_as_that_text_and_never_break_the_dot(name):
    tree = [
        op("a", name=name),
        op("ctx", "CONTEXT", "RunInChildContext", name=name,
           children=[op("b", name=name, status="FAILED")]),
    ]  # fmt: skip
    dot = build_dot(tree, execution_status="FAILED", title=name,
                    node_url=lambda i: f"/ops/{i}?n={name[:30]}")  # fmt: skip
    assert len(dot) < 20_000  # labels and tooltips are clipped
    parsed = parse(dot)
    assert set(parsed.attrs) == {"start", "op-a", "op-b", "end"}  # no node smuggled in
    assert parsed.edges == {("start", "op-a"), ("op-a", "op-b"), ("op-b", "end")}
    root = svg_tree(render_svg(dot))
    tags = {element.tag for element in root.iter()}
    assert {f"{SVG}img", f"{SVG}script", "img", "script", f"{SVG}foreignObject"}.isdisjoint(tags)
    # The name as the label's lines (wrapped, cut with an ellipsis when long): the very
    # text, once the XML is decoded.
    shown = wrap_label(clip(name, LABEL_LIMIT))
    assert "".join(shown).replace(" ", "").rstrip("…") in clip(name, LABEL_LIMIT).replace(" ", "")
    for element_id in ("op-a", "op-b"):
        group = svg_group(root, element_id)
        assert svg_label(group)[: len(shown)] == shown
        title = svg_link(group).get(f"{XLINK}title")
        assert len(title) <= TOOLTIP_LIMIT and title.split("\n")[0] == clip(name, 200)
    cluster = svg_group(root, "cluster-op-ctx")
    assert svg_link(cluster).get(f"{XLINK}title").split("\n")[0] == clip(name, 200)
    label = svg_group(root, "label-cluster-op-ctx")  # the context's label, beside its flow
    assert svg_label(label)[: len(shown)] == shown
    assert svg_link(label).get(f"{XLINK}title").split("\n")[0] == clip(name, 200)
    graph_title = svg_link(svg_group(root, "execution-graph")).get(f"{XLINK}title")
    assert graph_title == clip(name, 200)


def test_hostile_operation_ids_keep_the_dot_and_the_svg_intact():
    ids = ['a"b', "c\\N", "<img src=x>", "e--> <!--", "f&amp;g", "h i\nj"]
    tree = [op(i) for i in ids]
    dot = build_dot(tree, execution_status="SUCCEEDED", node_url=lambda i: f"/ops/{i}")
    root = svg_tree(render_svg(dot))
    assert {e.tag for e in root.iter()}.isdisjoint({f"{SVG}img", "img"})
    for raw in ids:
        kept = "".join(ch for ch in raw if ch >= " ")  # control characters are dropped
        group = svg_group(root, f"op-{kept}")
        href = svg_link(group).get(f"{XLINK}href")
        assert href.startswith("/ops/") and '"' not in href and "<" not in href


def test_urls_are_percent_encoded_and_only_http_or_relative_ones_pass():
    assert url_attr('/ops/a"b<c> d?x=1&y=2') == "/ops/a%22b%3Cc%3E%20d?x=1&amp;y=2"
    assert url_attr("https://example.com/a") == "https://example.com/a"
    assert url_attr("?expand=a:b") == "?expand=a:b"
    for bad in ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x", "vbscript:x"]:
        assert url_attr(bad) == ""
    graph = build_graph([op("a")], execution_status="SUCCEEDED", node_url=lambda i: "javascript:x")
    group = svg_group(svg_tree(render_svg(to_dot(graph))), "op-a")
    assert all(a.get(f"{XLINK}href") is None for a in group.iter(f"{SVG}a"))


def test_dot_quoting_keeps_backslashes_and_quotes_literal():
    assert q('a"b\\nc') == '"a\\"b\\\\nc"'
    assert q("bell\x07") == '"bell"'


def test_long_names_are_clipped_for_labels_and_tooltips():
    graph = build_graph([op("a", name="y" * 100_000)], execution_status="SUCCEEDED")
    node = graph.nodes["op-a"]
    assert len(node.label[0]) == LABEL_LIMIT and node.label[0].endswith("…")
    assert len(node.tooltip) <= TOOLTIP_LIMIT


# ---- render -----------------------------------------------------------------------------


def test_a_render_error_says_graphviz_failed_for_broken_dot():
    with pytest.raises(RenderError, match="graphviz failed"):
        render_svg("digraph { this is not dot")


def test_a_render_error_is_raised_when_layout_takes_too_long():
    dot = build_dot([big_map(300)], execution_status="SUCCEEDED", expanded={"m"})
    with pytest.raises(RenderError, match="longer than"):
        render_svg(dot, timeout=0.001)


def test_only_graphviz_engines_can_be_asked_for():
    with pytest.raises(RenderError, match="unknown graphviz engine"):
        render_svg("digraph {}", engine="rm")


def test_the_layout_can_run_left_to_right():
    dot = build_dot([op("a")], execution_status="SUCCEEDED", rankdir="LR")
    assert "rankdir=LR" in dot
    assert "rankdir=TB" in build_dot([op("a")], execution_status="SUCCEEDED", rankdir="bogus")
    render_svg(dot)


# ---- legend -----------------------------------------------------------------------------


def test_the_legend_shows_every_state_and_shape_in_the_graphs_own_colours():
    html = legend_html()
    root = ElementTree.fromstring(html)  # well-formed, so safe to inline
    items = root.findall("li")
    assert [li.get("data-legend") for li in items] == LEGEND + SHAPE_LEGEND
    for li, key in zip(items, LEGEND, strict=False):
        assert "".join(li.itertext()).strip() == STATES[key].label
        rect = li.find("svg/rect")  # inline SVG in HTML: no namespace
        assert (rect.get("fill"), rect.get("stroke")) == (STATES[key].fill, STATES[key].border)
    # No style attributes: a strict Content-Security-Policy would refuse them.
    assert all(element.get("style") is None for element in root.iter())


def test_legend_swatches_name_their_state_so_the_theme_can_recolour_the_neutral_ones():
    root = ElementTree.fromstring(legend_html())
    classes = {li.get("data-legend"): li.find("svg").get("class").split() for li in root}
    assert all(classes[key] == ["graph-legend-swatch", f"state-{key}"] for key in LEGEND)
    # The shapes are drawn in the not-started colours, which follow the theme.
    assert all(classes[key][1] == "state-not_started" for key in SHAPE_LEGEND)


# ---- colours and themes -------------------------------------------------------------------


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_there_are_colours_for_every_visual_state_of_the_domain_and_no_other():
    assert set(STATES) == set(status.STATES) == set(LEGEND)


@pytest.mark.parametrize("state", LEGEND)
def test_every_state_has_readable_text_on_its_fill_and_a_border_seen_on_either_theme(state):
    colours = STATES[state]
    assert contrast(colours.text, colours.fill) >= 4.5
    for background in BACKGROUNDS.values():
        assert contrast(colours.border, background) >= 3, background


def test_the_status_colours_are_solid_and_told_apart_at_a_glance():
    solid = [key for key in LEGEND if key != "not_started"]
    # Solid, not the pastel tints of before: each stands out from a white canvas...
    assert all(contrast(STATES[key].fill, BACKGROUNDS["light"]) >= 1.6 for key in solid)
    assert all(contrast(STATES[key].fill, BACKGROUNDS["light"]) >= 4.5 for key in solid
               if key != "waiting")  # fmt: skip
    # ...and no two states share a fill.
    assert len({STATES[key].fill for key in LEGEND}) == len(LEGEND)


@pytest.mark.parametrize("theme", sorted(THEMES))
def test_what_is_drawn_on_the_canvas_reads_in_both_themes(theme):
    colours, background = THEMES[theme], BACKGROUNDS[theme]
    assert contrast(colours.neutral_text, colours.neutral_fill) >= 4.5
    assert contrast(colours.label, background) >= 4.5
    assert contrast(colours.edge, background) >= 3
    assert contrast(colours.neutral_border, background) >= 3


def test_the_svg_carries_the_light_themes_colours():
    assert STATES["not_started"] == StateStyle(
        "Not started", LIGHT.neutral_fill, LIGHT.neutral_border, LIGHT.neutral_text
    )
    operations, status_ = recorded("durable-function-example")
    dot = build_dot(operations, execution_status=status_)
    assert f'edge [color="{LIGHT.edge}"' in dot
    svg = svg_tree(render_svg(dot))
    labels = [
        text.get("fill")
        for group in svg.iter(f"{SVG}g")
        if "context-label" in (group.get("class") or "").split()
        for text in group.iter(f"{SVG}text")
    ]
    assert labels and set(labels) == {LIGHT.label}


def test_a_collapsed_group_is_drawn_neutral_with_a_dashed_border_in_the_colour_it_hides():
    attrs = parse(build_dot([big_map(40, failed={30})], execution_status="RUNNING")).attrs
    summary = attrs["more-m"]
    assert (summary["fillcolor"], summary["fontcolor"]) == (LIGHT.neutral_fill, LIGHT.neutral_text)
    assert summary["color"] == STATES["succeeded"].border  # the failure is drawn, not hidden
    assert "dashed" in summary["style"]
    hidden_failure = parse(
        build_dot([big_map(40, failed={30})], execution_status="RUNNING", attention_limit=0)
    ).attrs["more-m"]
    assert hidden_failure["color"] == STATES["failed"].border


def test_graph_css_carries_the_theme_colours_of_visualizer_style():
    css = (Path(__file__).parents[1] / "static" / "graph.css").read_text()
    assert theme_css() in css, "run: python -m visualizer.style static/graph.css"
    for theme in THEMES.values():
        assert f"--graph-neutral-fill: {theme.neutral_fill};" in theme_css()


def test_the_theme_block_is_replaced_in_place_and_put_first_when_missing():
    outdated = theme_css().replace(THEMES["dark"].label, "#000000")
    css = "/* head */\n" + outdated + "\n.rule { fill: red; }\n"
    assert with_theme_css(css) == "/* head */\n" + theme_css() + "\n.rule { fill: red; }\n"
    assert with_theme_css(with_theme_css(css)) == with_theme_css(css)
    assert with_theme_css(".rule {}\n") == theme_css() + "\n.rule {}\n"


def test_the_way_to_a_failure_is_marked_and_the_end_says_why():
    operations = [
        {"id": "ok", "type": "STEP", "subtype": "Step", "name": "fine", "status": "SUCCEEDED"},
        {
            "id": "ctx",
            "type": "CONTEXT",
            "subtype": "RunInChildContext",
            "name": "outer",
            "status": "FAILED",
            "children": [
                {"id": "in-ok", "type": "STEP", "name": "a", "status": "SUCCEEDED"},
                {"id": "in-bad", "type": "STEP", "name": "b", "status": "FAILED"},
            ],
        },
    ]
    error = {"ErrorType": "PaymentDeclined", "ErrorMessage": "card expired"}
    graph = build_graph(operations, execution_status="FAILED", execution_error=error)
    nodes, clusters = graph.nodes, graph.clusters
    assert nodes["op-in-bad"].failed_path and not nodes["op-in-ok"].failed_path
    assert not nodes["op-ok"].failed_path
    assert clusters["cluster-op-ctx"].failed_path
    assert nodes["end"].label == ["End", "failed: PaymentDeclined"]
    assert "PaymentDeclined: card expired" in nodes["end"].tooltip
    dot = to_dot(graph)
    assert "failed-path" in dot and "penwidth=3" in dot
    # A success draws no such path and keeps its End plain.
    plain = build_graph(operations[:1], execution_status="SUCCEEDED", execution_error=None)
    assert plain.nodes["end"].label == ["End", "succeeded"]
    assert not any(n.failed_path for n in plain.nodes.values())
