"""Notification rules in the audit log: who created, changed, tested or deleted which rule,
and what it said, wherever it happened (the pages, the admin)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from executions.models import AuditEntry, AuditOutcome
from notify.models import Rule

# What of a rule the audit log keeps: every field a person sets (the rule form's), not its
# signing secret; of a webhook URL only where it points (Slack's and others' webhook URLs
# carry their own secret in the path).
AUDITED_FIELDS = [
    "name",
    "enabled",
    "source",
    "function_pattern",
    "callback_pattern",
    "on_callback",
    "on_deadline",
    "deadline_minutes",
    "on_failure",
    "email_to",
    "webhook_url",
    "webhook_format",
]


def described(rule: Rule, fields: list[str]) -> str:
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(rule, name)
        if name == "source":
            value = rule.source.name if rule.source_id else ""
        elif name == "webhook_url" and value:
            parts = urlsplit(value)
            value = f"{parts.scheme}://{parts.hostname}/…"
        values[name] = value
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def rule_changed(
    user: Any, action: str, rule: Rule, fields: list[str] | None = None, error: str = ""
) -> AuditEntry:
    """Record `action` (rule_created, rule_changed, rule_tested, rule_deleted) on `rule`,
    with the values of `fields` (all of them by default; [] for none)."""
    fields = AUDITED_FIELDS if fields is None else fields
    payload = f"rule {rule.name}: {described(rule, fields)}" if fields else f"rule {rule.name}"
    return AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=getattr(user, "username", "") or "system",
        action=action,
        source=rule.source if rule.source_id else None,
        source_name=rule.source.name if rule.source_id else "",
        payload=payload,
        outcome=AuditOutcome.FAILED if error else AuditOutcome.SUCCEEDED,
        error=error,
        completed_at=timezone.now(),
    )
