"""The pages of the errors Django raises itself (console/urls.py names them): the same
404 and 400 pages as the views' own, so every refusal looks alike and says what to do.
The 403 page is templates/403.html, which Django's own handler renders with the reason
PermissionDenied carried (access/roles.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from web.shortcuts import not_found


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django's own 404s carry the resolver's internals, not a sentence for a person.
    message = exception.args[0] if exception.args and isinstance(exception.args[0], str) else ""
    if not message or message.startswith("No ") and " matches the given query" in message:
        message = (
            "There is nothing at this address: the link may be wrong, or what it named was "
            "deleted. Start from the executions list, or look an execution up by its ARN."
        )
    return not_found(request, "Not found", message)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refused before any view read it: a header or a body too large,
    a host it does not serve, a `next` it will not redirect to."""
    return render(
        request,
        "bad_request.html",
        {
            "heading": "The console could not read this request",
            "message": "The console could not read this request (it was too large, or named "
            "a host or an address the console does not serve). Go back and try again; if a "
            "link brought you here, open the page it names directly.",
            "path": request.path,
        },
        status=400,
    )
