"""fraud-detection (shared/seeds/industry-examples.md)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.retries import (
    RetryStrategyConfig,
    create_retry_strategy,
)

from sandbox.functions.common import _accepted
from sandbox.functions.plugins import plugins


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


@durable_execution(plugins=plugins())
def fraud_detection(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    txn = str(event.get("transactionId", "txn-unknown"))

    def score(step: Any) -> dict[str, Any]:
        # The scoring service fails the first call transiently; the retry succeeds.
        if step.attempt == 1 and not event.get("noFlake"):
            raise TransientScoringError("risk scoring service timed out, retrying")
        value = _risk_score(event)
        level = "low" if value < 40 else "medium" if value < 80 else "high"
        return {"transactionId": txn, "score": value, "level": level}

    # How long the scoring step waits before its retry: 1 s, or longer to watch a step that
    # waits for its next attempt (the console's tests and demos).
    retry_delay = max(1, int(event.get("retryDelaySeconds") or 1))
    risk = context.step(
        score,
        name="scoreRisk",
        config=StepConfig(
            retry_strategy=create_retry_strategy(
                RetryStrategyConfig(
                    max_attempts=3,
                    initial_delay=Duration.from_seconds(retry_delay),
                    max_delay=Duration.from_seconds(max(retry_delay, 300)),
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
