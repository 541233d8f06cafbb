"""Read-side helpers for the execution browser: list filters, keyset pages, trees, timelines.

Everything here reads the mirror only. The list's filter state lives in the URL
(`ListFilter.from_query` / `ListFilter.query`), its pages are keyset pages on
(started_at, id) so page 2,000 costs what page 1 costs, and an execution's operation tree
is built once per (execution, last event id) and kept in the cache.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from django.http import QueryDict
from django.utils import timezone

from executions import params, tree
from executions.models import (
    TERMINAL_STATUSES,
    Execution,
    ExecutionStatus,
    HistoryEvent,
    Operation,
)

PAGE_SIZE = 50
EVENTS_PAGE_SIZE = 100
# Maps and parallels with more children than this start collapsed, showing counts.
COLLAPSE_CHILDREN = 25
# Children of one parent (or top-level operations) are rendered in chunks of this size.
CHILD_CHUNK = 200
# The timeline draws at most this many rows; beyond it, collapse or filter.
TIMELINE_MAX_ROWS = 600
FAILED_OPERATION_STATUSES = frozenset({"FAILED", "TIMED_OUT"})
GROUP_SUBTYPES = frozenset({"Map", "Parallel"})
CACHE_SECONDS = 60 * 60 * 24


# ---- the list --------------------------------------------------------------------------


def _parse_when(text: str, *, end: bool) -> datetime | None:
    """A date (`2026-01-31`) or a datetime-local value (`2026-01-31T10:30`), read as UTC.

    A bare date as the upper bound means "up to the end of that day".
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


@dataclass
class ListFilter:
    """The list's filters, as they appear in the URL."""

    source: int | None = None
    function: int | None = None
    statuses: list[str] = field(default_factory=list)
    name: str = ""
    started_from: str = ""
    started_to: str = ""

    @classmethod
    def from_query(cls, query: QueryDict) -> ListFilter:
        """Read the filters; raise params.BadQuery for anything malformed."""
        flt = cls(
            source=params.integer(query, "source", minimum=1),
            function=params.integer(query, "function", minimum=1),
            statuses=params.choices(query, "status", ExecutionStatus.values),
            name=params.text(query, "name", 256),
            started_from=params.text(query, "from", 40),
            started_to=params.text(query, "to", 40),
        )
        for key, value, end in (("from", flt.started_from, False), ("to", flt.started_to, True)):
            if value and _parse_when(value, end=end) is None:
                raise params.BadQuery(
                    f"“{key}” must be a date (2026-01-31) or a date and time "
                    f"(2026-01-31T10:30), not “{value}”."
                )
        return flt

    @property
    def is_active(self) -> bool:
        return bool(
            self.source
            or self.function
            or self.statuses
            or self.name
            or self.started_from
            or self.started_to
        )

    def params(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.source:
            pairs.append(("source", str(self.source)))
        if self.function:
            pairs.append(("function", str(self.function)))
        pairs.extend(("status", s) for s in self.statuses)
        if self.name:
            pairs.append(("name", self.name))
        if self.started_from:
            pairs.append(("from", self.started_from))
        if self.started_to:
            pairs.append(("to", self.started_to))
        return pairs

    def query(self, **extra: str) -> str:
        """The filter state (plus `extra`, e.g. a cursor) as a query string."""
        return urlencode(self.params() + [(k, v) for k, v in extra.items() if v])

    def apply(self, qs: QuerySet[Execution], *, statuses: bool = True) -> QuerySet[Execution]:
        if self.source:
            qs = qs.filter(source_id=self.source)
        if self.function:
            qs = qs.filter(function_id=self.function)
        if self.name:
            # Matching ids come from a scan of exec_name_idx alone (a covering index: no
            # table rows read); filtering the list itself by LIKE '%x%' made the database
            # walk the started_at index and read every row to test its name.
            matching = Execution.objects.filter(name__icontains=self.name).order_by()
            qs = qs.filter(id__in=Subquery(matching.values("id")))
        started_from = _parse_when(self.started_from, end=False)
        if started_from:
            qs = qs.filter(started_at__gte=started_from)
        started_to = _parse_when(self.started_to, end=True)
        if started_to:
            # A bare date already points at the next midnight; a moment is inclusive.
            lookup = "started_at__lt" if len(self.started_to) == 10 else "started_at__lte"
            qs = qs.filter(**{lookup: started_to})
        if statuses and self.statuses:
            qs = qs.filter(status__in=self.statuses)
        return qs


@dataclass(frozen=True)
class Cursor:
    """A position in the list: (started_at, id), written as `<epoch microseconds>.<id>`."""

    started_at: datetime
    id: int

    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __str__(self) -> str:
        delta = self.started_at - self.EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}.{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """A cursor from the URL; a malformed one is refused (params.BadQuery)."""
        if not text:
            return None
        micros, _, pk = text.partition(".")
        try:
            return cls(cls.EPOCH + timedelta(microseconds=int(micros)), int(pk))
        except (ValueError, OverflowError):
            raise params.BadQuery(
                f"The page cursor “{text[:40]}” is not one this console wrote; "
                "start again from the newest executions."
            ) from None

    @classmethod
    def of(cls, execution: Execution) -> Cursor | None:
        if execution.started_at is None:
            return None
        return cls(execution.started_at, execution.pk)


def _older_than(c: Cursor) -> Q:
    # `started_at <= X` gives the index a range to start from; the OR only trims the ties.
    return Q(started_at__lte=c.started_at) & (
        Q(started_at__lt=c.started_at) | Q(started_at=c.started_at, id__lt=c.id)
    )


def _newer_than(c: Cursor) -> Q:
    return Q(started_at__gte=c.started_at) & (
        Q(started_at__gt=c.started_at) | Q(started_at=c.started_at, id__gt=c.id)
    )


@dataclass
class ListPage:
    rows: list[Execution]
    newer: Cursor | None  # `before=` cursor of the page of newer rows, if any
    older: Cursor | None  # `after=` cursor of the page of older rows, if any


def _sort_key(execution: Execution) -> tuple[datetime, int]:
    return (execution.started_at or Cursor.EPOCH, execution.pk)


def _fetch(
    qs: QuerySet[Execution], statuses: list[str], where: Q, newest_first: bool, limit: int
) -> list[Execution]:
    """Up to `limit` rows in (started_at, id) order.

    Several statuses are read as one keyset query per status, merged here: each query
    walks exec_status_idx in order and stops after `limit` rows, where `status IN (...)`
    would make the database read every matching row and sort them.
    """
    order = ("-started_at", "-id") if newest_first else ("started_at", "id")
    base = qs.filter(where).select_related("function", "source").order_by(*order)
    if len(statuses) <= 1:
        return list(base[:limit])
    parts = [list(base.filter(status=s)[:limit]) for s in statuses]
    merged = heapq.merge(*parts, key=_sort_key, reverse=newest_first)
    return [row for _, row in zip(range(limit), merged, strict=False)]


def list_page(
    flt: ListFilter,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> ListPage:
    """One page of the filtered list, newest first, by keyset on (started_at, id)."""
    qs = flt.apply(Execution.objects.all(), statuses=len(flt.statuses) <= 1)
    statuses = flt.statuses
    if before is not None:
        rows = _fetch(qs, statuses, _newer_than(before), False, size + 1)
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        return ListPage(
            rows=rows,
            newer=Cursor.of(rows[0]) if rows and more_newer else None,
            older=Cursor.of(rows[-1]) if rows else None,
        )
    where = _older_than(after) if after is not None else Q()
    rows = _fetch(qs, statuses, where, True, size + 1)
    more_older = len(rows) > size
    rows = rows[:size]
    newer = None
    if after is not None and rows:
        # Coming from a cursor, there is a newer page unless the rows start at the top.
        if _fetch(qs, statuses, _newer_than(Cursor.of(rows[0])), False, 1):
            newer = Cursor.of(rows[0])
    return ListPage(rows=rows, newer=newer, older=Cursor.of(rows[-1]) if more_older else None)


def status_counts(flt: ListFilter) -> dict[str, int]:
    """Executions per status under every filter except the status one (facet counts).

    One GROUP BY status over the filtered set; without other filters it is a scan of
    exec_status_idx alone.
    """
    qs = flt.apply(Execution.objects.all(), statuses=False)
    rows = qs.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    counts = {status: 0 for status in ExecutionStatus.values}
    counts.update(dict(rows))
    return counts


# ---- the operation tree ----------------------------------------------------------------

_TREE_COLUMNS = (
    "operation_id",
    "parent_operation_id",
    "name",
    "type",
    "subtype",
    "status",
    "started_at",
    "ended_at",
    "attempt_count",
    "first_event_id",
    "position",
)


@dataclass(slots=True)
class TreeNode:
    """An operation without its payloads: what the tree, timeline and export show."""

    id: str
    parent_id: str
    name: str
    type: str
    subtype: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    attempt_count: int
    first_event_id: int
    position: int
    children: list[TreeNode] = field(default_factory=list)
    # Direct children per status (for collapsed maps and parallels).
    child_counts: dict[str, int] = field(default_factory=dict)
    # True when this operation or one below it failed or timed out.
    has_failure: bool = False

    @property
    def label(self) -> str:
        return self.name or self.subtype or self.type.title()

    @property
    def is_group(self) -> bool:
        return self.subtype in GROUP_SUBTYPES

    @property
    def failed(self) -> bool:
        return self.status in FAILED_OPERATION_STATUSES

    @property
    def running(self) -> bool:
        return self.ended_at is None and self.status not in tree.TERMINAL_OPERATION_STATUSES

    def duration(self, now: datetime) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.ended_at or now) - self.started_at


@dataclass
class OperationTree:
    roots: list[TreeNode]
    by_id: dict[str, TreeNode]
    last_event_id: int

    def __len__(self) -> int:
        return len(self.by_id)

    def children_of(self, parent_id: str) -> list[TreeNode]:
        if not parent_id:
            return self.roots
        node = self.by_id.get(parent_id)
        return node.children if node else []

    def ancestors(self, node: TreeNode) -> list[TreeNode]:
        chain = []
        parent = self.by_id.get(node.parent_id)
        while parent is not None and len(chain) < 1000:
            chain.append(parent)
            parent = self.by_id.get(parent.parent_id)
        return list(reversed(chain))


def _build_tree(execution_id: int, last_event_id: int) -> OperationTree:
    rows = (
        Operation.objects.filter(execution_id=execution_id)
        .order_by("first_event_id", "position")
        .values_list(*_TREE_COLUMNS)
    )
    by_id = {row[0]: TreeNode(*row) for row in rows}
    roots: list[TreeNode] = []
    # Rows come in start order, so every children list is in start order too; an orphan
    # (parent not mirrored) hangs off the root, as tree.children_index does.
    for node in by_id.values():
        parent = by_id.get(node.parent_id) if node.parent_id else None
        (parent.children if parent else roots).append(node)
        if parent:
            parent.child_counts[node.status] = parent.child_counts.get(node.status, 0) + 1
    for node in by_id.values():
        if node.failed:
            _mark_failure(node, by_id)
    return OperationTree(roots=roots, by_id=by_id, last_event_id=last_event_id)


def _mark_failure(node: TreeNode, by_id: dict[str, TreeNode]) -> None:
    steps = 0
    current: TreeNode | None = node
    while current is not None and not current.has_failure and steps < 1000:
        current.has_failure = True
        current = by_id.get(current.parent_id) if current.parent_id else None
        steps += 1


def tree_cache_key(execution: Execution, kind: str, *parts: Any) -> str:
    """Cache keys carry (execution id, last event id): a new event makes a new key."""
    suffix = ":".join(str(p) for p in parts)
    return f"browser:{kind}:{execution.pk}:{execution.last_event_id}:{suffix}"


def operation_tree(execution: Execution) -> OperationTree:
    """The execution's tree, without payloads, in one query.

    The tree object itself is not cached: at 10,000 operations, pickling it to Redis and
    back costs more than this query. What is cached is what is rendered from it (see
    views.py), keyed by tree_cache_key.
    """
    return _build_tree(execution.pk, execution.last_event_id)


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
        chain.append((op_id, name or subtype or type_.title()))
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
    return node.is_group and len(node.children) > COLLAPSE_CHILDREN and node.id not in expand


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

    def walk(pid: str, level: int, start: int) -> None:
        children = op_tree.children_of(pid)
        if failed_only:
            children = [c for c in children if c.has_failure]
        end = min(len(children), start + chunk)
        for node in children[start:end]:
            visible = [c for c in node.children if c.has_failure] if failed_only else node.children
            collapsed = bool(visible) and not failed_only and _starts_collapsed(node, expand)
            out.append(
                TreeRow(node, level, collapsed=collapsed, expanded=bool(visible) and not collapsed)
            )
            if visible and not collapsed:
                walk(node.id, level + 1, 0)
        if end < len(children):
            out.append(MoreRow(pid, level, end, len(children) - end))

    walk(parent_id, depth, offset)
    return out


def node_depth(op_tree: OperationTree, node: TreeNode) -> int:
    return len(op_tree.ancestors(node))


# ---- the timeline ----------------------------------------------------------------------

TICK_STEPS = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
]


@dataclass
class Bar:
    row: TreeRow
    x: float  # percent of the track
    width: float  # percent of the track
    running: bool


@dataclass
class Tick:
    x: float  # percent
    seconds: float


@dataclass
class Timeline:
    start: datetime | None
    end: datetime | None
    bars: list[Bar]
    ticks: list[Tick]
    truncated: int  # rows left out beyond TIMELINE_MAX_ROWS
    more: list[MoreRow]


def timeline(
    execution: Execution,
    op_tree: OperationTree,
    now: datetime | None = None,
    expand: Iterable[str] = (),
) -> Timeline:
    """Bars for the operations in tree order, positioned in percent of the execution span."""
    now = now or timezone.now()
    rows = tree_rows(op_tree, expand=expand)
    more = [r for r in rows if isinstance(r, MoreRow)]
    op_rows = [r for r in rows if isinstance(r, TreeRow)]
    truncated = max(0, len(op_rows) - TIMELINE_MAX_ROWS)
    op_rows = op_rows[:TIMELINE_MAX_ROWS]
    starts = [r.node.started_at for r in op_rows if r.node.started_at]
    start = execution.started_at or (min(starts) if starts else None)
    if start is None:
        return Timeline(None, None, [], [], truncated, more)
    ends = [r.node.ended_at for r in op_rows if r.node.ended_at]
    end = execution.ended_at or (now if not execution.is_terminal else max(ends, default=now))
    end = max([end, *ends]) if ends else end
    span = max((end - start).total_seconds(), 0.001)
    bars = []
    for row in op_rows:
        node = row.node
        if node.started_at is None:
            continue
        finish = node.ended_at or (end if not execution.is_terminal else node.started_at)
        x = max(0.0, (node.started_at - start).total_seconds() / span * 100)
        width = max((finish - node.started_at).total_seconds() / span * 100, 0.25)
        width = min(width, max(100 - x, 0.25))
        bars.append(Bar(row, round(x, 3), round(width, 3), node.ended_at is None))
    step = next((s for s in TICK_STEPS if span / s <= 8), TICK_STEPS[-1])
    ticks = [Tick(round(i * step / span * 100, 3), i * step) for i in range(int(span // step) + 1)]
    return Timeline(start, end, bars, ticks, truncated, more)


# ---- events ----------------------------------------------------------------------------


@dataclass
class EventPage:
    events: list[HistoryEvent]
    newer: int | None  # `after=` for the next page
    older: int | None  # `before=` for the previous page


def event_page(
    execution: Execution,
    *,
    event_type: str = "",
    operation_id: str = "",
    after: int | None = None,
    before: int | None = None,
    size: int = EVENTS_PAGE_SIZE,
) -> EventPage:
    """History events in EventId order, keyset-paginated on event_id."""
    base = HistoryEvent.objects.filter(execution=execution)
    if event_type:
        base = base.filter(event_type=event_type)
    if operation_id:
        base = base.filter(operation_id=operation_id)
    if before is not None:
        rows = list(base.filter(event_id__lt=before).order_by("-event_id")[: size + 1])
        has_previous = len(rows) > size
        rows = list(reversed(rows[:size]))
        return EventPage(
            rows,
            newer=rows[-1].event_id if rows else None,
            older=rows[0].event_id if rows and has_previous else None,
        )
    qs = base.filter(event_id__gt=after) if after is not None else base
    rows = list(qs.order_by("event_id")[: size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    older = None
    if after is not None and rows and base.filter(event_id__lt=rows[0].event_id).exists():
        older = rows[0].event_id
    return EventPage(rows, newer=rows[-1].event_id if rows and has_next else None, older=older)


def event_types(execution: Execution) -> list[str]:
    key = tree_cache_key(execution, "event-types")
    types = cache.get(key)
    if types is None:
        types = sorted(
            HistoryEvent.objects.filter(execution=execution)
            .order_by()
            .values_list("event_type", flat=True)
            .distinct()
        )
        cache.set(key, types, CACHE_SECONDS)
    return types


# ---- payloads and export ---------------------------------------------------------------


@dataclass
class Payload:
    """A payload ready to show: pretty text, and whether the API truncated it."""

    text: str | None
    truncated: bool = False

    @property
    def present(self) -> bool:
        return self.text is not None or self.truncated


TOO_DEEP = "(nested too deeply to lay out; shown as stored)"


def pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    except (RecursionError, ValueError):
        return TOO_DEEP


def payload(text: str | None, truncated: bool = False) -> Payload:
    if text is None:
        return Payload(None, truncated)
    shown = pretty(tree.decode_payload(text))
    return Payload(text if shown == TOO_DEEP else shown, truncated)


def error_payload(error: Any, truncated: bool = False) -> Payload:
    if error in (None, "", {}):
        return Payload(None, truncated)
    return Payload(pretty(error), truncated)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return text


def _export_node(node: TreeNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent_id": node.parent_id or None,
        "name": node.name or None,
        "type": node.type,
        "subtype": node.subtype or None,
        "status": node.status,
        "started_at": _iso(node.started_at),
        "ended_at": _iso(node.ended_at),
        "attempt_count": node.attempt_count,
        "children": [_export_node(child) for child in node.children],
    }


def export_json(execution: Execution) -> str:
    """`{"execution": {...}, "operations": [...], "events": [...]}` (the issue's format).

    Payloads that are JSON are exported as JSON values, anything else as text. Events are
    the API's records as stored, in EventId order; their stored JSON text is spliced in
    as it is, because decoding and re-encoding 20,000 of them took most of the time.
    """
    op_tree = operation_tree(execution)
    head = {
        "arn": execution.arn,
        "name": execution.name,
        "function": execution.function.name,
        "status": execution.status,
        "started_at": _iso(execution.started_at),
        "ended_at": _iso(execution.ended_at),
        "input": _json_value(execution.input_payload),
        "result": _json_value(execution.result_payload),
        "error": execution.error,
    }
    events = (
        HistoryEvent.objects.filter(execution=execution)
        .order_by("event_id")
        .annotate(raw_text=Cast("raw", TextField()))
        .values_list("raw_text", flat=True)
    )
    operations = [_export_node(node) for node in op_tree.roots]
    return "".join(
        [
            '{"execution": ',
            json.dumps(head, ensure_ascii=False, default=str),
            ', "operations": ',
            json.dumps(operations, ensure_ascii=False),
            ', "events": [',
            ",\n".join(events),
            "]}",
        ]
    )


def iter_running_ids(rows: Iterable[Execution]) -> Iterator[int]:
    for row in rows:
        if row.status not in TERMINAL_STATUSES:
            yield row.pk
