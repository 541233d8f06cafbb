"""What a person may see and act on: the one question every page, count, search, inbox,
export, bulk job and notification asks.

A role is held everywhere (a grant without a scope: today's viewer, operator, admin) or on
part of the console: a source and a function name pattern ("operator on payments-* in
prod", "viewer on everything in staging"). A person with no grant at all reads everything
(the local accounts of a console without grants, as before); a person whose grants are
all scoped sees the executions of the functions their grants name, and nothing else: an
execution outside that answers 404 on every URL, and no count includes it.

A scope is a set of function ids, worked out once per request from the grants and the
functions the console knows (a few hundred rows): the queries then filter by
`function_id IN (...)`, which the list's per-function index serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from access.models import RoleGrant
from domain.patterns import glob_matches
from executions.models import Execution, Function

ACTING_ROLES = frozenset({"operator", "admin"})


@dataclass(frozen=True)
class Scope:
    """`read` and `act`: the function ids a person may see and act on; None: all."""

    read: frozenset[int] | None
    act: frozenset[int] | None

    @property
    def everything(self) -> bool:
        return self.read is None

    def may_see(self, execution: Execution) -> bool:
        return self.read is None or execution.function_id in self.read

    def may_act(self, execution: Execution) -> bool:
        return self.act is None or execution.function_id in self.act

    def executions(self, qs: QuerySet) -> QuerySet:
        return qs if self.read is None else qs.filter(function_id__in=self.read)

    def operations(self, qs: QuerySet) -> QuerySet:
        return qs if self.read is None else qs.filter(execution__function_id__in=self.read)

    def functions(self, qs: QuerySet) -> QuerySet:
        return qs if self.read is None else qs.filter(pk__in=self.read)


EVERYTHING = Scope(None, None)
NOTHING = Scope(frozenset(), frozenset())


def _matching(grants: list[RoleGrant], functions: list[tuple[int, int, str]]) -> frozenset[int]:
    return frozenset(
        pk
        for pk, source_id, name in functions
        for grant in grants
        if (grant.scope_source_id in (None, source_id))
        and glob_matches(name, grant.function_pattern)
    )


def scope_of(user: Any) -> Scope:
    """The person's scope from their grants (see the module's docstring). `act` None means
    no restriction by function: whether they act at all is access.roles.can_act's."""
    if not getattr(user, "is_authenticated", False):
        return NOTHING
    if user.is_superuser:
        return EVERYTHING
    grants = list(RoleGrant.objects.filter(user=user))
    everywhere = {g.role for g in grants if g.is_global}
    scoped = [g for g in grants if not g.is_global]
    if not scoped:
        return EVERYTHING
    functions = list(Function.objects.values_list("pk", "source_id", "name"))
    read = None if everywhere else _matching(scoped, functions)
    acting = [g for g in scoped if g.role in ACTING_ROLES]
    act = None if everywhere & ACTING_ROLES else _matching(acting, functions)
    return Scope(read, act)


def of_request(request: HttpRequest) -> Scope:
    """The person's scope, worked out once per request."""
    scope = getattr(request, "_access_scope", None)
    if scope is None:
        scope = scope_of(request.user)
        request._access_scope = scope  # type: ignore[attr-defined]
    return scope
