from __future__ import annotations

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    verbose_name = "Durable executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from executions import lambda_api
        from executions.budget import CallBudget
        from executions.lambda_api import calls
        from executions.locks import redis_client, redis_key

        # Every read call of every process pays from one budget in Redis.
        lambda_api.set_budget(CallBudget(redis_client, prefix=redis_key("budget")))
        calls.BUDGET_MAX_WAIT_SECONDS = settings.SYNC_BUDGET_MAX_WAIT_SECONDS
