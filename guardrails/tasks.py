"""Beat runs every guardrail that is on or in a dry run (engine.run), one pass at a time."""

from __future__ import annotations

from celery import shared_task

from executions.locks import Locked, redis_lock
from guardrails import engine


@shared_task(soft_time_limit=100, time_limit=120)
def run_guardrails() -> dict:
    try:
        with redis_lock("guardrails"):
            return engine.run()
    except Locked:
        return {"skipped": "another pass is running"}
