"""The sandbox's sample functions, ported to Python from the reference examples in shared/seeds/.

Each durable handler is written with aws-durable-execution-sdk-python exactly as it
would be deployed to Lambda; the sandbox host (sandbox/host.py) runs them when
AWS's local runner invokes them. The plain (non-durable) functions are the targets
of chained invokes.

Inputs may carry a few knobs so the demo and the tests can steer an execution down
every path (for example `forceRisk` in fraud-detection); without them the functions
behave like the originals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)


def _callback_value(raw: Any) -> Any:
    """A callback's result arrives as the text the sender sent; most senders send JSON."""
    if isinstance(raw, (str, bytes)):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _accepted(raw: Any, key: str) -> bool:
    """Anything but an explicit `{key: false}` counts as yes."""
    value = _callback_value(raw)
    return not (isinstance(value, dict) and value.get(key) is False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------
# order-processor with order-enricher (order-processor.md)
# --------------------------------------------------------------------------------------


class InvalidOrderError(Exception):
    """The order input is missing what the workflow needs."""


def order_enricher(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    """A plain Lambda function: adds customer data to an order."""
    order_id = str(event.get("orderId", ""))
    digest = hashlib.sha256(order_id.encode()).hexdigest()[:4].upper()
    return {
        "statusCode": 200,
        "orderId": order_id,
        "enrichedData": {"customerId": f"CUST-{digest}", "timestamp": _now()},
    }


@durable_execution
def order_processor(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    def validate(_step: Any) -> dict[str, Any]:
        order_id = event.get("orderId")
        if not order_id or not isinstance(order_id, str):
            raise InvalidOrderError("orderId is required and must be a string")
        return {"orderId": order_id, "valid": True}

    # Bad input will not get better on a retry.
    order = context.step(
        validate, name="validate-order", config=StepConfig(retry_strategy=RetryPresets.none())
    )
    enrichment = context.invoke(
        "order-enricher", {"orderId": order["orderId"]}, name="enrich-order"
    )
    context.wait(Duration.from_seconds(2), name="wait-before-finalize")

    def finalize(_step: Any) -> dict[str, Any]:
        return {
            "orderId": order["orderId"],
            "status": "COMPLETED",
            "enrichedData": enrichment.get("enrichedData"),
            "finalizedAt": _now(),
            "message": "Order finalized successfully",
        }

    final = context.step(finalize, name="finalize-order")
    return {
        "success": True,
        "orderId": order["orderId"],
        "enrichmentResult": enrichment,
        "finalResult": final,
        "message": "Order processed successfully with durable execution",
    }


# --------------------------------------------------------------------------------------
# durable-function-example with hello-world (durable-function-example.md)
# --------------------------------------------------------------------------------------


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


@durable_execution
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


# --------------------------------------------------------------------------------------
# fraud-detection (industry-examples.md)
# --------------------------------------------------------------------------------------


class TransientScoringError(Exception):
    """The scoring service hiccuped; the step is retried."""


class TransactionBlockedError(Exception):
    """A high-risk transaction was blocked."""


class VerificationRejectedError(Exception):
    """A human reviewer rejected the transaction."""


def _risk_score(event: dict[str, Any]) -> int:
    forced = event.get("forceRisk")
    if forced in ("low", "medium", "high"):
        return {"low": 15, "medium": 55, "high": 92}[forced]
    amount = float(event.get("amount", 0))
    if amount < 1000:
        return 15
    if amount < 10000:
        return 55
    return 92


@durable_execution
def fraud_detection(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    txn = str(event.get("transactionId", "txn-unknown"))

    def score(step: Any) -> dict[str, Any]:
        # The scoring service fails the first call transiently; the retry succeeds.
        if step.attempt == 1 and not event.get("noFlake"):
            raise TransientScoringError("risk scoring service timed out, retrying")
        value = _risk_score(event)
        level = "low" if value < 40 else "medium" if value < 80 else "high"
        return {"transactionId": txn, "score": value, "level": level}

    risk = context.step(
        score,
        name="scoreRisk",
        config=StepConfig(
            retry_strategy=create_retry_strategy(
                RetryStrategyConfig(
                    max_attempts=3,
                    initial_delay=Duration.from_seconds(1),
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
        ),
    )
    if risk["level"] == "low":
        decision = context.step(
            lambda _s: {"transactionId": txn, "decision": "APPROVED", "by": "auto"},
            name="autoApprove",
        )
        return {"status": "APPROVED", "risk": risk, "decision": decision}

    if risk["level"] == "high":
        context.step(
            lambda _s: {"transactionId": txn, "decision": "BLOCKED"}, name="blockTransaction"
        )
        raise TransactionBlockedError(
            f"Transaction {txn} blocked: risk score {risk['score']} is above the limit of 80"
        )

    def request_verification(callback_id: str, _ctx: Any) -> None:
        # On AWS this sends the callback id to the fraud team's review queue.
        return None

    verdict = context.wait_for_callback(
        request_verification,
        name="humanVerification",
        config=WaitForCallbackConfig(timeout=Duration.from_days(1)),
    )
    if not _accepted(verdict, "approved"):
        raise VerificationRejectedError(f"Transaction {txn} rejected by reviewer")
    decision = context.step(
        lambda _s: {"transactionId": txn, "decision": "APPROVED", "by": "human"},
        name="recordApproval",
    )
    return {"status": "APPROVED", "risk": risk, "decision": decision}


# --------------------------------------------------------------------------------------
# coffee-order (durable-functions-guide.md)
# --------------------------------------------------------------------------------------


@durable_execution
def coffee_order(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    order_id = str(event.get("orderId", "coffee-1"))
    drink = str(event.get("drink", "flat white"))
    context.step(
        lambda _s: {"orderId": order_id, "drink": drink, "savedAt": _now()}, name="saveOrder"
    )

    def notify_barista(callback_id: str, _ctx: Any) -> None:
        return None

    response = context.wait_for_callback(
        notify_barista,
        name="baristaAccepts",
        config=WaitForCallbackConfig(timeout=Duration.from_minutes(5)),
    )
    if not _accepted(response, "accepted"):
        return {"status": "rejected", "orderId": order_id}
    context.step(lambda _s: {"orderId": order_id, "preparing": drink}, name="prepareOrder")

    def notify_pickup(callback_id: str, _ctx: Any) -> None:
        return None

    context.wait_for_callback(
        notify_pickup,
        name="orderCompleted",
        config=WaitForCallbackConfig(timeout=Duration.from_minutes(10)),
    )
    return {"status": "completed", "orderId": order_id, "drink": drink}


# --------------------------------------------------------------------------------------
# bulk-ledger: large histories (not from the seeds; for scale demos and benchmarks)
# --------------------------------------------------------------------------------------


def _post_entry(ctx: DurableContext, entry: int, index: int, _all: Any) -> Any:
    return ctx.step(lambda _s: {"entry": entry, "posted": True}, name=f"post-{entry}")


@durable_execution
def bulk_ledger(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Post `entries` ledger entries (a map), wait for an auditor's sign-off, then close.

    A map of n entries writes about 4n history events, so this function makes the large
    histories that the graph collapse, the timeline and the sync benchmarks need.
    """
    count = max(1, min(int(event.get("entries", 100)), 5000))
    posted = context.map(list(range(1, count + 1)), _post_entry, name="postEntries")

    def request_sign_off(callback_id: str, _ctx: Any) -> None:
        return None

    sign_off = context.wait_for_callback(
        request_sign_off,
        name="auditorSignOff",
        config=WaitForCallbackConfig(timeout=Duration.from_days(7)),
    )
    total = context.step(lambda _s: {"posted": posted.success_count}, name="sumEntries")
    context.step(lambda _s: {"closed": True}, name="closePeriod")
    return {"entries": total, "signOff": _callback_value(sign_off)}


# --------------------------------------------------------------------------------------
# echo-steps: operations named by the input (not from the seeds; for hostile-input tests)
# --------------------------------------------------------------------------------------


class EchoError(Exception):
    """The error echo-steps was asked to raise."""


@durable_execution
def echo_steps(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Run one step per entry of `names` inside a child context named `context`, each
    returning `result`; then wait for a callback named `callback` if given; then raise
    `error` if given. Whatever the caller puts in those fields ends up in operation
    names, payloads and error messages, which is what the hostile-input tests need."""
    names = [str(n) for n in event.get("names") or ["echo"]][:50]

    def steps(ctx: DurableContext) -> list[Any]:
        return [
            ctx.step(lambda _s: event.get("result"), name=name, config=StepConfig(
                retry_strategy=RetryPresets.none()))
            for name in names
        ]  # fmt: skip

    results = context.run_in_child_context(steps, name=str(event.get("context") or "echo"))
    if event.get("callback"):

        def submit(callback_id: str, _ctx: Any) -> None:
            return None

        context.wait_for_callback(submit, name=str(event["callback"]))
    if event.get("error"):
        raise EchoError(str(event["error"]))
    return {"count": len(results)}


# --------------------------------------------------------------------------------------
# approval-rounds: a long-lived workflow that changes whenever someone answers it (not
# from the seeds; for the freshness benchmark and the quota tests)
# --------------------------------------------------------------------------------------


@durable_execution
def approval_rounds(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Wait for `rounds` approvals one after another (`round-1`, `round-2`, ...), recording
    each in a step; end once the last is answered. Each answer adds a few history events,
    so a driver answering at random makes executions change at random."""
    rounds = max(1, min(int(event.get("rounds", 3)), 500))
    answers = []
    for number in range(1, rounds + 1):

        def ask(callback_id: str, _ctx: Any) -> None:
            return None

        answer = context.wait_for_callback(ask, name=f"round-{number}")
        answers.append(
            context.step(
                lambda _s, n=number, a=answer: {"round": n, "answer": _callback_value(a)},
                name=f"record-{number}",
            )
        )
    return {"rounds": rounds, "answered": len(answers)}


# --------------------------------------------------------------------------------------
# The registry the host serves
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleFunction:
    name: str
    handler: Callable[..., Any]
    description: str
    durable: bool = True
    # DurableConfig as Lambda reports it for durable functions.
    execution_timeout: int = 3600
    retention_days: int = 7
    example_input: dict[str, Any] = field(default_factory=dict)


FUNCTIONS: dict[str, SampleFunction] = {
    f.name: f
    for f in [
        SampleFunction(
            "order-processor",
            order_processor,
            "Validate, enrich through an invoke, wait 2 s, finalize",
            example_input={"orderId": "ORDER-123"},
        ),
        SampleFunction("order-enricher", order_enricher, "Adds customer data", durable=False),
        SampleFunction(
            "durable-function-example",
            durable_function_example,
            "Every durable operation: callback, wait, parallel, map, condition, invoke, child",
            example_input={"workflowId": "durable-demo-001"},
        ),
        SampleFunction("hello-world", hello_world, "Returns a greeting", durable=False),
        SampleFunction(
            "fraud-detection",
            fraud_detection,
            "Risk scoring with human verification of medium-risk transactions",
            execution_timeout=86400 * 2,
            example_input={"transactionId": "txn-1001", "amount": 4200},
        ),
        SampleFunction(
            "coffee-order",
            coffee_order,
            "The barista accepts through a callback, then marks the order complete",
            example_input={"orderId": "coffee-1", "drink": "flat white"},
        ),
        SampleFunction(
            "bulk-ledger",
            bulk_ledger,
            "Posts a batch of ledger entries (a large map), then waits for sign-off",
            example_input={"entries": 100},
        ),
        SampleFunction(
            "approval-rounds",
            approval_rounds,
            "Waits for a number of approvals in turn (used by the freshness benchmark)",
            execution_timeout=86400,
            example_input={"rounds": 3},
        ),
        SampleFunction(
            "echo-steps",
            echo_steps,
            "Runs steps named by its input (used by the hostile-input tests)",
            example_input={"names": ["first", "second"]},
        ),
    ]
}
