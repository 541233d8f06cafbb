"""The sync health page (staff): how the sync keeps up with each source's API quotas."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access import roles
from executions import health

staff_required = roles.staff_required("Sync health (how the console spends the API quotas)")


@require_GET
@never_cache
@staff_required
def sync_health(request: HttpRequest) -> HttpResponse:
    return render(request, "browser/sync_health.html", {"report": health.report()})


@require_GET
@never_cache
@staff_required
def sync_health_json(request: HttpRequest) -> JsonResponse:
    """The same figures for monitoring (a staff session, or a staff user's cookie)."""
    return JsonResponse(health.report(), encoder=DjangoJSONEncoder)
