"""Bulk answers from the approvals inbox: approve or reject several pending callbacks (the
selected ones, or every one that matches the inbox's filter) with one result.

As bulk stop does (actions/bulk.py): step 1 shows a confirmation that states the count,
step 2 (confirm=yes, a one-time token) checks the answer, records a BulkJob and queues
it; the job answers the callbacks one by one through services.callback_success/failure,
so each answer is audited on its own, and its page shows the progress and what became
of each callback.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access.roles import operator_required, recent_sign_in_required
from actions import approvals, bulk, services, tokens, validation
from actions.forms import ActionForm, BulkChoice
from actions.models import Decision
from actions.pages import inbox_order
from domain import answers
from executions import schedule
from executions.models import BulkJob, Operation
from web import params as query_params  # `params` below is a job's answer
from web.forms import IdsField, next_url
from web.shortcuts import is_partial, render_stop_polling, vary_on_htmx, visible_job

# A job is a list of ids in one row, as bulk stop's.
MAX_TARGETS = 10000
APPROVE, REJECT = "approve", "reject"
ACTIONS = {APPROVE: answers.APPROVE.action, REJECT: answers.REJECT.action}
NOTHING_SELECTED = "No pending callbacks were selected; nothing to answer."


class BulkAnswerForm(BulkChoice, ActionForm):
    answer = django_forms.ChoiceField(
        choices=[(APPROVE, answers.APPROVE.verb), (REJECT, answers.REJECT.verb)],
        error_messages={
            "required": "Choose approve or reject.",
            "invalid_choice": "Choose approve or reject.",
        },
    )
    scope = django_forms.CharField(required=False)
    ops = IdsField(name="ops", required=False)
    function = django_forms.CharField(required=False, strip=False)
    execution = django_forms.CharField(required=False, max_length=200)
    confirm = django_forms.CharField(required=False)
    result = django_forms.CharField(required=False, strip=False)
    error_type = django_forms.CharField(required=False, strip=False)
    error_message = django_forms.CharField(required=False, strip=False)
    error_data = django_forms.CharField(required=False, strip=False)
    # Why, for policies that ask for a reason (and the audit log).
    reason = django_forms.CharField(required=False, max_length=validation.MAX_ERROR_MESSAGE)

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        if self.by_filter:
            targets = inbox_order(cleaned.get("function", ""), name=cleaned.get("execution", ""))[
                0
            ][:MAX_TARGETS]
        else:
            cleaned["function"] = cleaned["execution"] = ""
            chosen = set(cleaned.get("ops") or [])
            targets = [pk for pk in inbox_order()[0] if pk in chosen]
        cleaned["targets"] = targets
        if not targets:
            raise ValidationError(NOTHING_SELECTED, code="nothing")
        if self.confirmed:
            try:
                cleaned["parameters"] = answer_parameters(cleaned)
            except ValidationError as exc:
                message = " ".join(exc.messages)
                raise ValidationError(f"Nothing was sent: {message}", code="refused") from exc
        return super().clean()


def answer_parameters(data: dict[str, Any]) -> dict[str, str]:
    """The one answer every callback gets, checked now, before any is sent (the rules of
    the single-callback forms: actions/validation.py)."""
    reason = (data.get("reason") or "").strip()
    if data.get("answer") == APPROVE:
        return {"result": validation.json_payload(data.get("result") or ""), "reason": reason}
    error_type, error_message, error_data = validation.error_fields(
        data.get("error_type", ""), data.get("error_message", ""), data.get("error_data", "")
    )
    return {
        "error_type": error_type,
        "error_message": error_message,
        "error_data": error_data,
        "reason": reason,
    }


def create_job(user: Any, answer: str, operation_ids: list[int], parameters: dict) -> BulkJob:
    executions = dict(
        Operation.objects.filter(pk__in=operation_ids).values_list("pk", "execution_id")
    )
    return BulkJob.objects.create(
        user=user,
        action=ACTIONS[answer],
        total=len(operation_ids),
        execution_ids=[executions.get(pk) for pk in operation_ids],
        parameters={**parameters, "operations": operation_ids},
    )


def run_bulk_answer(job_id: int) -> dict:
    """Answer every callback of the job (actions/bulk.py run_job's loop)."""
    return bulk.run_job(
        job_id,
        actions=ACTIONS.values(),
        targets=lambda job: (job.parameters or {}).get("operations", []),
        load=lambda pk: (
            Operation.objects.select_related("execution", "execution__source").filter(pk=pk).first()
        ),
        act=lambda user, job, operation: _answer(user, job.action, operation, job.parameters or {}),
        describe=lambda pk, operation: {"operation_id": pk},
    )


def _answer(user: Any, action: str, operation: Operation, params: dict) -> str | dict[str, str]:
    """One callback's answer, through its approval policy as every answer goes: '' when
    sent, {"held": why} when the policy holds it for more approvers, else why not."""
    decision = Decision.APPROVE if action == answers.APPROVE.action else Decision.REJECT
    try:
        result = approvals.answer(
            user,
            operation.execution,
            operation,
            decision,
            result=params.get("result", answers.DEFAULT_RESULT),
            error_type=params.get("error_type", ""),
            error_message=params.get("error_message", ""),
            error_data=params.get("error_data", ""),
            reason=params.get("reason", ""),
        )
    except services.ActionRefused as exc:
        return str(exc)
    if result.held:
        return {"held": result.message}
    return "" if result.ok else result.message


@shared_task(soft_time_limit=3000, time_limit=3600)
def run_bulk_answer_task(job_id: int) -> dict:
    return run_bulk_answer(job_id)


# What became of each callback, for the job's page.
ANSWERED, FAILED, HELD, QUEUED = "answered", "failed", "held", "queued"


def job_results(job: BulkJob, page_number: Any = 1) -> Page:
    operation_ids = (job.parameters or {}).get("operations", [])
    page = Paginator(list(enumerate(operation_ids)), 100).get_page(page_number)
    operations = Operation.objects.select_related("execution", "execution__function").in_bulk(
        [pk for _, pk in page.object_list]
    )
    records = {f.get("operation_id"): f for f in job.failures}
    rows = []
    for index, pk in page.object_list:
        record = records.get(pk, {})
        if "held" in record:
            outcome, note = HELD, record["held"]
        elif record:
            outcome, note = FAILED, record.get("error", "")
        else:
            outcome, note = (ANSWERED if index < job.done else QUEUED), ""
        rows.append({"operation": operations.get(pk), "outcome": outcome, "error": note})
    page.object_list = rows
    return page


# ---- views ----------------------------------------------------------------------------


@require_POST
@operator_required
@recent_sign_in_required
def bulk_answer(request: HttpRequest) -> HttpResponse:
    """Step 1: the confirmation, with the count and the answer to edit; step 2
    (confirm=yes): the job, queued, and its page."""
    form = BulkAnswerForm(request.POST, user=request.user)
    back = next_url(request, reverse("actions:approvals"))
    valid = form.is_valid()
    data = form.cleaned_data
    if not valid and (form.has_error("answer") or form.has_error(NON_FIELD_ERRORS, "nothing")):
        messages.warning(request, form.refusal)
        return redirect(back)
    if valid and form.confirmed:
        job = create_job(request.user, data["answer"], data["targets"], data["parameters"])
        run_bulk_answer_task.delay(job.pk)
        return redirect("actions:bulk_answer_job", job.pk)
    # Step 1, or step 2 refused (an answer that cannot be sent, a replayed form): the
    # confirmation again, with the reason and what was typed.
    targets = data.get("targets", [])
    # Callbacks telemetry told of whose ids no history read has given yet: nothing can be
    # sent to them until it has. Read first now; any still without one is skipped.
    reading = list(Operation.objects.filter(pk__in=targets[:MAX_TARGETS], callback_id=""))
    schedule.want_callback_ids(reading)
    context = {
        "answer": data["answer"],
        "count": len(targets),
        "ids": [] if form.by_filter else targets,
        "scope": "filter" if form.by_filter else "selected",
        "function": data.get("function", ""),
        "execution_name": data.get("execution", ""),
        "sample": sorted(
            Operation.objects.awaiting_answer().filter(pk__in=targets[:10]),
            key=lambda op: targets.index(op.pk),
        ),
        "token": tokens.one_time_token(request.user),
        "next": back,
        "error": "" if valid else form.refusal,
        "reading_count": len(reading),
        "answers": answers,
        "chosen": answers.APPROVE if data["answer"] == APPROVE else answers.REJECT,
        "values": {
            "result": request.POST.get("result", answers.DEFAULT_RESULT) or answers.DEFAULT_RESULT,
            "error_type": request.POST.get("error_type", answers.DEFAULT_ERROR_TYPE),
            "error_message": request.POST.get(
                "error_message", answers.default_error_message(request.user.get_username())
            ),
            "error_data": request.POST.get("error_data", ""),
        },
    }
    status = 400 if context["error"] else 200
    return render(request, "actions/answer_confirm.html", context, status=status)


@require_GET
def bulk_answer_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A bulk answer's progress: the page, or (polled by htmx) the table, until it ends."""
    job = visible_job(request, get_object_or_404(BulkJob, pk=pk, action__in=ACTIONS.values()))
    held = sum(1 for record in job.failures if "held" in record)
    context = {
        "job": job,
        "held": held,
        "failed": len(job.failures) - held,
        "approve": job.action == answers.APPROVE.action,
        "answers": answers,
        "chosen": answers.BY_ACTION[job.action],
        "results": job_results(job, query_params.integer(request.GET, "page", minimum=1)),
    }
    if not is_partial(request):
        return vary_on_htmx(render(request, "actions/answer_job.html", context))
    if job.finished:
        return vary_on_htmx(render_stop_polling(request, "actions/_answer_progress.html", context))
    return vary_on_htmx(render(request, "actions/_answer_progress.html", context))
