"""Changing sources: add, edit, pause, resume, remove, and test a connection. Admins (staff)
only, asked through access.roles before anything happens; each change in the audit log.
The pages that read sources (everyone signed in) are browser/sources.py."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import CASCADE
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from access import roles
from access.models import RoleGrant
from actions.source_forms import FIELDS, WHERE_FIELDS, SourceForm
from browser.sources import TEST_RESULT_KEY
from executions import audit, lambda_api
from executions.models import AuditEntry, HistoryEvent, Operation, Source
from executions.sync import parse_function_spec

WHAT = "Adding, changing, pausing, testing and removing sources"

# What a relation to a source is called on the removal page, by the related model's label
# (strings, so this module need not import the apps that hold them).
RELATED_WORDS = {
    "executions.execution": "mirrored executions",
    "executions.function": "functions",
    "executions.setasidemessage": "set-aside status-event messages",
    "access.rolegrant": "role grants on this source (the people who hold them lose that access)",
    "actions.approvalpolicy": "approval policies for this source only",
    "notify.rule": "notification rules for this source only",
}


def _audit(
    request: HttpRequest,
    action: str,
    source: Source,
    fields: list[str] | None = None,
    *,
    detail: str = "",
    error: str = "",
) -> AuditEntry:
    return audit.source_changed(request.user, action, source, fields, detail=detail, error=error)


def _page(source: Source) -> str:
    return reverse("browser:source", args=[source.pk])


def source_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk) if pk is not None else None
    roles.require_admin(request, WHAT)
    form = SourceForm(request.POST if request.method == "POST" else None, instance=source)
    if request.method == "POST":
        if form.is_valid():
            changed = [name for name in FIELDS if name in form.changed_data]
            with transaction.atomic():
                saved = form.save(commit=False)
                if source is not None and WHERE_FIELDS & set(changed):
                    # Another backend or identity: ask again which optional actions it has.
                    saved.capabilities = {}
                saved.save()
                if source is None:
                    _audit(request, "source_created", saved, FIELDS)
                elif changed:
                    _audit(request, "source_changed", saved, changed)
            if source is None:
                messages.success(
                    request,
                    f"Added the source {saved.name}. It is polled within "
                    f"{saved.listing_interval_seconds} s; test its connection to know now "
                    "whether it answers.",
                )
            elif changed:
                messages.success(request, f"Saved the source {saved.name}.")
            else:
                messages.info(request, f"Nothing changed in the source {saved.name}.")
            return redirect(_page(saved))
        status = 400
    else:
        status = 200
    return render(
        request, "actions/source_form.html", {"form": form, "source": source}, status=status
    )


def _set_enabled(request: HttpRequest, pk: int, enabled: bool) -> HttpResponse:
    source = get_object_or_404(Source, pk=pk)
    roles.require_admin(request, WHAT)
    if source.enabled == enabled:
        messages.info(
            request, f"The source {source.name} was already {'on' if enabled else 'paused'}."
        )
        return redirect(_page(source))
    Source.objects.filter(pk=source.pk).update(enabled=enabled)
    source.enabled = enabled
    _audit(request, "source_resumed" if enabled else "source_paused", source)
    if enabled:
        messages.success(
            request,
            f"Resumed the source {source.name}: it is polled again within "
            f"{source.listing_interval_seconds} s.",
        )
    else:
        messages.success(
            request,
            f"Paused the source {source.name}: the console makes no call to it until it is "
            "resumed. What is mirrored stays readable, as it was at the pause.",
        )
    return redirect(_page(source))


@require_POST
def source_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, False)


@require_POST
def source_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_enabled(request, pk, True)


@require_POST
def source_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Call the source's endpoint as the sync would, once, and say what came of it."""
    source = get_object_or_404(Source, pk=pk)
    roles.require_admin(request, WHAT)
    functions = [parse_function_spec(spec) for spec in source.function_names or []]
    probe = lambda_api.probe_connection(
        lambda_api.Endpoint.of(source), functions, discover=source.discover
    )
    _audit(
        request,
        "source_tested",
        source,
        detail=probe.summary()[:4000],
        error="" if probe.ok else "; ".join(c.detail for c in probe.failures)[:4000],
    )
    if probe.ok:
        messages.success(request, f"The connection to {source.name} works.")
    else:
        missing = probe.missing_permissions
        messages.error(
            request,
            f"The connection test of {source.name} failed"
            + (f": permission missing: {', '.join(missing)}." if missing else ".")
            + " What each call said is below.",
        )
    # The source's page shows each call's answer once (browser/sources.py).
    request.session[TEST_RESULT_KEY.format(pk=source.pk)] = {
        "ok": probe.ok,
        "at": timezone.now().isoformat(),
        "checks": [
            {"what": c.what, "ok": c.ok, "detail": c.detail, "note": c.note} for c in probe.checks
        ],
    }
    return redirect(_page(source))


def removal(source: Source) -> dict[str, Any]:
    """What goes with a source when it is removed: what the database deletes with it
    (counted, not loaded), and the people whose only grants are on it."""
    goes = []
    for relation in Source._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and relation.one_to_many):
            continue
        if relation.on_delete is not CASCADE:
            continue
        model = relation.related_model
        count = model._base_manager.filter(**{relation.field.name: source}).count()
        if count:
            words = RELATED_WORDS.get(model._meta.label_lower, model._meta.verbose_name_plural)
            goes.append({"count": count, "words": words})
    for model, words in ((HistoryEvent, "history events"), (Operation, "operations")):
        count = model.objects.filter(execution__source=source).count()
        if count:
            goes.append({"count": count, "words": words})
    # A person whose grants are all on this source has none after it: and a person with no
    # grant reads every source (access/scope.py). Say so before it happens.
    holders = set(RoleGrant.objects.filter(scope_source=source).values_list("user_id", flat=True))
    elsewhere = set(
        RoleGrant.objects.filter(user_id__in=holders)
        .exclude(scope_source=source)
        .values_list("user_id", flat=True)
    )
    only_here = sorted(
        RoleGrant.objects.filter(user_id__in=holders - elsewhere)
        .values_list("user__username", flat=True)
        .distinct()
    )
    return {"goes": goes, "only_here": only_here}


def source_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what goes with the source, and a button; POST: remove it."""
    source = get_object_or_404(Source, pk=pk)
    roles.require_admin(request, WHAT)
    what = removal(source)
    if request.method != "POST":
        return render(request, "actions/source_delete.html", {"source": source, **what})
    if what["only_here"]:
        # Removing it would leave them with no grant, and a person without a grant reads
        # every source: it would widen their access. Refused until their grants change.
        return render(request, "actions/source_delete.html", {"source": source, **what}, status=409)
    name = source.name
    with transaction.atomic():
        _audit(request, "source_deleted", source, FIELDS)
        source.delete()
    messages.success(
        request,
        f"Removed the source {name} and what the console mirrored of it. Nothing was "
        "deleted on its endpoint; the audit log keeps what was done to it.",
    )
    return redirect("browser:sources")
