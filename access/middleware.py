"""The rules every signed-in request passes (after Django's authentication and messages):

- behind an authenticating ALB, its signed header signs the person in (access/alb.py);
  a header that is not the load balancer's is refused here, before any view;
- a session ends after SESSION_IDLE_SECONDS without a request, SESSION_MAX_SECONDS after
  its sign-in, or when "sign out everywhere" (or a role taken away) came after it;
- a session signed in with OpenID Connect has its groups read again when due
  (access/oidc.py), and ends when the provider no longer vouches for the person.

An ended session goes to the sign-in page with the reason (htmx requests are told to
load it as a whole page).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from access import alb, oidc, sso
from access.clientip import client_address
from access.models import SessionRule
from access.signin import LAST_SEEN, SIGNED_IN_AT

logger = logging.getLogger(__name__)

ALB_TOKEN = "alb_token"
# The idle clock is written to the session at most this often: polling pages must not
# write the session on every request.
TOUCH_SECONDS = 60


def session_ended_because(request: HttpRequest, now: float) -> str:
    session = request.session
    signed_in_at = session.get(SIGNED_IN_AT)
    if signed_in_at is None:
        # A session from before these rules: it counts from now.
        session[SIGNED_IN_AT] = signed_in_at = now
    if now - signed_in_at > settings.SESSION_MAX_SECONDS:
        hours = settings.SESSION_MAX_SECONDS / 3600
        return f"Your session reached its limit of {hours:g} hours. Sign in again."
    if now - session.get(LAST_SEEN, now) > settings.SESSION_IDLE_SECONDS:
        hours = settings.SESSION_IDLE_SECONDS / 3600
        return f"You were signed out after {hours:g} hours without activity. Sign in again."
    valid_from = (
        SessionRule.objects.filter(user_id=request.user.pk)
        .values_list("valid_from", flat=True)
        .first()
    )
    if valid_from is not None and valid_from.timestamp() > signed_in_at:
        return "You were signed out everywhere. Sign in again."
    return ""


class SessionRulesMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if alb.enabled() and alb.header_of(request):
            refused = self._sign_in_from_alb(request)
            if refused is not None:
                return refused
        if request.user.is_authenticated:
            ended = self._check(request)
            if ended is not None:
                return ended
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        now = time.time()
        reason = session_ended_because(request, now)
        if not reason:
            row = oidc.refresh_due(request)
            if row is not None:
                try:
                    oidc.refresh(request, row)
                except sso.SignInRefused as refused:
                    logger.warning("session of %s ended: %s", request.user, refused)
                    reason = f"{refused.title}. {refused.message}"
        if reason:
            return self._end(request, reason)
        if now - request.session.get(LAST_SEEN, 0) > TOUCH_SECONDS:
            request.session[LAST_SEEN] = now
        return None

    def _end(self, request: HttpRequest, reason: str) -> HttpResponse:
        next_path = request.get_full_path() if request.method == "GET" else "/"
        logout(request)
        messages.info(request, reason)
        target = f"{reverse('login')}?{urlencode({'next': next_path})}"
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)

    def _sign_in_from_alb(self, request: HttpRequest) -> HttpResponse | None:
        token = alb.header_of(request)
        address = request.META.get("REMOTE_ADDR", "")
        try:
            claims = alb.verified_claims(token, address)
        except alb.Refused as exc:
            logger.warning(
                "refused a request with an x-amzn-oidc-data header from %s (%s): %s",
                address,
                client_address(request),
                exc,
            )
            return render(
                request,
                "registration/sso_refused.html",
                {
                    "refused": sso.SignInRefused(
                        "This request's sign-in header is not to be trusted",
                        "It did not come from the console's load balancer, or it is not "
                        "one the load balancer signed (or it has expired). Open the "
                        "console through its usual address.",
                    ),
                    "local_signin": False,
                },
                status=401,
            )
        digest = hashlib.sha256(token.encode()).hexdigest()
        if request.user.is_authenticated and request.session.get(ALB_TOKEN) == digest:
            return None  # the same token as the last request: nothing new to read
        try:
            user = sso.person(
                claims["iss"],
                claims,
                username_claim=settings.ALB_USERNAME_CLAIM,
                groups_claim=settings.ALB_GROUPS_CLAIM,
                method="ALB",
            )
        except sso.SignInRefused as refused:
            if request.user.is_authenticated:
                logout(request)
            return sso.refused_page(request, refused, claims["iss"])
        if not request.user.is_authenticated or request.user.pk != user.pk:
            sso.sign_in(request, user, f"ALB: issuer {claims['iss']}, subject {claims['sub']}")
        request.session[ALB_TOKEN] = digest
        return None
