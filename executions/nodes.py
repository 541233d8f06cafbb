"""Operation rows <-> tree nodes: the one place the mirror's Operation table and the fold's
OperationNode (executions/tree.py) meet. Node attributes carry the columns' names; the
only translation is that a blank text column is None on a node.

The sync loads the nodes an event touches, folds the events into them and writes them
back (`row_values`); the pages load a whole tree at once (`load_nodes`), without building
model instances (10,000 of them cost a few hundred milliseconds), with or without the
payload columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, TextField, Window
from django.db.models.functions import Cast, RowNumber

from executions import tree
from executions.lambda_api import jsonable
from executions.models import Execution, Operation

# Every column an OperationNode carries (besides operation_id, which is the node's id).
COLUMNS = (
    "name",
    "type",
    "subtype",
    "parent_operation_id",
    "status",
    "started_at",
    "ended_at",
    "attempt_count",
    "callback_id",
    "wait_seconds",
    "wait_scheduled_end",
    "invoke_function",
    "child_execution_arn",
    "input_payload",
    "result_payload",
    "result_truncated",
    "error",
    "retries",
    "first_event_id",
    "last_event_id",
    "position",
)
# What the tables, the timeline and the export need: no payloads, errors or retries.
LIGHT_COLUMNS = (
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
# Text columns stored as "" where a node holds None.
BLANK_AS_NONE = frozenset(
    {
        "name",
        "subtype",
        "parent_operation_id",
        "callback_id",
        "invoke_function",
        "child_execution_arn",
    }
)


_FIELDS = tuple(tree.OperationNode.__dataclass_fields__)
_RETRIES, _CHILDREN, _CHILD_COUNTS = (
    _FIELDS.index(name) for name in ("retries", "children", "child_counts")
)


@cache
def _maker(columns: tuple[str, ...]) -> Callable[[str, Any], tree.OperationNode]:
    """A function making a node from an operation id and these columns' values. Nodes are
    built positionally, from the defaults, because a tab reads 10,000 at once."""
    positions = tuple(_FIELDS.index(column) for column in columns)
    blanks = tuple(p for p, c in zip(positions, columns, strict=True) if c in BLANK_AS_NONE)
    empty = tree.OperationNode("", "")
    defaults = [getattr(empty, name) for name in _FIELDS]
    node_class = tree.OperationNode

    def make(op_id: str, values: Any) -> tree.OperationNode:
        args = defaults.copy()
        args[0] = op_id
        args[_RETRIES], args[_CHILDREN], args[_CHILD_COUNTS] = [], [], {}
        for position, value in zip(positions, values, strict=True):
            args[position] = value
        for position in blanks:
            if args[position] == "":
                args[position] = None
        return node_class(*args)

    return make


def node_from_row(row: Operation) -> tree.OperationNode:
    return _maker(COLUMNS)(row.operation_id, [getattr(row, column) for column in COLUMNS])


def row_values(node: tree.OperationNode) -> dict[str, Any]:
    """The node's column values, ready for Operation(**values) or setattr."""
    values = {}
    for column in COLUMNS:
        value = getattr(node, column)
        if column in BLANK_AS_NONE and value is None:
            value = ""
        if column == "retries":
            value = jsonable(value)
        values[column] = value
    return values


# What the graph draws: the light columns and what its labels and tooltips say.
GRAPH_COLUMNS = (
    *LIGHT_COLUMNS,
    "wait_seconds",
    "wait_scheduled_end",
    "invoke_function",
    "child_execution_arn",
    "error",
)

# Every value is read as the database sends it, timestamps and JSON as text, and made a
# Python value here: Django's own per-value converters (on PostgreSQL a pure-Python
# subclass of psycopg's timestamp loader, on SQLite a regular expression per timestamp)
# cost 20 times as much, most of the time it took to load a 10,000-operation tree.
DATETIME_COLUMNS = frozenset({"started_at", "ended_at", "wait_scheduled_end"})
JSON_COLUMNS = frozenset({"error", "retries"})
BOOLEAN_COLUMNS = frozenset({"result_truncated"})


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _converter(column: str) -> Callable[[Any], Any] | None:
    if column in DATETIME_COLUMNS:
        return _moment
    if column in JSON_COLUMNS:
        return _json
    if column in BOOLEAN_COLUMNS:
        return bool
    return None


def _query(
    execution: Execution | int,
    columns: tuple[str, ...],
    *,
    parents: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> Any:
    """The operations as (operation id, *columns), timestamps and JSON as text, in start
    order (see load_nodes for `parents`, `ids`, `offset` and `limit`)."""
    as_text = {
        f"{c}__text": Cast(c, TextField())
        for c in columns
        if c in DATETIME_COLUMNS or c in JSON_COLUMNS
    }
    selected = [f"{c}__text" if f"{c}__text" in as_text else c for c in columns]
    query = Operation.objects.filter(execution=execution)
    if ids is not None:
        query = query.filter(operation_id__in=list(ids))
    if statuses is not None:
        query = query.filter(status__in=list(statuses))
    if parents is not None:
        query = query.filter(parent_operation_id__in=list(parents))
        if offset or limit is not None:
            nth = Window(
                RowNumber(),
                partition_by=[F("parent_operation_id")],
                order_by=[F("first_event_id").asc(), F("position").asc()],
            )
            query = query.annotate(nth=nth).filter(nth__gt=offset)
            if limit is not None:
                query = query.filter(nth__lte=offset + limit)
    return (
        query.order_by("first_event_id", "position")
        .annotate(**as_text)
        .values_list("operation_id", *selected)
    )


def load_nodes(
    execution: Execution | int,
    columns: tuple[str, ...] = COLUMNS,
    *,
    parents: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> dict[str, tree.OperationNode]:
    """An execution's operations as nodes with these columns (COLUMNS, GRAPH_COLUMNS or
    LIGHT_COLUMNS), in start order, in one query: all of them, or with `parents` the
    children of those operations ("" for the top level), each parent's from its `offset`-th
    child and at most `limit` of them; with `ids`, those operations; with `statuses`, those
    in one of them."""
    query = _query(
        execution,
        columns,
        parents=parents,
        ids=ids,
        statuses=statuses,
        offset=offset,
        limit=limit,
    )
    make = _maker(columns)
    with tree.gc_paused():
        return {op_id: make(op_id, values) for op_id, values in _rows(query, columns)}


def _rows(query: Any, columns: tuple[str, ...]) -> Iterator[tuple[str, list[Any]]]:
    """(operation id, the columns' values made Python values) of each row of `query`."""
    try:
        sql, params = query.query.sql_with_params()
    except EmptyResultSet:
        # Django knows without asking that nothing matches (on PostgreSQL, an offset
        # beyond what a bigint holds): no rows, as the ORM itself would answer.
        return
    converters = [(i, f) for i, c in enumerate(columns) if (f := _converter(c)) is not None]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for op_id, *values in rows:
        for index, convert in converters:
            if values[index] is not None:
                values[index] = convert(values[index])
        yield op_id, values


def load_nested(execution: Execution | int, columns: tuple[str, ...] = GRAPH_COLUMNS) -> list:
    """The whole tree as nested dicts (each with `id`, these columns and `children`), top
    level first: what executions.tree.nested() makes of load_nodes(), without building a
    node and then a dict for each of 10,000 operations (a third of the graph's time)."""
    keys = ("id", *columns)
    blanks = [c for c in columns if c in BLANK_AS_NONE]
    by_id: dict[str, dict[str, Any]] = {}
    with tree.gc_paused():
        for op_id, values in _rows(_query(execution, columns), columns):
            data = dict(zip(keys, (op_id, *values), strict=True))
            for column in blanks:
                if data[column] == "":
                    data[column] = None
            data["children"] = []
            by_id[op_id] = data
        roots = []
        # In start order already; an orphan (its parent not known) hangs off the top.
        for data in by_id.values():
            parent = by_id.get(data["parent_operation_id"] or "")
            (parent["children"] if parent is not None else roots).append(data)
    return roots


def children_per_parent(execution: Execution | int) -> dict[str, dict[str, int]]:
    """For every operation with children (and "" for the top level): its children's count
    per status, counted by the database."""
    rows = (
        Operation.objects.filter(execution=execution)
        .order_by()
        .values_list("parent_operation_id", "status")
        .annotate(n=Count("id"))
    )
    counts: dict[str, dict[str, int]] = {}
    for parent, status, n in rows:
        counts.setdefault(parent, {})[status] = n
    return counts


def has_orphans(execution: Execution | int) -> bool:
    """Whether an operation names a parent the mirror does not hold (the full tree hangs
    such an operation off the top level)."""
    known = Operation.objects.filter(
        execution=execution, operation_id=OuterRef("parent_operation_id")
    )
    return (
        Operation.objects.filter(execution=execution)
        .exclude(parent_operation_id="")
        .exclude(Exists(known))
        .exists()
    )
