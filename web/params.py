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


# The largest 64-bit signed integer: no id (BIGINT), event id, offset or page number of the
# mirror can be larger, and past it SQLite raises OverflowError and PostgreSQL a psycopg error
# where the page should say "no such row".
MAX_INTEGER = 2**63 - 1
MIN_INTEGER = -(2**63)
# ASCII digits only: int() also reads "١٢٣" (any script's digits), "1_000", "+1" and " 1",
# which no link or form of this console writes, and each would name another row.
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(text: str, limit: int = 40) -> str:
    """A value as a message quotes it: at most `limit` characters, control characters (a
    NUL, a line break) as �, so the message stays one readable line."""
    quoted = _CONTROL.sub("\ufffd", text[:limit])
    return quoted if len(text) <= limit else f"{quoted}… ({len(text):,} characters)"


def whole_number(
    name: str, text: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """`text`, the value of the parameter (or form field) `name`, as an int: digits 0-9 with
    an optional minus sign, from `minimum` to `maximum` and within a 64-bit signed integer.
    Anything else raises BadQuery, whose message names `name` and says what is wrong."""
    low = MIN_INTEGER if minimum is None else max(minimum, MIN_INTEGER)
    high = MAX_INTEGER if maximum is None else min(maximum, MAX_INTEGER)
    if not WHOLE_NUMBER.fullmatch(text):
        raise BadQuery(
            f"“{name}” must be a whole number written with the digits 0-9, not “{shown(text)}”."
        )
    # By length first: Python refuses int() of more than 4,300 digits with a ValueError.
    digits = text.lstrip("-").lstrip("0")
    if len(digits) > len(str(MAX_INTEGER)):
        value = MIN_INTEGER - 1 if text.startswith("-") else MAX_INTEGER + 1
    else:
        value = int(text)
    if value < low:
        raise BadQuery(f"“{name}” must be at least {low}, not {shown(text)}.")
    if value > high:
        if high == MAX_INTEGER:
            raise BadQuery(
                f"“{name}” is too large: no id or number here exceeds {MAX_INTEGER} "
                f"(a 64-bit integer), and “{shown(text)}” does."
            )
        raise BadQuery(f"“{name}” must be at most {high}, not {shown(text)}.")
    return value


def integer(
    query: QueryDict, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """The whole number `name` holds (see whole_number), or None when it is absent or blank."""
    text = (query.get(name) or "").strip()
    if not text:
        return None
    return whole_number(name, text, minimum=minimum, maximum=maximum)


def choice(query: QueryDict, name: str, allowed: Iterable[str], default: str = "") -> str:
    text = (query.get(name) or "").strip()
    if not text:
        return default
    options = list(allowed)
    if text not in options:
        raise BadQuery(f"“{name}” must be one of {', '.join(options)}, not “{shown(text)}”.")
    return text


def choices(query: QueryDict, name: str, allowed: Iterable[str]) -> list[str]:
    options = list(allowed)
    values = [v for v in dict.fromkeys(query.getlist(name)) if v]
    bad = [v for v in values if v not in options]
    if bad:
        raise BadQuery(f"“{name}” must be among {', '.join(options)}; “{shown(bad[0])}” is not.")
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
            f"“{name}” must be an operation id (letters, digits, - and _), not “{shown(value)}”."
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
            f" “{shown(bad[0])}” is not one."
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
