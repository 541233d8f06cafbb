"""Template helpers for the execution browser: durations, status badges and times.

Times are rendered as `<time datetime="...">` elements holding UTC text; console.js
rewrites them in the browser's zone (or keeps UTC, a choice it remembers).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

EXECUTION_BADGES = {
    "RUNNING": "text-bg-primary",
    "SUCCEEDED": "text-bg-success",
    "FAILED": "text-bg-danger",
    "TIMED_OUT": "text-bg-warning",
    "STOPPED": "text-bg-secondary",
    "PAUSING": "text-bg-info",
    "PAUSED": "text-bg-info",
    "DELETING": "text-bg-dark",
}
OPERATION_BADGES = {
    "STARTED": "text-bg-primary",
    "PENDING": "text-bg-info",
    "READY": "text-bg-info",
    "SUCCEEDED": "text-bg-success",
    "FAILED": "text-bg-danger",
    "CANCELLED": "text-bg-secondary",
    "TIMED_OUT": "text-bg-warning",
    "STOPPED": "text-bg-secondary",
}


def format_duration(seconds: float | None) -> str:
    """'350 ms', '4.2 s', '42 s', '5 min 3 s', '2 h 5 min', '3 d 4 h'."""
    if seconds is None:
        return ""
    seconds = max(float(seconds), 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.0f} s" if seconds == int(seconds) else f"{seconds:.1f} s"
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


@register.filter
def duration(value: Any) -> str:
    """A timedelta or a number of seconds, for people."""
    if value is None or value == "":
        return ""
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds())
    try:
        return format_duration(float(value))
    except (TypeError, ValueError):
        return ""


@register.simple_tag
def elapsed(start: datetime | None, end: datetime | None = None) -> str:
    """From `start` to `end`; a running span (no end) is rendered live by console.js."""
    if start is None:
        return ""
    if end is not None:
        return format_duration((end - start).total_seconds())
    text = format_duration((timezone.now() - start).total_seconds())
    return format_html('<span data-since="{}">{}</span>', _iso(start), text)


@register.filter
def status_badge(status: str) -> str:
    """Bootstrap badge classes for an execution or operation status."""
    return EXECUTION_BADGES.get(status) or OPERATION_BADGES.get(status) or "text-bg-light"


@register.filter
def op_status_badge(status: str) -> str:
    return OPERATION_BADGES.get(status, "text-bg-light")


@register.filter
def status_label(status: str) -> str:
    """'TIMED_OUT' -> 'Timed out'."""
    return (status or "").replace("_", " ").capitalize()


def _iso(value: datetime) -> str:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@register.simple_tag
def time(value: datetime | None, fmt: str = "datetime") -> str:
    """`<time>` with UTC text; console.js shows it in the browser's zone.

    fmt: "datetime" (default) or "time" (time of day only).
    """
    if value is None:
        return format_html('<span class="text-body-secondary">{}</span>', "—")
    utc = value.astimezone(UTC)
    text = utc.strftime("%H:%M:%S" if fmt == "time" else "%Y-%m-%d %H:%M:%S")
    return format_html(
        '<time class="js-time" datetime="{}" data-format="{}">{} UTC</time>', _iso(utc), fmt, text
    )


@register.simple_tag
def ago(value: datetime | None) -> str:
    """'12 s ago', kept current by console.js."""
    if value is None:
        return "never"
    seconds = (timezone.now() - value).total_seconds()
    text = "just now" if seconds < 1 else f"{format_duration(seconds)} ago"
    return format_html(
        '<time class="js-ago" datetime="{}" title="{}">{}</time>',
        _iso(value),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        text,
    )


@register.filter
def short_id(value: str, length: int = 8) -> str:
    return (value or "")[: int(length)]


@register.filter
def indent_range(depth: int) -> range:
    return range(int(depth or 0))


@register.filter
def get_item(mapping: dict, key: Any) -> Any:
    return (mapping or {}).get(key)


@register.filter
def counts_list(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Status counts in a stable, meaningful order, zeros left out."""
    order = list(OPERATION_BADGES) + list(EXECUTION_BADGES)
    items = [(s, n) for s, n in (counts or {}).items() if n]
    return sorted(items, key=lambda item: order.index(item[0]) if item[0] in order else 99)


@register.filter
def iso_time(value: Any) -> str:
    """An ISO 8601 string (as stored in JSON fields) as a `<time>` element."""
    if isinstance(value, datetime):
        return time(value)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return time(moment)


@register.filter
def pretty_json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return "(nested too deeply to lay out)"
