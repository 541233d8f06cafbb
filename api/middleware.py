"""Each request in a context of its own."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class FreshContextMiddleware:
    """Run each request in a copy of the context: what one request sets in a ContextVar
    (the API token it acts through: executions.models.acting_via) ends with it, and never
    reaches the next request a reused thread serves."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return contextvars.copy_context().run(self.get_response, request)
