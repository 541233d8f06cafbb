"""The operations table's rows as HTML, written in Python rather than with a template: a
tab or an expanded map renders hundreds of rows at once, and the template engine took
about half a millisecond a row (a 5,000-item map's first chunk of 400 rows: 150 ms), this
a twentieth of that. The markup is what static/console.js and the tests read:
`data-op`, `data-depth`, `data-tree-toggle`, `data-tree-expand`, `data-tree-more`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from browser.optree import MoreRow, TreeNode, TreeRow
from browser.templatetags.console_tags import (
    STATE_BADGES,
    counts_list,
    elapsed,
    op_status_label,
    time,
)
from domain import operations, status
from executions.models import Execution

# Markup without values; everything that varies goes through format_html, which escapes.
_INDENT = mark_safe('<span class="tree-indent" aria-hidden="true"></span>')
_LEAF = mark_safe('<span class="tree-leaf" aria-hidden="true"></span>')
_ATTEMPTS = (
    '<span class="badge text-bg-warning-subtle text-warning-emphasis border '
    'border-warning-subtle">{}</span>'
)
_TOGGLE_OPEN = (
    '<button type="button" class="tree-toggle" data-tree-toggle aria-expanded="{}" '
    'aria-label="{} {}"></button>'
)
_TOGGLE_COLLAPSED = (
    '<a class="tree-toggle" aria-expanded="false" aria-label="Expand {}" data-tree-expand '
    'href="{}" hx-get="{}" hx-target="closest tr" hx-swap="outerHTML"></a>'
)
_COUNT_BADGE = ' <span class="badge {}">{} {}</span>'
_SUMMARY = (
    '<span class="collapsed-summary small text-body-secondary" '
    'data-testid="collapsed-summary">{} {}:{}</span>'
)
_KIND = '<span class="op-type">{}</span>'
_SUBKIND = ' <span class="text-body-secondary">· {}</span>'
_BADGE = '<span class="badge {}" title="{}">{}</span>'
# A step waiting for its next attempt: when (console.js turns the time into a countdown).
_RETRY = (
    ' <span class="retry-marker small text-warning-emphasis text-nowrap" '
    'data-testid="retry-marker" title="{}">↻ attempt {} '
    '<span data-until="{}" data-until-style="in">at {} UTC</span></span>'
)
_ROW = """
<tr class="tree-row{failed}" data-op="{op_id}" data-depth="{depth}"{collapsed}{hidden}>
  <td class="tree-name">
    <span class="tree-cell">{indent}{toggle}
      <a class="op-link" href="{link}" hx-get="{link}" \
hx-target="#operation-panel-body" hx-swap="innerHTML">{label}</a>
      {summary}
    </span>
  </td>
  <td class="small text-nowrap">{kind}</td>
  <td>{badge}{retry}</td>
  <td class="small text-nowrap">{started}</td>
  <td class="small text-nowrap tabular">{took}</td>
  <td class="small text-end tabular">{tries}</td>
</tr>"""
_MORE = """
<tr class="tree-more" data-depth="{depth}"{hidden}>
  <td colspan="6"><span class="tree-cell">{indent}{leaf}
    <a class="small" data-tree-more href="{href}" hx-get="{rows}" hx-target="closest tr" \
hx-swap="outerHTML">Show more ({remaining} not shown)</a></span>
  </td>
</tr>"""


class _Urls:
    """The table's links for one execution; with `at` (a replayed moment) the links that
    load more rows ask for the same moment, while an operation's own link opens its panel
    as it is now."""

    def __init__(self, execution: Execution, at: int | None) -> None:
        self.pk = execution.pk
        self.at = {"at": at} if at is not None else {}
        self.ops = reverse("browser:tab", args=[execution.pk, "operations"])
        self.rows = reverse("browser:tree_rows", args=[execution.pk])

    def _with(self, base: str, query: dict[str, object]) -> str:
        query = {**self.at, **query}
        return f"{base}?{urlencode(query)}" if query else base

    def expand(self, op_id: str = "") -> str:
        return self._with(self.ops, {"expand": op_id} if op_id else {})

    def more(self, parent: str, offset: int | None = None) -> str:
        query: dict[str, object] = {"parent": parent}
        if offset is not None:
            query["offset"] = offset
        return self._with(self.rows, query)

    def operation(self, op_id: str) -> str:
        return reverse("browser:operation", args=[self.pk, op_id])


def render_rows(
    execution: Execution,
    rows: Iterable[TreeRow | MoreRow],
    closed: set[str],
    shut: set[str],
    now: datetime | None = None,
    at: int | None = None,
) -> SafeString:
    """The rows' HTML; at a past moment of the replay (`at`, its event id, and `now`, its
    time) a running operation's duration runs to then rather than on with the clock, and
    the links that load more rows stay at that moment."""
    urls = _Urls(execution, at)
    return format_html_join(
        "",
        "{}",
        (
            (
                _more_row(row, shut, urls)
                if isinstance(row, MoreRow)
                else _row(row, closed, shut, urls, now),
            )
            for row in rows
        ),
    )


def _row(
    row: TreeRow, closed: set[str], shut: set[str], urls: _Urls, now: datetime | None
) -> SafeString:
    node = row.node
    if row.expanded:
        is_open = node.id not in closed
        toggle = format_html(
            _TOGGLE_OPEN,
            "true" if is_open else "false",
            "Collapse" if is_open else "Expand",
            node.label,
        )
    elif row.collapsed:
        toggle = format_html(
            _TOGGLE_COLLAPSED, node.label, urls.expand(node.id), urls.more(node.id)
        )
    else:
        toggle = _LEAF
    summary = ""
    if row.collapsed:
        badges = format_html_join(
            "",
            _COUNT_BADGE,
            (
                (
                    STATE_BADGES[status.operation_state(None, None, s)],
                    n,
                    status.label(s).lower(),
                )
                for s, n in counts_list(node.child_counts)
            ),
        )
        what = "branches" if node.subtype == "Parallel" else "items"
        summary = format_html(_SUMMARY, node.child_total, what, badges)
    kind = format_html(_KIND, status.label(node.type))
    if node.subtype and node.subtype.lower() != (node.type or "").lower():
        kind = format_html("{}{}", kind, format_html(_SUBKIND, node.subtype))
    state = status.operation_state(node.type, node.subtype, node.status)
    title = (
        f"Ended with the execution (the history leaves it {status.word(node.api_status)})"
        if node.api_status
        else status.label(node.status)
    )
    badge = format_html(_BADGE, STATE_BADGES[state], title, op_status_label(node))
    retry = _retry_marker(node)
    if node.ended_at:
        took = elapsed(node.started_at, node.ended_at)
    elif node.started_at and node.running:
        took = elapsed(node.started_at, now)
    else:
        took = ""
    attempts = node.attempt_count or 0
    tries = format_html(_ATTEMPTS, attempts) if attempts > 1 else (attempts or "")
    return format_html(
        _ROW,
        failed=" row-failed" if node.failed else "",
        op_id=node.id,
        depth=row.depth,
        collapsed=mark_safe(" data-collapsed") if row.collapsed else "",
        hidden=mark_safe(" hidden") if (node.parent_operation_id or "") in shut else "",
        indent=mark_safe(_INDENT * row.depth),
        toggle=toggle,
        link=urls.operation(node.id),
        label=node.label,
        summary=summary,
        kind=kind,
        badge=badge,
        retry=retry,
        started=time(node.started_at, "time"),
        took=took,
        tries=tries,
    )


def _retry_marker(node: TreeNode) -> SafeString | str:
    retry = operations.pending_retry(node.status, node.retries)
    if retry is None or retry.next_at is None:
        return ""
    failure = ": ".join(p for p in (retry.error_type, retry.error_message) if p)
    title = f"Attempt {retry.failed_attempt} failed" + (f" ({failure})" if failure else "")
    utc = retry.next_at.astimezone(UTC)
    return format_html(
        _RETRY,
        title,
        retry.next_attempt,
        utc.isoformat().replace("+00:00", "Z"),
        utc.strftime("%H:%M:%S"),
    )


def _more_row(row: MoreRow, shut: set[str], urls: _Urls) -> SafeString:
    return format_html(
        _MORE,
        depth=row.depth,
        hidden=mark_safe(" hidden") if row.parent_id in shut else "",
        indent=mark_safe(_INDENT * row.depth),
        leaf=_LEAF,
        href=urls.expand(row.parent_id),
        rows=urls.more(row.parent_id, row.offset),
        remaining=row.remaining,
    )
