"""Strict reading of query parameters: malformed input is refused with a reason (HTTP 400),
never silently replaced by a default. `BadQueryMiddleware` turns `BadQuery` into a 400
page that says what was wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render


class BadQuery(ValueError):
    """A query parameter is malformed; the message says which and why."""


def integer(query: QueryDict, name: str, *, minimum: int | None = None) -> int | None:
    text = (query.get(name) or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"“{name}” must be a whole number, not “{text[:40]}”.") from None
    if minimum is not None and value < minimum:
        raise BadQuery(f"“{name}” must be at least {minimum}, not {value}.")
    return value


def choice(query: QueryDict, name: str, allowed: Iterable[str], default: str = "") -> str:
    text = (query.get(name) or "").strip()
    if not text:
        return default
    options = list(allowed)
    if text not in options:
        raise BadQuery(f"“{name}” must be one of {', '.join(options)}, not “{text[:40]}”.")
    return text


def choices(query: QueryDict, name: str, allowed: Iterable[str]) -> list[str]:
    options = list(allowed)
    values = [v for v in dict.fromkeys(query.getlist(name)) if v]
    bad = [v for v in values if v not in options]
    if bad:
        raise BadQuery(f"“{name}” must be among {', '.join(options)}; “{bad[0][:40]}” is not.")
    return values


def text(query: QueryDict, name: str, limit: int = 256) -> str:
    value = (query.get(name) or "").strip()
    if len(value) > limit:
        raise BadQuery(f"“{name}” is longer than {limit} characters.")
    if "\x00" in value:
        raise BadQuery(f"“{name}” holds a NUL character.")
    return value


# Operation ids are the backend's hashes; the mirror keeps up to 256 characters of them.
OPERATION_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")


def operation_id(query: QueryDict, name: str) -> str:
    """One operation id, or "" when the parameter is absent or blank."""
    value = (query.get(name) or "").strip()
    if value and not OPERATION_ID.fullmatch(value):
        raise BadQuery(
            f"“{name}” must be an operation id (letters, digits, - and _), not “{value[:40]}”."
        )
    return value


def operation_ids(
    query: QueryDict, name: str, *, limit: int = 50, words: Iterable[str] = ()
) -> list[str]:
    """A repeated parameter naming operations (`?expand=a&expand=b`): sorted, without
    duplicates or blanks. Each value is an operation id or one of `words`; at most
    `limit` operation ids."""
    allowed = set(words)
    values = sorted({v.strip() for v in query.getlist(name) if v.strip()})
    bad = [v for v in values if v not in allowed and not OPERATION_ID.fullmatch(v)]
    if bad:
        raise BadQuery(
            f"“{name}” must name operations by id (letters, digits, - and _);"
            f" “{bad[0][:40]}” is not one."
        )
    count = len([v for v in values if v not in allowed])
    if count > limit:
        raise BadQuery(f"“{name}” may name at most {limit} operations, not {count}.")
    return values


class BadQueryMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, BadQuery):
            return None
        return render(
            request,
            "bad_request.html",
            {"message": str(exception), "path": request.path},
            status=400,
        )
