"""How long the mirror keeps an ended execution: per source (`Source.retention_days`) and
per function name pattern (`Source.retention_by_function`, the most specific pattern that
matches wins, as everywhere else: a name beats a pattern). None keeps it forever.

Why a JSON object on the source rather than a table of overrides: the overrides of a source
are a handful, edited with the source and validated with it (like its API quotas); a
pattern rather than a field on Function because discovered functions come and go, and a
pattern names the ones not yet seen.

The limits: at least a day (a shorter one would prune what people are still looking at,
and a sync still reading its last events), at most the archive's own keep
(ARCHIVE_KEEP_DAYS): the archive is where histories outlive the mirror, so a mirror kept
longer than the archive would be the longer store and its retention a promise the
archive cannot back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from domain.patterns import glob_matches, pattern_weight
from executions.models import Execution, Function, Source

MIN_DAYS = 1


def max_days() -> int:
    return int(settings.ARCHIVE_KEEP_DAYS)


def retention_problem(days: object) -> str:
    """Why `days` is not a retention ("" when it is one; None keeps forever)."""
    if days is None:
        return ""
    if isinstance(days, bool) or not isinstance(days, int):
        return "Give a whole number of days, or leave it blank to keep executions forever."
    if days < MIN_DAYS:
        return (
            f"{days} days is shorter than a day: the prune would delete executions people "
            "are still looking at and the sync is still reading. Give 1 day or more."
        )
    if days > max_days():
        return (
            f"{days} days is longer than the archive keeps an execution (ARCHIVE_KEEP_DAYS = "
            f"{max_days()}): the archive is where histories outlive the mirror, so the mirror "
            "must not keep them longer. Give fewer days, or raise ARCHIVE_KEEP_DAYS to match "
            "the bucket's lifecycle rule."
        )
    return ""


def days_for(source: Source, function_name: str) -> int | None:
    """The retention of a function of `source`, in days; None: kept forever."""
    best: tuple[int, int | None] | None = None
    for pattern, days in (source.retention_by_function or {}).items():
        if glob_matches(function_name, pattern):
            weight = pattern_weight(pattern)
            if best is None or weight > best[0]:
                best = (weight, days)
    return best[1] if best is not None else source.retention_days


def cutoffs(source: Source, now: object = None) -> dict[int, object]:
    """{function id: prune what ended before this moment} for the functions of `source`
    that have a retention."""
    now = now or timezone.now()
    found = {}
    for function in Function.objects.filter(source=source).only("pk", "name"):
        days = days_for(source, function.name)
        if days is not None:
            found[function.pk] = now - timedelta(days=days)
    return found


@dataclass
class Keeping:
    """Who keeps an ended execution's history, and until when (its page's header)."""

    # AWS: the function's RetentionPeriodInDays after the end (None: not known, e.g. the
    # function was named on the source rather than discovered, or AWS's local runner).
    aws_days: int | None
    aws_until: datetime | None
    # When the sync found AWS no longer has it (its copy here is then the only one).
    aws_deleted_at: datetime | None
    # The console: its source's retention after the end, then archived (None: forever).
    console_until: datetime | None

    @property
    def only_copy(self) -> bool:
        """AWS has deleted it, or by the dates should have: the console's is the only copy."""
        if self.aws_deleted_at is not None:
            return True
        return self.aws_until is not None and self.aws_until <= timezone.now()


def aws_retention_days(durable_config: object) -> int | None:
    """RetentionPeriodInDays of a function's DurableConfig (ListFunctions), if it has one."""
    if isinstance(durable_config, dict):
        days = durable_config.get("RetentionPeriodInDays")
        if isinstance(days, int) and not isinstance(days, bool) and days > 0:
            return days
    return None


def keeping(execution: Execution) -> Keeping | None:
    """Who keeps the history of an ended execution, until when; None while it runs."""
    if not execution.is_terminal or execution.ended_at is None:
        return None
    days = aws_retention_days(execution.function.durable_config)
    console_days = days_for(execution.source, execution.function.name)
    return Keeping(
        aws_days=days,
        aws_until=execution.ended_at + timedelta(days=days) if days else None,
        aws_deleted_at=execution.aws_deleted_at,
        console_until=(execution.ended_at + timedelta(days=console_days) if console_days else None),
    )
