"""Forms that send once: `one_time_token` goes into an action's form, and `consume_token`
lets only its first submission through, so a double click or a replayed form sends once.
(Who may act at all is access/roles.py's question.)"""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache

TOKEN_TTL_SECONDS = 6 * 3600


def one_time_token(user: AbstractBaseUser) -> str:
    token = secrets.token_urlsafe(18)
    cache.set(f"action-token:{token}", user.pk, TOKEN_TTL_SECONDS)
    return token


def one_time_tokens(user: AbstractBaseUser, count: int) -> list[str]:
    """`count` tokens at once, in one round trip to Redis: a page of many forms (needs
    attention) would otherwise wait for one per form."""
    made = [secrets.token_urlsafe(18) for _ in range(count)]
    cache.set_many({f"action-token:{token}": user.pk for token in made}, TOKEN_TTL_SECONDS)
    return made


def consume_token(user: AbstractBaseUser, token: str) -> bool:
    """True the first time a token issued to this user is presented, False after."""
    if not token or len(token) > 64:
        return False
    key = f"action-token:{token}"
    owner = cache.get(key)
    # delete() is atomic in Redis: of two concurrent requests only one deletes the key.
    return owner == user.pk and bool(cache.delete(key))
