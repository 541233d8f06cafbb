"""The two requests that reach a Lambda endpoint on demand: look an execution up by its
ARN (mirroring it when it is new), and "Refresh now" (queue a sync and watch for it to
land). Both spend the read quota, so both are POSTs and for operators."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_htmx.http import trigger_client_event

from access import roles, scope
from executions import sync
from executions.lambda_api import LambdaApiError
from executions.models import Execution, Source
from executions.tasks import queue_execution_sync
from web import params
from web.shortcuts import is_partial, not_found, render_stop_polling, with_execution

logger = logging.getLogger(__name__)

# How long the 'Refresh now' partial waits for the queued sync before giving up.
REFRESH_PATIENCE_SECONDS = 60


@require_http_methods(["GET", "POST"])
def execution_lookup(request: HttpRequest) -> HttpResponse:
    """Redirect to the execution with this ARN.

    GET reads the mirror only. An ARN the mirror lacks can be asked of the sources with
    a POST, by an operator: it spends the account's read quota and adds to what is
    mirrored, neither of which a viewer, or a link on another site, may cause.
    """
    arn = (request.POST if request.method == "POST" else request.GET).get("arn", "").strip()
    if not arn:
        return render(request, "actions/lookup.html", {})
    if len(arn) > 2048:
        raise params.BadQuery("“arn” is longer than 2048 characters; no ARN is that long.")
    execution = scope.of_request(request).executions(Execution.objects).filter(arn=arn).first()
    if execution is not None:
        return redirect("browser:detail", pk=execution.pk)
    if request.method == "GET":
        return not_found(
            request,
            "No execution with this ARN in the mirror",
            "The console has not mirrored it (yet). Check the ARN"
            + (
                ", or ask the enabled sources for it below."
                if roles.acts_everywhere(request.user)
                else "; an operator can ask the sources for it."
            ),
            arn=arn,
            ask_sources=roles.acts_everywhere(request.user),
        )
    if not roles.acts_everywhere(request.user):
        raise PermissionDenied(
            "Asking the sources for an execution spends the account's read quota, so it is "
            "for operators. Ask an operator, or wait for the next sync to mirror it."
        )
    tried: list[tuple[str, str]] = []
    for source in Source.objects.filter(enabled=True):
        try:
            execution = sync.sync_arn(source, arn)
            break
        except LambdaApiError as exc:
            tried.append((source.name, "not there" if exc.not_found else str(exc)))
    if execution is None:
        return not_found(
            request,
            "No execution with this ARN",
            "The mirror does not have it, and no enabled source knows it. Check the ARN, "
            "or add the source it belongs to.",
            arn=arn,
            tried=tried,
            asked=True,
        )
    return redirect("browser:detail", pk=execution.pk)


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else None


def _refresh_context(execution: Execution, since: str, asked: str) -> dict[str, Any]:
    return {"execution": execution, "since": since, "asked": asked}


@require_http_methods(["GET", "POST"])
@with_execution
def execution_refresh(request: HttpRequest, execution: Execution) -> HttpResponse:
    """POST: queue a sync now, ahead of the schedule (operators: it spends the read
    budget on demand). GET (the partial's poll): has the sync landed yet?"""
    if request.method == "POST":
        if not roles.may_act(request.user, execution):
            raise PermissionDenied(
                "Refresh now spends the account's read quota on demand, so it is for "
                "operators. The page follows the execution on its own while it is open."
            )
        since = execution.last_synced_at.isoformat() if execution.last_synced_at else ""
        try:
            queue_execution_sync(execution.pk, force=True)
        except Exception as exc:  # the broker is down: say so instead of failing the page
            logger.warning("could not queue a sync of execution %s: %s", execution.pk, exc)
            if not is_partial(request):
                messages.error(request, f"Could not queue a sync: {exc}. Is Redis running?")
                return redirect("browser:detail", pk=execution.pk)
            return render(request, "actions/_refresh_status.html", {"queue_error": str(exc)})
        if not is_partial(request):
            messages.info(request, "A sync of this execution is queued; reload in a moment.")
            return redirect("browser:detail", pk=execution.pk)
        context = _refresh_context(execution, since, timezone.now().isoformat())
        return render(request, "actions/_refresh_status.html", context)

    since = request.GET.get("since", "")
    asked = request.GET.get("asked", "")
    context = _refresh_context(execution, since, asked)
    synced = bool(execution.last_synced_at) and execution.last_synced_at.isoformat() != since
    asked_at = _parse_iso(asked)
    failed = bool(execution.sync_error_at) and (
        asked_at is None or execution.sync_error_at > asked_at
    )
    if synced or failed:
        context["done"] = True
        response = render_stop_polling(request, "actions/_refresh_status.html", context)
        trigger_client_event(response, "execution-refreshed")
        return response
    waited = (timezone.now() - asked_at).total_seconds() if asked_at else REFRESH_PATIENCE_SECONDS
    if waited >= REFRESH_PATIENCE_SECONDS:
        context["gave_up"] = True
        return render_stop_polling(request, "actions/_refresh_status.html", context)
    return render(request, "actions/_refresh_status.html", context)
