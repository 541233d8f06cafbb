"""The HTTP API (/api/v1/): django-ninja, its OpenAPI schema at /api/v1/openapi.json and
its docs page at /api/v1/docs (Swagger UI, served from the package's own static files).

Every endpoint takes a bearer token (api/auth.py), is rate limited per token, and answers
errors in one shape (api/errors.py). docs/API.md says how to use it.
"""

from __future__ import annotations

from ninja import NinjaAPI

from api import act, errors, read, routes  # noqa: F401 (act, read: their endpoints)
from api.auth import TokenAuth, TokenRateThrottle

api = NinjaAPI(
    title="Durable Console API",
    version="1",
    description=(
        "Executions, callbacks and actions of the durable executions this console "
        "mirrors. Authenticate with `Authorization: Bearer <token>` (make one on your "
        'account page). Errors: `{"error": {"code", "message", "field"}}`. See '
        "docs/API.md."
    ),
    auth=TokenAuth(),
    throttle=[TokenRateThrottle()],
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
errors.install(api)
# Both modules register their endpoints on the one router when imported.
api.add_router("/", routes.router)
