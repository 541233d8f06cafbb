"""/api/v1/: the API's URLs, open to requests without a session (a token signs each one
in: api/auth.py), and a JSON 404 for any other path under /api/."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from api import errors
from api.api import api
from web import params


@csrf_exempt  # no session here, so nothing to forge; a POST gets the same JSON 404
@login_not_required
def unknown(request: HttpRequest) -> JsonResponse:
    return errors.response(
        errors.ApiError(
            404,
            "not_found",
            "There is no such API endpoint; the endpoints are listed in /api/v1/openapi.json.",
        )
    )


def _allowed_methods_in_one_shape(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers a method an endpoint lacks with a bare 405 ("Method not allowed");
    the API answers it in its one shape, with the same Allow header."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reply = view(request, *args, **kwargs)
        if reply.status_code != 405 or not reply.has_header("Allow"):
            return reply
        allowed = reply["Allow"]
        shaped = errors.response(
            errors.ApiError(
                405,
                "method_not_allowed",
                f"This endpoint does not take {params.shown(request.method or '')}; it takes "
                f"{allowed}.",
            )
        )
        shaped["Allow"] = allowed
        return shaped

    return wrapper


def _open(patterns: list) -> list:
    """The API's own URL patterns, exempt from the pages' sign-in (LoginRequiredMiddleware):
    each request is checked for its token instead."""
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            _open(pattern.url_patterns)
        else:
            pattern.callback = _allowed_methods_in_one_shape(pattern.callback)
            pattern.callback.login_required = False
    return patterns


_patterns, _app, _namespace = api.urls
urlpatterns = [
    path("api/v1/", (_open(_patterns), _app, _namespace)),
    # No end anchor: "." would not match a line break, and such a path would get the
    # pages' HTML 404.
    re_path(r"^api/", unknown),
]
