"""Mirror Lambda endpoints into the database. Plain, idempotent functions.

Celery tasks (tasks.py) are thin wrappers around these; `manage.py sync --once` and the
tests call them directly.

- `poll_source`: discover functions, then list each function's executions. The first
  poll of a function lists everything; later polls ask only for executions started
  since the newest one seen (executions already in the mirror are followed one by one
  by `sync_execution` until they are terminal).
- `sync_execution`: one check of one execution: the history events newer than the
  last EventId stored (read backwards from the newest until a known event, so an
  unchanged execution costs one small page), inserted and folded into the operation
  tree in one transaction; GetDurableExecution only at first sight, at the end, and in
  transitions the history cannot show. A terminal execution whose history has been
  read to its terminal event is never fetched again. When to check next is the
  scheduler's business (schedule.py); every call is paid from the call budget.

A Redis lock per execution keeps two workers from syncing the same one at once; the
unique (execution, event_id) constraint and the last_event_id check make a replayed
page harmless. Errors are stored on the row (and on the source) and shown inline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from executions import lambda_api, schedule, tree
from executions.lambda_api import Endpoint, LambdaApiError
from executions.locks import Locked, redis_lock
from executions.models import (
    TERMINAL_STATUSES,
    Execution,
    Function,
    HistoryEvent,
    Operation,
    Source,
)

logger = logging.getLogger(__name__)

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
# Overlap when listing "started after the newest seen", in case of clock granularity.
LIST_OVERLAP = timedelta(seconds=1)


# ---- sources and functions ------------------------------------------------------------


def parse_function_spec(spec: str) -> tuple[str, str]:
    """`name` or `name:qualifier` (or a function ARN) -> (name, qualifier)."""
    spec = spec.strip()
    if spec.startswith("arn:"):
        parts = spec.split(":")
        return parts[6], parts[7] if len(parts) > 7 else ""
    name, _, qualifier = spec.partition(":")
    return name, qualifier


def refresh_functions(source: Source) -> list[Function]:
    """The functions to mirror: those named on the source, plus discovered durable ones."""
    endpoint = Endpoint.of(source)
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for spec in source.function_names or []:
        name, qualifier = parse_function_spec(spec)
        if name:
            wanted[(name, qualifier)] = {"explicit": True}
    if source.discover:
        for config in lambda_api.list_functions(endpoint):
            if config.get("DurableConfig"):
                entry = wanted.setdefault((config["FunctionName"], ""), {})
                entry.update(
                    discovered=True,
                    arn=config.get("FunctionArn", ""),
                    durable_config=lambda_api.jsonable(config["DurableConfig"]),
                )
    functions = []
    for (name, qualifier), entry in wanted.items():
        function, _ = Function.objects.update_or_create(
            source=source,
            name=name,
            qualifier=qualifier,
            defaults={
                "explicit": entry.get("explicit", False),
                "discovered": entry.get("discovered", False),
                **({"arn": entry["arn"]} if entry.get("arn") else {}),
                **(
                    {"durable_config": entry["durable_config"]}
                    if entry.get("durable_config")
                    else {}
                ),
            },
        )
        functions.append(function)
    return functions


def upsert_listed(function: Function, record: dict[str, Any]) -> tuple[Execution, bool]:
    """Insert or update an execution from a ListDurableExecutionsByFunction record.

    Returns the row and whether it is new or its status changed (so it needs a sync).
    """
    arn = record["DurableExecutionArn"]
    status = record.get("Status", "RUNNING")
    execution = Execution.objects.filter(arn=arn).first()
    if execution is None:
        _, _, qualifier = lambda_api.split_function_arn(record.get("FunctionArn", ""))
        execution, created = Execution.objects.insert_once(
            arn,
            name=record.get("DurableExecutionName") or arn.rsplit("/", 1)[-1],
            source_id=function.source_id,
            function=function,
            qualifier=function.qualifier or qualifier,
            started_at=record.get("StartTimestamp"),
            status=status,
            ended_at=record.get("EndTimestamp"),
            raw=lambda_api.jsonable(record),
        )
        if created:
            return execution, True
    if execution.status == status:
        return execution, False
    # The status moved on: record it now, and check it first; sync_execution reads the
    # rest (a terminal transition gets one final read because history_complete is
    # still False).
    Execution.objects.filter(pk=execution.pk).update(
        status=status, ended_at=record.get("EndTimestamp"), next_check_at=schedule.URGENT
    )
    execution.status = status
    return execution, True


def list_function_executions(function: Function) -> list[int]:
    """List the function's executions into the mirror; return ids of new or changed ones."""
    endpoint = Endpoint.of(function.source)
    newest = function.executions.aggregate(newest=Max("started_at"))["newest"]
    started_after = newest - LIST_OVERLAP if newest else None
    changed = []
    for record in lambda_api.list_executions(
        endpoint, function.name, function.qualifier, started_after=started_after
    ):
        execution, needs_sync = upsert_listed(function, record)
        if needs_sync:
            changed.append(execution.pk)
    Function.objects.filter(pk=function.pk).update(last_listed_at=timezone.now())
    return changed


@dataclass
class SourcePoll:
    source: str
    functions: int = 0
    changed_execution_ids: list[int] = field(default_factory=list)
    error: str = ""


def poll_source(source: Source) -> SourcePoll:
    """Refresh the source's functions and list their executions."""
    result = SourcePoll(source=source.name)
    try:
        functions = refresh_functions(source)
        result.functions = len(functions)
        for function in functions:
            result.changed_execution_ids.extend(list_function_executions(function))
    except LambdaApiError as exc:
        result.error = str(exc)
        logger.warning("polling source %s failed: %s", source.name, exc)
        Source.objects.filter(pk=source.pk, stale_since__isnull=True).update(
            stale_since=timezone.now()
        )
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        return result
    if source.events_queue_url and source.last_synced_at is not None:
        # Status events should have told us; what the listing found, they did not.
        from executions import events

        events.record_reconciled(source, len(result.changed_execution_ids))
    Source.objects.filter(pk=source.pk).update(
        last_synced_at=timezone.now(), stale_since=None, last_error=""
    )
    return result


# ---- executions -----------------------------------------------------------------------


@dataclass
class ExecutionSync:
    execution_id: int
    skipped: str = ""  # why nothing was fetched: "complete", "locked", "missing"
    new_events: int = 0
    history_calls: int = 0
    status: str = ""
    error: str = ""


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


_NODE_TO_ROW = {
    "name": "name",
    "type": "type",
    "subtype": "subtype",
    "parent_id": "parent_operation_id",
    "status": "status",
    "started_at": "started_at",
    "ended_at": "ended_at",
    "attempt_count": "attempt_count",
    "callback_id": "callback_id",
    "wait_seconds": "wait_seconds",
    "wait_scheduled_end": "wait_scheduled_end",
    "invoke_function": "invoke_function",
    "child_execution_arn": "child_execution_arn",
    "input": "input_payload",
    "result": "result_payload",
    "result_truncated": "result_truncated",
    "error": "error",
    "retries": "retries",
    "first_event_id": "first_event_id",
    "last_event_id": "last_event_id",
    "position": "position",
}
_BLANK_STRING_FIELDS = {
    "name",
    "subtype",
    "parent_operation_id",
    "callback_id",
    "invoke_function",
    "child_execution_arn",
}


def node_from_row(row: Operation) -> tree.OperationNode:
    values = {attr: getattr(row, column) for attr, column in _NODE_TO_ROW.items()}
    for attr, column in _NODE_TO_ROW.items():
        if column in _BLANK_STRING_FIELDS and values[attr] == "":
            values[attr] = None
    return tree.OperationNode(id=row.operation_id, **values)


def load_nodes(execution: Execution) -> dict[str, tree.OperationNode]:
    """All of an execution's operations as tree nodes, without building model instances
    (10,000 of them cost a few hundred milliseconds)."""
    columns = list(_NODE_TO_ROW.values())
    nodes: dict[str, tree.OperationNode] = {}
    rows = (
        Operation.objects.filter(execution=execution)
        .order_by("first_event_id")
        .values_list("operation_id", *columns)
    )
    attrs = list(_NODE_TO_ROW)
    blank = [column in _BLANK_STRING_FIELDS for column in columns]
    for op_id, *values in rows.iterator(chunk_size=2000):
        kwargs = {
            attr: (None if is_blank and value == "" else value)
            for attr, value, is_blank in zip(attrs, values, blank, strict=True)
        }
        nodes[op_id] = tree.OperationNode(id=op_id, **kwargs)
    return nodes


def _row_values(node: tree.OperationNode) -> dict[str, Any]:
    values = {}
    for attr, column in _NODE_TO_ROW.items():
        value = getattr(node, attr)
        if column in _BLANK_STRING_FIELDS and value is None:
            value = ""
        if column == "retries":
            value = lambda_api.jsonable(value)
        values[column] = value
    return values


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
        nodes = {op_id: node_from_row(row) for op_id, row in rows.items()}
        before = set(nodes)
        changed = tree.apply_events(nodes, events)
        # New operations are numbered after the ones already stored, in start order.
        new_ids = sorted(set(nodes) - before, key=lambda op_id: nodes[op_id].first_event_id)
        for index, op_id in enumerate(new_ids):
            nodes[op_id].position = locked.operation_count + index
        creates, updates = [], []
        for op_id in changed:
            node = nodes[op_id]
            values = _row_values(node)
            if op_id in rows:
                row = rows[op_id]
                for column, value in values.items():
                    setattr(row, column, value)
                updates.append(row)
            else:
                creates.append(Operation(execution=locked, operation_id=op_id, **values))
        Operation.objects.bulk_create(creates, batch_size=500)
        if updates:
            Operation.objects.bulk_update(updates, list(_NODE_TO_ROW.values()), batch_size=500)

        counts = dict(
            Operation.objects.filter(execution=locked)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        execution.operation_counts = counts
        execution.operation_count = sum(counts.values())
        execution.pending_callbacks = Operation.objects.filter(
            execution=locked, type="CALLBACK", status="STARTED"
        ).count()
        execution.last_event_id = max(int(e["EventId"]) for e in events)
        _apply_execution_events(execution, events)
        Execution.objects.filter(pk=locked.pk).update(
            operation_counts=execution.operation_counts,
            operation_count=execution.operation_count,
            pending_callbacks=execution.pending_callbacks,
            last_event_id=execution.last_event_id,
            input_payload=execution.input_payload,
            input_truncated=execution.input_truncated,
            result_payload=execution.result_payload,
            result_truncated=execution.result_truncated,
            error=execution.error,
            error_truncated=execution.error_truncated,
        )
        return len(events)


def sync_execution(execution_id: int, *, force: bool = False) -> ExecutionSync:
    """Bring one execution's mirror up to date with its endpoint."""
    result = ExecutionSync(execution_id=execution_id)
    execution = (
        Execution.objects.select_related("source", "function").filter(pk=execution_id).first()
    )
    if execution is None:
        result.skipped = "missing"
        return result
    try:
        if execution.history_complete and not force:
            result.skipped = "complete"
            result.status = execution.status
            return result
        try:
            with redis_lock(f"execution:{execution_id}") as keepalive:
                return _sync_locked(execution, result, keepalive)
        except Locked:
            result.skipped = "locked"
            return result
    finally:
        schedule.release(execution.source_id, execution_id)


# Execution statuses that only GetDurableExecution can tell apart: transitions the
# history has no event for (yet).
_TRANSITIONAL = {"PAUSING", "DELETING"}
_STATUS_BY_EVENT = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionStopped": "STOPPED",
    "ExecutionPaused": "PAUSED",
    "ExecutionResumed": "RUNNING",
}


def status_from_events(events: list[dict[str, Any]], current: str) -> tuple[str, Any]:
    """The execution's status after `events` (in order), and when it ended if it did."""
    for event in reversed(events):
        status = _STATUS_BY_EVENT.get(event.get("EventType", ""))
        if status:
            ended = event.get("EventTimestamp") if status in TERMINAL_STATUSES else None
            return status, ended
    return current, None


def _sync_locked(execution: Execution, result: ExecutionSync, keepalive: Any) -> ExecutionSync:
    """One check. An unchanged running execution costs one call: a small reverse history
    page. GetDurableExecution is called only for what it alone knows: at first sight
    (version, the record), when the history shows the execution ended (its end time and
    final record), and while it is in a transition the history has no event for."""
    endpoint = Endpoint.of(execution.source)
    now = timezone.now()
    record: dict[str, Any] | None = None
    try:
        if execution.last_synced_at is None or execution.status in _TRANSITIONAL:
            record = lambda_api.get_execution(endpoint, execution.arn)
        events, result.history_calls = read_new_events(
            endpoint, execution.arn, execution.last_event_id, keepalive
        )
        ended_in_events = any(e.get("EventType") in TERMINAL_EVENT_TYPES for e in events)
        if record is None and ended_in_events:
            record = lambda_api.get_execution(endpoint, execution.arn)
    except LambdaApiError as exc:
        result.error = str(exc)
        retry_in = max(execution.source.execution_interval_seconds, execution.check_interval)
        Execution.objects.filter(pk=execution.pk).update(
            last_sync_error=str(exc),
            sync_error_at=now,
            next_check_at=now + timedelta(seconds=min(retry_in, schedule.MAX_INTERVAL_SECONDS)),
        )
        if not exc.permanent and exc.code != lambda_api.BUDGET_EXHAUSTED:
            Source.objects.filter(pk=execution.source_id, stale_since__isnull=True).update(
                stale_since=now
            )
        return result
    result.new_events = store_events(execution, events)
    execution.refresh_from_db()
    status, event_end = status_from_events(events, execution.status)
    if record is not None:
        status = record.get("Status", status)
    ended = status in TERMINAL_STATUSES
    complete = ended and (
        ended_in_events
        or HistoryEvent.objects.filter(
            execution=execution, event_type__in=TERMINAL_EVENT_TYPES
        ).exists()
    )
    fields: dict[str, Any] = {
        "status": status,
        "ended_at": (
            (record or {}).get("EndTimestamp") or event_end or execution.ended_at if ended else None
        ),
        "history_complete": complete,
        "last_synced_at": now,
        "last_sync_error": "",
        "sync_error_at": None,
    }
    if complete:
        fields.update(next_check_at=None, check_interval=0, wake_at=None)
    else:
        wake_at = schedule.wake_moment(execution.pk, now) if result.new_events else None
        if not result.new_events and execution.wake_at and execution.wake_at > now:
            wake_at = execution.wake_at
        fields["next_check_at"], fields["check_interval"] = schedule.next_check(
            execution,
            changed=bool(result.new_events),
            now=now,
            wake_at=wake_at,
            min_interval=execution.source.execution_interval_seconds,
        )
        fields["wake_at"] = wake_at
    if record is not None:
        fields.update(
            name=record.get("DurableExecutionName") or execution.name,
            started_at=record.get("StartTimestamp") or execution.started_at,
            version=record.get("Version") or execution.version,
            input_payload=(
                execution.input_payload
                if execution.input_payload is not None
                else record.get("InputPayload")
            ),
            result_payload=(
                execution.result_payload
                if execution.result_payload is not None
                else record.get("Result")
            ),
            error=execution.error or record.get("Error"),
            raw=lambda_api.jsonable(record),
        )
    Execution.objects.filter(pk=execution.pk).update(**fields)
    result.status = status
    return result


def sync_arn(source: Source, arn: str) -> Execution:
    """Mirror one execution known only by its ARN (the lookup page); raises LambdaApiError."""
    existing = Execution.objects.filter(arn=arn).first()
    if existing is None:
        record = lambda_api.get_execution(Endpoint.of(source), arn)
        function_arn = record.get("FunctionArn", "")
        _, name, qualifier = lambda_api.split_function_arn(function_arn)
        function, _ = Function.objects.get_or_create(
            source=source, name=name or function_arn, qualifier=qualifier
        )
        existing, _ = upsert_listed(function, record)
    sync_execution(existing.pk)
    existing.refresh_from_db()
    return existing


def due_sources(now: datetime | None = None) -> Iterable[Source]:
    now = now or timezone.now()
    for source in Source.objects.filter(enabled=True):
        if source.last_synced_at is None or (
            (now - source.last_synced_at).total_seconds() >= source.listing_interval_seconds
        ):
            yield source


def sync_once(source: Source | None = None) -> dict[str, Any]:
    """One full synchronous pass: poll sources, then sync every execution that can change."""
    sources = [source] if source else list(Source.objects.filter(enabled=True))
    summary: dict[str, Any] = {"sources": [], "executions": 0, "events": 0, "errors": []}
    for src in sources:
        poll = poll_source(src)
        summary["sources"].append(poll)
        if poll.error:
            summary["errors"].append(f"{src.name}: {poll.error}")
    ids = Execution.objects.filter(history_complete=False, source__in=sources).values_list(
        "pk", flat=True
    )
    for pk in ids:
        result = sync_execution(pk)
        summary["executions"] += 1
        summary["events"] += result.new_events
        if result.error:
            summary["errors"].append(result.error)
    return summary
