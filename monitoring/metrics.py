"""What /metrics says, in Prometheus's text format: figures read at scrape time from the
mirror and Redis, and the web server's own request counts and latencies.

Scrape-time figures (`Figures`) are a handful of indexed queries and Redis reads, whatever
the size of the mirror (docs/DEPLOYMENT.md, Monitoring, names the index behind each). Each
part is read on its own: Redis down, or a part that fails, leaves the others and says so
in `durable_console_metrics_part_up{part=...}`.

Request metrics are per process. Under gunicorn's several workers, set
PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied at every start: the systemd unit's
RuntimeDirectory does that) and every worker writes its counts there, and a scrape adds
them up (prometheus_client's multiprocess mode); without it, each scrape sees the counts
of the one worker that answered it.

Another part of the console adds figures of its own with `register(name, collect)`:
`collect()` returns metric families (prometheus_client.core), read at every scrape.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

PREFIX = "durable_console"
# Notifications are counted over this window (the delivery log's index on created_at).
RECENT_SECONDS = 3600
# Deadlines are looked up for at most this many pending callbacks per scrape, oldest first.
MAX_DEADLINE_CALLBACKS = 5000
# Events looked up by key per query (well under SQLite's 32,766 parameters).
CHUNK = 5000

# ---- the web server's requests (per process, or added up in multiprocess mode) ------

REQUEST_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "Requests the web server answered, by method, view (URL name) and status code.",
    ["method", "view", "status"],
    registry=REQUEST_REGISTRY,
)
LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Seconds from a request's arrival in Django to its response, by method and view.",
    ["method", "view"],
    registry=REQUEST_REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, view: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    REQUESTS.labels(method, view, str(status)).inc()
    LATENCY.labels(method, view).observe(seconds)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "") or os.environ.get(
        "prometheus_multiproc_dir", ""
    )


# ---- other parts' figures -------------------------------------------------------------

_extra: dict[str, Callable[[], Iterable[Metric]]] = {}


def register(name: str, collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a part to every scrape (e.g. retention's prune progress); `name` labels it in
    durable_console_metrics_part_up."""
    _extra[name] = collect


# ---- scrape-time figures --------------------------------------------------------------


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)


def sources() -> list[Any]:
    from executions.models import Source

    return list(Source.objects.order_by("name"))


def sync_figures() -> Iterable[Metric]:
    """Per source, how far behind the scheduler's checks are: checks due and not yet made
    (overdue: more than schedule.BEHIND_SECONDS late, the figure behind the list page's
    "behind" banner), the most overdue one's lateness, executions waiting for their first
    check; checks in flight; the listing's age and staleness.

    Every count is a range of the index exec_due_idx (source, history_complete,
    next_check_at), so a scrape never reads the running executions' rows: the sync health
    page's `schedule.lag` (the oldest check by its time) reads each of them, which is
    fine for a page a person opens but not every scrape at tens of thousands running."""
    from django.db.models import Min
    from django.utils import timezone

    from executions import schedule
    from executions.models import Execution

    now = timezone.now()
    enabled = _gauge("source_enabled", "1 when the source is synced.", ["source"])
    due = _gauge(
        "sync_due_executions", "Executions whose check is due now and not yet made.", ["source"]
    )
    overdue = _gauge(
        "sync_overdue_executions",
        f"Executions whose check is more than {schedule.BEHIND_SECONDS} s late: the call "
        "budget is not keeping up.",
        ["source"],
    )
    late = _gauge(
        "sync_oldest_due_seconds",
        "How late the most overdue check is, in seconds (0 when none is due).",
        ["source"],
    )
    never = _gauge(
        "sync_never_checked_executions",
        "Executions seen (listed, or told of by a status event) and not checked yet.",
        ["source"],
    )
    in_flight = _gauge("sync_in_flight", "Checks queued or running now.", ["source"])
    listed = _gauge(
        "source_last_listed_age_seconds",
        "Seconds since the source's executions were last listed.",
        ["source"],
    )
    stale = _gauge(
        "source_stale_seconds",
        "Seconds since the source's endpoint stopped answering (0 while it answers).",
        ["source"],
    )
    behind = now - timedelta(seconds=schedule.BEHIND_SECONDS)
    for source in sources():
        name = [source.name]
        enabled.add_metric(name, 1 if source.enabled else 0)
        can_change = Execution.objects.filter(source=source, history_complete=False)
        waiting = can_change.filter(next_check_at__gt=schedule.URGENT, next_check_at__lte=now)
        due.add_metric(name, waiting.count())
        overdue.add_metric(name, waiting.filter(next_check_at__lt=behind).count())
        oldest = waiting.aggregate(first=Min("next_check_at"))["first"]
        late.add_metric(name, (now - oldest).total_seconds() if oldest else 0)
        never.add_metric(name, can_change.filter(next_check_at__isnull=True).count())
        in_flight.add_metric(name, len(schedule.in_flight(source.pk)))
        if source.last_synced_at:
            listed.add_metric(name, (now - source.last_synced_at).total_seconds())
        stale.add_metric(
            name, (now - source.stale_since).total_seconds() if source.stale_since else 0
        )
    return [enabled, due, overdue, late, never, in_flight, listed, stale]


def execution_figures() -> Iterable[Metric]:
    """Executions mirrored, per source and status: the counts the database keeps
    (StatusCount, maintained by triggers), never a count of the execution table."""
    from django.db.models import Sum

    from executions.models import StatusCount

    family = _gauge("executions", "Executions in the mirror, by source and status.", [
        "source", "status"
    ])  # fmt: skip
    rows = (
        StatusCount.objects.values("function__source__name", "status")
        .annotate(n=Sum("count"))
        .order_by("function__source__name", "status")
    )
    for row in rows:
        family.add_metric([row["function__source__name"], row["status"]], row["n"] or 0)
    return [family]


def budget_figures() -> Iterable[Metric]:
    """Read calls against the call budget, per source and API (executions/budget.py's
    figures, from Redis). Sources that share an account and Region share a budget, so
    their call counts are the same figure."""
    from executions import lambda_api
    from executions.budget import READ_QUOTAS

    labels = ["source", "api"]
    calls = _counter("api_calls", "Read calls made within the budget (its scope's).", labels)
    throttles = _counter(
        "api_throttles", "Read calls the endpoint throttled anyway (someone else spent the "
        "quota).", labels
    )  # fmt: skip
    rate = _gauge("api_calls_per_second", "Read calls per second over the last minute.", labels)
    budget_rate = _gauge("api_budget_per_second", "The source's budget: calls per second.", labels)
    effective = _gauge(
        "api_effective_budget_per_second",
        "The budget after throttles shrank it (it recovers over about half a minute).",
        labels,
    )
    refused = _gauge(
        "api_refused_last_minute",
        "Calls left for later in the last minute because the budget was spent.",
        labels,
    )
    budget = lambda_api.get_budget()
    if budget is not None:
        for source in sources():
            endpoint = lambda_api.Endpoint.of(source)
            scope = lambda_api.known_scope(endpoint)
            if scope is None:  # no call made yet: nothing counted
                continue
            for api in READ_QUOTAS:
                stats = budget.stats(scope, api, endpoint.budget_rate(api))
                key = [source.name, api]
                calls.add_metric(key, stats["calls_total"])
                throttles.add_metric(key, stats["throttles_total"])
                rate.add_metric(key, stats["calls_per_second"])
                budget_rate.add_metric(key, stats["budget"])
                effective.add_metric(key, stats["effective"])
                refused.add_metric(key, stats["refused"])
    return [calls, throttles, rate, budget_rate, effective, refused]


def event_figures() -> Iterable[Metric]:
    """Status events from SQS, per source with a queue: messages by outcome, and how old
    they were when received (executions/events.py keeps both in Redis)."""
    from executions import events

    messages = _counter(
        "status_events", "Status-event messages read from the queue, by outcome.",
        ["source", "outcome"]
    )  # fmt: skip
    age = _gauge(
        "status_event_age_seconds",
        "How old the last 500 messages were when read: their median and maximum.",
        ["source", "quantile"],
    )
    polled = _gauge(
        "status_events_last_poll_age_seconds", "Seconds since the queue was last read.",
        ["source"]
    )  # fmt: skip
    set_aside = _gauge(
        "status_events_set_aside", "Messages set aside as not status events.", ["source"]
    )
    consumed = _counter(
        "status_events_consumed", "Messages applied (or set aside) and deleted from the queue.",
        ["source"]
    )  # fmt: skip
    reconciled = _counter(
        "status_events_reconciled",
        "Executions the reconciliation listing found new or changed that no message told of.",
        ["source"],
    )
    for source in sources():
        if not source.events_queue_url:
            continue
        figures = events.figures(source)
        if "error" in figures:
            raise RuntimeError(figures["error"])
        for outcome, n in sorted(figures["counts"].items()):
            if outcome not in ("consumed", "reconciled"):
                messages.add_metric([source.name, outcome], n)
        consumed.add_metric([source.name], figures["consumed"])
        reconciled.add_metric([source.name], figures["reconciled"])
        if figures["lag_p50_seconds"] is not None:
            age.add_metric([source.name, "0.5"], figures["lag_p50_seconds"])
            age.add_metric([source.name, "1"], figures["lag_max_seconds"])
        if figures["last_polled_seconds_ago"] is not None:
            polled.add_metric([source.name], figures["last_polled_seconds_ago"])
        set_aside.add_metric([source.name], figures["set_aside"])
    return [messages, consumed, reconciled, age, polled, set_aside]


def callback_figures() -> Iterable[Metric]:
    """Pending callbacks of running executions, per source: how many, the oldest one's
    age, and the nearest deadline (executions/deadlines.py) among them.

    The executions are matched by LIVE_STATUSES, written as the partial index
    exec_live_ops_idx names them, so the planner reads the live executions through it
    (a "not ended" filter would read the whole table); the callbacks through
    op_type_status_idx."""
    from django.db.models import Count, Min
    from django.utils import timezone

    from executions.models import Operation, Source
    from executions.models.executions import LIVE_STATUSES

    now = timezone.now()
    pending = _gauge(
        "pending_callbacks", "Callbacks waiting for an answer, of running executions.",
        ["source"]
    )  # fmt: skip
    oldest = _gauge(
        "pending_callback_oldest_age_seconds",
        "Seconds since the oldest pending callback started.",
        ["source"],
    )
    nearest = _gauge(
        "pending_callback_next_deadline_seconds",
        "Seconds until the nearest pending callback times out (its Timeout or "
        "HeartbeatTimeout; negative: past it). Absent when none has a deadline.",
        ["source"],
    )
    names = dict(Source.objects.values_list("pk", "name"))
    live = Operation.objects.pending_callbacks().filter(execution__status__in=LIVE_STATUSES)
    for row in (
        live.values("execution__source_id")
        .annotate(n=Count("id"), first=Min("started_at"))
        .order_by("execution__source_id")
    ):
        name = [names.get(row["execution__source_id"], str(row["execution__source_id"]))]
        pending.add_metric(name, row["n"])
        if row["first"] is not None:
            oldest.add_metric(name, (now - row["first"]).total_seconds())
    keys = list(
        live.order_by("started_at", "pk").values_list(
            "execution_id", "operation_id", "execution__source_id"
        )[:MAX_DEADLINE_CALLBACKS]
    )
    source_of = {execution_id: source_id for execution_id, _, source_id in keys}
    soonest: dict[int, float] = {}
    for execution_id, deadline in _deadlines([(e, o) for e, o, _ in keys]):
        seconds = (deadline - now).total_seconds()
        source_id = source_of[execution_id]
        soonest[source_id] = min(seconds, soonest.get(source_id, seconds))
    for source_id, seconds in sorted(soonest.items()):
        nearest.add_metric([names.get(source_id, str(source_id))], seconds)
    return [pending, oldest, nearest]


def _deadlines(keys: list[tuple[int, str]]) -> Iterable[tuple[int, Any]]:
    """(execution pk, deadline) of those callbacks whose CallbackStarted event gives one,
    by executions/deadlines.py's rule: the first MAX_DEADLINE_CALLBACKS of `keys` (the
    oldest callbacks), CHUNK to a query on event_type_idx, reading the two timeouts out
    of the event's details (no rows made into models)."""
    from django.db.models.fields.json import KT

    from executions import deadlines
    from executions.models import HistoryEvent

    keys = keys[:MAX_DEADLINE_CALLBACKS]
    for index in range(0, len(keys), CHUNK):
        chunk = keys[index : index + CHUNK]
        wanted = set(chunk)
        rows = (
            HistoryEvent.objects.filter(
                event_type="CallbackStarted",
                execution_id__in={e for e, _ in chunk},
                operation_id__in={o for _, o in chunk},
            )
            .order_by()
            .values_list(
                "execution_id",
                "operation_id",
                "timestamp",
                KT("details__Timeout"),
                KT("details__HeartbeatTimeout"),
            )
        )
        for execution_id, operation_id, timestamp, timeout, heartbeat in rows:
            if (execution_id, operation_id) not in wanted:
                continue
            first = deadlines.Deadlines(
                deadlines.after(timestamp, timeout), deadlines.after(timestamp, heartbeat)
            ).first
            if first is not None:
                yield execution_id, first


def notification_figures() -> Iterable[Metric]:
    """Notifications of the last hour by channel and status (sent, failed, skipped), the
    ones still to send and the oldest of those."""
    from django.db.models import Count, Min
    from django.utils import timezone

    from notify.models import Delivery, DeliveryStatus

    now = timezone.now()
    recent = _gauge(
        "notifications_last_hour",
        "Notifications made in the last hour, by channel and status (delivered, failed, "
        "skipped, pending, sending).",
        ["channel", "status"],
    )
    for row in (
        Delivery.objects.filter(created_at__gte=now - timedelta(seconds=RECENT_SECONDS))
        .values("channel", "status")
        .annotate(n=Count("id"))
        .order_by("channel", "status")
    ):
        recent.add_metric([row["channel"], row["status"]], row["n"])
    unsent = Delivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    ).aggregate(n=Count("id"), first=Min("created_at"))
    pending = _gauge("notifications_unsent", "Notifications not yet sent (or retrying).", [])
    pending.add_metric([], unsent["n"] or 0)
    oldest = _gauge(
        "notification_oldest_unsent_age_seconds",
        "Seconds since the oldest notification not yet sent was made (0 when none).",
        [],
    )
    oldest.add_metric([], (now - unsent["first"]).total_seconds() if unsent["first"] else 0)
    return [recent, pending, oldest]


def guardrail_figures() -> Iterable[Metric]:
    """What the guardrails did: one row per rule and subject (guardrails/models.py Firing),
    counted by rule, action and outcome, dry runs apart."""
    from django.db.models import Count

    from guardrails.models import Firing

    family = _gauge(
        "guardrail_firings",
        "Executions (or functions) a guardrail acted on or would have, by rule, action, "
        "outcome and dry run.",
        ["guardrail", "action", "outcome", "dry_run"],
    )
    for row in (
        Firing.objects.values("guardrail_name", "action", "outcome", "dry_run")
        .annotate(n=Count("id"))
        .order_by("guardrail_name", "action", "outcome", "dry_run")
    ):
        family.add_metric(
            [row["guardrail_name"], row["action"], row["outcome"], str(row["dry_run"]).lower()],
            row["n"],
        )
    return [family]


def celery_figures() -> Iterable[Metric]:
    """Celery's queue in Redis: tasks waiting (the list's length, every priority), and
    tasks taken by a worker and not yet acknowledged."""
    from django.conf import settings
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    from executions.locks import redis_client

    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    client = redis_client()
    pipe = client.pipeline()
    for priority in PRIORITY_STEPS:
        name = queue if not priority else f"{queue}{Channel.sep}{priority}"
        pipe.llen(f"{prefix}{name}")
    pipe.hlen(f"{prefix}{Channel.unacked_key}")
    *lengths, unacked = pipe.execute()
    depth = _gauge("celery_queue_length", "Tasks waiting in the broker's queue.", ["queue"])
    depth.add_metric([queue], sum(lengths))
    taken = _gauge(
        "celery_unacked_tasks", "Tasks a worker has taken and not finished (acknowledged).", []
    )
    taken.add_metric([], unacked)
    return [depth, taken]


PARTS: dict[str, Callable[[], Iterable[Metric]]] = {
    "sync": sync_figures,
    "executions": execution_figures,
    "budget": budget_figures,
    "status_events": event_figures,
    "callbacks": callback_figures,
    "notifications": notification_figures,
    "guardrails": guardrail_figures,
    "celery": celery_figures,
}


class Figures:
    """The scrape-time collector: every part, each on its own."""

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        up = _gauge(
            "metrics_part_up", "1 when the part's figures were read; 0: see the log.", ["part"]
        )
        for name, collect in {**PARTS, **_extra}.items():
            try:
                families = list(collect())
            except Exception:
                logger.exception("metrics: the %s figures could not be read", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up
        took = _gauge("metrics_scrape_seconds", "Seconds the figures took to read.", [])
        took.add_metric([], time.perf_counter() - started)
        yield took


def exposition() -> bytes:
    """Everything /metrics says, in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Figures())
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_RequestsOfThisProcess())
    return generate_latest(registry)


class _RequestsOfThisProcess:
    def collect(self) -> Iterable[Metric]:
        return REQUEST_REGISTRY.collect()
