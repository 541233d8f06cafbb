"""Sending a promised delivery: claim it, check it still applies, send, record.

A worker claims a delivery with one conditional UPDATE (pending and due -> sending), so of
two workers only one sends it. A failed send goes back to pending with its next attempt
after a back-off (NOTIFY_RETRY_SECONDS), and is recorded as failed after
NOTIFY_MAX_ATTEMPTS. A callback answered by the time its delivery runs gets no message
(status skipped): the execution is read again first, within the call budget.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from domain import answers
from executions import lambda_api, sync
from executions.models import Operation
from notify import channels
from notify.models import Delivery, DeliveryStatus, Event

logger = logging.getLogger(__name__)

# A delivery claimed longer ago than this belongs to a worker that died mid-send.
CLAIM_EXPIRES_SECONDS = 300
ALREADY_ANSWERED = "already answered"
EXECUTION_ENDED = "the execution already ended"


def claim(delivery_id: int, now: datetime | None = None) -> bool:
    """Take the delivery for this worker: True for exactly one of the workers that try."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=CLAIM_EXPIRES_SECONDS)
    pending = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    )
    if pending.update(status=DeliveryStatus.SENDING, claimed_at=now):
        return True
    return bool(
        Delivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.SENDING, claimed_at__lt=stale
        ).update(claimed_at=now)
    )


def _still_waiting(delivery: Delivery) -> str:
    """'' when the callback still waits for an answer, else why the message is moot."""
    if delivery.execution_id is None:
        return "the execution is no longer mirrored"
    try:
        # Answered elsewhere a moment ago? Read the execution again (a small history page).
        with lambda_api.budget_wait(2):
            sync.sync_execution(delivery.execution_id)
    except Exception as exc:  # noqa: BLE001 (the mirror as it is will do)
        logger.warning("notify: could not re-read execution %s: %s", delivery.execution_id, exc)
    operation = (
        Operation.objects.select_related("execution")
        .filter(execution_id=delivery.execution_id, operation_id=delivery.operation_id)
        .first()
    )
    if operation is None:
        return "the callback is no longer mirrored"
    if operation.execution.is_terminal:
        return EXECUTION_ENDED
    if not operation.is_pending_callback:
        return ALREADY_ANSWERED
    return ""


def message_for(delivery: Delivery) -> channels.Message:
    execution = delivery.execution
    data = {
        "rule": delivery.rule_name,
        "delivery_id": delivery.pk,
        "execution_arn": execution.arn if execution else "",
        "execution_name": execution.name if execution else "",
        "function": execution.function.name if execution else "",
        "status": execution.status if execution else "",
        "operation_id": delivery.operation_id,
        "deadline": delivery.deadline.isoformat() if delivery.deadline else None,
    }
    lines = [delivery.title]
    recipients: list[str] = []
    if delivery.event in (Event.CALLBACK, Event.DEADLINE) and execution is not None:
        approval = _approval(delivery)
        if approval is not None:
            progress, approvers, emails = approval
            lines.append(
                f"It needs {progress.approvals_required} approval"
                f"{'s' if progress.approvals_required != 1 else ''} from different people "
                f"(policy “{progress.policy}”); {progress.words}. "
                f"Who may approve: {', '.join(approvers) or 'nobody yet'}."
            )
            data["approval"] = {
                "policy": progress.policy,
                "approvals_required": progress.approvals_required,
                "approved_by": [vote.username for vote in progress.approvals],
                "approvers": approvers,
            }
            recipients = emails
    if delivery.event in (Event.CALLBACK, Event.DEADLINE):
        # What answering sends, in the words every page uses (domain/answers.py).
        lines.append(answers.HINT)
    if delivery.event == Event.CALLBACK:
        lines.append(
            f"{answers.APPROVE.verb} or {answers.REJECT.verb.lower()} it in Durable Console:"
        )
    elif delivery.event == Event.DEADLINE:
        when = timezone.localtime(delivery.deadline).strftime("%Y-%m-%d %H:%M:%S %Z")
        lines.append(f"It times out at {when} unless someone answers it:")
    elif delivery.event == Event.FAILED:
        lines.append("See what happened in Durable Console:")
    elif delivery.event == Event.GUARD:
        lines.append("See it, and the guardrail's history, in Durable Console:")
    else:
        lines.append("Notifications of this rule reach this address. Open the approvals inbox:")
    lines.append(delivery.link)
    # One line: a name with a line break must not end the email's Subject header.
    subject = " ".join(f"[Durable Console] {delivery.title}".split())
    callback = None
    if delivery.event in (Event.CALLBACK, Event.DEADLINE) and execution is not None:
        callback = (execution.pk, delivery.operation_id)
    return channels.Message(
        delivery.event,
        subject,
        "\n".join(lines),
        delivery.link,
        data,
        recipients=recipients,
        callback=callback,
    )


def _approval(delivery: Delivery) -> tuple[Any, list[str], list[str]] | None:
    """The callback's approval policy, its progress, who may approve and their emails (a
    notification goes to the approvers its policy names), or None."""
    from actions import approvals, policies

    operation = (
        Operation.objects.select_related("execution", "execution__function")
        .filter(execution_id=delivery.execution_id, operation_id=delivery.operation_id)
        .first()
    )
    if operation is None:
        return None
    progress = approvals.progress(operation.execution, operation)
    policy = policies.policy_for(operation.execution, operation)
    if progress is None or policy is None:
        return None
    rules = policies.rules_of(policy)
    people = policies.approvers_of(operation.execution, rules)
    names = sorted(user.get_username() for user in people)
    return progress, names, policies.approver_emails(operation.execution, rules)


def _finish(delivery: Delivery, status: str, error: str = "", attempts: int | None = None) -> None:
    fields = {"status": status, "last_error": error[:2000], "finished_at": timezone.now()}
    if attempts is not None:
        fields["attempts"] = attempts
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def retry_delay(attempts: int) -> float:
    delays = settings.NOTIFY_RETRY_SECONDS or [0.0]
    return delays[min(attempts - 1, len(delays) - 1)]


def attempt(delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery if it is due and nobody else has it; its status afterwards
    ('' when it was not this worker's to send)."""
    if not claim(delivery_id, now):
        return ""
    delivery = (
        Delivery.objects.select_related("rule", "execution", "execution__function")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        return ""
    if delivery.event in (Event.CALLBACK, Event.DEADLINE):
        moot = _still_waiting(delivery)
        if moot:
            _finish(delivery, DeliveryStatus.SKIPPED, f"skipped: {moot}")
            return DeliveryStatus.SKIPPED
    if delivery.rule is None:
        _finish(delivery, DeliveryStatus.SKIPPED, "skipped: the rule was deleted")
        return DeliveryStatus.SKIPPED
    if not delivery.rule.enabled and delivery.event != Event.TEST:
        _finish(delivery, DeliveryStatus.SKIPPED, "skipped: the rule was turned off")
        return DeliveryStatus.SKIPPED
    attempts = delivery.attempts + 1
    try:
        channels.send(delivery.channel, delivery.rule, message_for(delivery))
    except channels.SendFailed as exc:
        error = f"Attempt {attempts}: {exc}"
        if attempts >= settings.NOTIFY_MAX_ATTEMPTS:
            _finish(delivery, DeliveryStatus.FAILED, error, attempts)
            return DeliveryStatus.FAILED
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING,
            attempts=attempts,
            last_error=error[:2000],
            next_attempt_at=timezone.now() + timedelta(seconds=retry_delay(attempts)),
        )
        return DeliveryStatus.PENDING
    _finish(delivery, DeliveryStatus.DELIVERED, "", attempts)
    return DeliveryStatus.DELIVERED


def due(now: datetime | None = None, limit: int = 200) -> list[int]:
    """Deliveries to try now: pending and due, or claimed by a worker that died."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=CLAIM_EXPIRES_SECONDS)
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
    lost = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale)
    return list(
        (pending | lost).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit]
    )


def send_due(now: datetime | None = None) -> dict[str, int]:
    """Try every due delivery once; how many ended in each status."""
    counts: dict[str, int] = {}
    for delivery_id in due(now):
        status = attempt(delivery_id)
        if status:
            counts[status] = counts.get(status, 0) + 1
    return counts
