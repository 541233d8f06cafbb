"""Signing a person in from what an identity provider vouches for (its claims), whichever
way they came: an OpenID Connect ID token (access/oidc.py) or an ALB's signed header
(access/alb.py).

The person is found by (issuer, subject), never by a name the provider sends; their roles
come from the provider's groups (SSO_GROUP_ROLES) beside any given by hand; someone in none
of those groups is refused rather than let in as a reader (SSO_REQUIRE_ROLE). A refusal
says what went wrong to the person and what to check to the administrator, and is in the
audit log; nothing of it is a 500, and no one is signed in without the role they should
have.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from access import roles
from access.clientip import client_address
from access.models import Identity, RoleSource

logger = logging.getLogger(__name__)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass
class SignInRefused(Exception):
    """Why a sign-in through the provider did not happen: a sentence for the person, and
    what the administrator should check."""

    title: str
    message: str
    admin_hint: str = ""
    status: int = 403

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


def groups_of(claims: dict[str, Any], claim: str) -> list[str]:
    """The groups a claim lists: a JSON array of names (or one name, or names separated by
    commas, which some providers send)."""
    if claim not in claims:
        raise SignInRefused(
            "The identity provider sent no groups",
            f"Your sign-in came without the “{claim}” claim, so the console cannot tell "
            "which role you have. Nothing was signed in.",
            f"Make the provider add the “{claim}” claim to its ID token (a groups scope or "
            "a claim mapper), or set OIDC_GROUPS_CLAIM (ALB_GROUPS_CLAIM) to the claim it "
            "does send; a blank setting gives roles by hand only.",
        )
    value = claims[claim]
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise SignInRefused(
            "The identity provider's groups cannot be read",
            f"The “{claim}” claim is not a list of group names. Nothing was signed in.",
            f"The provider sent {str(value)[:200]!r}; make it send a list of names.",
        )
    return value


def person(
    issuer: str,
    claims: dict[str, Any],
    *,
    username_claim: str,
    groups_claim: str,
    method: str,
) -> Any:
    """The user these claims name, made on first sign-in, their roles from the provider's
    groups brought up to date; raises SignInRefused."""
    User = get_user_model()
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SignInRefused(
            "The identity provider did not say who you are",
            "Its token has no subject. Nothing was signed in.",
            "The ID token (or ALB header) must carry a `sub` claim.",
        )
    username = str(claims.get(username_claim) or claims.get("email") or "").strip()[:150]
    if not username:
        raise SignInRefused(
            "The identity provider sent no user name",
            f"Your sign-in came without the “{username_claim}” claim. Nothing was signed in.",
            f"Set OIDC_USERNAME_CLAIM (ALB_USERNAME_CLAIM) to a claim the provider sends "
            f"(it sent: {', '.join(sorted(claims))[:300]}).",
        )
    groups = groups_of(claims, groups_claim) if groups_claim else None
    identity = (
        Identity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    if identity is None:
        if User.objects.filter(username=username).exists():
            raise SignInRefused(
                "An account with your name already exists",
                f"The console has an account named “{username}” that was not made by this "
                "identity provider, so it was not taken over. Nothing was signed in.",
                f"An administrator can link them: give the local account another name in "
                f"the admin, or remove it, and the next sign-in makes “{username}” from "
                f"the provider (issuer {issuer}, subject {subject}).",
            )
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, password=None)
                identity = Identity.objects.create(user=user, issuer=issuer, subject=subject)
        except IntegrityError:  # the same person's two first sign-ins at once
            identity = Identity.objects.select_related("user").get(issuer=issuer, subject=subject)
    user = identity.user
    if not user.is_active:
        raise SignInRefused(
            "Your account is deactivated",
            "An administrator deactivated your account in the console. Nothing was signed in.",
            "Activate it again in the admin (Users) if this person should have access.",
        )
    kept = {k: claims[k] for k in ("email", "name", username_claim) if k in claims}
    if groups is not None:
        kept["groups"] = groups
    Identity.objects.filter(pk=identity.pk).update(claims=kept, last_sign_in_at=timezone.now())
    if groups is not None:
        granted = roles.grants_for_groups(groups, settings.SSO_GROUP_ROLES)
        roles.sync_roles(user, RoleSource.PROVIDER, granted, by=f"{method} groups")
    if settings.SSO_REQUIRE_ROLE and not roles.effective_roles(user):
        mapped = ", ".join(sorted(settings.SSO_GROUP_ROLES)) or "(none are set)"
        raise SignInRefused(
            "You have no role in this console",
            "The identity provider knows you, but none of your groups gives a role here. "
            "Ask an administrator to add you to one of the console's groups.",
            f"Groups that give a role (SSO_GROUP_ROLES): {mapped}. The person's groups: "
            f"{', '.join(groups or []) or 'none'}. Or grant a role by hand: manage.py grant "
            f"{user.get_username()} viewer.",
        )
    return user


def sign_in(request: HttpRequest, user: Any, via: str) -> None:
    """Django's login, saying how (for the audit log: access/signin.py's receiver)."""
    request.signin_via = via  # type: ignore[attr-defined]
    login(request, user, backend=MODEL_BACKEND)


def refused_page(request: HttpRequest, refused: SignInRefused, issuer: str = "") -> HttpResponse:
    """The page a refused sign-in shows, and its line in the audit log and the log."""
    from access.signin import audit_entry

    logger.warning(
        "sign-in through the identity provider refused (%s): %s %s",
        client_address(request),
        refused,
        refused.admin_hint,
    )
    audit_entry(
        "sign_in_failed",
        "(identity provider)",
        request,
        detail=f"{refused.title}. {refused.admin_hint}" + (f" (issuer {issuer})" if issuer else ""),
    )
    return render(
        request,
        "registration/sso_refused.html",
        {"refused": refused, "local_signin": settings.LOCAL_SIGNIN},
        status=refused.status,
    )
