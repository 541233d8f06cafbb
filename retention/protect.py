"""What the prune must keep whatever its retention, because something under way names it:
- an open bulk job (not finished: actions/bulk.py runs jobs until `finished_at`, a cancelled
  one included, which stops at its next execution);
- an approval still collected or being sent under a policy (actions/models.ApprovalRequest);
- a guardrail's firing that is not final (held back for people or by the circuit breaker:
  the rule looks at it again, guardrails/engine.FINAL)."""

from __future__ import annotations

from actions.models import ApprovalRequest, RequestState
from executions.models import BulkJob
from guardrails.engine import FINAL
from guardrails.models import Firing


def protected(ids: list[int]) -> set[int]:
    """Those of `ids` the prune must keep."""
    wanted = set(ids)
    kept: set[int] = set()
    for execution_ids in BulkJob.objects.filter(finished_at__isnull=True).values_list(
        "execution_ids", flat=True
    ):
        kept.update(pk for pk in execution_ids or [] if pk in wanted)
    kept.update(
        ApprovalRequest.objects.filter(
            execution_id__in=ids, state__in=[RequestState.COLLECTING, RequestState.SENDING]
        ).values_list("execution_id", flat=True)
    )
    kept.update(
        Firing.objects.filter(execution_id__in=ids)
        .exclude(outcome__in=FINAL)
        .values_list("execution_id", flat=True)
    )
    return kept
