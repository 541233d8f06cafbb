from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models

from notify import audit
from notify.models import Delivery, Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "enabled",
        "source",
        "function_pattern",
        "callback_pattern",
        "on_callback",
        "on_deadline",
        "on_failure",
        "email_to",
        "webhook_url",
    ]
    list_filter = ["enabled", "on_callback", "on_deadline", "on_failure", "webhook_format"]
    search_fields = ["name", "function_pattern", "callback_pattern", "email_to", "webhook_url"]
    readonly_fields = ["created_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        # A rule without a source watches them all: the admin says so, as the pages do.
        if db_field.name == "source":
            kwargs["empty_label"] = "Any source"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Changes made here are in the audit log too, as those made on the console's pages.
    def save_model(self, request: Any, obj: Rule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            audit.rule_changed(request.user, "rule_created", obj)
        else:
            changed = [name for name in audit.AUDITED_FIELDS if name in form.changed_data]
            if changed:
                audit.rule_changed(request.user, "rule_changed", obj, changed)

    def delete_model(self, request: Any, obj: Rule) -> None:
        audit.rule_changed(request.user, "rule_deleted", obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for rule in queryset:
            audit.rule_changed(request.user, "rule_deleted", rule)
        super().delete_queryset(request, queryset)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The log of what was sent; rows are made by the scan, not by hand."""

    list_display = ["created_at", "rule_name", "channel", "event", "title", "status", "attempts"]
    list_filter = ["status", "channel", "event", "rule"]
    search_fields = ["title", "subject_key", "last_error"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False
