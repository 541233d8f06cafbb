"""The API's actions: answer a callback, stop / pause / resume, start and start again, and
bulk jobs. Each goes the way the pages' buttons go: the token must have the act scope
(api/auth.require_act), the person may act on the execution (access/roles.may_act: 404
outside their scope, 403 inside it without the role), the input is checked by the same
forms (actions/forms.py), and the same services send it (actions/approvals.py applies
the callback's approval policy). An Idempotency-Key makes a retry safe
(api/idempotency.py).
"""

import json
from typing import Annotated, Any

from django.http import HttpRequest, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404
from ninja import Path, Schema

from access import roles, scope
from actions import approvals as held_approvals
from actions import bulk, forms, services, tasks
from actions.services import ActionResult
from api import errors, schemas
from api.auth import require_act, token_of
from api.errors import ApiError, ErrorOut
from api.idempotency import idempotent
from api.read import MAX_ID, ExecutionId, approval_out, execution_ref, only
from api.routes import ACT, READ, router
from domain import answers
from executions.models import BulkJob, Execution, Function, Operation
from web.converters import CALLBACK_ID
from web.shortcuts import visible_execution, visible_job

ERRORS = {s: ErrorOut for s in (400, 401, 403, 404, 409, 413, 422, 429, 502)}
CallbackId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=1024,
        pattern=rf"^{CALLBACK_ID}$",
        description="The callback's id (callback_id in /callbacks).",
    ),
]


def _acting_on(request: HttpRequest, pk: int) -> Execution:
    """The execution this action is about: the token must act, the execution be visible
    (else 404) and its function the person's to act on (else 403)."""
    require_act(request)
    execution = visible_execution(request, pk)
    if not roles.may_act(request.user, execution):
        raise ApiError(
            403,
            "forbidden",
            f"Your roles let you read {execution.function.name} but not act on it; "
            "nothing was done.",
        )
    return execution


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _submit(form: forms.ActionForm, fields: dict[str, str] | None = None) -> ActionResult:
    """Run an action form as the API: no one-time token (Idempotency-Key stands for it);
    a refusal becomes the API's error, the backend's refusal a 502."""
    form.checks_token = False
    result = form.submit()
    if result is None:
        raise errors.from_form(form, fields)
    if not result.ok:
        raise ApiError(502, "backend_refused", result.message)
    return result


def _done(result: ActionResult, execution: Execution | None, status: int = 200) -> JsonResponse:
    if execution is not None and execution.pk:
        execution = (
            Execution.objects.select_related("function", "source").filter(pk=execution.pk).first()
        )
    body = {
        "outcome": "held" if result.held else "sent",
        "message": result.message,
        "audit_id": result.audit.pk if result.audit else None,
        "execution": execution_ref(execution) if execution is not None else None,
        "approval": None,
    }
    return schemas.reply(schemas.ActionOut(**body), status)


def _callback(execution: Execution, callback_id: str) -> Operation:
    operation = Operation.objects.filter(execution=execution, callback_id=callback_id).first()
    if operation is None:
        raise ApiError(404, "not_found", "This execution has no callback with this id.")
    return operation


def _with_approval(reply: JsonResponse, execution: Execution, operation: Operation) -> JsonResponse:
    progress = held_approvals.progress(execution, operation)
    if progress is None:
        return reply
    body = json.loads(reply.content)
    body["approval"] = approval_out(progress)
    return JsonResponse(body, status=reply.status_code)


@router.post(
    "/executions/{pk}/callbacks/{callback:callback_id}/succeed",
    tags=ACT,
    summary=f"{answers.APPROVE.verb} a callback (sends {answers.APPROVE.kind})",
    response={200: schemas.ActionOut, **ERRORS},
)
@idempotent
def succeed(
    request: HttpRequest, pk: ExecutionId, callback_id: CallbackId, body: schemas.Succeed
) -> JsonResponse:
    """Approve: sends success with the result (any JSON up to 1 MB; the pages offer
    `{"approved": true}`). Under an approval policy the answer may be held until enough
    people approve (`outcome: held`)."""
    execution = _acting_on(request, pk)
    operation = _callback(execution, callback_id)
    form = forms.CallbackSuccessForm(
        {"result": _json_text(body.result), "reason": body.reason},
        user=request.user,
        execution=execution,
        operation=operation,
    )
    result = _submit(form)
    return _with_approval(_done(result, execution), execution, operation)


@router.post(
    "/executions/{pk}/callbacks/{callback:callback_id}/fail",
    tags=ACT,
    summary=f"{answers.REJECT.verb} a callback (sends {answers.REJECT.kind})",
    response={200: schemas.ActionOut, **ERRORS},
)
@idempotent
def fail(
    request: HttpRequest, pk: ExecutionId, callback_id: CallbackId, body: schemas.Fail
) -> JsonResponse:
    """Reject: sends failure with the error (type, message, and data as any JSON)."""
    execution = _acting_on(request, pk)
    operation = _callback(execution, callback_id)
    data = "" if body.error_data is None else _json_text(body.error_data)
    form = forms.CallbackFailureForm(
        {
            "error_type": body.error_type,
            "error_message": body.error_message,
            "error_data": data,
            "reason": body.reason,
        },
        user=request.user,
        execution=execution,
        operation=operation,
    )
    result = _submit(form)
    return _with_approval(_done(result, execution), execution, operation)


@router.post(
    "/executions/{pk}/callbacks/{callback:callback_id}/heartbeat",
    tags=ACT,
    summary=f"{answers.EXTEND.verb} a callback (sends {answers.EXTEND.kind})",
    response={200: schemas.ActionOut, **ERRORS},
)
@idempotent
def heartbeat(
    request: HttpRequest, pk: ExecutionId, callback_id: CallbackId, body: schemas.Heartbeat
) -> JsonResponse:
    """Extend (heartbeat): sends a heartbeat, so the callback keeps waiting and its
    heartbeat timeout starts again."""
    execution = _acting_on(request, pk)
    operation = _callback(execution, callback_id)
    form = forms.CallbackHeartbeatForm(
        {}, user=request.user, execution=execution, operation=operation
    )
    return _done(_submit(form), execution)


@router.post("/executions/{pk}/stop", tags=ACT, response={200: schemas.ActionOut, **ERRORS})
@idempotent
def stop(request: HttpRequest, pk: ExecutionId, body: schemas.Stop) -> JsonResponse:
    """Stop a running execution (with an optional error type and message)."""
    execution = _acting_on(request, pk)
    form = forms.StopForm(
        {"error_type": body.error_type, "error_message": body.error_message},
        user=request.user,
        execution=execution,
    )
    return _done(_submit(form), execution)


@router.post("/executions/{pk}/pause", tags=ACT, response={200: schemas.ActionOut, **ERRORS})
@idempotent
def pause(request: HttpRequest, pk: ExecutionId, body: schemas.Reason) -> JsonResponse:
    """Pause a running execution, where the backend supports it."""
    execution = _acting_on(request, pk)
    form = forms.PauseForm({"reason": body.reason}, user=request.user, execution=execution)
    return _done(_submit(form), execution)


@router.post("/executions/{pk}/resume", tags=ACT, response={200: schemas.ActionOut, **ERRORS})
@idempotent
def resume(request: HttpRequest, pk: ExecutionId, body: schemas.Reason) -> JsonResponse:
    """Resume a paused execution."""
    execution = _acting_on(request, pk)
    form = forms.ResumeForm({"reason": body.reason}, user=request.user, execution=execution)
    return _done(_submit(form), execution)


START_FIELDS = {"function": "function_id"}


def _start(
    request: HttpRequest,
    function_id: int,
    name: str,
    input_text: str,
    started_from: Execution | None = None,
) -> JsonResponse:
    visible = scope.of_request(request).functions(Function.objects.filter(pk=function_id))
    function = visible.first()
    if function is not None and not roles.may_act_on(request.user, function.pk):
        raise ApiError(
            403,
            "forbidden",
            f"Your roles let you read {function.name} but not start it; nothing was done.",
            "function_id",
        )
    form = forms.StartForm(
        {"function": str(function_id), "name": name, "input": input_text},
        user=request.user,
        started_from=started_from,
    )
    result = _submit(form, START_FIELDS)
    return _done(result, result.execution, status=201)


@router.post("/executions", tags=ACT, response={201: schemas.ActionOut, **ERRORS})
@idempotent
def start(request: HttpRequest, body: schemas.Start) -> JsonResponse:
    """Start an execution of a function (its id: `function_id` of an execution, or the
    console's functions page) with a name and an input."""
    require_act(request)
    return _start(request, body.function_id, body.name, _json_text(body.input))


@router.post("/executions/{pk}/start-again", tags=ACT, response={201: schemas.ActionOut, **ERRORS})
@idempotent
def start_again(request: HttpRequest, pk: ExecutionId, body: schemas.StartAgain) -> JsonResponse:
    """Start the execution's function again, with its input (or the `input` given)."""
    execution = _acting_on(request, pk)
    values, warning = services.start_again_values(execution)
    if body.input is not None:
        input_text = _json_text(body.input)
    elif warning and execution.input_truncated:
        raise ApiError(409, "input_unavailable", warning, "input")
    else:
        input_text = execution.input_payload or "{}"
    return _start(
        request, execution.function_id, body.name or values["name"], input_text, execution
    )


# ---- bulk -----------------------------------------------------------------------------


def _job_out(job: BulkJob, dry_run: bool = False) -> dict[str, Any]:
    return {
        "id": job.pk or 0,
        "action": job.action,
        "total": job.total,
        "done": job.done,
        "finished": job.finished,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "failures": job.failures,
        "skipped": job.skipped,
        "cancelled": job.cancelled,
        "cancelled_by": job.cancelled_by,
        "execution_ids": job.execution_ids,
        "dry_run": dry_run,
    }


def _bulk_form_data(body: schemas.BulkIn) -> QueryDict:
    data = QueryDict(mutable=True)
    data.update({"error_type": body.error_type, "error_message": body.error_message})
    if body.dry_run:
        data["confirm"] = ""
    else:
        data["confirm"] = "yes"
    if body.filter is not None:
        data["scope"] = "filter"
        query = QueryDict(mutable=True)
        for name, value in body.filter.model_dump(by_alias=True).items():
            if isinstance(value, list):
                query.setlist(name, [str(v) for v in value])
            elif value not in (None, ""):
                query[name] = str(value)
        data["filter"] = query.urlencode()
    else:
        data.setlist("ids", [str(pk) for pk in body.ids or []])
    return data


@router.post(
    "/bulk-jobs", tags=ACT, response={201: schemas.BulkJobOut, 200: schemas.BulkJobOut, **ERRORS}
)
@idempotent
def create_bulk_job(request: HttpRequest, body: schemas.BulkIn) -> JsonResponse:
    """Stop many running executions: `ids`, or every running one that matches `filter`
    (the list's filters) and that the token's user may act on. `dry_run`: say how many and
    which, and do nothing. The job runs in the background; follow it at /bulk-jobs/{id}."""
    require_act(request)
    if (body.ids is None) == (body.filter is None):
        raise ApiError(422, "invalid", "Name the executions by `ids` or by `filter` (one).", "ids")
    form = forms.BulkStopForm(_bulk_form_data(body), user=request.user)
    form.checks_token = False
    # The request names its set itself, and the answer lists it; there is no preview page
    # whose digest it would carry.
    form.needs_digest = False
    if not form.is_valid():
        raise errors.from_form(form)
    ids = form.cleaned_data["targets"]
    if body.dry_run:
        job = BulkJob(action="stop", total=len(ids), execution_ids=ids)
        return schemas.reply(schemas.BulkJobOut(**_job_out(job, dry_run=True)), 200)
    job = bulk.create_stop_job(
        request.user,
        ids,
        form.cleaned_data["error_type"],
        form.cleaned_data["error_message"],
        via=f"API token “{token_of(request).name}”",
        frozen=form.cleaned_data["frozen"],
    )
    tasks.run_bulk_stop.delay(job.pk)
    return schemas.reply(schemas.BulkJobOut(**_job_out(job)), 201)


@router.get("/bulk-jobs/{pk}", tags=READ, response={200: schemas.BulkJobOut, **ERRORS})
def get_bulk_job(request: HttpRequest, pk: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
    """A bulk job's progress: how many done, and each failure with its reason."""
    only(request, Schema)
    job = visible_job(request, get_object_or_404(BulkJob, pk=pk))
    return _job_out(job)


@router.post("/bulk-jobs/{pk}/cancel", tags=ACT, response={200: schemas.BulkJobOut, **ERRORS})
def cancel_bulk_job(
    request: HttpRequest, pk: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> JsonResponse:
    """Cancel a bulk job: it stops before its next execution; what was sent stays sent.
    For the job's owner and staff. Cancelling a job that has finished (or was cancelled
    already) changes nothing and answers the job as it is."""
    require_act(request)
    job = visible_job(request, get_object_or_404(BulkJob, pk=pk))
    try:
        bulk.cancel(request.user, job)
    except services.ActionRefused as exc:
        raise ApiError(403, exc.code, str(exc)) from None
    job.refresh_from_db()
    return schemas.reply(schemas.BulkJobOut(**_job_out(job)), 200)
