"""The function overview's chart: executions started per hour or day, stacked by what
became of them, as geometry for a server-drawn SVG (browser/templates/browser/
_function_chart.html). Plain data in, plain data out: counts per (bucket, status) from
browser/functions.py."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain import status

# The stacks, bottom up: what ended well, what went wrong, what is still going. Each is one
# of domain/status.py's visual states (its colour is the state's, console.css).
SERIES = (
    (status.SUCCEEDED, "Succeeded"),
    (status.FAILED, "Failed"),
    (status.ENDED, "Timed out or stopped"),
    (status.RUNNING, "Running"),
    (status.WAITING, "Paused"),
)
# The drawing's height in pixels: bars above, labels below.
PLOT_HEIGHT = 180
LABEL_HEIGHT = 22
TOP = 8  # room for the top grid line's number
MAX_LABELS = 8  # enough to read, few enough not to collide on a phone


def series_of(execution_status: str) -> str:
    """The stack an execution's status is counted in."""
    return status.execution_state(execution_status)


@dataclass
class Segment:
    state: str
    count: int
    y: float  # px from the top
    height: float  # px


@dataclass
class Column:
    start: datetime
    x: float  # percent of the width
    width: float  # percent of the width
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # by API status
    segments: list[Segment] = field(default_factory=list)
    label: str = ""  # written under the column, for some of them
    label_x: float = 0.0  # percent: the column's middle
    label_minor: bool = False
    # The list's start-time filter for the column's executions (?from=&to=, UTC).
    list_from: str = ""
    list_to: str = ""

    @property
    def summary(self) -> str:
        """The column's tooltip: when, and how many in each status."""
        parts = [f"{n} {status.word(s)}" for s, n in sorted(self.counts.items(), key=_status_order)]
        return ", ".join(parts) if parts else "none"


@dataclass
class GridLine:
    y: float  # px
    value: int


@dataclass
class Chart:
    columns: list[Column]
    grid: list[GridLine]
    total: int
    largest: int
    bucket: str  # "hour" or "day"
    top: int = TOP
    plot_height: int = PLOT_HEIGHT
    label_height: int = LABEL_HEIGHT

    @property
    def height(self) -> int:
        return self.top + self.plot_height + self.label_height


def _status_order(item: tuple[str, int]) -> int:
    return status.sort_key(item[0])


def bucket_starts(now: datetime, span: timedelta, bucket: str) -> list[datetime]:
    """The start of every hour (or UTC day) from now - span up to now, oldest first."""
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        end = end.replace(hour=0)
    count = max(1, math.ceil(span / step))
    return [end - step * i for i in range(count - 1, -1, -1)]


def _nice_step(largest: int) -> int:
    """A grid step of 1, 2 or 5 times a power of ten giving at most four lines."""
    if largest <= 4:
        return 1
    power = 10 ** int(math.log10(largest / 4))
    return next(m * power for m in (1, 2, 5, 10) if largest / (m * power) <= 4)


def build(
    counts: dict[tuple[datetime, str], int], now: datetime, span: timedelta, bucket: str
) -> Chart:
    """The chart of `counts` {(bucket start, status): executions} over `span` up to now."""
    starts = bucket_starts(now, span, bucket)
    width = 100 / len(starts)
    gap = min(width * 0.15, 0.6)
    columns = {
        start: Column(start, round(i * width + gap / 2, 3), round(width - gap, 3))
        for i, start in enumerate(starts)
    }
    for start, column in columns.items():
        if bucket == "hour":
            column.list_from = start.strftime("%Y-%m-%dT%H:%M")
            column.list_to = start.strftime("%Y-%m-%dT%H:59:59.999999")
        else:  # a bare date as the upper bound is the end of that day
            column.list_from = column.list_to = start.strftime("%Y-%m-%d")
    for (start, execution_status), n in counts.items():
        column = columns.get(start.astimezone(UTC))
        if column is None:  # started in the future, or before the first bucket
            continue
        column.counts[execution_status] = column.counts.get(execution_status, 0) + n
        column.total += n
    largest = max((c.total for c in columns.values()), default=0)
    step = _nice_step(largest)
    top = max(step * math.ceil(largest / step), 1)
    scale = PLOT_HEIGHT / top
    for column in columns.values():
        by_state: dict[str, int] = {}
        for execution_status, n in column.counts.items():
            state = series_of(execution_status)
            by_state[state] = by_state.get(state, 0) + n
        y = float(TOP + PLOT_HEIGHT)
        for state, _ in SERIES:
            n = by_state.get(state, 0)
            if n:
                height = n * scale
                y -= height
                column.segments.append(Segment(state, n, round(y, 2), round(height, 2)))
    # Labels under some columns, centred, counted back from the newest (always labelled);
    # every other one is "minor" and left out on a phone's narrow chart (functions.css).
    every = max(1, math.ceil(len(starts) / MAX_LABELS))
    for i, start in enumerate(starts):
        back = len(starts) - 1 - i
        if back % every == 0:
            column = columns[start]
            column.label = start.strftime("%H:%M" if bucket == "hour" else "%b %d")
            column.label_x = round(column.x + column.width / 2, 3)
            column.label_minor = (back // every) % 2 == 1
    grid = [
        GridLine(round(TOP + PLOT_HEIGHT - value * scale, 2), value)
        for value in range(0, top + 1, step)
    ]
    return Chart(
        list(columns.values()),
        grid,
        sum(c.total for c in columns.values()),
        largest,
        bucket,
    )
