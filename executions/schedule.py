"""Which execution to check next, within the call budget.

Every check of a running execution costs one history read, and Lambda allows an
account 15 of those a second, shared with every other tool. So the scheduler spends
them where they matter:

- an execution someone has open in a browser is *watched* (its page's header poll marks
  it for WATCH_TTL_SECONDS) and is checked every SYNC_WATCH_SECONDS;
- an *urgent* one (an operator just acted on it, a status event said it ended) goes
  first;
- one that just changed is checked again after its source's execution interval; one
  that keeps not changing backs off (doubling) to SYNC_MAX_INTERVAL_SECONDS;
- a moment the history names (a wait's scheduled end, a retry's next attempt, a
  callback's timeout or heartbeat deadline) brings the next check forward to it;
- an execution whose telemetry records flow (executions/telemetry.py) tells its changes
  itself: its history is read as a reconciliation, after its last record, backing off
  from reconcile_seconds (TELEMETRY_RECONCILE_SECONDS, or longer so that reconciliations
  take at most TELEMETRY_RECONCILE_SHARE of the budget) to TELEMETRY_RECONCILE_MAX_SECONDS
  while the history tells nothing the records had not; while someone has it open, when a
  record changes it; one the records told of first is not read as soon as it is seen;
  a callback's id, which only the history has, is read first when someone is shown the
  callback (want_callback_ids), not for every callback that starts;
- the rest are served oldest-due first, so none is starved: when the budget cannot keep
  up, every execution's checks are late by the same amount rather than some never.

`tick` runs on the beat (every SYNC_TICK_SECONDS): per source it queues as many checks
as the budget can pay for now, never more than a couple of seconds' worth in flight.
Dispatched executions are leased in Redis so that a check in flight is not queued
twice; a lease left by a killed worker expires after LEASE_SECONDS.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions import deadlines, lambda_api
from executions.locks import Locked, redis_client, redis_key, redis_lock
from executions.models import Execution, Operation, Source

logger = logging.getLogger(__name__)

WATCH_SECONDS = float(getattr(settings, "SYNC_WATCH_SECONDS", 2))
WATCH_TTL_SECONDS = 20
MAX_INTERVAL_SECONDS = float(getattr(settings, "SYNC_MAX_INTERVAL_SECONDS", 60))
TICK_SECONDS = float(getattr(settings, "SYNC_TICK_SECONDS", 0.5))
LEASE_SECONDS = 60
# At most this many seconds of the budget's calls are queued or running at once.
IN_FLIGHT_SECONDS = 2.0
# A moment the history names is checked this long after it, so the backend has acted.
WAKE_MARGIN = timedelta(seconds=1)
# "As soon as possible", ahead of everything that is merely due.
URGENT = datetime(2000, 1, 1, tzinfo=UTC)
# A source is behind when checks are this late: the budget cannot keep up.
BEHIND_SECONDS = 30
HISTORY_API = "GetDurableExecutionHistory"
# Telemetry (executions/telemetry.py): while an execution's own records flow, its history
# is read as a reconciliation: this long after its last record, and then, each time the
# history told nothing the records had not, twice as long, up to the maximum.
TELEMETRY_RECONCILE_SECONDS = float(getattr(settings, "SYNC_TELEMETRY_RECONCILE_SECONDS", 300))
TELEMETRY_RECONCILE_MAX_SECONDS = float(
    getattr(settings, "SYNC_TELEMETRY_RECONCILE_MAX_SECONDS", 3600)
)
# ... and further apart where a source has so many such executions that reconciling each
# that often would take more than this share of its history budget.
TELEMETRY_RECONCILE_SHARE = float(getattr(settings, "SYNC_TELEMETRY_RECONCILE_SHARE", 0.1))
# How long a source's count of executions that can still change is reused (per process).
RECONCILE_COUNT_SECONDS = 30.0
# A watched execution whose records flow is read when a record changes it (what only the
# history has: a new callback's id, payloads, retry errors), at most every WATCH_SECONDS
# and this long after the record, so that the records of one invocation (sent over a
# second or so) are read once; and at least every TELEMETRY_WATCH_SECONDS, should a
# record be lost. (The record itself is on the page at once.)
TELEMETRY_SETTLE_SECONDS = 2.0
TELEMETRY_WATCH_SECONDS = float(getattr(settings, "SYNC_TELEMETRY_WATCH_SECONDS", 60))


def _watched_key() -> str:
    return redis_key("schedule", "watched")


def _in_flight_key(source_id: int) -> str:
    return redis_key("schedule", "in-flight", str(source_id))


# ---- marks from the pages and the actions ------------------------------------------


# One person keeps at most this many executions watched at once. Watching spends only the
# console's own share of the read quota (the budget caps it), but a script polling a
# thousand pages would otherwise crowd out everyone else's pages; past the cap, the
# person's other pages are checked at the usual pace.
WATCH_PER_PERSON = 20


def watch(execution_id: int, person: int | str = "") -> bool:
    """Someone has the execution's page open: check it often for a while. False when the
    person already watches WATCH_PER_PERSON other executions (or Redis is down)."""
    now = time.time()
    until = now + WATCH_TTL_SECONDS
    member = str(execution_id)
    try:
        client = redis_client()
        if person != "":
            mine = redis_key("schedule", "watching", str(person))
            pipe = client.pipeline()
            pipe.zremrangebyscore(mine, "-inf", now)
            pipe.zscore(mine, member)
            pipe.zcard(mine)
            _, already, count = pipe.execute()
            if already is None and count >= WATCH_PER_PERSON:
                return False
            client.zadd(mine, {member: until})
            client.expire(mine, int(WATCH_TTL_SECONDS) + 1)
        client.zadd(_watched_key(), {member: until})
    except Exception as exc:  # Redis down: the page still works, just less fresh
        logger.warning("could not mark execution %s watched: %s", execution_id, exc)
        return False
    return True


def watched_ids() -> set[int]:
    client = redis_client()
    now = time.time()
    client.zremrangebyscore(_watched_key(), "-inf", now)
    return {int(member) for member in client.zrangebyscore(_watched_key(), now, "+inf")}


def is_watched(execution_id: int) -> bool:
    try:
        score = redis_client().zscore(_watched_key(), str(execution_id))
    except Exception:
        return False
    return score is not None and score > time.time()


def want_callback_ids(operations: Iterable[Operation]) -> int:
    """Someone is shown callbacks that telemetry told of and no history read has given the
    id of yet (the id, which an answer is sent with, is only in the history): read their
    executions first, so that the answer buttons follow within seconds. Returns how many
    executions were marked."""
    return urgent(
        {op.execution_id for op in operations if op.type == "CALLBACK" and not op.callback_id}
    )


def urgent(execution_ids: Iterable[int]) -> int:
    """Check these before anything else (an action touched them, an event says they
    ended). Returns how many rows can still change and were marked."""
    return Execution.objects.filter(pk__in=list(execution_ids), history_complete=False).update(
        next_check_at=URGENT
    )


# ---- after a check -----------------------------------------------------------------


_changing: dict[int, tuple[float, int]] = {}


def reconcile_seconds(source: Source) -> float:
    """How long after an execution's last telemetry record its reconciliation comes (before
    any back-off): TELEMETRY_RECONCILE_SECONDS, or so long that the reconciliations of all
    the source's executions that can still change take at most TELEMETRY_RECONCILE_SHARE
    of its history budget (1,000 of them at the default budget: about 16 minutes).

    All of them, not only those whose records have arrived: a source that names a
    telemetry queue has its records from every execution that sends them, and counting
    only those already heard from set a console that had just started (or caught up with
    a backlog) to reconcile its first executions at the shortest interval, all in one
    wave. Where some functions send no records, the others are reconciled a little less
    often than their share allows, never more."""
    at, changing = _changing.get(source.pk, (0.0, 0))
    if time.monotonic() - at > RECONCILE_COUNT_SECONDS:
        changing = _can_change(source).count()
        _changing[source.pk] = (time.monotonic(), changing)
    rate = lambda_api.Endpoint.of(source).budget_rate(HISTORY_API)
    spread = changing / (TELEMETRY_RECONCILE_SHARE * rate) if rate > 0 else 0
    return max(TELEMETRY_RECONCILE_SECONDS, spread)


def next_check(
    execution: Execution,
    *,
    changed: bool,
    now: datetime,
    wake_at: datetime | None,
    min_interval: float,
) -> tuple[datetime, float]:
    """(when to check next, the back-off interval) after a check of a running execution.
    `changed`: the check found something new (for an execution whose telemetry records
    flow, something the records had not told: history.told_after)."""
    previous = execution.check_interval or 0
    watch_seconds = WATCH_SECONDS
    if execution.telemetry_at is not None:
        # Telemetry (executions/telemetry.py): the records tell the execution's changes
        # within seconds, so its history is read only as a reconciliation, backing off
        # while the history keeps telling nothing the records had not; the moments the
        # history names do not bring the read forward (the records report what happens
        # then), and a page someone has open is read when a record changes it
        # (telemetry.apply) rather than every few seconds.
        base = reconcile_seconds(execution.source)
        cap = max(base, TELEMETRY_RECONCILE_MAX_SECONDS)
        interval = base if changed or previous < base else min(cap, previous * 2)
        wake_at = None
        watch_seconds = TELEMETRY_WATCH_SECONDS
    elif changed or previous <= 0:
        interval = min_interval
    else:
        interval = min(MAX_INTERVAL_SECONDS, max(min_interval, previous * 2))
    due = now + timedelta(seconds=interval)
    if wake_at is not None and wake_at > now:
        due = min(due, wake_at)
    if is_watched(execution.pk):
        due = min(due, now + timedelta(seconds=watch_seconds))
    return due, interval


def after_record(execution: Execution, now: datetime) -> datetime | None:
    """When to read the history of an execution a telemetry record just changed: for one
    someone has open, soon (TELEMETRY_SETTLE_SECONDS after the record, WATCH_SECONDS
    after the last read), or when a read is already due if that is sooner; None when it
    can wait for its reconciliation."""
    if not is_watched(execution.pk):
        return None
    soon = now + timedelta(seconds=TELEMETRY_SETTLE_SECONDS)
    if execution.last_synced_at is not None:
        soon = max(soon, execution.last_synced_at + timedelta(seconds=WATCH_SECONDS))
    current = execution.next_check_at
    if current is not None and current <= soon:
        return current  # already due as soon (or urgent)
    return soon


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def wake_moment(execution_id: int, now: datetime) -> datetime | None:
    """The earliest moment after `now` at which the history says something will happen:
    a wait's scheduled end, a retry's next attempt, a pending callback's deadline."""
    moments: list[datetime] = []
    ends = Operation.objects.filter(
        execution_id=execution_id, type="WAIT", status="STARTED", wait_scheduled_end__gt=now
    ).values_list("wait_scheduled_end", flat=True)
    moments.extend(ends)
    for retries in Operation.objects.filter(
        execution_id=execution_id, status="PENDING"
    ).values_list("retries", flat=True):
        last = (retries or [{}])[-1]
        at, delay = _moment(last.get("at")), last.get("next_attempt_delay_seconds")
        if at and delay:
            moments.append(at + timedelta(seconds=float(delay)))
    pending = Operation.objects.filter(execution_id=execution_id).pending_callbacks()
    found = deadlines.for_keys(
        (execution_id, op_id) for op_id in pending.values_list("operation_id", flat=True)
    )
    moments.extend(d for found_at in found.values() for d in found_at.all)
    future = [m + WAKE_MARGIN for m in moments if m and m + WAKE_MARGIN > now]
    return min(future) if future else None


# ---- dispatch ----------------------------------------------------------------------


def lease(source_id: int, execution_ids: Iterable[int]) -> None:
    ids = {str(pk): time.time() for pk in execution_ids}
    if ids:
        redis_client().zadd(_in_flight_key(source_id), ids)


def release(source_id: int, execution_id: int) -> None:
    try:
        redis_client().zrem(_in_flight_key(source_id), str(execution_id))
    except Exception as exc:  # the lease expires on its own
        logger.warning("could not release execution %s: %s", execution_id, exc)


def in_flight(source_id: int) -> set[int]:
    client = redis_client()
    key = _in_flight_key(source_id)
    client.zremrangebyscore(key, "-inf", time.time() - LEASE_SECONDS)
    return {int(member) for member in client.zrange(key, 0, -1)}


def _can_change(source: Source) -> Any:
    return Execution.objects.filter(source=source, history_complete=False)


def pick(source: Source, slots: int, now: datetime, busy: set[int]) -> list[int]:
    """Up to `slots` executions of the source to check now, most important first: those
    someone has open, then those an action or a status change marked urgent, then those
    never read, newest first (a first mirror of a source with a long past shows what is
    happening now before it reads last month), then the rest by when they fell due."""
    picked: list[int] = []

    def take(rows: Any) -> None:
        if len(picked) < slots:
            rows = rows.exclude(pk__in=busy | set(picked))
            picked.extend(rows.values_list("pk", flat=True)[: slots - len(picked)])

    can_change = _can_change(source)
    watched = watched_ids() - busy
    if watched:
        # Every WATCH_SECONDS; one whose telemetry records flow is read when a record
        # changes it (next_check_at, after_record), else every TELEMETRY_WATCH_SECONDS.
        stale = now - timedelta(seconds=WATCH_SECONDS)
        quiet = now - timedelta(seconds=TELEMETRY_WATCH_SECONDS)
        take(
            can_change.filter(pk__in=watched)
            .filter(
                Q(last_synced_at__isnull=True)
                | Q(telemetry_at__isnull=True, last_synced_at__lte=stale)
                | Q(last_synced_at__lte=quiet)
            )
            .order_by("last_synced_at")
        )
    take(can_change.filter(next_check_at=URGENT).order_by("pk"))
    take(can_change.filter(next_check_at__isnull=True).order_by("-started_at", "-pk"))
    take(
        can_change.filter(next_check_at__gt=URGENT, next_check_at__lte=now).order_by(
            "next_check_at", "pk"
        )
    )
    return picked


def plan(endpoint: lambda_api.Endpoint, rate: float) -> int:
    """How many checks the budget (refilled at `rate`) can pay for now."""
    budget = lambda_api.get_budget()
    scope = lambda_api.known_scope(endpoint)
    if budget is None or scope is None:  # nothing spent yet (an AWS source's first tick)
        return math.ceil(rate * TICK_SECONDS)
    tokens, effective = budget.available(scope, HISTORY_API, rate)
    return max(0, math.floor(tokens + effective * TICK_SECONDS))


def tick(queue: Callable[[int], Any], now: datetime | None = None) -> int:
    """Queue the checks the budget allows, most important first; returns how many."""
    now = now or timezone.now()
    queued = 0
    try:
        with redis_lock("schedule-tick", timeout=30):
            for source in Source.objects.filter(enabled=True):
                busy = in_flight(source.pk)
                endpoint = lambda_api.Endpoint.of(source)
                rate = endpoint.budget_rate(HISTORY_API)
                room = max(0, math.ceil(rate * IN_FLIGHT_SECONDS) - len(busy))
                ids = pick(source, min(room, plan(endpoint, rate)), now, busy)
                lease(source.pk, ids)
                for pk in ids:
                    queue(pk)
                queued += len(ids)
    except Locked:
        return 0
    return queued


# ---- how far behind ----------------------------------------------------------------


def _overdue(source: Source, now: datetime) -> Any:
    return _can_change(source).filter(
        next_check_at__lt=now - timedelta(seconds=BEHIND_SECONDS), next_check_at__gt=URGENT
    )


def is_behind(source: Source, now: datetime | None = None) -> bool:
    """Are checks of the source running late? One indexed look, for the list page."""
    return _overdue(source, now or timezone.now()).exists()


def lag(source: Source, now: datetime | None = None) -> dict[str, Any]:
    """Running executions of the source, the oldest check among them, and how many are
    overdue (due more than BEHIND_SECONDS ago): the list page says a source is behind
    when that is not zero."""
    now = now or timezone.now()
    rows = _can_change(source)
    oldest = rows.order_by(F("last_synced_at").asc(nulls_first=True)).values_list(
        "last_synced_at", flat=True
    )[:1]
    oldest_check = oldest[0] if oldest else None
    overdue = _overdue(source, now).count()
    return {
        "running": rows.count(),
        "oldest_check": oldest_check,
        "oldest_check_seconds": (now - oldest_check).total_seconds() if oldest_check else None,
        "never_checked": rows.filter(last_synced_at__isnull=True).count(),
        "overdue": overdue,
    }
