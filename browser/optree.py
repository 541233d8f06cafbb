"""An execution's operation tree as the tabs read it: without payloads, in one query,
with the rows of the operations table (large maps and parallels collapsed, children in
chunks) and the cache key of every fragment rendered from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Count

from domain import operations, status
from executions import nodes, tree
from executions.models import Execution, Operation

# Maps and parallels with more children than this start collapsed, showing counts.
COLLAPSE_CHILDREN = 25
# Children of one parent (or top-level operations) are rendered in chunks of this size.
CHILD_CHUNK = 200
CACHE_SECONDS = 60 * 60 * 24
T = TypeVar("T")


# The tree's nodes are the fold's (executions.tree.OperationNode), loaded without payloads.
TreeNode = tree.OperationNode


@dataclass
class OperationTree:
    roots: list[TreeNode]
    by_id: dict[str, TreeNode]
    last_event_id: int
    # A part of the tree (visible_tree): per parent, the index of its first loaded child,
    # and how many children each operation ("" for the top level) has in all.
    starts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.by_id)

    def total_children(self, parent_id: str | None) -> int:
        if self.totals is not None:
            return self.totals.get(parent_id or "", 0)
        return len(self.children_of(parent_id))

    def children_of(self, parent_id: str | None) -> list[TreeNode]:
        if not parent_id:
            return self.roots
        node = self.by_id.get(parent_id)
        return node.children if node else []

    def ancestors(self, node: TreeNode) -> list[TreeNode]:
        chain = []
        parent = self.by_id.get(node.parent_operation_id or "")
        while parent is not None and len(chain) < 1000:
            chain.append(parent)
            parent = self.by_id.get(parent.parent_operation_id or "")
        return list(reversed(chain))


def tree_cache_key(execution: Execution, kind: str, *parts: Any) -> str:
    """Cache keys carry the execution's id and mirror_state (last event id, status, whether
    the history is complete): a new event or status makes a new key."""
    suffix = ":".join(str(p) for p in parts)
    return f"browser:{kind}:{execution.pk}:{execution.mirror_state}:{suffix}"


def cached(
    execution: Execution,
    kind: str,
    parts: Iterable[Any],
    compute: Callable[[], T],
    seconds: int = CACHE_SECONDS,
) -> T:
    """What is computed from the execution's mirror (a rendered fragment, an SVG, a list),
    computed once per (execution, mirror state, kind, parts) and kept in the cache: a new
    event makes a new key, so nothing cached is ever stale."""
    return cache.get_or_set(tree_cache_key(execution, kind, *parts), compute, seconds)


def operation_tree(execution: Execution) -> OperationTree:
    """The execution's tree, without payloads, in one query.

    The tree object itself is not cached: at 10,000 operations, serializing it to Redis and
    back costs more than this query. What is cached is what is rendered from it (cached()
    below, by tree_cache_key).
    """
    by_id = nodes.load_nodes(execution, nodes.LIGHT_COLUMNS)
    return OperationTree(tree.link(by_id), by_id, execution.last_event_id)


def visible_tree(
    execution: Execution,
    *,
    expand: Iterable[str] = (),
    parent_id: str = "",
    offset: int = 0,
    chunk: int = CHILD_CHUNK,
) -> OperationTree:
    """The part of the tree that tree_rows() shows with the same arguments (and the parent
    and its ancestors), read without the rest: the operations below a collapsed map stay
    in the database, which counts them. A level of the tree per query, each parent's
    children in chunks; 10,000 operations behind a collapsed map cost a grouped count.

    The whole tree is read instead where an operation's parent is not in the mirror (the
    whole tree shows such an orphan at the top level)."""
    counts = nodes.children_per_parent(execution)
    if nodes.has_orphans(execution):
        return operation_tree(execution)
    expand = set(expand)
    by_id: dict[str, TreeNode] = {}

    def add(loaded: dict[str, TreeNode]) -> list[TreeNode]:
        for node in loaded.values():
            node.child_counts = dict(counts.get(node.id, {}))
            by_id[node.id] = node
        return list(loaded.values())

    ancestor = parent_id
    while ancestor and ancestor not in by_id and len(by_id) < 1000:
        found = add(nodes.load_nodes(execution, nodes.LIGHT_COLUMNS, ids=[ancestor]))
        ancestor = found[0].parent_operation_id if found else ""
    top = add(
        nodes.load_nodes(
            execution, nodes.LIGHT_COLUMNS, parents=[parent_id], offset=offset, limit=chunk
        )
    )
    frontier = top
    while frontier:
        opened = [n.id for n in frontier if n.child_total and not _starts_collapsed(n, expand)]
        frontier = (
            add(nodes.load_nodes(execution, nodes.LIGHT_COLUMNS, parents=opened, limit=chunk))
            if opened
            else []
        )
    roots: list[TreeNode] = []
    for node in sorted(by_id.values(), key=lambda n: (n.first_event_id, n.position)):
        parent = by_id.get(node.parent_operation_id or "")
        if parent is not None:
            parent.children.append(node)
        elif not node.parent_operation_id:
            roots.append(node)
    totals = {parent: sum(n.values()) for parent, n in counts.items()}
    return OperationTree(roots, by_id, execution.last_event_id, {parent_id: offset}, totals)


# ---- what is shown: the derived statuses -----------------------------------------------


def show_ended(nodes_: Iterable[TreeNode], execution_status: str, ended_at: Any) -> None:
    """Mark what was still unfinished when the execution ended as ended with it
    (domain.status.shown_status): its status, its end (the execution's) and its children's
    counts. The one application of that rule to a tree; the graph's dicts get the same from
    show_ended_nested and the panel from show_ended_operation."""
    if execution_status not in status.TERMINAL_EXECUTION_STATUSES:
        return
    for node in nodes_:
        if status.ended_with_execution(node.status, execution_status):
            node.api_status = node.status
            node.status = status.shown_status(node.status, execution_status)
            node.ended_at = node.ended_at or ended_at
        if node.child_counts:
            node.child_counts = status.shown_counts(node.child_counts, execution_status)


def show_ended_nested(
    operations_: list[dict[str, Any]], execution_status: str, ended_at: Any
) -> None:
    """show_ended for the visualizer's nested dicts (it stays free of the rule's callers:
    it is given the status to draw, and `api_status` for its tooltips)."""
    if execution_status not in status.TERMINAL_EXECUTION_STATUSES:
        return
    stack = list(operations_)
    while stack:
        op = stack.pop()
        if status.ended_with_execution(op.get("status"), execution_status):
            op["api_status"] = op.get("status")
            op["status"] = status.shown_status(op.get("status"), execution_status)
            op["ended_at"] = op.get("ended_at") or ended_at
        stack.extend(op.get("children") or ())


def show_ended_operation(operation: Operation, execution: Execution) -> str:
    """show_ended for one Operation row (the panel): returns the API's status when the
    shown one differs, else ""."""
    if not status.ended_with_execution(operation.status, execution.status):
        return ""
    api_status = operation.status
    operation.status = status.shown_status(operation.status, execution.status)
    operation.ended_at = operation.ended_at or execution.ended_at
    return api_status


def load_pending_retries(execution: Execution, op_tree: OperationTree) -> None:
    """The tree's light columns leave out `retries`; the steps waiting for a retry need
    theirs (the tree marks them with the next attempt), read for those alone."""
    pending = [node.id for node in op_tree.by_id.values() if node.status == "PENDING"]
    if not pending:
        return
    for op_id, loaded in nodes.load_nodes(execution, ("retries",), ids=pending).items():
        op_tree.by_id[op_id].retries = loaded.retries or []


def failure_tree(execution: Execution) -> OperationTree:
    """What "failed only" shows: the failed (or timed-out) operations and the operations
    above them, read without the rest (a level of ancestors per query)."""
    by_id = nodes.load_nodes(
        execution, nodes.LIGHT_COLUMNS, statuses=status.FAILED_OPERATION_STATUSES
    )
    wanted = {n.parent_operation_id for n in by_id.values() if n.parent_operation_id}
    while wanted - set(by_id):
        found = nodes.load_nodes(execution, nodes.LIGHT_COLUMNS, ids=wanted - set(by_id))
        if not found:
            break  # parents the mirror does not hold: the orphans hang off the top
        by_id.update(found)
        wanted = {n.parent_operation_id for n in found.values() if n.parent_operation_id}
    return OperationTree(tree.link(by_id), by_id, execution.last_event_id)


def ancestors_of(execution: Execution, operation: Operation) -> list[tuple[str, str]]:
    """(operation id, label) of the operations above `operation`, outermost first."""
    chain: list[tuple[str, str]] = []
    parent_id = operation.parent_operation_id
    while parent_id and len(chain) < 100:
        # One lookup per level on the (execution, operation_id) unique index.
        row = (
            Operation.objects.filter(execution=execution, operation_id=parent_id)
            .values_list("operation_id", "parent_operation_id", "name", "subtype", "type")
            .first()
        )
        if row is None:
            break
        op_id, parent_id, name, subtype, type_ = row
        chain.append((op_id, operations.label(name, subtype, type_, op_id)))
    return list(reversed(chain))


def child_counts(execution: Execution, operation: Operation) -> dict[str, int]:
    """The operation's direct children per status."""
    rows = (
        Operation.objects.filter(execution=execution, parent_operation_id=operation.operation_id)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return dict(rows)


@dataclass
class TreeRow:
    """One rendered row of the operations table (or the timeline)."""

    node: TreeNode
    depth: int
    # The node has children that are not rendered (a large map or parallel).
    collapsed: bool = False
    # The node has children and they are rendered right after it.
    expanded: bool = False


@dataclass
class MoreRow:
    """'Show N more' in place of the rest of a parent's children."""

    parent_id: str
    depth: int
    offset: int
    remaining: int


def _starts_collapsed(node: TreeNode, expand: set[str]) -> bool:
    return node.is_group and node.child_total > COLLAPSE_CHILDREN and node.id not in expand


def tree_rows(
    op_tree: OperationTree,
    *,
    parent_id: str = "",
    depth: int = 0,
    offset: int = 0,
    expand: Iterable[str] = (),
    failed_only: bool = False,
    chunk: int | None = None,
) -> list[TreeRow | MoreRow]:
    """Rows in depth-first order: the children of `parent_id` from `offset` and below them.

    Large maps and parallels are collapsed unless named in `expand`; each parent's
    children come in chunks of `chunk`, the rest behind a MoreRow. With `failed_only`,
    only failed operations and the operations that lead to them are listed, expanded.
    """
    expand = set(expand)
    chunk = chunk or CHILD_CHUNK
    out: list[TreeRow | MoreRow] = []

    def shown(pid: str) -> int:
        if failed_only:
            return sum(1 for c in op_tree.children_of(pid) if c.has_failure)
        return op_tree.total_children(pid)

    def walk(pid: str, level: int, start: int) -> None:
        children = op_tree.children_of(pid)
        # A part of the tree holds a parent's children from its `starts` index on.
        base = 0 if failed_only else op_tree.starts.get(pid, 0)
        if failed_only:
            children = [c for c in children if c.has_failure]
        total = shown(pid)
        end = min(total, start + chunk)
        for node in children[start - base : end - base]:
            has_children = shown(node.id) > 0
            collapsed = has_children and not failed_only and _starts_collapsed(node, expand)
            out.append(
                TreeRow(node, level, collapsed=collapsed, expanded=has_children and not collapsed)
            )
            if has_children and not collapsed:
                walk(node.id, level + 1, 0)
        if end < total:
            out.append(MoreRow(pid, level, end, total - end))

    walk(parent_id, depth, offset)
    return out


def node_depth(op_tree: OperationTree, node: TreeNode) -> int:
    return len(op_tree.ancestors(node))
