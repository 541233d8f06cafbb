from __future__ import annotations

from django.http import HttpRequest


def approvals(request: HttpRequest) -> dict:
    """The pending-callback count for the navigation bar (signed-in pages only)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from executions.action_views import pending_count

    return {"pending_count": pending_count()}
