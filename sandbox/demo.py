"""A realistic mix of executions for `manage.py sandbox --demo` and `make run`.

Every sample function gets executions that end in each way it can: succeeded, failed,
stopped, still waiting on a callback, sleeping in a long wait, and a step that was
retried. Seeding only starts executions and sends callbacks, like an external system
would; it returns once every execution has been started, not once they have ended.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from sandbox.client import lambda_client, start, wait_for_callback, wait_for_event

logger = logging.getLogger("sandbox.demo")


def _approve(client: Any, arn: str, name: str, result: Any) -> None:
    callback_id = wait_for_callback(client, arn, name)
    client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps(result)
    )


def _reject(client: Any, arn: str, name: str, message: str) -> None:
    callback_id = wait_for_callback(client, arn, name)
    client.send_durable_execution_callback_failure(
        CallbackId=callback_id, Error={"ErrorType": "Rejected", "ErrorMessage": message}
    )


def seed(endpoint_url: str, wait: bool = False) -> dict[str, list[str]]:
    """Start the demo executions; returns their ARNs by function name.

    Callbacks are answered from background threads so the caller is not held up by the
    runner; pass wait=True to block until every scripted callback has been sent.
    """
    client = lambda_client(endpoint_url)
    arns: dict[str, list[str]] = {}

    def go(function: str, payload: Any, name: str) -> str:
        arn = start(client, function, payload, name)
        arns.setdefault(function, []).append(arn)
        return arn

    followups: list[tuple[Any, tuple[Any, ...]]] = []

    # order-processor: three that succeed, one with an invalid order that fails.
    for n in (101, 102, 103):
        go("order-processor", {"orderId": f"ORDER-{n}"}, f"order-{n}")
    go("order-processor", {"customer": "no order id"}, "order-invalid")

    # durable-function-example: waiting on its approval, approved and run to the end,
    # approved and then sleeping in a long wait, and one stopped while it waited.
    go("durable-function-example", {"workflowId": "batch-waiting"}, "batch-waiting-approval")
    done = go("durable-function-example", {"workflowId": "batch-approved"}, "batch-approved")
    followups.append((_approve, (client, done, "waitForExternalApproval", {"approved": True})))
    sleeping = go(
        "durable-function-example",
        {"workflowId": "batch-sleeping", "waitSeconds": 3600},
        "batch-sleeping",
    )
    followups.append((_approve, (client, sleeping, "waitForExternalApproval", {"ok": 1})))
    stopped = go("durable-function-example", {"workflowId": "batch-stopped"}, "batch-stopped")

    def stop_it(arn: str) -> None:
        wait_for_event(client, arn, "CallbackStarted")
        client.stop_durable_execution(
            DurableExecutionArn=arn,
            Error={"ErrorType": "StoppedByOperator", "ErrorMessage": "Demo: stopped by hand"},
        )

    followups.append((stop_it, (stopped,)))

    # fraud-detection: every risk level; the scoring step is retried in each.
    go("fraud-detection", {"transactionId": "txn-2001", "amount": 120}, "txn-2001-low")
    go("fraud-detection", {"transactionId": "txn-2002", "amount": 4200}, "txn-2002-review")
    ok = go("fraud-detection", {"transactionId": "txn-2003", "amount": 5100}, "txn-2003-verified")
    followups.append((_approve, (client, ok, "humanVerification", {"approved": True})))
    bad = go("fraud-detection", {"transactionId": "txn-2004", "amount": 7300}, "txn-2004-rejected")
    followups.append((_reject, (client, bad, "humanVerification", "Card reported stolen")))
    go("fraud-detection", {"transactionId": "txn-2005", "amount": 25000}, "txn-2005-high")

    # coffee-order: waiting on the barista, accepted and completed, declined, failed.
    go("coffee-order", {"orderId": "coffee-1", "drink": "flat white"}, "coffee-1-waiting")
    go("coffee-order", {"orderId": "coffee-2", "drink": "espresso"}, "coffee-2-waiting")
    served = go("coffee-order", {"orderId": "coffee-3", "drink": "latte"}, "coffee-3-served")

    def serve(arn: str) -> None:
        _approve(client, arn, "baristaAccepts", {"accepted": True})
        _approve(client, arn, "orderCompleted", {"pickedUp": True})

    followups.append((serve, (served,)))
    declined = go("coffee-order", {"orderId": "coffee-4", "drink": "mocha"}, "coffee-4-declined")
    followups.append((_approve, (client, declined, "baristaAccepts", {"accepted": False})))
    broken = go("coffee-order", {"orderId": "coffee-5", "drink": "cortado"}, "coffee-5-failed")
    followups.append((_reject, (client, broken, "baristaAccepts", "Machine broken")))

    def run(fn: Any, args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:  # the demo is best effort; the log says what went wrong
            logger.exception("demo follow-up %s failed", fn.__name__)

    threads = [threading.Thread(target=run, args=f, daemon=True) for f in followups]
    for t in threads:
        t.start()
    if wait:
        for t in threads:
            t.join()
    return arns
