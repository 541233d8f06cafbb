"""The landing page: each source and its state, counts by status, the callbacks waiting
(oldest first), recent failures and what has been running longest. Reads the mirror
(and the scheduler's figures in Redis), never a Lambda endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from access.scope import EVERYTHING, Scope
from browser import attention
from domain import status
from executions import schedule
from executions.models import (
    Execution,
    Operation,
    Source,
    StatusCount,
)

SHOWN = 5  # rows per panel
RECENT_FAILURES = timedelta(days=1)
# A source not listed for this many of its own listing intervals is behind.
LATE_LISTINGS = 3

HEALTHY, BEHIND, FAILING, WAITING_FIRST, DISABLED = (
    "healthy",
    "behind",
    "failing",
    "not polled yet",
    "disabled",
)


@dataclass
class SourceState:
    source: Source
    state: str
    detail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def counts_in_order(self) -> list[tuple[str, int]]:
        items = [(s, n) for s, n in self.counts.items() if n]
        return sorted(items, key=lambda item: status.sort_key(item[0]))


def _state(source: Source, now: Any) -> tuple[str, str]:
    if not source.enabled:
        return DISABLED, "Not polled: the source is disabled."
    if source.stale_since or source.last_error:
        return FAILING, source.last_error or "The backend could not be reached."
    if source.last_synced_at is None:
        return WAITING_FIRST, "The sync has not listed it yet: is the Celery worker running?"
    late = now - source.last_synced_at
    if late > timedelta(seconds=source.listing_interval_seconds * LATE_LISTINGS + 30):
        return BEHIND, "Not listed for a while: is the Celery beat running?"
    try:
        if schedule.is_behind(source):
            return BEHIND, "Checks of running executions are late (the API budget is short)."
    except Exception as exc:  # Redis down: the page still works, and says why
        return FAILING, f"The scheduler's figures are unreadable: {exc}"
    return HEALTHY, ""


def source_states(visible: Scope = EVERYTHING) -> list[SourceState]:
    """Each source's health and its executions by status (of what `visible` lets the
    person see; a source none of whose functions they may see is left out)."""
    now = timezone.now()
    counts: dict[int, dict[str, int]] = {}
    rows = StatusCount.objects.all()
    if visible.read is not None:
        rows = rows.filter(function_id__in=visible.read)
    rows = rows.values_list("function__source_id", "status").annotate(n=Sum("count")).order_by()
    for source_id, status_, n in rows:
        if n:
            counts.setdefault(source_id, {})[status_] = n
    sources = Source.objects.order_by("name")
    if visible.read is not None:
        sources = sources.filter(functions__in=visible.read).distinct()
    return [
        SourceState(source, *_state(source, now), counts=counts.get(source.pk, {}))
        for source in sources
    ]


def overview_context(visible: Scope = EVERYTHING) -> dict[str, Any]:
    sources = source_states(visible)
    waiting = visible.operations(Operation.objects.awaiting_answer()).order_by("started_at", "id")
    failures = (
        visible.executions(Execution.objects)
        .filter(
            status__in=status.FAILED_STATUSES,
            ended_at__gte=timezone.now() - RECENT_FAILURES,
        )
        .select_related("function")
        .order_by("-ended_at", "-id")
    )
    running = (
        visible.executions(Execution.objects)
        .filter(status="RUNNING")
        .select_related("function")
        .order_by("started_at", "id")
    )
    totals: dict[str, int] = {}
    for item in sources:
        for status_, n in item.counts.items():
            totals[status_] = totals.get(status_, 0) + n
    return {
        "sources": sources,
        "totals": sorted(totals.items(), key=lambda item: status.sort_key(item[0])),
        "callbacks": list(waiting[:SHOWN]),
        "callbacks_total": waiting.count(),
        "failures": list(failures[:SHOWN]),
        "running": list(running[:SHOWN]),
        "running_total": totals.get("RUNNING", 0),
        # Needs attention: how many each condition matches (browser/attention.py).
        **attention.overview_card(visible),
    }
