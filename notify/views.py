"""Notification pages, for staff: the rules (list, create, edit, delete, send a test) and
the delivery log. Staff read them; only operators and admins change, test or delete a rule
(a rule sends messages out of the console, to addresses its author chooses), and each
change is in the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from access import roles
from notify import audit, deliver, scan
from notify.forms import RuleForm
from notify.models import Delivery, DeliveryStatus, Rule
from web import params


def _may_change(request: HttpRequest) -> None:
    roles.require_operator(
        request,
        "Notification rules are changed, tested and deleted by operators and admins, as a "
        "rule sends messages out of the console.",
    )


staff_required = roles.staff_required("Notifications (who is told what, and where)")


@require_GET
@staff_required
def rules(request: HttpRequest) -> HttpResponse:
    items = []
    for rule in Rule.objects.select_related("source"):
        counts = {
            status: rule.deliveries.filter(status=status).count()
            for status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
        }
        items.append({"rule": rule, "counts": counts})
    return render(request, "notify/rules.html", {"items": items})


@staff_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk) if pk is not None else None
    _may_change(request)
    form = RuleForm(request.POST if request.method == "POST" else None, instance=rule)
    if request.method == "POST":
        if form.is_valid():
            changed = [name for name in audit.AUDITED_FIELDS if name in form.changed_data]
            saved = form.save()
            if rule is None:
                audit.rule_changed(request.user, "rule_created", saved)
            elif changed:
                audit.rule_changed(request.user, "rule_changed", saved, changed)
            messages.success(request, f"Saved the rule {saved.name}.")
            return redirect("notify:rules")
        status = 400
    else:
        status = 200
    return render(request, "notify/rule_form.html", {"form": form, "rule": rule}, status=status)


@require_POST
@staff_required
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a test message to each of the rule's channels now, and say what happened."""
    rule = get_object_or_404(Rule, pk=pk)
    _may_change(request)
    ids = scan.promise_test(rule)
    if not ids:
        messages.error(request, f"The rule {rule.name} has no email address or webhook to test.")
        return redirect("notify:rules")
    for delivery_id in ids:
        deliver.attempt(delivery_id)
    tested = list(Delivery.objects.filter(pk__in=ids))
    failures = [
        f"{d.get_channel_display()}: {d.last_error or d.get_status_display()}"
        for d in tested
        if d.status != DeliveryStatus.DELIVERED
    ]
    audit.rule_changed(request.user, "rule_tested", rule, [], error="; ".join(failures))
    for delivery in tested:
        if delivery.status == DeliveryStatus.DELIVERED:
            messages.success(request, f"Test {delivery.get_channel_display().lower()} sent.")
        else:
            messages.error(
                request,
                f"Test {delivery.get_channel_display().lower()} not delivered: "
                f"{delivery.last_error or delivery.get_status_display()} "
                "(it is retried; see the delivery log).",
            )
    return redirect("notify:rules")


@require_POST
@staff_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    _may_change(request)
    audit.rule_changed(request.user, "rule_deleted", rule)
    rule.delete()
    messages.success(
        request, f"Deleted the rule {rule.name}. What it sent stays in the delivery log."
    )
    return redirect("notify:rules")


@require_GET
@staff_required
def deliveries(request: HttpRequest) -> HttpResponse:
    rows = Delivery.objects.select_related("rule", "execution")
    status = params.choice(request.GET, "status", DeliveryStatus.values)
    if status:
        rows = rows.filter(status=status)
    rule = params.integer(request.GET, "rule", minimum=1)
    if rule:
        rows = rows.filter(rule_id=rule)
    page = Paginator(rows, 50).get_page(params.integer(request.GET, "page", minimum=1))
    query = urlencode({k: v for k, v in (("status", status), ("rule", rule)) if v})
    return render(
        request,
        "notify/deliveries.html",
        {
            "page": page,
            "status": status,
            "statuses": DeliveryStatus.choices,
            "rule": rule,
            "rules": Rule.objects.all(),
            "query": query,
        },
    )
