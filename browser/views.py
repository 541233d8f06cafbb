"""The list of executions, home and /healthz."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection

from access import scope
from browser import list_html, listing, overview, snapshot
from executions import health
from executions.models import NON_TERMINAL_STATUSES, Execution, ExecutionStatus, Function, Source
from web import params
from web.shortcuts import is_partial, render_stop_polling, vary_on_htmx

logger = logging.getLogger(__name__)

MAX_POLLED_ROWS = 200


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


# ---- home and health ------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    checks = {"Database": _check_database(), "Redis": _check_redis()}
    context = overview.overview_context(scope.of_request(request))
    return render(request, "home.html", {"checks": checks, **context})


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
        return render(request, "browser/list.html", {"no_sources": True})
    visible = scope.of_request(request)
    flt = listing.ListFilter.from_query(request.GET, visible.read)
    after = listing.Cursor.parse(request.GET.get("after"), "after")
    before = listing.Cursor.parse(request.GET.get("before"), "before")
    # The rows and the counts (and the bulk stop's N) from one moment of the mirror.
    with snapshot.one_moment():
        page = listing.list_page(flt, after=after, before=before)
        counts = _counts_context(flt)
    base = reverse("browser:list")
    context = {
        "newest_url": f"{base}?{flt.query()}",
        "newer_url": f"{base}?{flt.query(before=str(page.newer))}" if page.newer else "",
        "older_url": f"{base}?{flt.query(after=str(page.older))}" if page.older else "",
        "filter": flt,
        "page": page,
        "rows_html": list_html.render_rows(page.rows),
        **counts,
        "sources": sources,
        "stale_sources": [s for s in sources if s.enabled and s.stale_since],
        "behind_sources": [] if is_partial(request) else health.behind_sources(),
        "functions": visible.functions(Function.objects.select_related("source")).order_by(
            "name", "qualifier"
        ),
        "running_ids": list(listing.iter_running_ids(page.rows)),
        "oldest_running_check": min(
            (e.last_synced_at for e in page.rows if not e.is_terminal and e.last_synced_at),
            default=None,
        ),
        "anything_mirrored": bool(page.rows) or visible.executions(Execution.objects).exists(),
        "counts_oob": is_partial(request),
        # On the newest page, a poller tells about executions newer than its top row.
        "news_url": _news_url(flt, page) if not request.GET.get("after") else "",
    }
    template = "browser/list.html#results" if is_partial(request) else "browser/list.html"
    return vary_on_htmx(render(request, template, context))


def _counts_context(flt: listing.ListFilter) -> dict[str, Any]:
    """The status counts, the number of executions that match, and how many of them run
    (the bulk stop's N): the list page's and its rows poller's, read alike."""
    counts = listing.status_counts(flt)
    selected = flt.statuses or ExecutionStatus.values
    return {
        "counts": counts.counts,
        "counts_exact": counts.exact,
        "count_cap": listing.COUNT_CAP,
        "total": counts.total(selected),
        "statuses": ExecutionStatus.values,
        "running_total": counts.total(s for s in NON_TERMINAL_STATUSES if s in selected),
    }


def _news_url(flt: listing.ListFilter, page: listing.ListPage) -> str:
    top = listing.Cursor.of(page.rows[0]) if page.rows else None
    query = flt.query(since=str(top) if top else "")
    return f"{reverse('browser:news')}?{query}"


@require_GET
def execution_news(request: HttpRequest) -> HttpResponse:
    """How many executions matching the list's filter started after its top row."""
    flt = listing.ListFilter.from_query(request.GET, scope.of_request(request).read)
    count = listing.newer_count(flt, listing.Cursor.parse(request.GET.get("since"), "since"))
    context = {
        "news_url": request.get_full_path(),
        "new_count": count,
        "news_cap": listing.NEWS_CAP,
        "newest_url": f"{reverse('browser:list')}?{flt.query()}",
    }
    return render(request, "browser/_news.html", context)


@require_GET
def execution_rows(request: HttpRequest) -> HttpResponse:
    """Fresh rows of running executions, for the list's poller, and with them the counts,
    the number that match and the bulk stop of the list's filter (given along with the ids)
    out of band, read in the same moment as the rows (browser/snapshot.py): the counts
    never say what the rows do not. 286 once all the rows are terminal."""
    raw_ids = [i.strip() for i in request.GET.get("ids", "").split(",") if i.strip()]
    # Digits 0-9 only, and no larger than an id can be: int() alone also reads "١٢٣".
    ids = [params.whole_number("ids", i, minimum=1) for i in raw_ids]
    visible = scope.of_request(request)
    flt = listing.ListFilter.from_query(request.GET, visible.read)
    with snapshot.one_moment():
        rows = list(
            visible.executions(Execution.objects)
            .filter(pk__in=ids[:MAX_POLLED_ROWS])
            .select_related("function", "source")
        )
        running = list(listing.iter_running_ids(rows))
        context = {
            "rows_html": list_html.render_rows(rows, oob=True),
            "running_ids": running,
            "filter": flt,
            "list_path": f"{reverse('browser:list')}?{flt.query()}",
            **_counts_context(flt),
        }
    if not running:
        return render_stop_polling(request, "browser/list.html#row_updates", context)
    return render(request, "browser/list.html#row_updates", context)
