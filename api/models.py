"""What the API keeps: the answers to requests sent with an Idempotency-Key, so that a
client's retry of an action gets the first answer again instead of acting twice."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from access.models import ApiToken


class IdempotentRequest(models.Model):
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # What the request was (method, path and a digest of its body): the same key with
    # another request is refused, not answered with the first one's answer.
    fingerprint = models.CharField(max_length=64)
    # Null while the first request runs; a retry meanwhile is told to wait.
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'running'})"
