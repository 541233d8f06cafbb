"""Sources in the audit log: who added, changed, paused, resumed, tested or removed which
source, and what it said, wherever it happened (the sources pages, the Django admin).
Credentials are never on a source, so every field may be written down."""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from executions.models import AuditEntry, AuditOutcome, Source

# Every field a person sets on a source (the pages' form, and the admin's with `enabled`).
AUDITED_FIELDS = [
    "name",
    "enabled",
    "endpoint_url",
    "region",
    "credentials",
    "profile",
    "role_arn",
    "role_external_id",
    "function_names",
    "discover",
    "events_queue_url",
    "events_endpoint_url",
    "telemetry_queue_url",
    "reconcile_interval_seconds",
    "list_interval_seconds",
    "execution_interval_seconds",
    "quota_share",
    "api_quotas",
    "retention_days",
    "retention_by_function",
]


def source_changed(
    user: Any,
    action: str,
    source: Source,
    fields: list[str] | None = None,
    *,
    detail: str = "",
    error: str = "",
) -> AuditEntry:
    """Record `action` (source_created, source_changed, source_paused, source_resumed,
    source_tested, source_deleted) on `source`, with the values of `fields` (none by
    default) or `detail`."""
    payload = f"source {source.name}"
    if fields:
        values = {name: getattr(source, name) for name in fields}
        payload += f": {json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)}"
    if detail:
        payload += f": {detail}"
    return AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=user.get_username() if getattr(user, "pk", None) else "system",
        action=action,
        source=source if source.pk else None,
        source_name=source.name,
        payload=payload,
        outcome=AuditOutcome.FAILED if error else AuditOutcome.SUCCEEDED,
        error=error,
        completed_at=timezone.now(),
    )
