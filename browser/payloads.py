"""Payloads ready to show, and the execution exported as one JSON document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast

from browser.optree import TreeNode, operation_tree
from executions import tree
from executions.models import Execution, HistoryEvent


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


def json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return text


def export_node(node: TreeNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "parent_id": node.parent_operation_id or None,
        "name": node.name or None,
        "type": node.type,
        "subtype": node.subtype or None,
        "status": node.status,
        "started_at": _iso(node.started_at),
        "ended_at": _iso(node.ended_at),
        "attempt_count": node.attempt_count,
        "children": [export_node(child) for child in node.children],
    }


# Events are read and sent this many at a time.
EXPORT_CHUNK = 2000


def export_json(execution: Execution) -> Iterator[str]:
    """`{"execution": {...}, "operations": [...], "events": [...]}`, in pieces, so that a
    response can stream it: the head at once, then the operation tree, then the events
    EXPORT_CHUNK at a time (never all of them in memory).

    Payloads that are JSON are exported as JSON values, anything else as text. Events are
    the API's records as stored, in EventId order; their stored JSON text is spliced in
    as it is, because decoding and re-encoding 20,000 of them took most of the time.
    """
    head = {
        "arn": execution.arn,
        "name": execution.name,
        "function": execution.function.name,
        "status": execution.status,
        "started_at": _iso(execution.started_at),
        "ended_at": _iso(execution.ended_at),
        "input": json_value(execution.input_payload),
        "result": json_value(execution.result_payload),
        "error": execution.error,
    }
    yield '{"execution": ' + json.dumps(head, ensure_ascii=False, default=str)
    operations = [export_node(node) for node in operation_tree(execution).roots]
    yield ', "operations": ' + json.dumps(operations, ensure_ascii=False) + ', "events": ['
    events = (
        HistoryEvent.objects.filter(execution=execution)
        .order_by("event_id")
        .annotate(raw_text=Cast("raw", TextField()))
        .values_list("raw_text", flat=True)
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    chunk: list[str] = []
    separator = ""
    for event in events:
        chunk.append(event)
        if len(chunk) == EXPORT_CHUNK:
            yield separator + ",\n".join(chunk)
            chunk, separator = [], ",\n"
    if chunk:
        yield separator + ",\n".join(chunk)
    yield "]}"
