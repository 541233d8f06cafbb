"""Thin Celery tasks around sync.py. They take primary keys and return early when the row
is gone; the sweeps queue work only for rows that can change."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task

from executions import events, schedule, sync, telemetry
from executions.locks import Locked, claim_once, redis_lock, release_claim
from executions.models import Source

logger = logging.getLogger(__name__)

# An execution already queued is not queued again for this long.
QUEUE_DEDUPE_SECONDS = 10


@shared_task(soft_time_limit=100, time_limit=120)
def sync_execution(execution_id: int, force: bool = False) -> dict:
    result = sync.sync_execution(execution_id, force=force)
    return {
        "execution_id": execution_id,
        "skipped": result.skipped,
        "new_events": result.new_events,
        "status": result.status,
        "error": result.error,
    }


def queue_execution_sync(execution_id: int, force: bool = False) -> bool:
    """Queue a sync unless one was queued moments ago; True when queued."""
    if not force and not claim_once(f"queued:execution:{execution_id}", QUEUE_DEDUPE_SECONDS):
        return False
    sync_execution.delay(execution_id, force)
    return True


@shared_task(soft_time_limit=200, time_limit=240)
def poll_source(source_id: int) -> dict:
    source = Source.objects.filter(pk=source_id, enabled=True).first()
    if source is None:
        return {"source_id": source_id, "skipped": "missing or disabled"}
    try:
        with redis_lock(f"source:{source_id}"):
            result = sync.poll_source(source)
    except Locked:
        return {"source_id": source_id, "skipped": "locked"}
    # New and changed executions are due at once; the scheduler checks them within the
    # budget, first before the rest.
    return {
        "source": result.source,
        "changed": len(result.changed_execution_ids),
        "error": result.error,
    }


@shared_task(soft_time_limit=20, time_limit=30)
def poll_sources() -> int:
    """Beat: queue a poll of every enabled source whose list interval has passed."""
    queued = 0
    for source in sync.due_sources():
        if claim_once(f"queued:source:{source.pk}", max(source.listing_interval_seconds, 1)):
            poll_source.delay(source.pk)
            queued += 1
    return queued


# Status events: consumers per source at once, and how long one keeps reading.
EVENT_CONSUMERS = 2
CONSUME_SECONDS = 20
# Telemetry records: a record per operation change of every execution (several a second
# at 1,000 running), so more consumers per source may read at once.
TELEMETRY_CONSUMERS = 4


def _consumer_slot(source_id: int, slot: int) -> str:
    return f"consumer:{source_id}:{slot}"


def _consume(source_id: int, slot_key: str, queue_field: str, consume: Any) -> dict:
    """Read one source's queue (`queue_field` names it on the Source) with `consume` until it
    is empty (or CONSUME_SECONDS), then free the consumer's slot: status events and
    telemetry records alike."""
    source = Source.objects.filter(pk=source_id, enabled=True).exclude(**{queue_field: ""}).first()
    totals: dict[str, int] = {}
    try:
        if source is None:
            return {"source_id": source_id, "skipped": "missing, disabled or without a queue"}
        deadline = time.monotonic() + CONSUME_SECONDS
        while time.monotonic() < deadline:
            result = consume(source, wait_seconds=1)
            for name, n in result.outcomes.items():
                totals[name] = totals.get(name, 0) + n
            if not result.received or result.error:
                break
        return {"source_id": source_id, **totals}
    finally:
        release_claim(slot_key)


def _start_consumers(queue_field: str, slot_key: Any, task: Any, consumers: int) -> int:
    """Keep up to `consumers` consumers of `task` reading each source's queue."""
    started = 0
    for source in Source.objects.filter(enabled=True).exclude(**{queue_field: ""}):
        for slot in range(consumers):
            if claim_once(slot_key(source.pk, slot), CONSUME_SECONDS + 30):
                task.delay(source.pk, slot)
                started += 1
                break  # one more at a time: a second starts if the first is still busy
    return started


@shared_task(soft_time_limit=CONSUME_SECONDS + 15, time_limit=CONSUME_SECONDS + 25)
def consume_events(source_id: int, slot: int = 0) -> dict:
    """Read a source's status events until the queue is empty (or CONSUME_SECONDS)."""
    return _consume(source_id, _consumer_slot(source_id, slot), "events_queue_url", events.consume)


@shared_task(soft_time_limit=20, time_limit=30)
def consume_all_events() -> int:
    """Beat: keep up to EVENT_CONSUMERS consumers reading each source's status events."""
    return _start_consumers("events_queue_url", _consumer_slot, consume_events, EVENT_CONSUMERS)


def _telemetry_slot(source_id: int, slot: int) -> str:
    return f"telemetry-consumer:{source_id}:{slot}"


@shared_task(soft_time_limit=CONSUME_SECONDS + 15, time_limit=CONSUME_SECONDS + 25)
def consume_telemetry(source_id: int, slot: int = 0) -> dict:
    """Read a source's telemetry records until the queue is empty (or CONSUME_SECONDS)."""
    return _consume(
        source_id, _telemetry_slot(source_id, slot), "telemetry_queue_url", telemetry.consume
    )


@shared_task(soft_time_limit=20, time_limit=30)
def consume_all_telemetry() -> int:
    """Beat: keep up to TELEMETRY_CONSUMERS consumers reading each source's telemetry
    records."""
    return _start_consumers(
        "telemetry_queue_url", _telemetry_slot, consume_telemetry, TELEMETRY_CONSUMERS
    )


@shared_task(soft_time_limit=20, time_limit=30)
def schedule_checks() -> int:
    """Beat: queue the checks of running executions that the call budget allows now,
    most important first (schedule.py)."""
    return schedule.tick(lambda pk: sync_execution.delay(pk))
