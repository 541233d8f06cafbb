"""How long something took, for people: one rule for the tables, the graph and the times
that tick in the browser (static/console.js `formatDuration` mirrors it)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

# Floating-point slack, so that 0.57 s is 570 ms and not 569 (0.57 * 1000 = 569.99…).
EPSILON = 1e-6


def format_duration(seconds: float | None) -> str:
    """'350 ms', '4.2 s', '42 s', '5 min 3 s', '2 h 5 min', '3 d 4 h'.

    Every unit is cut, never rounded up: 3,599.6 s reads "59 min 59 s", not "1 h", and
    9.96 s reads "9.9 s", so a running clock never shows a moment it has not reached. The
    two most significant units are enough to read at a glance.
    """
    if seconds is None:
        return ""
    seconds = max(float(seconds), 0.0)
    if seconds < 1:
        return f"{math.floor(seconds * 1000 + EPSILON)} ms"
    if seconds < 10:
        tenths = math.floor(seconds * 10 + EPSILON)
        return f"{tenths // 10} s" if tenths % 10 == 0 else f"{tenths / 10:.1f} s"
    total = int(seconds)
    if total < 60:
        return f"{total} s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def between(start: datetime | None, end: datetime | None) -> timedelta | None:
    """The span from start to end; None when either is unknown."""
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return end - start
