"""The list's rows as HTML, written in Python rather than with a template: fifty rows
through the template engine took most of a list page's time (two thirds of it at a
million executions on PostgreSQL, where the queries take a few milliseconds). The markup
is what static/console.js, the row poller and the tests read: `id="execution-<pk>"`,
`data-status`, `data-state`, `data-testid="row-status"`, `data-testid="select-row"`; each
cell's `data-label` names its column on a phone, where the rows are cards (`.table-stack`)
headed by the checkbox and the name.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from browser.templatetags.console_tags import (
    elapsed,
    exec_badge,
    exec_label,
    exec_state,
    time,
    waiting_note,
)
from executions.models import Execution

# format_html escapes every value it is given: no value reaches the page unescaped,
# whoever adds one.
_ROW = """<tr id="execution-{pk}" data-status="{status}" data-state="{state}"{oob}>
  <td class="select-cell"><input class="form-check-input" type="checkbox" \
name="ids" value="{pk}" form="bulk-form" id="select-{pk}" hx-preserve aria-label="Select {name}" \
data-testid="select-row"></td>
  <td class="name-cell">
    <a class="fw-medium text-decoration-none" href="{detail}">{name}</a>
    <div class="small text-body-secondary text-truncate arn-cell" title="{arn}">{arn}</div>
  </td>
  <td class="function-cell" data-label="Function">
    <a class="small text-nowrap text-decoration-none" href="{function_url}" \
title="Overview of this function">{function}</a>
    <div class="small text-body-secondary text-nowrap">{where}</div>
  </td>
  <td class="status-cell" data-label="Status"><span class="badge {badge}" \
data-testid="row-status">{label}</span>{waiting}</td>
  <td class="text-nowrap small started-cell" data-label="Started">{started}</td>
  <td class="small ended-cell" data-label="{ended_label}">{ended}</td>
  <td class="text-md-end tabular ops-cell" data-label="Operations">{operations}</td>
  <td class="text-md-end tabular callbacks-cell" data-label="Callbacks">{callbacks}</td>
</tr>
"""
_WAITING = '<div class="small text-body-secondary waiting-note" data-testid="row-waiting">{}</div>'
_ENDED = '{}<div class="text-body-secondary">took {}</div>'
_RUNNING_FOR = '<span class="text-body-secondary">running for</span> {}'
_CALLBACKS = (
    '<a class="badge text-bg-warning text-decoration-none" href="{}" '
    'title="Callbacks waiting for an answer">{}</a>'
)
_NO_CALLBACKS = format_html('<span class="text-body-secondary">{}</span>', 0)


def render_rows(rows: Iterable[Execution], *, oob: bool = False) -> SafeString:
    return format_html_join("", "{}", ((_row(execution, oob),) for execution in rows))


def _row(execution: Execution, oob: bool) -> SafeString:
    # Every row can be selected: running ones to stop (the bulk form takes only those),
    # any two to compare (static/replay.js sends the ticked ones to the comparison).
    # On a phone each cell reads after its column's name (data-label): an ended row's
    # last cell says when it ended and how long it took, a running one's for how long.
    ended_label = "Ended" if execution.ended_at else "Duration"
    if execution.ended_at:
        ended = format_html(
            _ENDED, time(execution.ended_at), elapsed(execution.started_at, execution.ended_at)
        )
    elif execution.started_at:
        ended = format_html(_RUNNING_FOR, elapsed(execution.started_at))
    else:
        ended = ""
    callbacks = (
        format_html(
            _CALLBACKS,
            reverse("browser:first_callback", args=[execution.pk]),
            execution.callbacks_waiting,
        )
        if execution.callbacks_waiting
        else _NO_CALLBACKS
    )
    return format_html(
        _ROW,
        pk=execution.pk,
        status=execution.status,
        state=exec_state(execution),
        oob=format_html(' hx-swap-oob="{}"', "true") if oob else "",
        name=execution.name,
        arn=execution.arn,
        detail=reverse("browser:detail", args=[execution.pk]),
        function_url=reverse("browser:function", args=[execution.function_id]),
        function=execution.function.name,
        where=f"{execution.source.name} · {execution.qualifier}"
        if execution.qualifier
        else execution.source.name,
        badge=exec_badge(execution),
        label=exec_label(execution),
        waiting=format_html(_WAITING, waiting_note(execution)) if execution.waiting else "",
        started=time(execution.started_at),
        ended_label=ended_label,
        ended=ended,
        operations=execution.operation_count,
        callbacks=callbacks,
    )
