"""What guardrails find and do: plain functions over the mirror (the Celery task in tasks.py
runs `run` on beat; the pages call `preview`).

A rule's condition is one of executions/attention.py's, judged by the rule's threshold, over
the functions the rule's source and pattern match: the rule and the needs-attention page
cannot disagree about what "retrying again and again" means. For each finding:

- in a dry run, it records what it would have done (a Firing with dry_run=True), nothing more;
- switched on, it acts once per execution: notify through its notification rule's channels,
  or pause or stop through actions/services.py (audited as `guardrail:<name>`, with the
  reason, like any operator's action), except that
  - an execution waiting for a person's answer (a pending callback) is not paused or stopped
    unless the rule says so: recorded as waiting, tried again on the next run;
  - the circuit breaker: after `max_per_hour` pauses or stops in the last hour, the rest are
    held back (and tried again once the hour has room); the first time in an hour it trips,
    the rule's notification rule hears of it and the audit log records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from actions import services
from executions import attention
from executions.models import AuditEntry, AuditOutcome, Execution, Function, Operation
from guardrails.models import Action, Firing, Guardrail, Mode, Outcome
from notify.models import Delivery, Event
from notify.scan import absolute, link_for

HOUR = timedelta(hours=1)
# Findings a rule works through per run; the rest wait for the next run.
PER_RUN = 200
# Outcomes that are final for a subject: the rule does not look at it again.
FINAL = {Outcome.ACTED, Outcome.NOTIFIED, Outcome.FAILED, Outcome.ENDED, Outcome.WOULD_ACT}


def condition_of(rule: Guardrail) -> attention.Condition:
    return attention.RULE_BY_NAME[rule.condition].with_threshold(rule.threshold)


def functions_of(rule: Guardrail) -> list[int]:
    """The ids of the functions the rule watches (its source and pattern)."""
    functions = Function.objects.all()
    if rule.source_id:
        functions = functions.filter(source_id=rule.source_id)
    return [f.pk for f in functions.only("pk", "name", "source_id") if rule.matches(f)]


def subject_of(finding: attention.Finding) -> str:
    if finding.execution is not None:
        return f"execution:{finding.execution.pk}"
    return f"function:{finding.function.pk if finding.function else 0}"


def _name_of(finding: attention.Finding) -> str:
    if finding.execution is not None:
        return finding.execution.name
    return finding.function.name if finding.function else ""


def waits_for_people(execution: Execution) -> bool:
    return Operation.objects.awaiting_answer().filter(execution=execution).exists()


@dataclass
class Preview:
    """What a rule would do now, and what it would have done over the mirror's last days."""

    functions: int
    now_total: int
    now: list[attention.Finding]
    past_days: int
    past_total: int | None  # None: the mirror cannot tell for this condition
    past: list[attention.Finding]
    running_in_scope: int

    @property
    def matches_everything(self) -> bool:
        """Every running execution it can see matches (and there are several)."""
        return self.running_in_scope >= 2 and self.now_total >= self.running_in_scope


def preview(rule: Guardrail, now: datetime | None = None, limit: int = 50) -> Preview:
    now = now or timezone.now()
    condition = condition_of(rule)
    functions = functions_of(rule)
    if not functions:
        return Preview(0, 0, [], 0, 0, [], 0)
    total, found = condition.look(functions, now, limit)
    days = settings.ATTENTION_LOOKBACK_DAYS
    past = condition.past(functions, now - timedelta(days=days), now, limit)
    running = attention._capped(
        Execution.objects.filter(status="RUNNING", function_id__in=functions)
    )
    return Preview(
        functions=len(functions),
        now_total=total,
        now=found,
        past_days=days,
        past_total=past[0] if past else None,
        past=past[1] if past else [],
        running_in_scope=running,
    )


# ---- acting ----------------------------------------------------------------------------


def _notify(rule: Guardrail, key: str, title: str, link: str, execution: Execution | None) -> int:
    """A message through the rule's notification rule's channels; how many were promised."""
    channel_rule = rule.notify_rule
    if channel_rule is None or not channel_rule.enabled:
        return 0
    made = 0
    for channel in channel_rule.channels:
        try:
            with transaction.atomic():
                Delivery.objects.create(
                    rule=channel_rule,
                    rule_name=channel_rule.name,
                    channel=channel,
                    event=Event.GUARD,
                    subject_key=key[:300],
                    execution=execution,
                    title=title[:500],
                    link=link,
                )
                made += 1
        except IntegrityError:
            pass  # promised already (a second worker, a second run)
    return made


def _acts_last_hour(rule: Guardrail, now: datetime) -> int:
    return Firing.objects.filter(
        guardrail=rule,
        dry_run=False,
        outcome=Outcome.ACTED,
        action__in=[Action.PAUSE, Action.STOP],
        at__gt=now - HOUR,
    ).count()


def _trip(rule: Guardrail, now: datetime, held: int) -> None:
    """Say once per hour that the breaker tripped: the audit log, and the rule's channels."""
    hour = now.strftime("%Y-%m-%dT%H")
    text = (
        f"Guardrail {rule.name} reached its limit of {rule.max_per_hour} automatic "
        f"{rule.action}s in an hour; {held} more held back until the hour has room"
    )
    key = f"guardrail-tripped:{rule.pk}:{hour}"
    if AuditEntry.objects.filter(action="guardrail_tripped", payload=key).exists():
        return
    AuditEntry.objects.create(
        username=rule.actor,
        action="guardrail_tripped",
        payload=key,
        reason=text,
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=now,
    )
    link = absolute(reverse("guardrails:detail", args=[rule.pk]))
    _notify(rule, key, text, link, None)


class _Actor:
    """Who acts in the audit log: the rule, not a person."""

    pk = None

    def __init__(self, name: str) -> None:
        self.username = name

    def get_username(self) -> str:
        return self.username


def _act(rule: Guardrail, finding: attention.Finding) -> tuple[str, str, Any]:
    """Pause or stop the finding's execution; (outcome, error, audit entry)."""
    execution = Execution.objects.select_related("source").get(pk=finding.execution.pk)
    actor = _Actor(rule.actor)
    why = f"guardrail {rule.name}: {finding.reason}"
    try:
        if rule.action == Action.STOP:
            result = services.stop(
                actor, execution, "GuardrailStopped", f"Stopped by {why}"[:1000], reason=why
            )
        else:
            result = services.pause(actor, execution, f"Paused by {why}"[:1000], why=why)
    except services.ActionRefused as exc:
        return Outcome.ENDED, str(exc), None
    if not result.ok:
        return Outcome.FAILED, result.message, result.audit
    return Outcome.ACTED, "", result.audit


def _record(
    rule: Guardrail, finding: attention.Finding, dry_run: bool, now: datetime
) -> Firing | None:
    """The rule's row for this subject: made now, or the one held back before; None when
    the subject is done with (acted on, notified, failed, would have acted)."""
    key = subject_of(finding)
    firing = Firing.objects.filter(guardrail=rule, subject_key=key, dry_run=dry_run).first()
    if firing is not None:
        return None if firing.outcome in FINAL else firing
    try:
        with transaction.atomic():
            return Firing.objects.create(
                guardrail=rule,
                guardrail_name=rule.name,
                dry_run=dry_run,
                subject_key=key,
                execution=finding.execution,
                function=finding.function
                or (finding.execution.function if finding.execution else None),
                subject_name=_name_of(finding)[:300],
                action=rule.action,
                outcome=Outcome.BREAKER,  # a placeholder, set below
                reason=finding.reason,
                first_seen_at=now,
                at=now,
            )
    except IntegrityError:
        return None  # another run holds it


def _finish(
    firing: Firing, outcome: str, now: datetime, error: str = "", audit: Any = None
) -> None:
    firing.outcome = outcome
    firing.error = error[:2000]
    firing.at = now
    firing.audit = audit
    firing.save(update_fields=["outcome", "error", "at", "audit"])


def _new_findings(
    rule: Guardrail, functions: list[int], dry_run: bool, now: datetime
) -> list[attention.Finding]:
    """The first PER_RUN of what the condition finds now, less the subjects the rule is done
    with: the executions left out in the condition's own queries (a rule with thousands of
    matches works through them pass after pass, reading PER_RUN of them, never the ones it
    has dealt with), and a function (a retry storm) the rule is done with left out here."""
    done_with = Firing.objects.filter(
        guardrail=rule,
        dry_run=dry_run,
        outcome__in=list(FINAL),
        execution__isnull=False,  # a pruned execution's row: NOT IN over a NULL finds nothing
    ).values("execution_id")
    findings = condition_of(rule).leaving_out(done_with).find(functions, now, PER_RUN)
    functions_found = [subject_of(f) for f in findings if f.execution is None]
    if not functions_found:  # executions: the condition left out those done with
        return findings
    done = set(
        Firing.objects.filter(
            guardrail=rule,
            dry_run=dry_run,
            subject_key__in=functions_found,
            outcome__in=list(FINAL),
        ).values_list("subject_key", flat=True)
    )
    return [f for f in findings if f.execution is not None or subject_of(f) not in done]


def run_rule(rule: Guardrail, now: datetime | None = None) -> dict[str, int]:
    """One pass of one rule: what it finds now, acted on (or recorded, in a dry run)."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    if rule.mode == Mode.OFF:
        return counts
    dry_run = rule.mode == Mode.DRY_RUN
    functions = functions_of(rule)
    if not functions:
        return counts
    acts = None if dry_run else _acts_last_hour(rule, now)
    held = 0
    for finding in _new_findings(rule, functions, dry_run, now):
        firing = _record(rule, finding, dry_run, now)
        if firing is None:
            continue
        outcome, error, audit = Outcome.WOULD_ACT, "", None
        if dry_run:
            pass
        elif rule.action == Action.NOTIFY or finding.execution is None:
            link = (
                link_for(finding.execution, None)
                if finding.execution
                else absolute(reverse("guardrails:detail", args=[rule.pk]))
            )
            title = f"Guardrail {rule.name}: {firing.subject_name}: {finding.reason}"
            _notify(
                rule, f"guardrail:{rule.pk}:{firing.subject_key}", title, link, finding.execution
            )
            outcome = Outcome.NOTIFIED
        elif not rule.act_while_waiting_for_people and waits_for_people(finding.execution):
            outcome = Outcome.WAITING_FOR_PEOPLE
        elif acts >= rule.max_per_hour:
            outcome = Outcome.BREAKER
            held += 1
        else:
            outcome, error, audit = _act(rule, finding)
            if outcome == Outcome.ACTED:
                acts += 1
                done = "stopped" if rule.action == Action.STOP else "paused"
                _notify(
                    rule,
                    f"guardrail:{rule.pk}:{firing.subject_key}",
                    f"Guardrail {rule.name} {done} {firing.subject_name}: {finding.reason}",
                    link_for(finding.execution, None),
                    finding.execution,
                )
        _finish(firing, outcome, now, error, audit)
        counts[outcome] = counts.get(outcome, 0) + 1
    if held:
        _trip(rule, now, held)
    return counts


def run(now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Every rule that is on or in a dry run, once."""
    return {
        rule.name: run_rule(rule, now)
        for rule in Guardrail.objects.exclude(mode=Mode.OFF).select_related("notify_rule")
    }
