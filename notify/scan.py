"""Finding what the rules ask about, in the mirror, and promising one message for each.

`scan()` reads the mirror (it never calls an endpoint and is not part of the sync):
pending callbacks of running executions, the deadlines their histories give, and
executions that failed or timed out lately. For each match of each enabled rule and
each of its channels it inserts a Delivery; the table's unique constraint turns a second
insert (another scan, another worker) into nothing. It returns the new deliveries' ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from domain.status import FAILED_STATUSES
from executions import deadlines, schedule
from executions.models import Execution, Operation
from notify.models import Delivery, Event, Rule


@dataclass
class Match:
    event: str
    subject_key: str
    execution: Execution
    operation: Operation | None = None
    deadline: datetime | None = None

    @property
    def title(self) -> str:
        execution = self.execution
        where = f"{execution.name} ({execution.function.name})"
        if self.event == Event.FAILED:
            return f"{where} {execution.get_status_display().lower()}"
        label = self.operation.label if self.operation else "a callback"
        if self.event == Event.DEADLINE:
            return f"{label} of {where} times out soon"
        return f"{label} of {where} waits for a decision"


def absolute(path: str) -> str:
    return f"{settings.CONSOLE_BASE_URL}{path}"


def link_for(execution: Execution, operation: Operation | None) -> str:
    """The page a message opens: the callback's operation page (its Approve and Reject
    form), or the execution's."""
    if operation is not None:
        return absolute(reverse("browser:operation", args=[execution.pk, operation.operation_id]))
    return absolute(reverse("browser:detail", args=[execution.pk]))


def callback_key(operation: Operation) -> str:
    return f"callback:{operation.execution_id}:{operation.operation_id}"


def matches(now: datetime | None = None) -> list[Match]:
    """Everything any rule may be about, now."""
    now = now or timezone.now()
    found: list[Match] = []
    pending = list(Operation.objects.awaiting_answer())
    times = deadlines.for_operations(pending)
    for op in pending:
        key = callback_key(op)
        found.append(Match(Event.CALLBACK, key, op.execution, op))
        due = times.get((op.execution_id, op.operation_id))
        if due is not None and due.first is not None:
            found.append(Match(Event.DEADLINE, key, op.execution, op, due.first))
    since = now - timedelta(seconds=settings.NOTIFY_FAILURE_WINDOW_SECONDS)
    failed = Execution.objects.filter(status__in=FAILED_STATUSES, ended_at__gte=since)
    for execution in failed.select_related("function", "source"):
        found.append(Match(Event.FAILED, f"execution:{execution.pk}", execution))
    return found


def applies(rule: Rule, match: Match, now: datetime) -> bool:
    if match.event not in rule.events:
        return False
    callback = match.operation.label if match.operation else None
    if not rule.matches(match.execution.source_id, match.execution.function.name, callback):
        return False
    if match.event == Event.DEADLINE:
        near = now + timedelta(minutes=rule.deadline_minutes)
        return match.deadline is not None and now < match.deadline <= near
    if match.event == Event.FAILED:
        # Not the failures from before the rule existed.
        return match.execution.ended_at is not None and match.execution.ended_at >= rule.created_at
    return True


def promise(rule: Rule, channel: str, match: Match) -> Delivery | None:
    """Insert the delivery, or None when it exists already (another scan made it)."""
    try:
        with transaction.atomic():
            return Delivery.objects.create(
                rule=rule,
                channel=channel,
                event=match.event,
                subject_key=match.subject_key,
                execution=match.execution,
                operation_id=match.operation.operation_id if match.operation else "",
                title=match.title[:500],
                link=link_for(match.execution, match.operation),
                deadline=match.deadline,
            )
    except IntegrityError:
        return None


def scan(now: datetime | None = None) -> list[int]:
    """Promise a delivery for each new match; the ids of those just promised."""
    now = now or timezone.now()
    rules = [rule for rule in Rule.objects.filter(enabled=True) if rule.channels]
    if not rules:
        return []
    created = []
    told: list[Operation] = []
    found = matches(now)
    existing = _promised(rules, {match.subject_key for match in found})
    for match in found:
        for rule in rules:
            if not applies(rule, match, now):
                continue
            for channel in rule.channels:
                if (rule.pk, channel, match.subject_key, match.event) in existing:
                    continue
                delivery = promise(rule, channel, match)
                if delivery is not None:
                    created.append(delivery.pk)
                    if match.operation is not None:
                        told.append(match.operation)
    # Someone is about to be told of callbacks whose ids no history read has given yet
    # (telemetry told of them first): read their executions first, so that the answer
    # form is there by the time the link is opened (and Slack's buttons work).
    schedule.want_callback_ids(told)
    return created


def _promised(rules: list[Rule], keys: set[str]) -> set[tuple[int, str, str, str]]:
    """The deliveries already made about these subjects: most of a scan's matches, which
    are then not inserted again (the constraint would refuse them anyway)."""
    keys_list = sorted(keys)
    promised = set()
    for index in range(0, len(keys_list), 500):
        promised.update(
            Delivery.objects.filter(
                rule__in=rules, subject_key__in=keys_list[index : index + 500]
            ).values_list("rule_id", "channel", "subject_key", "event")
        )
    return promised


def promise_test(rule: Rule) -> list[int]:
    """A test message to each of the rule's channels, now, linking to the inbox."""
    key = f"test:{uuid.uuid4().hex}"
    return [
        Delivery.objects.create(
            rule=rule,
            channel=channel,
            event=Event.TEST,
            subject_key=key,
            title=f"Test message of the rule {rule.name}",
            link=absolute(reverse("actions:approvals")),
        ).pk
        for channel in rule.channels
    ]
