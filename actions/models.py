"""Approval policies (who may approve which callbacks, and how many must), and the
approvals the console holds until a policy is satisfied.

A callback under a policy is answered by the console, not by the first person who clicks:
each approval is a row (so it survives a restart of every process), and the success is
sent once the policy's number of distinct people have approved. The models of the older
actions (AuditEntry, BulkJob) stay in the executions app, with their tables.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from domain.patterns import glob_matches, pattern_weight
from executions.models import Execution, Source


class ApprovalPolicy(models.Model):
    """Who may approve the callbacks it matches, and what an approval needs."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    # What it governs: blank matches all. The most specific policy wins (weight()).
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    function_pattern = models.CharField(max_length=200, blank=True)
    callback_pattern = models.CharField(max_length=200, blank=True)
    # Who may approve (and reject): members of these groups (the console's, or the
    # identity provider's) and these users; blank both: any operator.
    approver_groups = models.CharField(max_length=500, blank=True)
    approver_users = models.CharField(max_length=500, blank=True)
    # The two-person rule and beyond.
    approvals_required = models.PositiveSmallIntegerField(default=1)
    rejections_required = models.PositiveSmallIntegerField(default=1)
    reason_to_approve = models.BooleanField(default=False)
    reason_to_reject = models.BooleanField(default=False)
    # Shown above the form, Markdown (rendered without raw HTML, links http(s) only).
    instructions = models.TextField(blank=True)
    # A path in the execution's input naming who asked ($.requestedBy): they may not approve.
    requester_path = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return self.name

    def weight(self) -> tuple[int, int, int]:
        return (
            1 if self.source_id else 0,
            pattern_weight(self.function_pattern),
            pattern_weight(self.callback_pattern),
        )

    def matches(self, source_id: int, function: str, callback: str) -> bool:
        return (
            (not self.source_id or self.source_id == source_id)
            and glob_matches(function, self.function_pattern)
            and glob_matches(callback, self.callback_pattern)
        )

    @property
    def groups(self) -> list[str]:
        return [g.strip() for g in self.approver_groups.split(",") if g.strip()]

    @property
    def users(self) -> list[str]:
        return [u.strip() for u in self.approver_users.split(",") if u.strip()]


class RequestState(models.TextChoices):
    COLLECTING = "collecting", "Collecting approvals"
    SENDING = "sending", "Sending"
    SENT = "sent", "Answered"
    CLOSED = "closed", "Closed"


class ApprovalRequest(models.Model):
    """One callback under a policy while approvals are collected for it."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="+")
    operation_id = models.CharField(max_length=256)
    callback_id = models.TextField()
    policy = models.ForeignKey(
        ApprovalPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The policy as it was when the first answer came: a policy changed meanwhile does not
    # change the rules of a request under way.
    rules = models.JSONField(default=dict)
    state = models.CharField(
        max_length=12, choices=RequestState.choices, default=RequestState.COLLECTING
    )
    # What was sent ("approved", "rejected"), or why it closed unanswered.
    outcome = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["execution", "operation_id"], name="request_once"),
        ]
        indexes = [
            # The sweep that closes requests whose callback is gone.
            models.Index(fields=["state"], name="approval_request_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}/{self.operation_id}: {self.state}"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class Approval(models.Model):
    """One person's answer to a request: held until the policy is satisfied."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.TextField(blank=True)
    # What this person would send: the result JSON, or the error's fields as JSON.
    payload = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One answer per person and request: a second click, or a second browser, of
            # the same person is not a second approver.
            models.UniqueConstraint(fields=["request", "username"], name="one_answer_each"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.decision}"
