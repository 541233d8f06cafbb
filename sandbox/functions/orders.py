"""order-processor with order-enricher (shared/seeds/order-processor.md)."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (
    RetryPresets,
)

from sandbox.functions.common import _now
from sandbox.functions.plugins import plugins


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


@durable_execution(plugins=plugins())
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
