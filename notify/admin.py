from __future__ import annotations

from django.contrib import admin
from django.db import models

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


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The log of what was sent; rows are made by the scan, not by hand."""

    list_display = ["created_at", "rule_name", "channel", "event", "title", "status", "attempts"]
    list_filter = ["status", "channel", "event", "rule"]
    search_fields = ["title", "subject_key", "last_error"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False
