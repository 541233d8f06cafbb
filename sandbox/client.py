"""Driving the sandbox from outside, as a Lambda user would with boto3.

Used by the demo seeding and by the tests that play the part of an external system
(sending callbacks, starting executions). The console itself never imports this: it
talks to Lambda endpoints only through the executions/lambda_api/ package.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from sandbox.catalog import REGION, TERMINAL
from sandbox.runner import SANDBOX_CREDENTIALS

CALLBACK_DONE = {"CallbackSucceeded", "CallbackFailed", "CallbackTimedOut"}


def lambda_client(endpoint_url: str) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=SANDBOX_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SANDBOX_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        # A harness polls hard; on a throttling sandbox it waits its turn like any client.
        config=Config(retries={"max_attempts": 10, "mode": "standard"}),
    )


def start(client: Any, function: str, payload: Any = None, name: str | None = None) -> str:
    """Start a durable execution (Invoke with DurableExecutionName) and return its ARN."""
    kwargs: dict[str, Any] = {
        "FunctionName": function,
        "InvocationType": "Event",
        "Payload": json.dumps(payload if payload is not None else {}),
    }
    if name:
        kwargs["DurableExecutionName"] = name
    return client.invoke(**kwargs)["DurableExecutionArn"]


def history(client: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "DurableExecutionArn": arn,
        "IncludeExecutionData": True,
        "MaxItems": 1000,
    }
    while True:
        page = client.get_durable_execution_history(**kwargs)
        events.extend(page.get("Events", []))
        if not page.get("NextMarker"):
            return events
        kwargs["Marker"] = page["NextMarker"]


def pending_callbacks(client: Any, arn: str) -> list[dict[str, Any]]:
    """The CallbackStarted events of callbacks that have not completed yet."""
    started: dict[str, dict[str, Any]] = {}
    for event in history(client, arn):
        if event["EventType"] == "CallbackStarted":
            started[event["Id"]] = event
        elif event["EventType"] in CALLBACK_DONE:
            started.pop(event["Id"], None)
    return list(started.values())


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.2, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def wait_for_callback(client: Any, arn: str, name: str | None = None, timeout: float = 60) -> str:
    """Wait until the execution has a pending callback (by operation name) and return its id."""

    def find() -> str | None:
        for event in pending_callbacks(client, arn):
            if name is None or (event.get("Name") or "").startswith(name):
                return event["CallbackStartedDetails"]["CallbackId"]
        return None

    return wait_for(find, timeout, what=f"a pending callback {name or ''} on {arn}")


def wait_for_status(
    client: Any, arn: str, statuses: set[str] | None = None, timeout: float = 90
) -> dict[str, Any]:
    wanted = statuses or TERMINAL

    def check() -> dict[str, Any] | None:
        execution = client.get_durable_execution(DurableExecutionArn=arn)
        return execution if execution["Status"] in wanted else None

    return wait_for(check, timeout, what=f"{arn} to reach {sorted(wanted)}")


def wait_for_event(client: Any, arn: str, event_type: str, timeout: float = 60) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((e for e in history(client, arn) if e["EventType"] == event_type), None)

    return wait_for(find, timeout, what=f"{event_type} in {arn}")


def quotas(endpoint_url: str, **settings: Any) -> dict[str, Any]:
    """The sandbox's quotas and the calls and throttles it counted per account and API
    (GET /_sandbox/quotas); with settings (enabled, rates, burst_seconds, inject, reset),
    change them first."""
    request = urllib.request.Request(
        f"{endpoint_url}/_sandbox/quotas",
        data=json.dumps(settings).encode() if settings else None,
        method="POST" if settings else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def per_second(snapshot: dict[str, Any], api: str, account: str = "unsigned") -> dict[int, int]:
    """Calls admitted in each second, for one API and account of a quotas() snapshot."""
    counts = snapshot["accounts"].get(account, {}).get(api, {})
    return {second: n for second, n in counts.get("per_second", [])}
