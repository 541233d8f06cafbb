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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# The handlers are importable as sandbox.functions.<name> (the host registers them so).
from sandbox.functions.coffee import coffee_order
from sandbox.functions.example import durable_function_example, hello_world
from sandbox.functions.fraud import fraud_detection
from sandbox.functions.orders import order_enricher, order_processor
from sandbox.functions.scale import approval_rounds, bulk_ledger, echo_steps, payment_retrier

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
        SampleFunction(
            "payment-retrier",
            payment_retrier,
            "A runaway: its charge step fails and retries every second, forever (guardrails)",
            example_input={"retryDelaySeconds": 1},
        ),
    ]
}
