"""The archive's pages: search the executions the prune archived (by name or ARN, from the
ArchivedExecution index, never by listing the bucket), and open one read-only, marked as
archived, from the bucket's copy: its graph, operations, events and timeline, folded from
the archived history events by the sync's own fold (executions/tree.py), drawn by the same
visualizer and timeline as a mirrored execution's page. Not here: the replay slider, the
operation panel, the payloads tab and the actions (nothing can be done to an execution
AWS and the mirror no longer hold)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from access import scope
from browser import optree, timeline
from executions import archive, tree
from executions.models import ArchivedExecution, Execution
from visualizer.graph import build_dot
from visualizer.render import RenderError, render_svg
from visualizer.style import legend_html
from web import params
from web.shortcuts import not_found

TABS = (
    ("graph", "Graph"),
    ("operations", "Operations"),
    ("events", "Events"),
    ("timeline", "Timeline"),
)
PAGE_SIZE = 50
EVENTS_PAGE_SIZE = 200


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """?q= an execution's name (or its start) or its ARN."""
    q = params.text(request.GET, "q", limit=2048)
    rows = scope.of_request(request).executions(ArchivedExecution.objects.all())
    if q:
        rows = rows.filter(Q(arn=q) | Q(name__startswith=q))
    page = Paginator(rows.order_by("-ended_at", "-id"), PAGE_SIZE).get_page(
        params.integer(request.GET, "page", minimum=1) or 1
    )
    return render(request, "browser/archive.html", {"q": q, "page": page})


def _api_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The archived event rows, shaped as the API sends them (what the fold reads)."""
    events = []
    for row in rows:
        details = row.get("details") or {}
        scheduled = details.get("ScheduledEndTimestamp")
        if isinstance(scheduled, str):
            details["ScheduledEndTimestamp"] = datetime.fromisoformat(scheduled)
        events.append(
            {
                "EventId": row["event_id"],
                "EventType": row["event_type"],
                "SubType": row.get("sub_type") or None,
                "Id": row.get("operation_id") or None,
                "Name": row.get("name") or None,
                "ParentId": row.get("parent_id") or None,
                "EventTimestamp": row.get("timestamp"),
                "Details": details,
            }
        )
    return events


def _execution(doc: dict[str, Any]) -> Execution:
    """The archived record as an Execution that is never saved (what the timeline reads)."""
    names = {f.attname for f in Execution._meta.concrete_fields}
    return Execution(**{k: v for k, v in doc["execution"].items() if k in names})


@require_GET
def archived(request: HttpRequest, pk: int) -> HttpResponse:
    entry = (
        scope.of_request(request).executions(ArchivedExecution.objects.all()).filter(pk=pk).first()
    )
    if entry is None:
        return not_found(
            request,
            "Not in the archive",
            f"The archive has no execution #{pk}, or it is outside what you may see. Search "
            "the archive by name or ARN.",
        )
    tab = params.choice(request.GET, "tab", [key for key, _ in TABS], default="graph")
    context: dict[str, Any] = {"entry": entry, "tab": tab, "tabs": TABS}
    try:
        doc = archive.read(entry)
    except archive.ArchiveError as exc:
        context["archive_error"] = str(exc)
        return render(request, "browser/archived.html", context, status=502)
    execution = _execution(doc)
    events = _api_events(doc["events"])
    by_id: dict[str, tree.OperationNode] = {}
    with tree.gc_paused():
        tree.apply_events(by_id, events)
        roots = tree.link(by_id)
    ended_at = execution.ended_at if execution.is_terminal else None
    optree.show_ended(by_id.values(), execution.status, ended_at)
    op_tree = optree.OperationTree(roots, by_id, execution.last_event_id)
    context.update(
        execution=execution,
        doc=doc,
        in_mirror=Execution.objects.filter(arn=entry.arn).values_list("pk", flat=True).first(),
    )
    if tab == "graph":
        operations = tree.nested(by_id)
        optree.show_ended_nested(operations, execution.status, ended_at)
        try:
            dot = build_dot(
                operations,
                execution_status=execution.status,
                execution_error=execution.error,
                title=execution.name,
            )
            context["graph_svg"] = mark_safe(render_svg(dot))  # noqa: S308 (Graphviz's SVG, escaped labels)
        except RenderError as exc:
            context["graph_error"] = str(exc)
        context["graph_legend"] = mark_safe(legend_html("graph-legend list-inline small mb-0"))  # noqa: S308
    elif tab == "operations":
        context["rows"] = [
            row for row in optree.tree_rows(op_tree) if isinstance(row, optree.TreeRow)
        ]
    elif tab == "events":
        page = Paginator(doc["events"], EVENTS_PAGE_SIZE).get_page(
            params.integer(request.GET, "page", minimum=1) or 1
        )
        for row in page.object_list:
            row["details_json"] = json.dumps(row.get("details") or {}, default=str)
        context["events_page"] = page
    else:
        context["chart"] = timeline.timeline(execution, op_tree, now=ended_at)
        context["max_rows"] = timeline.TIMELINE_MAX_ROWS
    return render(request, "browser/archived.html", context)
