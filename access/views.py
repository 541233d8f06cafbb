"""A person's own account (their roles and where each came from, sign out everywhere),
and the break-glass sign-in link an administrator made on the server."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import sso
from access.clientip import client_address
from access.models import BreakGlassLink, RoleGrant, SessionRule
from access.signin import audit_entry


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "access/account.html",
        {
            "grants": RoleGrant.objects.filter(user=request.user).select_related("scope_source"),
            "identities": request.user.identities.all(),
        },
    )


@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of this person (other browsers, a lost laptop), this one too."""
    SessionRule.objects.update_or_create(user=request.user, defaults={"valid_from": timezone.now()})
    audit_entry("sign_out", request.user.get_username(), request, request.user, "everywhere")
    logout(request)
    messages.info(request, "You were signed out everywhere: every session of yours has ended.")
    return redirect("login")


@login_not_required
@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows who the link signs in (a link preview must not spend it); POST spends it
    once, signs in, and writes it to the audit log."""
    link = (
        BreakGlassLink.objects.select_related("user")
        .filter(digest=BreakGlassLink.digest_of(token))
        .first()
    )
    now = timezone.now()
    if link is None or link.used_at is not None or link.expires_at <= now:
        refused = sso.SignInRefused(
            "This break-glass link cannot be used",
            "It is unknown, was used already, or has expired. Make a new one on the server: "
            "python manage.py breakglass USERNAME.",
            status=404,
        )
        return render(
            request,
            "registration/sso_refused.html",
            {"refused": refused, "local_signin": False},
            status=404,
        )
    if request.method == "GET":
        return render(request, "access/break_glass.html", {"link": link})
    # Spent by whoever updates it first: two clicks sign in once.
    spent = BreakGlassLink.objects.filter(pk=link.pk, used_at__isnull=True).update(
        used_at=now, used_from=client_address(request)[:64]
    )
    if not spent or not link.user.is_active:
        return redirect("login")
    sso.sign_in(request, link.user, "break-glass link")
    messages.warning(
        request,
        "Signed in with a break-glass link. It is in the audit log; it cannot be used again.",
    )
    return redirect("/")
