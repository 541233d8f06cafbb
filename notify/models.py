"""Notification rules (who hears about what, and where) and the deliveries made for them.

A Delivery row is the promise of one message: its UniqueConstraint on (rule, channel,
subject, event) makes "one message per callback, rule and channel" hold however many
workers scan the mirror at once and however often they do.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from domain.patterns import glob_matches
from executions.models import Execution, Source


class Event(models.TextChoices):
    CALLBACK = "callback", "A callback started waiting"
    DEADLINE = "deadline", "A callback's deadline is near"
    FAILED = "failed", "An execution failed or timed out"
    GUARD = "guard", "A guardrail acted, or would have"
    TEST = "test", "Test message"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class WebhookFormat(models.TextChoices):
    JSON = "json", "JSON (signed)"
    SLACK = "slack", 'Slack-compatible ({"text": ...}, signed)'


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _emails(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


class Rule(models.Model):
    """Which callbacks and executions a rule is about, which events, and where it sends."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    # What it watches: blank matches everything. Patterns are shell-style (fnmatch:
    # `orders-*`, `*approval*`), matched without regard to case.
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    function_pattern = models.CharField(max_length=200, blank=True)
    callback_pattern = models.CharField(max_length=200, blank=True)
    # Which events.
    on_callback = models.BooleanField("a callback started waiting", default=True)
    on_deadline = models.BooleanField("a callback's deadline is near", default=True)
    deadline_minutes = models.PositiveIntegerField(
        "near means within (minutes)", default=30, help_text="For 'deadline near'."
    )
    on_failure = models.BooleanField("an execution failed or timed out", default=False)
    # Where: email addresses and/or a webhook.
    email_to = models.TextField(
        blank=True, help_text="Email addresses, separated by commas. Blank: no email."
    )
    webhook_url = models.URLField(
        max_length=2000, blank=True, help_text="HTTP(S) URL to POST to. Blank: no webhook."
    )
    webhook_format = models.CharField(
        max_length=8, choices=WebhookFormat.choices, default=WebhookFormat.JSON
    )
    # Signs each webhook body: X-Durable-Console-Signature: sha256=<HMAC of the body>.
    secret = models.CharField(max_length=128, default=new_secret)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def recipients(self) -> list[str]:
        return _emails(self.email_to)

    @property
    def channels(self) -> list[str]:
        found = []
        if self.recipients:
            found.append(Channel.EMAIL)
        if self.webhook_url:
            found.append(Channel.WEBHOOK)
        return found

    @property
    def events(self) -> list[str]:
        chosen = [
            (self.on_callback, Event.CALLBACK),
            (self.on_deadline, Event.DEADLINE),
            (self.on_failure, Event.FAILED),
        ]
        return [event for on, event in chosen if on]

    def clean(self) -> None:
        errors = {}
        from django.core.validators import validate_email

        for address in self.recipients:
            try:
                validate_email(address)
            except ValidationError:
                errors["email_to"] = f"{address!r} is not an email address."
                break
        if self.webhook_url:
            # The address guard's reason (a scheme, a private address) at once, in the
            # pages, the admin and `manage.py notify` alike; the guard that counts runs
            # again at every send (notify/outgoing.py), as a name's answer can change.
            from notify import outgoing

            try:
                outgoing.check(self.webhook_url)
            except outgoing.Refused as exc:
                errors["webhook_url"] = str(exc)
        if not self.email_to.strip() and not self.webhook_url:
            errors["email_to"] = "Give email addresses, a webhook URL, or both: where to send."
        if not self.events:
            errors["on_callback"] = "Choose at least one event."
        if errors:
            raise ValidationError(errors)

    def matches(self, source_id: int, function: str, callback: str | None = None) -> bool:
        """Whether an execution of `function` in source `source_id` (and, for callback
        events, the callback named `callback`) is this rule's business."""
        if self.source_id and self.source_id != source_id:
            return False
        if self.function_pattern and not glob_matches(function, self.function_pattern):
            return False
        if callback is not None and self.callback_pattern:
            return glob_matches(callback, self.callback_pattern)
        return True


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class Delivery(models.Model):
    """One message of one rule to one channel about one subject (a callback, an
    execution), with what became of it."""

    # A deleted rule's deliveries stay in the log (with the rule's name): what was sent to
    # whom must outlive the rule that sent it.
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    rule_name = models.CharField(max_length=100, blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    event = models.CharField(max_length=8, choices=Event.choices)
    # "callback:<execution pk>:<operation id>", "execution:<pk>", "test:<random>".
    subject_key = models.CharField(max_length=300)
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation_id = models.CharField(max_length=256, blank=True)
    # What the message says about its subject, kept for the log.
    title = models.CharField(max_length=500, blank=True)
    link = models.CharField(max_length=2000, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # When a worker took it (status "sending"); one that died mid-send is retried later.
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Exactly once: a second scan, or a second worker, cannot add the same message.
            models.UniqueConstraint(
                fields=["rule", "channel", "subject_key", "event"], name="delivery_once"
            )
        ]
        indexes = [
            # The sender's sweep: pending deliveries whose next attempt is due.
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            # The delivery log: newest first.
            models.Index(fields=["-created_at", "-id"], name="delivery_log_idx"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.rule_name} {self.channel} {self.event} {self.subject_key}: {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.rule_id and not self.rule_name:
            self.rule_name = self.rule.name
        super().save(*args, **kwargs)
