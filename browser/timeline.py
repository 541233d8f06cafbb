"""Timeline geometry: bars in percent of the execution's span, and the ticks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from browser.optree import MoreRow, OperationTree, TreeRow, tree_rows
from executions.models import Execution

# The timeline draws at most this many rows; beyond it, collapse or filter.
TIMELINE_MAX_ROWS = 600

TICK_STEPS = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
]


@dataclass
class Bar:
    row: TreeRow
    x: float  # percent of the track
    width: float  # percent of the track
    running: bool


@dataclass
class Tick:
    x: float  # percent
    seconds: float


@dataclass
class Timeline:
    start: datetime | None
    end: datetime | None
    bars: list[Bar]
    ticks: list[Tick]
    truncated: int  # rows left out beyond TIMELINE_MAX_ROWS
    more: list[MoreRow]


def timeline(
    execution: Execution,
    op_tree: OperationTree,
    now: datetime | None = None,
    expand: Iterable[str] = (),
) -> Timeline:
    """Bars for the operations in tree order, positioned in percent of the execution span."""
    now = now or timezone.now()
    rows = tree_rows(op_tree, expand=expand)
    more = [r for r in rows if isinstance(r, MoreRow)]
    op_rows = [r for r in rows if isinstance(r, TreeRow)]
    truncated = max(0, len(op_rows) - TIMELINE_MAX_ROWS)
    op_rows = op_rows[:TIMELINE_MAX_ROWS]
    starts = [r.node.started_at for r in op_rows if r.node.started_at]
    start = execution.started_at or (min(starts) if starts else None)
    if start is None:
        return Timeline(None, None, [], [], truncated, more)
    ends = [r.node.ended_at for r in op_rows if r.node.ended_at]
    end = execution.ended_at or (now if not execution.is_terminal else max(ends, default=now))
    end = max([end, *ends]) if ends else end
    span = max((end - start).total_seconds(), 0.001)
    bars = []
    for row in op_rows:
        node = row.node
        if node.started_at is None:
            continue
        finish = node.ended_at or (end if not execution.is_terminal else node.started_at)
        x = max(0.0, (node.started_at - start).total_seconds() / span * 100)
        width = max((finish - node.started_at).total_seconds() / span * 100, 0.25)
        width = min(width, max(100 - x, 0.25))
        bars.append(Bar(row, round(x, 3), round(width, 3), node.ended_at is None))
    step = next((s for s in TICK_STEPS if span / s <= 8), TICK_STEPS[-1])
    ticks = [Tick(round(i * step / span * 100, 3), i * step) for i in range(int(span // step) + 1)]
    return Timeline(start, end, bars, ticks, truncated, more)
