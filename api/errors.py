"""Every error of the API in one shape:

    {"error": {"code": "not_waiting", "message": "This callback is no longer ...", "field": null}}

`code` is a stable word a client can branch on, `message` a sentence a person can act on,
`field` the request's field at fault (a body field or query parameter), or null. Nothing
the API does answers a 500 with anything else, and the tests (tests/test_api_fuzz.py) fail
on any 500 at all.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from actions.services import ActionRefused
from web import params

logger = logging.getLogger(__name__)


class ErrorDetail(Schema):
    code: str
    message: str
    field: str | None = None


class ErrorOut(Schema):
    error: ErrorDetail


class ApiError(Exception):
    """Answer the request with this error (status, code, message, field)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def response(error: ApiError) -> JsonResponse:
    return JsonResponse(body(error.code, error.message, error.field), status=error.status)


# An action's refusal (actions/services.ActionRefused.code) as an HTTP status.
REFUSAL_STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "reason_required": 422,
    "not_waiting": 409,
    "ended": 409,
    "running": 409,
    "unsupported": 409,
    "refused": 409,
    "nothing": 409,
}


def refused(code: str, message: str, field: str | None = None) -> ApiError:
    return ApiError(REFUSAL_STATUS.get(code, 409), code, message, field)


def from_form(form: Any, fields: dict[str, str] | None = None) -> ApiError:
    """A refused form (actions/forms.py) as the API's error: its first reason, the field at
    fault named as the API names it (`fields` maps the form's names to the API's)."""
    fields = fields or {}
    for name, errors in form.errors.as_data().items():
        error = errors[0]
        message = " ".join(str(m) for m in error.messages)
        if name == "__all__" and error.code in REFUSAL_STATUS:
            # The action no longer applies (the callback was answered, nothing matched).
            return refused(error.code, message)
        # Input that is not valid, of one field or of several together (the error
        # fields' size together, a filter that cannot be read): 422 like any other.
        field = None if name == "__all__" else fields.get(name, name)
        return ApiError(422, "invalid", message, field)
    return ApiError(422, "invalid", "The request was refused.")


def _field(loc: list[Any] | tuple[Any, ...]) -> str | None:
    """A pydantic location ("body", "payload", "result") as the field's name ("result")."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "filters")]
    return ".".join(parts) or None


def _validation(exc: ValidationError) -> ApiError:
    first = exc.errors[0] if exc.errors else {}
    kind = first.get("type", "")
    field = _field(first.get("loc", ()))
    if kind == "extra_forbidden":
        return ApiError(
            422,
            "unknown_field",
            f"“{field}” is not a field of this request; see the schema at /api/v1/openapi.json.",
            field,
        )
    if kind == "missing" and field is None:
        return ApiError(
            422,
            "missing",
            "This endpoint takes a JSON object as its body: send {} when no field is needed.",
            "body",
        )
    if kind == "missing":
        return ApiError(422, "missing", f"“{field}” is required.", field)
    message = str(first.get("msg", "This value is not valid."))
    return ApiError(422, "invalid", f"{field}: {message}" if field else message, field)


UNAUTHENTICATED = (
    "Send an API token: Authorization: Bearer <token>. Make one on your account page (/account/)."
)


def _http_error(exc: HttpError) -> ApiError:
    # Ninja wraps what reading the body raised ("Cannot parse request body").
    cause = exc.__cause__
    if isinstance(cause, RequestDataTooBig):
        return too_large()
    if isinstance(cause, ApiError):
        return cause
    if isinstance(exc, AuthenticationError):
        return ApiError(401, "unauthenticated", UNAUTHENTICATED)
    if exc.status_code == 429:
        return ApiError(
            429,
            "rate_limited",
            "This token made too many requests; wait for the seconds Retry-After says.",
        )
    if exc.status_code == 400 and cause is not None:
        return ApiError(400, "invalid_json", "The body is not valid JSON (UTF-8 encoded).")
    return ApiError(exc.status_code, "error", str(exc))


def as_api_error(exc: Exception) -> ApiError | None:
    """The API's error for an exception a view (or ninja) raised; None for a failure of
    the console's own, which is logged and answered as `internal`."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return _validation(exc)
    if isinstance(exc, HttpError):
        return _http_error(exc)
    if isinstance(exc, Http404):
        return ApiError(404, "not_found", str(exc) or "Not found.")
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "forbidden", str(exc) or "Not allowed.")
    if isinstance(exc, ActionRefused):
        return refused(exc.code, str(exc))
    if isinstance(exc, params.BadQuery):
        return ApiError(400, "bad_query", str(exc), getattr(exc, "field", None))
    if isinstance(exc, RequestDataTooBig):
        return too_large()
    return None


INTERNAL = ApiError(
    500,
    "internal",
    "The console failed to answer this request; it is logged. Try again, and tell the "
    "console's administrators if it persists.",
)


def answer(request: HttpRequest, exc: Exception) -> JsonResponse:
    error = as_api_error(exc)
    if error is None:
        logger.exception("api: %s %s failed", request.method, request.path, exc_info=exc)
        error = INTERNAL
    reply = response(error)
    if error.status == 401:
        reply["WWW-Authenticate"] = 'Bearer realm="durable-console"'
    return reply


def install(api: NinjaAPI) -> None:
    """Answer every exception the API's views (and ninja's checks) raise in the one shape."""
    api.add_exception_handler(Exception, answer)
    # Ninja registers its own for these; the most specific handler wins, so each is ours.
    for kind in (ValidationError, HttpError, Http404):
        api.add_exception_handler(kind, answer)


def too_large() -> ApiError:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApiError(
        413, "too_large", f"The body is larger than the {limit:,} bytes the API accepts."
    )
