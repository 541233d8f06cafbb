"""How the sync is keeping up: per source and API, calls against the budget, throttles,
running executions and the oldest check among them, and errors.

Read by the sync health page (staff), its JSON twin for monitoring, and the list page's
"behind" banner. Reads the mirror and Redis only, never a Lambda endpoint.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions import events, lambda_api, schedule, telemetry
from executions.budget import READ_QUOTAS
from executions.models import Execution, Source


def _budget_figures(source: Source) -> list[dict[str, Any]]:
    budget = lambda_api.get_budget()
    if budget is None:
        return []
    endpoint = lambda_api.Endpoint.of(source)
    scope = lambda_api.known_scope(endpoint)
    if scope is None:  # no call made yet: nothing counted
        return []
    figures = []
    for api in READ_QUOTAS:
        try:
            figures.append(budget.stats(scope, api, endpoint.budget_rate(api)))
        except Exception as exc:  # Redis down: say so, the rest of the page still works
            figures.append({"api": api, "error": str(exc)})
    return figures


def source_health(source: Source) -> dict[str, Any]:
    endpoint = lambda_api.Endpoint.of(source)
    try:
        lag = schedule.lag(source)
        in_flight = len(schedule.in_flight(source.pk))
    except Exception as exc:
        lag, in_flight = {"error": str(exc)}, None
    errors = Execution.objects.filter(source=source, history_complete=False).exclude(
        last_sync_error=""
    )
    latest_error = errors.order_by("-sync_error_at").values_list("last_sync_error", flat=True)[:1]
    return {
        "source": source.name,
        "enabled": source.enabled,
        "scope": lambda_api.known_scope(endpoint) or "",
        "quota_share_percent": source.quota_share,
        "api_quotas": source.api_quotas or {},
        "last_listed_at": source.last_synced_at,
        "stale_since": source.stale_since,
        "last_error": source.last_error,
        "apis": _budget_figures(source),
        "executions": {**lag, "in_flight": in_flight},
        "execution_errors": errors.count(),
        "latest_execution_error": latest_error[0] if latest_error else "",
        "behind": bool(lag.get("overdue")),
        "listing_interval_seconds": source.listing_interval_seconds,
        "events_queue_url": source.events_queue_url,
        "events": events.figures(source) if source.events_queue_url else None,
        "telemetry_queue_url": source.telemetry_queue_url,
        "telemetry": telemetry.figures(source) if source.telemetry_queue_url else None,
        "retention": _retention(source),
    }


def _retention(source: Source) -> dict[str, Any] | None:
    """The source's retention and the prune's last run (None: kept forever)."""
    if not source.retention_days and not source.retention_by_function:
        return None
    last = dict(source.last_prune or {})
    if last.get("at"):
        last["at"] = parse_datetime(last["at"])
    return {
        "days": source.retention_days,
        "by_function": source.retention_by_function or {},
        "last_prune": last,
    }


def report() -> dict[str, Any]:
    try:
        watched = len(schedule.watched_ids())
    except Exception:
        watched = None
    return {
        "generated_at": timezone.now(),
        "watched_executions": watched,
        "watch_seconds": schedule.WATCH_SECONDS,
        "max_interval_seconds": schedule.MAX_INTERVAL_SECONDS,
        "behind_seconds": schedule.BEHIND_SECONDS,
        "sources": [source_health(s) for s in Source.objects.order_by("name")],
    }


def behind_sources() -> list[dict[str, Any]]:
    """Enabled sources whose checks are running late, for the list page's banner."""
    late = []
    for source in Source.objects.filter(enabled=True):
        # The list page asks on every load: the full figures only for a source behind.
        if schedule.is_behind(source):
            rate = lambda_api.Endpoint.of(source).budget_rate(schedule.HISTORY_API)
            late.append({"source": source, "lag": schedule.lag(source), "history_rate": rate})
    return late
