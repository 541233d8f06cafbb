"""Operation tree (plain data) -> a graph model -> graphviz DOT. No Django here.

Input: the nested operations of one execution, as `executions.tree.nested()` returns
them (dicts with id, type, subtype, name, status, started_at, ended_at, attempt_count,
wait_seconds, wait_scheduled_end, invoke_function, child_execution_arn, error,
children). This module never imports `executions`: it takes plain data.

The graph is a vertical flow from Start to End. Leaf operations are nodes; contexts are
clusters: a Parallel or a Map forks to its branches or iterations (each its own
sub-flow, side by side) and joins again; RunInChildContext, WaitForCallback and the
branches and iterations themselves wrap their operations in a labelled cluster. Nesting
is arbitrary: the builder recurses.

`build_graph()` returns the model (`Graph`: nested `Cluster`s and `Node`s, and edges),
which the tests assert on; `to_dot()` serialises it; `build_dot()` does both.

Scale. Layout is the expensive part (graphviz is super-linear in nodes and clusters),
so what is drawn is bounded, while building stays O(operations):
- a Map or Parallel with more than `collapse_threshold` children draws the first
  `preview_count`, up to `attention_limit` children that did not succeed (failed
  first), and one summary node for the rest ("9,970 more: 9,950 succeeded, 20 failed");
- a sequence (the top level, or the inside of any context) of more than
  `sequence_threshold` operations draws the first and last `preview_count`, up to
  `attention_limit` that did not succeed, and a summary node for each run in between;
- once `node_budget` nodes and clusters are drawn, every later fan-out or sequence
  collapses to its preview and summary, whatever its size;
- an id in `expanded` (an operation id, or ROOT for the top level) turns all of that
  off for that one fan-out or sequence, up to `expanded_limit` children (graphviz takes
  about a minute over 5,000 side by side; nobody reads them either); summary nodes link
  to `expand_url(id)`.

Safety. Every label, tooltip and id is written as a DOT quoted string with backslashes
doubled (graphviz would otherwise read \\n, \\l, \\N, \\G as escapes) and quotes escaped;
`&` is written as `&amp;` because graphviz decodes HTML entities in labels (so `&lt;`
would otherwise show as `<`); graphviz's SVG writer escapes <, >, & and quotes in text
and attributes. URLs are the exception: graphviz writes them into the SVG as they are,
so `url_attr()` percent-encodes them and refuses schemes other than http(s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from domain import status as statuses
from domain.operations import is_fanout
from visualizer.dot import to_dot
from visualizer.labels import (
    KIND_WORDS,
    LABEL_LIMIT,
    TOOLTIP_LIMIT,
    clip,
    clip_lines,
    end_lines,
    name,
    plural,
    second_line,
    tooltip,
)
from visualizer.model import Cluster, Graph, Node
from visualizer.style import SEVERITY, execution_state, operation_state, shape_key

# The key of the top-level sequence, for `expanded` and `expand_url` (operation ids are
# hashes, so it cannot clash with one).
ROOT = "execution"
# Contexts nested deeper than this are drawn as one node: it keeps the builder's
# recursion far from Python's limit, and graphviz cannot draw such depth legibly anyway.
MAX_DEPTH = 100
RANKDIRS = frozenset({"TB", "LR", "BT", "RL"})


@dataclass(frozen=True)
class _Options:
    collapse_threshold: int
    sequence_threshold: int
    preview_count: int
    attention_limit: int
    node_budget: int
    expanded: frozenset[str]
    expanded_limit: int
    node_url: Callable[[str], str] | None
    child_url: Callable[[str], str | None] | None
    expand_url: Callable[[str], str] | None


class _Builder:
    def __init__(self, options: _Options) -> None:
        self.o = options
        self.edges: list[tuple[str, str]] = []
        self.drawn = 0  # nodes and clusters so far, for the node budget
        self._attention: dict[int, bool] = {}  # id(op dict) -> needs attention
        self._failed: dict[int, bool] = {}  # id(op dict) -> on the way to a failure

    # -- operations

    def block(self, op: dict[str, Any], depth: int) -> tuple[Node | Cluster, str, str]:
        """Draw one operation; return (item, entry node id, exit node id)."""
        children = op.get("children") or []
        if op.get("type") == "CONTEXT" or children:
            if depth < MAX_DEPTH:
                return self.context(op, children, depth)
            hidden = _count(children)
            return self.leaf(op, detail=f"{plural(hidden, 'operation')} nested deeper")
        return self.leaf(op)

    def leaf(self, op: dict[str, Any], detail: str = "") -> tuple[Node, str, str]:
        url, kind = self._url(op), "operation"
        if op.get("child_execution_arn") and self.o.child_url:
            # Linked to the child execution when the mirror has it, else to its panel.
            child = self.o.child_url(op["child_execution_arn"])
            url, kind = (child, "child") if child else (url, kind)
        node = Node(
            id=f"op-{op['id']}",
            failed_path=self.on_failed_path(op),
            kind=kind,
            label=[clip(name(op), LABEL_LIMIT), detail or second_line(op)],
            state=operation_state(op),
            tooltip=tooltip(op),
            url=url,
            op_id=op["id"],
            shape=shape_key(op),
        )
        self.drawn += 1
        return node, node.id, node.id

    def context(
        self, op: dict[str, Any], children: list[dict[str, Any]], depth: int
    ) -> tuple[Cluster, str, str]:
        subtype = op.get("subtype") or "Context"
        cluster = Cluster(
            id=f"cluster-op-{op['id']}",
            label=clip(name(op), LABEL_LIMIT),
            detail=_cluster_detail(subtype, len(children)),
            state=operation_state(op),
            kind=subtype,
            op_id=op["id"],
            tooltip=tooltip(op),
            url=self._url(op),
            failed_path=self.on_failed_path(op),
        )
        self.drawn += 1
        if op.get("type") != "CONTEXT":
            # Not a context but has children (no SDK does this today): draw the operation
            # itself first, then what hangs off it, rather than drop them.
            children = [{**op, "children": []}, *children]
        if is_fanout(subtype):
            entry, exit_ = self.fanout(cluster, op, children, depth)
        else:
            entry, exit_ = self.sequence(cluster.items, children, op["id"], depth)
        cluster.entry = entry
        return cluster, entry, exit_

    # -- flows

    def sequence(
        self,
        items: list[Node | Cluster],
        children: list[dict[str, Any]],
        owner: str,
        depth: int,
    ) -> tuple[str, str]:
        """Children one after another; an empty context still gets a node to connect."""
        if not children:
            placeholder = self.placeholder(f"empty-{owner}", "(no operations yet)")
            items.append(placeholder)
            return placeholder.id, placeholder.id
        head = tail = self.o.preview_count
        keep = self.choose(owner, children, self.o.sequence_threshold, head, tail)
        entry = previous = ""
        hidden: list[dict[str, Any]] = []
        gaps = 0

        def append(item: Node | Cluster, item_entry: str, item_exit: str) -> None:
            nonlocal entry, previous
            items.append(item)
            if previous:
                self.edges.append((previous, item_entry))
            else:
                entry = item_entry
            previous = item_exit

        for index, child in enumerate(children):
            if keep is not None and index not in keep:
                hidden.append(child)
                continue
            if hidden:
                gaps += 1
                summary = self.summary(owner, hidden, "operations", gaps)
                append(summary, summary.id, summary.id)
                hidden = []
            append(*self.block(child, depth + 1))
        if hidden:
            summary = self.summary(owner, hidden, "operations", gaps + 1)
            append(summary, summary.id, summary.id)
        return entry, previous

    def fanout(
        self, cluster: Cluster, op: dict[str, Any], children: list[dict[str, Any]], depth: int
    ) -> tuple[str, str]:
        """Branches or iterations side by side, between a fork point and a join point."""
        fork = Node(id=f"fork-{op['id']}", label=[], state=cluster.state, kind="join")
        join = Node(id=f"join-{op['id']}", label=[], state=cluster.state, kind="join")
        cluster.items.append(fork)
        keep = self.choose(op["id"], children, self.o.collapse_threshold, self.o.preview_count)
        hidden: list[dict[str, Any]] = []
        for index, child in enumerate(children):
            if keep is not None and index not in keep:
                hidden.append(child)
                continue
            item, child_entry, child_exit = self.block(child, depth + 1)
            cluster.items.append(item)
            self.edges += [(fork.id, child_entry), (child_exit, join.id)]
        if hidden:
            noun = "iterations" if op.get("subtype") == "Map" else "branches"
            summary = self.summary(op["id"], hidden, noun)
            cluster.items.append(summary)
            self.edges += [(fork.id, summary.id), (summary.id, join.id)]
        if not children:
            placeholder = self.placeholder(f"empty-{op['id']}", "(no branches yet)")
            cluster.items.append(placeholder)
            self.edges += [(fork.id, placeholder.id), (placeholder.id, join.id)]
        cluster.items.append(join)
        return fork.id, join.id

    # -- collapse

    def choose(
        self, key: str, children: list[dict[str, Any]], threshold: int, head: int, tail: int = 0
    ) -> set[int] | None:
        """The indexes of the children to draw, or None for all of them."""
        count = len(children)
        expanded = key in self.o.expanded
        if expanded:
            threshold = head = self.o.expanded_limit
            tail = 0
        over_budget = not expanded and self.drawn >= self.o.node_budget
        if count <= threshold and not (over_budget and count > head + tail + 1):
            return None
        keep = set(range(min(head, count))) | set(range(max(0, count - tail), count))
        # Past the budget even failures wait for a click: the summary still counts them
        # and takes the colour of the worst state it hides.
        room = 0 if over_budget else self.o.attention_limit
        if room:
            candidates = [
                (SEVERITY.get(operation_state(child), 0), index)
                for index, child in enumerate(children)
                if index not in keep and self.needs_attention(child)
            ]
            candidates.sort()
            keep.update(index for _, index in candidates[:room])
        return keep

    def needs_attention(self, op: dict[str, Any]) -> bool:
        """Did anything in this operation, or anywhere inside it, not succeed?"""
        return anywhere(op, lambda o: o.get("status") != "SUCCEEDED", self._attention)

    def on_failed_path(self, op: dict[str, Any]) -> bool:
        """Did this operation, or one anywhere inside it, fail or time out?"""
        failed = statuses.FAILED_OPERATION_STATUSES
        return anywhere(op, lambda o: o.get("status") in failed, self._failed)

    def summary(self, owner: str, hidden: list[dict[str, Any]], noun: str, gap: int = 1) -> Node:
        counts: dict[str, int] = {}
        worst = "succeeded"
        for child in hidden:
            status = child.get("status") or ""
            counts[status] = counts.get(status, 0) + 1
            state = operation_state(child)
            if SEVERITY.get(state, 0) < SEVERITY.get(worst, 0):
                worst = state
        ordered = sorted(counts.items(), key=lambda kv: (statuses.sort_key(kv[0]), kv[0]))
        parts = ", ".join(
            f"{n:,} {statuses.word(status) or 'not started'}" for status, n in ordered
        )
        # Already expanded and still too many: nothing more to click for.
        expandable = owner not in self.o.expanded and self.o.expand_url is not None
        url = self.o.expand_url(owner) if expandable and self.o.expand_url else ""
        hint = "Click to draw them all." if expandable else "Too many to draw."
        return Node(
            id=f"more-{owner}" if gap == 1 else f"more-{owner}-{gap}",
            label=[f"{len(hidden):,} more", clip(parts, LABEL_LIMIT)],
            state=worst,
            tooltip=clip_lines([f"{len(hidden):,} more {noun}: {parts}", hint], TOOLTIP_LIMIT),
            url=url,
            kind="summary",
            op_id=owner,
            shape="summary",
            counts=counts,
            failed_path=any(self.on_failed_path(child) for child in hidden),
        )

    # -- helpers

    def placeholder(self, node_id: str, text: str) -> Node:
        self.drawn += 1
        return Node(
            id=node_id, label=[text], state="not_started", kind="placeholder", shape="summary"
        )

    def _url(self, op: dict[str, Any]) -> str:
        return (self.o.node_url(op["id"]) or "") if self.o.node_url else ""


def anywhere(
    op: dict[str, Any], holds: Callable[[dict[str, Any]], bool], memo: dict[int, bool]
) -> bool:
    """Does `holds` hold for this operation or one anywhere inside it? Memoised (by the
    dicts' ids, in `memo`) and iterative, so asking at every level of a deep tree stays
    O(n) and far from the recursion limit."""
    stack: list[tuple[dict[str, Any], bool]] = [(op, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in memo:
            continue
        children = node.get("children") or []
        if holds(node):
            memo[id(node)] = True
        elif children_done:
            memo[id(node)] = any(memo[id(child)] for child in children)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return memo[id(op)]


def _cluster_detail(subtype: str, count: int) -> str:
    if subtype == "Map":
        return f"map · {plural(count, 'iteration')}"
    if subtype == "Parallel":
        return f"parallel · {plural(count, 'branch', 'branches')}"
    return KIND_WORDS.get(subtype) or clip(subtype, 30)


def _count(operations: list[dict[str, Any]]) -> int:
    total, stack = 0, list(operations)
    while stack:
        total += 1
        stack.extend(stack.pop().get("children") or [])
    return total


def build_graph(
    operations: list[dict[str, Any]],
    *,
    execution_status: str,
    rankdir: str = "TB",
    collapse_threshold: int = 25,
    preview_count: int = 3,
    expanded: Iterable[str] = frozenset(),
    node_url: Callable[[str], str] | None = None,
    child_url: Callable[[str], str | None] | None = None,
    expand_url: Callable[[str], str] | None = None,
    title: str | None = None,
    sequence_threshold: int = 100,
    attention_limit: int = 50,
    node_budget: int = 1500,
    expanded_limit: int = 500,
    execution_error: dict[str, Any] | None = None,
) -> Graph:
    """The graph model of one execution: see the module docstring for the options."""
    builder = _Builder(
        _Options(
            collapse_threshold=max(1, collapse_threshold),
            sequence_threshold=max(1, sequence_threshold),
            preview_count=max(0, preview_count),
            attention_limit=max(0, attention_limit),
            node_budget=max(1, node_budget),
            expanded=frozenset(expanded),
            expanded_limit=max(1, expanded_limit),
            node_url=node_url,
            child_url=child_url,
            expand_url=expand_url,
        )
    )
    graph = Graph(rankdir=rankdir if rankdir in RANKDIRS else "TB", title=clip(title or "", 200))
    status = execution_status or ""
    start = Node(
        id="start",
        label=["Start"],
        state="succeeded",
        kind="start",
        tooltip=clip(title or "Start", 200),
        shape="terminal",
    )
    end_label, end_tip = end_lines(status, execution_error)
    end = Node(
        id="end",
        label=end_label,
        state=execution_state(status),
        kind="end",
        tooltip=end_tip,
        shape="terminal",
        failed_path=status in statuses.FAILED_STATUSES,
    )
    graph.items.append(start)
    if operations:
        entry, exit_ = builder.sequence(graph.items, operations, ROOT, 0)
        builder.edges += [(start.id, entry), (exit_, end.id)]
    else:
        builder.edges.append((start.id, end.id))
    graph.items.append(end)
    graph.edges = builder.edges
    return graph


def build_dot(operations: list[dict[str, Any]], *, execution_status: str, **options: Any) -> str:
    """Graphviz DOT text of one execution: `to_dot(build_graph(...))`, with the same
    options as build_graph."""
    return to_dot(build_graph(operations, execution_status=execution_status, **options))
