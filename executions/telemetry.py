"""The SDK's own telemetry records, through SQS: an execution's operations within seconds,
without spending the read quota.

A function running with the Durable Execution Telemetry plugin
(aws-durable-execution-sdk-python-telemetry-exporter, `on-change` and `full-tree`, its
SQSExporter; docs/DEPLOYMENT.md) sends one `DurableExecutionTelemetry` record to a queue
on every operation change: the execution's status, start and end, and every named
operation with its status, attempt, start and end times and error (and its result where
the function opted it in). `consume` reads the source's telemetry queue
(`Source.telemetry_queue_url`) and applies each record to the mirror in its own
transaction, the way executions/events.py applies status events, and deletes a message
only after that committed.

Records are best-effort, so nothing here trusts their order or their completeness:

- Each record is a snapshot of the whole execution; duplicated, coalesced or reordered
  records are applied by each operation's own progress (tree.apply_state: done beats not
  done, more attempts beat fewer, then the phase of the attempt, then a later end), never
  by arrival, so the mirror never goes backwards, whatever a history read or another
  record put there first. A terminal status is final.
- The state a record gave an operation is kept on it (Operation.telemetry): a history
  read folds its events and keeps that state where it is still ahead (history.py).
- A truncated record (`truncated`: operations or payloads dropped to fit the message) is
  applied for what it has, marked on the execution (Execution.telemetry_truncated), and
  the execution is checked first (schedule.urgent) so the history fills in the rest. A
  new callback's id, which people answer with, is only in the history: it is read when
  someone is shown the callback (schedule.want_callback_ids: the inbox, the API, a
  notification) or has its execution open (schedule.after_record), else at the
  reconciliation; until then the callback shows as waiting, its id being read.
- A record for an execution the mirror does not have is inserted when it names a
  function the source watches (as a status event would); otherwise it is held
  (HeldTelemetryRecord, the newest per execution) and applied once a listing or a
  status event brings the execution in.
- Fields a newer SDK adds are ignored; a body that is not JSON, not such a record, or
  larger than TELEMETRY_MAX_RECORD_BYTES is set aside with the reason
  (SetAsideMessage, shown on the sync health page) and removed from the queue. None
  stops the consumer.

While an execution's records flow (Execution.telemetry_at), the scheduler reads its
history only as a reconciliation (schedule.next_check, backing off while the history
tells nothing the records had not), and when someone needs what records cannot tell.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from domain.status import EXECUTION_STATUSES, OPERATION_STATUSES, TERMINAL_EXECUTION_STATUSES
from executions import events, history, lambda_api, schedule, tree
from executions.lambda_api import Endpoint
from executions.locks import redis_client, redis_key
from executions.models import (
    Execution,
    Function,
    HeldTelemetryRecord,
    Operation,
    SetAsideMessage,
    Source,
)
from executions.nodes import COLUMNS, node_from_row, row_values

logger = logging.getLogger(__name__)

RECORD_TYPE = "DurableExecutionTelemetry"
# SQS takes messages of up to 1 MiB; the SQS exporter cuts its records at 256 KB unless
# told otherwise. Anything larger is not one of them (TELEMETRY_MAX_RECORD_BYTES).
MAX_RECORD_BYTES = 1024 * 1024


def max_record_bytes() -> int:
    return int(getattr(settings, "TELEMETRY_MAX_RECORD_BYTES", MAX_RECORD_BYTES))


# A message that fails this many times for another reason than its content is set aside.
MAX_ATTEMPTS = 5
# Held records tried again per consume, and how long one is held at most.
HELD_PER_CONSUME = 50
HELD_DAYS = 14
# Set-aside records are kept with the status events' (SetAsideMessage), their reason so marked.
SET_ASIDE_PREFIX = "Telemetry record: "
OPERATION_TYPES = {"STEP", "WAIT", "CALLBACK", "CONTEXT", "CHAINED_INVOKE"}


class PoisonRecord(Exception):
    """The message is not a DurableExecutionTelemetry record the console can use."""


@dataclass(frozen=True)
class Record:
    arn: str
    emitted_text: str
    emitted_at: datetime | None
    status: str | None
    started_at: datetime | None
    ended_at: datetime | None
    function_name: str
    qualifier: str
    region: str
    name: str
    truncated: bool
    operations: list[tree.OperationState] = field(default_factory=list)
    error: dict[str, Any] | None = None
    output: str | None = None  # the execution's result, as JSON text


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _error(value: Any) -> dict[str, Any] | None:
    """A record's {name, message} error as the history writes one (ErrorType, ErrorMessage)."""
    if not isinstance(value, dict):
        return None
    error = {}
    if isinstance(value.get("name"), str):
        error["ErrorType"] = value["name"]
    if isinstance(value.get("message"), str):
        error["ErrorMessage"] = value["message"]
    return error or None


def _operation(raw: Any) -> tree.OperationState | None:
    if not isinstance(raw, dict):
        return None
    op_id = raw.get("id")
    if not isinstance(op_id, str) or not op_id or len(op_id) > 256:
        return None
    kind = raw.get("type") if raw.get("type") in OPERATION_TYPES else None
    status = raw.get("status") if raw.get("status") in OPERATION_STATUSES else None
    attempt = raw.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None
    # The SDK counts attempts made (a step's attempt goes up when one fails); the fold
    # counts attempts started. A running step has started one more than it made.
    attempts = attempt
    if kind == "STEP" and status == "STARTED":
        attempts = (attempt or 0) + 1
    if attempts is not None:
        attempts = max(0, min(attempts, 1_000_000))
    result = None
    if "result" in raw and raw["result"] is not None and not raw.get("truncated"):
        result = json.dumps(raw["result"])
    return tree.OperationState(
        id=op_id,
        type=kind,
        subtype=_text(raw.get("subType"), 64),
        name=_text(raw.get("name"), 10_000),
        parent_operation_id=_text(raw.get("parentId"), 256),
        status=status,
        attempts=attempts,
        started_at=_time(raw.get("startTime")),
        ended_at=_time(raw.get("endTime")),
        error=_error(raw.get("error")),
        result_payload=result,
    )


def parse(body: str) -> Record:
    """One SQS message body -> Record; PoisonRecord when it is not one."""
    size, limit = len(body.encode("utf-8", errors="replace")), max_record_bytes()
    if size > limit:
        raise PoisonRecord(f"larger than {limit:,} bytes ({size:,})")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PoisonRecord(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PoisonRecord("not a JSON object")
    if data.get("recordType") != RECORD_TYPE:
        kind = repr(data["recordType"])[:80] if "recordType" in data else "missing"
        raise PoisonRecord(f"not a {RECORD_TYPE} record (recordType {kind})")
    arn = data.get("executionArn")
    if not isinstance(arn, str) or not arn.strip() or len(arn) > 2048:
        raise PoisonRecord(f"executionArn is missing or not an ARN: {str(arn)[:200]!r}")
    operations = data.get("operations", [])
    if not isinstance(operations, list):
        raise PoisonRecord("operations is not a list")
    status = data.get("status") if data.get("status") in EXECUTION_STATUSES else None
    output = None
    if status == "SUCCEEDED" and "output" in data and not data.get("droppedOutput"):
        output = json.dumps(data["output"])
    states = [state for state in map(_operation, operations) if state is not None]
    emitted_text = data.get("emittedAt") if isinstance(data.get("emittedAt"), str) else ""
    region, function_name, qualifier = lambda_api.split_function_arn(arn)
    return Record(
        arn=arn,
        emitted_text=emitted_text[:40],
        emitted_at=_time(emitted_text),
        status=status,
        started_at=_time(data.get("startTime")),
        ended_at=_time(data.get("endTime")),
        function_name=_text(data.get("functionName"), 170) or function_name,
        qualifier=(_text(data.get("functionQualifier"), 128) or qualifier).split("/")[0],
        region=_text(data.get("region"), 32) or region,
        name=_text(data.get("executionName"), 256) or arn.rsplit("/", 2)[-2 if "/" in arn else -1],
        # Operations left out (or a part of one dropped) to fit the message.
        truncated=bool(data.get("truncated"))
        or len(states) < len(operations)
        or any(isinstance(op, dict) and op.get("truncated") for op in operations),
        operations=states,
        error=_error(data.get("error")) if status in TERMINAL_EXECUTION_STATUSES else None,
        output=output,
    )


def _function(source: Source, record: Record) -> Function | None:
    if not record.function_name or (record.region and record.region != source.region):
        return None
    functions = {
        f.qualifier: f for f in Function.objects.filter(source=source, name=record.function_name)
    }
    return functions.get(record.qualifier) or functions.get("")


def _state_json(state: tree.OperationState, emitted: str) -> dict[str, Any]:
    data = lambda_api.jsonable(dataclasses.asdict(state))
    data.pop("id", None)
    data["emitted_at"] = emitted
    return data


def apply(source: Source, record: Record, body: str = "") -> str:
    """Apply one record to the mirror; returns what it did: applied, inserted, duplicate,
    stale or held."""
    with transaction.atomic():
        execution = Execution.objects.select_for_update().filter(arn=record.arn).first()
        inserted = False
        if execution is None:
            function = _function(source, record)
            if function is None:
                _hold(source, record, body, "the execution is not in the mirror yet")
                return "held"
            execution, inserted = Execution.objects.insert_once(
                record.arn,
                name=record.name,
                source=source,
                function=function,
                qualifier=function.qualifier or record.qualifier,
                status="RUNNING",
                started_at=record.started_at,
                # First sight: checked as soon as the budget allows.
                next_check_at=None,
                raw={"telemetry": {"status": record.status}},
            )
            execution = Execution.objects.select_for_update().get(pk=execution.pk)
        if execution.source_id != source.pk:
            _hold(source, record, body, "the execution belongs to another source")
            return "held"
        execution.source = source
        return _apply_locked(execution, record, inserted)


def _apply_locked(execution: Execution, record: Record, inserted: bool) -> str:
    now = timezone.now()
    rows = {row.operation_id: row for row in Operation.objects.filter(execution=execution)}
    nodes = {op_id: node_from_row(row) for op_id, row in rows.items()}
    changed: set[str] = set()
    marks: dict[str, dict[str, Any]] = {}
    for state in record.operations:
        prior = tree.node_progress(nodes[state.id]) if state.id in nodes else None
        if tree.apply_state(nodes, state):
            changed.add(state.id)
        # What the record told of it is kept while it is ahead of what else is known, so
        # that a history read does not undo it (history.store_events).
        told = rows[state.id].telemetry if state.id in rows else None
        reached = tree.progress(state.status, state.attempts, state.ended_at)
        if told:
            keep = reached >= tree.progress(
                told.get("status"), told.get("attempts"), _time(told.get("ended_at"))
            )
        else:
            keep = prior is None or reached > prior
        if keep:
            mark = _state_json(state, record.emitted_text)
            if not told or {**told, "emitted_at": ""} != {**mark, "emitted_at": ""}:
                marks[state.id] = mark
    # Operations new to the mirror go after those it has, in the record's (start) order,
    # and before anything the history has not told yet.
    order = execution.last_event_id + 1
    creates, updates = [], []
    for op_id in sorted(changed | set(marks), key=lambda op_id: nodes[op_id].position):
        node = nodes[op_id]
        values = row_values(node)
        if op_id in rows:
            row = rows[op_id]
            for column, value in values.items():
                setattr(row, column, value)
            row.telemetry = marks.get(op_id, row.telemetry)
            updates.append(row)
        else:
            values["first_event_id"] = order
            values["position"] = len(rows) + len(creates)
            creates.append(
                Operation(
                    execution=execution, operation_id=op_id, telemetry=marks.get(op_id), **values
                )
            )
    Operation.objects.bulk_create(creates, batch_size=500)
    if updates:
        Operation.objects.bulk_update(updates, [*COLUMNS, "telemetry"], batch_size=500)

    fields: dict[str, Any] = {}
    if changed:
        fields.update(history.tree_figures(execution))
    status_changed = False
    if (
        record.status in TERMINAL_EXECUTION_STATUSES
        and not execution.is_terminal
        and execution.status in ("RUNNING", "PAUSING", "PAUSED")
    ):
        status_changed = True
        fields.update(status=record.status, ended_at=record.ended_at or now)
    if record.status in TERMINAL_EXECUTION_STATUSES and record.status == fields.get(
        "status", execution.status
    ):
        # What the record has of its end and the mirror not (yet): listed as ended, say.
        if execution.ended_at is None and "ended_at" not in fields:
            fields["ended_at"] = record.ended_at or now
        if record.error and execution.error is None:
            fields["error"] = record.error
        if record.output is not None and execution.result_payload is None:
            fields["result_payload"] = record.output
    if execution.started_at is None and record.started_at is not None:
        fields["started_at"] = record.started_at
    newest = execution.telemetry_at
    if record.emitted_at and (newest is None or record.emitted_at > newest):
        fields["telemetry_at"] = record.emitted_at
    elif newest is None:
        fields["telemetry_at"] = now
    # The reconciliation comes its interval after the last record (that interval backs off
    # while reconciliations find nothing the records had not told: schedule.next_check).
    base = schedule.reconcile_seconds(execution.source)
    reconcile = now + timedelta(seconds=max(execution.check_interval or 0, base))
    if record.truncated:
        fields["telemetry_truncated"] = True
    if record.truncated and not execution.history_complete:
        fields["next_check_at"] = schedule.URGENT  # the history fills in what it dropped
    elif status_changed:
        # Its final history read, once, when the budget allows: nothing is missing.
        fields["next_check_at"] = now
    elif changed and (soon := schedule.after_record(execution, now)) is not None:
        # Someone has it open: what only the history has (a new callback's id, payloads)
        # is read now, once for the records of one invocation.
        fields["next_check_at"] = soon
    elif (
        changed
        # An ended one's final read is due, whatever the records told.
        and execution.status not in TERMINAL_EXECUTION_STATUSES
        and (
            execution.next_check_at is None or schedule.URGENT < execution.next_check_at < reconcile
        )
    ):
        # The record told what a check would have found, a first read's too: the history
        # read can wait. (A new callback's id too, until someone is shown the callback:
        # schedule.want_callback_ids.)
        fields["next_check_at"] = reconcile
        fields["check_interval"] = max(execution.check_interval or 0, base)
    if fields:
        Execution.objects.filter(pk=execution.pk).update(**fields)
    if inserted:
        return "inserted"
    if changed or status_changed:
        return "applied"
    if newest and record.emitted_at and record.emitted_at < newest:
        return "stale"
    return "duplicate"


def _hold(source: Source, record: Record, body: str, reason: str) -> None:
    """Keep the newest record of an execution the mirror does not have (yet)."""
    held = HeldTelemetryRecord.objects.filter(source=source, execution_arn=record.arn).first()
    if held is not None:
        if held.emitted_at > record.emitted_text:
            return
        held.emitted_at, held.body, held.reason = record.emitted_text, body, reason
        held.received_at = timezone.now()
        held.save(update_fields=["emitted_at", "body", "reason", "received_at"])
        return
    HeldTelemetryRecord.objects.create(
        source=source,
        execution_arn=record.arn,
        emitted_at=record.emitted_text,
        body=body,
        reason=reason,
    )


def apply_held(source: Source, limit: int = HELD_PER_CONSUME) -> int:
    """Apply the held records whose executions the mirror now has; forget those held
    longer than HELD_DAYS. Returns how many were applied."""
    HeldTelemetryRecord.objects.filter(
        source=source, received_at__lt=timezone.now() - timedelta(days=HELD_DAYS)
    ).delete()
    known = Execution.objects.filter(source=source).values("arn")
    applied = 0
    for held in HeldTelemetryRecord.objects.filter(source=source, execution_arn__in=known)[:limit]:
        try:
            outcome = apply(source, parse(held.body), held.body)
        except PoisonRecord:
            outcome = "poison"
        if outcome != "held":
            held.delete()
            applied += 1
    return applied


# ---- the queue ------------------------------------------------------------------------


@dataclass
class Consumed:
    received: int = 0
    consumed: int = 0  # applied (or held, or set aside) and deleted from the queue
    outcomes: dict[str, int] = field(default_factory=dict)
    error: str = ""


def endpoint_of(source: Source) -> Endpoint:
    """The source's endpoint with its telemetry queue as the queue."""
    return dataclasses.replace(Endpoint.of(source), queue_url=source.telemetry_queue_url)


def _set_aside(source: Source, message: dict[str, Any], reason: str) -> None:
    SetAsideMessage.objects.create(
        source=source,
        message_id=message.get("MessageId", "")[:128],
        body=message.get("Body", "")[:100_000],
        reason=f"{SET_ASIDE_PREFIX}{reason}",
    )


def _superseded(records: dict[str, Record | PoisonRecord]) -> dict[str, str]:
    """Of the records of one batch, those another record of the same execution in it
    supersedes, each with what it is (a duplicate of it, or stale): each record is a
    snapshot of the whole execution, so only the furthest along needs applying (a backlog
    holds several records of each execution). A truncated record is never one, nor does it
    supersede one: each is applied for what it holds."""
    newest: dict[str, tuple[str, Record]] = {}
    for message_id, record in records.items():
        if isinstance(record, PoisonRecord) or record.truncated:
            continue
        held = newest.get(record.arn)
        if held is None or _after(record, held[1]):
            newest[record.arn] = (message_id, record)
    found = {}
    for message_id, record in records.items():
        if isinstance(record, PoisonRecord) or record.truncated:
            continue
        kept_id, kept = newest[record.arn]
        if message_id != kept_id:
            same = record.emitted_text == kept.emitted_text
            found[message_id] = "duplicate" if same else "stale"
    return found


def _after(record: Record, other: Record) -> bool:
    """Whether `record` is further along than `other`, of the same execution: emitted
    later, or (emitted at once) telling more operations."""
    if record.emitted_at and other.emitted_at and record.emitted_at != other.emitted_at:
        return record.emitted_at > other.emitted_at
    return len(record.operations) > len(other.operations)


def consume(source: Source, *, wait_seconds: int = 1) -> Consumed:
    """Read one batch of the source's telemetry records and apply it."""
    result = Consumed()
    endpoint = endpoint_of(source)
    try:
        messages = lambda_api.receive_status_events(endpoint, wait_seconds=wait_seconds)
    except lambda_api.LambdaApiError as exc:
        result.error = str(exc)
        _record(source, {"receive_errors": 1}, [], error=str(exc))
        return result
    result.received = len(messages)
    done: dict[str, str] = {}
    lags: list[float] = []
    now = time.time()
    records: dict[str, Record | PoisonRecord] = {}
    for message in messages:
        try:
            records[message.get("MessageId", "")] = parse(message.get("Body", ""))
        except PoisonRecord as exc:
            records[message.get("MessageId", "")] = exc
    superseded = _superseded(records)
    for message in messages:
        message_id = message.get("MessageId", "")
        body = message.get("Body", "")
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        if sent:
            lags.append(max(0.0, now - int(sent) / 1000))
        record = records[message_id]
        try:
            if isinstance(record, PoisonRecord):
                raise record
            outcome = superseded.get(message_id) or apply(source, record, body)
        except PoisonRecord as exc:
            _set_aside(source, message, str(exc))
            logger.warning("telemetry record %s set aside: %s", message_id, exc)
            outcome = "set_aside"
        except Exception as exc:
            attempts = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
            if attempts < MAX_ATTEMPTS:  # the database is down, say: leave it for later
                logger.warning(
                    "telemetry record %s not applied, left for later: %s", message_id, exc
                )
                result.error = str(exc)
                continue
            _set_aside(source, message, f"failed {attempts} times: {type(exc).__name__}: {exc}")
            outcome = "set_aside"
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        done[message_id] = message.get("ReceiptHandle", "")
    if done:
        try:
            failed = lambda_api.delete_status_events(endpoint, done)
        except lambda_api.LambdaApiError as exc:  # they come back and change nothing again
            result.error = str(exc)
            failed = list(done)
        result.consumed = len(done) - len(failed)
    try:
        held = apply_held(source)
    except Exception as exc:  # held records wait for the next round
        logger.warning("held telemetry records not applied: %s", exc)
        held = 0
    if held:
        result.outcomes["held_applied"] = held
    _record(source, {**result.outcomes, "consumed": result.consumed}, lags)
    return result


def _stats_key(source: Source) -> str:
    return redis_key("telemetry", str(source.pk))


def _record(source: Source, counts: dict[str, int], lags: list[float], error: str = "") -> None:
    events.record_figures(_stats_key(source), counts, lags, error, "telemetry")


def figures(source: Source) -> dict[str, Any]:
    """Counts and the queue's lag, for the sync health page."""
    try:
        client = redis_client()
        raw = {k.decode(): v.decode() for k, v in client.hgetall(_stats_key(source)).items()}
        lags = sorted(float(v) for v in client.lrange(f"{_stats_key(source)}:lags", 0, -1))
    except Exception as exc:
        return {"error": str(exc)}
    counts = {k: int(v) for k, v in raw.items() if k not in ("last_received_at", "last_error")}
    last = float(raw["last_received_at"]) if raw.get("last_received_at") else None
    set_aside = SetAsideMessage.objects.filter(source=source, reason__startswith=SET_ASIDE_PREFIX)
    return {
        "counts": counts,
        "consumed": counts.get("consumed", 0),
        "held": HeldTelemetryRecord.objects.filter(source=source).count(),
        "set_aside": set_aside.count(),
        "recent_set_aside": list(set_aside.values("message_id", "reason", "received_at")[:5]),
        "lag_p50_seconds": lags[len(lags) // 2] if lags else None,
        "lag_max_seconds": lags[-1] if lags else None,
        "last_polled_seconds_ago": round(time.time() - last, 1) if last else None,
        "last_error": raw.get("last_error", ""),
    }
