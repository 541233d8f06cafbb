"""Every request's id, its line in the JSON log, and its count and latency for /metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from access.clientip import header_meta_key
from monitoring import logs, metrics

logger = logging.getLogger(__name__)
access_log = logging.getLogger("console.access")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like (nginx's $request_id, an ALB-style trace id, a UUID):
# anything else is replaced, so a log line never carries what a client made up.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def request_id_of(request: HttpRequest) -> str:
    """The id the trusted proxy gave the request (X-Request-ID), or a new one. Without a
    trusted proxy in front (TRUSTED_PROXY_HOPS 0) the header came from the client itself
    and is not taken: a client must not choose the id its requests are logged under."""
    if settings.TRUSTED_PROXY_HOPS > 0:
        given = request.META.get(header_meta_key(REQUEST_ID_HEADER), "").strip()
        if _REQUEST_ID.fullmatch(given):
            return given
    return uuid.uuid4().hex


def view_label(request: HttpRequest) -> str:
    """The view that answered (its URL name), never the path: a path holds ids, and each
    id would be a time series of its own."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match._func_path or "unnamed"


class RequestIdMiddleware:
    """Sets the request id for the request's log lines (monitoring.logs), echoes it in the
    response's X-Request-ID header, counts the request for /metrics and, in the JSON log,
    writes one line for it (console.access). After FreshContextMiddleware, so the id ends
    with its request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_of(request)
        logs.request_id.set(rid)
        request.request_id = rid  # type: ignore[attr-defined]
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
        finally:
            seconds = time.perf_counter() - started
            view = view_label(request)
            try:
                metrics.observe_request(request.method or "", view, status, seconds)
            except Exception:  # a count lost must never lose the answer
                logger.exception("could not count the request for /metrics")
            access_log.info(
                "%s %s %s %.1f ms",
                request.method,
                request.path,
                status,
                seconds * 1000,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "view": view,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
        response[REQUEST_ID_HEADER] = rid
        return response
