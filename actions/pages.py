"""The actions app's pages that only read: the approvals inbox (every pending callback,
with forms to approve or reject it), the navigation bar's count, and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from actions import roles
from browser import params, payloads
from executions.models import (
    TERMINAL_STATUSES,
    AuditEntry,
    AuditOutcome,
    HistoryEvent,
    Operation,
)


def pending_callbacks() -> QuerySet[Operation]:
    """Callbacks waiting for an answer in executions that still run, across all sources."""
    return (
        Operation.objects.pending_callbacks()
        .exclude(execution__status__in=TERMINAL_STATUSES)
        .select_related("execution", "execution__function", "execution__source")
    )


def pending_count() -> int:
    return pending_callbacks().count()


# ---- approvals inbox ------------------------------------------------------------------


@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    pending = pending_callbacks().order_by("started_at", "id")
    function = params.text(request.GET, "function", 170)
    if function:
        pending = pending.filter(execution__function__name=function)
    page = Paginator(pending, 50).get_page(params.integer(request.GET, "page", minimum=1))
    rows = list(page.object_list)
    started = {
        (e.execution_id, e.operation_id): e.details
        for e in HistoryEvent.objects.filter(
            event_type="CallbackStarted",
            execution_id__in={op.execution_id for op in rows},
            operation_id__in={op.operation_id for op in rows},
        )
    }
    # wait_for_callback runs its submitter as a step beside the callback (same parent).
    submitters = {
        (op.execution_id, op.parent_operation_id): op
        for op in Operation.objects.filter(
            execution_id__in={op.execution_id for op in rows},
            parent_operation_id__in={
                op.parent_operation_id for op in rows if op.parent_operation_id
            },
            type="STEP",
        )
    }
    can_act = roles.can_act(request.user)
    items = []
    for op in rows:
        details = started.get((op.execution_id, op.operation_id), {})
        submitter = submitters.get((op.execution_id, op.parent_operation_id))
        items.append(
            {
                "operation": op,
                "execution": op.execution,
                "timeout_at": _deadline(op.started_at, details.get("Timeout")),
                "heartbeat_at": _deadline(op.started_at, details.get("HeartbeatTimeout")),
                "input": payloads.payload(op.execution.input_payload).text,
                "submitter_result": payloads.payload(submitter.result_payload).text
                if submitter
                else None,
                "token_ok": roles.one_time_token(request.user) if can_act else "",
                "token_fail": roles.one_time_token(request.user) if can_act else "",
            }
        )
    functions = (
        pending_callbacks()
        .values_list("execution__function__name", flat=True)
        .distinct()
        .order_by("execution__function__name")
    )
    return render(
        request,
        "actions/approvals.html",
        {
            "items": items,
            "page": page,
            "function": function,
            "query": urlencode({"function": function}),
            "functions": list(functions),
            "can_act": can_act,
        },
    )


def _deadline(started: datetime | None, seconds: Any) -> datetime | None:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return None
    return started + timedelta(seconds=seconds) if started and seconds > 0 else None


@require_GET
def approvals_count(request: HttpRequest) -> HttpResponse:
    """The navigation bar's badge, polled by htmx."""
    return render(request, "actions/_approvals_badge.html", {"pending_count": pending_count()})


# ---- audit ----------------------------------------------------------------------------


AUDIT_FILTERS = ("action", "username", "outcome", "arn")


@require_GET
def audit(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.all()
    values = {k: params.text(request.GET, k, 2048) for k in AUDIT_FILTERS}
    params.choice(request.GET, "outcome", AuditOutcome.values)
    if values["action"]:
        entries = entries.filter(action=values["action"])
    if values["username"]:
        entries = entries.filter(username=values["username"])
    if values["outcome"]:
        entries = entries.filter(outcome=values["outcome"])
    if values["arn"]:
        entries = entries.filter(execution_arn__icontains=values["arn"])
    page = Paginator(entries, 50).get_page(params.integer(request.GET, "page", minimum=1))
    query = urlencode({k: v for k, v in values.items() if v})
    return render(
        request,
        "actions/audit.html",
        {
            "page": page,
            "values": values,
            "query": query,
            "actions": AuditEntry.objects.values_list("action", flat=True).distinct().order_by(),
            "outcomes": AuditOutcome.choices,
        },
    )
