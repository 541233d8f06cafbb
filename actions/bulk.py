"""Bulk stop: which executions a request names, the job that records the work, and the loop
that stops them one by one (run by the Celery task in actions/tasks.py, or called directly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.http import QueryDict
from django.utils import timezone

from access import roles
from access.scope import scope_of
from actions import services
from browser import listing
from executions.models import TERMINAL_STATUSES, BulkJob, Execution
from executions.models.records import acting_via

# A filter names at most this many executions: a bulk job is a list of ids in one row.
MAX_TARGETS = 10000


def _actionable(user: Any) -> Any:
    """The executions this person may act on (access/scope.py)."""
    acting = scope_of(user).act
    executions = Execution.objects.all()
    return executions if acting is None else executions.filter(function_id__in=acting)


def running_matching(query: str, user: Any) -> list[int]:
    """The running executions that match the list's filter (its query string) and that
    this person may act on."""
    flt = listing.ListFilter.from_query(QueryDict(query))
    executions = flt.apply(_actionable(user))
    return list(
        executions.exclude(status__in=TERMINAL_STATUSES).values_list("pk", flat=True)[:MAX_TARGETS]
    )


def running_among(ids: Iterable[int], user: Any) -> list[int]:
    """Those of these executions that exist, are still running and that this person may
    act on."""
    return list(
        _actionable(user)
        .filter(pk__in=list(ids))
        .exclude(status__in=TERMINAL_STATUSES)
        .values_list("pk", flat=True)
    )


def create_stop_job(
    user: Any,
    execution_ids: list[int],
    error_type: str = "",
    error_message: str = "",
    via: str = "",
) -> BulkJob:
    """`via`: how it was asked for when not on the pages (an API token), for the audit
    entries of its stops."""
    return BulkJob.objects.create(
        user=user,
        action="stop",
        total=len(execution_ids),
        execution_ids=execution_ids,
        parameters={
            "error_type": error_type or "StoppedByOperator",
            "error_message": error_message or f"Bulk stop by {user.get_username()}",
            "via": via,
        },
    )


def run_job(
    job_id: int,
    *,
    actions: Iterable[str],
    targets: Callable[[BulkJob], list[int]],
    load: Callable[[int], Any],
    act: Callable[[Any, BulkJob, Any], str | dict[str, Any]],
    describe: Callable[[int, Any], dict[str, Any]],
) -> dict:
    """The loop of every bulk job (a stop, an answer to many callbacks): each target in
    turn, recording progress and each failure, so the job's page follows it; resumes where
    it left off (`done`) after a worker restart. Whoever asked must still be allowed to
    act when each target's turn comes.

    `load` a target by id (None: no longer mirrored), `act` on it ('' when done, else why
    not, or a record of its own: {"held": why} for an approval a policy holds),
    `describe` it in the record."""
    job = BulkJob.objects.filter(pk=job_id, finished_at__isnull=True, action__in=actions).first()
    if job is None:
        return {"job_id": job_id, "skipped": "missing or finished"}
    user = get_user_model().objects.filter(pk=job.user_id).first()
    # The audit entries of its actions say how the job was asked for (an API token).
    via = acting_via.set((job.parameters or {}).get("via", ""))
    ids = targets(job)
    try:
        failures = _work(job, user, ids, load, act, describe)
    finally:
        acting_via.reset(via)
    BulkJob.objects.filter(pk=job.pk).update(finished_at=timezone.now())
    return {"job_id": job_id, "done": len(ids), "failed": len(failures)}


def _work(
    job: BulkJob,
    user: Any,
    ids: list[int],
    load: Callable[[int], Any],
    act: Callable[[Any, BulkJob, Any], str | dict[str, Any]],
    describe: Callable[[int, Any], dict[str, Any]],
) -> list[dict[str, Any]]:
    failures = list(job.failures)
    for index, target_id in enumerate(ids[job.done :], start=job.done):
        target = load(target_id)
        if target is None:
            error = "No longer in the mirror."
        elif user is None or not roles.can_act(user):
            error = "The user who asked for this may no longer act."
        else:
            error = act(user, job, target)
        if error:
            record = error if isinstance(error, dict) else {"error": error}
            failures.append({**describe(target_id, target), **record})
        BulkJob.objects.filter(pk=job.pk).update(done=index + 1, failures=failures)
    return failures


def _stop(user: Any, job: BulkJob, execution: Execution) -> str:
    if not roles.may_act(user, execution):
        return "The user who asked for this may not act on this execution any more."
    params = job.parameters or {}
    try:
        result = services.stop(
            user, execution, params.get("error_type", ""), params.get("error_message", "")
        )
    except services.ActionRefused as exc:
        return str(exc)
    return "" if result.ok else result.message


def run_bulk_stop(job_id: int) -> dict:
    """Stop every execution of a BulkJob (run_job's loop)."""
    return run_job(
        job_id,
        actions=["stop"],
        targets=lambda job: job.execution_ids,
        load=lambda pk: Execution.objects.select_related("source").filter(pk=pk).first(),
        act=_stop,
        describe=lambda pk, execution: {
            "execution_id": pk,
            "name": execution.name if execution else "",
            "arn": execution.arn if execution else "",
        },
    )


# What became of each execution, for the job's page.
STOPPED, FAILED, QUEUED = "stopped", "failed", "queued"
RESULTS_PER_PAGE = 100


def job_results(job: BulkJob, page_number: Any = 1) -> Page:
    """One page of the job's executions in the order they are worked on, each with its
    outcome: stop sent (`stopped`), `failed` with the reason, or still `queued`."""
    page = Paginator(list(enumerate(job.execution_ids)), RESULTS_PER_PAGE).get_page(page_number)
    ids = [execution_id for _, execution_id in page.object_list]
    executions = Execution.objects.select_related("function").in_bulk(ids)
    failures = {f.get("execution_id"): f for f in job.failures}
    rows = []
    for index, execution_id in page.object_list:
        failure = failures.get(execution_id)
        execution = executions.get(execution_id)
        rows.append(
            {
                "id": execution_id,
                "execution": execution,
                "name": execution.name if execution else (failure or {}).get("name", ""),
                "outcome": FAILED if failure else STOPPED if index < job.done else QUEUED,
                "error": (failure or {}).get("error", ""),
            }
        )
    page.object_list = rows
    return page
