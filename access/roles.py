"""Who may do what: the one question every view asks, and the one way it says no.

Roles are groups: `operator` (and superusers) may act on executions and callbacks and
change notification rules; `viewer`, and anyone without a role, may only read. Staff (the
Django flag) may also read the console's own workings: sync health, notification rules.
`python manage.py grant USER viewer|operator` gives a role.

A refusal raises PermissionDenied with a sentence that says what the page needs and how
to get it; Django answers it with templates/403.html, the one 403 page. Nothing was sent
or changed when it is raised: views ask before they do anything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

OPERATOR_GROUP = "operator"
VIEWER_GROUP = "viewer"


def can_act(user: Any) -> bool:
    """May this person answer callbacks, stop, pause, resume, start or delete executions,
    spend the read quota on demand, and change notification rules?"""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=OPERATOR_GROUP).exists()


def is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def _grant_hint(request: HttpRequest, role: str) -> str:
    return f"python manage.py grant {request.user.get_username()} {role}"


def require_operator(request: HttpRequest, why: str = "") -> None:
    """Raise PermissionDenied unless the person may act; `why` says what needs it."""
    if not can_act(request.user):
        raise PermissionDenied(
            (why or "Answering callbacks and stopping, pausing, resuming or starting "
             "executions needs the operator role.")
            + " Your account may read but not act; ask an administrator for the operator "
            f"role ({_grant_hint(request, OPERATOR_GROUP)}). Nothing was sent."
        )  # fmt: skip


def require_staff(request: HttpRequest, what: str) -> None:
    if not is_staff(request.user):
        raise PermissionDenied(
            f"{what} is for staff accounts. Ask an administrator to make you staff in the "
            "Django admin (/admin/), or to read it for you."
        )


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 for anyone who is not an operator, before anything else happens."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_operator(request)
        return view(request, *args, **kwargs)

    return wrapper


def staff_required(
    what: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """403 for anyone who is not staff; `what` names the page in the refusal."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require_staff(request, what)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
