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

from django.db.models import Max
from django.utils import timezone

from executions import history, lambda_api, schedule
from executions.lambda_api import Endpoint, LambdaApiError
from executions.locks import Locked, redis_lock
from executions.models import (
    TERMINAL_STATUSES,
    ArchivedExecution,
    Execution,
    Function,
    HistoryEvent,
    Source,
)
from monitoring import logs

logger = logging.getLogger(__name__)

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


def pruned(arn: str) -> bool:
    """Whether the prune archived and deleted this execution (listing it again must not
    bring it back: it would be pruned again, archived twice)."""
    return ArchivedExecution.objects.filter(arn=arn, pruned_at__isnull=False).exists()


def upsert_listed(
    function: Function, record: dict[str, Any], *, again: bool = False
) -> tuple[Execution | None, bool]:
    """Insert or update an execution from a ListDurableExecutionsByFunction record.

    Returns the row and whether it is new or its status changed (so it needs a sync); (None,
    False) for an execution the prune deleted, unless `again` (a person looked it up).
    """
    arn = record["DurableExecutionArn"]
    status = record.get("Status", "RUNNING")
    execution = Execution.objects.filter(arn=arn).first()
    if execution is None and not again and pruned(arn):
        return None, False  # past its retention: archived and pruned, not mirrored again
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
        if (
            record.get("Status") == "DELETING"
            and not Execution.objects.filter(arn=record["DurableExecutionArn"]).exists()
        ):
            continue  # being deleted (by this console, say): nothing to mirror
        execution, needs_sync = upsert_listed(function, record)
        if execution is not None and needs_sync:
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
    learn_capabilities(source)
    return result


def learn_capabilities(source: Source) -> dict[str, bool]:
    """Ask the backend once which optional actions it has, and remember the answers."""
    unknown = [op for op in lambda_api.OPTIONAL_ACTIONS if op not in source.capabilities]
    if not unknown:
        return source.capabilities
    endpoint = Endpoint.of(source)
    # No answer (throttled, unreachable) is not remembered: asked again next poll.
    answers = {op: lambda_api.supports(endpoint, op) for op in unknown}
    learned = {op: answer for op, answer in answers.items() if answer is not None}
    if learned:
        remember_capabilities(source, learned)
    return source.capabilities


def remember_capabilities(source: Source, capabilities: dict[str, bool]) -> None:
    source.capabilities = {**source.capabilities, **capabilities}
    Source.objects.filter(pk=source.pk).update(capabilities=source.capabilities)


# ---- executions -----------------------------------------------------------------------


@dataclass
class ExecutionSync:
    execution_id: int
    skipped: str = ""  # why nothing was fetched: "complete", "locked", "missing"
    new_events: int = 0
    history_calls: int = 0
    status: str = ""
    error: str = ""


def sync_execution(execution_id: int, *, force: bool = False) -> ExecutionSync:
    """Bring one execution's mirror up to date with its endpoint."""
    result = ExecutionSync(execution_id=execution_id)
    execution = (
        Execution.objects.select_related("source", "function").filter(pk=execution_id).first()
    )
    if execution is None:
        result.skipped = "missing"
        return result
    bound = logs.bind_execution(execution.arn)  # what is logged until it returns is about it
    try:
        if execution.history_complete and not force:
            result.skipped = "complete"
            result.status = execution.status
            return result
        try:
            with redis_lock(f"execution:{execution_id}") as keepalive:
                # The prune deletes under this lock: one that deleted the execution between
                # the read above and the lock leaves nothing to write (no half execution).
                if not Execution.objects.filter(pk=execution_id).exists():
                    result.skipped = "missing"
                    return result
                return _sync_locked(execution, result, keepalive)
        except Locked:
            result.skipped = "locked"
            return result
    finally:
        schedule.release(execution.source_id, execution_id)
        logs.unbind(bound)


def _sync_locked(execution: Execution, result: ExecutionSync, keepalive: Any) -> ExecutionSync:
    """One check. An unchanged running execution costs one call: a small reverse history
    page. GetDurableExecution is called only for what it alone knows: at first sight
    (version, the record), when the history shows the execution ended (its end time and
    final record), and while it is in a transition the history has no event for."""
    endpoint = Endpoint.of(execution.source)
    now = timezone.now()
    record: dict[str, Any] | None = None
    try:
        if execution.last_synced_at is None or execution.status in history.TRANSITIONAL_STATUSES:
            record = lambda_api.get_execution(endpoint, execution.arn)
        events, result.history_calls = history.read_new_events(
            endpoint, execution.arn, execution.last_event_id, keepalive
        )
        ended_in_events = any(e.get("EventType") in history.TERMINAL_EVENT_TYPES for e in events)
        if record is None and ended_in_events:
            record = lambda_api.get_execution(endpoint, execution.arn)
    except LambdaApiError as exc:
        # AWS says ResourceNotFoundException; AWS's local runner a bare 404.
        if (exc.not_found or exc.status == 404) and execution.is_terminal:
            return _deleted_by_aws(execution, result, now)
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
    result.new_events = history.store_events(execution, events)
    execution.refresh_from_db()
    status, event_end = history.status_from_events(events, execution.status)
    if record is not None:
        status = record.get("Status", status)
    ended = status in TERMINAL_STATUSES
    complete = ended and (
        ended_in_events
        or HistoryEvent.objects.filter(
            execution=execution, event_type__in=history.TERMINAL_EVENT_TYPES
        ).exists()
    )
    fields: dict[str, Any] = {
        "status": status,
        "ended_at": (
            (record or {}).get("EndTimestamp") or event_end or execution.ended_at if ended else None
        ),
        "history_complete": complete,
        # The history has filled in whatever a truncated telemetry record dropped.
        "telemetry_truncated": False,
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
            # For an execution whose telemetry records flow: what they had not told.
            changed=history.told_after(events, execution.telemetry_at)
            if execution.telemetry_at is not None
            else bool(result.new_events),
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


def _deleted_by_aws(execution: Execution, result: ExecutionSync, now: datetime) -> ExecutionSync:
    """AWS no longer has this ended execution (its history past the function's
    RetentionPeriodInDays, or deleted): the mirror keeps its copy, marked, and stops
    asking for it."""
    Execution.objects.filter(pk=execution.pk).update(
        aws_deleted_at=execution.aws_deleted_at or now,
        history_complete=True,
        last_synced_at=now,
        last_sync_error="",
        sync_error_at=None,
        next_check_at=None,
        check_interval=0,
        wake_at=None,
    )
    result.status = execution.status
    result.skipped = "deleted by AWS"
    return result


def sync_arn(source: Source, arn: str) -> Execution:
    """Mirror one execution known only by its ARN (the lookup page); raises LambdaApiError."""
    existing = Execution.objects.filter(arn=arn).first()
    if existing is None:
        record = lambda_api.get_execution(Endpoint.of(source), arn)
        function_arn = record.get("FunctionArn", "")
        _, name, qualifier = lambda_api.split_function_arn(function_arn)
        # The function as listed: the same qualifier, else unqualified (which lists every
        # version, $LATEST included); a new row only for a function not mirrored at all.
        name = name or function_arn
        function = (
            Function.objects.filter(source=source, name=name, qualifier__in=[qualifier, ""])
            .order_by("-qualifier")
            .first()
        ) or Function.objects.get_or_create(source=source, name=name, qualifier=qualifier)[0]
        existing, _ = upsert_listed(function, record, again=True)
    assert existing is not None
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
