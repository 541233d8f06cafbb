"""Who may do what: the one question every view asks, and the one way it says no.

Roles are groups: `operator` (and superusers) may act on executions and callbacks and
change notification rules; `viewer`, and anyone without a role, may only read. Staff (the
Django flag) may also read the console's own workings: sync health, notification rules;
admins (staff) change its sources (may_configure).
`python manage.py grant USER viewer|operator` gives a role.

A refusal raises PermissionDenied with a sentence that says what the page needs and how
to get it; Django answers it with templates/403.html, the one 403 page. Nothing was sent
or changed when it is raised: views ask before they do anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

OPERATOR_GROUP = "operator"
VIEWER_GROUP = "viewer"


def can_act(user: Any) -> bool:
    """May this person act at all (somewhere): answer callbacks, stop, pause, resume,
    start or delete executions, spend the read quota on demand, change notification
    rules? Which executions: may_act()."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or user.groups.filter(name=OPERATOR_GROUP).exists():
        return True
    from access.models import RoleGrant

    return RoleGrant.objects.filter(user=user, role__in=(OPERATOR_GROUP, ADMIN_ROLE)).exists()


def acts_everywhere(user: Any) -> bool:
    """An operator on every source and function (what rules, refreshes and look-ups need)."""
    from access.scope import scope_of

    return can_act(user) and scope_of(user).act is None


def may_act(user: Any, execution: Any) -> bool:
    """The one question before anything is done to an execution (or its callbacks)."""
    from access.scope import scope_of

    scope = scope_of(user)
    if not scope.may_see(execution):
        return False
    return _acts_in(user, scope, execution.function_id)


def may_act_on(user: Any, function_id: int) -> bool:
    """May this person act on the executions of this function (start one)? Whether they
    see it is the scope's question (`scope.functions`)."""
    from access.scope import scope_of

    return _acts_in(user, scope_of(user), function_id)


def _acts_in(user: Any, scope: Any, function_id: int) -> bool:
    return can_act(user) if scope.act is None else function_id in scope.act


def is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def _grant_hint(request: HttpRequest, role: str) -> str:
    return f"python manage.py grant {request.user.get_username()} {role}"


def require_operator(request: HttpRequest, why: str = "") -> None:
    """Raise PermissionDenied unless the person may act; `why` says what needs it."""
    if not can_act(request.user):
        raise PermissionDenied(
            (
                why
                or "Answering callbacks and stopping, pausing, resuming or starting "
                "executions needs the operator role."
            )
            + " Your account may read but not act; ask an administrator for the operator "
            f"role ({_grant_hint(request, OPERATOR_GROUP)}). Nothing was sent."
        )


def require_staff(request: HttpRequest, what: str) -> None:
    if not is_staff(request.user):
        raise PermissionDenied(
            f"{what} is for staff accounts. Ask an administrator to make you staff in the "
            "Django admin (/admin/), or to read it for you."
        )


def may_configure(user: Any) -> bool:
    """May this person change the console's own configuration (its sources): admins, that
    is staff accounts. Everyone signed in may read it."""
    return is_staff(user)


def require_admin(request: HttpRequest, what: str) -> None:
    """Raise PermissionDenied unless the person may change the console's configuration."""
    if not may_configure(request.user):
        raise PermissionDenied(
            f"{what} is for admins (staff accounts). Your account may read the sources; ask "
            f"an administrator for the admin role ({_grant_hint(request, ADMIN_ROLE)})."
        )


def recent_sign_in_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """With STEP_UP_SECONDS set, an answer to a callback needs a sign-in within that long:
    someone who walked away from a signed-in browser cannot approve a payment. Otherwise
    the person is sent to sign in again (and comes back to the page they were on);
    nothing is sent."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from access.signin import SIGNED_IN_AT

        limit = settings.STEP_UP_SECONDS
        signed_in_at = request.session.get(SIGNED_IN_AT, 0)
        if limit and time.time() - signed_in_at > limit:
            minutes = max(1, round(limit / 60))
            messages.warning(
                request,
                f"Sign in again to answer callbacks: this console asks for a sign-in within "
                f"the last {minutes} minute{'s' if minutes != 1 else ''}. Nothing was sent.",
            )
            back = request.headers.get("HX-Current-URL") or request.META.get("HTTP_REFERER", "")
            path = urlsplit(back).path if back else "/"
            target = f"{reverse('login')}?{urlencode({'next': path or '/', 'again': 1})}"
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(target)
            return redirect(target)
        return view(request, *args, **kwargs)

    return wrapper


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


# ---- roles from the identity provider's groups, and by hand ----------------------------

ADMIN_ROLE = "admin"
ROLES = (VIEWER_GROUP, OPERATOR_GROUP, ADMIN_ROLE)

# A grant: (role, source id or None for every source, function name pattern or "" for
# every function). ("operator", None, "") is today's operator everywhere.
Grant = tuple[str, "int | None", str]


def as_grant(key: Grant | str) -> Grant:
    return (key, None, "") if isinstance(key, str) else key


def describe(grant: Grant, source_names: dict[int, str] | None = None) -> str:
    """'operator', or 'operator on payments-* in prod'."""
    role, source_id, pattern = grant
    if source_id is None and not pattern:
        return role
    where = (
        f" in {(source_names or {}).get(source_id, f'source #{source_id}')}" if source_id else ""
    )
    return f"{role} on {pattern or 'every function'}{where}"


def grants_for_groups(groups: list[str], mapping: dict[str, Any]) -> dict[Grant, list[str]]:
    """{grant: the groups that give it} for a person in `groups`, from SSO_GROUP_ROLES
    ({group: [(role, source name or "", function pattern or "")]})."""
    from executions.models import Source

    names = dict(Source.objects.values_list("name", "pk"))
    found: dict[Grant, list[str]] = {}
    for group in groups:
        entries = mapping.get(group, [])
        # A bare role ({"ops": "operator"}) is the role everywhere.
        for role, source_name, pattern in (
            [(entries, "", "")] if isinstance(entries, str) else entries
        ):
            if source_name and source_name not in names:
                continue  # a source that does not exist (yet) grants nothing
            key: Grant = (role, names.get(source_name) if source_name else None, pattern)
            found.setdefault(key, []).append(group)
    return found


def grants_of(user: Any) -> set[Grant]:
    from access.models import RoleGrant

    return {
        (g.role, g.scope_source_id, g.function_pattern) for g in RoleGrant.objects.filter(user=user)
    }


def effective_roles(user: Any) -> set[str]:
    """The user's roles in words ('operator', 'viewer on payments-* in prod')."""
    from executions.models import Source

    names = dict(Source.objects.values_list("pk", "name"))
    return {describe(grant, names) for grant in grants_of(user)}


def _apply(user: Any, grants: set[Grant], before: set[Grant]) -> None:
    """Make the user's groups say their roles everywhere (the grants without a scope;
    scoped ones are asked by access/scope.py), and their admin flags when the admin role
    came or went (a superuser made by createsuperuser, with no grant, stays one)."""
    from django.contrib.auth.models import Group

    roles = {role for role, source_id, pattern in grants if source_id is None and not pattern}
    had = {role for role, source_id, pattern in before if source_id is None and not pattern}
    wanted = {name for name in (VIEWER_GROUP, OPERATOR_GROUP) if name in roles}
    if ADMIN_ROLE in roles:
        wanted.add(OPERATOR_GROUP)  # an admin acts too
    for name in (VIEWER_GROUP, OPERATOR_GROUP):
        group, _ = Group.objects.get_or_create(name=name)
        if name in wanted:
            user.groups.add(group)
        else:
            user.groups.remove(group)
    admin = ADMIN_ROLE in roles
    if admin != (ADMIN_ROLE in had) or (admin and not user.is_superuser):
        user.is_superuser = user.is_staff = admin
        user.save(update_fields=["is_superuser", "is_staff"])


def sync_roles(user: Any, source: str, granted: dict[Grant | str, list[str]], by: str = "") -> bool:
    """Replace the user's grants from `source` by `granted` ({grant or role: why}), apply
    the union of all their grants, and write the change to the audit log; True when a
    role changed.

    Grants by hand stay when the provider's change; the provider's are replaced whole, so a
    person who left a group loses its role at their next sign-in or session refresh."""
    from access.models import RoleGrant
    from executions.models import AuditEntry, AuditOutcome

    wanted = {as_grant(key): reasons for key, reasons in granted.items()}
    before = grants_of(user)
    before_words = effective_roles(user)
    existing = {
        (g.role, g.scope_source_id, g.function_pattern): g
        for g in RoleGrant.objects.filter(user=user, source=source)
    }
    for key, reasons in wanted.items():
        detail = ", ".join(reasons)[:500]
        grant = existing.pop(key, None)
        if grant is None:
            role, source_id, pattern = key
            RoleGrant.objects.create(
                user=user,
                role=role,
                scope_source_id=source_id,
                function_pattern=pattern,
                source=source,
                detail=detail,
            )
        elif grant.detail != detail:
            RoleGrant.objects.filter(pk=grant.pk).update(detail=detail)
    for grant in existing.values():
        grant.delete()
    after = grants_of(user)
    if before == after:
        return False
    _apply(user, after, before)
    after_words = effective_roles(user)
    AuditEntry.objects.create(
        user=user,
        username=user.get_username(),
        action="role_changed",
        payload=(
            f"{', '.join(sorted(before_words)) or 'no role'} -> "
            f"{', '.join(sorted(after_words)) or 'no role'} ({source}{': ' + by if by else ''})"
        ),
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=timezone.now(),
    )
    return True
