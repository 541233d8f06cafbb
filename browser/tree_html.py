"""The operations table's rows as HTML, written in Python rather than with a template: a
tab or an expanded map renders hundreds of rows at once, and the template engine took
about half a millisecond a row (a 5,000-item map's first chunk of 400 rows: 150 ms), this
a twentieth of that. The markup is what static/console.js and the tests read:
`data-op`, `data-depth`, `data-tree-toggle`, `data-tree-expand`, `data-tree-more`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from browser.optree import MoreRow, TreeRow
from browser.templatetags.console_tags import (
    STATE_BADGES,
    counts_list,
    elapsed,
    op_status_label,
    time,
)
from domain import status
from executions.models import Execution

_INDENT = '<span class="tree-indent" aria-hidden="true"></span>'
_LEAF = '<span class="tree-leaf" aria-hidden="true"></span>'
_ATTEMPTS = (
    '<span class="badge text-bg-warning-subtle text-warning-emphasis border '
    'border-warning-subtle">{}</span>'
)


def render_rows(
    execution: Execution,
    rows: Iterable[TreeRow | MoreRow],
    closed: set[str],
    shut: set[str],
    now: datetime | None = None,
) -> SafeString:
    """The rows' HTML; with `now` (a past moment, browser/replay.py) a running operation's
    duration runs to then rather than on with the clock."""
    ops_url = reverse("browser:tab", args=[execution.pk, "operations"])
    rows_url = reverse("browser:tree_rows", args=[execution.pk])
    # reverse() once: every operation's URL is this with its id in place of the marker.
    op_url = reverse("browser:operation", args=[execution.pk, "__op__"])
    out: list[str] = []
    for row in rows:
        if isinstance(row, MoreRow):
            out.append(_more_row(row, shut, ops_url, rows_url))
        else:
            out.append(_row(row, closed, shut, ops_url, rows_url, op_url, now))
    return mark_safe("".join(out))  # noqa: S308 (every value is escaped above)


def _row(
    row: TreeRow,
    closed: set[str],
    shut: set[str],
    ops_url: str,
    rows_url: str,
    op_url: str,
    now: datetime | None = None,
) -> str:
    node = row.node
    op_id = escape(node.id)
    label = escape(node.label)
    quoted = quote(node.id, safe="")
    if row.expanded:
        is_open = node.id not in closed
        toggle = (
            f'<button type="button" class="tree-toggle" data-tree-toggle '
            f'aria-expanded="{"true" if is_open else "false"}" '
            f'aria-label="{"Collapse" if is_open else "Expand"} {label}"></button>'
        )
    elif row.collapsed:
        toggle = (
            f'<a class="tree-toggle" aria-expanded="false" aria-label="Expand {label}" '
            f'data-tree-expand href="{ops_url}?expand={quoted}" '
            f'hx-get="{rows_url}?parent={quoted}" hx-target="closest tr" hx-swap="outerHTML"></a>'
        )
    else:
        toggle = _LEAF
    link = escape(op_url.replace("__op__", quoted))
    summary = ""
    if row.collapsed:
        what = "branches" if node.subtype == "Parallel" else "items"
        badges = "".join(
            f' <span class="badge {STATE_BADGES[status.operation_state(None, None, s)]}">'
            f"{n} {escape(status.label(s).lower())}</span>"
            for s, n in counts_list(node.child_counts)
        )
        summary = (
            '<span class="collapsed-summary small text-body-secondary" '
            f'data-testid="collapsed-summary">{node.child_total} {what}:{badges}</span>'
        )
    kind = f'<span class="op-type">{escape(status.label(node.type))}</span>'
    if node.subtype and node.subtype.lower() != (node.type or "").lower():
        kind += f' <span class="text-body-secondary">· {escape(node.subtype)}</span>'
    state = status.operation_state(node.type, node.subtype, node.status)
    badge = (
        f'<span class="badge {STATE_BADGES[state]}" title="{escape(status.label(node.status))}">'
        f"{escape(op_status_label(node))}</span>"
    )
    if node.ended_at:
        took = elapsed(node.started_at, node.ended_at)
    elif node.started_at and node.running:
        took = elapsed(node.started_at, now)
    else:
        took = ""
    attempts = node.attempt_count or 0
    tries = _ATTEMPTS.format(attempts) if attempts > 1 else (str(attempts) if attempts else "")
    hidden = " hidden" if (node.parent_operation_id or "") in shut else ""
    return (
        f'\n<tr class="tree-row{" row-failed" if node.failed else ""}" data-op="{op_id}" '
        f'data-depth="{row.depth}"{" data-collapsed" if row.collapsed else ""}{hidden}>\n'
        f'  <td class="tree-name">\n    <span class="tree-cell">{_INDENT * row.depth}{toggle}\n'
        f'      <a class="op-link" href="{link}" hx-get="{link}" '
        f'hx-target="#operation-panel-body" hx-swap="innerHTML">{label}</a>\n'
        f"      {summary}\n    </span>\n  </td>\n"
        f'  <td class="small text-nowrap">{kind}</td>\n'
        f"  <td>{badge}</td>\n"
        f'  <td class="small text-nowrap">{time(node.started_at, "time")}</td>\n'
        f'  <td class="small text-nowrap tabular">{took}</td>\n'
        f'  <td class="small text-end tabular">{tries}</td>\n</tr>'
    )


def _more_row(row: MoreRow, shut: set[str], ops_url: str, rows_url: str) -> str:
    parent = quote(row.parent_id, safe="")
    hidden = " hidden" if row.parent_id in shut else ""
    expand = f"?expand={parent}" if row.parent_id else ""
    return (
        f'\n<tr class="tree-more" data-depth="{row.depth}"{hidden}>\n'
        f'  <td colspan="6"><span class="tree-cell">{_INDENT * row.depth}{_LEAF}\n'
        f'    <a class="small" data-tree-more href="{ops_url}{expand}" '
        f'hx-get="{rows_url}?parent={parent}&amp;offset={row.offset}" hx-target="closest tr" '
        f'hx-swap="outerHTML">Show more ({row.remaining} not shown)</a></span>\n  </td>\n</tr>'
    )
