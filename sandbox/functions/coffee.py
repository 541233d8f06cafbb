"""coffee-order (shared/seeds/durable-functions-guide.md)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    WaitForCallbackConfig,
)

from sandbox.functions.common import _accepted, _now
from sandbox.functions.plugins import plugins


@durable_execution(plugins=plugins())
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
