"""What the console records of its own work: status-event messages it set aside, the
audit log of operator actions, and bulk jobs."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.db import models
from django.utils import timezone

from executions.models.sources import Source


class SetAsideMessage(models.Model):
    """A status event message the console could not use, kept with its reason (it is
    deleted from the queue, so it is not read again and again)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="set_aside")
    message_id = models.CharField(max_length=128)
    body = models.TextField()
    reason = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The sync health page: a source's newest set-aside messages.
            models.Index(fields=["source", "-received_at"], name="set_aside_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.reason}"


class HeldTelemetryRecord(models.Model):
    """A telemetry record for an execution the mirror does not have yet (or of a function
    the source does not watch), kept rather than dropped: the newest one per execution,
    applied once a listing or a status event brings the execution into the mirror
    (executions/telemetry.py)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="held_telemetry")
    execution_arn = models.CharField(max_length=2048)
    # The record's emittedAt, as it wrote it (fixed-width UTC text: text order is time order).
    emitted_at = models.CharField(max_length=40, blank=True)
    body = models.TextField()
    reason = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "execution_arn"], name="held_telemetry_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.execution_arn} at {self.emitted_at}"


class AuditOutcome(models.TextChoices):
    PENDING = "PENDING", "Sent, awaiting the backend"
    SUCCEEDED = "SUCCEEDED", "Done"
    FAILED = "FAILED", "The backend refused it"


# How the current request acts, when not through the pages ("API token ci-deploy",
# "Slack"): every audit entry written while it is set records it (api/auth.py sets it).
acting_via: ContextVar[str] = ContextVar("acting_via", default="")


class AuditEntry(models.Model):
    """One operator action, written before the API call and completed after it.

    Append-only from the UI: the admin shows entries read-only and nothing deletes them.
    """

    user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the record survives the user's deletion.
    username = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    action = models.CharField(max_length=32)
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_name = models.CharField(max_length=64, blank=True)
    execution_arn = models.CharField(max_length=2048, blank=True)
    callback_id = models.TextField(blank=True)
    # What was sent (callback result, error fields, start input), as text.
    payload = models.TextField(blank=True)
    outcome = models.CharField(
        max_length=16, choices=AuditOutcome.choices, default=AuditOutcome.PENDING
    )
    error = models.TextField(blank=True)
    # How the person acted when not through the pages: "API token ci-deploy", "Slack".
    via = models.CharField(max_length=150, blank=True)
    # The person's reason, when they gave one (an answer to a callback, with or without
    # an approval policy that asks for it).
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # The audit page: newest first, optionally filtered by action or user.
            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
            models.Index(fields=["username", "-created_at"], name="audit_user_idx"),
            # Everything done to one execution.
            models.Index(fields=["execution_arn"], name="audit_arn_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.via:
            self.via = acting_via.get()
        super().save(*args, **kwargs)


class BulkJob(models.Model):
    """A bulk action (stop many executions) run by Celery, with its progress."""

    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    execution_ids = models.JSONField(default=list)
    parameters = models.JSONField(default=dict, blank=True)
    # [{"arn": ..., "name": ..., "error": ...}] for every execution the action failed on.
    failures = models.JSONField(default=list, blank=True)
    # [{"execution_id": ..., "name": ..., "reason": ...}] for every execution not acted on
    # because it ended or changed since the set was frozen (actions/bulk.py).
    skipped = models.JSONField(default=list, blank=True)
    # Asked to stop: the loop stops before its next execution; what was sent stays sent.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} of {self.total}"

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def left(self) -> int:
        """Executions not worked on (yet, or ever: a cancelled job's rest)."""
        return max(self.total - self.done, 0)
