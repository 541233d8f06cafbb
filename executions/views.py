from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_redis import get_redis_connection

from executions import actions, graphs, health, params, queries, schedule, sync
from executions.lambda_api import LambdaApiError
from executions.models import (
    NON_TERMINAL_STATUSES,
    Execution,
    ExecutionStatus,
    Function,
    Operation,
    Source,
)
from executions.tasks import queue_execution_sync

logger = logging.getLogger(__name__)

# Each tab has its own URL (/executions/<id>/<tab>/); the bare detail URL shows this one.
# A tab's extra context comes from TAB_CONTEXTS below: the graph tab's is the hook where
# the visualizer (executions/graphs.py) plugs in.
DEFAULT_TAB = "graph"
TABS = {
    "graph": "Graph",
    "operations": "Operations",
    "events": "Events",
    "timeline": "Timeline",
    "io": "Input & output",
}
# HTTP 286 tells htmx to stop polling.
STOP_POLLING = 286
# How long the 'Refresh now' partial waits for the queued sync before giving up.
REFRESH_PATIENCE_SECONDS = 60
MAX_POLLED_ROWS = 200
LEGEND_ORDER = [
    "SUCCEEDED",
    "STARTED",
    "PENDING",
    "READY",
    "FAILED",
    "TIMED_OUT",
    "CANCELLED",
    "STOPPED",
]


# ---- shared helpers -------------------------------------------------------------------


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("Health check: database unreachable: %s", exc)
        return f"error: {exc}"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis_connection("default").ping()
    except Exception as exc:
        logger.warning("Health check: Redis unreachable: %s", exc)
        return f"error: {exc}"
    return "ok"


def _partial(request: HttpRequest) -> bool:
    """An htmx request for a fragment (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _vary(response: HttpResponse) -> HttpResponse:
    # The same URL answers with a fragment or a page depending on HX-Request.
    patch_vary_headers(response, ["HX-Request"])
    return response


def _not_found(request: HttpRequest, title: str, message: str, **extra: Any) -> HttpResponse:
    context = {"title": title, "message": message, **extra}
    return render(request, "executions/not_found.html", context, status=404)


def with_execution(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Load the execution named by `pk` (with its source and function) or answer 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        execution = Execution.objects.select_related("source", "function").filter(pk=pk).first()
        if execution is None:
            return _not_found(
                request,
                "Execution not found",
                f"There is no execution #{pk} in the mirror. It may have been deleted, "
                "or the link is wrong. Search the list, or look it up by its ARN.",
            )
        return view(request, execution, *args, **kwargs)

    return wrapper


def _aws_console_url(execution: Execution) -> str:
    """The execution's function in the Lambda console, on its durable executions tab.

    The console has no stable deep link to one execution; the function's durable
    executions tab is the closest page (close enough to find it by name there).
    """
    region = execution.source.region
    return (
        f"https://{region}.console.aws.amazon.com/lambda/home?region={region}"
        f"#/functions/{execution.function.name}?tab=durable-executions"
    )


def _header_context(execution: Execution) -> dict[str, Any]:
    source = execution.source
    watched = not execution.is_terminal
    if watched:
        # Someone is looking: the scheduler checks this execution often for a while.
        schedule.watch(execution.pk)
    return {
        "execution": execution,
        "watched": watched,
        "watch_seconds": schedule.WATCH_SECONDS,
        "stale_since": source.stale_since or execution.sync_error_at,
        "stale_error": execution.last_sync_error or source.last_error,
        "aws_console_url": _aws_console_url(execution) if source.is_aws else "",
    }


# ---- home and health ------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    checks = {"Database": _check_database(), "Redis": _check_redis()}
    return render(request, "home.html", {"checks": checks})


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and Redis reachability, for load balancers and `make run` (no login)."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


# ---- the list -------------------------------------------------------------------------


@require_GET
def execution_list(request: HttpRequest) -> HttpResponse:
    sources = list(Source.objects.all())
    if not sources:
        return render(request, "executions/list.html", {"no_sources": True})
    flt = queries.ListFilter.from_query(request.GET)
    page = queries.list_page(
        flt,
        after=queries.Cursor.parse(request.GET.get("after")),
        before=queries.Cursor.parse(request.GET.get("before")),
    )
    counts = queries.status_counts(flt)
    selected = flt.statuses or list(counts)
    base = reverse("executions:list")
    context = {
        "newest_url": f"{base}?{flt.query()}",
        "newer_url": f"{base}?{flt.query(before=str(page.newer))}" if page.newer else "",
        "older_url": f"{base}?{flt.query(after=str(page.older))}" if page.older else "",
        "filter": flt,
        "page": page,
        "counts": counts,
        "total": sum(counts[s] for s in selected),
        "statuses": ExecutionStatus.values,
        "sources": sources,
        "stale_sources": [s for s in sources if s.enabled and s.stale_since],
        "behind_sources": [] if _partial(request) else health.behind_sources(),
        "functions": Function.objects.select_related("source").order_by("name", "qualifier"),
        "running_ids": list(queries.iter_running_ids(page.rows)),
        "oldest_running_check": min(
            (e.last_synced_at for e in page.rows if not e.is_terminal and e.last_synced_at),
            default=None,
        ),
        "anything_mirrored": bool(page.rows) or Execution.objects.exists(),
        "counts_oob": _partial(request),
        "can_act": actions.can_act(request.user),
        "running_total": sum(counts.get(s, 0) for s in NON_TERMINAL_STATUSES if s in selected),
    }
    template = "executions/list.html#results" if _partial(request) else "executions/list.html"
    return _vary(render(request, template, context))


@require_GET
def execution_rows(request: HttpRequest) -> HttpResponse:
    """Fresh rows of running executions, for the list's poller; 286 once all are terminal."""
    raw_ids = [i.strip() for i in request.GET.get("ids", "").split(",") if i.strip()]
    if not all(i.isdigit() for i in raw_ids):
        raise params.BadQuery("“ids” must be execution ids separated by commas.")
    ids = [int(i) for i in raw_ids]
    rows = list(
        Execution.objects.filter(pk__in=ids[:MAX_POLLED_ROWS]).select_related("function", "source")
    )
    running = list(queries.iter_running_ids(rows))
    response = render(
        request, "executions/list.html#row_updates", {"rows": rows, "running_ids": running}
    )
    if not running:
        response.status_code = STOP_POLLING
    return response


@require_GET
def execution_lookup(request: HttpRequest) -> HttpResponse:
    """Redirect to the execution with this ARN, mirroring it first when it is new to us.

    The one GET that may call a Lambda endpoint: the person asked for an execution the
    mirror has not seen, and each enabled source is asked for it in turn.
    """
    arn = request.GET.get("arn", "").strip()
    if not arn:
        return render(request, "executions/lookup.html", {})
    execution = Execution.objects.filter(arn=arn).first()
    tried: list[tuple[str, str]] = []
    if execution is None:
        for source in Source.objects.filter(enabled=True):
            try:
                execution = sync.sync_arn(source, arn)
                break
            except LambdaApiError as exc:
                tried.append((source.name, "not there" if exc.not_found else str(exc)))
    if execution is None:
        return _not_found(
            request,
            "No execution with this ARN",
            "The mirror does not have it, and no enabled source knows it. Check the ARN, "
            "or add the source it belongs to.",
            arn=arn,
            tried=tried,
        )
    return redirect("executions:detail", pk=execution.pk)


# ---- the detail page ------------------------------------------------------------------


def _tab_url(execution: Execution, tab: str) -> str:
    return reverse("executions:tab", args=[execution.pk, tab])


def _operations_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    failed_only = params.choice(request.GET, "failed", ["1", "0"], "0") == "1"
    expand = sorted(set(request.GET.getlist("expand")))[:50]
    key = queries.tree_cache_key(execution, "ops-html", int(failed_only), *expand)
    html = cache.get(key)
    op_tree = None
    if html is None:
        op_tree = queries.operation_tree(execution)
        rows = queries.tree_rows(op_tree, expand=expand, failed_only=failed_only)
        html = render_to_string(
            "executions/_operation_rows.html",
            {"execution": execution, "rows": rows, "expand": expand},
        )
        cache.set(key, html, queries.CACHE_SECONDS)
    return {
        "failed_only": failed_only,
        "rows_html": html,
        "operation_count": execution.operation_count,
        "failed_count": sum(
            n
            for status, n in execution.operation_counts.items()
            if status in queries.FAILED_OPERATION_STATUSES
        ),
    }


def _events_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    event_type = params.text(request.GET, "type", 64)
    operation_id = params.text(request.GET, "op", 256)
    page = queries.event_page(
        execution,
        event_type=event_type,
        operation_id=operation_id,
        after=params.integer(request.GET, "after", minimum=0),
        before=params.integer(request.GET, "before", minimum=0),
    )
    filters = [("type", event_type), ("op", operation_id)]
    base = _tab_url(execution, "events")

    def link(**cursor: int) -> str:
        return f"{base}?{urlencode([(k, v) for k, v in filters if v] + list(cursor.items()))}"

    return {
        "events_page": page,
        "event_type": event_type,
        "operation_id": operation_id,
        "event_types": queries.event_types(execution),
        "next_url": link(after=page.newer) if page.newer else "",
        "previous_url": link(before=page.older) if page.older else "",
        "operation_name": (
            Operation.objects.filter(execution=execution, operation_id=operation_id)
            .values_list("name", flat=True)
            .first()
            if operation_id
            else None
        ),
    }


def _timeline_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    expand = sorted(set(request.GET.getlist("expand")))[:50]
    now = timezone.now()
    # A running execution's bars grow with the clock: its cached chart lives 5 s.
    bucket = "done" if execution.is_terminal else int(now.timestamp() // 5)
    key = queries.tree_cache_key(execution, "timeline-html", bucket, *expand)
    html = cache.get(key)
    if html is None:
        op_tree = queries.operation_tree(execution)
        chart = queries.timeline(execution, op_tree, now=now, expand=expand)
        html = render_to_string(
            "executions/_timeline_chart.html",
            {
                "execution": execution,
                "chart": chart,
                "expand": expand,
                "legend": sorted(
                    {bar.row.node.status for bar in chart.bars},
                    key=lambda s: LEGEND_ORDER.index(s) if s in LEGEND_ORDER else 99,
                ),
                "max_rows": queries.TIMELINE_MAX_ROWS,
            },
        )
        cache.set(key, html, queries.CACHE_SECONDS if execution.is_terminal else 10)
    return {"timeline_html": html}


def _io_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    return {
        "input": queries.payload(execution.input_payload, execution.input_truncated),
        "result": queries.payload(execution.result_payload, execution.result_truncated),
        "error": queries.error_payload(execution.error, execution.error_truncated),
    }


TAB_CONTEXTS: dict[str, Callable[[HttpRequest, Execution], dict[str, Any]]] = {
    "graph": graphs.graph_context,
    "operations": _operations_context,
    "events": _events_context,
    "timeline": _timeline_context,
    "io": _io_context,
}


@require_GET
@with_execution
def execution_detail(request: HttpRequest, execution: Execution, tab: str = "") -> HttpResponse:
    tab = tab or DEFAULT_TAB
    if tab not in TABS:
        return _not_found(
            request,
            "No such tab",
            f"Executions have the tabs {', '.join(TABS)}; “{tab}” is not one of them.",
        )
    query = request.GET.urlencode()
    context = {
        **_header_context(execution),
        **TAB_CONTEXTS[tab](request, execution),
        "tab": tab,
        "tab_template": f"executions/_{tab}_tab.html",
        "tabs": [(key, title, _tab_url(execution, key)) for key, title in TABS.items()],
        "tab_url": _tab_url(execution, tab) + (f"?{query}" if query else ""),
    }
    template = "executions/detail.html#tab_area" if _partial(request) else "executions/detail.html"
    return _vary(render(request, template, context))


@require_GET
@with_execution
def execution_header(request: HttpRequest, execution: Execution) -> HttpResponse:
    """The polled header. Tells the page when the execution changed; 286 once terminal."""
    response = render(request, "executions/detail.html#header", _header_context(execution))
    if request.GET.get("since") != str(execution.last_event_id):
        # The tab and an open operation panel listen for this and reload themselves.
        response["HX-Trigger"] = "execution-changed"
    if execution.is_terminal:
        response.status_code = STOP_POLLING
    return response


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def _refresh_context(execution: Execution, since: str, asked: str) -> dict[str, Any]:
    return {"execution": execution, "since": since, "asked": asked}


@require_http_methods(["GET", "POST"])
@with_execution
def execution_refresh(request: HttpRequest, execution: Execution) -> HttpResponse:
    """POST: queue a sync now. GET (the partial's poll): has the sync landed yet?"""
    if request.method == "POST":
        since = execution.last_synced_at.isoformat() if execution.last_synced_at else ""
        try:
            queue_execution_sync(execution.pk, force=True)
        except Exception as exc:  # the broker is down: say so instead of failing the page
            logger.warning("could not queue a sync of execution %s: %s", execution.pk, exc)
            if not _partial(request):
                messages.error(request, f"Could not queue a sync: {exc}. Is Redis running?")
                return redirect("executions:detail", pk=execution.pk)
            return render(request, "executions/_refresh_status.html", {"queue_error": str(exc)})
        if not _partial(request):
            messages.info(request, "A sync of this execution is queued; reload in a moment.")
            return redirect("executions:detail", pk=execution.pk)
        context = _refresh_context(execution, since, timezone.now().isoformat())
        return render(request, "executions/_refresh_status.html", context)

    since = request.GET.get("since", "")
    asked = request.GET.get("asked", "")
    context = _refresh_context(execution, since, asked)
    synced = bool(execution.last_synced_at) and execution.last_synced_at.isoformat() != since
    asked_at = _parse_iso(asked)
    failed = bool(execution.sync_error_at) and (
        asked_at is None or execution.sync_error_at > asked_at
    )
    if synced or failed:
        context["done"] = True
        response = render(request, "executions/_refresh_status.html", context)
        response["HX-Trigger"] = "execution-refreshed"
        response.status_code = STOP_POLLING
        return response
    waited = (timezone.now() - asked_at).total_seconds() if asked_at else REFRESH_PATIENCE_SECONDS
    if waited >= REFRESH_PATIENCE_SECONDS:
        context["gave_up"] = True
        response = render(request, "executions/_refresh_status.html", context)
        response.status_code = STOP_POLLING
        return response
    return render(request, "executions/_refresh_status.html", context)


@require_GET
@with_execution
def tree_rows(request: HttpRequest, execution: Execution) -> HttpResponse:
    """More rows of the operations table: a collapsed node's children, or the next chunk."""
    parent_id = request.GET.get("parent", "")
    offset = params.integer(request.GET, "offset", minimum=0) or 0
    if not _partial(request):
        query = urlencode({"expand": parent_id}) if parent_id else ""
        return redirect(_tab_url(execution, "operations") + (f"?{query}" if query else ""))
    key = queries.tree_cache_key(execution, "rows-html", parent_id, offset)
    html = cache.get(key)
    if html is None:
        op_tree = queries.operation_tree(execution)
        parent = op_tree.by_id.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            return HttpResponse(status=404)
        depth = queries.node_depth(op_tree, parent) + 1 if parent else 0
        rows: list[Any] = []
        if parent is not None and offset == 0:
            # The collapsed row is replaced by itself, expanded, followed by its children.
            rows.append(queries.TreeRow(parent, depth - 1, expanded=True))
        rows.extend(queries.tree_rows(op_tree, parent_id=parent_id, depth=depth, offset=offset))
        html = render_to_string(
            "executions/_operation_rows.html", {"execution": execution, "rows": rows}
        )
        cache.set(key, html, queries.CACHE_SECONDS)
    return HttpResponse(html)


def _children(execution: Execution, operation: Operation) -> dict[str, Any]:
    if operation.type != "CONTEXT":
        return {"child_counts": {}, "children_total": 0}
    counts = queries.child_counts(execution, operation)
    return {"child_counts": counts, "children_total": sum(counts.values())}


@require_GET
@with_execution
def operation_panel(request: HttpRequest, execution: Execution, operation_id: str) -> HttpResponse:
    operation = Operation.objects.filter(execution=execution, operation_id=operation_id).first()
    if operation is None:
        return _not_found(
            request,
            "Operation not found",
            f"Execution “{execution.name}” has no operation {operation_id} in the mirror.",
            execution=execution,
        )
    child_execution = (
        Execution.objects.filter(arn=operation.child_execution_arn).first()
        if operation.child_execution_arn
        else None
    )
    context = {
        "execution": execution,
        "operation": operation,
        "label": operation.name or operation.subtype or operation.type.title(),
        "ancestors": queries.ancestors_of(execution, operation),
        **_children(execution, operation),
        "input": queries.payload(operation.input_payload),
        "result": queries.payload(operation.result_payload, operation.result_truncated),
        "error": queries.error_payload(operation.error),
        "child_execution": child_execution,
        "lookup_url": (
            reverse("executions:lookup") + "?" + urlencode({"arn": operation.child_execution_arn})
            if operation.child_execution_arn
            else ""
        ),
        "events_url": _tab_url(execution, "events") + "?" + urlencode({"op": operation_id}),
        "self_url": reverse("executions:operation", args=[execution.pk, operation_id]),
    }
    if _partial(request):
        return _vary(render(request, "executions/_operation_panel.html", context))
    return _vary(
        render(request, "executions/operation.html", {**_header_context(execution), **context})
    )


@require_GET
@with_execution
def export_json(request: HttpRequest, execution: Execution) -> HttpResponse:
    response = HttpResponse(queries.export_json(execution), content_type="application/json")
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in execution.name)[:100]
    response["Content-Disposition"] = f'attachment; filename="execution-{safe_name}.json"'
    return response
