"""The prune: ended executions past their retention (executions/retention.py) archived
(executions/archive.py) and deleted from the mirror, in batches, with their operations and
history events.

What it never deletes:
- an execution that can still change: not ended, or its history not read to its end;
- one with a callback still pending in the mirror;
- one the caller protects (`protected(ids) -> ids`: the retention room asks the bulk jobs,
  the approvals and the guardrails, which this package may not import);
- one not archived and read back from the bucket (unless PRUNE_WITHOUT_ARCHIVE): a bucket
  that does not answer or refuses stops the run, and nothing of the batch not archived is
  deleted;
- one that changed after it was archived: each is deleted only if its row still holds the
  state that was archived (status, end, last event), checked in the deleting transaction.

The race with the sync: each execution of a batch is held under the same Redis lock the sync
takes (`execution:<id>`, executions/sync.py) from its re-check to its delete; one the sync
holds is left for the next run, and a sync that reaches an execution the prune deleted finds
it missing under the lock and writes nothing (sync_execution re-checks under the lock).

Time: a batch stops archiving after PRUNE_BATCH_SECONDS and deletes what it has archived;
the delete itself is one short transaction per batch (PostgreSQL: bounded by a
statement_timeout), so no lock on the tables is held long; the run stops after
PRUNE_RUN_SECONDS and the next beat carries on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from executions import archive, retention
from executions.locks import Locked, redis_lock
from executions.models import (
    TERMINAL_STATUSES,
    ArchivedExecution,
    Execution,
    Operation,
    Source,
)

logger = logging.getLogger(__name__)

Protector = Callable[[list[int]], set[int]]


@dataclass
class PruneRun:
    source: str
    pruned: int = 0
    operations: int = 0
    events: int = 0
    archived: int = 0
    protected: int = 0
    locked: int = 0
    changed: int = 0
    batches: int = 0
    # Why the run stopped before the end ("" when nothing stopped it): the bucket's answer.
    stopped: str = ""
    pruned_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "executions": self.pruned,
            "operations": self.operations,
            "events": self.events,
            "archived": self.archived,
            "kept_protected": self.protected,
            "kept_syncing": self.locked,
            "kept_changed": self.changed,
            "batches": self.batches,
        }


def archive_required() -> bool:
    return not settings.PRUNE_WITHOUT_ARCHIVE


def not_ready() -> str:
    """Why no prune may run at all ("" when it may)."""
    if archive_required() and not archive.enabled():
        return (
            "Retention is set, but no archive bucket is: set ARCHIVE_BUCKET (executions are "
            "archived before they are pruned), or PRUNE_WITHOUT_ARCHIVE=true to prune "
            "without keeping them."
        )
    return ""


def _due(cutoffs: dict[int, datetime]) -> Q:
    """Executions of those functions that ended before their function's cutoff."""
    by_cutoff: dict[datetime, list[int]] = {}
    for function_id, cutoff in cutoffs.items():
        by_cutoff.setdefault(cutoff, []).append(function_id)
    q = Q(pk__in=[])
    for cutoff, ids in by_cutoff.items():
        q |= Q(function_id__in=ids, ended_at__lt=cutoff)
    return q


def prunable() -> Q:
    """What may be pruned at all, whatever its retention: ended, read to the end, no
    callback pending in the mirror."""
    return Q(status__in=TERMINAL_STATUSES, history_complete=True, pending_callbacks=0) & ~Q(
        pk__in=Operation.objects.pending_callbacks().values("execution_id")
    )


def candidates(cutoffs: dict[int, datetime], after_id: int, limit: int) -> list[int]:
    return list(
        Execution.objects.filter(_due(cutoffs), prunable(), pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def _statement_timeout(seconds: float) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [int(seconds * 1000)])


def delete_archived(states: dict[int, tuple[str, int, Any]], run: PruneRun) -> list[int]:
    """Delete the executions whose rows still hold the archived state (status, last
    event, end); returns the ids deleted."""
    if not states:
        return []
    with transaction.atomic():
        _statement_timeout(settings.PRUNE_BATCH_SECONDS)
        rows = (
            Execution.objects.select_for_update()
            .filter(pk__in=list(states))
            .values_list("pk", "status", "last_event_id", "ended_at")
        )
        same = [pk for pk, status, last, ended in rows if states.get(pk) == (status, last, ended)]
        run.changed += len(states) - len(same)
        if not same:
            return []
        # One statement per table: the collector deletes operations and events by
        # execution id (no rows loaded), then the executions.
        _, deleted = Execution.objects.filter(pk__in=same).delete()
        run.operations += deleted.get("executions.Operation", 0)
        run.events += deleted.get("executions.HistoryEvent", 0)
    return same


def prune_source(
    source: Source,
    protected: Protector = lambda ids: set(),
    *,
    now: datetime | None = None,
    deadline: float | None = None,
) -> PruneRun:
    """Prune one source's executions past their retention; see the module's docstring."""
    run = PruneRun(source=source.name)
    cutoffs = retention.cutoffs(source, now)
    if not cutoffs:
        return run
    reason = not_ready()
    if reason:
        run.stopped = reason
        return run
    deadline = deadline or time.monotonic() + settings.PRUNE_RUN_SECONDS
    after_id = 0
    while time.monotonic() < deadline and not run.stopped:
        ids = candidates(cutoffs, after_id, settings.PRUNE_BATCH_SIZE)
        if not ids:
            break
        after_id = ids[-1]
        run.batches += 1
        _batch(ids, cutoffs, protected, run)
    return run


def _batch(
    ids: list[int], cutoffs: dict[int, datetime], protected: Protector, run: PruneRun
) -> None:
    kept = protected(ids)
    run.protected += len(kept)
    ids = [pk for pk in ids if pk not in kept]
    started = time.monotonic()
    with contextlib.ExitStack() as locks:
        held = []
        for pk in ids:
            try:
                locks.enter_context(redis_lock(f"execution:{pk}"))
            except Locked:
                run.locked += 1  # the sync holds it: the next run looks again
                continue
            held.append(pk)
        # Under the locks, again: still due, still prunable, still not protected.
        rows = list(
            Execution.objects.filter(_due(cutoffs), prunable(), pk__in=held)
            .select_related("source", "function")
            .order_by("pk")
        )
        run.changed += len(held) - len(rows)
        states: dict[int, tuple[str, int, Any]] = {}
        archived: dict[int, str] = {}
        for execution in rows:
            if time.monotonic() - started > settings.PRUNE_BATCH_SECONDS:
                break  # the batch's time is up: delete what is archived, the rest next time
            if archive.enabled():
                try:
                    archived[execution.pk] = archive.write(execution).arn
                except archive.ArchiveError as exc:
                    run.stopped = str(exc)
                    logger.warning("prune of %s stopped: %s", run.source, exc)
                    break
                run.archived += 1
            elif archive_required():  # pragma: no cover - not_ready() refused before
                break
            states[execution.pk] = (execution.status, execution.last_event_id, execution.ended_at)
        deleted = delete_archived(states, run)
    if deleted:
        ArchivedExecution.objects.filter(
            arn__in=[archived[pk] for pk in deleted if pk in archived]
        ).update(pruned_at=timezone.now())
    run.pruned += len(deleted)
    run.pruned_ids.extend(deleted)


def prune_all(
    sources: Iterable[Source], protected: Protector = lambda ids: set()
) -> list[PruneRun]:
    deadline = time.monotonic() + settings.PRUNE_RUN_SECONDS
    runs = []
    for source in sources:
        if time.monotonic() >= deadline:
            break
        runs.append(prune_source(source, protected, deadline=deadline))
    return runs
