"""Idempotency-Key: a client that retries an action (its connection dropped, it timed
out) sends the same key, and gets the first request's answer again; nothing is sent twice.

The key is kept per token for IDEMPOTENCY_HOURS. The same key with another request (other
path or body) is refused (422), and a retry while the first request still runs is told to
wait (409), so two copies never run together. An answer is kept whatever it said (a
refusal too), except a failure of the console's own (5xx) or a rate limit, which the
client may retry and which did nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from api import errors
from api.errors import ApiError
from api.models import IdempotentRequest

HEADER = "Idempotency-Key"
IDEMPOTENCY_HOURS = 24
MAX_KEY = 255


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path()):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _run(view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    try:
        return view(request, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 (answered in the API's one shape, then kept)
        return errors.answer(request, exc)


def _valid(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY and key.isprintable() and key.isascii()


def forget_old() -> int:
    """Forget the keys older than IDEMPOTENCY_HOURS; how many."""
    old = timezone.now() - timedelta(hours=IDEMPOTENCY_HOURS)
    return IdempotentRequest.objects.filter(created_at__lt=old).delete()[0]


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make an action view answer a retried Idempotency-Key with its first answer. The
    view returns an HttpResponse (what is kept is its status and body)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(request, *args, **kwargs)
        if not _valid(key):
            raise ApiError(
                400,
                "bad_idempotency_key",
                f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters (a UUID will do).",
                HEADER,
            )
        token = request.auth  # type: ignore[attr-defined]
        fingerprint = _fingerprint(request)
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(
                    token=token, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            return _replay(token, key, fingerprint)
        reply = _run(view, request, *args, **kwargs)
        if (
            not isinstance(reply, HttpResponse)
            or reply.status_code >= 500
            or (reply.status_code == 429)
        ):
            record.delete()  # nothing was done: a retry runs again
            return reply
        record.status = reply.status_code
        record.body = reply.content.decode()
        record.save(update_fields=["status", "body"])
        return reply

    return wrapper


def _replay(token: Any, key: str, fingerprint: str) -> HttpResponse:
    record = IdempotentRequest.objects.filter(token=token, key=key).first()
    if record is None:  # the first request failed and let go of its key a moment ago
        raise ApiError(
            409, "request_in_progress", "A request with this Idempotency-Key just ran; retry."
        )
    if record.fingerprint != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"This {HEADER} was used with another request (another path or body); use a "
            "new key for a new request. Nothing was done.",
            HEADER,
        )
    if record.status is None:
        raise ApiError(
            409,
            "request_in_progress",
            "The first request with this Idempotency-Key is still running; retry in a moment "
            "to get its answer. Nothing was done twice.",
        )
    reply = HttpResponse(record.body, status=record.status, content_type="application/json")
    reply["Idempotent-Replayed"] = "true"
    return reply
