"""Invoke, as the host answers it: a durable function starts an execution at the runner
(answering at once, or with the result for RequestResponse); a plain function, or a
durable one invoked by the runner itself, runs its handler once."""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from typing import Any
from urllib.parse import quote

from aws_durable_execution_sdk_python_testing.invoker import (
    INVOCATION_MARKER_HEADER,
    create_test_lambda_context,
)

from sandbox.catalog import ACCOUNT_ID, REGION, SYNC_INVOKE_TIMEOUT_SECONDS, TERMINAL
from sandbox.functions import SampleFunction

logger = logging.getLogger("sandbox.host")


class InvokeHandling:
    """Invoke for the host's request handler (sandbox/host.py's Handler), which provides
    `_body`, `_send`, `_json`, `_error`, `_poke`, `headers` and `server`."""

    _body: Any
    _send: Any
    _json: Any
    _error: Any
    _poke: Any
    headers: Any
    server: Any

    def _invoke(self, fn: SampleFunction, qualifier: str | None) -> None:
        payload = self._body()
        if self.headers.get(INVOCATION_MARKER_HEADER) or not fn.durable:
            self._run_handler(fn, qualifier, payload)
            return
        self._start_execution(fn, qualifier, payload)

    def _run_handler(self, fn: SampleFunction, qualifier: str | None, payload: bytes) -> None:
        try:
            event = json.loads(payload or b"{}")
        except (ValueError, RecursionError) as exc:
            self._error(400, "InvalidRequestContentException", f"Could not parse payload: {exc}")
            return
        invoked = f"{fn.name}:{qualifier}" if qualifier else fn.name
        context = create_test_lambda_context(
            region=REGION, account_id=ACCOUNT_ID, function_name=invoked
        )
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        # The runner records what a durable handler returned after this answer: look then.
        invoked_arn = event.get("DurableExecutionArn") if isinstance(event, dict) else None
        poke = str(invoked_arn or "") if fn.durable else ""
        try:
            result = fn.handler(event, context)
        except Exception as exc:  # reported the way Lambda reports an unhandled error
            logger.info("function %s raised %s", fn.name, exc)
            body = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            self._json(200, body, {**headers, "X-Amz-Function-Error": "Unhandled"})
            self._poke(poke)
            return
        self._json(200, result, headers)
        self._poke(poke)

    def _start_execution(self, fn: SampleFunction, qualifier: str | None, payload: bytes) -> None:
        name = self.headers.get("X-Amz-Durable-Execution-Name") or str(uuid.uuid4())
        request = {
            "AccountId": ACCOUNT_ID,
            "FunctionName": fn.name,
            "FunctionQualifier": qualifier or "$LATEST",
            "ExecutionName": name,
            "ExecutionTimeoutSeconds": fn.execution_timeout,
            "ExecutionRetentionPeriodDays": fn.retention_days,
            "Input": payload.decode("utf-8", errors="replace") if payload else "{}",
        }
        status, headers, body = self.server.host.runner_request(
            "POST",
            "/start-durable-execution",
            json.dumps(request).encode(),
            {"Content-Type": "application/json"},
        )
        if status >= 300:
            self._send(status, body, headers)
            return
        arn = json.loads(body)["ExecutionArn"]
        self._poke(arn)
        out = {"X-Amz-Durable-Execution-Arn": arn, "X-Amz-Executed-Version": "$LATEST"}
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "Event":
            self._send(202, b"", out)
            return
        if invocation_type == "DryRun":
            self._send(204, b"", out)
            return
        # RequestResponse: like Lambda, answer with the result once the execution ends.
        self._send(200, self._await_result(arn), out)

    def _await_result(self, arn: str) -> bytes:
        deadline = time.monotonic() + SYNC_INVOKE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status, _, body = self.server.host.runner_request(
                "GET", f"/2025-12-01/durable-executions/{quote(arn, safe='')}"
            )
            if status == 200:
                data = json.loads(body)
                if data.get("Status") in TERMINAL:
                    if data.get("Status") == "SUCCEEDED":
                        return (data.get("Result") or "null").encode()
                    return json.dumps(data.get("Error") or {"Status": data["Status"]}).encode()
            time.sleep(0.2)
        return json.dumps({"Status": "RUNNING", "DurableExecutionArn": arn}).encode()
