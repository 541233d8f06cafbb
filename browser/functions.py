"""A function's overview: its executions over time by status (a chart drawn on the server,
browser/function_chart.py), their duration percentiles, the steps that fail most, and how
many run and wait now. From the mirror only.

Each figure is one aggregate query over the function's executions in the chosen window,
which the index exec_function_idx (function, -started_at, -id) narrows to that window; the
counts of now are StatusCount's rows (kept by the database) and the running executions
(few, found by exec_status_idx). On PostgreSQL the percentiles are one percentile_disc
pass; elsewhere (SQLite) one ordered, offset read per percentile, with the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, QuerySet
from django.db.models.functions import Trunc
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from access import scope
from browser import aws_links, function_chart
from domain import status
from domain.durations import format_duration
from executions.models import Execution, Function, Operation, StatusCount
from web import params
from web.shortcuts import not_found

# The windows one can look at: (label, span, bucket).
RANGES = {
    "24h": ("24 hours", timedelta(hours=24), "hour"),
    "7d": ("7 days", timedelta(days=7), "day"),
    "30d": ("30 days", timedelta(days=30), "day"),
}
DEFAULT_RANGE = "24h"
PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
FAILING_STEPS = 10
# The failing steps are looked for in at most this many of the window's newest executions:
# their operations are read through each one's index (op_order_idx), never by a scan of
# every operation of every function.
FAILING_STEPS_SAMPLE = 10_000


@dataclass
class Percentile:
    name: str
    seconds: float | None

    @property
    def text(self) -> str:
        return format_duration(self.seconds) if self.seconds is not None else "–"


@dataclass
class FailingStep:
    name: str
    type: str
    subtype: str
    failures: int
    executions: int
    last_execution: int
    last_error: str


def _window(function: Function, since: datetime) -> QuerySet[Execution]:
    return Execution.objects.filter(function=function, started_at__gte=since)


def status_buckets(
    function: Function, since: datetime, bucket: str
) -> dict[tuple[datetime, str], int]:
    """How many executions started in each hour (or UTC day) since `since`, by status."""
    rows = (
        _window(function, since)
        .annotate(bucket=Trunc("started_at", bucket, tzinfo=UTC))
        .values("bucket", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["bucket"], row["status"]): row["n"] for row in rows}


def _duration_seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def duration_percentiles(function: Function, since: datetime) -> tuple[list[Percentile], int]:
    """p50, p90 and p99 of the durations of the executions that started since `since` and
    have ended (nearest rank: the smallest duration with at least p of them at or below
    it), and how many that is."""
    ended = _window(function, since).filter(ended_at__isnull=False)
    if connection.vendor == "postgresql":
        sql = (
            "SELECT count(*), "
            + ", ".join(
                f"percentile_disc({p}) WITHIN GROUP (ORDER BY ended_at - started_at)"
                for _, p in PERCENTILES
            )
            + f" FROM {Execution._meta.db_table}"
            " WHERE function_id = %s AND started_at >= %s AND ended_at IS NOT NULL"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [function.pk, since])
            count, *values = cursor.fetchone()
        return [
            Percentile(name, _duration_seconds(v))
            for (name, _), v in zip(PERCENTILES, values, strict=True)
        ], count
    count = ended.count()
    by_duration = ended.annotate(
        duration=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
    ).order_by("duration")
    found = []
    for name, p in PERCENTILES:
        value = None
        if count:
            rank = max(math.ceil(p * count), 1) - 1
            value = by_duration.values_list("duration", flat=True)[rank]
        found.append(Percentile(name, _duration_seconds(value)))
    return found, count


def failing_steps(function: Function, since: datetime) -> list[FailingStep]:
    """The operations that ended failed or timed out most often in the executions started
    since `since` (the newest FAILING_STEPS_SAMPLE of them), grouped by name (and type),
    with the latest execution where each did."""
    newest = (
        _window(function, since).order_by("-started_at", "-id").values("id")[:FAILING_STEPS_SAMPLE]
    )
    rows = list(
        Operation.objects.filter(
            execution_id__in=newest,
            status__in=status.FAILED_OPERATION_STATUSES,
        )
        .exclude(type="EXECUTION")  # the execution itself, where a backend records it
        .values("name", "type", "subtype")
        .annotate(
            failures=Count("id"),
            executions=Count("execution", distinct=True),
            last=Max("execution_id"),
        )
        .order_by("-failures", "name")[:FAILING_STEPS]
    )
    steps = []
    for row in rows:
        # Its error in the latest execution where it failed: one indexed read per row.
        error = (
            Operation.objects.filter(
                execution_id=row["last"],
                name=row["name"],
                type=row["type"],
                status__in=status.FAILED_OPERATION_STATUSES,
            )
            .values_list("error", flat=True)
            .first()
        )
        error_text = ""
        if isinstance(error, dict):
            error_text = " ".join(
                str(error.get(k) or "") for k in ("ErrorType", "ErrorMessage")
            ).strip()
        steps.append(
            FailingStep(
                row["name"] or "(unnamed)",
                row["type"],
                row["subtype"],
                row["failures"],
                row["executions"],
                row["last"],
                error_text[:300],
            )
        )
    return steps


def _in_words(counts: dict[str, int]) -> list[tuple[str, int, str]]:
    """(status, count, "timed out") in the statuses' order."""
    ordered = sorted(counts.items(), key=lambda item: status.sort_key(item[0]))
    return [(s, n, status.word(s)) for s, n in ordered]


def current_counts(function: Function) -> dict[str, Any]:
    """Now: how many of its executions run, and of those what they wait for; and its
    executions of all time by status (StatusCount: read, not counted)."""
    all_time = {
        row.status: row.count for row in StatusCount.objects.filter(function=function, count__gt=0)
    }
    waiting = dict(
        Execution.objects.filter(function=function, status="RUNNING")
        .exclude(waiting_for="")
        .values_list("waiting_for")
        .annotate(n=Count("id"))
        .order_by()
    )
    running = all_time.get("RUNNING", 0)
    return {
        "running": running,
        "waiting": sum(waiting.values()),
        "computing": max(running - sum(waiting.values()), 0),
        "waiting_for": sorted(
            (status.WAITING_WORDS.get(kind, kind), n) for kind, n in waiting.items()
        ),
        "paused": all_time.get("PAUSED", 0) + all_time.get("PAUSING", 0),
        "all_time": _in_words(all_time),
        "all_time_total": sum(all_time.values()),
    }


@require_GET
def function_overview(request: HttpRequest, pk: int) -> HttpResponse:
    function = (
        scope.of_request(request)
        .functions(Function.objects.select_related("source"))
        .filter(pk=pk)
        .first()
    )
    if function is None:  # or outside the person's scope: the same answer
        return not_found(
            request,
            "Function not found",
            f"There is no function #{pk} in the mirror. Choose one in the list's filter.",
        )
    chosen = params.choice(request.GET, "range", RANGES, DEFAULT_RANGE)
    label, span, bucket = RANGES[chosen]
    now = timezone.now()
    since = function_chart.bucket_starts(now, span, bucket)[0]
    counts = status_buckets(function, since, bucket)
    chart = function_chart.build(counts, now, span, bucket)
    totals: dict[str, int] = {}
    for (_, execution_status), n in counts.items():
        totals[execution_status] = totals.get(execution_status, 0) + n
    percentiles, ended = duration_percentiles(function, since)
    latest = (
        Execution.objects.filter(function=function).order_by("-started_at", "-id").first()
        if not chart.total
        else None
    )
    context = {
        "function": function,
        "ranges": [(key, value[0]) for key, value in RANGES.items()],
        "range": chosen,
        "range_label": label,
        "since": since,
        "chart": chart,
        "series": function_chart.SERIES,
        "totals": _in_words(totals),
        "percentiles": percentiles,
        "ended": ended,
        "steps": failing_steps(function, since),
        "steps_sampled": chart.total > FAILING_STEPS_SAMPLE,
        "steps_sample": FAILING_STEPS_SAMPLE,
        "now": current_counts(function),
        "latest": latest,
        "aws_console_url": aws_links.function_console_url(function.source, function.name),
    }
    return render(request, "browser/function.html", context)
