"""Who may act, and forms that send once.

Roles: members of the `operator` group (and superusers) may act; `viewer`s may only read
(`python manage.py grant USER viewer|operator`). `one_time_token` / `consume_token` make a
double click or a replayed form send once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

OPERATOR_GROUP = "operator"
VIEWER_GROUP = "viewer"
TOKEN_TTL_SECONDS = 6 * 3600


def can_act(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=OPERATOR_GROUP).exists()


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 for anyone who is not an operator, before anything else happens."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_act(request.user):
            return render(request, "actions/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def one_time_token(user: AbstractBaseUser) -> str:
    token = secrets.token_urlsafe(18)
    cache.set(f"action-token:{token}", user.pk, TOKEN_TTL_SECONDS)
    return token


def consume_token(user: AbstractBaseUser, token: str) -> bool:
    """True the first time a token issued to this user is presented, False after."""
    if not token or len(token) > 64:
        return False
    key = f"action-token:{token}"
    owner = cache.get(key)
    # delete() is atomic in Redis: of two concurrent requests only one deletes the key.
    return owner == user.pk and bool(cache.delete(key))
