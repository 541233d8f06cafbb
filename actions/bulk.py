"""Bulk stop: which executions a request names, the preview that says exactly which (and a
digest of that set, so the confirmation acts on the set previewed or shows it again), the
job that records the work with each execution's status as frozen, and the loop that stops
them one by one (run by the Celery task in actions/tasks.py, or called directly). An
execution whose status is no longer the one frozen is skipped, with the reason, not acted
on; a cancelled job stops before its next execution.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.http import QueryDict
from django.utils import timezone

from access import roles
from access.scope import scope_of
from actions import services
from browser import listing
from domain import status as statuses
from executions.lambda_api import LambdaApiError
from executions.models import TERMINAL_STATUSES, AuditEntry, AuditOutcome, BulkJob, Execution
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
    executions = flt.apply(_actionable(user)).exclude(status__in=TERMINAL_STATUSES)
    # The list's order (newest first), so the preview's first rows are the list's.
    executions = executions.order_by("-started_at", "-pk")
    return list(executions.values_list("pk", flat=True)[:MAX_TARGETS])


def running_among(ids: Iterable[int], user: Any) -> list[int]:
    """Those of these executions that exist, are still running and that this person may
    act on."""
    return list(
        _actionable(user)
        .filter(pk__in=list(ids))
        .exclude(status__in=TERMINAL_STATUSES)
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
    )


# ---- the preview and the frozen set ---------------------------------------------------

PREVIEW_ROWS = 10


def frozen_statuses(ids: list[int]) -> dict[str, str]:
    """Each execution's status in the mirror now, by id (as text: a JSON object's keys)."""
    found = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "status"))
    return {str(pk): found[pk] for pk in ids if pk in found}


def digest(frozen: dict[str, str]) -> str:
    """What the preview showed, in a few characters: the sorted ids with their statuses.
    The confirmation carries it; a set that has changed since gives another digest."""
    text = ",".join(f"{pk}:{frozen[pk]}" for pk in sorted(frozen, key=int))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def preview(ids: list[int]) -> dict[str, Any]:
    """What a bulk stop would act on: how many, the first rows, and the functions and
    sources the whole set spans, with how many of each (largest first)."""
    executions = Execution.objects.filter(pk__in=ids)
    rows = executions.select_related("function", "source").in_bulk(ids[:PREVIEW_ROWS])
    functions = Counter(
        executions.values_list("source__name", "function__name", "function__qualifier").iterator()
    )
    sources = Counter()
    for (source, _, _), n in functions.items():
        sources[source] += n
    return {
        "count": len(ids),
        "rows": [rows[pk] for pk in ids[:PREVIEW_ROWS] if pk in rows],
        "more": max(len(ids) - PREVIEW_ROWS, 0),
        "functions": [
            {"source": source, "function": name, "qualifier": qualifier, "count": n}
            for (source, name, qualifier), n in sorted(
                functions.items(), key=lambda item: (-item[1], item[0])
            )
        ],
        "sources": [
            {"source": source, "count": n}
            for source, n in sorted(sources.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def what_changed(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """How the set now differs from the one previewed, in sentences (an empty list: only
    that the digest differs, the earlier preview being unknown)."""
    added = [pk for pk in now if pk not in before]
    gone = [pk for pk in before if pk not in now]
    moved = [pk for pk in now if pk in before and before[pk] != now[pk]]
    said = []
    if added:
        said.append(f"{len(added)} more now match{'es' if len(added) == 1 else ''} the filter.")
    if gone:
        ended = Execution.objects.filter(
            pk__in=[int(pk) for pk in gone], status__in=TERMINAL_STATUSES
        ).count()
        said.append(
            f"{len(gone)} no longer match{'es' if len(gone) == 1 else ''}"
            + (f" ({ended} ended meanwhile)." if ended else ".")
        )
    if moved:
        said.append(f"{len(moved)} changed status (for example to {now[moved[0]].lower()}).")
    return said


def create_stop_job(
    user: Any,
    execution_ids: list[int],
    error_type: str = "",
    error_message: str = "",
    via: str = "",
    frozen: dict[str, str] | None = None,
) -> BulkJob:
    """`via`: how it was asked for when not on the pages (an API token), for the audit
    entries of its stops. `frozen`: each execution's status as previewed (else as the
    mirror has it now); the loop skips one whose status is no longer this."""
    return BulkJob.objects.create(
        user=user,
        action="stop",
        total=len(execution_ids),
        execution_ids=execution_ids,
        parameters={
            "error_type": error_type or "StoppedByOperator",
            "error_message": error_message or f"Bulk stop by {user.get_username()}",
            "via": via,
            "statuses": frozen if frozen is not None else frozen_statuses(execution_ids),
        },
    )


# ---- cancel ---------------------------------------------------------------------------

CANCEL_REFUSED = (
    "Only the person who started this job, or staff, may cancel it. Nothing was changed."
)


def may_cancel(user: Any, job: BulkJob) -> bool:
    return bool(user.is_authenticated) and (job.user_id == user.pk or roles.is_staff(user))


def cancel(user: Any, job: BulkJob) -> bool:
    """Ask the job's loop to stop before its next execution; audited. False when it had
    already finished or been cancelled (nothing to do)."""
    if not may_cancel(user, job):
        raise services.ActionRefused(CANCEL_REFUSED, "forbidden")
    now = timezone.now()
    asked = BulkJob.objects.filter(
        pk=job.pk, finished_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=now, cancelled_by=user.get_username())
    if not asked:
        return False
    job.refresh_from_db()
    AuditEntry.objects.create(
        user=user,
        username=user.get_username(),
        action="bulk_cancelled",
        payload=f"bulk {job.action} job {job.pk}: cancelled after {job.done} of {job.total}",
        outcome=AuditOutcome.SUCCEEDED,
        completed_at=now,
    )
    return True


def run_job(
    job_id: int,
    *,
    actions: Iterable[str],
    targets: Callable[[BulkJob], list[int]],
    load: Callable[[int], Any],
    act: Callable[[Any, BulkJob, Any], str | dict[str, Any]],
    describe: Callable[[int, Any], dict[str, Any]],
    after_each: Callable[[BulkJob], None] | None = None,
) -> dict:
    """The loop of every bulk job (a stop, an answer to many callbacks): each target in
    turn, recording progress and each failure, so the job's page follows it; resumes where
    it left off (`done`) after a worker restart. Whoever asked must still be allowed to
    act when each target's turn comes.

    `load` a target by id (None: no longer mirrored), `act` on it ('' when done, else why
    not, or a record of its own: {"held": why} for an approval a policy holds,
    {"skipped": why} for one not acted on because it changed since it was frozen),
    `describe` it in the record. Before each target the loop stops if the job was
    cancelled; `after_each(job)` is called after each one (a test's hook)."""
    job = BulkJob.objects.filter(pk=job_id, finished_at__isnull=True, action__in=actions).first()
    if job is None:
        return {"job_id": job_id, "skipped": "missing or finished"}
    user = get_user_model().objects.filter(pk=job.user_id).first()
    # The audit entries of its actions say how the job was asked for (an API token).
    via = acting_via.set((job.parameters or {}).get("via", ""))
    ids = targets(job)
    try:
        _work(job, user, ids, load, act, describe, after_each)
    finally:
        acting_via.reset(via)
    BulkJob.objects.filter(pk=job.pk).update(finished_at=timezone.now())
    job.refresh_from_db()
    return {
        "job_id": job_id,
        "done": job.done,
        "failed": len(job.failures),
        "skipped": len(job.skipped),
        "cancelled": job.cancelled,
    }


def _work(
    job: BulkJob,
    user: Any,
    ids: list[int],
    load: Callable[[int], Any],
    act: Callable[[Any, BulkJob, Any], str | dict[str, Any]],
    describe: Callable[[int, Any], dict[str, Any]],
    after_each: Callable[[BulkJob], None] | None,
) -> None:
    failures, skipped = list(job.failures), list(job.skipped)
    for index, target_id in enumerate(ids[job.done :], start=job.done):
        # Cancelled: stop before the next one (what was sent stays sent).
        if BulkJob.objects.filter(pk=job.pk, cancelled_at__isnull=False).exists():
            return
        target = load(target_id)
        if target is None:
            error = "No longer in the mirror."
        elif user is None or not roles.can_act(user):
            error = "The user who asked for this may no longer act."
        else:
            error = act(user, job, target)
        if isinstance(error, dict) and "skipped" in error:
            skipped.append({**describe(target_id, target), "reason": error["skipped"]})
        elif error:
            record = error if isinstance(error, dict) else {"error": error}
            failures.append({**describe(target_id, target), **record})
        BulkJob.objects.filter(pk=job.pk).update(done=index + 1, failures=failures, skipped=skipped)
        if after_each is not None:
            after_each(job)


def changed_since_frozen(execution: Execution, frozen: str | None) -> str:
    """Why this execution is not to be acted on, when its status is no longer the one
    frozen with the job (''; also '' for a job frozen without statuses)."""
    if not frozen or execution.status == frozen:
        return ""
    if execution.status in TERMINAL_STATUSES:
        at = execution.ended_at
        when = f" at {at.astimezone(UTC):%H:%M:%S} UTC" if at else ""
        return f"Ended meanwhile: {statuses.label(execution.status)}{when}. Not stopped."
    return (
        f"Changed meanwhile: {statuses.word(frozen)} → {statuses.word(execution.status)}. "
        "Not stopped."
    )


def _stop(user: Any, job: BulkJob, execution: Execution) -> str | dict[str, str]:
    params = job.parameters or {}
    frozen = (params.get("statuses") or {}).get(str(execution.pk))
    # Checked just before acting, from the mirror: what changed since it was frozen.
    changed = changed_since_frozen(execution, frozen)
    if changed:
        return {"skipped": changed}
    if not roles.may_act(user, execution):
        return "The user who asked for this may not act on this execution any more."
    try:
        result = services.stop(
            user, execution, params.get("error_type", ""), params.get("error_message", "")
        )
    except services.ActionRefused as exc:
        return str(exc)
    if result.ok:
        return _ended_before_the_stop(execution, frozen, result)
    # The backend refused: perhaps it ended meanwhile and the mirror had not seen it yet.
    # Read it again; if it ended, it is skipped for that reason rather than failed.
    try:
        services.resync(execution)
    except LambdaApiError:
        pass  # the refusal below is the answer; the scheduler reads it again
    execution = Execution.objects.filter(pk=execution.pk).first() or execution
    changed = changed_since_frozen(execution, frozen)
    if changed:
        return {"skipped": f"{changed} (The backend refused the stop: {result.message})"}
    return result.message


def _ended_before_the_stop(
    execution: Execution, frozen: str | None, result: services.ActionResult
) -> str | dict[str, str]:
    """A backend may accept a stop of an execution that had already ended and change
    nothing (AWS's local runner does). The stop re-synced it: if it ended otherwise than
    stopped, before the stop was sent, it ended meanwhile, and is reported so."""
    now = Execution.objects.filter(pk=execution.pk).first()
    sent = result.audit.created_at if result.audit else None
    if now is None or now.status not in TERMINAL_STATUSES or now.status == "STOPPED":
        return ""
    if now.ended_at and sent and now.ended_at > sent:
        return ""
    changed = changed_since_frozen(now, frozen)
    if not changed:
        return ""
    return {"skipped": f"{changed} (It had ended before the stop reached it; nothing changed.)"}


def _describe(pk: int, execution: Execution | None) -> dict[str, Any]:
    return {
        "execution_id": pk,
        "name": execution.name if execution else "",
        "arn": execution.arn if execution else "",
    }


def run_bulk_stop(job_id: int, after_each: Callable[[BulkJob], None] | None = None) -> dict:
    """Stop every execution of a BulkJob (run_job's loop)."""
    return run_job(
        job_id,
        actions=["stop"],
        targets=lambda job: job.execution_ids,
        load=lambda pk: Execution.objects.select_related("source").filter(pk=pk).first(),
        act=_stop,
        describe=_describe,
        after_each=after_each,
    )


# What became of each execution, for the job's page.
STOPPED, FAILED, SKIPPED, QUEUED, NOT_DONE = "stopped", "failed", "skipped", "queued", "not done"
RESULTS_PER_PAGE = 100


def job_counts(job: BulkJob) -> dict[str, int]:
    """How many stops were sent, skipped, failed; what is left is `job.left`."""
    failed, skipped = len(job.failures), len(job.skipped)
    return {"sent": max(job.done - failed - skipped, 0), "skipped": skipped, "failed": failed}


def job_results(job: BulkJob, page_number: Any = 1) -> Page:
    """One page of the job's executions in the order they are worked on, each with its
    outcome: stop sent (`stopped`), `failed` with the reason, `skipped` with the reason
    (it ended or changed since the set was frozen), still `queued`, or `not done` (the job
    was cancelled before it)."""
    page = Paginator(list(enumerate(job.execution_ids)), RESULTS_PER_PAGE).get_page(page_number)
    ids = [execution_id for _, execution_id in page.object_list]
    executions = Execution.objects.select_related("function").in_bulk(ids)
    failures = {f.get("execution_id"): f for f in job.failures}
    skipped = {s.get("execution_id"): s for s in job.skipped}
    rows = []
    for index, execution_id in page.object_list:
        failure = failures.get(execution_id)
        skip = skipped.get(execution_id)
        record = failure or skip or {}
        execution = executions.get(execution_id)
        if failure:
            outcome = FAILED
        elif skip:
            outcome = SKIPPED
        elif index < job.done:
            outcome = STOPPED
        else:
            # Never reached: the job was cancelled (or is still to come to it).
            outcome = NOT_DONE if job.finished else QUEUED
        rows.append(
            {
                "id": execution_id,
                "execution": execution,
                "name": execution.name if execution else record.get("name", ""),
                "outcome": outcome,
                "error": record.get("error", "") or record.get("reason", ""),
            }
        )
    page.object_list = rows
    return page
