"""The sync engine mirrors the live sandbox: executions, histories and operation trees."""

from __future__ import annotations

import json
import uuid

import pytest

from executions import history as sync_history
from executions import sync
from executions.models import Execution, HistoryEvent, Operation
from sandbox.client import (
    history,
    start,
    wait_for_callback,
    wait_for_status,
)

pytestmark = pytest.mark.django_db


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


FAMILIES = {
    "Step": "STEP",
    "Wait": "WAIT",
    "Callback": "CALLBACK",
    "Context": "CONTEXT",
    "ChainedInvoke": "CHAINED_INVOKE",
}
SUFFIXES = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}


def derive_tree(events: list[dict]) -> dict[str, tuple]:
    """An independent, whole-history derivation: operation id -> (parent, type, subtype, status)."""
    ops: dict[str, tuple] = {}
    for event in sorted(events, key=lambda e: e["EventId"]):
        kind = event["EventType"]
        family = next(
            (f for f in FAMILIES if kind.startswith(f) and kind[len(f) :] in SUFFIXES), None
        )
        if family is None or not event.get("Id"):
            continue
        status = SUFFIXES[kind[len(family) :]]
        delay = ((event.get(f"{kind}Details") or {}).get("RetryDetails") or {}).get(
            "NextAttemptDelaySeconds"
        )
        if delay:
            status = "PENDING"
        previous = ops.get(event["Id"], (None, None, None, None))
        ops[event["Id"]] = (
            event.get("ParentId") or previous[0] or "",
            FAMILIES[family],
            event.get("SubType") or previous[2] or "",
            status,
        )
    return ops


def mirrored_tree(execution: Execution) -> dict[str, tuple]:
    return {
        op.operation_id: (op.parent_operation_id, op.type, op.subtype, op.status)
        for op in Operation.objects.filter(execution=execution)
    }


def test_every_sample_function_is_mirrored_with_the_tree_its_history_gives(
    sandbox_source, lambda_sandbox
):
    arns = {
        "order-processor": start(lambda_sandbox, "order-processor", {"orderId": "S-1"}, _name("o")),
        "fraud-detection": start(lambda_sandbox, "fraud-detection", {"amount": 5}, _name("f")),
        "coffee-order": start(lambda_sandbox, "coffee-order", {"orderId": "c"}, _name("c")),
        "durable-function-example": start(
            lambda_sandbox, "durable-function-example", {"workflowId": "s"}, _name("d")
        ),
    }
    callback = wait_for_callback(lambda_sandbox, arns["durable-function-example"])
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    for function in ("order-processor", "fraud-detection", "durable-function-example"):
        wait_for_status(lambda_sandbox, arns[function], timeout=120)
    wait_for_callback(lambda_sandbox, arns["coffee-order"], "baristaAccepts")

    summary = sync.sync_once(sandbox_source)
    assert summary["errors"] == []

    for function, arn in arns.items():
        execution = Execution.objects.get(arn=arn)
        assert execution.function.name == function
        backend = history(lambda_sandbox, arn)
        assert execution.last_event_id == backend[-1]["EventId"]
        assert list(execution.events.values_list("event_id", flat=True)) == [
            e["EventId"] for e in backend
        ]
        assert mirrored_tree(execution) == derive_tree(backend), function
        assert execution.operation_count == len(derive_tree(backend))
    coffee = Execution.objects.get(arn=arns["coffee-order"])
    assert coffee.status == "RUNNING" and coffee.pending_callbacks == 1
    assert not coffee.history_complete
    done = Execution.objects.get(arn=arns["durable-function-example"])
    assert done.status == "SUCCEEDED" and done.history_complete
    assert json.loads(done.input_payload) == {"workflowId": "s"}
    parallel = Operation.objects.get(execution=done, subtype="Parallel")
    branches = Operation.objects.filter(execution=done, parent_operation_id=parallel.operation_id)
    assert [b.subtype for b in branches] == ["ParallelBranch"] * 3
    condition = Operation.objects.get(execution=done, subtype="WaitForCondition")
    assert condition.attempt_count == 3
    invoke = Operation.objects.get(execution=done, type="CHAINED_INVOKE")
    assert invoke.invoke_function == "hello-world"
    fraud = Execution.objects.get(arn=arns["fraud-detection"])
    scoring = Operation.objects.get(execution=fraud, name="scoreRisk")
    assert scoring.attempt_count == 2 and scoring.status == "SUCCEEDED"
    assert scoring.retries[0]["attempt"] == 1


def test_a_callback_sent_from_outside_shows_up_after_the_next_sync_without_duplicates(
    sandbox_source, lambda_sandbox
):
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "x"}, _name("coffee"))
    callback = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    sync.sync_once(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    waiting = Operation.objects.get(execution=execution, callback_id=callback)
    assert waiting.status == "STARTED" and execution.pending_callbacks == 1

    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback, Result=json.dumps({"accepted": True})
    )
    wait_for_callback(lambda_sandbox, arn, "orderCompleted")
    sync.sync_execution(execution.pk)
    sync.sync_execution(execution.pk)  # a second pass must not duplicate anything

    execution.refresh_from_db()
    backend = history(lambda_sandbox, arn)
    ids = list(HistoryEvent.objects.filter(execution=execution).values_list("event_id", flat=True))
    assert ids == [e["EventId"] for e in backend]
    assert len(ids) == len(set(ids))
    waiting.refresh_from_db()
    assert waiting.status == "SUCCEEDED"
    assert json.loads(waiting.result_payload) == {"accepted": True}
    assert execution.pending_callbacks == 1  # now the "order completed" callback
    assert mirrored_tree(execution) == derive_tree(backend)


def test_an_unchanged_terminal_execution_is_never_fetched_again(
    sandbox_source, lambda_sandbox, api_calls
):
    arn = start(lambda_sandbox, "order-processor", {"orderId": "Z"}, _name("order"))
    wait_for_status(lambda_sandbox, arn)
    sync.sync_once(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    assert execution.history_complete

    api_calls.clear()
    result = sync.sync_execution(execution.pk)
    assert result.skipped == "complete"
    assert api_calls.count("GetDurableExecutionHistory") == 0
    assert api_calls.count("GetDurableExecution") == 0


def test_a_sync_after_k_new_events_fetches_about_k_events(
    sandbox_source, lambda_sandbox, api_calls
):
    arn = start(lambda_sandbox, "coffee-order", {"orderId": "k"}, _name("coffee"))
    callback = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    sync.sync_once(sandbox_source)
    execution = Execution.objects.get(arn=arn)
    before = execution.last_event_id

    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    wait_for_callback(lambda_sandbox, arn, "orderCompleted")
    total = len(history(lambda_sandbox, arn))
    k = total - before
    assert 0 < k < total

    api_calls.clear()
    result = sync.sync_execution(execution.pk)
    assert result.new_events == k
    assert api_calls.count("GetDurableExecutionHistory") == 1
    fetched = api_calls.events_fetched()
    # One backwards page: at most the first page's size beyond the k new events.
    assert k <= fetched <= k + sync_history.REVERSE_FIRST_PAGE, f"fetched {fetched} for {k} new"


def test_listing_later_asks_only_for_executions_started_after_the_newest_seen(
    sandbox_source, lambda_sandbox, api_calls
):
    start(lambda_sandbox, "order-processor", {"orderId": "L"}, _name("order"))
    sync.poll_source(sandbox_source)
    seen = set(Execution.objects.values_list("function__name", flat=True))
    assert "order-processor" in seen
    api_calls.clear()
    sync.poll_source(sandbox_source)
    lists = {
        p["FunctionName"]: p
        for op, p, _ in api_calls.calls
        if op == "ListDurableExecutionsByFunction"
    }
    for function in seen:
        assert "StartedAfter" in lists[function], function
    # A function with nothing mirrored yet is still listed in full.
    for function in set(lists) - seen:
        assert "StartedAfter" not in lists[function]
