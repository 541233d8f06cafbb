"""The graph tab and graph.svg: the mirror's operation tree drawn by visualizer/.

Rendered SVGs are cached in Redis keyed by (execution, last event id, status, options,
the visualizer's source), so an unchanged execution is never laid out twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

import visualizer
from access import scope
from browser import replay
from browser.scene import Scene
from executions import nodes
from executions.models import Execution
from visualizer.graph import build_dot
from visualizer.render import RenderError, render_svg
from visualizer.style import legend_html
from web import params

logger = logging.getLogger(__name__)

CACHE_SECONDS = 24 * 3600
MAX_EXPANDED = 50
# The visualizer's own source is in the cache key too: a release that draws graphs
# differently (colours, shapes, labels) never serves an SVG the previous one drew.
DRAWING = hashlib.sha1(
    b"".join(path.read_bytes() for path in sorted(Path(visualizer.__file__).parent.glob("*.py")))
).hexdigest()[:12]


def options(request: HttpRequest) -> dict[str, Any]:
    """Layout and expanded clusters from the query string (bad values fall back)."""
    layout = params.choice(request.GET, "layout", ["TB", "LR"], "TB")
    parts = [part for part in params.text(request.GET, "expand", 4096).split(",") if part]
    if not all(part.isalnum() for part in parts):
        raise params.BadQuery("“expand” must be operation ids separated by commas.")
    expanded = sorted(set(parts))[:MAX_EXPANDED]
    return {"layout": layout, "expanded": expanded}


def _query(layout: str, expanded: list[str], at: int | None = None) -> str:
    query: dict[str, Any] = {"at": at} if at else {}
    if layout != "TB":
        query["layout"] = layout
    if expanded:
        query["expand"] = ",".join(expanded)
    # Commas stay as they are: the expanded ids read as a list in the address bar.
    return "?" + urlencode(query, safe=",") if query else ""


def _child_arns(operations: list[dict[str, Any]]) -> Iterator[str]:
    stack = list(operations)
    while stack:
        op = stack.pop()
        yield op.get("child_execution_arn") or ""
        stack.extend(op["children"])


def graph_svg(
    execution: Execution,
    layout: str = "TB",
    expanded: list[str] = (),
    moment: replay.Moment | None = None,
) -> str:
    """The graph as it is now, or with `moment` as it stood after that event (replayed
    from the stored events: browser/replay.py)."""
    scene = Scene(execution, moment)
    threshold = settings.GRAPH_COLLAPSE_THRESHOLD
    digest = hashlib.sha1(",".join(expanded).encode()).hexdigest()[:12]

    def draw() -> str:
        operations = scene.nested(nodes.GRAPH_COLUMNS)
        child_arns = [arn for arn in _child_arns(operations) if arn]
        mirrored = dict(Execution.objects.filter(arn__in=child_arns).values_list("arn", "pk"))
        tab = reverse("browser:tab", args=[execution.pk, "graph"])
        dot = build_dot(
            operations,
            execution_status=scene.shown.status,
            execution_error=scene.shown.error,
            rankdir=layout,
            collapse_threshold=threshold,
            expanded=expanded,
            node_url=lambda op_id: reverse("browser:operation", args=[execution.pk, op_id]),
            child_url=lambda arn: (
                reverse("browser:detail", args=[mirrored[arn]]) if arn in mirrored else None
            ),
            expand_url=lambda op_id: tab + _query(layout, sorted({*expanded, op_id}), scene.at),
            title=execution.name,
        )
        return render_svg(dot)

    # The status is in the key too: the End node shows it.
    parts = [execution.status, layout, threshold, digest, DRAWING]
    return scene.cached("graph", parts, draw, CACHE_SECONDS)


def graph_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    """Context of the graph tab (browser/templates/browser/_graph_tab.html)."""
    opts = options(request)
    scene = Scene.from_request(request, execution)
    at = scene.at
    context: dict[str, Any] = {
        "graph_layout": opts["layout"],
        "graph_expanded": opts["expanded"],
        "graph_legend": mark_safe(legend_html("graph-legend list-inline small mb-0")),
        "graph_other_layout_url": reverse("browser:tab", args=[execution.pk, "graph"])
        + _query("LR" if opts["layout"] == "TB" else "TB", opts["expanded"], at),
        "graph_collapse_url": reverse("browser:tab", args=[execution.pk, "graph"])
        + _query(opts["layout"], [], at),
        "graph_svg_url": reverse("browser:graph_svg", args=[execution.pk])
        + _query(opts["layout"], opts["expanded"], at),
        **scene.bar("graph"),
    }
    try:
        context["graph_svg"] = mark_safe(
            graph_svg(execution, opts["layout"], opts["expanded"], scene.moment)
        )
    except RenderError as exc:
        logger.warning("graph of execution %s failed: %s", execution.pk, exc)
        context["graph_error"] = str(exc)
    return context


@require_GET
def graph_svg_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The SVG alone (for download or embedding)."""
    execution = Execution.objects.select_related("function").filter(pk=pk).first()
    if execution is None or not scope.of_request(request).may_see(execution):
        return HttpResponse(
            "No such execution in the mirror.", status=404, content_type="text/plain"
        )
    opts = options(request)
    moment = replay.moment_from_request(request, execution)
    try:
        svg = graph_svg(execution, opts["layout"], opts["expanded"], moment)
    except RenderError as exc:
        return HttpResponse(
            f"The graph could not be drawn: {exc}", status=500, content_type="text/plain"
        )
    response = HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml"
    )
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="execution-{execution.pk}.svg"'
    return response
