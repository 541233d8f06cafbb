"""Pages and POST endpoints for operator actions: approvals inbox, callbacks, stop,
pause/resume, start, bulk stop, and the audit log.

Every POST: login (middleware) -> operator role (403 otherwise, nothing sent) -> one-time
token (a replayed form sends nothing) -> actions.* (validation, audit, API call, re-sync).
Refusals come back beside the form with a clear message; results use Django messages.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from executions import actions, params, queries
from executions.models import (
    TERMINAL_STATUSES,
    AuditEntry,
    AuditOutcome,
    BulkJob,
    Execution,
    Function,
    HistoryEvent,
    Operation,
    OperationStatus,
)

REPLAYED = (
    "This form was already sent, or it has expired; nothing was sent again. "
    "Reload the page to act again."
)


def operator_required(view: Any) -> Any:
    """403 for anyone who is not an operator, before anything else happens."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not actions.can_act(request.user):
            return HttpResponseForbidden(
                render(request, "actions/forbidden.html", status=403).content
            )
        return view(request, *args, **kwargs)

    return wrapper


def _next_url(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


def _token_ok(request: HttpRequest) -> bool:
    return actions.consume_token(request.user, request.POST.get("token", ""))


def pending_callbacks_qs():
    return (
        Operation.objects.filter(type="CALLBACK", status=OperationStatus.STARTED)
        .exclude(execution__status__in=TERMINAL_STATUSES)
        .select_related("execution", "execution__function", "execution__source")
    )


def pending_count() -> int:
    return pending_callbacks_qs().count()


# ---- approvals inbox ------------------------------------------------------------------


@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    pending = pending_callbacks_qs().order_by("started_at", "id")
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
    items = []
    for op in rows:
        details = started.get((op.execution_id, op.operation_id), {})
        submitter = submitters.get((op.execution_id, op.parent_operation_id))
        items.append(
            {
                "operation": op,
                "execution": op.execution,
                "label": _callback_label(op),
                "timeout_at": _deadline(op.started_at, details.get("Timeout")),
                "heartbeat_at": _deadline(op.started_at, details.get("HeartbeatTimeout")),
                "input": queries.payload(op.execution.input_payload).text,
                "submitter_result": queries.payload(submitter.result_payload).text
                if submitter
                else None,
                "token_ok": actions.one_time_token(request.user)
                if actions.can_act(request.user)
                else "",
                "token_fail": actions.one_time_token(request.user)
                if actions.can_act(request.user)
                else "",
            }
        )
    functions = (
        pending_callbacks_qs()
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
            "functions": list(functions),
            "can_act": actions.can_act(request.user),
        },
    )


def _callback_label(op: Operation) -> str:
    # wait_for_callback names its callback "<name> create callback id"; show "<name>".
    name = op.name or "callback"
    return name.removesuffix(" create callback id")


def _deadline(started: Any, seconds: Any) -> Any:
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return None
    return started + timedelta(seconds=seconds) if started and seconds > 0 else None


@require_GET
def approvals_count(request: HttpRequest) -> HttpResponse:
    """The navigation bar's badge, polled by htmx."""
    return render(request, "actions/_approvals_badge.html", {"pending_count": pending_count()})


# ---- callbacks ------------------------------------------------------------------------


def callback_form_context(
    request: HttpRequest, execution: Execution, operation: Operation, next_url: str
) -> dict:
    """What templates/actions/_callback_form.html needs, with a fresh one-time token."""
    can_act = actions.can_act(request.user)
    return {
        "execution": execution,
        "operation": operation,
        "label": _callback_label(operation),
        "token": actions.one_time_token(request.user) if can_act else "",
        "can_act": can_act,
        "next": next_url,
        "values": {"result": "{}", "error_type": "Rejected", "error_message": ""},
    }


def _callback_context(request: HttpRequest, execution: Execution, operation: Operation) -> dict:
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    return callback_form_context(request, execution, operation, next_url)


@require_GET
def callback_form(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    execution = get_object_or_404(Execution, pk=pk)
    operation = get_object_or_404(Operation, execution=execution, callback_id=callback_id)
    context = _callback_context(request, execution, operation)
    template = "actions/_callback_form.html" if request.htmx else "actions/callback.html"
    return render(request, template, context)


def _callback_action(request: HttpRequest, pk: int, callback_id: str, kind: str) -> HttpResponse:
    execution = get_object_or_404(Execution.objects.select_related("source"), pk=pk)
    operation = Operation.objects.filter(execution=execution, callback_id=callback_id).first()
    fallback = reverse("executions:detail", args=[pk])
    error = ""
    if operation is None:
        error = "This callback does not belong to this execution; nothing was sent."
    elif not _token_ok(request):
        error = REPLAYED
    else:
        try:
            if kind == "succeed":
                result = actions.callback_success(
                    request.user, execution, callback_id, request.POST.get("result", "")
                )
            elif kind == "fail":
                result = actions.callback_failure(
                    request.user,
                    execution,
                    callback_id,
                    request.POST.get("error_type", ""),
                    request.POST.get("error_message", ""),
                    request.POST.get("error_data", ""),
                )
            else:
                result = actions.callback_heartbeat(request.user, execution, callback_id)
        except actions.ActionRefused as exc:
            error = str(exc)
        else:
            if result.ok:
                messages.success(request, f"{result.message} ({execution.name})")
                if request.htmx:
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = _next_url(request, fallback)
                    return response
                return redirect(_next_url(request, fallback))
            error = result.message
    # Refused: the form again, with the message beside it and the values kept.
    if operation is None:
        return HttpResponse(error, status=404)
    context = _callback_context(request, execution, operation)
    context["error"] = error
    context["values"] = {
        "result": request.POST.get("result", "{}"),
        "error_type": request.POST.get("error_type", "Rejected"),
        "error_message": request.POST.get("error_message", ""),
        "error_data": request.POST.get("error_data", ""),
    }
    context["kind"] = kind
    template = "actions/_callback_form.html" if request.htmx else "actions/callback.html"
    return render(request, template, context, status=200 if request.htmx else 400)


@require_POST
@operator_required
def callback_succeed(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _callback_action(request, pk, callback_id, "succeed")


@require_POST
@operator_required
def callback_fail(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _callback_action(request, pk, callback_id, "fail")


@require_POST
@operator_required
def callback_heartbeat(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _callback_action(request, pk, callback_id, "heartbeat")


# ---- stop, pause, resume --------------------------------------------------------------


def _execution_action(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    execution = get_object_or_404(Execution.objects.select_related("source"), pk=pk)
    fallback = reverse("executions:detail", args=[pk])
    if not _token_ok(request):
        messages.error(request, REPLAYED)
        return redirect(_next_url(request, fallback))
    try:
        if kind == "stop":
            result = actions.stop(
                request.user,
                execution,
                request.POST.get("error_type", ""),
                request.POST.get("error_message", ""),
            )
        elif kind == "pause":
            result = actions.pause(request.user, execution, request.POST.get("reason", ""))
        else:
            result = actions.resume(request.user, execution, request.POST.get("reason", ""))
    except actions.ActionRefused as exc:
        messages.error(request, f"Nothing was sent: {exc}")
    else:
        (messages.success if result.ok else messages.error)(request, result.message)
    return redirect(_next_url(request, fallback))


@require_POST
@operator_required
def stop(request: HttpRequest, pk: int) -> HttpResponse:
    return _execution_action(request, pk, "stop")


@require_POST
@operator_required
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _execution_action(request, pk, "pause")


@require_POST
@operator_required
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _execution_action(request, pk, "resume")


# ---- start ----------------------------------------------------------------------------


def start(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _start_post(request)
    return _start_form(request, {})


def _start_form(request: HttpRequest, values: dict, error: str = "", status: int = 200):
    functions = Function.objects.select_related("source").filter(
        source__enabled=True, durable_config__isnull=False
    ) | Function.objects.select_related("source").filter(source__enabled=True, explicit=True)
    return render(
        request,
        "actions/start.html",
        {
            "functions": functions.distinct().order_by("source__name", "name", "qualifier"),
            "values": {"input": "{}", **values},
            "error": error,
            "token": actions.one_time_token(request.user) if actions.can_act(request.user) else "",
            "can_act": actions.can_act(request.user),
        },
        status=status,
    )


@operator_required
def _start_post(request: HttpRequest) -> HttpResponse:
    values = {k: request.POST.get(k, "") for k in ("function", "name", "input")}
    function = Function.objects.filter(
        pk=values["function"] if values["function"].isdigit() else 0
    ).first()
    if function is None:
        return _start_form(request, values, "Choose a function.", 400)
    if not _token_ok(request):
        return _start_form(request, values, REPLAYED, 409)
    try:
        result = actions.start(request.user, function, values["name"], values["input"])
    except actions.ActionRefused as exc:
        return _start_form(request, values, str(exc), 400)
    if not result.ok:
        return _start_form(request, values, result.message, 502)
    messages.success(request, result.message)
    if result.execution is not None:
        return redirect("executions:detail", result.execution.pk)
    return redirect("/executions/")


# ---- bulk stop ------------------------------------------------------------------------


def _bulk_targets(request: HttpRequest) -> tuple[list[int], str]:
    """The executions a bulk stop names: selected ids, or every one matching a filter."""
    if request.POST.get("scope") == "filter":
        from django.http import QueryDict

        from executions import queries

        query = request.POST.get("filter", "")
        flt = queries.ListFilter.from_query(QueryDict(query))
        executions = flt.apply(Execution.objects.all())
        ids = list(
            executions.exclude(status__in=TERMINAL_STATUSES).values_list("pk", flat=True)[:10000]
        )
        return ids, query
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    ids = list(
        Execution.objects.filter(pk__in=ids)
        .exclude(status__in=TERMINAL_STATUSES)
        .values_list("pk", flat=True)
    )
    return ids, ""


@require_POST
@operator_required
def bulk_stop(request: HttpRequest) -> HttpResponse:
    """Step 1 shows a confirmation that says how many; step 2 (confirm=yes) queues the job."""
    ids, query = _bulk_targets(request)
    if not ids:
        messages.warning(request, "No running executions were selected; nothing to stop.")
        return redirect(_next_url(request, "/executions/"))
    if request.POST.get("confirm") != "yes":
        return render(
            request,
            "actions/bulk_confirm.html",
            {
                "count": len(ids),
                "ids": ids if request.POST.get("scope") != "filter" else [],
                "scope": request.POST.get("scope", "selected"),
                "filter": query,
                "token": actions.one_time_token(request.user),
                "sample": Execution.objects.filter(pk__in=ids[:10]),
                "next": _next_url(request, "/executions/"),
            },
        )
    if not _token_ok(request):
        messages.error(request, REPLAYED)
        return redirect(_next_url(request, "/executions/"))
    from executions.tasks import run_bulk_stop

    job = BulkJob.objects.create(
        user=request.user,
        action="stop",
        total=len(ids),
        execution_ids=ids,
        parameters={
            "error_type": request.POST.get("error_type", "") or "StoppedByOperator",
            "error_message": request.POST.get("error_message", "")
            or f"Bulk stop by {request.user.get_username()}",
        },
    )
    run_bulk_stop.delay(job.pk)
    return redirect("actions:bulk_job", job.pk)


@require_GET
def bulk_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BulkJob, pk=pk)
    template = "actions/_bulk_progress.html" if request.htmx else "actions/bulk_job.html"
    response = render(request, template, {"job": job})
    if request.htmx and job.finished:
        response.status_code = 286  # htmx: stop polling
    return response


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
        entries = entries.filter(Q(execution_arn__icontains=values["arn"]))
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
