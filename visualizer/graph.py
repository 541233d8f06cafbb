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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from visualizer.style import (
    EDGE_COLOUR,
    FONT,
    SEVERITY,
    SHAPES,
    STATES,
    STATUS_WORDS,
    execution_state,
    operation_state,
    shape_key,
)

LABEL_LIMIT = 60
TOOLTIP_LIMIT = 500
FANOUT_SUBTYPES = frozenset({"Parallel", "Map"})
# The key of the top-level sequence, for `expanded` and `expand_url` (operation ids are
# hashes, so it cannot clash with one).
ROOT = "execution"
# Contexts nested deeper than this are drawn as one node: it keeps the builder's
# recursion far from Python's limit, and graphviz cannot draw such depth legibly anyway.
MAX_DEPTH = 100
RANKDIRS = frozenset({"TB", "LR", "BT", "RL"})

KIND_WORDS = {
    "Parallel": "parallel",
    "ParallelBranch": "branch",
    "Map": "map",
    "MapIteration": "iteration",
    "WaitForCallback": "wait for callback",
    "RunInChildContext": "child context",
}


# ---- the model ------------------------------------------------------------------------


@dataclass
class Node:
    id: str
    label: list[str]  # lines: the name, then what it is
    state: str  # a key of style.STATES
    tooltip: str = ""  # lines separated by "\n"
    url: str = ""
    kind: str = "operation"  # operation, start, end, summary, join, placeholder
    op_id: str = ""  # the operation (for a summary: the fan-out or sequence owner)
    shape: str = "step"  # a key of style.SHAPES
    counts: dict[str, int] = field(default_factory=dict)  # summary: hidden, by status


@dataclass
class Cluster:
    id: str
    label: str  # the context's name
    detail: str  # what it is: "map · 5 iterations"
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

    def walk(self) -> Iterator[Node | Cluster]:
        """Every node and cluster, depth first."""
        stack: list[Node | Cluster] = list(reversed(self.items))
        while stack:
            item = stack.pop()
            yield item
            if isinstance(item, Cluster):
                stack.extend(reversed(item.items))

    @property
    def nodes(self) -> dict[str, Node]:
        return {i.id: i for i in self.walk() if isinstance(i, Node)}

    @property
    def clusters(self) -> dict[str, Cluster]:
        return {i.id: i for i in self.walk() if isinstance(i, Cluster)}


# ---- text -----------------------------------------------------------------------------


def clip(text: Any, limit: int) -> str:
    """One line of at most `limit` characters: newlines and tabs become spaces, other
    control characters go (graphviz and XML have no use for them)."""
    text = " ".join(str(text).split())
    if not text.isprintable():
        text = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def span(seconds: float) -> str:
    """A duration for people: 350 ms, 4.2 s, 2 min 5 s, 3 h 10 min, 2 d 4 h."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds % 1 else f"{seconds:.0f} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next(i for i, (value, _) in enumerate(units) if value)
    # The two most significant units are enough to read at a glance.
    return " ".join(f"{v} {u}" for v, u in units[first : first + 2] if v)


def duration(op: dict[str, Any]) -> str:
    start, end = op.get("started_at"), op.get("ended_at")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return ""
    return span((end - start).total_seconds())


def when(value: Any) -> str:
    """A timestamp (datetime or ISO text) as `2026-11-22 22:43:16 UTC`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return clip(value, 40)
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _plural(count: int, word: str, words: str = "") -> str:
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def _name(op: dict[str, Any]) -> str:
    name = str(op.get("name") or op.get("subtype") or op.get("type") or op["id"])
    if op.get("type") == "CALLBACK":
        # The SDK names a WaitForCallback's callback "<name> create callback id"; the
        # cluster around it already carries <name>.
        name = name.removesuffix(" create callback id")
    return name


def _detail(op: dict[str, Any]) -> str:
    """The second line of an operation's label: what kind of thing it is."""
    kind, sub = op.get("type"), op.get("subtype")
    attempts = op.get("attempt_count") or 0
    if sub == "WaitForCondition":
        return f"condition · {_plural(attempts, 'attempt')}"
    if kind == "WAIT":
        if op.get("wait_seconds") is not None:
            try:
                return f"wait {span(float(op['wait_seconds']))}"
            except (TypeError, ValueError):
                pass
        end = when(op.get("wait_scheduled_end"))
        return f"wait until {end}" if end else "wait"
    if kind == "CHAINED_INVOKE":
        return clip(f"invoke {op.get('invoke_function') or ''}".strip(), LABEL_LIMIT)
    if kind == "CALLBACK":
        return "callback"
    # A plain step, a custom step subtype as it is, or an unknown type's subtype.
    word = "step" if sub in (None, "", "Step") else KIND_WORDS.get(sub, clip(sub, 30))
    return f"{word} · {attempts:,} attempts" if kind == "STEP" and attempts > 1 else word


def _tooltip(op: dict[str, Any]) -> str:
    facts = [str(op.get("subtype") or op.get("type") or "operation"), _status_word(op)]
    if duration(op):
        facts.append(duration(op))
    if (op.get("attempt_count") or 0) > 1:
        facts.append(f"{op['attempt_count']:,} attempts")
    lines = [clip(_name(op), 200), " · ".join(facts)]
    if op.get("started_at"):
        lines.append(f"started {when(op['started_at'])}")
    if op.get("type") == "WAIT" and op.get("wait_scheduled_end"):
        lines.append(f"until {when(op['wait_scheduled_end'])}")
    if op.get("invoke_function"):
        lines.append(clip(f"function {op['invoke_function']}", 200))
    if op.get("child_execution_arn"):
        lines.append(clip(f"child execution {op['child_execution_arn']}", 200))
    error = op.get("error")
    if isinstance(error, dict) and (error.get("ErrorType") or error.get("ErrorMessage")):
        message = ": ".join(str(error[k]) for k in ("ErrorType", "ErrorMessage") if error.get(k))
        lines.append(clip(f"error {message}", 200))
    return _clip_lines(lines, TOOLTIP_LIMIT)


def _status_word(op: dict[str, Any]) -> str:
    status = op.get("status") or ""
    state = operation_state(op)
    if status == "PENDING":
        polled = op.get("subtype") == "WaitForCondition"
        return "next poll scheduled" if polled else "retry scheduled"
    if state == "waiting":
        return "waiting"  # a pending callback or a running timer, not "running"
    return STATUS_WORDS.get(status, status.lower()) or "not started"


def _clip_lines(lines: list[str], limit: int) -> str:
    text = "\n".join(clip(line, limit) for line in lines if line)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- building -------------------------------------------------------------------------


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

    # -- operations

    def block(self, op: dict[str, Any], depth: int) -> tuple[Node | Cluster, str, str]:
        """Draw one operation; return (item, entry node id, exit node id)."""
        children = op.get("children") or []
        if op.get("type") == "CONTEXT" or children:
            if depth < MAX_DEPTH:
                return self.context(op, children, depth)
            hidden = _count(children)
            return self.leaf(op, detail=f"{_plural(hidden, 'operation')} nested deeper")
        return self.leaf(op)

    def leaf(self, op: dict[str, Any], detail: str = "") -> tuple[Node, str, str]:
        url = self._url(op)
        if op.get("child_execution_arn") and self.o.child_url:
            # Linked to the child execution when the mirror has it, else to its panel.
            url = self.o.child_url(op["child_execution_arn"]) or url
        node = Node(
            id=f"op-{op['id']}",
            label=[clip(_name(op), LABEL_LIMIT), detail or _detail(op)],
            state=operation_state(op),
            tooltip=_tooltip(op),
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
            label=clip(_name(op), LABEL_LIMIT),
            detail=_cluster_detail(subtype, len(children)),
            state=operation_state(op),
            kind=subtype,
            op_id=op["id"],
            tooltip=_tooltip(op),
            url=self._url(op),
        )
        self.drawn += 1
        if op.get("type") != "CONTEXT":
            # Not a context but has children (no SDK does this today): draw the operation
            # itself first, then what hangs off it, rather than drop them.
            children = [{**op, "children": []}, *children]
        if subtype in FANOUT_SUBTYPES:
            entry, exit_ = self.fanout(cluster, op, children, depth)
        else:
            entry, exit_ = self.sequence(cluster.items, children, op["id"], depth)
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
        """Did anything in this operation, or anywhere inside it, not succeed?

        Memoised and iterative, so asking at every level of a deep tree stays O(n)."""
        memo = self._attention
        stack: list[tuple[dict[str, Any], bool]] = [(op, False)]
        while stack:
            node, children_done = stack.pop()
            if id(node) in memo:
                continue
            children = node.get("children") or []
            if node.get("status") != "SUCCEEDED":
                memo[id(node)] = True
            elif children_done:
                memo[id(node)] = any(memo[id(child)] for child in children)
            else:
                stack.append((node, True))
                stack.extend((child, False) for child in children)
        return memo[id(op)]

    def summary(self, owner: str, hidden: list[dict[str, Any]], noun: str, gap: int = 1) -> Node:
        counts: dict[str, int] = {}
        worst = "succeeded"
        for child in hidden:
            status = child.get("status") or ""
            counts[status] = counts.get(status, 0) + 1
            state = operation_state(child)
            if SEVERITY.get(state, 0) < SEVERITY.get(worst, 0):
                worst = state
        order = list(STATUS_WORDS)
        ordered = sorted(counts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order
                                                         else len(order), kv[0]))  # fmt: skip
        parts = ", ".join(
            f"{n:,} {STATUS_WORDS.get(status, status.lower() or 'not started')}"
            for status, n in ordered
        )
        # Already expanded and still too many: nothing more to click for.
        expandable = owner not in self.o.expanded and self.o.expand_url is not None
        url = self.o.expand_url(owner) if expandable and self.o.expand_url else ""
        hint = "Click to draw them all." if expandable else "Too many to draw."
        return Node(
            id=f"more-{owner}" if gap == 1 else f"more-{owner}-{gap}",
            label=[f"{len(hidden):,} more", clip(parts, LABEL_LIMIT)],
            state=worst,
            tooltip=_clip_lines([f"{len(hidden):,} more {noun}: {parts}", hint], TOOLTIP_LIMIT),
            url=url,
            kind="summary",
            op_id=owner,
            shape="summary",
            counts=counts,
        )

    # -- helpers

    def placeholder(self, node_id: str, text: str) -> Node:
        self.drawn += 1
        return Node(id=node_id, label=[text], state="not_started", kind="placeholder",
                    shape="summary")  # fmt: skip

    def _url(self, op: dict[str, Any]) -> str:
        return (self.o.node_url(op["id"]) or "") if self.o.node_url else ""


def _cluster_detail(subtype: str, count: int) -> str:
    if subtype == "Map":
        return f"map · {_plural(count, 'iteration')}"
    if subtype == "Parallel":
        return f"parallel · {_plural(count, 'branch', 'branches')}"
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
    word = STATUS_WORDS.get(status) or status.lower().replace("_", " ") or "running"
    start = Node(id="start", label=["Start"], state="succeeded", kind="start",
                 tooltip=clip(title or "Start", 200), shape="terminal")  # fmt: skip
    end = Node(id="end", label=["End", word], state=execution_state(status), kind="end",
               tooltip=f"Execution {word}", shape="terminal")  # fmt: skip
    graph.items.append(start)
    if operations:
        entry, exit_ = builder.sequence(graph.items, operations, ROOT, 0)
        builder.edges += [(start.id, entry), (exit_, end.id)]
    else:
        builder.edges.append((start.id, end.id))
    graph.items.append(end)
    graph.edges = builder.edges
    return graph


# ---- DOT ------------------------------------------------------------------------------


def _escape(value: Any, backslashes: int) -> str:
    value = "".join(ch for ch in str(value) if ch >= " " and ch != "\x7f")
    return value.replace("\\", "\\" * backslashes).replace('"', '\\"')


def q(value: Any) -> str:
    """A DOT double-quoted string that graphviz reads back as exactly this text, for
    names and for attributes graphviz reads as escStrings (ids, labels).

    Backslashes are doubled (graphviz would read \\n, \\N, \\G… as escapes), quotes are
    escaped, and control characters dropped (a raw newline or NUL has no business in
    an id and graphviz treats some of them specially).
    """
    return '"' + _escape(value, 2) + '"'


def ident(value: str) -> str:
    """An `id` attribute: graphviz writes it into the SVG with HTML entities left as
    they are, so & is written as &amp; to come out as itself."""
    return q(str(value).replace("&", "&amp;"))


def text(value: str, left: bool = False) -> str:
    """A label people read: like `ident()` (graphviz decodes HTML entities in labels,
    so `&lt;` would show as `<`); lines split on "\\n" become graphviz's centred line
    breaks, or left-justified ones (\\l) with `left`."""
    lines = [_escape(line, 2) for line in str(value).replace("&", "&amp;").split("\n")]
    if left:
        return '"' + "".join(line + "\\l" for line in lines) + '"'
    return '"' + "\\n".join(lines) + '"'


def tip(value: str) -> str:
    """A tooltip: like `text()`, but graphviz unescapes a tooltip twice (once for \\n
    and the like, then for \\N, \\G, \\L substitutions), so a literal backslash takes
    four."""
    lines = [_escape(line, 4) for line in str(value).replace("&", "&amp;").split("\n")]
    return '"' + "\\n".join(lines) + '"'


_SAFE_URL = "/?=&#:;%.-_~+,@!$*()[]"


def url_attr(url: str) -> str:
    """Make a URL safe for graphviz, which writes URL attributes into SVG unescaped.

    Only relative URLs and http(s) pass (no javascript:); everything but URL syntax is
    percent-encoded (so no quote, <, > or space survives), and & becomes the XML entity
    it must be inside an attribute."""
    url = str(url).strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return ""
    if scheme not in ("", "http", "https"):
        return ""
    return quote(url, safe=_SAFE_URL).replace("&", "&amp;")


def _classes(*names: str) -> str:
    # Class names from our own vocabulary only: lower case, no spaces inside one.
    return q(" ".join(name.lower().replace(" ", "-") for name in names if name))


def _node_dot(node: Node, indent: str) -> str:
    colours = STATES[node.state]
    attrs: dict[str, str] = {"id": ident(node.id)}
    if node.kind == "join":
        attrs.update(shape="point", width="0.08", color=q(colours.border), label='""',
                     **{"class": _classes("join", f"state-{node.state}")})  # fmt: skip
    else:
        shape = SHAPES[node.shape]
        kind = "op" if node.kind == "operation" else node.kind
        attrs.update(
            {"class": _classes(kind, node.shape, f"state-{node.state}")},
            shape=shape.shape,
            style=q(",".join(filter(None, ["filled", shape.style]))),
            fillcolor=q(colours.fill),
            color=q(colours.border),
            fontcolor=q(colours.text),
            label=text("\n".join(line for line in node.label if line)),
        )
        if shape.peripheries > 1:
            attrs["peripheries"] = str(shape.peripheries)
    if node.tooltip:
        attrs["tooltip"] = tip(node.tooltip)
    url = url_attr(node.url) if node.url else ""
    if url:
        attrs["URL"] = q(url)
        attrs["target"] = q("_top")
    body = ", ".join(f"{k}={v}" for k, v in attrs.items())
    return f"{indent}{q(node.id)} [{body}];"


def _cluster_dot(cluster: Cluster, indent: str) -> list[str]:
    colours = STATES[cluster.state]
    fanout = cluster.kind in FANOUT_SUBTYPES
    inner = indent + "  "
    label = f"{cluster.label}\n{cluster.detail}"
    lines = [
        f"{indent}subgraph {q(cluster.id)} {{",
        f"{inner}id={ident(cluster.id)};",
        f"{inner}class={_classes('context', cluster.kind, f'state-{cluster.state}')};",
        # Labels on the left keep them clear of the edges that enter at the centre.
        f"{inner}label={text(label, left=True)}; labeljust=l;",
        # Fan-outs are solid: they are the structure; other contexts are dashed wrappers.
        f"{inner}style={q('rounded' if fanout else 'rounded,dashed')};"
        f" penwidth={'1.6' if fanout else '1'};",
        f"{inner}color={q(colours.border)}; fontcolor={q(colours.text)};",
    ]
    if cluster.tooltip:
        lines.append(f"{inner}tooltip={tip(cluster.tooltip)};")
    url = url_attr(cluster.url) if cluster.url else ""
    if url:
        lines.append(f"{inner}URL={q(url)}; target={q('_top')};")
    for item in cluster.items:
        lines.extend(_item_dot(item, inner))
    lines.append(f"{indent}}}")
    return lines


def _item_dot(item: Node | Cluster, indent: str) -> list[str]:
    return _cluster_dot(item, indent) if isinstance(item, Cluster) else [_node_dot(item, indent)]


def to_dot(graph: Graph) -> str:
    lines = [
        "digraph execution {",
        f"  graph [rankdir={graph.rankdir}, fontname={q(FONT)}, fontsize=11, nodesep=0.3,"
        f' ranksep=0.35, newrank=true, bgcolor="transparent",'
        f" id={q('execution-graph')}, tooltip={tip(graph.title or 'Execution graph')}];",
        f'  node [fontname={q(FONT)}, fontsize=11, margin="0.15,0.06", height=0.4];',
        f"  edge [color={q(EDGE_COLOUR)}, arrowsize=0.6];",
    ]
    for item in graph.items:
        lines.extend(_item_dot(item, "  "))
    for source, target in graph.edges:
        lines.append(f"  {q(source)} -> {q(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_dot(operations: list[dict[str, Any]], *, execution_status: str, **options: Any) -> str:
    """Graphviz DOT text of one execution: `to_dot(build_graph(...))`, with the same
    options as build_graph."""
    return to_dot(build_graph(operations, execution_status=execution_status, **options))
