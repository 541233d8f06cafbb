"""Guardrails' pages, for admins: the rules, one rule with its dry run (what it would do
now, what it would have done over the last days) and its history, the form, and the
switch between dry run, on and off. Every change is in the audit log."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from access import roles
from executions.models import AuditEntry, AuditOutcome
from guardrails import engine
from guardrails.forms import FIELDS, GuardrailForm, threshold_help
from guardrails.models import Action, Firing, Guardrail, Mode
from web import params

DONE_WORDS = {Action.NOTIFY: "notified", Action.PAUSE: "paused", Action.STOP: "stopped"}
WHAT = "Guardrails (rules that pause or stop executions by themselves)"


def _audit(request: HttpRequest, action: str, rule: Guardrail, fields: list[str]) -> None:
    values = {
        name: (rule.source.name if rule.source_id else "")
        if name == "source"
        else (rule.notify_rule.name if rule.notify_rule_id else "")
        if name == "notify_rule"
        else getattr(rule, name)
        for name in fields
    }
    AuditEntry.objects.create(
        user=request.user,
        username=request.user.get_username(),
        action=action,
        payload=f"guardrail {rule.name}: {json.dumps(values, ensure_ascii=False, sort_keys=True)}",
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=timezone.now(),
    )


def _last_hour(rule: Guardrail) -> int:
    return engine._acts_last_hour(rule, timezone.now())


@require_GET
def guardrail_list(request: HttpRequest) -> HttpResponse:
    roles.require_admin(request, WHAT)
    rules = list(Guardrail.objects.select_related("source", "notify_rule"))
    items = [
        {
            "rule": rule,
            "condition": engine.condition_of(rule),
            "last_hour": _last_hour(rule),
            "firings": rule.firings.filter(dry_run=rule.mode == Mode.DRY_RUN).count(),
        }
        for rule in rules
    ]
    return render(request, "guardrails/list.html", {"items": items})


@require_GET
def guardrail_detail(request: HttpRequest, pk: int) -> HttpResponse:
    roles.require_admin(request, WHAT)
    rule = get_object_or_404(Guardrail.objects.select_related("source", "notify_rule"), pk=pk)
    condition = engine.condition_of(rule)
    preview = engine.preview(rule)
    history = Paginator(
        Firing.objects.filter(guardrail=rule).select_related("execution", "function"), 50
    ).get_page(params.integer(request.GET, "page", minimum=1))
    tripped = AuditEntry.objects.filter(action="guardrail_tripped", username=rule.actor).first()
    return render(
        request,
        "guardrails/detail.html",
        {
            "rule": rule,
            "condition": condition,
            "preview": preview,
            "history": history,
            "last_hour": _last_hour(rule),
            "tripped": tripped,
            "done_word": DONE_WORDS[rule.action],
        },
    )


def guardrail_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    roles.require_admin(request, WHAT)
    rule = get_object_or_404(Guardrail, pk=pk) if pk is not None else None
    form = GuardrailForm(request.POST if request.method == "POST" else None, instance=rule)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changed = [name for name in FIELDS if name in form.changed_data]
            saved = form.save(commit=False)
            if rule is None:
                saved.created_by = request.user.get_username()
                saved.mode = Mode.DRY_RUN
            saved.save()
            if rule is None:
                _audit(request, "guardrail_created", saved, FIELDS)
                messages.success(
                    request,
                    f"Made the guardrail {saved.name}, in a dry run: it records what it "
                    "would do and does nothing. Below is what it would do now, and what it "
                    "would have done; switch it on when that is right.",
                )
            elif changed:
                _audit(request, "guardrail_changed", saved, changed)
                messages.success(request, f"Saved the guardrail {saved.name}.")
            return redirect("guardrails:detail", saved.pk)
        status = 400
    context: dict[str, Any] = {"form": form, "rule": rule, "guide": threshold_help()}
    return render(request, "guardrails/form.html", context, status=status)


MODE_WORDS = {
    Mode.ON: "switched on: it acts on what it finds",
    Mode.DRY_RUN: "back in a dry run: it records what it would do, and does nothing",
    Mode.OFF: "switched off",
}


@require_POST
def guardrail_mode(request: HttpRequest, pk: int) -> HttpResponse:
    roles.require_admin(request, WHAT)
    rule = get_object_or_404(Guardrail, pk=pk)
    mode = request.POST.get("mode", "")
    if mode not in Mode.values:
        messages.error(request, "Choose on, dry run or off; nothing was changed.")
        return redirect("guardrails:detail", rule.pk)
    if mode != rule.mode:
        rule.mode = mode
        if mode == Mode.ON:
            rule.switched_on_at = timezone.now()
        rule.save(update_fields=["mode", "switched_on_at"])
        _audit(request, "guardrail_mode", rule, ["mode"])
    messages.success(request, f"The guardrail {rule.name} is {MODE_WORDS[Mode(mode)]}.")
    return redirect("guardrails:detail", rule.pk)


@require_POST
def guardrail_delete(request: HttpRequest, pk: int) -> HttpResponse:
    roles.require_admin(request, WHAT)
    rule = get_object_or_404(Guardrail, pk=pk)
    _audit(request, "guardrail_deleted", rule, FIELDS)
    rule.delete()
    messages.success(
        request, f"Deleted the guardrail {rule.name}. What it did stays in the audit log."
    )
    return redirect("guardrails:list")
