"""The sandbox behaves like a Lambda endpoint that serves real durable executions."""

from __future__ import annotations

import json
import uuid

import botocore.exceptions
import pytest

from sandbox.client import (
    history,
    start,
    wait_for,
    wait_for_callback,
    wait_for_event,
    wait_for_status,
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _event_types(events: list[dict]) -> list[tuple[str, str | None, str | None]]:
    return [
        (e["EventType"], e.get("SubType"), e.get("Name"))
        for e in events
        if e["EventType"] != "InvocationCompleted"
    ]


def test_list_functions_reports_durable_config_for_durable_samples_only(lambda_sandbox):
    functions = {f["FunctionName"]: f for f in lambda_sandbox.list_functions()["Functions"]}
    durable = {name for name, f in functions.items() if "DurableConfig" in f}
    assert durable == {
        "approval-rounds",
        "bulk-ledger",
        "echo-steps",
        "order-processor",
        "durable-function-example",
        "fraud-detection",
        "coffee-order",
        "payment-retrier",
    }
    assert set(functions) - durable == {"order-enricher", "hello-world"}
    assert functions["order-processor"]["DurableConfig"]["RetentionPeriodInDays"] == 7


def test_invoke_returns_the_execution_arn_and_lists_it_under_its_function(lambda_sandbox):
    name = _unique("order")
    arn = start(lambda_sandbox, "order-processor", {"orderId": "ORDER-1"}, name)
    assert arn
    # Every page of the listing: the session's sandbox holds hundreds of runs by now, and a
    # page is not ordered newest first.
    names = set()
    for page in lambda_sandbox.get_paginator("list_durable_executions_by_function").paginate(
        FunctionName="order-processor"
    ):
        names |= {e["DurableExecutionName"] for e in page["DurableExecutions"]}
    assert name in names
    wait_for_status(lambda_sandbox, arn)


def test_order_processor_validates_enriches_through_an_invoke_waits_and_finalizes(lambda_sandbox):
    arn = start(lambda_sandbox, "order-processor", {"orderId": "ORDER-7"}, _unique("order"))
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"])["finalResult"]["status"] == "COMPLETED"
    events = history(lambda_sandbox, arn)
    assert _event_types(events) == [
        ("ExecutionStarted", None, _name(events)),
        ("StepStarted", "Step", "validate-order"),
        ("StepSucceeded", "Step", "validate-order"),
        ("ChainedInvokeStarted", "ChainedInvoke", "enrich-order"),
        ("ChainedInvokeSucceeded", "ChainedInvoke", "enrich-order"),
        ("WaitStarted", "Wait", "wait-before-finalize"),
        ("WaitSucceeded", "Wait", "wait-before-finalize"),
        ("StepStarted", "Step", "finalize-order"),
        ("StepSucceeded", "Step", "finalize-order"),
        ("ExecutionSucceeded", None, _name(events)),
    ]
    invoke = next(e for e in events if e["EventType"] == "ChainedInvokeStarted")
    assert invoke["ChainedInvokeStartedDetails"]["FunctionName"] == "order-enricher"
    wait = next(e for e in events if e["EventType"] == "WaitStarted")
    assert wait["WaitStartedDetails"]["Duration"] == 2


def _name(events: list[dict]) -> str:
    return events[0]["Name"]


def test_order_processor_fails_with_a_clear_error_for_an_invalid_order(lambda_sandbox):
    arn = start(lambda_sandbox, "order-processor", {"customer": "x"}, _unique("bad-order"))
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "FAILED"
    assert "orderId is required" in execution["Error"]["ErrorMessage"]


def test_durable_function_example_runs_every_operation_in_order(lambda_sandbox):
    arn = start(lambda_sandbox, "durable-function-example", {"workflowId": "t"}, _unique("dfe"))
    callback_id = wait_for_callback(lambda_sandbox, arn, "waitForExternalApproval")
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"approved": True})
    )
    execution = wait_for_status(lambda_sandbox, arn, timeout=120)
    assert execution["Status"] == "SUCCEEDED", execution.get("Error")
    events = history(lambda_sandbox, arn)
    top_level = [
        (e.get("SubType"), e.get("Name"))
        for e in events
        if e["EventType"].endswith("Started") and not e.get("ParentId") and e.get("SubType")
    ]
    # wait_for_condition polls three times: one StepStarted per attempt.
    assert _dedupe(top_level) == [
        ("Step", "processInputData"),
        ("WaitForCallback", "waitForExternalApproval"),
        ("Wait", "simpleWait"),
        ("Parallel", "parallelOperations"),
        ("Map", "mapWorkItems"),
        ("WaitForCondition", "waitForSystemReady"),
        ("ChainedInvoke", "invokeHelloWorld"),
        ("RunInChildContext", "isolatedContext"),
        ("Step", "aggregateResults"),
    ]
    by_name = {e.get("Name"): e for e in events if e["EventType"].endswith("Started")}
    assert by_name["simpleWait"]["WaitStartedDetails"]["Duration"] == 5
    branches = [
        e
        for e in events
        if e.get("SubType") == "ParallelBranch" and e["EventType"] == "ContextStarted"
    ]
    assert len(branches) == 3
    assert {b["ParentId"] for b in branches} == {by_name["parallelOperations"]["Id"]}
    iterations = [
        e
        for e in events
        if e.get("SubType") == "MapIteration" and e["EventType"] == "ContextStarted"
    ]
    assert len(iterations) == 5
    polls = [
        e
        for e in events
        if e.get("Name") == "waitForSystemReady" and e["EventType"] == "StepStarted"
    ]
    assert len(polls) == 3
    child_steps = [
        e["Name"]
        for e in events
        if e.get("ParentId") == by_name["isolatedContext"]["Id"] and e["EventType"] == "StepStarted"
    ]
    assert child_steps == ["loadMetadata", "validateConfig"]
    assert (
        by_name["invokeHelloWorld"]["ChainedInvokeStartedDetails"]["FunctionName"] == "hello-world"
    )


def _dedupe(pairs: list) -> list:
    out: list = []
    for pair in pairs:
        if not out or out[-1] != pair:
            out.append(pair)
    return out


def test_fraud_detection_retries_scoring_and_approves_low_risk_automatically(lambda_sandbox):
    arn = start(
        lambda_sandbox, "fraud-detection", {"transactionId": "t1", "amount": 50}, _unique("txn")
    )
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"])["decision"]["by"] == "auto"
    failures = [e for e in history(lambda_sandbox, arn) if e["EventType"] == "StepFailed"]
    assert len(failures) == 1
    retry = failures[0]["StepFailedDetails"]["RetryDetails"]
    assert retry["CurrentAttempt"] == 1 and retry["NextAttemptDelaySeconds"] >= 1


def test_fraud_detection_blocks_high_risk_with_a_clear_error(lambda_sandbox):
    arn = start(
        lambda_sandbox, "fraud-detection", {"transactionId": "t2", "amount": 50000}, _unique("txn")
    )
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "FAILED"
    assert "blocked" in execution["Error"]["ErrorMessage"]


def test_fraud_detection_waits_for_a_human_on_medium_risk(lambda_sandbox):
    arn = start(
        lambda_sandbox, "fraud-detection", {"transactionId": "t3", "amount": 4000}, _unique("txn")
    )
    callback_id = wait_for_callback(lambda_sandbox, arn, "humanVerification")
    lambda_sandbox.send_durable_execution_callback_failure(
        CallbackId=callback_id, Error={"ErrorType": "Rejected", "ErrorMessage": "stolen card"}
    )
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "FAILED"


def test_coffee_order_succeeds_once_both_callbacks_are_sent(lambda_sandbox):
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "c1"}, _unique("coffee"))
    accept = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=accept, Result=json.dumps({"accepted": True})
    )
    complete = wait_for_callback(lambda_sandbox, arn, "orderCompleted")
    lambda_sandbox.send_durable_execution_callback_heartbeat(CallbackId=complete)
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=complete, Result=b"{}")
    execution = wait_for_status(lambda_sandbox, arn)
    assert execution["Status"] == "SUCCEEDED"
    assert json.loads(execution["Result"])["status"] == "completed"


def test_a_sleeping_execution_can_be_stopped(lambda_sandbox):
    payload = {"workflowId": "sleepy", "waitSeconds": 3600}
    arn = start(lambda_sandbox, "durable-function-example", payload, _unique("sleepy"))
    callback_id = wait_for_callback(lambda_sandbox, arn, "waitForExternalApproval")
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"{}")
    wait_for_event(lambda_sandbox, arn, "WaitStarted")

    def asleep() -> bool:
        # Sleeping: the invocation that started the timer has ended (on a loaded machine
        # its InvocationCompleted can land after a stop sent right after WaitStarted).
        events = [e["EventType"] for e in history(lambda_sandbox, arn)]
        return events[-1] == "InvocationCompleted" and "WaitStarted" in events

    wait_for(asleep, 30, what="the execution asleep on its timer")
    lambda_sandbox.stop_durable_execution(
        DurableExecutionArn=arn, Error={"ErrorType": "Stopped", "ErrorMessage": "by a test"}
    )
    execution = wait_for_status(lambda_sandbox, arn, timeout=20)
    assert execution["Status"] == "STOPPED"
    assert history(lambda_sandbox, arn)[-1]["EventType"] == "ExecutionStopped"


def test_an_api_the_runner_lacks_gets_lambdas_unknown_operation_error(lambda_sandbox):
    arn = start(lambda_sandbox, "coffee-order", {}, _unique("coffee"))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lambda_sandbox.pause_durable_execution(DurableExecutionArn=arn)
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    # The connection is still usable afterwards.
    assert lambda_sandbox.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"
    lambda_sandbox.stop_durable_execution(DurableExecutionArn=arn)


def test_an_unknown_function_isnot_found(lambda_sandbox):
    with pytest.raises(lambda_sandbox.exceptions.ResourceNotFoundException):
        start(lambda_sandbox, "no-such-function", {})
