"""The Views menu of the navigation and the "Save this view" control of the list and of
Needs attention (browser/saved_views.py reads the views and makes the form)."""

from __future__ import annotations

from typing import Any

from django import template

from browser import saved_views

register = template.Library()


@register.inclusion_tag("browser/_saved_views_menu.html", takes_context=True)
def saved_views_menu(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"signed_in": False}
    return {"signed_in": True, **saved_views.menu(request)}


@register.inclusion_tag("browser/_save_view.html", takes_context=True)
def save_view_control(context: dict[str, Any], page: str, query: str = "") -> dict[str, Any]:
    request = context["request"]
    return {
        "csrf_token": context.get("csrf_token"),
        **saved_views.save_control(request, page, query),
    }
