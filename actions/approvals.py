"""The one way a callback is answered, from every path (the execution page, the inbox,
bulk answers, and any later API or chat button): under no policy the answer is sent at
once, as it always was; under a policy the console holds each approval and sends the
success once enough distinct people have approved (a rejection at once, unless the policy
asks for more than one).

Two approvers answering at the same moment produce one send: the request's row is locked
while an answer is counted, and the answer that completes it moves the request from
collecting to sending in one conditional update, which only one of them can win.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from access import roles
from actions import policies, services
from actions.models import Approval, ApprovalRequest, Decision, RequestState
from actions.services import ActionRefused, ActionResult
from executions.models import AuditEntry, AuditOutcome, Execution, Operation

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where a request under a policy stands, for the pages and the notifications."""

    policy: str
    approvals: list[Approval]
    rejections: list[Approval]
    approvals_required: int
    rejections_required: int
    state: str
    outcome: str
    # The policy's rules as the request keeps them (actions/policies.rules_of).
    rules: dict[str, Any]

    @property
    def waiting_for(self) -> int:
        return max(0, self.approvals_required - len(self.approvals))

    @property
    def words(self) -> str:
        if self.state == RequestState.CLOSED:
            return f"Closed: {self.outcome}"
        text = f"{len(self.approvals)} of {self.approvals_required} approvals"
        if self.waiting_for and self.approvals:
            more = "one more" if self.waiting_for == 1 else f"{self.waiting_for} more"
            text += f"; waiting for {more}"
        return text


def progress(execution: Execution, operation: Operation) -> Progress | None:
    """The request's state, or None when no policy governs the callback."""
    return progress_of([operation]).get(operation.pk)


def progress_of(operations: list[Operation]) -> dict[int, Progress]:
    """{operation pk: Progress} of the callbacks a policy governs, in a few queries (the
    inbox's page of them); their executions must be loaded with their functions."""
    if not operations:
        return {}
    candidates = policies.enabled_policies()
    requests = {
        (r.execution_id, r.operation_id): r
        for r in ApprovalRequest.objects.filter(
            execution_id__in={op.execution_id for op in operations},
            operation_id__in={op.operation_id for op in operations},
        ).prefetch_related("votes")
    }
    found = {}
    for operation in operations:
        request = requests.get((operation.execution_id, operation.operation_id))
        if request is not None:
            rules = request.rules
        else:
            policy = policies.policy_for(operation.execution, operation, candidates)
            if policy is None:
                continue
            rules = policies.rules_of(policy)
        found[operation.pk] = _progress(rules, request)
    return found


def _progress(rules: dict[str, Any], request: ApprovalRequest | None) -> Progress:
    votes = list(request.votes.all()) if request else []
    return Progress(
        policy=rules["policy"],
        approvals=[v for v in votes if v.decision == Decision.APPROVE],
        rejections=[v for v in votes if v.decision == Decision.REJECT],
        approvals_required=rules["approvals_required"],
        rejections_required=rules["rejections_required"],
        state=request.state if request else RequestState.COLLECTING,
        outcome=request.outcome if request else "",
        rules=rules,
    )


def _audit(user: Any, execution: Execution, operation: Operation, record: dict) -> AuditEntry:
    return AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=user.get_username(),
        action="approval",
        source=execution.source,
        source_name=execution.source.name,
        execution_arn=execution.arn,
        callback_id=operation.callback_id,
        payload=json.dumps(record, ensure_ascii=False, sort_keys=True),
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=timezone.now(),
    )


def answer(
    user: Any,
    execution: Execution,
    operation: Operation,
    decision: str,
    *,
    result: str = "{}",
    error_type: str = "",
    error_message: str = "",
    error_data: str = "",
    reason: str = "",
) -> ActionResult:
    """Approve (send `result`) or reject (send the error) the callback, as its policy
    allows; the input is clean (actions/forms.py). Raises ActionRefused when this person
    may not answer or the callback no longer waits."""
    if not roles.may_act(user, execution):
        raise ActionRefused(
            "Answering this callback needs the operator role on its function; nothing was sent.",
            "forbidden",
        )
    services.answerable(execution, operation)
    policy = policies.policy_for(execution, operation)
    if policy is None:
        return _send(
            user,
            execution,
            operation,
            decision,
            result,
            error_type,
            error_message,
            error_data,
            reason,
        )
    rules = policies.rules_of(policy)
    why_not = policies.refusal(user, execution, rules)
    if why_not:
        raise ActionRefused(why_not, "forbidden")
    needs_reason = rules[
        "reason_to_approve" if decision == Decision.APPROVE else "reason_to_reject"
    ]
    if needs_reason and not reason.strip():
        verb = "approve" if decision == Decision.APPROVE else "reject"
        raise ActionRefused(
            f"The policy “{policy.name}” asks for a reason to {verb}: give one.", "reason_required"
        )
    payload = (
        result
        if decision == Decision.APPROVE
        else json.dumps(
            {"ErrorType": error_type, "ErrorMessage": error_message, "ErrorData": error_data}
        )
    )
    with transaction.atomic():
        request, _ = ApprovalRequest.objects.get_or_create(
            execution=execution,
            operation_id=operation.operation_id,
            defaults={"callback_id": operation.callback_id, "policy": policy, "rules": rules},
        )
        # Counted one answer at a time (PostgreSQL locks the row; SQLite's writers queue).
        request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != RequestState.COLLECTING:
            raise ActionRefused(
                "This callback was answered (or closed) a moment ago; nothing more was sent.",
                "not_waiting",
            )
        Approval.objects.update_or_create(
            request=request,
            username=user.get_username(),
            defaults={
                "user": user,
                "decision": decision,
                "reason": reason.strip(),
                "payload": payload,
            },
        )
        votes = list(request.votes.all())
        approvers = [v.username for v in votes if v.decision == Decision.APPROVE]
        rejecters = [v.username for v in votes if v.decision == Decision.REJECT]
        rules = request.rules
        complete = (
            len(approvers) >= rules["approvals_required"]
            if decision == Decision.APPROVE
            else len(rejecters) >= rules["rejections_required"]
        )
        sending = complete and bool(
            ApprovalRequest.objects.filter(pk=request.pk, state=RequestState.COLLECTING).update(
                state=RequestState.SENDING, updated_at=timezone.now()
            )
        )
    counted = approvers if decision == Decision.APPROVE else rejecters
    needed = rules["approvals_required" if decision == Decision.APPROVE else "rejections_required"]
    entry = _audit(
        user,
        execution,
        operation,
        {
            "policy": rules["policy"],
            "decision": decision,
            "reason": reason.strip(),
            "count": f"{len(counted)} of {needed}",
            "with": [name for name in counted if name != user.get_username()],
            "sent": sending,
        },
    )
    if not sending:
        more = needed - len(counted)
        return ActionResult(
            True,
            f"Your {'approval' if decision == Decision.APPROVE else 'rejection'} is held: "
            f"{len(counted)} of {needed} (policy “{rules['policy']}”); waiting for "
            f"{'one more' if more == 1 else f'{more} more'}. Nothing was sent yet.",
            entry,
            execution=execution,
            held=True,
        )
    sent = _send(
        user,
        execution,
        operation,
        decision,
        result,
        error_type,
        error_message,
        error_data,
        reason,
    )
    ApprovalRequest.objects.filter(pk=request.pk).update(
        state=RequestState.SENT if sent.ok else RequestState.COLLECTING,
        outcome=(
            f"{'approved' if decision == Decision.APPROVE else 'rejected'} by {', '.join(counted)}"
            if sent.ok
            else ""
        ),
        updated_at=timezone.now(),
    )
    return sent


def _send(
    user: Any,
    execution: Execution,
    operation: Operation,
    decision: str,
    result: str,
    error_type: str,
    error_message: str,
    error_data: str,
    reason: str,
) -> ActionResult:
    """Send the answer; the audit entry keeps the person's reason (the one who completed
    the count, under a policy: the others' are on their held approvals' entries)."""
    if decision == Decision.APPROVE:
        return services.callback_success(
            user, execution, operation.callback_id, result, reason=reason.strip()
        )
    return services.callback_failure(
        user,
        execution,
        operation.callback_id,
        error_type,
        error_message,
        error_data,
        reason=reason.strip(),
    )


def close_stale() -> int:
    """Close the requests whose callback no longer waits (it timed out, the execution
    ended, someone answered it outside the console), with that reason; how many."""
    closed = 0
    for request in ApprovalRequest.objects.filter(state=RequestState.COLLECTING).select_related(
        "execution"
    ):
        operation = Operation.objects.filter(
            execution_id=request.execution_id, operation_id=request.operation_id
        ).first()
        execution = request.execution
        if operation is not None and operation.is_pending_callback and not execution.is_terminal:
            continue
        if execution.is_terminal:
            reason = f"the execution ended ({execution.status.lower().replace('_', ' ')})"
        elif operation is None:
            reason = "the callback is no longer in the mirror"
        elif operation.status == "TIMED_OUT":
            reason = "the callback timed out"
        else:
            reason = f"the callback was answered elsewhere ({operation.status.lower()})"
        closed += ApprovalRequest.objects.filter(
            pk=request.pk, state=RequestState.COLLECTING
        ).update(state=RequestState.CLOSED, outcome=reason, updated_at=timezone.now())
    return closed
