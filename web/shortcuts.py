"""Answers every app's views give the same way: the execution a URL names (or the one
404 page), and htmx's fragment-or-page answers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseStopPolling

from access import scope
from executions.models import Execution
from monitoring import logs


def is_partial(request: HttpRequest) -> bool:
    """An htmx request for a fragment (not a history restore, which needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    # The same URL answers with a fragment or a page depending on HX-Request.
    patch_vary_headers(response, ["HX-Request"])
    return response


def render_stop_polling(
    request: HttpRequest, template: str, context: dict[str, Any]
) -> HttpResponseStopPolling:
    """A rendered fragment that also tells htmx to stop polling (HTTP 286)."""
    return HttpResponseStopPolling(render_to_string(template, context, request))


def not_found(request: HttpRequest, title: str, message: str, **extra: Any) -> HttpResponse:
    context = {"title": title, "message": message, **extra}
    return render(request, "not_found.html", context, status=404)


def _missing(pk: Any) -> str:
    return (
        f"There is no execution #{pk} in the mirror. It may have been deleted, or the link "
        "is wrong. Search the list, or look it up by its ARN."
    )


def visible_execution(request: HttpRequest, pk: Any) -> Execution:
    """The execution named by `pk` (with its source and function) if this person may see
    it; else Http404, the same whether it does not exist or is outside their scope, so no
    answer tells that it exists (access/scope.py)."""
    execution = Execution.objects.select_related("source", "function").filter(pk=pk).first()
    if execution is None or not scope.of_request(request).may_see(execution):
        raise Http404(_missing(pk))
    logs.bind_execution(execution.arn)  # this request's log lines are about it
    return execution


def with_execution(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Load the execution named by `pk` (visible_execution) or answer the 404 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, pk: int, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            execution = visible_execution(request, pk)
        except Http404:
            return not_found(request, "Execution not found", _missing(pk))
        return view(request, execution, *args, **kwargs)

    return wrapper


def visible_job(request: HttpRequest, job: Any) -> Any:
    """A bulk job's page lists the executions it touched: its owner sees it, and whoever
    sees everything; to anyone else it does not exist (Http404)."""
    if job.user_id != request.user.pk and not scope.of_request(request).everything:
        raise Http404("No such job.")
    return job
