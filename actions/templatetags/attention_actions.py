"""The actions on a needs-attention row (browser/templates/browser/attention.html): Stop…
and Pause…, which load the stop and pause forms of actions/ when opened (actions:stop_form
and actions:pause_form; they post to actions:stop and actions:pause, so the form, the
service, the audit entry and the re-sync are theirs, and each gets its one-time token
then: a page of many rows renders no form nobody opens), and a link to open the
execution, or the callback that is overdue."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import Truncator

from access import roles, scope
from actions.views import FORM_REASON_CHARS

register = template.Library()


def _can_act(request: Any, execution: Any) -> bool:
    """roles.may_act, with what it reads worked out once per request (a page has many rows)."""
    cached = getattr(request, "_attention_can_act", None)
    if cached is None:
        cached = roles.can_act(request.user)
        request._attention_can_act = cached
    visible = scope.of_request(request)
    if not visible.may_see(execution):
        return False
    return cached if visible.act is None else execution.function_id in visible.act


@register.inclusion_tag("actions/_attention_actions.html", takes_context=True)
def attention_actions(context: template.Context, finding: Any) -> dict[str, Any]:
    request = context["request"]
    execution = finding.execution
    offered = set(finding.actions)
    can_act = _can_act(request, execution) and not execution.is_terminal
    can_stop = can_act and "stop" in offered
    can_pause = (
        can_act
        and "pause" in offered
        and execution.status == "RUNNING"
        and execution.source.supports("PauseDurableExecution")
    )
    operation = finding.operation
    if operation is not None and operation.is_pending_callback and operation.callback_id:
        open_url = reverse("actions:callback_form", args=[execution.pk, operation.callback_id])
        open_label = "Open callback"
    elif operation is not None:
        open_url = reverse("browser:operation", args=[execution.pk, operation.operation_id])
        open_label = "Open"
    else:
        open_url = reverse("browser:detail", args=[execution.pk])
        open_label = "Open"
    return {
        "execution": execution,
        "finding": finding,
        "can_stop": can_stop,
        "can_pause": can_pause,
        "stop_url": reverse("actions:stop_form", args=[execution.pk]) if can_stop else "",
        "pause_url": reverse("actions:pause_form", args=[execution.pk]) if can_pause else "",
        # What the loaded form is prefilled with, and where it returns.
        "form_query": urlencode(
            {
                "reason": Truncator(finding.reason).chars(FORM_REASON_CHARS),
                "next": request.get_full_path(),
            }
        )
        if can_stop or can_pause
        else "",
        "open_url": open_url,
        "open_label": open_label,
    }
