"""Operation tree (plain data) -> a graph model -> graphviz DOT. No Django here.

Input: the nested operations of one execution, as `executions.tree.nested()` returns
them (dicts with id, type, subtype, name, status, started_at, ended_at, attempt_count,
wait_seconds, wait_scheduled_end, invoke_function, child_execution_arn, children).

The graph is a vertical flow from Start to End. Leaf operations are nodes; contexts
are clusters: a Parallel or a Map fans out to its branches or iterations (each its own
sub-flow, side by side) and joins again; RunInChildContext and WaitForCallback wrap
their operations in a labelled cluster. Nesting is arbitrary: the builder recurses.

A Map or Parallel with more children than `collapse_threshold` draws the first
`preview_count`, every child that did not succeed, and one summary node for the rest
("9,970 more: 9,950 succeeded, 20 failed"), unless its id is in `expanded`.

Every label, tooltip, id and URL is escaped for DOT, and graphviz escapes text for SVG,
so any name renders as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from visualizer.style import FONT, STATES, execution_state, operation_state

LABEL_LIMIT = 60
TOOLTIP_LIMIT = 500
FANOUT_SUBTYPES = {"Parallel", "Map"}


# ---- the model ------------------------------------------------------------------------


@dataclass
class Node:
    id: str
    label: list[str]  # lines
    state: str
    tooltip: str = ""
    url: str = ""
    kind: str = "operation"  # operation, start, end, summary, join
    op_id: str = ""


@dataclass
class Cluster:
    id: str
    label: str
    state: str
    kind: str  # the context's subtype
    op_id: str = ""
    items: list[Node | Cluster] = field(default_factory=list)
    tooltip: str = ""
    url: str = ""


@dataclass
class Graph:
    items: list[Node | Cluster] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    rankdir: str = "TB"
    title: str = ""

    def walk(self) -> Iterable[Node | Cluster]:
        stack: list[Node | Cluster] = list(self.items)
        while stack:
            item = stack.pop()
            yield item
            if isinstance(item, Cluster):
                stack.extend(item.items)

    @property
    def nodes(self) -> dict[str, Node]:
        return {i.id: i for i in self.walk() if isinstance(i, Node)}

    @property
    def clusters(self) -> dict[str, Cluster]:
        return {i.id: i for i in self.walk() if isinstance(i, Cluster)}


# ---- text -----------------------------------------------------------------------------


def clip(text: Any, limit: int) -> str:
    text = " ".join(str(text).split())  # newlines and tabs become spaces
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration(op: dict) -> str:
    start, end = op.get("started_at"), op.get("ended_at")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _seconds(value: Any) -> str:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return ""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _detail(op: dict) -> str:
    """The second line of an operation's label: what kind of thing it is."""
    kind, sub = op.get("type"), op.get("subtype")
    attempts = op.get("attempt_count") or 0
    if sub == "WaitForCondition":
        return f"condition · {attempts} attempt{'s' if attempts != 1 else ''}"
    if kind == "WAIT":
        if op.get("wait_seconds") is not None:
            return f"wait {_seconds(op['wait_seconds'])}"
        end = op.get("wait_scheduled_end")
        return f"wait until {end:%H:%M:%S}" if isinstance(end, datetime) else "wait"
    if kind == "CHAINED_INVOKE":
        return f"invoke {op.get('invoke_function') or ''}".strip()
    if kind == "CALLBACK":
        return "callback"
    if kind == "STEP" and attempts > 1:
        return f"step · {attempts} attempts"
    return (sub or kind or "").lower() if sub not in (None, "Step") else "step"


def _tooltip(op: dict) -> str:
    parts = [
        clip(op.get("name") or op.get("id"), 200),
        f"{op.get('subtype') or op.get('type')}",
        f"status {str(op.get('status', '')).lower()}",
    ]
    if duration(op):
        parts.append(duration(op))
    if (op.get("attempt_count") or 0) > 1:
        parts.append(f"{op['attempt_count']} attempts")
    return clip(" · ".join(parts), TOOLTIP_LIMIT)


# ---- building -------------------------------------------------------------------------


@dataclass
class _Options:
    collapse_threshold: int
    preview_count: int
    expanded: frozenset[str]
    node_url: Callable[[str], str] | None
    child_url: Callable[[str], str | None] | None
    expand_url: Callable[[str], str] | None


class _Builder:
    def __init__(self, options: _Options) -> None:
        self.o = options
        self.edges: list[tuple[str, str]] = []

    def _url(self, op: dict) -> str:
        return self.o.node_url(op["id"]) if self.o.node_url else ""

    def leaf(self, op: dict) -> tuple[Node, str, str]:
        name = op.get("name") or op.get("subtype") or op.get("type") or op["id"]
        if op.get("type") == "CALLBACK":
            name = str(name).removesuffix(" create callback id")
        url = self._url(op)
        if (
            op.get("type") == "CHAINED_INVOKE"
            and op.get("child_execution_arn")
            and self.o.child_url
        ):
            url = self.o.child_url(op["child_execution_arn"]) or url
        node = Node(
            id=f"op-{op['id']}",
            label=[clip(name, LABEL_LIMIT), _detail(op)],
            state=operation_state(op),
            tooltip=_tooltip(op),
            url=url,
            op_id=op["id"],
        )
        return node, node.id, node.id

    def block(self, op: dict) -> tuple[Node | Cluster, str, str]:
        """Draw one operation; return (item, entry node id, exit node id)."""
        if op.get("type") != "CONTEXT":
            return self.leaf(op)
        cluster = Cluster(
            id=f"cluster-op-{op['id']}",
            label=clip(op.get("name") or op.get("subtype") or "context", LABEL_LIMIT),
            state=operation_state(op),
            kind=op.get("subtype") or "Context",
            op_id=op["id"],
            tooltip=_tooltip(op),
            url=self._url(op),
        )
        children = op.get("children") or []
        if op.get("subtype") in FANOUT_SUBTYPES:
            entry, exit_ = self.fanout(cluster, op, children)
        else:
            entry, exit_ = self.sequence(cluster.items, children, op)
        return cluster, entry, exit_

    def sequence(
        self, items: list[Node | Cluster], children: list[dict], owner: dict | None
    ) -> tuple[str, str]:
        """Children one after another; an empty context still gets a node to connect."""
        if not children:
            placeholder = Node(
                id=f"empty-{owner['id']}" if owner else "empty",
                label=["(no operations yet)" if owner else "(no operations)"],
                state="not_started",
                kind="placeholder",
            )
            items.append(placeholder)
            return placeholder.id, placeholder.id
        entry = previous = ""
        for child in children:
            item, child_entry, child_exit = self.block(child)
            items.append(item)
            if previous:
                self.edges.append((previous, child_entry))
            else:
                entry = child_entry
            previous = child_exit
        return entry, previous

    def fanout(self, cluster: Cluster, op: dict, children: list[dict]) -> tuple[str, str]:
        fork = Node(id=f"fork-{op['id']}", label=[], state=cluster.state, kind="join")
        join = Node(id=f"join-{op['id']}", label=[], state=cluster.state, kind="join")
        cluster.items.append(fork)
        shown, hidden = self.visible(op, children)
        for child in shown:
            item, child_entry, child_exit = self.block(child)
            cluster.items.append(item)
            self.edges.append((fork.id, child_entry))
            self.edges.append((child_exit, join.id))
        if hidden:
            summary = self.summary(op, hidden)
            cluster.items.append(summary)
            self.edges.append((fork.id, summary.id))
            self.edges.append((summary.id, join.id))
        if not children:
            placeholder = Node(
                id=f"empty-{op['id']}", label=["(no branches yet)"], state="not_started",
                kind="placeholder",
            )  # fmt: skip
            cluster.items.append(placeholder)
            self.edges += [(fork.id, placeholder.id), (placeholder.id, join.id)]
        cluster.items.append(join)
        return fork.id, join.id

    def visible(self, op: dict, children: list[dict]) -> tuple[list[dict], list[dict]]:
        if len(children) <= self.o.collapse_threshold or op["id"] in self.o.expanded:
            return children, []
        shown, hidden = [], []
        for index, child in enumerate(children):
            if index < self.o.preview_count or _needs_attention(child):
                shown.append(child)
            else:
                hidden.append(child)
        return shown, hidden

    def summary(self, op: dict, hidden: list[dict]) -> Node:
        counts: dict[str, int] = {}
        for child in hidden:
            counts[child.get("status", "")] = counts.get(child.get("status", ""), 0) + 1
        parts = ", ".join(f"{n:,} {status.lower()}" for status, n in sorted(counts.items()))
        return Node(
            id=f"more-{op['id']}",
            label=[f"{len(hidden):,} more", clip(parts, LABEL_LIMIT)],
            state="succeeded" if set(counts) == {"SUCCEEDED"} else "not_started",
            tooltip=clip(f"{len(hidden):,} more: {parts}. Click to expand.", TOOLTIP_LIMIT),
            url=self.o.expand_url(op["id"]) if self.o.expand_url else "",
            kind="summary",
            op_id=op["id"],
        )


def _needs_attention(op: dict) -> bool:
    """Anything that did not simply succeed, anywhere inside it, is always drawn."""
    if op.get("status") != "SUCCEEDED":
        return True
    return any(_needs_attention(child) for child in op.get("children") or [])


def build_graph(
    operations: list[dict],
    *,
    execution_status: str,
    rankdir: str = "TB",
    collapse_threshold: int = 25,
    preview_count: int = 3,
    expanded: Iterable[str] = (),
    node_url: Callable[[str], str] | None = None,
    child_url: Callable[[str], str | None] | None = None,
    expand_url: Callable[[str], str] | None = None,
    title: str = "",
) -> Graph:
    builder = _Builder(
        _Options(
            collapse_threshold=max(1, collapse_threshold),
            preview_count=max(0, preview_count),
            expanded=frozenset(expanded),
            node_url=node_url,
            child_url=child_url,
            expand_url=expand_url,
        )
    )
    graph = Graph(rankdir="LR" if rankdir == "LR" else "TB", title=title)
    start = Node(id="start", label=["Start"], state="succeeded", kind="start")
    end_state = execution_state(execution_status)
    end_label = "End" if execution_status == "SUCCEEDED" else f"End · {execution_status.lower()}"
    if execution_status in ("RUNNING", "PAUSING", "PAUSED"):
        end_label = f"End · {execution_status.lower()}"
    end = Node(id="end", label=[end_label], state=end_state, kind="end")
    graph.items.append(start)
    if operations:
        entry, exit_ = builder.sequence(graph.items, operations, None)
        builder.edges.append((start.id, entry))
        builder.edges.append((exit_, end.id))
    else:
        builder.edges.append((start.id, end.id))
    graph.items.append(end)
    graph.edges = builder.edges
    return graph


# ---- DOT ------------------------------------------------------------------------------


def q(text: Any) -> str:
    """A DOT double-quoted string that graphviz shows as exactly this text.

    Backslashes are doubled (graphviz would read \\n, \\N, \\G… as escapes), quotes are
    escaped, and control characters dropped. The SVG writer escapes <, > and & itself.
    """
    text = "".join(ch for ch in str(text) if ch >= " " or ch == "\t")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def url_attr(url: str) -> str:
    """Make a URL safe for graphviz, which writes URL attributes into SVG unescaped:
    percent-encode all but URL syntax, and write & as the XML entity it must be."""
    return quote(url, safe="/?=&#:;%.-_~+,@!$*()[]").replace("&", "&amp;")


def _label(lines: list[str]) -> str:
    # Escape each line, then join with graphviz's centred line break.
    escaped = [q(line)[1:-1] for line in lines if line]
    return '"' + "\\n".join(escaped) + '"'


def _node_dot(node: Node, indent: str) -> str:
    style = STATES[node.state]
    attrs = {"id": q(node.id)}
    if node.kind == "join":
        attrs.update(shape="point", width="0.08", color=q(style.border), label='""')
    elif node.kind in ("start", "end"):
        attrs.update(
            shape="box", style=q("rounded,filled,bold"), fillcolor=q(style.fill),
            color=q(style.border), fontcolor=q(style.text), label=_label(node.label),
        )  # fmt: skip
    else:
        dashed = ",dashed" if node.kind in ("summary", "placeholder") else ""
        attrs.update(
            shape="box", style=q(f"rounded,filled{dashed}"), fillcolor=q(style.fill),
            color=q(style.border), fontcolor=q(style.text), label=_label(node.label),
        )  # fmt: skip
    if node.tooltip:
        attrs["tooltip"] = q(node.tooltip)
    if node.url:
        attrs["URL"] = q(url_attr(node.url))
        attrs["target"] = q("_top")
    body = ", ".join(f"{k}={v}" for k, v in attrs.items())
    return f"{indent}{q(node.id)} [{body}];"


def _cluster_dot(cluster: Cluster, indent: str) -> list[str]:
    style = STATES[cluster.state]
    fanout = cluster.kind in FANOUT_SUBTYPES
    lines = [
        f"{indent}subgraph {q(cluster.id)} {{",
        f"{indent}  id={q(cluster.id)};",
        # Labels on the left keep them clear of the edges that enter at the centre.
        f"{indent}  labeljust=l;",
        f"{indent}  label={_label([cluster.label, cluster.kind])};",
        f"{indent}  style={q('rounded,dashed' if not fanout else 'rounded')};",
        f"{indent}  color={q(style.border)}; fontcolor={q(style.text)};",
        f"{indent}  penwidth={'1.6' if fanout else '1'};",
    ]
    if cluster.tooltip:
        lines.append(f"{indent}  tooltip={q(cluster.tooltip)};")
    if cluster.url:
        lines.append(f"{indent}  URL={q(url_attr(cluster.url))}; target={q('_top')};")
    for item in cluster.items:
        lines.extend(_item_dot(item, indent + "  "))
    lines.append(f"{indent}}}")
    return lines


def _item_dot(item: Node | Cluster, indent: str) -> list[str]:
    return _cluster_dot(item, indent) if isinstance(item, Cluster) else [_node_dot(item, indent)]


def to_dot(graph: Graph) -> str:
    lines = [
        "digraph execution {",
        f"  graph [rankdir={graph.rankdir}, fontname={q(FONT)}, fontsize=11, nodesep=0.3,"
        f' ranksep=0.35, compound=true, newrank=true, bgcolor="transparent",'
        f" id={q('execution-graph')}, tooltip={q(graph.title or 'Execution graph')}];",
        f'  node [fontname={q(FONT)}, fontsize=11, margin="0.15,0.06", height=0.4];',
        '  edge [color="#8a8f98", arrowsize=0.6];',
    ]
    for item in graph.items:
        lines.extend(_item_dot(item, "  "))
    for source, target in graph.edges:
        lines.append(f"  {q(source)} -> {q(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_dot(operations: list[dict], *, execution_status: str, **options: Any) -> str:
    """Convenience: `to_dot(build_graph(...))`."""
    return to_dot(build_graph(operations, execution_status=execution_status, **options))
