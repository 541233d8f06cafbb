"""Samples not from the seeds: bulk-ledger (large histories, for scale demos and
benchmarks), echo-steps (operations named by the input, for hostile-input tests) and
approval-rounds (a long-lived workflow that changes whenever someone answers it)."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import (
    Duration,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)

from sandbox.functions.common import _callback_value
from sandbox.functions.plugins import plugins


def _post_entry(ctx: DurableContext, entry: int, index: int, _all: Any) -> Any:
    return ctx.step(lambda _s: {"entry": entry, "posted": True}, name=f"post-{entry}")


@durable_execution(plugins=plugins())
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


@durable_execution(plugins=plugins())
def echo_steps(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """Run one step per entry of `names` inside a child context named `context`, each
    returning `result`; then wait for a callback named `callback` if given; then raise
    `error` if given. Whatever the caller puts in those fields ends up in operation
    names, payloads and error messages, which is what the hostile-input tests need."""
    names = [str(n) for n in event.get("names") or ["echo"]][:50]

    def steps(ctx: DurableContext) -> list[Any]:
        return [
            ctx.step(
                lambda _s: event.get("result"),
                name=name,
                config=StepConfig(retry_strategy=RetryPresets.none()),
            )
            for name in names
        ]

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


@durable_execution(plugins=plugins())
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


class GatewayDownError(Exception):
    """The payment gateway answers 503: it will not get better on a retry."""


@durable_execution(plugins=plugins())
def payment_retrier(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """A runaway: its charge step fails every time and retries forever (every second, or
    `retryDelaySeconds`), each retry another invocation that costs money. What guardrails
    are for (their tests and the demo)."""
    delay = max(1, int(event.get("retryDelaySeconds") or 1))

    def charge(step: Any) -> dict[str, Any]:
        raise GatewayDownError(f"payment gateway answered 503 (attempt {step.attempt})")

    context.step(
        charge,
        name="chargeCard",
        config=StepConfig(
            retry_strategy=create_retry_strategy(
                RetryStrategyConfig(
                    max_attempts=1_000_000_000,
                    initial_delay=Duration.from_seconds(delay),
                    max_delay=Duration.from_seconds(delay),
                    backoff_rate=1,
                    jitter_strategy=JitterStrategy.NONE,
                )
            )
        ),
    )
    return {"charged": True}
