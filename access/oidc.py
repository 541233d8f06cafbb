"""Sign-in with OpenID Connect (authlib): the authorization code flow with PKCE, the
provider found by discovery (OIDC_ISSUER/.well-known/openid-configuration), the ID
token's signature, issuer, audience, expiry and nonce checked by authlib, then
access/sso.py signs the person in from its claims.

While a person stays signed in, their groups are read again every OIDC_REFRESH_SECONDS
with the refresh token (when the scopes ask for offline_access), so leaving a group at
the provider takes the role away here; a refresh the provider refuses ends the session.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from access import roles, sso
from access.models import ProviderSession, RoleSource

logger = logging.getLogger(__name__)

NEXT = "sso_next"
# Network calls to the provider: a provider that hangs must not hold a page for long.
TIMEOUT_SECONDS = 10

_clients: dict[tuple[str, str, str, str], Any] = {}


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def client() -> Any:
    """The provider's authlib client, one per configuration (tests change it)."""
    key = (
        settings.OIDC_ISSUER,
        settings.OIDC_CLIENT_ID,
        settings.OIDC_CLIENT_SECRET,
        settings.OIDC_SCOPES,
    )
    if key not in _clients:
        oauth = OAuth()
        _clients[key] = oauth.register(
            "idp",
            client_id=settings.OIDC_CLIENT_ID,
            client_secret=settings.OIDC_CLIENT_SECRET,
            server_metadata_url=f"{settings.OIDC_ISSUER}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.OIDC_SCOPES,
                "code_challenge_method": "S256",
                "default_timeout": TIMEOUT_SECONDS,
            },
        )
    return _clients[key]


def _provider_failed(exc: Exception, stage: str) -> sso.SignInRefused:
    """A refusal for what went wrong talking to the provider."""
    if isinstance(exc, requests.RequestException):
        return sso.SignInRefused(
            "The identity provider cannot be reached",
            f"The console could not reach {settings.OIDC_PROVIDER_NAME} ({stage}). Try again "
            "in a few minutes.",
            f"Check that {settings.OIDC_ISSUER} answers from the console's host: {exc}",
            status=502,
        )
    if isinstance(exc, OAuthError):
        error = getattr(exc, "error", "") or ""
        description = getattr(exc, "description", "") or ""
        if error in ("invalid_client", "unauthorized_client"):
            hint = (
                "The provider refused the console's client: check OIDC_CLIENT_ID and "
                "OIDC_CLIENT_SECRET against the client registered there."
            )
        elif error == "access_denied":
            hint = "The person (or the provider's policy) declined the sign-in."
        elif error == "mismatching_state":
            hint = (
                "The sign-in's state did not match this browser's session: an old or "
                "replayed link, or cookies blocked."
            )
        else:
            hint = f"The provider said: {error} {description}".strip()
        return sso.SignInRefused(
            "The identity provider refused the sign-in",
            "Nothing was signed in. Start again from the sign-in page; if it happens again, "
            "tell an administrator.",
            hint,
            status=502 if error in ("invalid_client", "unauthorized_client") else 400,
        )
    # A token that does not verify: signature, issuer, audience, expiry, nonce.
    return sso.SignInRefused(
        "The identity provider's token is not valid",
        "The console could not verify who you are. Nothing was signed in.",
        f"The ID token was refused: {exc}. Check the provider's signing keys, that "
        f"OIDC_CLIENT_ID is the token's audience, and the clocks (allowed skew "
        f"{settings.OIDC_LEEWAY_SECONDS} s, OIDC_LEEWAY_SECONDS).",
        status=400,
    )


@login_not_required
@require_GET
def sign_in_start(request: HttpRequest) -> HttpResponse:
    """Send the person to the provider (remembering where they were going)."""
    if not enabled():
        return sso.refused_page(
            request,
            sso.SignInRefused(
                "Sign-in with an identity provider is not set up",
                "This console signs people in with a password only.",
                "Set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET to turn it on.",
                status=404,
            ),
        )
    target = request.GET.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}) and target.startswith("/")
    request.session[NEXT] = target if ok else settings.LOGIN_REDIRECT_URL
    extra = {}
    if request.GET.get("again"):
        # A step-up: the provider asks for the password again, not its session.
        extra = {"prompt": "login", "max_age": 0}
    redirect_uri = request.build_absolute_uri(reverse("access:sso_callback"))
    if "offline_access" in settings.OIDC_SCOPES.split():
        # Providers issue a refresh token for offline_access only with consent asked.
        extra.setdefault("prompt", "consent")
    try:
        return client().authorize_redirect(request, redirect_uri, **extra)
    except (requests.RequestException, OAuthError, ValueError) as exc:
        return sso.refused_page(request, _provider_failed(exc, "reading its discovery"))


@login_not_required
@require_GET
def sign_in_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the person back here with a code."""
    if not enabled():
        return redirect("login")
    issuer = settings.OIDC_ISSUER
    try:
        token = client().authorize_access_token(request, leeway=settings.OIDC_LEEWAY_SECONDS)
    except (requests.RequestException, OAuthError, JoseError, ValueError) as exc:
        return sso.refused_page(request, _provider_failed(exc, "checking the sign-in"), issuer)
    claims = dict(token.get("userinfo") or {})
    if not claims:
        return sso.refused_page(
            request,
            sso.SignInRefused(
                "The identity provider sent no ID token",
                "The console could not tell who you are. Nothing was signed in.",
                "The scopes must include openid (OIDC_SCOPES).",
            ),
            issuer,
        )
    try:
        user = sso.person(
            claims.get("iss", issuer),
            claims,
            username_claim=settings.OIDC_USERNAME_CLAIM,
            groups_claim=settings.OIDC_GROUPS_CLAIM,
            method="OpenID Connect",
        )
    except sso.SignInRefused as refused:
        return sso.refused_page(request, refused, issuer)
    target = request.session.pop(NEXT, "") or settings.LOGIN_REDIRECT_URL
    sso.sign_in(
        request, user, f"OpenID Connect: issuer {claims.get('iss')}, subject {claims['sub']}"
    )
    ProviderSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "refresh_token": token.get("refresh_token") or "",
            "checked_at": timezone.now(),
        },
    )
    return redirect(target)


# ---- while signed in ------------------------------------------------------------------


def _verified_claims(id_token: str) -> dict[str, Any]:
    """An ID token from a refresh, checked as at sign-in (no nonce: none is sent)."""
    app = client()
    metadata = app.load_server_metadata()
    keys = KeySet.import_key_set(app.fetch_jwk_set())
    token = jwt.decode(id_token, keys)
    claims = token.claims
    leeway = settings.OIDC_LEEWAY_SECONDS
    now = time.time()
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != metadata.get("issuer"):
        raise ValueError(f"issuer {claims.get('iss')!r} is not {metadata.get('issuer')!r}")
    if settings.OIDC_CLIENT_ID not in audiences:
        raise ValueError(f"audience {audience!r} does not name this console's client")
    if float(claims.get("exp", 0)) + leeway < now:
        raise ValueError("expired")
    return claims


def refresh_due(request: HttpRequest) -> ProviderSession | None:
    """The session's provider row when its groups are due to be read again."""
    if not enabled() or not request.session.session_key:
        return None
    row = ProviderSession.objects.filter(session_key=request.session.session_key).first()
    if row is None or not row.refresh_token:
        return None
    due = row.checked_at + timedelta(seconds=settings.OIDC_REFRESH_SECONDS)
    return row if timezone.now() >= due else None


def refresh(request: HttpRequest, row: ProviderSession) -> None:
    """Read the person's groups again with the refresh token and bring their roles up to
    date; raises SignInRefused when the provider refuses (the session must end). A
    provider that cannot be reached is tried again at the next request after a minute,
    rather than signing everyone out while it is down."""
    # Claimed by moving checked_at first: of two requests of one page, one refreshes.
    claimed = ProviderSession.objects.filter(pk=row.pk, checked_at=row.checked_at).update(
        checked_at=timezone.now()
    )
    if not claimed:
        return
    app = client()
    try:
        metadata = app.load_server_metadata()
        with app._get_oauth_client() as session:  # authlib's session with the client's auth
            token = session.refresh_token(
                metadata["token_endpoint"], refresh_token=row.refresh_token
            )
        claims = (
            _verified_claims(token["id_token"])
            if token.get("id_token")
            else session.get(metadata["userinfo_endpoint"], token=token).json()
        )
    except requests.RequestException as exc:
        logger.warning("could not refresh the sign-in of %s: %s", row.user, exc)
        ProviderSession.objects.filter(pk=row.pk).update(
            checked_at=timezone.now() - timedelta(seconds=settings.OIDC_REFRESH_SECONDS - 60)
        )
        return
    except (OAuthError, JoseError, ValueError, KeyError) as exc:
        raise sso.SignInRefused(
            "Your sign-in with the identity provider has ended",
            "The identity provider no longer vouches for you (signed out there, removed, or "
            "its session expired). Sign in again.",
            f"The refresh was refused: {exc}",
        ) from exc
    if token.get("refresh_token"):
        ProviderSession.objects.filter(pk=row.pk).update(refresh_token=token["refresh_token"])
    if settings.OIDC_GROUPS_CLAIM:
        groups = sso.groups_of(claims, settings.OIDC_GROUPS_CLAIM)
        granted = roles.grants_for_groups(groups, settings.SSO_GROUP_ROLES)
        roles.sync_roles(row.user, RoleSource.PROVIDER, granted, by="OpenID Connect refresh")
    if settings.SSO_REQUIRE_ROLE and not roles.effective_roles(row.user):
        raise sso.SignInRefused(
            "You have no role in this console any more",
            "None of your groups at the identity provider gives a role here now. Ask an "
            "administrator if this is a mistake.",
            "The person left every group of SSO_GROUP_ROLES.",
        )
