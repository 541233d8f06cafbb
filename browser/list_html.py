"""The list's rows as HTML, written in Python rather than with a template: fifty rows
through the template engine took most of a list page's time (two thirds of it at a
million executions on PostgreSQL, where the queries take a few milliseconds). The markup
is what static/console.js, the row poller and the tests read: `id="execution-<pk>"`,
`data-status`, `data-state`, `data-testid="row-status"`, `data-testid="select-row"`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from browser.templatetags.console_tags import (
    elapsed,
    exec_badge,
    exec_label,
    exec_state,
    time,
    waiting_note,
)
from executions.models import Execution


def render_rows(rows: Iterable[Execution], *, oob: bool = False) -> SafeString:
    # reverse() once: each row's URLs are these with its id in place of 0.
    detail = reverse("browser:detail", args=[0]).replace("/0/", "/{}/")
    callback = reverse("browser:first_callback", args=[0]).replace("/0/", "/{}/")
    function = reverse("browser:function", args=[0]).replace("/0/", "/{}/")
    return mark_safe("".join(_row(e, oob, detail, callback, function) for e in rows))  # noqa: S308


def _row(e: Execution, oob: bool, detail: str, callback: str, function: str) -> str:
    name = escape(e.name)
    arn = escape(e.arn)
    # Every row can be selected: running ones to stop (the bulk form takes only those),
    # any two to compare (static/replay.js sends the ticked ones to the comparison).
    select = (
        f'<input class="form-check-input" type="checkbox" name="ids" value="{e.pk}" '
        f'form="bulk-form" id="select-{e.pk}" hx-preserve aria-label="Select {name}" '
        'data-testid="select-row">'
    )
    where = escape(e.source.name) + (f" · {escape(e.qualifier)}" if e.qualifier else "")
    waiting = (
        f'<div class="small text-body-secondary waiting-note" data-testid="row-waiting">'
        f"{waiting_note(e)}</div>"
        if e.waiting
        else ""
    )
    if e.ended_at:
        ended = (
            f'{time(e.ended_at)}<div class="text-body-secondary">took '
            f"{elapsed(e.started_at, e.ended_at)}</div>"
        )
    elif e.started_at:
        ended = f'<span class="text-body-secondary">running for</span> {elapsed(e.started_at)}'
    else:
        ended = ""
    oob_attribute = ' hx-swap-oob="true"' if oob else ""
    waiting_callbacks = e.callbacks_waiting
    callbacks = (
        f'<a class="badge text-bg-warning text-decoration-none" href="{callback.format(e.pk)}" '
        f'title="Callbacks waiting for an answer">{waiting_callbacks}</a>'
        if waiting_callbacks
        else '<span class="text-body-secondary">0</span>'
    )
    return (
        f'<tr id="execution-{e.pk}" data-status="{escape(e.status)}" '
        f'data-state="{exec_state(e)}"{oob_attribute}>\n'
        f'  <td class="select-cell">{select}</td>\n'
        f'  <td class="name-cell">\n'
        f'    <a class="fw-medium text-decoration-none" href="{detail.format(e.pk)}">{name}</a>\n'
        f'    <div class="small text-body-secondary text-truncate arn-cell" title="{arn}">'
        f"{arn}</div>\n"
        f"  </td>\n"
        f'  <td class="function-cell">\n'
        f'    <a class="small text-nowrap text-decoration-none" '
        f'href="{function.format(e.function_id)}" title="Overview of this function">'
        f"{escape(e.function.name)}</a>\n"
        f'    <div class="small text-body-secondary text-nowrap">{where}</div>\n'
        f"  </td>\n"
        f'  <td class="status-cell"><span class="badge {exec_badge(e)}" data-testid="row-status">'
        f"{escape(exec_label(e))}</span>{waiting}</td>\n"
        f'  <td class="text-nowrap small started-cell">{time(e.started_at)}</td>\n'
        f'  <td class="small ended-cell">{ended}</td>\n'
        f'  <td class="text-end tabular ops-cell">{e.operation_count}</td>\n'
        f'  <td class="text-end tabular callbacks-cell">{callbacks}</td>\n'
        f"</tr>\n"
    )
