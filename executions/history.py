"""An execution's history: read the events newer than those stored, store them and fold
them into the operation tree in one transaction, and tell the execution's status from
them. Plain functions; sync.py decides when to call them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils.dateparse import parse_datetime

from domain import operations
from domain.status import TERMINAL_OPERATION_STATUSES
from executions import lambda_api, tree
from executions.lambda_api import Endpoint
from executions.models import Execution, HistoryEvent, Operation
from executions.nodes import COLUMNS, node_from_row, row_values

# Reading new events backwards: the first page is small (a poll usually finds a handful
# of new events), later pages grow so a long gap still takes few calls.
REVERSE_FIRST_PAGE = 16
REVERSE_GROWTH = 4
TERMINAL_EVENT_TYPES = {
    "ExecutionSucceeded",
    "ExecutionFailed",
    "ExecutionTimedOut",
    "ExecutionStopped",
}


# Events no telemetry record tells of: an invocation's end comes after its last record.
UNTOLD_EVENT_TYPES = {"InvocationCompleted"}


def told_after(events: Iterable[dict[str, Any]], moment: datetime | None) -> bool:
    """Whether any of these events happened after `moment` (the newest telemetry record
    of the execution): something its records had not told, perhaps lost. (The backend
    stamps an event when the change is checkpointed; the SDK emits its record after that,
    so what a record told is not after it. A function's clock behind the backend's makes
    a told event look new: a reconciliation comes sooner, nothing is missed.) Without a
    moment, whether there are any; an event without a time counts as after."""
    if moment is None:
        return any(True for _ in events)
    for event in events:
        if event.get("EventType") in UNTOLD_EVENT_TYPES:
            continue
        stamp = event.get("EventTimestamp")
        if isinstance(stamp, str):
            stamp = parse_datetime(stamp)
        if not isinstance(stamp, datetime) or stamp > moment:
            return True
    return False


def _event_fields(event: dict[str, Any]) -> dict[str, Any]:
    details = tree.event_details(event)
    return {
        "event_id": int(event["EventId"]),
        "event_type": event.get("EventType", ""),
        "sub_type": event.get("SubType") or "",
        "operation_id": event.get("Id") or "",
        "name": event.get("Name") or "",
        "parent_id": event.get("ParentId") or "",
        "timestamp": event.get("EventTimestamp"),
        "details": lambda_api.jsonable(details),
        "raw": lambda_api.jsonable(event),
    }


def read_new_events(
    endpoint: Endpoint, arn: str, last_event_id: int, keepalive: Any = None
) -> tuple[list[dict[str, Any]], int]:
    """Events with EventId > last_event_id, in order, and the number of calls it took.

    `keepalive` is called after every page (it renews the execution's lock).
    """
    keepalive = keepalive or (lambda: None)
    calls = 0
    events: list[dict[str, Any]] = []
    marker: str | None = None
    if last_event_id == 0:
        # Nothing stored yet: read forwards in the largest pages the API allows.
        while True:
            page = lambda_api.history_page(endpoint, arn, marker=marker)
            calls += 1
            keepalive()
            events.extend(page.get("Events", []))
            marker = page.get("NextMarker")
            if not marker:
                return events, calls
    size = REVERSE_FIRST_PAGE
    while True:
        page = lambda_api.history_page(endpoint, arn, marker=marker, reverse=True, max_items=size)
        calls += 1
        keepalive()
        reached_known = False
        for event in page.get("Events", []):
            if int(event["EventId"]) <= last_event_id:
                reached_known = True
                break
            events.append(event)
        marker = page.get("NextMarker")
        if reached_known or not marker:
            break
        size = min(size * REVERSE_GROWTH, lambda_api.MAX_HISTORY_PAGE)
    events.sort(key=lambda e: int(e["EventId"]))
    return events, calls


def _apply_execution_events(execution: Execution, events: list[dict[str, Any]]) -> None:
    """Execution-level payloads from the history, with their Truncated flags."""
    for event in events:
        kind = event.get("EventType", "")
        if kind == "ExecutionStarted":
            payload = (event.get("ExecutionStartedDetails") or {}).get("Input") or {}
            execution.input_payload = payload.get("Payload", execution.input_payload)
            execution.input_truncated = bool(payload.get("Truncated"))
        elif kind == "ExecutionSucceeded":
            payload = (event.get("ExecutionSucceededDetails") or {}).get("Result") or {}
            execution.result_payload = payload.get("Payload", execution.result_payload)
            execution.result_truncated = bool(payload.get("Truncated"))
        elif kind in TERMINAL_EVENT_TYPES:
            error = tree.event_details(event).get("Error") or {}
            if isinstance(error, dict) and "Payload" in error:
                execution.error = error.get("Payload")
                execution.error_truncated = bool(error.get("Truncated"))
            elif error:
                execution.error = error


def store_events(execution: Execution, events: list[dict[str, Any]]) -> int:
    """Insert new events and fold them into the tree, atomically. Returns events stored."""
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        events = [e for e in events if int(e["EventId"]) > locked.last_event_id]
        if not events:
            return 0
        HistoryEvent.objects.bulk_create(
            [HistoryEvent(execution=locked, **_event_fields(e)) for e in events],
            batch_size=500,
        )
        touched = {e["Id"] for e in events if e.get("Id")}
        rows = {
            row.operation_id: row
            for row in Operation.objects.filter(execution=locked, operation_id__in=touched)
        }
        told = {op_id: row.telemetry for op_id, row in rows.items() if row.telemetry}
        nodes = {op_id: node_from_row(row) for op_id, row in rows.items() if op_id not in told}
        # An operation a telemetry record told about has columns that mix that record's
        # state with the history's: fold its stored events afresh, then the new ones,
        # then apply the record's state where it is still further along (tree.apply_state).
        nodes.update(_history_nodes(locked, told))
        before = set(rows)
        changed = tree.apply_events(nodes, events)
        caught_up = []
        for op_id, state in told.items():
            in_history = op_id in nodes
            if not in_history:  # not in the history yet: the row is all there is
                nodes[op_id] = node_from_row(rows[op_id])
            nodes[op_id].position = rows[op_id].position
            told_state = telemetry_state(op_id, state)
            if in_history and tree.node_progress(nodes[op_id]) >= tree.progress(
                told_state.status, told_state.attempts, told_state.ended_at
            ):
                caught_up.append(op_id)  # the history tells all the record did, and more
            tree.apply_state(nodes, told_state)
            changed.add(op_id)
        # New operations are numbered after the ones already stored, in start order.
        new_ids = sorted(set(nodes) - before, key=lambda op_id: nodes[op_id].first_event_id)
        for index, op_id in enumerate(new_ids):
            nodes[op_id].position = locked.operation_count + index
        creates, updates = [], []
        for op_id in changed:
            node = nodes[op_id]
            values = row_values(node)
            if op_id in rows:
                row = rows[op_id]
                for column, value in values.items():
                    setattr(row, column, value)
                updates.append(row)
            else:
                creates.append(Operation(execution=locked, operation_id=op_id, **values))
        Operation.objects.bulk_create(creates, batch_size=500)
        if updates:
            Operation.objects.bulk_update(updates, list(COLUMNS), batch_size=500)
        if caught_up:
            Operation.objects.filter(execution=locked, operation_id__in=caught_up).update(
                telemetry=None
            )

        for name, value in tree_figures(locked).items():
            setattr(execution, name, value)
        execution.last_event_id = max(int(e["EventId"]) for e in events)
        _apply_execution_events(execution, events)
        Execution.objects.filter(pk=locked.pk).update(
            operation_counts=execution.operation_counts,
            operation_count=execution.operation_count,
            pending_callbacks=execution.pending_callbacks,
            waiting_for=execution.waiting_for,
            waiting_until=execution.waiting_until,
            last_event_id=execution.last_event_id,
            input_payload=execution.input_payload,
            input_truncated=execution.input_truncated,
            result_payload=execution.result_payload,
            result_truncated=execution.result_truncated,
            error=execution.error,
            error_truncated=execution.error_truncated,
        )
        return len(events)


def tree_figures(execution: Execution) -> dict[str, Any]:
    """What the execution row keeps of its operation tree (the list's counts, what waits
    for an answer, what it waits for), from its stored operations."""
    counts = dict(
        Operation.objects.filter(execution=execution)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    # The unfinished operations, read once: what waits for an answer, and what the
    # execution waits for.
    unfinished = list(
        Operation.objects.filter(execution=execution)
        .exclude(status__in=TERMINAL_OPERATION_STATUSES)
        .values_list("type", "subtype", "status", "wait_scheduled_end")
    )
    waiting_for, waiting_until = operations.waiting_for(unfinished)
    return {
        "operation_counts": counts,
        "operation_count": sum(counts.values()),
        "pending_callbacks": sum(
            1 for type_, _, status, _ in unfinished if operations.is_pending_callback(type_, status)
        ),
        "waiting_for": waiting_for,
        "waiting_until": waiting_until,
    }


def telemetry_state(op_id: str, state: dict[str, Any]) -> tree.OperationState:
    """An Operation's `telemetry` column (what executions/telemetry.py stored) as the
    state tree.apply_state takes."""
    return tree.OperationState(
        id=op_id,
        type=state.get("type"),
        subtype=state.get("subtype"),
        name=state.get("name"),
        parent_operation_id=state.get("parent_operation_id"),
        status=state.get("status"),
        attempts=state.get("attempts"),
        started_at=parse_datetime(state["started_at"]) if state.get("started_at") else None,
        ended_at=parse_datetime(state["ended_at"]) if state.get("ended_at") else None,
        error=state.get("error"),
        result_payload=state.get("result_payload"),
    )


def _history_nodes(execution: Execution, op_ids: Iterable[str]) -> dict[str, tree.OperationNode]:
    """These operations as their stored history events alone make them (those not in the
    history yet are left out)."""
    op_ids = list(op_ids)
    if not op_ids:
        return {}
    events = []
    for row in (
        # The events stored before this read (the new ones are folded after).
        HistoryEvent.objects.filter(
            execution=execution, operation_id__in=op_ids, event_id__lte=execution.last_event_id
        )
        .order_by("event_id")
        .values_list(
            "event_id",
            "event_type",
            "sub_type",
            "operation_id",
            "name",
            "parent_id",
            "timestamp",
            "details",
        )  # fmt: skip
    ):
        event_id, kind, sub_type, op_id, name, parent, stamp, details = row
        details = dict(details or {})
        scheduled = details.get("ScheduledEndTimestamp")
        if isinstance(scheduled, str):
            details["ScheduledEndTimestamp"] = parse_datetime(scheduled)
        events.append(
            {
                "EventId": event_id,
                "EventType": kind,
                "SubType": sub_type or None,
                "Id": op_id,
                "Name": name or None,
                "ParentId": parent or None,
                "EventTimestamp": stamp,
                "Details": details,
            }
        )
    nodes: dict[str, tree.OperationNode] = {}
    tree.apply_events(nodes, events)
    return nodes


# Execution statuses that only GetDurableExecution can tell apart: transitions the
# history has no event for (yet).
TRANSITIONAL_STATUSES = {"PAUSING", "DELETING"}
# The execution's status after events: the fold's rule (the replay uses it too).
status_from_events = tree.execution_status
