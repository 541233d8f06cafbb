"""The console's side of django-axes, which locks out sign-in after repeated failures.

Axes counts the failures, keeps them in the database (with an admin page), logs them
and resets them on success; these hooks only say whose failures they are and what a
refused sign-in looks like. The Content-Security-Policy header is django-csp's, set up
in settings.py.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the address whose failures are counted.

    Behind a proxy, set LOGIN_RATE_LIMIT_IP_HEADER (e.g. HTTP_X_FORWARDED_FOR) to the
    header it sets; never trust that header without a proxy in front. Anything that is
    not an address falls back to REMOTE_ADDR (axes stores addresses in an IP field).
    """
    header = settings.LOGIN_RATE_LIMIT_IP_HEADER
    if header and request.META.get(header):
        forwarded = _ip_or_none(request.META[header].split(",")[0])
        if forwarded:
            return forwarded
    return _ip_or_none(request.META.get("REMOTE_ADDR"))


def client_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """AXES_USERNAME_CALLABLE: the username whose failures are counted, case-folded, so
    that "Ada" and "ada " count against the same account."""
    username = (credentials or {}).get("username")
    if username is None:
        username = request.POST.get("username")
    return (username or "").strip().lower()[:150]


def lockout_response(
    request: HttpRequest, original_response: HttpResponseBase | None, credentials: Any = None
) -> HttpResponseBase:
    """AXES_LOCKOUT_CALLABLE: the sign-in page, status 429, saying how long to wait.

    Axes flags the failure that reaches the limit as a lockout already; that attempt was
    still checked, so it is answered like any other failure (axes counted it: it set
    `axes_failures_since_start`), and only the attempts after it are refused unchecked.
    """
    checked = getattr(request, "axes_failures_since_start", None) is not None
    if checked and isinstance(original_response, HttpResponseBase):
        return original_response
    minutes = max(1, settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS // 60)
    view = LoginView()
    view.setup(request)
    # Unbound: validating the posted form would call authenticate (and axes) again.
    form = view.get_form_class()(request, initial={"username": request.POST.get("username", "")})
    context = view.get_context_data(
        form=form,
        lockout_message=(
            f"Too many failed sign-in attempts. Wait {minutes} minutes and try again."
        ),
    )
    return render(request, view.template_name, context, status=429)


class LoginAttemptBackend(AxesStandaloneBackend):
    """Axes' backend, which refuses a locked-out sign-in before any password is checked.

    Sign-ins from the web always carry their request. Code that authenticates without
    one (Django's test `Client.login()`, a shell) is no brute-force channel, and axes
    would raise there, so it passes through to the next backend unchecked.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
