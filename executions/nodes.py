"""Operation rows <-> tree nodes: the one place the mirror's Operation table and the fold's
OperationNode (executions/tree.py) meet. Node attributes carry the columns' names; the
only translation is that a blank text column is None on a node.

The sync loads the nodes an event touches, folds the events into them and writes them
back (`row_values`); the pages load a whole tree at once (`load_nodes`), without building
model instances (10,000 of them cost a few hundred milliseconds), with or without the
payload columns.
"""

from __future__ import annotations

from typing import Any

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


def _node(op_id: str, columns: tuple[str, ...], values: Any) -> tree.OperationNode:
    kwargs = {
        column: (None if value == "" and column in BLANK_AS_NONE else value)
        for column, value in zip(columns, values, strict=True)
    }
    return tree.OperationNode(id=op_id, **kwargs)


def node_from_row(row: Operation) -> tree.OperationNode:
    return _node(row.operation_id, COLUMNS, [getattr(row, column) for column in COLUMNS])


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


def load_nodes(execution: Execution | int, *, light: bool = False) -> dict[str, tree.OperationNode]:
    """All of an execution's operations as nodes, in start order, in one query."""
    columns = LIGHT_COLUMNS if light else COLUMNS
    rows = (
        Operation.objects.filter(execution=execution)
        .order_by("first_event_id", "position")
        .values_list("operation_id", *columns)
    )
    return {row[0]: _node(row[0], columns, row[1:]) for row in rows.iterator(chunk_size=2000)}
