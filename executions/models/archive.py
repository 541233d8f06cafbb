"""The archive's index: one row per execution written to the archive bucket (S3) before
the prune deleted it from the mirror. It survives the prune and is small, so the console
finds an archived execution by name or ARN without listing the bucket."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from executions.models.sources import Function, Source


class ArchivedExecution(models.Model):
    arn = models.CharField(max_length=2048, unique=True)
    name = models.CharField(max_length=256)
    # Kept by name too: the source or function may be removed from the console later.
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")
    source_name = models.CharField(max_length=64)
    function = models.ForeignKey(Function, null=True, on_delete=models.SET_NULL, related_name="+")
    function_name = models.CharField(max_length=170)
    qualifier = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    operation_count = models.PositiveIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    # Where it is: s3://bucket/key, gzip-compressed JSON (executions/archive.py).
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    size_bytes = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    archived_at = models.DateTimeField(default=timezone.now)
    # When the mirror's copy was deleted (None: archived, the mirror still holds it).
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-ended_at", "-id"]
        indexes = [
            # The archive's search: by name (exact and prefix), newest end first.
            models.Index(fields=["name", "-ended_at"], name="archived_name_idx"),
            models.Index(fields=["-ended_at", "-id"], name="archived_ended_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def waiting(self) -> str:
        """Nothing: an archived execution has ended (the status filters read it)."""
        return ""
