from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from executions import audit
from executions.models import AuditEntry, Execution, Function, SetAsideMessage, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "region",
        "endpoint_url",
        "credentials",
        "discover",
        "quota_share",
        "enabled",
        "last_synced_at",
        "stale_since",
    ]
    list_filter = ["enabled", "credentials", "region"]
    search_fields = ["name", "endpoint_url"]
    readonly_fields = ["created_at", "last_synced_at", "stale_since", "last_error"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # Changes made here are in the audit log too, as the sources pages write them.
    def save_model(self, request: Any, obj: Source, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            audit.source_changed(request.user, "source_created", obj, audit.AUDITED_FIELDS)
            return
        changed = [name for name in audit.AUDITED_FIELDS if name in form.changed_data]
        if changed:
            audit.source_changed(request.user, "source_changed", obj, changed)

    def delete_model(self, request: Any, obj: Source) -> None:
        audit.source_changed(request.user, "source_deleted", obj, audit.AUDITED_FIELDS)
        super().delete_model(request, obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for source in queryset:
            audit.source_changed(request.user, "source_deleted", source, audit.AUDITED_FIELDS)
        super().delete_queryset(request, queryset)


@admin.register(Function)
class FunctionAdmin(admin.ModelAdmin):
    list_display = ["name", "qualifier", "source", "explicit", "discovered", "last_listed_at"]
    list_filter = ["source"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "function",
        "status",
        "started_at",
        "operation_count",
        "pending_callbacks",
        "last_synced_at",
    ]
    list_filter = ["status", "source"]
    search_fields = ["name", "arn"]
    readonly_fields = [f.name for f in Execution._meta.fields]

    def has_add_permission(self, request):  # the mirror is written by sync only
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: audit entries cannot be added, edited or deleted from any UI."""

    list_display = ["created_at", "username", "action", "source_name", "execution", "outcome"]
    list_filter = ["action", "outcome", "source_name"]
    search_fields = ["username", "execution_arn", "callback_id"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    @admin.display(description="execution", ordering="execution_arn")
    def execution(self, entry: AuditEntry) -> str:
        """The execution's name and function, the whole ARN in its title: an ARN of a few
        hundred characters, unbroken, ran the table off the page's right edge."""
        arn = entry.execution_arn
        if not arn:
            return "-"
        head, found, tail = arn.partition("/durable-execution/")
        name = tail.split("/", 1)[0] if found else arn.rsplit(":", 1)[-1][-60:]
        function = head.partition(":function:")[2].split(":", 1)[0] if found else ""
        return format_html(
            '<span title="{}">{}{}</span>', arn, name, f" ({function})" if function else ""
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SetAsideMessage)
class SetAsideMessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "source", "message_id", "reason"]
    list_filter = ["source"]
    readonly_fields = ["source", "message_id", "body", "reason", "received_at"]

    def has_add_permission(self, request: Any) -> bool:
        # Set aside by the consumer only: a form of read-only fields could add nothing whole.
        return False
