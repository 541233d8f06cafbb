"""The sources pages: every Lambda endpoint the console watches, where it is, whether it
is on, how its sync keeps up (executions/health.py, the figures of the sync health page)
and the functions found on it with their DurableConfig. Everyone signed in reads them;
admins change them (actions/source_views.py). From the mirror and Redis only: no page
calls an endpoint while it reads."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from access import roles, scope
from access.models import RoleGrant
from domain.durations import format_duration
from executions import health
from executions.models import Function, Source
from web.shortcuts import not_found

# The functions the list shows of each source (its page shows them all).
LIST_FUNCTIONS = 5

# Where "Test connection" (actions/source_views.py) leaves its result for the source's page
# to show once: {"ok", "at", "by", "checks": [{"what", "ok", "detail", "note"}]}.
TEST_RESULT_KEY = "source-test-{pk}"


def _visible_sources(request: HttpRequest) -> QuerySet[Source]:
    """Every source, for a person who sees everything; else the sources of the functions
    they see and those their grants name (access/scope.py)."""
    visible = scope.of_request(request)
    sources = Source.objects.order_by("name")
    if visible.everything:
        return sources
    assert visible.read is not None
    of_functions = Function.objects.filter(pk__in=visible.read).values("source_id")
    granted = RoleGrant.objects.filter(user=request.user).values("scope_source_id")
    return sources.filter(Q(pk__in=of_functions) | Q(pk__in=granted))


def account_of(source: Source, checked_scope: str) -> str:
    """The AWS account of a source on AWS, where known without a call: from its role's
    ARN, or the budget's scope (aws:ACCOUNT:REGION) once the sync has asked STS."""
    if source.role_arn.count(":") >= 5:
        return source.role_arn.split(":")[4]
    parts = checked_scope.split(":")
    if len(parts) == 3 and parts[0] == "aws" and parts[1].isdigit():
        return parts[1]
    return ""


def state_of(source: Source, figures: dict[str, Any]) -> tuple[str, str, str]:
    """(word, badge class, what it means) of a source's sync."""
    if not source.enabled:
        return "paused", "text-bg-secondary", "Paused: the console makes no call to it."
    if source.stale_since or source.last_error:
        return (
            "failing",
            "text-bg-danger",
            "Its last poll failed; the pages show what was mirrored before.",
        )
    if source.last_synced_at is None:
        return "not polled yet", "text-bg-light border", "Not polled yet."
    if figures.get("behind"):
        return "behind", "text-bg-warning", "Checks of its running executions are late."
    return "keeping up", "text-bg-success", "Polled on time."


def _throttles(figures: dict[str, Any]) -> tuple[int, int]:
    """Throttles in the last minute and in all, across the source's APIs."""
    apis = [api for api in figures.get("apis", []) if "error" not in api]
    return (
        sum(api.get("throttles", 0) for api in apis),
        sum(api.get("throttles_total", 0) for api in apis),
    )


def _summary(source: Source, functions: int | None = None) -> dict[str, Any]:
    figures = health.source_health(source)
    word, badge, meaning = state_of(source, figures)
    throttled_now, throttled_total = _throttles(figures)
    return {
        "source": source,
        "health": figures,
        "state": word,
        "state_badge": badge,
        "state_meaning": meaning,
        "account": account_of(source, figures.get("scope", "")) if source.is_aws else "",
        "throttled_now": throttled_now,
        "throttled_total": throttled_total,
        "functions": functions,
    }


def durable_config(config: dict[str, Any] | None) -> dict[str, str]:
    """A function's DurableConfig in words (blank where the mirror does not have it)."""
    config = config or {}
    retention = config.get("RetentionPeriodInDays")
    timeout = config.get("ExecutionTimeout")
    return {
        "retention": f"{retention} day{'s' if retention != 1 else ''}"
        if isinstance(retention, int)
        else "",
        "timeout": format_duration(timeout) if isinstance(timeout, (int, float)) else "",
        "kms": "customer-managed KMS key" if config.get("KMSKeyArn") else "",
    }


@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    visible = scope.of_request(request)
    sources = list(_visible_sources(request))
    shown = visible.functions(Function.objects.filter(source__in=sources))
    counts = dict(shown.values_list("source_id").annotate(n=Count("pk")))
    first: dict[int, list[dict[str, Any]]] = {}
    for function in shown.order_by("source_id", "name", "qualifier"):
        listed = first.setdefault(function.source_id, [])
        if len(listed) < LIST_FUNCTIONS:
            listed.append({"function": function, **durable_config(function.durable_config)})
    items = [
        {**_summary(source, counts.get(source.pk, 0)), "function_list": first.get(source.pk, [])}
        for source in sources
    ]
    return render(
        request,
        "browser/sources.html",
        {"items": items, "can_configure": roles.may_configure(request.user)},
    )


@require_GET
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    source = _visible_sources(request).filter(pk=pk).first()
    if source is None:
        return not_found(
            request,
            "Source not found",
            f"There is no source #{pk}. It may have been removed, or the link is wrong: "
            "see the list of sources.",
        )
    tested = request.session.pop(TEST_RESULT_KEY.format(pk=source.pk), None)
    functions = [
        {"function": function, **durable_config(function.durable_config)}
        for function in scope.of_request(request).functions(source.functions.all())
    ]
    return render(
        request,
        "browser/source.html",
        {
            **_summary(source, len(functions)),
            "function_rows": functions,
            "tested": tested,
            "can_configure": roles.may_configure(request.user),
        },
    )
