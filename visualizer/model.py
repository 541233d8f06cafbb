"""The graph model of one execution: nodes, clusters (contexts) and edges, plain data
that the tests assert on and visualizer/dot.py writes as DOT."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Node:
    id: str
    label: list[str]  # lines: the name, then what it is
    state: str  # a key of style.STATES
    tooltip: str = ""  # lines separated by "\n"
    url: str = ""
    # operation, child (an operation linking to its child execution), start, end, summary,
    # join or placeholder
    kind: str = "operation"
    op_id: str = ""  # the operation (for a summary: the fan-out or sequence owner)
    shape: str = "step"  # a key of style.SHAPES
    counts: dict[str, int] = field(default_factory=dict)  # summary: hidden, by status
    # It failed, or (a summary) hides a failure: on the way to what went wrong.
    failed_path: bool = False


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
    # It failed or holds an operation that did: the frame shows the way to the failure.
    failed_path: bool = False
    # The node its flow begins with (a fork point, or its first operation's): the label
    # is drawn beside it, where no edge runs (visualizer/dot.py).
    entry: str = ""


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
