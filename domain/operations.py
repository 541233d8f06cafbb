"""Rules that belong to one operation, whatever shape it comes in (a model row, a node of
the tree fold, a dict given to the visualizer): what it is called, whether it is a
pending callback, whether it fans out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.status import (
    CONTAINER_TYPES,
    WAITING_CALLBACK,
    WAITING_POLL,
    WAITING_RETRY,
    WAITING_TIMER,
    waiting_kind,
)
from domain.status import TERMINAL_OPERATION_STATUSES as _DONE

# The Python SDK names a wait_for_callback's callback "<name> create callback id"; the
# context around it already carries <name>, so the callback is shown as <name>.
CALLBACK_NAME_SUFFIX = " create callback id"
# Contexts that fan out to many children (branches or iterations).
FANOUT_SUBTYPES = frozenset({"Map", "Parallel"})
CALLBACK = "CALLBACK"
PENDING_CALLBACK_STATUS = "STARTED"


def label(name: str | None, subtype: str | None, type_: str | None, op_id: str = "") -> str:
    """What an operation is called: its name, else its subtype, else its type."""
    if name and type_ == CALLBACK:
        name = name.removesuffix(CALLBACK_NAME_SUFFIX)
    return name or subtype or (type_ or "").title() or op_id


def is_pending_callback(type_: str | None, status: str | None) -> bool:
    """A callback waiting for someone to answer it (success, failure or heartbeat)."""
    return type_ == CALLBACK and status == PENDING_CALLBACK_STATUS


def is_fanout(subtype: str | None) -> bool:
    return subtype in FANOUT_SUBTYPES


# ---- what a running execution is waiting for ------------------------------------------

# It waits when no step or invoke is running and at least one operation waits (what one
# operation waits for is domain.status.waiting_kind). When several wait, the one a person
# can act on comes first.
_WAITING_ORDER = (WAITING_CALLBACK, WAITING_TIMER, WAITING_RETRY, WAITING_POLL)


def waiting_for(operations: Iterable[tuple[Any, ...]]) -> tuple[str, Any]:
    """(kind, until) for an execution from its unfinished operations, given as
    (type, subtype, status, until) with `until` a timer's end (or None); ("", None) while
    anything runs or nothing waits."""
    kinds: set[str] = set()
    until = None
    for type_, subtype, status, end in operations:
        if status in _DONE or type_ in CONTAINER_TYPES:
            continue
        kind = waiting_kind(type_, subtype, status)
        if not kind:
            return "", None  # a step or an invoke is running: the execution computes
        kinds.add(kind)
        if kind == WAITING_TIMER and end is not None and (until is None or end < until):
            until = end
    for kind in _WAITING_ORDER:
        if kind in kinds:
            return kind, until if kind == WAITING_TIMER else None
    return "", None


# ---- a step's retry ---------------------------------------------------------------------


@dataclass(frozen=True)
class PendingRetry:
    """A step whose attempt failed and whose next attempt is scheduled: the failure (from
    the StepFailed event's RetryDetails and Error, kept in the operation's `retries`) and
    when the next attempt is due."""

    failed_attempt: int
    failed_at: datetime | None
    error_type: str
    error_message: str
    next_attempt: int
    next_at: datetime | None
    delay_seconds: float


def _moment(value: Any) -> datetime | None:
    """A datetime, or one stored in JSON as ISO 8601 text; one without a zone is UTC."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def last_failure(retries: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The last failed attempt an operation's `retries` record, or None."""
    return retries[-1] if retries and isinstance(retries[-1], dict) else None


def pending_retry(status: str | None, retries: list[dict[str, Any]] | None) -> PendingRetry | None:
    """The retry a step waits for: only while it is PENDING after a failure whose
    RetryDetails named a delay before the next attempt (no delay: that failure was the
    last)."""
    last = last_failure(retries)
    if status != "PENDING" or last is None:
        return None
    try:
        delay = float(last.get("next_attempt_delay_seconds") or 0)
    except (TypeError, ValueError):
        return None
    if delay <= 0:
        return None
    failed_at = _moment(last.get("at"))
    error = last.get("error") if isinstance(last.get("error"), dict) else {}
    attempt = int(last.get("attempt") or 0)
    return PendingRetry(
        failed_attempt=attempt,
        failed_at=failed_at,
        error_type=str(error.get("ErrorType") or ""),
        error_message=str(error.get("ErrorMessage") or ""),
        next_attempt=attempt + 1,
        next_at=failed_at + timedelta(seconds=delay) if failed_at else None,
        delay_seconds=delay,
    )
