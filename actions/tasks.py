"""Thin Celery tasks around actions/bulk.py and actions/approvals.py."""

from __future__ import annotations

from celery import shared_task

from actions import approvals, bulk
from actions.bulk_answers import run_bulk_answer_task  # noqa: F401 (registers the task)


# Registered under its old name, so jobs queued before the actions app existed still run.
@shared_task(name="executions.tasks.run_bulk_stop", soft_time_limit=3000, time_limit=3600)
def run_bulk_stop(job_id: int) -> dict:
    return bulk.run_bulk_stop(job_id)


@shared_task(soft_time_limit=60, time_limit=90)
def close_stale_approvals() -> int:
    """Close the held approvals of callbacks that no longer wait (timed out, execution
    ended), with that reason."""
    return approvals.close_stale()
