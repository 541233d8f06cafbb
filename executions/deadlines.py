"""When pending callbacks time out, from the mirrored history.

A callback's CallbackStarted event carries `CallbackStartedDetails.Timeout` and
`HeartbeatTimeout` (seconds) when the function set them; the deadline runs from the
event's timestamp (when the service started the callback's clock, which is not always
when the operation began). The one home of the rule: the approvals inbox shows and sorts
by it, notify/ sends "deadline near" messages from it, and the scheduler checks the
execution again the moment it falls due. Backends that do not report them (the sandbox's
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
    def all(self) -> list[datetime]:
        return [d for d in (self.timeout_at, self.heartbeat_at) if d is not None]

    @property
    def first(self) -> datetime | None:
        """The nearer of the two: when the callback fails unless someone acts."""
        return min(self.all) if self.all else None


def after(start: datetime | None, seconds: Any) -> datetime | None:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return None
    return start + timedelta(seconds=seconds) if start and seconds > 0 else None


def for_operations(operations: Iterable[Operation]) -> dict[tuple[int, str], Deadlines]:
    """(execution pk, operation id) -> Deadlines, for callbacks whose history gives one."""
    return for_keys((op.execution_id, op.operation_id) for op in operations)


# Callbacks looked up per query: well under the databases' limits on parameters.
CHUNK = 500


def for_keys(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Deadlines]:
    """The same for (execution pk, operation id) pairs, a query per 500 of them."""
    wanted = list(dict.fromkeys(keys))
    found: dict[tuple[int, str], Deadlines] = {}
    for index in range(0, len(wanted), CHUNK):
        found.update(_chunk(wanted[index : index + CHUNK]))
    return found


def _chunk(keys: list[tuple[int, str]]) -> dict[tuple[int, str], Deadlines]:
    wanted = set(keys)
    events = HistoryEvent.objects.filter(
        event_type="CallbackStarted",
        execution_id__in={execution_id for execution_id, _ in keys},
        operation_id__in={operation_id for _, operation_id in keys},
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
