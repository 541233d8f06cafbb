"""Beat runs the prune every PRUNE_INTERVAL_SECONDS, one run at a time; what each source's
run pruned goes in the audit log as counts, and a run the archive stopped says why there
(the sync health page shows the latest)."""

from __future__ import annotations

import json

from celery import shared_task
from django.utils import timezone

from executions import prune as mirror_prune
from executions.locks import Locked, redis_lock
from executions.models import AuditEntry, AuditOutcome, Source
from retention.protect import protected

ACTOR = "retention"


def record(run: mirror_prune.PruneRun, source: Source) -> AuditEntry | None:
    """The audit log's entry of a source's run: counts; the reason when it stopped."""
    if not run.pruned and not run.stopped:
        return None
    if run.stopped and not run.pruned:
        # A bucket down for hours is one entry, not one per run: the same reason again is
        # on the sync health page, not repeated in the log.
        last = AuditEntry.objects.filter(action="prune", source=source).order_by("-id").first()
        if last is not None and last.error == run.stopped:
            return None
    return AuditEntry.objects.create(
        username=ACTOR,
        action="prune",
        source=source,
        source_name=source.name,
        payload=json.dumps(run.counts(), sort_keys=True),
        outcome=AuditOutcome.FAILED if run.stopped else AuditOutcome.SUCCEEDED,
        error=run.stopped,
        reason="Past the source's retention" + (f"; stopped: {run.stopped}" if run.stopped else ""),
        completed_at=timezone.now(),
    )


def prune_now() -> list[mirror_prune.PruneRun]:
    sources = [
        s for s in Source.objects.order_by("name") if s.retention_days or s.retention_by_function
    ]
    runs = mirror_prune.prune_all(sources, protected)
    by_name = {s.name: s for s in sources}
    for run in runs:
        source = by_name[run.source]
        record(run, source)
        Source.objects.filter(pk=source.pk).update(
            last_prune={
                "at": timezone.now().isoformat(),
                "counts": run.counts(),
                "stopped": run.stopped,
            }
        )
    return runs


@shared_task(soft_time_limit=600, time_limit=660)
def prune() -> dict:
    try:
        with redis_lock("prune", timeout=900):
            runs = prune_now()
    except Locked:
        return {"skipped": "another prune is running"}
    return {run.source: {**run.counts(), "stopped": run.stopped} for run in runs}
