"""/metrics: Prometheus's scrape endpoint, for whoever is let in.

Let in: a request from an address in METRICS_ALLOWED_NETWORKS (the client's address as
access/clientip.py tells it, through TRUSTED_PROXY_HOPS proxies, so a forged
X-Forwarded-For entry is never read); a request with an API token (Authorization: Bearer
dcon_..., access/api_tokens.py) of a staff user; or a signed-in staff member. The figures
cover every source, so, like the sync health page, they are for staff. Anyone else gets
401 (no credentials, or a token that is not valid) or 403 (a valid one that may not), with
the reason.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from access import api_tokens, clientip, roles
from monitoring import metrics


def _refused(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="durable-console metrics"'
    return response


def allowed_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


def refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics; else the answer that says why not."""
    address = clientip.client_address(request)
    if allowed_address(address):
        return None
    header = request.headers.get("Authorization", "")
    if not header:
        if roles.is_staff(request.user):
            return None
        if getattr(request.user, "is_authenticated", False):
            return _refused(
                403,
                f"{request.user.get_username()} is not staff: the metrics cover every source, "
                "so only staff may read them.",
            )
        networks = ", ".join(settings.METRICS_ALLOWED_NETWORKS) or "none are set"
        return _refused(
            401,
            "Send an API token of a staff user (Authorization: Bearer <token>; make one on "
            "the account page, or with `manage.py token`), or scrape from an address in "
            f"METRICS_ALLOWED_NETWORKS ({networks}). This request came from {address}.",
        )
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _refused(401, "The Authorization header must be: Bearer <token>.")
    token, code, why_not = api_tokens.find(secret.strip())
    if token is None or code:
        return _refused(401, why_not)
    if not roles.is_staff(token.user):
        return _refused(
            403,
            f"The token's user {token.user.get_username()} is not staff: the metrics cover "
            "every source, so only staff may read them. Use a staff user's token (a service "
            "account made staff), or an address in METRICS_ALLOWED_NETWORKS.",
        )
    api_tokens.touch(token)
    return None


@login_not_required
@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
