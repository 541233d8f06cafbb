"""The events tab: an execution's history events, keyset pages on event_id."""

from __future__ import annotations

from dataclasses import dataclass

from browser.optree import cached
from executions.models import Execution, HistoryEvent

EVENTS_PAGE_SIZE = 100


@dataclass
class EventPage:
    events: list[HistoryEvent]
    newer: int | None  # `after=` for the next page
    older: int | None  # `before=` for the previous page


def event_page(
    execution: Execution,
    *,
    event_type: str = "",
    operation_id: str = "",
    after: int | None = None,
    before: int | None = None,
    size: int = EVENTS_PAGE_SIZE,
) -> EventPage:
    """History events in EventId order, keyset-paginated on event_id."""
    base = HistoryEvent.objects.filter(execution=execution)
    if event_type:
        base = base.filter(event_type=event_type)
    if operation_id:
        base = base.filter(operation_id=operation_id)
    if before is not None:
        rows = list(base.filter(event_id__lt=before).order_by("-event_id")[: size + 1])
        has_previous = len(rows) > size
        rows = list(reversed(rows[:size]))
        return EventPage(
            rows,
            newer=rows[-1].event_id if rows else None,
            older=rows[0].event_id if rows and has_previous else None,
        )
    qs = base.filter(event_id__gt=after) if after is not None else base
    rows = list(qs.order_by("event_id")[: size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    older = None
    if after is not None and rows and base.filter(event_id__lt=rows[0].event_id).exists():
        older = rows[0].event_id
    return EventPage(rows, newer=rows[-1].event_id if rows and has_next else None, older=older)


def event_types(execution: Execution) -> list[str]:
    return cached(
        execution,
        "event-types",
        [],
        lambda: sorted(
            HistoryEvent.objects.filter(execution=execution)
            .order_by()
            .values_list("event_type", flat=True)
            .distinct()
        ),
    )
