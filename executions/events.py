"""Status events from EventBridge through SQS: new executions and status changes within
seconds, without spending the read quotas.

Lambda emits "Durable Execution Status Change" events (source `aws.lambda`) whenever a
durable execution changes status; an EventBridge rule delivers them to a source's SQS
queue (deploy/aws/status-events.yaml). `consume` reads a batch, applies each event to
the mirror in its own transaction, and deletes a message only after that committed, so a
consumer killed in between loses nothing: the message comes back after the queue's
visibility timeout and is applied again, which changes nothing the second time.

- A new execution is inserted and checked at once (first sight); a terminal one is
  checked at top priority for its final history read (schedule.urgent).
- Duplicates change nothing; a status older than the one applied (events can arrive out
  of order) changes nothing, and a terminal status is final.
- A message for a function the source does not watch, or another Region, is counted and
  dropped: nothing to mirror. A message that is not a status event at all (poison) is
  set aside with its reason (SetAsideMessage, shown on the sync health page) and removed
  from the queue, so it is not read again and again.

Counts and queue lags are kept in Redis for the sync health page.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions import lambda_api, schedule
from executions.lambda_api import Endpoint
from executions.locks import redis_client, redis_key
from executions.models import (
    TERMINAL_STATUSES,
    Execution,
    ExecutionStatus,
    Function,
    SetAsideMessage,
    Source,
)

logger = logging.getLogger(__name__)

DETAIL_TYPE = "Durable Execution Status Change"
LAGS_KEPT = 500
# A message that fails this many times for another reason than its content is set aside.
MAX_ATTEMPTS = 5


class PoisonMessage(Exception):
    """The message is not a durable execution status event."""


@dataclass(frozen=True)
class StatusEvent:
    arn: str
    name: str
    function_arn: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    time: datetime | None  # when EventBridge saw the change

    @property
    def function_name(self) -> str:
        return lambda_api.split_function_arn(self.function_arn)[1]

    @property
    def qualifier(self) -> str:
        return lambda_api.split_function_arn(self.function_arn)[2]

    @property
    def region(self) -> str:
        return lambda_api.split_function_arn(self.function_arn)[0]


def _time(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    moment = parse_datetime(str(value)) if isinstance(value, str) else None
    if moment is None:
        raise PoisonMessage(f"{what} is not a timestamp: {str(value)[:80]!r}")
    return moment


def parse(body: str) -> StatusEvent:
    """An EventBridge envelope (as the rule delivers it to SQS) -> StatusEvent."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise PoisonMessage("not a JSON object")
    if event.get("source") != "aws.lambda" or event.get("detail-type") != DETAIL_TYPE:
        source, kind = (
            repr(event[key]) if key in event else "missing" for key in ("source", "detail-type")
        )
        raise PoisonMessage(
            f"not a durable execution status event (source {source}, detail-type {kind})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise PoisonMessage("the event has no detail object")
    arn = detail.get("durableExecutionArn")
    status = detail.get("status")
    if not isinstance(arn, str) or not arn.strip() or len(arn) > 2048:
        raise PoisonMessage(
            f"detail.durableExecutionArn is missing or not an ARN: {str(arn)[:200]!r}"
        )
    if status not in ExecutionStatus.values:
        raise PoisonMessage(f"detail.status {str(status)[:40]!r} is not an execution status")
    return StatusEvent(
        arn=arn,
        name=str(detail.get("durableExecutionName") or _name_in(arn))[:256],
        function_arn=str(detail.get("functionArn") or ""),
        status=status,
        started_at=_time(detail.get("startTimestamp"), "detail.startTimestamp"),
        ended_at=_time(detail.get("endTimestamp"), "detail.endTimestamp"),
        time=_time(event.get("time"), "time"),
    )


def _name_in(arn: str) -> str:
    """`.../durable-execution/NAME/ID` -> NAME."""
    return arn.rsplit("/", 2)[-2] if "/" in arn else arn


def _function(source: Source, event: StatusEvent) -> Function | None:
    functions = {
        (f.name, f.qualifier): f
        for f in Function.objects.filter(source=source, name=event.function_name)
    }
    return functions.get((event.function_name, event.qualifier)) or functions.get(
        (event.function_name, "")
    )


def apply(source: Source, event: StatusEvent) -> str:
    """Apply one status event to the mirror; returns what it did: inserted, updated,
    duplicate, stale or ignored."""
    if event.region and event.region != source.region:
        return "ignored"
    function = _function(source, event)
    if function is None:
        return "ignored"
    terminal = event.status in TERMINAL_STATUSES
    with transaction.atomic():
        execution = Execution.objects.select_for_update().filter(arn=event.arn).first()
        if execution is None and event.status == "DELETING":
            return "ignored"  # being deleted (by this console, say): nothing to mirror
        if execution is None:
            execution, created = Execution.objects.insert_once(
                event.arn,
                name=event.name,
                source=source,
                function=function,
                qualifier=function.qualifier or event.qualifier,
                status=event.status,
                started_at=event.started_at,
                ended_at=event.ended_at if terminal else None,
                status_event_at=event.time,
                # First sight: checked as soon as the budget allows.
                next_check_at=None,
                raw={"statusEvent": {"status": event.status}},
            )
            if created:
                return "inserted"
            # Listed or consumed elsewhere a moment ago: carry on with its row, locked.
            execution = Execution.objects.select_for_update().get(pk=execution.pk)
        if execution.status == event.status:
            return "duplicate"
        if execution.is_terminal:
            return "stale"  # a terminal status is final
        if (
            not terminal
            and execution.status_event_at
            and event.time
            and event.time <= execution.status_event_at
        ):
            return "stale"
        Execution.objects.filter(pk=execution.pk).update(
            status=event.status,
            ended_at=event.ended_at if terminal else None,
            status_event_at=event.time or timezone.now(),
            # Its final history read (or whatever changed) first.
            next_check_at=schedule.URGENT,
        )
        return "updated"


@dataclass
class Consumed:
    received: int = 0
    consumed: int = 0  # applied (or set aside) and deleted from the queue
    outcomes: dict[str, int] = field(default_factory=dict)
    error: str = ""


def _stats_key(source: Source) -> str:
    return redis_key("events", str(source.pk))


def consume(source: Source, *, wait_seconds: int = 1) -> Consumed:
    """Read one batch of the source's status events and apply it."""
    result = Consumed()
    endpoint = Endpoint.of(source)
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
    for message in messages:
        message_id = message.get("MessageId", "")
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        if sent:
            lags.append(max(0.0, now - int(sent) / 1000))
        try:
            outcome = apply(source, parse(message.get("Body", "")))
        except PoisonMessage as exc:
            SetAsideMessage.objects.create(
                source=source,
                message_id=message_id,
                body=message.get("Body", "")[:100_000],
                reason=str(exc),
            )
            logger.warning("status event %s set aside: %s", message_id, exc)
            outcome = "set_aside"
        except Exception as exc:
            attempts = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
            if attempts < MAX_ATTEMPTS:  # the database is down, say: leave it for later
                logger.warning("status event %s not applied, left for later: %s", message_id, exc)
                result.error = str(exc)
                continue
            # It failed every time: keep it with the reason rather than loop on it.
            SetAsideMessage.objects.create(
                source=source,
                message_id=message_id,
                body=message.get("Body", "")[:100_000],
                reason=f"failed {attempts} times: {type(exc).__name__}: {exc}",
            )
            outcome = "set_aside"
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        done[message_id] = message.get("ReceiptHandle", "")
    if done:
        try:
            failed = lambda_api.delete_status_events(endpoint, done)
        except lambda_api.LambdaApiError as exc:  # they come back and change nothing again
            result.error = str(exc)
            failed = list(done)
        if failed:
            logger.warning("%d status events not deleted; they will be read again", len(failed))
        result.consumed = len(done) - len(failed)
    _record(source, {**result.outcomes, "consumed": result.consumed}, lags)
    return result


def _record(source: Source, counts: dict[str, int], lags: list[float], error: str = "") -> None:
    record_figures(_stats_key(source), counts, lags, error, "status event")


def record_figures(
    key: str, counts: dict[str, int], lags: list[float], error: str = "", what: str = ""
) -> None:
    """Add a queue consumer's counts to the Redis hash `key`, with when it last received,
    its last error and its newest LAGS_KEPT lags (status events, telemetry records)."""
    try:
        pipe = redis_client().pipeline()
        for name, n in counts.items():
            if n:
                pipe.hincrby(key, name, n)
        pipe.hset(key, "last_received_at", time.time())
        if error:
            pipe.hset(key, "last_error", error[:2000])
        if lags:
            pipe.lpush(f"{key}:lags", *[f"{lag:.3f}" for lag in lags])
            pipe.ltrim(f"{key}:lags", 0, LAGS_KEPT - 1)
        pipe.execute()
    except Exception as exc:  # figures only
        logger.warning("could not record %s figures: %s", what, exc)


def record_reconciled(source: Source, count: int) -> None:
    """A reconciliation listing found `count` executions (new or changed) that the
    queue had not told the mirror about."""
    if count:
        _record(source, {"reconciled": count}, [])


def figures(source: Source) -> dict[str, Any]:
    """Counts and the queue's lag for the sync health page."""
    try:
        client = redis_client()
        raw = {k.decode(): v.decode() for k, v in client.hgetall(_stats_key(source)).items()}
        lags = sorted(float(v) for v in client.lrange(f"{_stats_key(source)}:lags", 0, -1))
    except Exception as exc:
        return {"error": str(exc)}
    counts = {k: int(v) for k, v in raw.items() if k not in ("last_received_at", "last_error")}
    last = float(raw["last_received_at"]) if raw.get("last_received_at") else None
    return {
        "counts": counts,
        "consumed": counts.get("consumed", 0),
        "set_aside": SetAsideMessage.objects.filter(source=source).count(),
        "reconciled": counts.get("reconciled", 0),
        "lag_p50_seconds": lags[len(lags) // 2] if lags else None,
        "lag_max_seconds": lags[-1] if lags else None,
        "last_polled_seconds_ago": round(time.time() - last, 1) if last else None,
        "last_error": raw.get("last_error", ""),
        "recent_set_aside": list(
            SetAsideMessage.objects.filter(source=source).values(
                "message_id", "reason", "received_at"
            )[:5]
        ),
    }
