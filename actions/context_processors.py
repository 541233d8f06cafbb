from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from access import roles, scope
from actions import pages


def approvals(request: HttpRequest) -> dict:
    """For every signed-in page: the navigation bar's pending-callback count, and whether
    this user may act (pages show action buttons to operators only). Both are lazy: each
    costs a query, and most responses (the polled header, rows and fragments) use
    neither."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "pending_count": SimpleLazyObject(lambda: pages.pending_count(scope.of_request(request))),
        "can_act": SimpleLazyObject(lambda: roles.can_act(user)),
    }
