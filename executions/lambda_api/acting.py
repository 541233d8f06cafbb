"""Acting: callbacks, stop, pause, resume, delete and start."""

from __future__ import annotations

from typing import Any

from executions.lambda_api.calls import call, clean
from executions.lambda_api.endpoint import Endpoint
from executions.lambda_api.errors import LambdaApiError


def send_callback_success(endpoint: Endpoint, callback_id: str, result: bytes) -> None:
    call(endpoint, "SendDurableExecutionCallbackSuccess", CallbackId=callback_id, Result=result)


def send_callback_failure(
    endpoint: Endpoint,
    callback_id: str,
    error_type: str,
    error_message: str,
    error_data: str | None = None,
) -> None:
    error: dict[str, Any] = {"ErrorType": error_type, "ErrorMessage": error_message}
    if error_data:
        error["ErrorData"] = error_data
    call(endpoint, "SendDurableExecutionCallbackFailure", CallbackId=callback_id, Error=error)


def send_callback_heartbeat(endpoint: Endpoint, callback_id: str) -> None:
    call(endpoint, "SendDurableExecutionCallbackHeartbeat", CallbackId=callback_id)


def stop_execution(
    endpoint: Endpoint, arn: str, error_type: str = "", error_message: str = ""
) -> dict[str, Any]:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if error_type or error_message:
        params["Error"] = {"ErrorType": error_type, "ErrorMessage": error_message}
    return clean(call(endpoint, "StopDurableExecution", **params))


# APIs that some backends lack: AWS's local runner answers UnknownOperationException.
OPTIONAL_ACTIONS = ("PauseDurableExecution", "ResumeDurableExecution", "DeleteDurableExecution")
# An execution that cannot exist (account 000000000000), so that asking changes nothing.
_PROBE_ARN = (
    "arn:aws:lambda:{region}:000000000000:function:durable-console-probe:$LATEST"
    "/durable-execution/probe/00000000-0000-0000-0000-000000000000"
)


def supports(endpoint: Endpoint, operation: str) -> bool | None:
    """Whether the backend has `operation`, asked about an execution that cannot exist: a
    backend without it answers "unknown operation", one with it "not found" or "denied".
    None when the answer tells neither (throttled, unreachable)."""
    try:
        call(endpoint, operation, DurableExecutionArn=_PROBE_ARN.format(region=endpoint.region))
    except LambdaApiError as exc:
        if exc.unsupported:
            return False
        return True if exc.permanent else None
    return True


def pause_execution(endpoint: Endpoint, arn: str, reason: str = "") -> None:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if reason:
        params["Reason"] = reason
    call(endpoint, "PauseDurableExecution", **params)


def resume_execution(endpoint: Endpoint, arn: str, reason: str = "") -> None:
    params: dict[str, Any] = {"DurableExecutionArn": arn}
    if reason:
        params["Reason"] = reason
    call(endpoint, "ResumeDurableExecution", **params)


def delete_execution(endpoint: Endpoint, arn: str) -> dict[str, Any]:
    """DeleteDurableExecution (DELETE .../durable-executions/{arn}, botocore 1.44.5): the
    service refuses it for an execution that has not ended (ResourceConflictException) and
    answers 202 with `DeletionRequestTimestamp`; the execution is DELETING, then gone."""
    return clean(call(endpoint, "DeleteDurableExecution", DurableExecutionArn=arn))


def start_execution(
    endpoint: Endpoint, function_name: str, qualifier: str, name: str, payload: bytes
) -> str:
    """Invoke a durable function asynchronously with DurableExecutionName; return the ARN."""
    params: dict[str, Any] = {
        "FunctionName": function_name,
        "InvocationType": "Event",
        "DurableExecutionName": name,
        "Payload": payload,
    }
    if qualifier:
        params["Qualifier"] = qualifier
    response = call(endpoint, "Invoke", **params)
    arn = response.get("DurableExecutionArn")
    if not arn:
        raise LambdaApiError(
            f"{function_name} did not start a durable execution (is it a durable function?)",
            operation="Invoke",
            permanent=True,
        )
    return arn
