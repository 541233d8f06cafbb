"""durable-function-example with hello-world (shared/seeds/durable-function-example.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)

from sandbox.functions.common import _callback_value, _now
from sandbox.functions.plugins import plugins


def hello_world(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    """A plain Lambda function: the target of the example's invoke."""
    name = event.get("name", "World")
    return {"statusCode": 200, "greeting": f"Hello, {name}!"}


DEFAULT_ITEMS = [
    "Process customer data batch A",
    "Process customer data batch B",
    "Validate inventory records",
    "Reconcile payments",
    "Generate daily report",
]


def _parallel_task(number: int, kind: str, count: int) -> Callable[[DurableContext], Any]:
    def branch(ctx: DurableContext) -> dict[str, Any]:
        return ctx.step(
            lambda _s: {"task": number, "type": kind, "result": "completed", "items": count},
            name=f"{kind}-task",
        )

    return branch


def _process_item(ctx: DurableContext, item: dict[str, Any], index: int, _all: Any) -> Any:
    def work(_s: Any) -> dict[str, Any]:
        if item.get("fail"):
            raise RuntimeError(f"work item {item['id']} could not be processed")
        return {
            "id": item["id"],
            "status": "completed",
            "processed": True,
            "transformedData": f"processed-{item['description']}",
        }

    return ctx.step(work, name=f"process-{item['id']}")


def _check_readiness(state: dict[str, Any], check: Any) -> dict[str, Any]:
    attempts = state.get("attempts", 0) + 1
    ready = attempts >= 3
    return {
        "ready": ready,
        "attempts": attempts,
        "note": f"System ready after {attempts} attempts" if ready else "not ready yet",
    }


def _readiness_strategy(state: dict[str, Any], attempts_made: int) -> WaitForConditionDecision:
    if state.get("ready") or attempts_made >= 3:
        return WaitForConditionDecision.stop_polling()
    return WaitForConditionDecision.continue_waiting(Duration.from_seconds(3))


@durable_execution(plugins=plugins())
def durable_function_example(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    # Knobs for the demo and the tests: `items`, `failItems` (1-based indexes of work
    # items whose processing fails), `waitSeconds` (the simple wait, default 5).
    raw_items = event.get("items") or DEFAULT_ITEMS
    fail_items = set(event.get("failItems") or [])

    def process_input(_s: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": f"work-item-{i + 1}",
                "description": str(text),
                "fail": (i + 1) in fail_items,
            }
            for i, text in enumerate(raw_items)
        ]

    work_items = context.step(process_input, name="processInputData")

    def submit(callback_id: str, _ctx: Any) -> None:
        # On AWS this would notify an external system with the callback id.
        return None

    approval = context.wait_for_callback(
        submit,
        name="waitForExternalApproval",
        config=WaitForCallbackConfig(timeout=Duration.from_hours(1)),
    )
    context.wait(Duration.from_seconds(int(event.get("waitSeconds", 5))), name="simpleWait")

    parallel = context.parallel(
        [
            _parallel_task(1, "validation", len(work_items)),
            _parallel_task(2, "enrichment", len(work_items)),
            _parallel_task(3, "notification", len(work_items)),
        ],
        name="parallelOperations",
    )
    mapped = context.map(work_items, _process_item, name="mapWorkItems")
    condition = context.wait_for_condition(
        _check_readiness,
        config=WaitForConditionConfig(
            wait_strategy=_readiness_strategy, initial_state={"ready": False, "attempts": 0}
        ),
        name="waitForSystemReady",
    )
    greeting = context.invoke(
        "hello-world",
        {"name": event.get("workflowId", "DurableExecution")},
        name="invokeHelloWorld",
    )

    def child(ctx: DurableContext) -> dict[str, Any]:
        metadata = ctx.step(
            lambda _s: {"version": "1.0.0", "processingNode": "child-context", "isolated": True},
            name="loadMetadata",
        )
        validation = ctx.step(
            lambda _s: {"valid": True, "configVersion": "2.1.0"}, name="validateConfig"
        )
        return {"metadata": metadata, "validation": validation}

    child_result = context.run_in_child_context(child, name="isolatedContext")
    processed = mapped.get_results()

    def aggregate(_s: Any) -> dict[str, Any]:
        return {
            "workflowId": event.get("workflowId", "durable-demo-001"),
            "approval": _callback_value(approval),
            "processedItems": processed,
            "parallelResults": parallel.get_results(),
            "advancedOperations": {
                "conditionResult": condition,
                "invokeResult": greeting,
                "childContextResult": child_result,
            },
            "itemsProcessed": len(processed),
            "successRate": mapped.success_count / max(mapped.total_count, 1),
            "completedAt": _now(),
        }

    return context.step(aggregate, name="aggregateResults")
