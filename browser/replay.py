"""Replay: an execution as it stood after any event of its history.

`?at=<event id>` on the graph, operations and timeline tabs shows the tree the stored
HistoryEvent rows give up to that event, folded by the sync's own pure fold
(executions.tree.apply_events): never asked of the API. A moment of the past never
changes (events are stored once and never rewritten), so what is rendered for it is
cached by (execution, moment, what) without the mirror state in the key: a running
execution's new events do not throw away the past moments already drawn.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import HttpRequest
from django.urls import reverse

from browser import optree
from executions import nodes, tree
from executions.models import Execution, HistoryEvent
from web import params

CACHE_SECONDS = 60 * 60 * 24
T = TypeVar("T")
# Which tabs can show a past moment (the others show the execution as it is now).
REPLAY_TABS = ("graph", "operations", "timeline")


@dataclass
class Moment:
    """The moment `?at=` names: after event `event_id` (of `last_event_id`)."""

    event_id: int
    last_event_id: int
    event_type: str
    timestamp: datetime | None
    operation_name: str

    @property
    def previous(self) -> int | None:
        return self.event_id - 1 if self.event_id > 1 else None

    @property
    def next(self) -> int | None:
        return self.event_id + 1 if self.event_id < self.last_event_id else None

    @property
    def is_latest(self) -> bool:
        return self.event_id >= self.last_event_id


@dataclass
class Replayed:
    """The fold's result at a moment: the nodes, and the execution as it stood (its status
    and end from the execution-level events up to the moment)."""

    moment: Moment
    nodes: dict[str, tree.OperationNode]
    execution: Execution


def moment_from_request(request: HttpRequest, execution: Execution) -> Moment | None:
    """The moment the URL names (None: now). A moment the history does not hold is refused
    with a reason (params.BadQuery: HTTP 400)."""
    at = params.integer(request.GET, "at", minimum=1)
    if at is None:
        return None
    if at > execution.last_event_id:
        if execution.last_event_id == 0:
            raise params.BadQuery(
                "“at” names a moment of the history, and none of it is in the mirror yet."
            )
        raise params.BadQuery(
            f"“at” must be an event of this execution's history, 1 to "
            f"{execution.last_event_id}, not {at}."
        )
    row = (
        HistoryEvent.objects.filter(execution=execution, event_id__lte=at)
        .order_by("-event_id")
        .values_list("event_id", "event_type", "timestamp", "name")
        .first()
    )
    if row is None:
        raise params.BadQuery(f"“at”: the mirror holds no event up to {at} of this execution.")
    event_id, event_type, timestamp, name = row
    return Moment(event_id, execution.last_event_id, event_type, timestamp, name)


def _moment_text(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stored_events(
    execution: Execution, at: int, *, since: int = 0, execution_only: bool = False
) -> list[dict[str, Any]]:
    """The stored events up to `at` (from `since`; with `execution_only` the
    execution-level ones), in order, shaped as the API sends them (as much as the fold
    reads): read as text in one query and parsed here, as nodes.load_nodes does, because
    Django's per-value converters cost more than the fold itself at 20,000 events. The
    fold reads an event's *Details under any key ending in "Details"."""
    query = HistoryEvent.objects.filter(execution=execution, event_id__lte=at)
    if since:
        query = query.filter(event_id__gte=since)
    if execution_only:
        query = query.filter(event_type__startswith="Execution")
    query = (
        query.order_by("event_id")
        .annotate(ts_text=Cast("timestamp", TextField()), details_text=Cast("details", TextField()))
        .values_list(
            "event_id",
            "event_type",
            "sub_type",
            "operation_id",
            "name",
            "parent_id",
            "ts_text",
            "details_text",
        )
    )
    sql, sql_params = query.query.sql_with_params()
    events = []
    loads = json.loads
    with tree.gc_paused(), connection.cursor() as cursor:
        cursor.execute(sql, sql_params)
        for event_id, kind, sub_type, op_id, name, parent, stamp, details in cursor.fetchall():
            details = loads(details) if details and details != "{}" else {}
            scheduled = details.get("ScheduledEndTimestamp")
            if isinstance(scheduled, str):
                details["ScheduledEndTimestamp"] = datetime.fromisoformat(scheduled)
            events.append(
                {
                    "EventId": event_id,
                    "EventType": kind,
                    "SubType": sub_type or None,
                    "Id": op_id or None,
                    "Name": name or None,
                    "ParentId": parent or None,
                    "EventTimestamp": _moment_text(stamp),
                    "Details": details,
                }
            )
    return events


def fold(execution: Execution, events: Iterable[dict[str, Any]]) -> dict[str, tree.OperationNode]:
    """The operation tree after `events`, by the sync's fold."""
    by_id: dict[str, tree.OperationNode] = {}
    with tree.gc_paused():
        tree.apply_events(by_id, events)
    return by_id


def _as_of(execution: Execution, moment: Moment, events: list[dict[str, Any]]) -> Execution:
    """The execution as it stood after `events` (its status, end and error)."""
    status, ended = tree.execution_status(events, "RUNNING")
    past = copy.copy(execution)
    past.status = status
    past.ended_at = ended
    # The error is the terminal event's: before it, the execution had none.
    if ended is None:
        past.error = None
    past.last_event_id = moment.event_id
    return past


def replay_events(execution: Execution, moment: Moment) -> Replayed:
    """The tree at the moment, every stored event up to it folded: the reference that
    replay() must equal (tests/test_replay.py checks it at every moment)."""
    events = stored_events(execution, moment.event_id)
    return Replayed(moment, fold(execution, events), _as_of(execution, moment, events))


# What a replayed tree carries by default: what the tabs draw, and each operation's last
# event (to tell the operations that were still changing at the moment).
TAB_COLUMNS = (*nodes.GRAPH_COLUMNS, "last_event_id")


def replay(
    execution: Execution, moment: Moment, columns: tuple[str, ...] = TAB_COLUMNS
) -> Replayed:
    """The tree at the moment, as fast as replay_events() and equal to it.

    The fold is per operation: an operation's node depends only on its own events. So an
    operation whose last event is at or before the moment stands as the sync stored it
    (the same fold's result, read with the tabs' columns); one that started by then and
    changed after is folded again from its stored events up to the moment; one that
    started after is left out. At 10,000 operations this reads the tree and a few events
    rather than 20,000 events (see docs/BENCHMARKS.md)."""
    at = moment.event_id
    if "last_event_id" not in columns:
        columns = (*columns, "last_event_id")
    started = {
        op_id: node
        for op_id, node in nodes.load_nodes(execution, columns).items()
        if node.first_event_id <= at
    }
    changing = {op_id for op_id, node in started.items() if node.last_event_id > at}
    if changing:
        since = min(started[op_id].first_event_id for op_id in changing)
        events = [e for e in stored_events(execution, at, since=since) if e["Id"] in changing]
        for op_id, node in fold(execution, events).items():
            # The fold numbers nodes in the order it meets them; keep the stored order.
            node.position = started[op_id].position
            started[op_id] = node
    status_events = stored_events(execution, at, execution_only=True)
    return Replayed(moment, started, _as_of(execution, moment, status_events))


def operation_tree(replayed: Replayed) -> optree.OperationTree:
    """The whole tree at the moment, as the tabs read it."""
    with tree.gc_paused():
        roots = tree.link(replayed.nodes)
    return optree.OperationTree(roots, replayed.nodes, replayed.moment.event_id)


def cached(
    execution: Execution,
    moment: Moment,
    kind: str,
    parts: Iterable[Any],
    compute: Callable[[], T],
    seconds: int = CACHE_SECONDS,
) -> T:
    """What is rendered for a moment, computed once per (execution, moment, kind, parts).
    The ARN's digest is in the key so a row re-created under the same id never shares."""
    arn = hashlib.sha1(execution.arn.encode()).hexdigest()[:10]
    suffix = ":".join(str(p) for p in parts)
    key = f"browser:replay:{kind}:{execution.pk}:{arn}:{moment.event_id}:{suffix}"
    return cache.get_or_set(key, compute, seconds)


def bar_context(execution: Execution, tab: str, moment: Moment | None) -> dict[str, Any]:
    """What the replay bar (browser/_replay_bar.html) shows."""
    tab_url = reverse("browser:tab", args=[execution.pk, tab])
    latest = (
        HistoryEvent.objects.filter(execution=execution)
        .order_by("-event_id")
        .values_list("event_type", "timestamp")
        .first()
    )
    return {
        "replay_moment": moment,
        "replay_tabs": REPLAY_TABS,
        "replay_query": f"?at={moment.event_id}" if moment else "",
        "replay_tab_url": tab_url,
        "replay_last": execution.last_event_id,
        "replay_latest": latest,
        "replay_at": moment.event_id if moment else execution.last_event_id,
        "replay_previous_url": (
            f"{tab_url}?at={moment.previous}"
            if moment and moment.previous
            else (f"{tab_url}?at={execution.last_event_id - 1}" if not moment else "")
        )
        if execution.last_event_id > 1
        else "",
        "replay_next_url": f"{tab_url}?at={moment.next}" if moment and moment.next else "",
    }
