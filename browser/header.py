"""An execution's header, as its page, its operation page and the header's poll show it:
why it ended badly, what waits, whether someone is watching it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.http import HttpRequest

from browser import aws_links
from domain import operations
from domain.status import ENDED_BADLY, FAILED_OPERATION_STATUSES
from executions import schedule
from executions.models import Execution, Operation


@dataclass
class Failure:
    """Why an execution ended badly, for its header: the error, and the operation that
    failed first (None when no operation failed, e.g. a stop or an execution timeout)."""

    error_type: str
    message: str
    operation_id: str | None
    operation_label: str


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
    return Failure(
        error_type=str(error.get("ErrorType") or ""),
        message=str(error.get("ErrorMessage") or ""),
        operation_id=first[0] if first else None,
        operation_label=first[1] if first else "",
    )


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


def header_context(execution: Execution) -> dict[str, Any]:
    """What the execution's header shows. Reads only (mark_watched is the views' to call)."""
    source = execution.source
    watched = not execution.settled
    return {
        "execution": execution,
        "failure": failure_of(execution),
        "first_callback": first_pending_callback(execution),
        "watched": watched,
        "watch_seconds": schedule.WATCH_SECONDS,
        "stale_since": source.stale_since or execution.sync_error_at,
        "stale_error": execution.last_sync_error or source.last_error,
        "aws_console_url": aws_links.function_console_url(source, execution.function.name),
    }
