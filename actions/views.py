"""POST endpoints of operator actions: callbacks, stop, pause/resume, delete, start (and
start again) and bulk stop, with the pages that carry their forms (a callback's forms, the
start page, a delete's confirmation, a bulk job's progress). The read-only pages (approvals
inbox, audit log) are in actions/pages.py.

Every POST: login (middleware) -> operator role (403 otherwise, nothing sent) -> a form
(actions/forms.py: its fields, then the one-time token, so a replayed form sends nothing)
-> services.* (validation, audit, API call, re-sync). Refusals come back beside the form
with a clear message; results use Django messages.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from access import roles, scope
from access.roles import operator_required, recent_sign_in_required
from actions import approvals, bulk, forms, input_diff, policies, services, tasks, tokens
from domain import answers
from executions import schedule
from executions.models import BulkJob, Execution, Function, Operation
from web import params
from web.forms import next_url
from web.shortcuts import (
    is_partial,
    render_stop_polling,
    vary_on_htmx,
    visible_execution,
    visible_job,
)

NOT_THIS_EXECUTIONS = "This callback does not belong to this execution; nothing was sent."


def _execution(request: HttpRequest, pk: int) -> Execution:
    """The execution this action is about: 404 if the person may not see it, 403 (saying
    so) if they may see but not act on it."""
    execution = visible_execution(request, pk)
    if not roles.may_act(request.user, execution):
        raise PermissionDenied(
            f"Your roles let you read {execution.function.name} but not act on it. Ask an "
            "administrator for the operator role on it. Nothing was sent."
        )
    return execution


# ---- callbacks ------------------------------------------------------------------------


def callback_form_context(
    request: HttpRequest, execution: Execution, operation: Operation, next_url: str
) -> dict:
    """What actions/_callback_form.html needs, with a fresh one-time token."""
    can_act = roles.may_act(request.user, execution)
    approval = approvals.progress(execution, operation) if operation.is_pending_callback else None
    policy = policies.policy_for(execution, operation) if approval else None
    rules = policies.rules_of(policy) if policy else {}
    # Waiting, but no history read has given its id yet (telemetry told of it first): no
    # answer can be sent, so none is offered; its execution is read first, and the forms
    # come again (callback_forms_of) until they can show.
    reading_id = operation.is_pending_callback and not operation.callback_id
    refresh_url = ""
    if reading_id:
        schedule.want_callback_ids([operation])
        refresh_url = (
            reverse("actions:callback_forms_of", args=[execution.pk, operation.operation_id])
            + "?"
            + urlencode({"next": next_url})
        )
    return {
        "execution": execution,
        "operation": operation,
        "reading_id": reading_id,
        "refresh_url": refresh_url,
        "token": tokens.one_time_token(request.user) if can_act and not reading_id else "",
        "can_act": can_act,
        "next": next_url,
        "values": forms.callback_values(username=request.user.get_username()),
        "answers": answers,
        "approval": approval,
        "rules": rules,
        "instructions": policies.render_instructions(policy.instructions) if policy else "",
        # Why this person may not answer under the policy, said before they try.
        "approval_refusal": policies.refusal(request.user, execution, rules) if rules else "",
        "voted": bool(approval)
        and any(v.username == request.user.get_username() for v in approval.approvals),
    }


def _callback_context(request: HttpRequest, execution: Execution, operation: Operation) -> dict:
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    return callback_form_context(request, execution, operation, next_url)


def _callback_page(request: HttpRequest, context: dict, refused: bool = False) -> HttpResponse:
    """The callback's forms: a fragment for htmx (the panel swaps it in), else a page."""
    if is_partial(request):
        return vary_on_htmx(render(request, "actions/_callback_form.html", context))
    return vary_on_htmx(
        render(request, "actions/callback.html", context, status=400 if refused else 200)
    )


@require_GET
def callback_form(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    execution = visible_execution(request, pk)
    operation = get_object_or_404(Operation, execution=execution, callback_id=callback_id)
    return _callback_page(request, _callback_context(request, execution, operation))


@require_GET
def callback_forms_of(request: HttpRequest, pk: int, operation_id: str) -> HttpResponse:
    """A callback's forms by its operation id: what the forms of a callback whose id was
    being read poll (the forms once the id is known). Not for htmx: its operation page."""
    execution = visible_execution(request, pk)
    if not is_partial(request):
        return redirect("browser:operation", execution.pk, operation_id)
    operation = get_object_or_404(Operation, execution=execution, operation_id=operation_id)
    context = callback_form_context(request, execution, operation, next_url(request, ""))
    html = render_to_string("actions/_callback_form.html", context, request)
    if operation.callback_id:
        # The panel's line that said the id was being read, with the id (out of band).
        html += render_to_string(
            "browser/_callback_id_fact.html", {"operation": operation, "oob": True}, request
        )
    return vary_on_htmx(HttpResponse(html))


def _answer_callback(
    request: HttpRequest, pk: int, callback_id: str, form_class: type[forms.CallbackForm]
) -> HttpResponse:
    """Send one answer to a callback and go back; refused, show the forms again with the
    reason beside them and what was typed kept."""
    execution = _execution(request, pk)
    operation = Operation.objects.filter(execution=execution, callback_id=callback_id).first()
    if operation is None:
        return HttpResponse(NOT_THIS_EXECUTIONS, status=404)
    form = form_class(request.POST, user=request.user, execution=execution, operation=operation)
    result = form.submit()
    if result is not None and result.ok:
        messages.success(request, f"{result.message} ({execution.name})")
        target = next_url(request, reverse("browser:detail", args=[pk]))
        return HttpResponseClientRedirect(target) if is_partial(request) else redirect(target)
    context = _callback_context(request, execution, operation)
    context["error"] = form.refusal if result is None else result.message
    context["values"] = forms.callback_values(request.POST, request.user.get_username())
    return _callback_page(request, context, refused=True)


@require_POST
@operator_required
@recent_sign_in_required
def callback_succeed(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _answer_callback(request, pk, callback_id, forms.CallbackSuccessForm)


@require_POST
@operator_required
@recent_sign_in_required
def callback_fail(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _answer_callback(request, pk, callback_id, forms.CallbackFailureForm)


@require_POST
@operator_required
@recent_sign_in_required
def callback_heartbeat(request: HttpRequest, pk: int, callback_id: str) -> HttpResponse:
    return _answer_callback(request, pk, callback_id, forms.CallbackHeartbeatForm)


# ---- stop, pause, resume --------------------------------------------------------------


def _act_on_execution(
    request: HttpRequest, pk: int, form_class: type[forms.ExecutionForm]
) -> HttpResponse:
    """Send stop, pause or resume, then go back to the page the form was on, which shows
    the outcome as a message."""
    form = form_class(request.POST, user=request.user, execution=_execution(request, pk))
    result = form.submit()
    if result is None:
        refusal = form.refusal if form.replayed else f"Nothing was sent: {form.refusal}"
        messages.error(request, refusal)
    elif result.ok:
        messages.success(request, result.message)
    else:
        messages.error(request, result.message)
    return redirect(next_url(request, reverse("browser:detail", args=[pk])))


@require_POST
@operator_required
def stop(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_execution(request, pk, forms.StopForm)


@require_POST
@operator_required
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_execution(request, pk, forms.PauseForm)


@require_POST
@operator_required
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _act_on_execution(request, pk, forms.ResumeForm)


# What the prefilled reason of a lazily loaded form may be long at most.
FORM_REASON_CHARS = 200


@require_GET
@operator_required
def execution_form(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The stop or pause form of a needs-attention row (browser/attention.html), loaded
    when the person opens it, so that a page of many rows renders no form it is not asked
    for; it posts to actions:stop or actions:pause like every other, with a fresh one-time
    token. `?reason=` prefills its message, `?next=` is where the action returns. Asked
    for without htmx (a link followed): the execution's page, which has both actions."""
    execution = _execution(request, pk)
    if not is_partial(request):
        return redirect("browser:detail", execution.pk)
    refusal = ""
    if execution.is_terminal:
        refusal = f"It has ended since this page was loaded: there is nothing to {kind}."
    elif kind == "pause" and execution.status != "RUNNING":
        refusal = (
            f"It is {execution.status.lower()} now, not running: only a running execution "
            "can be paused."
        )
    context = {
        "execution": execution,
        "kind": kind,
        "refusal": refusal,
        "reason": request.GET.get("reason", "")[:FORM_REASON_CHARS],
        "next": next_url(request, reverse("browser:detail", args=[pk])),
        "token": "" if refusal else tokens.one_time_token(request.user),
    }
    return vary_on_htmx(render(request, "actions/_execution_form.html", context))


@require_http_methods(["GET", "POST"])
@operator_required
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting an ended execution does, and a button to confirm. POST: delete it
    on its backend and remove it from the mirror; refused, the page says why."""
    execution = _execution(request, pk)
    context = {"execution": execution, "error": "", "status": 200}
    if request.method == "POST":
        form = forms.DeleteForm(request.POST, user=request.user, execution=execution)
        result = form.submit()
        if result is None and form.replayed:
            context.update(error=form.refusal, status=409)
        elif result is None:
            context.update(error=f"Nothing was deleted: {form.refusal}", status=400)
        elif result.ok:
            messages.success(request, result.message)
            query = urlencode({"function": execution.function_id})
            return redirect(f"{reverse('browser:list')}?{query}")
        else:
            context.update(error=f"Nothing was deleted. {result.message}", status=502)
        execution.source.refresh_from_db(fields=["capabilities"])
    elif not execution.is_terminal:
        context.update(
            error=f"Only an execution that has ended can be deleted; this one is "
            f"{execution.status.lower()}.",
            status=400,
        )
    elif execution.source.capabilities.get(services.DELETE_OPERATION) is False:
        context.update(
            error=f"Nothing can be deleted here: {services.DELETE_OPERATION} is "
            "not supported by this backend.",
            status=400,
        )
    context["token"] = tokens.one_time_token(request.user)
    context["can_delete"] = execution.is_terminal and (
        execution.source.capabilities.get(services.DELETE_OPERATION) is not False
    )
    return render(request, "actions/delete_confirm.html", context, status=context.pop("status"))


# ---- start ----------------------------------------------------------------------------


def start(request: HttpRequest) -> HttpResponse:
    """The start page (anyone may look; only operators see the form), and its POST."""
    if request.method == "POST":
        return _start(request)
    again = params.integer(request.GET, "from", minimum=1)
    if again is not None:
        return _start_again_page(request, again)
    return _start_page(request, forms.StartForm(user=request.user))


def _start_again_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The start form filled in to start an execution's function again with its input
    (?from=<execution id>), to be edited before it is sent."""
    execution = Execution.objects.select_related("function").filter(pk=pk).first()
    form = forms.StartForm(user=request.user)
    if execution is not None and not scope.of_request(request).may_see(execution):
        execution = None  # outside the person's scope: as if it did not exist
    if execution is None:
        return _start_page(
            request,
            form,
            f"There is no execution #{pk} in the mirror to start again; choose a function.",
            status=404,
        )
    values, warning = services.start_again_values(execution)
    return _start_page(request, form, again=execution, values=values, warning=warning)


@require_POST
@operator_required
def start_again(request: HttpRequest, pk: int) -> HttpResponse:
    """The start-again form's POSTs (the form itself is GET start?from=<pk>):
    step=review shows the change of input as a diff and seals what it shows; step=start
    starts exactly that (anything else is reviewed again); step=edit goes back to the form
    with what was typed. Refused for a person who may not act on the old execution."""
    origin = _execution(request, pk)
    form = forms.StartAgainForm(request.POST, user=request.user, origin=origin)
    step = request.POST.get("step")
    warning = services.start_again_values(origin)[1] if origin.input_truncated else ""
    if step == "edit":
        return _start_page(request, form, again=origin, warning=warning)
    if step != "start":
        if not form.is_valid():
            return _start_page(request, form, form.refusal, 400, again=origin, warning=warning)
        return _review_page(request, form)
    result = form.submit()
    if result is None:
        if form.not_reviewed and not [f for f in form.errors if f != "reviewed"]:
            # Changed (or tampered with) since the review: shown again, to be reviewed.
            return _review_page(request, form, form.refusal, 409)
        status = 409 if form.replayed else 400
        return _start_page(request, form, form.refusal, status, again=origin, warning=warning)
    if not result.ok:
        return _start_page(request, form, result.message, 502, again=origin, warning=warning)
    messages.success(request, result.message)
    if result.execution is not None:
        return redirect("browser:detail", result.execution.pk)
    return redirect("browser:list")


def _review_page(
    request: HttpRequest, form: forms.StartAgainForm, error: str = "", status: int = 200
) -> HttpResponse:
    """What will be started, and how its input differs from the old execution's."""
    origin, data = form.origin, form.cleaned_data
    known = origin.input_payload is not None and not origin.input_truncated
    return render(
        request,
        "actions/start_review.html",
        {
            "origin": origin,
            "function": data["function"],
            "name": data["name"],
            "input": data["input"],
            "pretty": input_diff.pretty(data["input"]),
            "diff": input_diff.diff(origin.input_payload, data["input"]) if known else None,
            "seal": forms.review_seal(
                request.user, origin, data["function"], data["name"], data["input"]
            ),
            "token": tokens.one_time_token(request.user),
            "error": error,
        },
        status=status,
    )


@operator_required
def _start(request: HttpRequest) -> HttpResponse:
    form = forms.StartForm(request.POST, user=request.user)
    result = form.submit()
    if result is None:
        return _start_page(request, form, form.refusal, status=409 if form.replayed else 400)
    if not result.ok:
        return _start_page(request, form, result.message, status=502)
    messages.success(request, result.message)
    if result.execution is not None:
        return redirect("browser:detail", result.execution.pk)
    return redirect("browser:list")


def _start_page(
    request: HttpRequest,
    form: forms.StartForm,
    error: str = "",
    status: int = 200,
    *,
    again: Execution | None = None,
    values: dict[str, str] | None = None,
    warning: str = "",
) -> HttpResponse:
    # Functions known to be durable, and those registered by hand (and the one started
    # again, whatever it is known as).
    functions = Function.objects.select_related("source").filter(
        source__enabled=True, durable_config__isnull=False
    ) | Function.objects.select_related("source").filter(source__enabled=True, explicit=True)
    if again is not None:
        functions = functions | Function.objects.filter(pk=again.function_id)
    functions = forms.startable(functions, request.user)
    # Refused: what was typed is kept.
    sent = {name: form.data.get(name, "") for name in ("function", "name", "input")}
    if values is not None:
        sent = values
    can_act = roles.can_act(request.user)
    functions = functions.distinct().order_by("source__name", "name", "qualifier")
    return render(
        request,
        "actions/start.html",
        {
            "functions": functions,
            "examples": forms.example_inputs(functions) if can_act else {},
            "values": sent if form.is_bound or values is not None else {},
            "error": error,
            "again": again,
            "warning": warning,
            "token": tokens.one_time_token(request.user) if can_act else "",
            "can_act": can_act,
        },
        status=status,
    )


# ---- bulk stop ------------------------------------------------------------------------


# The set a preview showed, by person and digest, so that a confirmation refused because
# the set changed can say how (an hour: a preview left open longer just says it changed).
PREVIEW_SECONDS = 3600


def _preview_key(request: HttpRequest, digest: str) -> str:
    return f"actions:bulk-preview:{request.user.pk}:{digest}"


@require_POST
@operator_required
def bulk_stop(request: HttpRequest) -> HttpResponse:
    """Step 1: the preview (how many, the first rows, the functions and sources they span)
    with the set's digest; step 2 (confirm=yes): the job, queued with exactly that set
    frozen; or, when the set changed since the preview, the new preview saying how."""
    form = forms.BulkStopForm(request.POST, user=request.user)
    back = next_url(request, reverse("browser:list"))
    valid = form.is_valid()
    changed = form.has_error(NON_FIELD_ERRORS, "changed")
    if not valid and not changed:
        (messages.error if form.replayed else messages.warning)(request, form.refusal)
        return redirect(back)
    data = form.cleaned_data
    ids = data["targets"]
    if valid and form.confirmed:
        job = bulk.create_stop_job(
            request.user, ids, data["error_type"], data["error_message"], frozen=data["frozen"]
        )
        tasks.run_bulk_stop.delay(job.pk)
        return redirect("actions:bulk_job", job.pk)
    cache.set(_preview_key(request, data["now"]), data["frozen"], PREVIEW_SECONDS)
    before = cache.get(_preview_key(request, data.get("digest", ""))) if changed else None
    context = {
        **bulk.preview(ids),
        "ids": [] if form.by_filter else ids,
        "scope": data["scope"] or "selected",
        "filter": data["filter"],
        "digest": data["now"],
        "token": tokens.one_time_token(request.user),
        "next": back,
        "changed": form.refusal if changed else "",
        "what_changed": bulk.what_changed(before, data["frozen"]) if before else [],
        "error_type": request.POST.get("error_type") or "StoppedByOperator",
        "error_message": request.POST.get("error_message")
        or f"Bulk stop by {request.user.get_username()}",
    }
    return render(request, "actions/bulk_confirm.html", context, status=409 if changed else 200)


@require_POST
def bulk_job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a bulk job: its loop stops before the next execution (what was sent stays
    sent). For the job's owner and staff (403 for anyone else who may see it)."""
    job = visible_job(request, get_object_or_404(BulkJob, pk=pk))
    page = "actions:bulk_answer_job" if job.action != "stop" else "actions:bulk_job"
    try:
        asked = bulk.cancel(request.user, job)
    except services.ActionRefused as exc:
        raise PermissionDenied(str(exc)) from None
    if asked:
        messages.success(
            request, "Cancelled: the job stops before its next execution. What was sent stays sent."
        )
    else:
        messages.info(request, "This job had already finished or been cancelled.")
    return redirect(page, job.pk)


@require_GET
def bulk_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A bulk job's progress: the page, or (polled by htmx) the bar, until it finishes."""
    job = visible_job(request, get_object_or_404(BulkJob, pk=pk))
    page = params.integer(request.GET, "page", minimum=1)
    context = {
        "job": job,
        "results": bulk.job_results(job, page),
        "counts": bulk.job_counts(job),
        "can_cancel": not job.finished and not job.cancelled and bulk.may_cancel(request.user, job),
    }
    if not is_partial(request):
        return vary_on_htmx(render(request, "actions/bulk_job.html", context))
    if context["job"].finished:
        return vary_on_htmx(render_stop_polling(request, "actions/_bulk_progress.html", context))
    return vary_on_htmx(render(request, "actions/_bulk_progress.html", context))
