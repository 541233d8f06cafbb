"""Operator actions: audit, call the API, re-sync.

The input arrives clean: the forms (actions/forms.py, with the service's limits in
actions/validation.py) are the one place that says what valid input is. Every action then
follows the same path:
1. check that the action still applies (the callback still waits, the execution still
   runs); a refusal raises `ActionRefused` and nothing is sent or audited;
2. write an AuditEntry (outcome PENDING) *before* the call;
3. call the endpoint through lambda_api;
4. complete the entry with the outcome and the backend's error, if any;
5. re-sync the execution at once, so the page shows its new state.

Who may act, and the one-time tokens that make a form send once, are in actions/roles.py;
the forms that carry these calls' input are in actions/forms.py.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from domain import answers
from executions import lambda_api, schedule, sync
from executions.lambda_api import Endpoint, LambdaApiError
from executions.models import (
    AuditEntry,
    AuditOutcome,
    Execution,
    Function,
    Operation,
    Source,
)


class ActionRefused(Exception):
    """The input is wrong or the action no longer applies; nothing was sent. `code` says
    which, for the API (api/errors.py): `not_waiting` (the callback no longer waits),
    `ended` (the execution has ended), `forbidden` (not this person's to do, by role or
    policy), `reason_required`, `unsupported` (the backend lacks it), `id_not_read` (the
    callback's id, which only its history has, is not read yet), `refused`."""

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ActionResult:
    ok: bool
    message: str
    audit: AuditEntry | None = None
    execution: Execution | None = None
    # An approval a policy holds for more approvers: nothing was sent yet.
    held: bool = False


# ---- what may be acted on -------------------------------------------------------------


def pending_callback(execution: Execution, callback_id: str) -> Operation:
    """The execution's callback with this id, if it still waits (else ActionRefused)."""
    operation = (
        Operation.objects.filter(execution=execution, callback_id=callback_id).first()
        if callback_id
        else None
    )
    if operation is None:
        raise ActionRefused("This callback does not belong to this execution.", "not_found")
    return answerable(execution, operation)


def answerable(execution: Execution, operation: Operation) -> Operation:
    """The callback, if it still waits and its id is known; else ActionRefused. One that
    telemetry told of before a history read gave its id (which an answer is sent with)
    cannot be answered yet: its execution is read first, so a try in seconds goes."""
    if not operation.is_pending_callback or execution.is_terminal:
        raise ActionRefused(
            f"This callback is no longer pending (it is {operation.status.lower()}); "
            "nothing was sent.",
            "not_waiting",
        )
    if not operation.callback_id:
        schedule.want_callback_ids([operation])
        raise ActionRefused(answers.ID_NOT_READ, "id_not_read")
    return operation


# ---- the audited call -----------------------------------------------------------------


def _perform(
    user: Any,
    action: str,
    source: Source,
    call: Any,
    *,
    execution: Execution | None = None,
    arn: str = "",
    callback_id: str = "",
    payload: str = "",
    success: str,
    reason: str = "",
) -> ActionResult:
    entry = AuditEntry.objects.create(
        reason=reason,
        user=user if getattr(user, "pk", None) else None,
        username=getattr(user, "username", "") or "system",
        action=action,
        source=source,
        source_name=source.name,
        execution_arn=arn or (execution.arn if execution else ""),
        callback_id=callback_id,
        payload=payload,
    )
    try:
        value = call(Endpoint.of(source))
    except LambdaApiError as exc:
        if exc.unsupported and exc.operation:
            # Remembered: the pages stop offering what this backend lacks.
            sync.remember_capabilities(source, {exc.operation: False})
        entry.outcome = AuditOutcome.FAILED
        entry.error = str(exc)
        entry.completed_at = timezone.now()
        entry.save(update_fields=["outcome", "error", "completed_at"])
        return ActionResult(False, f"The backend refused it: {exc}", entry)
    entry.outcome = AuditOutcome.SUCCEEDED
    entry.completed_at = timezone.now()
    if isinstance(value, str) and value and not entry.execution_arn:
        entry.execution_arn = value  # a start: the ARN of the new execution
    entry.save(update_fields=["outcome", "completed_at", "execution_arn"])
    if execution is not None:
        resync(execution)
    return ActionResult(True, success, entry)


def resync(execution: Execution) -> None:
    """Read the execution again now, first in the scheduler's queue too; a web request
    waits at most a couple of seconds for the call budget, and whatever it cannot read
    now the scheduler reads next."""
    schedule.urgent([execution.pk])
    with lambda_api.budget_wait(2):
        sync.sync_execution(execution.pk, force=True)


def callback_success(
    user: Any, execution: Execution, callback_id: str, result: str, reason: str = ""
) -> ActionResult:
    data = result.encode()
    pending_callback(execution, callback_id)
    return _perform(
        user,
        answers.APPROVE.action,
        execution.source,
        lambda ep: lambda_api.send_callback_success(ep, callback_id, data),
        execution=execution,
        callback_id=callback_id,
        payload=data.decode(),
        success=answers.APPROVE.message,
        reason=reason,
    )


def callback_failure(
    user: Any,
    execution: Execution,
    callback_id: str,
    error_type: str,
    error_message: str,
    error_data: str = "",
    reason: str = "",
) -> ActionResult:
    data = error_data or ""
    pending_callback(execution, callback_id)
    return _perform(
        user,
        answers.REJECT.action,
        execution.source,
        lambda ep: lambda_api.send_callback_failure(
            ep, callback_id, error_type, error_message, data or None
        ),
        execution=execution,
        callback_id=callback_id,
        payload=json.dumps(
            {"ErrorType": error_type, "ErrorMessage": error_message, "ErrorData": data}
        ),
        success=answers.REJECT.message,
        reason=reason,
    )


def callback_heartbeat(user: Any, execution: Execution, callback_id: str) -> ActionResult:
    pending_callback(execution, callback_id)
    return _perform(
        user,
        answers.EXTEND.action,
        execution.source,
        lambda ep: lambda_api.send_callback_heartbeat(ep, callback_id),
        execution=execution,
        callback_id=callback_id,
        success=answers.EXTEND.message,
    )


def stop(
    user: Any,
    execution: Execution,
    error_type: str = "",
    error_message: str = "",
    reason: str = "",
) -> ActionResult:
    if execution.is_terminal:
        raise ActionRefused(f"The execution already ended ({execution.status.lower()}).", "ended")
    return _perform(
        user,
        "stop",
        execution.source,
        lambda ep: lambda_api.stop_execution(ep, execution.arn, error_type, error_message),
        execution=execution,
        payload=json.dumps({"ErrorType": error_type, "ErrorMessage": error_message}),
        success="Stop sent.",
        reason=reason,
    )


def _pause_or_resume(
    user: Any, execution: Execution, action: str, call: Any, reason: str, why: str = ""
) -> ActionResult:
    if execution.is_terminal:
        raise ActionRefused(f"The execution already ended ({execution.status.lower()}).", "ended")
    return _perform(
        user,
        action,
        execution.source,
        lambda ep: call(ep, execution.arn, reason),
        execution=execution,
        payload=reason,
        success=f"{action.capitalize()} sent.",
        reason=why,
    )


def pause(user: Any, execution: Execution, reason: str = "", why: str = "") -> ActionResult:
    """`reason` goes to the backend with the pause; `why` to the audit log."""
    return _pause_or_resume(user, execution, "pause", lambda_api.pause_execution, reason, why)


def resume(user: Any, execution: Execution, reason: str = "") -> ActionResult:
    return _pause_or_resume(user, execution, "resume", lambda_api.resume_execution, reason)


def start(
    user: Any,
    function: Function,
    name: str,
    input_text: str,
    started_from: Execution | None = None,
) -> ActionResult:
    """Start an execution; `started_from`: started again from that one (the new execution
    records it, and both pages link to each other)."""
    data = input_text.encode()
    result = _perform(
        user,
        "start",
        function.source,
        lambda ep: lambda_api.start_execution(ep, function.name, function.qualifier, name, data),
        payload=data.decode(),
        success=f"Started {name}.",
    )
    if result.ok and result.audit and result.audit.execution_arn:
        try:
            result.execution = sync.sync_arn(function.source, result.audit.execution_arn)
        except LambdaApiError:
            pass  # the next poll of the source lists it
        if started_from is not None:
            result.execution = _link(result, function, name, started_from)
    return result


def _link(
    result: ActionResult, function: Function, name: str, started_from: Execution
) -> Execution:
    """Record on the new execution that it was started again from `started_from`. Not yet
    mirrored (the read after the start failed), its row is inserted now, as a listing
    would insert it, so that the link is not lost; the scheduler reads the rest."""
    arn = result.audit.execution_arn  # type: ignore[union-attr]
    execution = result.execution
    if execution is None:
        execution, _ = Execution.objects.insert_once(
            arn,
            name=name,
            source_id=function.source_id,
            function=function,
            qualifier=function.qualifier,
            started_at=result.audit.created_at,  # type: ignore[union-attr]
            status="RUNNING",
        )
    Execution.objects.filter(pk=execution.pk).update(started_from=started_from)
    execution.started_from = started_from
    return execution


# ---- delete, start again --------------------------------------------------------------

DELETE_OPERATION = "DeleteDurableExecution"


def delete(user: Any, execution: Execution) -> ActionResult:
    """Delete an execution that has ended on its backend, then remove it from the mirror.

    The mirror removes the row (its events and operations with it) rather than keep a
    tombstone: the person asked for it to be gone, and a deleted execution has nothing
    left to open on the backend either. The audit entry keeps its ARN, who deleted it and
    when. Refused when the backend is known to lack DeleteDurableExecution; a backend that
    answers "unknown operation" is remembered as lacking it (in _perform)."""
    if not execution.is_terminal:
        raise ActionRefused(
            f"Only an execution that has ended can be deleted; this one is "
            f"{execution.status.lower()}. Stop it first.",
            "running",
        )
    if execution.source.capabilities.get(DELETE_OPERATION) is False:
        raise ActionRefused(f"{DELETE_OPERATION} is not supported by this backend.", "unsupported")
    result = _perform(
        user,
        "delete",
        execution.source,
        lambda ep: lambda_api.delete_execution(ep, execution.arn),
        arn=execution.arn,
        payload=json.dumps({"name": execution.name, "function": execution.function.name}),
        success=(
            f"Deleted {execution.name} on the backend and removed it from the mirror "
            "(the audit log keeps the record)."
        ),
    )
    if result.ok:
        Execution.objects.filter(pk=execution.pk).delete()
    return result


def start_again_values(execution: Execution) -> tuple[dict[str, str], str]:
    """The start form's values to start `execution`'s function again with its input (laid
    out as JSON to be edited), and a warning when that input cannot be reused whole."""
    name = f"{execution.name[:50]}-again-{uuid.uuid4().hex[:6]}"
    values = {"function": str(execution.function_id), "name": name, "input": ""}
    if execution.input_truncated:
        return values, (
            f"The input of {execution.name} was cut short by the API when it was read, so it "
            "is not filled in: paste the whole input, or start with another."
        )
    text = execution.input_payload
    if text is None:
        return values, f"No input of {execution.name} is recorded; it is started with {{}}."
    try:
        values["input"] = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        values["input"] = text  # kept as it was sent; the form says what is wrong with it
    return values, ""
