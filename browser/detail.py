"""An execution's page: its tabs, the polled header, operation rows and panel, export."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from access import roles, scope
from browser import (
    event_pages,
    graphs,
    optree,
    payloads,
    snapshot,
    timeline,
    tree_html,
    treestate,
)
from browser.header import first_failure, first_pending_callback, header_context, mark_watched
from browser.optree import TreeNode
from browser.scene import Scene
from domain import operations as domain_operations
from domain import status
from domain.status import FAILED_OPERATION_STATUSES
from executions.models import Execution, Operation
from visualizer.style import LEGEND, STATES
from web import params
from web.shortcuts import is_partial, not_found, render_stop_polling, vary_on_htmx, with_execution

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


# ---- the detail page ------------------------------------------------------------------


def _tab_url(execution: Execution, tab: str) -> str:
    return reverse("browser:tab", args=[execution.pk, tab])


def _operations_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    failed_only = params.choice(request.GET, "failed", ["1", "0"], "0") == "1"
    # Which groups are open or closed comes from the URL (browser/treestate.py).
    state = treestate.TreeState.from_query(request.GET)
    scene = Scene.from_request(request, execution)

    def render() -> str:
        # Now, only what the table shows is read: the failures and what holds them, or
        # the visible part of the tree.
        op_tree = scene.tree(expand=state.expand, failed_only=failed_only)
        rows = optree.tree_rows(op_tree, expand=state.expand, failed_only=failed_only)
        return tree_html.render_rows(
            execution, rows, **state.visibility(rows), now=scene.now, at=scene.at
        )

    html = scene.cached("ops-html", [int(failed_only), state.cache_part()], render)
    counts = scene.operation_counts()
    failed_count = sum(n for s, n in counts.items() if s in FAILED_OPERATION_STATUSES)
    return {
        "failed_only": failed_only,
        # What failed first is the run's, as it ended: not offered at a past moment.
        "first_failure": first_failure(execution) if failed_count and not scene.moment else None,
        "rows_html": html,
        "tree_limit": treestate.LIMIT,
        "operation_count": sum(counts.values()) if scene.moment else execution.operation_count,
        "failed_count": failed_count,
        **scene.bar("operations"),
    }


def _events_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    event_type = params.text(request.GET, "type", 64)
    operation_id = params.text(request.GET, "op", 256)
    page = event_pages.event_page(
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
        "event_types": event_pages.event_types(execution),
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
    expand = params.operation_ids(request.GET, "expand", limit=treestate.LIMIT)
    scene = Scene.from_request(request, execution)
    now = scene.now or timezone.now()
    # A running execution's bars grow with the clock: its cached chart lives 5 s.
    bucket = int(now.timestamp() // 5) if scene.live else "done"

    def render() -> str:
        chart = timeline.timeline(scene.shown, scene.tree(expand=expand), now=now, expand=expand)
        return render_to_string(
            "browser/_timeline_chart.html",
            {
                "execution": scene.shown,
                "moment": scene.moment,
                "chart": chart,
                "expand": expand,
                "legend": _legend(bar.row.node for bar in chart.bars),
                "max_rows": timeline.TIMELINE_MAX_ROWS,
            },
        )

    seconds = 10 if scene.live else optree.CACHE_SECONDS
    html = scene.cached("timeline-html", [bucket, *expand], render, seconds)
    return {"timeline_html": html, **scene.bar("timeline")}


def _legend(nodes: Iterable[TreeNode]) -> list[tuple[str, str]]:
    """(state, label) of the states the timeline draws, in the graph legend's order."""
    drawn = {status.operation_state(n.type, n.subtype, n.status) for n in nodes}
    return [(state, STATES[state].label) for state in LEGEND if state in drawn]


def _io_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    return {
        "input": payloads.payload(execution.input_payload, execution.input_truncated),
        "result": payloads.payload(execution.result_payload, execution.result_truncated),
        "error": payloads.error_payload(execution.error, execution.error_truncated),
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
        return not_found(
            request,
            "No such tab",
            f"Executions have the tabs {', '.join(TABS)}; “{tab}” is not one of them.",
        )
    query = QueryDict(mutable=True)
    query.update(request.GET)
    panel_id = params.operation_id(request.GET, "panel")
    query.pop("panel", None)
    query_text = query.urlencode()
    mark_watched(request, execution)
    # One moment of the mirror for every part of the answer (browser/snapshot.py).
    with snapshot.one_moment():
        execution.refresh_from_db()
        context = {
            **header_context(execution),
            **TAB_CONTEXTS[tab](request, execution),
            "may_act": roles.may_act(request.user, execution),
            "tab": tab,
            "tab_template": f"browser/_{tab}_tab.html",
            "tabs": [(key, title, _tab_url(execution, key)) for key, title in TABS.items()],
            "tab_url": _tab_url(execution, tab) + (f"?{query_text}" if query_text else ""),
        }
        if not is_partial(request):
            return vary_on_htmx(render(request, "browser/detail.html", context))
        # The tab area, and out of band what else shows the execution: the header, the
        # action buttons and the open operation panel. The header's poll only says that
        # something changed; this answer brings all of it, from the same moment.
        parts = [
            render_to_string("browser/detail.html#tab_area", context, request),
            render_to_string(
                "browser/detail.html#header", {**context, "oob": True, "changed": True}, request
            ),
        ]
        if panel_id:
            parts.append(_panel_out_of_band(request, execution, panel_id))
    return vary_on_htmx(HttpResponse("".join(parts)))


def _panel_out_of_band(request: HttpRequest, execution: Execution, operation_id: str) -> str:
    """The operation panel beside the page (the offcanvas), out of band: the page names the
    one it has open (static/console.js, `panel`)."""
    operation = Operation.objects.filter(execution=execution, operation_id=operation_id).first()
    if operation is None:
        return ""
    html = render_to_string(
        "browser/_operation_panel.html", _panel_context(request, execution, operation), request
    )
    return format_html(
        '<div id="operation-panel-body" hx-swap-oob="innerHTML">{}</div>', mark_safe(html)
    )


@require_GET
@with_execution
def execution_header(request: HttpRequest, execution: Execution) -> HttpResponse:
    """The polled header: the page's one refresh. While the execution is as the page shows
    it (`since`, its mirror state), the answer is the header (how long ago it was checked);
    286 once the execution has settled. When it changed, the answer is empty (204) and
    fires `execution-changed`: the tab area reloads on it, and that one answer brings the
    header, the buttons and the open panel with the tab, all from one moment of the mirror
    (execution_detail). The header never shows a moment the rest of the page does not."""
    mark_watched(request, execution)
    since = request.GET.get("since")
    if since is not None and since != execution.mirror_state:
        response = HttpResponse(status=204)
        trigger_client_event(response, "execution-changed")
        return response
    template = "browser/detail.html#header"
    context = {**header_context(execution), "changed": False}
    if execution.settled:
        return render_stop_polling(request, template, context)
    return render(request, template, context)


@require_GET
@with_execution
def tree_rows(request: HttpRequest, execution: Execution) -> HttpResponse:
    """More rows of the operations table: a collapsed node's children, or the next chunk.

    static/console.js sends the page's tree state (`expand`, `collapse`) along, so the
    rows come open or closed as they would in the whole tab at that URL."""
    parent_id = params.operation_id(request.GET, "parent")
    offset = params.integer(request.GET, "offset", minimum=0) or 0
    state = treestate.TreeState.from_query(request.GET)
    if parent_id:
        # The parent is being opened (or is open, for a next chunk of its children).
        state = state.opened(parent_id)
    if not is_partial(request):
        query = state.urlencoded()
        return redirect(_tab_url(execution, "operations") + (f"?{query}" if query else ""))
    if parent_id and not execution.operations.filter(operation_id=parent_id).exists():
        return HttpResponse(status=404)
    scene = Scene.from_request(request, execution)

    def render() -> str:
        tree_ = scene.tree(expand=state.expand, parent_id=parent_id, offset=offset)
        parent = tree_.by_id.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            return ""  # it had not started yet at the moment
        depth = optree.node_depth(tree_, parent) + 1 if parent else 0
        rows: list[Any] = []
        if parent is not None and offset == 0:
            # The collapsed row is replaced by itself, expanded, followed by its children.
            rows.append(optree.TreeRow(parent, depth - 1, expanded=True))
        rows.extend(
            optree.tree_rows(
                tree_, parent_id=parent_id, depth=depth, offset=offset, expand=state.expand
            )
        )
        return tree_html.render_rows(
            execution, rows, **state.visibility(rows), now=scene.now, at=scene.at
        )

    return HttpResponse(scene.cached("rows-html", [parent_id, offset, state.cache_part()], render))


def _children(execution: Execution, operation: Operation) -> dict[str, Any]:
    if operation.type != "CONTEXT":
        return {"child_counts": {}, "children_total": 0}
    counts = optree.child_counts(execution, operation)
    return {"child_counts": counts, "children_total": sum(counts.values())}


@require_GET
@with_execution
def operation_panel(request: HttpRequest, execution: Execution, operation_id: str) -> HttpResponse:
    operation = Operation.objects.filter(execution=execution, operation_id=operation_id).first()
    if operation is None:
        return not_found(
            request,
            "Operation not found",
            f"Execution “{execution.name}” has no operation {operation_id} in the mirror.",
            execution=execution,
        )
    context = _panel_context(request, execution, operation)
    if is_partial(request):
        return vary_on_htmx(render(request, "browser/_operation_panel.html", context))
    mark_watched(request, execution)
    return vary_on_htmx(
        render(request, "browser/operation.html", {**header_context(execution), **context})
    )


def _panel_context(
    request: HttpRequest, execution: Execution, operation: Operation
) -> dict[str, Any]:
    operation_id = operation.operation_id
    child_execution = (
        scope.of_request(request)
        .executions(Execution.objects)
        .filter(arn=operation.child_execution_arn)
        .first()
        if operation.child_execution_arn
        else None
    )
    # Shown as ended with the execution when that ended first (the graph and the tree show
    # it so too: domain.status.shown_status).
    api_status = optree.show_ended_operation(operation, execution)
    retry = domain_operations.pending_retry(operation.status, operation.retries)
    return {
        "execution": execution,
        "operation": operation,
        "api_status": api_status,
        "was": status.operation_label(operation.type, operation.subtype, api_status).lower(),
        "retry": retry,
        # How long until then, as the countdown (static/console.js) starts it.
        "retry_in": (
            max(0.0, (retry.next_at - timezone.now()).total_seconds())
            if retry and retry.next_at
            else 0
        ),
        "last_failure": domain_operations.last_failure(operation.retries),
        "label": operation.label,
        "ancestors": optree.ancestors_of(execution, operation),
        **_children(execution, operation),
        "input": payloads.payload(operation.input_payload),
        "result": payloads.payload(operation.result_payload, operation.result_truncated),
        "error": payloads.error_payload(operation.error),
        "child_execution": child_execution,
        "lookup_url": (
            reverse("actions:lookup") + "?" + urlencode({"arn": operation.child_execution_arn})
            if operation.child_execution_arn
            else ""
        ),
        "events_url": _tab_url(execution, "events") + "?" + urlencode({"op": operation_id}),
        "self_url": reverse("browser:operation", args=[execution.pk, operation_id]),
    }


@require_GET
@with_execution
def first_callback(request: HttpRequest, execution: Execution) -> HttpResponse:
    """The list's callbacks badge: the oldest callback waiting, where it can be answered."""
    # A redirect only: following a link from the list is not watching the page.
    operation_id = first_pending_callback(execution)
    if operation_id is None:
        messages.info(request, "No callback of this execution waits for an answer any more.")
        return redirect("browser:detail", execution.pk)
    return redirect("browser:operation", execution.pk, operation_id)


@require_GET
@with_execution
def export_json(request: HttpRequest, execution: Execution) -> HttpResponse:
    response = StreamingHttpResponse(
        payloads.export_json(execution), content_type="application/json"
    )
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in execution.name)[:100]
    response["Content-Disposition"] = f'attachment; filename="execution-{safe_name}.json"'
    return response
