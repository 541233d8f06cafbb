from __future__ import annotations

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    verbose_name = "Durable executions"
    default_auto_field = "django.db.models.BigAutoField"
