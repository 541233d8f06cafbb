"""Action forms embedded in the browser's pages: each render carries fresh one-time tokens."""

from __future__ import annotations

from typing import Any

from django import template

from access import roles, scope
from actions import lineage, tokens
from actions.views import callback_form_context

register = template.Library()


@register.inclusion_tag("actions/_execution_actions.html", takes_context=True)
def execution_actions(context: template.Context, execution: Any) -> dict[str, Any]:
    request = context["request"]
    can_act = roles.may_act(request.user, execution)
    return {
        "execution": execution,
        "can_act": can_act,
        "tokens": {
            name: tokens.one_time_token(request.user) for name in ("stop", "pause", "resume")
        }
        if can_act and not execution.is_terminal
        else {},
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
        # Offered only where the backend is known to have them (Source.capabilities).
        "can_pause": execution.source.supports("PauseDurableExecution"),
        "can_resume": execution.source.supports("ResumeDurableExecution"),
    }


@register.inclusion_tag("actions/_callback_form.html", takes_context=True)
def callback_forms(context: template.Context, execution: Any, operation: Any) -> dict[str, Any]:
    request = context["request"]
    # Loaded into a page by htmx: come back to that page, not to the panel's URL.
    next_url = request.headers.get("HX-Current-URL") or request.get_full_path()
    return {
        **callback_form_context(request, execution, operation, next_url),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("actions/_lineage.html", takes_context=True)
def started_again_links(context: template.Context, execution: Any) -> dict[str, Any]:
    """The execution page's "Started again from …" and "Started again as …"."""
    return {"lineage": lineage.of(execution, scope.of_request(context["request"]))}
