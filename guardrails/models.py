"""Guardrails: rules that watch for runaway executions (a condition of the needs-attention
page, executions/attention.py, with the rule's own threshold) and act on what they find:
notify, pause or stop. And the record of what each rule did, or in a dry run would have
done, per execution: the rule's history, and what makes it act once per execution."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from domain.patterns import glob_matches
from executions.models import AuditEntry, Execution, Function, Source


class Mode(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run: records what it would do, does nothing"
    ON = "on", "On: acts"
    OFF = "off", "Off"


class Action(models.TextChoices):
    NOTIFY = "notify", "Notify"
    PAUSE = "pause", "Pause"
    STOP = "stop", "Stop"


class Guardrail(models.Model):
    name = models.CharField(max_length=100, unique=True)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.DRY_RUN)
    # What it watches: blank matches everything; the pattern is shell-style, any case.
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    function_pattern = models.CharField(max_length=200, blank=True)
    # A condition of executions/attention.py (RULE_CONDITIONS), and its threshold (None:
    # the setting's, as the needs-attention page uses it).
    condition = models.CharField(max_length=30)
    threshold = models.FloatField(null=True, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.NOTIFY)
    # Where its messages go: a notification rule's channels (its email and webhook).
    notify_rule = models.ForeignKey(
        "notify.Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An execution waiting for a person's answer is never paused or stopped by a rule
    # unless the rule says so here.
    act_while_waiting_for_people = models.BooleanField(default=False)
    # The circuit breaker: at most this many pauses or stops in any hour.
    max_per_hour = models.PositiveIntegerField(default=10)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When it was last switched on: a rule acts only on what it finds from then on.
    switched_on_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def actor(self) -> str:
        """Who the audit log says acted."""
        return f"guardrail:{self.name}"

    def matches(self, function: Function) -> bool:
        if self.source_id and function.source_id != self.source_id:
            return False
        return not self.function_pattern or glob_matches(function.name, self.function_pattern)


class Outcome(models.TextChoices):
    WOULD_ACT = "would_act", "Would have acted (dry run)"
    ACTED = "acted", "Acted"
    NOTIFIED = "notified", "Notified"
    FAILED = "failed", "The backend refused"
    WAITING_FOR_PEOPLE = "waiting", "Not acted on: waits for a person's answer"
    BREAKER = "breaker", "Held back: the circuit breaker tripped"
    ENDED = "ended", "Ended before the rule acted"


class Firing(models.Model):
    """One rule and one subject (an execution, or for a retry storm a function): what the
    rule did about it. One row per rule, subject and run kind (dry or live): a rule acts
    once on an execution; a row held back (waiting for people, breaker) is tried again."""

    guardrail = models.ForeignKey(
        Guardrail, null=True, on_delete=models.SET_NULL, related_name="firings"
    )
    guardrail_name = models.CharField(max_length=100)
    dry_run = models.BooleanField(default=False)
    subject_key = models.CharField(max_length=100)
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    function = models.ForeignKey(
        Function, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_name = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField()
    error = models.TextField(blank=True)
    audit = models.ForeignKey(
        AuditEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["guardrail", "subject_key", "dry_run"], name="firing_once"
            )
        ]
        indexes = [
            # The circuit breaker: a rule's acts in the last hour; its history, newest first.
            models.Index(fields=["guardrail", "outcome", "-at"], name="firing_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.guardrail_name}: {self.subject_name} ({self.outcome})"

    @property
    def words(self) -> str:
        """The outcome in a sentence, with the action: "Would have stopped it"."""
        done = {"notify": "notified", "pause": "paused", "stop": "stopped"}[self.action]
        if self.outcome == Outcome.WOULD_ACT:
            return f"Would have {done} it"
        if self.outcome == Outcome.ACTED:
            return f"{done.capitalize()} it"
        return self.get_outcome_display()
