"""Template helpers for the execution browser: durations, status badges and times.

The rules come from domain/ (durations, what a status means); these only dress them.

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

from domain import status
from domain.durations import format_duration

register = template.Library()

# Bootstrap's badge for each visual state (domain.status): the graph draws the same states.
STATE_BADGES = {
    status.SUCCEEDED: "text-bg-success",
    status.FAILED: "text-bg-danger",
    status.RUNNING: "text-bg-primary",
    status.WAITING: "text-bg-warning",
    status.ENDED: "text-bg-secondary",
    status.NOT_STARTED: "text-bg-light",
}


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


def _operation_state(value: Any) -> str:
    """The state of an operation (an Operation row or a tree node), or of a bare operation
    status when only that is known."""
    if isinstance(value, str):
        return status.operation_state(None, None, value)
    return status.operation_state(value.type, value.subtype, value.status)


@register.filter
def execution_state(execution_status: str) -> str:
    """The visual state of an execution status ('state-…' classes, dots and bars)."""
    return status.execution_state(execution_status)


@register.filter
def op_state(operation: Any) -> str:
    return _operation_state(operation)


@register.filter
def status_badge(execution_status: str) -> str:
    """Bootstrap badge classes for an execution's status."""
    return STATE_BADGES[status.execution_state(execution_status)]


@register.filter
def exec_state(execution: Any) -> str:
    """The visual state of an execution: a running one that waits is "waiting"."""
    return status.execution_state(execution.status, execution.waiting)


@register.filter
def exec_badge(execution: Any) -> str:
    return STATE_BADGES[exec_state(execution)]


@register.filter
def exec_label(execution: Any) -> str:
    """'Succeeded', 'Running', or 'Waiting' for a running execution that waits."""
    return status.execution_label(execution.status, execution.waiting)


@register.simple_tag
def waiting_note(execution: Any) -> str:
    """What a waiting execution waits for: "for a callback", "for a timer, until 14:02"."""
    kind = execution.waiting
    if not kind:
        return ""
    words = status.WAITING_WORDS.get(kind, kind)
    if kind == status.WAITING_TIMER and execution.waiting_until:
        return format_html("{} until {}", words, time(execution.waiting_until))
    return words


@register.filter
def op_status_label(operation: Any) -> str:
    """An operation's status in the graph's words ("Waiting", "Running", "Succeeded")."""
    if isinstance(operation, str):
        return status.operation_label(None, None, operation)
    return status.operation_label(operation.type, operation.subtype, operation.status)


@register.filter
def op_status_badge(operation: Any) -> str:
    """Bootstrap badge classes for an operation (or an operation status)."""
    return STATE_BADGES[_operation_state(operation)]


@register.filter
def status_word(value: str) -> str:
    """'TIMED_OUT' -> 'timed out' (in a sentence)."""
    return status.word(value)


@register.filter
def iso_utc(value: datetime | None) -> str:
    """A moment as ISO 8601 in UTC, for attributes console.js reads (data-until)."""
    return _iso(value) if isinstance(value, datetime) else ""


@register.filter
def status_label(value: str) -> str:
    """'TIMED_OUT' -> 'Timed out'."""
    return status.label(value)


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
    items = [(s, n) for s, n in (counts or {}).items() if n]
    return sorted(items, key=lambda item: status.sort_key(item[0]))


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
