"""An execution's header, as its page, its operation page and the header's poll show it:
why it ended badly, what waits, whether someone is watching it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from browser import aws_links
from domain import operations
from domain.status import ENDED_BADLY, FAILED_OPERATION_STATUSES
from executions import retention, schedule
from executions.models import AuditEntry, AuditOutcome, Execution, Operation


@dataclass
class Failure:
    """Why an execution ended badly, for its header: the error, and the operation that
    failed first (None when no operation failed, e.g. a stop or an execution timeout);
    for a stop, who stopped it and what they gave as the reason (the audit log's entry)."""

    error_type: str
    message: str
    operation_id: str | None
    operation_label: str
    stop: AuditEntry | None = None
    stop_error_type: str = ""
    stop_message: str = ""
    status: str = ""

    @property
    def summary(self) -> str:
        """The banner's first line: the error type (the history's, else the one the stop
        gave), or what ended the execution when none was reported."""
        if self.error_type or self.stop_error_type:
            return self.error_type or self.stop_error_type
        return NO_ERROR.get(self.status, "No error reported")


# What ended an execution, when neither its history nor a stop gave an error type.
NO_ERROR = {
    "STOPPED": "Stopped without an error type",
    "TIMED_OUT": "Ran past its execution timeout",
    "FAILED": "Failed without an error type",
}


def last_stop(execution: Execution) -> AuditEntry | None:
    """The audit log's stop of the execution that went through (a stop from this console,
    a bulk stop, the API); None when it was stopped elsewhere."""
    return (
        AuditEntry.objects.filter(
            execution_arn=execution.arn, action="stop", outcome=AuditOutcome.SUCCEEDED
        )
        .order_by("-created_at", "-id")
        .first()
    )


def _stop_reason(entry: AuditEntry) -> tuple[str, str]:
    """(error type, message) the person gave when stopping (kept as the audit payload)."""
    try:
        sent = json.loads(entry.payload or "{}")
    except ValueError:
        return "", ""
    if not isinstance(sent, dict):
        return "", ""
    return str(sent.get("ErrorType") or ""), str(sent.get("ErrorMessage") or "")


def first_failure(execution: Execution) -> tuple[str, str] | None:
    """(operation id, label) of the operation that failed (or timed out) first."""
    first = (
        Operation.objects.filter(execution=execution, status__in=FAILED_OPERATION_STATUSES)
        .order_by(F("ended_at").asc(nulls_last=True), "first_event_id")
        .values_list("operation_id", "name", "subtype", "type")
        .first()
    )
    return (first[0], operations.label(first[1], first[2], first[3], first[0])) if first else None


def failure_of(execution: Execution) -> Failure | None:
    if execution.status not in ENDED_BADLY:
        return None
    error = execution.error if isinstance(execution.error, dict) else {}
    first = first_failure(execution)
    failure = Failure(
        error_type=str(error.get("ErrorType") or ""),
        message=str(error.get("ErrorMessage") or ""),
        operation_id=first[0] if first else None,
        operation_label=first[1] if first else "",
        status=execution.status,
    )
    if execution.status == "STOPPED":
        failure.stop = last_stop(execution)
        if failure.stop is not None:
            failure.stop_error_type, failure.stop_message = _stop_reason(failure.stop)
    return failure


def first_pending_callback(execution: Execution) -> str | None:
    """The operation id of the oldest callback waiting for an answer, if any."""
    if not execution.callbacks_waiting:
        return None
    return (
        execution.operations.pending_callbacks()
        .order_by("started_at", "first_event_id")
        .values_list("operation_id", flat=True)
        .first()
    )


def mark_watched(request: HttpRequest, execution: Execution) -> None:
    """Someone is looking at the execution's page: the scheduler checks it often for a while.

    A GET that changes what the console spends its read budget on, so only the page's own
    requests count: the header poll (htmx sets HX-Request, which another site cannot send
    without a CORS preflight the console never grants) and a page opened from the console
    or typed in (Sec-Fetch-Site same-origin or none). A link on another site, or an image
    pointing here, marks nothing. What it changes is bounded anyway: the budget caps the
    calls, and one person watches at most schedule.WATCH_PER_PERSON executions.
    """
    if execution.settled:
        return
    fetched_from = request.headers.get("Sec-Fetch-Site", "")
    own_page = fetched_from in ("same-origin", "none") or (
        getattr(request, "htmx", False) and fetched_from in ("", "same-origin")
    )
    if own_page:
        schedule.watch(execution.pk, person=request.user.pk or "")


# The header's own poll (detail.html) comes this often: a check this much older than the
# watched pace is still "keeping pace" as far as the page can tell.
HEADER_POLL_SECONDS = 3


@dataclass
class Freshness:
    """What "Checked" says: when the console last read the execution from its backend
    (last_synced_at, set only by a read that succeeded), and what is true of the next read:
    either the watched pace (every WATCH_SECONDS while someone has the page open, which the
    scheduler keeps when the budget allows) once the reads keep it, or when the next read
    is due (the scheduler's next_check_at, brought forward for a watched page)."""

    checked_at: datetime | None
    # Checked every this many seconds while the page is open (None: the reads do not keep
    # that pace now, e.g. right after the page opened, or the budget is short).
    every_seconds: float | None
    next_check_at: datetime | None
    final: bool

    @property
    def next_in_seconds(self) -> float | None:
        if self.next_check_at is None:
            return None
        return max(0.0, (self.next_check_at - timezone.now()).total_seconds())


def freshness(execution: Execution) -> Freshness:
    if execution.settled:
        return Freshness(execution.last_synced_at, None, None, final=True)
    now = timezone.now()
    watched = schedule.is_watched(execution.pk)
    checked = execution.last_synced_at
    due = execution.next_check_at
    if watched:
        soon = checked + timedelta(seconds=schedule.WATCH_SECONDS) if checked else now
        due = min(due, soon) if due else soon
    pace = schedule.WATCH_SECONDS + HEADER_POLL_SECONDS
    keeping_pace = watched and checked is not None and (now - checked).total_seconds() <= pace
    return Freshness(
        checked,
        schedule.WATCH_SECONDS if keeping_pace else None,
        max(due, now) if due else now,
        final=False,
    )


def header_context(execution: Execution) -> dict[str, Any]:
    """What the execution's header shows. Reads only (mark_watched is the views' to call)."""
    source = execution.source
    return {
        "execution": execution,
        "failure": failure_of(execution),
        "first_callback": first_pending_callback(execution),
        "freshness": freshness(execution),
        "stale_since": source.stale_since or execution.sync_error_at,
        "stale_error": execution.last_sync_error or source.last_error,
        "aws_console_url": aws_links.function_console_url(source, execution.function.name),
        "keeping": retention.keeping(execution),
    }
