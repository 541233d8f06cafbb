"""Approval policies' pages: everyone reads them (they say who may approve what); admins
create, change and delete them, each change in the audit log."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from actions import policies
from actions.models import ApprovalPolicy
from executions.models import AuditEntry, AuditOutcome, Source
from web.forms import IdChoiceField, WholeNumberField

FIELDS = [
    "name",
    "enabled",
    "source",
    "function_pattern",
    "callback_pattern",
    "approver_groups",
    "approver_users",
    "approvals_required",
    "rejections_required",
    "reason_to_approve",
    "reason_to_reject",
    "instructions",
    "requester_path",
]


class PolicyForm(forms.ModelForm):
    source = IdChoiceField(
        queryset=Source.objects.order_by("name"),
        name="source",
        required=False,
        empty_label="Every source",
        help_text="Blank: every source.",
    )
    approvals_required = WholeNumberField(
        name="approvals_required", min_value=1, max_value=20, initial=1,
        label="Approvals needed", help_text="From different people: 2 is the two-person rule.",
    )  # fmt: skip
    rejections_required = WholeNumberField(
        name="rejections_required", min_value=1, max_value=20, initial=1,
        label="Rejections needed", help_text="1: a rejection is sent at once.",
    )  # fmt: skip

    class Meta:
        model = ApprovalPolicy
        fields = FIELDS
        labels = {
            "function_pattern": "Function name pattern",
            "callback_pattern": "Callback name pattern",
            "approver_groups": "Approver groups",
            "approver_users": "Approver users",
            "reason_to_approve": "A reason is required to approve",
            "reason_to_reject": "A reason is required to reject",
            "requester_path": "Requester in the input",
        }
        help_texts = {
            "function_pattern": "Shell-style, e.g. payments-* ; blank: every function.",
            "callback_pattern": "Shell-style, e.g. *approval* ; blank: every callback.",
            "approver_groups": "Comma-separated: the console's groups or the identity "
            "provider's. Blank, with no users: any operator.",
            "approver_users": "Comma-separated user names.",
            "instructions": "Shown above the form. Markdown: **bold**, lists, "
            "[links](https://example.com); no HTML.",
            "requester_path": "A path in the execution's input naming who asked, e.g. "
            "$.requestedBy: that person may not approve.",
        }
        widgets = {"instructions": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"
            widget.attrs.setdefault("id", f"id_{name}")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = self.instance
        for name in FIELDS:
            setattr(candidate, name, cleaned.get(name, getattr(candidate, name)))
        for field, message in policies.problems(candidate).items():
            self.add_error(field if field in self.fields else None, ValidationError(message))
        return cleaned


def _audit(request: HttpRequest, action: str, policy: ApprovalPolicy, fields: list[str]) -> None:
    values = {
        name: (policy.source.name if policy.source_id else "")
        if name == "source"
        else getattr(policy, name)
        for name in fields
    }
    AuditEntry.objects.create(
        user=request.user,
        username=request.user.get_username(),
        action=action,
        payload=f"policy {policy.name}: {json.dumps(values, ensure_ascii=False, sort_keys=True)}",
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=timezone.now(),
    )


def _admin_only(request: HttpRequest) -> None:
    if not request.user.is_superuser:
        raise PermissionDenied(
            "Approval policies are changed by admins (they decide who may approve what). "
            "Your account may read them."
        )


@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    items = [
        {"policy": p, "approvers": policies.possible_approvers(p)}
        for p in ApprovalPolicy.objects.select_related("source")
    ]
    return render(request, "actions/policies.html", {"items": items})


def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk) if pk is not None else None
    _admin_only(request)
    form = PolicyForm(request.POST if request.method == "POST" else None, instance=policy)
    if request.method == "POST":
        if form.is_valid():
            changed = [name for name in FIELDS if name in form.changed_data]
            saved = form.save()
            if policy is None:
                _audit(request, "policy_created", saved, FIELDS)
            elif changed:
                _audit(request, "policy_changed", saved, changed)
            messages.success(request, f"Saved the approval policy {saved.name}.")
            return redirect("actions:policies")
        status = 400
    else:
        status = 200
    return render(
        request, "actions/policy_form.html", {"form": form, "policy": policy}, status=status
    )


@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(ApprovalPolicy, pk=pk)
    _admin_only(request)
    _audit(request, "policy_deleted", policy, FIELDS)
    policy.delete()
    messages.success(
        request,
        f"Deleted the approval policy {policy.name}. Approvals it held keep its rules until "
        "their callbacks are answered.",
    )
    return redirect("actions:policies")
