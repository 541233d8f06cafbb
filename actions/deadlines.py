"""When pending callbacks time out, from the mirrored history.

A callback's CallbackStarted event carries `CallbackStartedDetails.Timeout` and
`HeartbeatTimeout` (seconds) when the function set them; the deadline runs from the
event's timestamp. The approvals inbox shows and sorts by it, and notify/ sends
"deadline near" messages from it. Backends that do not report them (the sandbox's
runner) give no deadline, and nothing is made up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from executions.models import HistoryEvent, Operation


@dataclass(frozen=True)
class Deadlines:
    timeout_at: datetime | None = None
    heartbeat_at: datetime | None = None

    @property
    def first(self) -> datetime | None:
        """The nearer of the two: when the callback fails unless someone acts."""
        found = [d for d in (self.timeout_at, self.heartbeat_at) if d is not None]
        return min(found) if found else None


def after(start: datetime | None, seconds: Any) -> datetime | None:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return None
    return start + timedelta(seconds=seconds) if start and seconds > 0 else None


def for_operations(operations: Iterable[Operation]) -> dict[tuple[int, str], Deadlines]:
    """(execution pk, operation id) -> Deadlines, for callbacks whose history gives one;
    one query for them all."""
    operations = list(operations)
    if not operations:
        return {}
    wanted = {(op.execution_id, op.operation_id) for op in operations}
    events = HistoryEvent.objects.filter(
        event_type="CallbackStarted",
        execution_id__in={op.execution_id for op in operations},
        operation_id__in={op.operation_id for op in operations},
    ).only("execution_id", "operation_id", "timestamp", "details")
    found = {}
    for event in events:
        key = (event.execution_id, event.operation_id)
        details = event.details or {}
        if key not in wanted:
            continue
        deadlines = Deadlines(
            after(event.timestamp, details.get("Timeout")),
            after(event.timestamp, details.get("HeartbeatTimeout")),
        )
        if deadlines.first is not None:
            found[key] = deadlines
    return found
