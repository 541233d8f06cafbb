from __future__ import annotations

from django.http import HttpRequest

from actions import pages, roles


def approvals(request: HttpRequest) -> dict:
    """For every signed-in page: the navigation bar's pending-callback count, and whether
    this user may act (pages show action buttons to operators only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"pending_count": pages.pending_count(), "can_act": roles.can_act(user)}
