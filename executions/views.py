from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection

logger = logging.getLogger(__name__)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("Health check: database unreachable: %s", exc)
        return f"error: {exc}"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis_connection("default").ping()
    except Exception as exc:
        logger.warning("Health check: Redis unreachable: %s", exc)
        return f"error: {exc}"
    return "ok"


def home(request: HttpRequest) -> HttpResponse:
    checks = {"Database": _check_database(), "Redis": _check_redis()}
    return render(request, "home.html", {"checks": checks})


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and Redis reachability, for load balancers and `make run` (no login)."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)
