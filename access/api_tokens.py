"""Tokens for the HTTP API: made per person (or service account), shown once, kept as a
digest, with a name, a scope (read, or read and act) and an expiry; revoked at once.

A token acts as its user, within that user's roles and team scope (access/roles.py,
access/scope.py), and never beyond its own scope: a read token acts on nothing. The
pages that make and list them are on the account page (access/views.py); `manage.py
token` makes them on the server, for service accounts too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import ApiToken, TokenScope

# Every token starts with this, so secret scanners (and people) can tell one at a glance.
PREFIX = "dcon_"
# A token's last use is written at most this often: a busy script must not write its
# token's row on every request.
TOUCH_SECONDS = 60
MAX_NAME = 100


class TokenRefused(ValueError):
    """The token cannot be made (a bad name, expiry or scope); the message says why."""


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # shown once; only its digest is kept


def max_days() -> int:
    return int(getattr(settings, "API_TOKEN_MAX_DAYS", 365))


def issue(user: Any, name: str, scope: str = TokenScope.READ, days: int = 90) -> Issued:
    """Make a token for `user`; refuse (TokenRefused) a blank or repeated name, an unknown
    scope, an expiry outside 1..API_TOKEN_MAX_DAYS days, or a user who cannot sign in."""
    name = (name or "").strip()
    if not name:
        raise TokenRefused("Give the token a name, to tell it apart later (what uses it).")
    if len(name) > MAX_NAME:
        raise TokenRefused(f"The name is longer than {MAX_NAME} characters.")
    if scope not in TokenScope.values:
        raise TokenRefused(f"The scope must be one of: {', '.join(TokenScope.values)}.")
    if not isinstance(days, int) or not 1 <= days <= max_days():
        raise TokenRefused(f"A token lasts from 1 to {max_days()} days.")
    if not getattr(user, "is_active", False):
        raise TokenRefused(f"{user} is not active: a token of theirs could not be used.")
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name,
                prefix=secret[: len(PREFIX) + 6],
                digest=ApiToken.digest_of(secret),
                scope=scope,
                expires_at=timezone.now() + timedelta(days=days),
            )
    except IntegrityError:
        raise TokenRefused(
            f"{user} already has a token named “{name}” (a revoked or expired one keeps its "
            "name): choose another name."
        ) from None
    return Issued(token, secret)


def find(secret: str) -> tuple[ApiToken | None, str, str]:
    """(the token, '', '') when this secret's token may be used; else (the token or None,
    a code: token_invalid, token_revoked, token_expired or user_inactive, why not in words
    a client's log can show)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        return None, "token_invalid", "This is not a Durable Console API token."
    token = (
        ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(secret)).first()
    )
    if token is None:
        unknown = "This token is unknown: it was never made here, or was deleted."
        return None, "token_invalid", unknown
    if token.revoked_at is not None:
        when = f"{token.revoked_at:%Y-%m-%d %H:%M} UTC"
        return token, "token_revoked", f"The token “{token.name}” was revoked on {when}."
    if token.expires_at <= timezone.now():
        when = f"{token.expires_at:%Y-%m-%d %H:%M} UTC"
        return token, "token_expired", f"The token “{token.name}” expired on {when}."
    if not token.user.is_active:
        return token, "user_inactive", f"The token's user {token.user} is no longer active."
    return token, "", ""


def described(token: ApiToken) -> str:
    """The token in the audit log's words (its name, first characters and user; never
    the secret): 'token “ci” (dcon_AbCdEf…) of ada'."""
    return f"token “{token.name}” ({token.prefix}…) of {token.user.get_username()}"


def touch(token: ApiToken) -> None:
    """Record the token's use, at most every TOUCH_SECONDS."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOUCH_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def revoke(token: ApiToken) -> bool:
    """Revoke the token now; False when it was already revoked."""
    return bool(
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def service_account(name: str) -> Any:
    """The user `name` made as a service account: it has no password and no identity, so
    it signs in nowhere; it acts only through its tokens. Made when missing."""
    user, created = get_user_model().objects.get_or_create(username=name)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.has_usable_password() or user.identities.exists():
        raise TokenRefused(
            f"{name} is a person's account (it signs in): choose another name for the "
            "service account."
        )
    return user
