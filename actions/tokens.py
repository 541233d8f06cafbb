"""Forms that send once: `one_time_token` goes into an action's form, and `consume_token`
lets only its first submission through, so a double click or a replayed form sends once.
(Who may act at all is access/roles.py's question.)

A token is signed (the person's id, a random nonce, the time), so making one writes
nothing: a page of many forms (needs attention, the inbox) costs no round trip for its
tokens. Redis records a token only when it is used, and only its first use is let through
(an atomic add)."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.cache import cache

TOKEN_TTL_SECONDS = 6 * 3600
# What a token may be long at most: longer input is refused before it is checked.
MAX_TOKEN_LENGTH = 200
_SIGNER = signing.TimestampSigner(salt="actions.tokens")


def one_time_token(user: AbstractBaseUser) -> str:
    return _SIGNER.sign(f"{user.pk}:{secrets.token_urlsafe(12)}")


def consume_token(user: AbstractBaseUser, token: str) -> bool:
    """True the first time a token issued to this user, in the last TOKEN_TTL_SECONDS, is
    presented; False after, and for anything else."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    try:
        value = _SIGNER.unsign(token, max_age=TOKEN_TTL_SECONDS)
    except signing.BadSignature:  # tampered, made up, or expired
        return False
    owner, _, nonce = value.partition(":")
    if owner != str(user.pk) or not nonce:
        return False
    # add() is atomic in Redis: of two concurrent requests only one adds the key.
    return bool(cache.add(f"action-token-used:{nonce}", 1, TOKEN_TTL_SECONDS))
