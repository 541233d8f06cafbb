"""Who a request to the API is: its bearer token (access/api_tokens.py), checked on every
request, and how many requests the token may make.

A token's request is its user's: request.user is set to them, so the same questions the
pages ask (access/roles.py, access/scope.py, the approval policies) decide what it may see
and do. It never does more than its own scope: a read token is refused every action. What
it does is written to the audit log with the token's name (executions.models.acting_via).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from access import api_tokens, roles
from access.models import ApiToken, TokenScope
from api.errors import ApiError
from executions.locks import redis_client, redis_key
from executions.models.records import acting_via


class TokenAuth(HttpBearer):
    """`Authorization: Bearer dcon_...`: the token must be known, unrevoked, unexpired and
    its user active; each refusal says which."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if not header:
            raise ApiError(
                401,
                "unauthenticated",
                "Send an API token: Authorization: Bearer <token>. Make one on your account "
                "page (/account/).",
            )
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401, "unauthenticated", "The Authorization header must be: Bearer <token>."
            )
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        found, code, why_not = api_tokens.find(token)
        if found is None or code:
            raise ApiError(401, code, why_not)
        api_tokens.touch(found)
        request.user = found.user
        request.api_token = found  # type: ignore[attr-defined]
        # Whatever this request writes to the audit log says it came through this token.
        acting_via.set(f"API token “{found.name}”")
        return found


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def require_act(request: HttpRequest) -> None:
    """An action: the token's scope must be `act` and its user must be an operator
    somewhere (which execution: the view asks access.roles.may_act)."""
    token = token_of(request)
    if token.scope != TokenScope.ACT:
        raise ApiError(
            403,
            "token_read_only",
            f"The token “{token.name}” may only read; make a token with the act scope to "
            "do this. Nothing was done.",
        )
    if not roles.can_act(request.user):
        raise ApiError(
            403,
            "forbidden",
            f"{request.user.get_username()} has no role that acts (operator); nothing was done.",
        )


def rate_per_minute() -> int:
    return int(getattr(settings, "API_RATE_PER_MINUTE", 600))


class TokenRateThrottle(BaseThrottle):
    """API_RATE_PER_MINUTE requests per token per minute, counted in Redis (one INCR, so
    every worker counts the same); past it, 429 with Retry-After until the minute ends."""

    def __init__(self) -> None:
        # Ninja asks wait() right after allow_request(), in the same thread.
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        token = getattr(request, "auth", None)
        if token is None:
            return True
        now = time.time()
        window = int(now // 60)
        key = redis_key("api-rate", token.digest[:24], str(window))
        client = redis_client()
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
        if count <= rate_per_minute():
            self._local.wait = None
            return True
        self._local.wait = max(1, math.ceil((window + 1) * 60 - now))
        return False

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)
