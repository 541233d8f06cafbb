"""The API's periodic work."""

from __future__ import annotations

from celery import shared_task

from api import idempotency


@shared_task(soft_time_limit=60, time_limit=90)
def forget_idempotency_keys() -> int:
    """Forget the Idempotency-Keys older than api.idempotency.IDEMPOTENCY_HOURS."""
    return idempotency.forget_old()
