from __future__ import annotations

from django.apps import AppConfig


class ActionsConfig(AppConfig):
    """Operator actions: callbacks, stop, pause/resume, start, bulk jobs, the approvals
    inbox, the audit log and roles. The models (AuditEntry, BulkJob) stay in the
    executions app, with their tables."""

    name = "actions"
    verbose_name = "Operator actions"
