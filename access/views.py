"""A person's own account (their roles and where each came from, sign out everywhere, their
API tokens), every API token for staff, and the break-glass sign-in link an administrator
made on the server."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import api_tokens, roles, sso
from access.clientip import client_address
from access.forms import TokenForm
from access.models import ApiToken, BreakGlassLink, Identity, RoleGrant, SessionRule
from access.signin import audit_entry

# Tokens not revoked first (the ones that matter), newest first; then the last revoked.
USABLE_FIRST = (F("revoked_at").desc(nulls_first=True), "-created_at")


def _with_state(tokens: Iterable[ApiToken]) -> list[ApiToken]:
    """Each token with `.state`: "active", "expired" or "revoked"."""
    now = timezone.now()
    rows = list(tokens)
    for token in rows:
        if token.revoked_at is not None:
            token.state = "revoked"
        elif token.expires_at <= now:
            token.state = "expired"
        else:
            token.state = "active"
    return rows


def _account_page(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "access/account.html",
        {
            "grants": RoleGrant.objects.filter(user=request.user).select_related("scope_source"),
            "identities": request.user.identities.all(),
            "token_form": form,
            "tokens": _with_state(
                ApiToken.objects.filter(user=request.user).order_by(*USABLE_FIRST)
            ),
            "max_days": api_tokens.max_days(),
        },
        status=status,
    )


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request, TokenForm(user=request.user))


@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Make an API token; its secret is in this answer only (never in a URL, the session or
    a cache), and only its digest is kept."""
    form = TokenForm(request.POST, user=request.user)
    if not form.is_valid():
        return _account_page(request, form, status=400)
    data = form.cleaned_data
    try:
        issued = api_tokens.issue(request.user, data["name"], data["scope"], data["days"])
    except api_tokens.TokenRefused as refused:  # two tabs making one name at once
        form.add_error("name", str(refused))
        return _account_page(request, form, status=400)
    token = issued.token
    audit_entry(
        "token_created",
        request.user.get_username(),
        request,
        request.user,
        f"{api_tokens.described(token)}, scope {token.scope}, "
        f"expires {token.expires_at:%Y-%m-%d} UTC",
    )
    response = render(
        request,
        "access/token_made.html",
        {
            "token": token,
            "secret": issued.secret,
            # The address the person has open, as the sign-in's redirect URI is.
            "me_url": request.build_absolute_uri("/api/v1/me"),
        },
    )
    add_never_cache_headers(response)  # Cache-Control: no-store, for the secret
    return response


def _token_for(request: HttpRequest, pk: int) -> ApiToken:
    """The person's own token, or any token for staff; 404 otherwise (whose it is, or that
    it exists, is not said)."""
    tokens = ApiToken.objects.select_related("user")
    if not roles.is_staff(request.user):
        tokens = tokens.filter(user=request.user)
    token = tokens.filter(pk=pk).first()
    if token is None:
        raise Http404("There is no such API token of yours.")
    return token


@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm; POST revokes at once: the next request with it is refused."""
    token = _token_for(request, pk)
    back = _back(request)
    if request.method == "GET":
        return render(
            request,
            "access/token_revoke.html",
            {"token": _with_state([token])[0], "back": back},
        )
    if api_tokens.revoke(token):
        audit_entry(
            "token_revoked",
            request.user.get_username(),
            request,
            request.user,
            api_tokens.described(token),
        )
        messages.success(
            request,
            f"Revoked the token “{token.name}” of {token.user.get_username()}: every request "
            "with it is refused from now on.",
        )
    else:
        messages.info(request, f"The token “{token.name}” was already revoked.")
    return redirect(back)


def _back(request: HttpRequest) -> str:
    """Back to the list of every token when the revoke came from there, else the account."""
    everyone = reverse("access:tokens_all")
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    return everyone if wanted == everyone and roles.is_staff(request.user) else _account_url()


def _account_url() -> str:
    return reverse("access:account") + "#api-tokens"


@require_GET
@roles.staff_required("The list of every API token")
def tokens_all(request: HttpRequest) -> HttpResponse:
    """Every person's and service account's tokens, newest first, to revoke a leaked one."""
    tokens = _with_state(ApiToken.objects.select_related("user").order_by(*USABLE_FIRST))
    with_identity = set(
        Identity.objects.filter(user__in={t.user_id for t in tokens}).values_list("user", flat=True)
    )
    for token in tokens:
        # A service account signs in nowhere: no password, no identity (api_tokens).
        token.service_account = (
            token.user_id not in with_identity and not token.user.has_usable_password()
        )
    return render(request, "access/tokens_all.html", {"tokens": tokens})


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
