"""Sign-in with a password, limited per (address, user), and written to the audit log.

Why not django-axes any more: axes checks whether a client is locked out, lets the
password be checked, and counts the failure afterwards, in separate database statements.
Forty parallel guesses all pass the check before the first failure is counted, so a burst
got through a limit of five (one signed in after 39 wrong). Its limits are either per
address or per username; per username, anyone anywhere locks the admin out. Here:

- Every attempt is counted *before* the password is checked, in one Redis script that is
  atomic across every web worker: the attempt that reaches the limit is still checked, and
  each one after it is refused unchecked until the delay has passed.
- The count is per (client address, username): a stranger's guesses delay the stranger,
  not the user signing in from their own address.
- The delay grows: LOGIN_RATE_LIMIT_WINDOW_SECONDS after the LOGIN_RATE_LIMIT_ATTEMPTS-th
  failure, twice that after the next, up to LOGIN_RATE_LIMIT_MAX_SECONDS.
- One address is also limited across usernames (LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS), so it
  cannot try a few passwords on every account. It delays only that address.
- A success clears the (address, user) count.

When Redis cannot be reached, sign-in is refused (503) rather than let unlimited guesses
through; Redis also carries the console's queues, so the console is down in any case.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator

from access.clientip import client_address
from executions.locks import redis_client, redis_key

logger = logging.getLogger(__name__)

# KEYS: pair failures, pair lock, address failures, address lock.
# ARGV: pair limit, address limit, first delay (ms), longest delay (ms), forget after (s).
# Returns 0 when the attempt may be checked, else the milliseconds left to wait.
_BEGIN = """
local wait = math.max(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[4]))
if wait > 0 then return wait end
local function count(fails, lock, limit)
  local n = redis.call('INCR', fails)
  redis.call('EXPIRE', fails, tonumber(ARGV[5]))
  if limit > 0 and n >= limit then
    local delay = math.min(tonumber(ARGV[3]) * 2 ^ (n - limit), tonumber(ARGV[4]))
    -- The value is the delay given (ms): what `manage.py signin` and the tests read.
    redis.call('SET', lock, tostring(math.floor(delay)), 'PX', math.floor(delay))
  end
end
count(KEYS[1], KEYS[2], tonumber(ARGV[1]))
count(KEYS[3], KEYS[4], tonumber(ARGV[2]))
return 0
"""

# A success: the (address, user) count and lock go, and the address's count loses the
# attempt that _BEGIN counted in advance.
_SUCCEED = """
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 0
"""


def normalise_username(username: Any) -> str:
    """ "Ada", "ada " and "ADA" are one account's attempts."""
    return str(username or "").strip().casefold()[:150]


def _digest(text: str) -> str:
    # Usernames as typed (any length, any characters) never become part of a key.
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _keys(address: str, username: str) -> list[str]:
    user, where = _digest(normalise_username(username)), _digest(address)
    return [
        redis_key("signin", "fails", user, where),
        redis_key("signin", "lock", user, where),
        redis_key("signin", "fails-address", where),
        redis_key("signin", "lock-address", where),
    ]


@dataclass(frozen=True)
class Attempt:
    """What the limiter said about one sign-in attempt."""

    address: str
    username: str
    wait_seconds: int = 0  # > 0: refused unchecked, for this long
    unavailable: bool = False  # Redis could not be reached: refused

    @property
    def allowed(self) -> bool:
        return not self.wait_seconds and not self.unavailable


def begin(address: str, username: str) -> Attempt:
    """Count an attempt before its password is checked; say whether it may be checked."""
    try:
        wait_ms = int(
            redis_client().eval(
                _BEGIN,
                4,
                *_keys(address, username),
                settings.LOGIN_RATE_LIMIT_ATTEMPTS,
                settings.LOGIN_RATE_LIMIT_ADDRESS_ATTEMPTS,
                settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS * 1000,
                settings.LOGIN_RATE_LIMIT_MAX_SECONDS * 1000,
                settings.LOGIN_RATE_LIMIT_FORGET_SECONDS,
            )
        )
    except redis.RedisError as exc:
        logger.error("sign-in refused: the rate limiter cannot reach Redis: %s", exc)
        return Attempt(address, username, unavailable=True)
    if wait_ms > 0:
        return Attempt(address, username, wait_seconds=max(1, math.ceil(wait_ms / 1000)))
    return Attempt(address, username)


def succeeded(address: str, username: str) -> None:
    try:
        redis_client().eval(_SUCCEED, 4, *_keys(address, username))
    except redis.RedisError as exc:  # the user is signed in; the count expires on its own
        logger.warning("could not clear the sign-in count of %s: %s", username, exc)


def unlock(username: str, address: str | None = None) -> int:
    """Lift the delays of a username (from one address, and that address's own delay; or
    from every address); the number of keys removed. `manage.py signin unlock`."""
    client = redis_client()
    if address:
        return int(client.delete(*_keys(address, username)))
    removed = 0
    pattern = redis_key("signin", "*", _digest(normalise_username(username)), "*")
    for key in client.scan_iter(pattern, count=1000):
        removed += int(client.delete(key))
    return removed


ATTEMPT_ATTRIBUTE = "signin_attempt"
# The session's key holding when its person signed in (seconds since the epoch).
SIGNED_IN_AT = "signed_in_at"
# ...and when it last made a request (access/middleware.py keeps it).
LAST_SEEN = "last_seen"


class RateLimitBackend:
    """First in AUTHENTICATION_BACKENDS: counts every password sign-in that comes with a
    request, and refuses one over the limit before any backend checks its password
    (PermissionDenied stops Django's authenticate()).

    Code that authenticates without a request (a shell, the test client's login()) is no
    channel for guessing from outside, so it passes through uncounted. It has no get_user():
    it never signs anyone in, and the test client's force_login() takes the first backend
    that has one.
    """

    def authenticate(self, request: HttpRequest | None, username: Any = None, **kwargs: Any):
        if request is None or username is None or kwargs.get("password") is None:
            return None
        attempt = begin(client_address(request), normalise_username(username))
        setattr(request, ATTEMPT_ATTRIBUTE, attempt)
        if not attempt.allowed:
            raise PermissionDenied("sign-in refused by the rate limit")
        return None


def _minutes(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


@method_decorator(login_not_required, name="dispatch")
class SignInView(LoginView):
    """Django's sign-in page; an attempt the limit refused is answered 429 (or 503 when the
    limit cannot be counted) with the form and how long to wait."""

    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # `again`: a step-up (access/roles.recent_sign_in_required) asks a signed-in person
        # to sign in once more, so the page must not send them straight back.
        self.redirect_authenticated_user = not request.GET.get("again")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from access import oidc

        return {
            **super().get_context_data(**kwargs),
            "oidc": oidc.enabled(),
            "oidc_name": settings.OIDC_PROVIDER_NAME,
            "local_signin": settings.LOCAL_SIGNIN,
            "again": bool(self.request.GET.get("again")),
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.LOCAL_SIGNIN:
            # Only the identity provider signs people in; a password is not even checked.
            form = self.get_form_class()(request)
            message = (
                f"Sign-in with a password is switched off: sign in with "
                f"{settings.OIDC_PROVIDER_NAME}."
            )
            return self.render_to_response(
                self.get_context_data(form=form, lockout_message=message), status=403
            )
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        attempt: Attempt | None = getattr(self.request, ATTEMPT_ATTRIBUTE, None)
        if attempt is None or attempt.allowed:
            return super().form_invalid(form)
        if attempt.unavailable:
            message = (
                "Sign-in is unavailable: the console cannot reach Redis, which counts "
                "sign-in attempts. Try again in a minute; if it persists, tell an "
                "administrator (GET /healthz shows what is down)."
            )
            response = self.render_to_response(
                self.get_context_data(form=form, lockout_message=message), status=503
            )
            response["Retry-After"] = "60"
            return response
        message = (
            f"Too many failed sign-in attempts for this account from your address. "
            f"Wait {_minutes(attempt.wait_seconds)} and try again, or ask an administrator "
            "to lift the delay (manage.py signin unlock USERNAME)."
        )
        response = self.render_to_response(
            self.get_context_data(form=form, lockout_message=message), status=429
        )
        response["Retry-After"] = str(attempt.wait_seconds)
        return response


# ---- the audit log: sign-ins, failed sign-ins (those checked), sign-outs ----------------


def audit_entry(
    action: str, username: str, request: HttpRequest | None, user: Any = None, detail: str = ""
) -> None:
    """A sign-in, a failed one or a sign-out in the audit log, with the client's address
    and how (the provider's issuer and subject)."""
    from executions.models import AuditEntry, AuditOutcome

    parts = []
    if request is not None:
        parts.append(f"address {client_address(request)}")
        via = getattr(request, "signin_via", "")
        if via:
            parts.append(via)
    if detail:
        parts.append(detail)
    AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=username[:150] or "(blank)",
        action=action,
        payload="; ".join(parts),
        outcome=AuditOutcome.SUCCEEDED if action != "sign_in_failed" else AuditOutcome.FAILED,
        completed_at=timezone.now(),
    )


@receiver(user_logged_in)
def _signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    attempt: Attempt | None = getattr(request, ATTEMPT_ATTRIBUTE, None)
    if attempt is not None:
        succeeded(attempt.address, attempt.username)
    if request is not None and hasattr(request, "session"):
        # When the session began: its absolute lifetime, its idle clock and step-up count
        # from here (written now, so its first page does not write the session again).
        request.session[SIGNED_IN_AT] = request.session[LAST_SEEN] = time.time()
    # A request without a client address is made up in-process (the test client's
    # force_login()): no one signed in through the web.
    if request is not None and request.META.get("REMOTE_ADDR"):
        audit_entry("sign_in", user.get_username(), request, user)


@receiver(user_login_failed)
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    attempt: Attempt | None = getattr(request, ATTEMPT_ATTRIBUTE, None)
    # Refused attempts cost no password check and write no row: a flood of them must not
    # become a flood of audit entries. The log has them.
    if attempt is not None and not attempt.allowed:
        logger.warning(
            "sign-in refused by the rate limit: user %r from %s (%s s left)",
            attempt.username,
            attempt.address,
            attempt.wait_seconds,
        )
        return
    username = normalise_username(credentials.get("username"))
    logger.warning(
        "failed sign-in: user %r from %s",
        username,
        client_address(request) if request is not None else "-",
    )
    if request is not None:
        audit_entry("sign_in_failed", username, request)


@receiver(user_logged_out)
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and request.META.get("REMOTE_ADDR") and user is not None:
        audit_entry("sign_out", user.get_username(), request, user)
