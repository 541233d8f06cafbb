"""What needs attention: the conditions under which an execution is likely wrong, each a
query over the mirror and a reason in words.

The one home of these rules. The needs-attention page and the overview's card
(browser/attention.py) list what they find; the guardrails (guardrails/engine.py) judge by
the same Condition objects, so a rule and the page can never disagree about what
"retrying again and again" means. Each condition is:

- `name` (its key in URLs and settings), `title` (a heading), `explain()` (its threshold in
  words, from the settings);
- `executions(functions, now)`: the executions it matches, as a queryset;
- `count(functions, now)` and `find(functions, now, limit)`: how many, and the first of them
  as Findings, each with `reason` (a sentence: "step 'charge' has retried 14 times") and the
  actions that fit;
- `leaving_out(executions)`: the same condition, whose queries leave those executions out (a
  guardrail's, those it has dealt with: it reads only new matches, however many it has had).

`functions` is the set of function ids to look at (a person's scope, access/scope.py, or a
rule's sources and function pattern), None for all. Every query is served by an index
(the models' comments name the query; bench/bench_attention.py prints every plan on a
generated PostgreSQL mirror):

- retrying: operations by attempt_count (op_retried_idx, partial: retried at all);
- retry storm: running executions waiting to retry, per function (exec_retry_wait_idx);
- slow, near timeout: each function's running executions started before a moment of its
  own (exec_function_status_idx, one range per function);
- near the operations limit: executions not ended, by operation_count (exec_live_ops_idx);
- stuck: PAUSING and DELETING executions (exec_status_idx);
- stop not taken: the audit log's stops (audit_action_idx), their executions by ARN;
- callback overdue: pending callbacks (op_type_status_idx), their CallbackStarted events
  (event_type_idx);
- fan-out growing: maps and parallels not done (op_fanout_idx), their children
  (op_parent_idx).

The p95 of a function's durations is computed from the mirror (its newest ended executions
of the last days) and cached for a few minutes.

What the mirror cannot tell is left out: the size of an execution's history (AWS's 100 MB
limit) is not stored; chained invokes that keep starting child executions are not counted
as a fan-out (the children are other executions, each one listed in its own right).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from domain import operations
from domain.durations import format_duration
from executions import deadlines
from executions.models import (
    AuditEntry,
    AuditOutcome,
    Execution,
    Function,
    Operation,
    StatusCount,
)
from executions.models.executions import LIVE_STATUSES

# AWS's limit on the operations of one execution (Lambda's quotas page).
AWS_MAX_OPERATIONS = 3000

# What a finding offers a person: stop it, pause it, or open it (always offered).
STOP, PAUSE, OPEN = "stop", "pause", "open"

# Conditions whose candidates are worked through in Python read at most this many rows.
SCAN_LIMIT = 5000
# Pairs (execution, operation) looked up per query.
CHUNK = 200
# Counts stop here (the list's counts do the same): "1,000+" is as useful as 48,213, and
# counting every one of a million rows is not.
COUNT_CAP = 1000


def _capped(qs: QuerySet) -> int:
    """How many rows `qs` has, up to COUNT_CAP + 1."""
    return qs.order_by()[: COUNT_CAP + 1].count()


def count_text(n: int) -> str:
    """A count as the pages write it: "1,000+" past the cap."""
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else f"{n:,}"


Functions = Collection[int] | None


def _scoped(qs: QuerySet, functions: Functions, field_name: str = "function_id") -> QuerySet:
    return qs if functions is None else qs.filter(**{f"{field_name}__in": list(functions)})


# SQLite's planner, which has no statistics unless someone runs ANALYZE, reads any query
# with `status IN (...)` along the status index (every live execution: 50,000 at a
# million), and cannot use a partial index whose condition comes as bound parameters. So
# on SQLite the conditions below pick their ids in a subquery that names its partial
# index and writes the index's condition out (constants of this module, never input),
# with the execution's status behind a unary + (no index for it); PostgreSQL plans the
# ORM's queries well and keeps them. docs/BENCHMARKS.md has both.
_LIVE_SQL = ", ".join(f"'{status}'" for status in LIVE_STATUSES)
_EXECUTIONS = Execution._meta.db_table
_OPERATIONS = Operation._meta.db_table


def _on_sqlite() -> bool:
    return connection.vendor == "sqlite"


def _ids(sql: str, params: Iterable[Any] = ()) -> RawSQL:
    """A subquery of ids, for `pk__in`."""
    return RawSQL(sql, tuple(params))


def _live_operations(index: str, where: str, params: Iterable[Any] = ()) -> RawSQL:
    """Ids of operations of live executions, read along the partial index `index` whose
    condition `where` states (over `o`)."""
    return _ids(
        f"SELECT o.id FROM {_OPERATIONS} o INDEXED BY {index} "  # noqa: S608 (constants)
        f"JOIN {_EXECUTIONS} e ON e.id = o.execution_id "
        f"WHERE {where} AND +e.status IN ({_LIVE_SQL})",
        params,
    )


# What a finding never shows: payloads, errors and raw records (large JSON), left unread.
EXECUTION_UNREAD = ("input_payload", "result_payload", "error", "raw", "operation_counts")
OPERATION_UNREAD = ("input_payload", "result_payload", "error", "retries")


def _with_related(qs: QuerySet[Execution], *, raw: bool = False) -> QuerySet[Execution]:
    unread = [name for name in EXECUTION_UNREAD if not (raw and name == "raw")]
    return qs.select_related("function", "source").defer(*unread)


def _operations_with_execution(qs: QuerySet[Operation]) -> QuerySet[Operation]:
    return qs.select_related("execution", "execution__function", "execution__source").defer(
        *OPERATION_UNREAD, *(f"execution__{name}" for name in EXECUTION_UNREAD)
    )


def _span(seconds: float) -> str:
    """A duration in a reason: to the second under a minute, else in whole minutes (what a
    person acts on; the pages' clocks show the seconds)."""
    if seconds >= 60:
        seconds = seconds // 60 * 60
    return format_duration(seconds)


def _quote(name: str) -> str:
    return f"'{name}'"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 1,002nd."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


def _ended(status: str) -> str:
    return {"TIMED_OUT": "timed out"}.get(status, status.lower())


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n:,} times"


@dataclass
class Finding:
    """One execution (or, for a retry storm, one function) that needs attention, and why."""

    condition: Condition
    reason: str
    execution: Execution | None = None
    function: Function | None = None
    operation: Operation | None = None
    # How pressing, within its condition: the page lists the highest first.
    urgency: float = 0.0
    actions: tuple[str, ...] = (OPEN,)

    @property
    def name(self) -> str:
        return self.condition.name


@dataclass(frozen=True)
class Threshold:
    """A condition's number, which a guardrail may set for itself (guardrails/): what it
    counts, its range, and why a value outside it is refused (it would match every
    execution, or none ever)."""

    label: str
    minimum: float
    maximum: float
    too_low: str
    too_high: str
    # The setting that is its default (the page's value); none: a rule must give it.
    setting: str = ""
    whole: bool = True

    def default(self) -> float | None:
        return getattr(settings, self.setting) if self.setting else None

    def problem(self, value: float | None) -> str:
        """Why `value` cannot be this condition's threshold, or ""."""
        if value is None:
            return "" if self.setting else f"Give the {self.label.lower()}."
        if self.whole and value != int(value):
            return f"The {self.label.lower()} is a whole number."
        if value < self.minimum:
            return self.too_low
        if value > self.maximum:
            return self.too_high
        return ""


@dataclass
class Condition:
    name: str
    title: str
    actions: tuple[str, ...] = field(default=(STOP, PAUSE, OPEN))
    # A rule's own threshold (guardrails/); None: the setting's.
    threshold: float | None = None
    # Execution ids (a subquery) it finds none of: what a guardrail is done with.
    leave_out: QuerySet | None = field(default=None, repr=False, compare=False)

    # What its threshold counts; None: it has none a rule may set (its settings decide).
    spec: ClassVar[Threshold | None] = None

    def value(self) -> float | None:
        if self.spec is None:
            return None
        return self.threshold if self.threshold is not None else self.spec.default()

    def with_threshold(self, threshold: float | None) -> Condition:
        """This condition judged by `threshold` instead of the setting."""
        return dataclasses.replace(self, threshold=threshold)

    def leaving_out(self, executions: QuerySet) -> Condition:
        """This condition, finding none of `executions` (a queryset of execution ids): a
        rule that has dealt with thousands of matches reads only the ones it has not."""
        return dataclasses.replace(self, leave_out=executions)

    def _scoped(
        self, qs: QuerySet, functions: Functions, field_name: str = "function_id"
    ) -> QuerySet:
        """`qs` within `functions`, less the executions it is to leave out."""
        qs = _scoped(qs, functions, field_name)
        if self.leave_out is None:
            return qs
        execution = "pk" if field_name == "function_id" else field_name[: -len("__function_id")]
        return qs.exclude(**{f"{execution}__in": self.leave_out})

    def explain(self) -> str:
        raise NotImplementedError

    def past(
        self, functions: Functions, since: datetime, now: datetime, limit: int
    ) -> tuple[int, list[Finding]] | None:
        """In hindsight: the executions started since `since` that matched at some moment
        (how many, up to COUNT_CAP + 1, and the first `limit`), judged from what the mirror
        kept of them; None when the mirror cannot tell (what a guardrail's dry run shows)."""
        return None

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        raise NotImplementedError

    # Whether count() is its own query (else it is the length of every finding).
    counted_apart = False

    def count(self, functions: Functions, now: datetime) -> int:
        """How many it matches, up to COUNT_CAP + 1."""
        return min(len(self.find(functions, now, None)), COUNT_CAP + 1)

    def look(self, functions: Functions, now: datetime, limit: int) -> tuple[int, list[Finding]]:
        """How many it matches, and the first `limit` findings: what a page shows."""
        if self.counted_apart:
            total = self.count(functions, now)
            return total, self.find(functions, now, limit) if total else []
        found = self.find(functions, now, None)
        return min(len(found), COUNT_CAP + 1), found[:limit]

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        found = self.find(functions, now, None)
        return Execution.objects.filter(pk__in=[f.execution.pk for f in found if f.execution])

    def finding(self, reason: str, **fields: Any) -> Finding:
        return Finding(self, reason, actions=self.actions, **fields)


def _sorted(found: Iterable[Finding], limit: int | None) -> list[Finding]:
    ordered = sorted(found, key=lambda f: -f.urgency)
    return ordered if limit is None else ordered[:limit]


# ---- retrying ---------------------------------------------------------------------------


class Retrying(Condition):
    """An operation of an execution that has not ended has needed `ATTENTION_RETRY_ATTEMPTS`
    attempts or more: still retrying (waiting for its next attempt, or in it), or done after
    that many. A condition's polls (WaitForCondition) are not retries."""

    counted_apart = True
    spec = Threshold(
        "Attempts of one step, at least",
        2,
        1_000_000,
        "Every step makes a first attempt: under 2 would match every execution.",
        "More than 1,000,000 attempts: too many to be a threshold.",
        setting="ATTENTION_RETRY_ATTEMPTS",
    )

    @property
    def attempts(self) -> int:
        return int(self.value())

    def explain(self) -> str:
        return (
            f"A step on its {_ordinal(self.attempts)} attempt or later, in an execution not ended."
        )

    def operations(self, functions: Functions) -> QuerySet[Operation]:
        if _on_sqlite():
            ops = Operation.objects.filter(
                pk__in=_live_operations(
                    "op_retried_idx",
                    "o.attempt_count >= 2 AND o.attempt_count >= %s "
                    "AND o.subtype != 'WaitForCondition'",
                    [self.attempts],
                )
            )
        else:
            ops = Operation.objects.filter(
                attempt_count__gte=self.attempts, execution__status__in=LIVE_STATUSES
            ).exclude(subtype="WaitForCondition")
        return self._scoped(ops, functions, "execution__function_id")

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        ids = self.operations(functions).values("execution_id")
        return Execution.objects.filter(pk__in=ids)

    def count(self, functions: Functions, now: datetime) -> int:
        return _capped(self.operations(functions).values("execution_id").distinct())

    def reason(self, op: Operation) -> str:
        what = f"{(op.type or 'step').lower().replace('_', ' ')} {_quote(op.label)}"
        retries = op.attempt_count - 1
        ended = op.execution.status
        if ended not in LIVE_STATUSES:
            return f"{what} made {op.attempt_count:,} attempts before the execution {_ended(ended)}"
        if op.status == "PENDING":
            return f"{what} has retried {_times(retries)} and waits to retry again"
        if op.status in ("STARTED", "READY"):
            return f"{what} has retried {_times(retries)} (attempt {op.attempt_count:,} runs)"
        if op.status == "SUCCEEDED":
            return f"{what} succeeded after {op.attempt_count:,} attempts"
        return f"{what} {op.status.lower().replace('_', ' ')} after {op.attempt_count:,} attempts"

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        ops = _operations_with_execution(self.operations(functions)).order_by(
            "-attempt_count", "-execution_id"
        )
        found: dict[int, Finding] = {}
        # An execution may have several such steps: the one with the most attempts speaks.
        for op in ops[: SCAN_LIMIT if limit is None else limit * 4]:
            if op.execution_id in found:
                continue
            still = op.status not in ("SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED")
            found[op.execution_id] = self.finding(
                self.reason(op),
                execution=op.execution,
                operation=op,
                urgency=op.attempt_count + (1_000_000 if still else 0),
            )
        return _sorted(found.values(), limit)

    def past(
        self, functions: Functions, since: datetime, now: datetime, limit: int
    ) -> tuple[int, list[Finding]]:
        ops = self._scoped(
            Operation.objects.filter(
                attempt_count__gte=self.attempts, execution__started_at__gte=since
            ).exclude(subtype="WaitForCondition"),
            functions,
            "execution__function_id",
        )
        total = _capped(ops.values("execution_id").distinct())
        found: dict[int, Finding] = {}
        rows = _operations_with_execution(ops).order_by("-attempt_count", "-execution_id")
        for op in rows[: limit * 4]:
            if op.execution_id not in found:
                found[op.execution_id] = self.finding(
                    self.reason(op), execution=op.execution, operation=op, urgency=op.attempt_count
                )
        return total, _sorted(found.values(), limit)


class RetryStorm(Condition):
    """Many executions of one function wait to retry a step at the same moment: the
    dependency they call is likely down. One finding per function."""

    counted_apart = True
    spec = Threshold(
        "Executions of one function waiting to retry, at least",
        2,
        1_000_000,
        "One execution waiting to retry is not a storm: give 2 or more.",
        "More than 1,000,000 executions: too many to be a threshold.",
        setting="ATTENTION_RETRY_STORM_EXECUTIONS",
    )

    @property
    def executions_needed(self) -> int:
        return int(self.value())

    def explain(self) -> str:
        return f"{self.executions_needed:,} or more executions of one function waiting to retry."

    def _waiting(self, functions: Functions) -> QuerySet[Execution]:
        waiting = Execution.objects.filter(status="RUNNING", waiting_for="retry")
        if _on_sqlite():
            waiting = Execution.objects.filter(
                pk__in=_ids(
                    f"SELECT id FROM {_EXECUTIONS} INDEXED BY exec_retry_wait_idx "  # noqa: S608
                    "WHERE status = 'RUNNING' AND waiting_for = 'retry'"
                )
            )
        # Not self._scoped: a storm's subject is its function, counted over every execution.
        return _scoped(waiting, functions)

    def _storms(self, functions: Functions) -> dict[int, int]:
        rows = (
            self._waiting(functions)
            .values("function_id")
            .annotate(n=Count("id"))
            .filter(n__gte=self.executions_needed)
            .order_by()
        )
        return {row["function_id"]: row["n"] for row in rows}

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        return self._waiting(functions).filter(function_id__in=list(self._storms(functions)))

    def count(self, functions: Functions, now: datetime) -> int:
        return len(self._storms(functions))

    def look(self, functions: Functions, now: datetime, limit: int) -> tuple[int, list[Finding]]:
        found = self.find(functions, now, None)  # one finding per function: few
        return len(found), found[:limit]

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        storms = self._storms(functions)
        if not storms:
            return []
        names = Function.objects.select_related("source").in_bulk(list(storms))
        found = [
            self.finding(
                f"{n:,} executions of {names[pk].name} are waiting to retry a step right now",
                function=names[pk],
                urgency=n,
            )
            for pk, n in storms.items()
            if pk in names
        ]
        return _sorted(found, limit)


# ---- running long -------------------------------------------------------------------------


def _running_functions(functions: Functions) -> list[int]:
    """Functions with executions running now, from the counts the database keeps."""
    rows = StatusCount.objects.filter(status="RUNNING", count__gt=0)
    return list(_scoped(rows, functions).values_list("function_id", flat=True))


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)), 1) - 1]


def duration_p95(function_ids: Iterable[int], now: datetime) -> dict[int, tuple[int, float]]:
    """function id -> (how many ended executions, the p95 of their durations in seconds):
    of each function's newest ATTENTION_DURATION_SAMPLE executions, those started in the last
    ATTENTION_DURATION_DAYS days that have ended (nearest rank). The newest K are read along
    the function's index whatever the mirror's size. Cached for
    ATTENTION_DURATION_CACHE_SECONDS; a function with none is left out."""
    wanted = sorted(set(function_ids))
    days, sample = settings.ATTENTION_DURATION_DAYS, settings.ATTENTION_DURATION_SAMPLE
    keys = {pk: f"attention:p95:{pk}:{days}:{sample}" for pk in wanted}
    cached = cache.get_many(list(keys.values()))
    found: dict[int, tuple[int, float]] = {}
    missing = []
    for pk, key in keys.items():
        if key in cached:
            if cached[key]:
                found[pk] = (int(cached[key][0]), float(cached[key][1]))
        else:
            missing.append(pk)
    if missing:
        computed = _compute_p95(missing, now - timedelta(days=days), sample)
        cache.set_many(
            {keys[pk]: list(computed[pk]) if pk in computed else [] for pk in missing},
            settings.ATTENTION_DURATION_CACHE_SECONDS,
        )
        found.update(computed)
    return found


def _compute_p95(function_ids: list[int], since: datetime, sample: int) -> dict[int, tuple]:
    table = Execution._meta.db_table
    if connection.vendor == "postgresql":
        # One query: for each function, its newest `sample` ended executions read backwards
        # along exec_function_idx (function, -started_at, -id), and their 95th percentile.
        sql = f"""
            SELECT f.id, s.n, s.p95
            FROM unnest(%s::bigint[]) AS f(id)
            CROSS JOIN LATERAL (
                SELECT count(*) AS n,
                       percentile_disc(0.95) WITHIN GROUP (ORDER BY r.d) AS p95
                FROM (
                    SELECT e.ended_at - e.started_at AS d, e.started_at
                    FROM {table} e
                    WHERE e.function_id = f.id
                    ORDER BY e.started_at DESC, e.id DESC
                    LIMIT %s
                ) r
                WHERE r.started_at >= %s AND r.d IS NOT NULL
            ) s
        """  # noqa: S608 (the table's name is the model's, never input)
        with connection.cursor() as cursor:
            cursor.execute(sql, [function_ids, sample, since])
            rows = cursor.fetchall()
        return {pk: (n, _seconds(p95)) for pk, n, p95 in rows if n and p95 is not None}
    # SQLite (no percentile function): each function's newest `sample` durations through
    # the same index, the rank taken here.
    found = {}
    for pk in function_ids:
        newest = (
            Execution.objects.filter(function_id=pk)
            .order_by("-started_at", "-id")
            .annotate(
                d=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
            )
            .values_list("started_at", "d")[:sample]
        )
        durations = [
            _seconds(d) for started, d in newest if d is not None and started and started >= since
        ]
        if durations:
            found[pk] = (len(durations), _nearest_rank(durations, 0.95))
    return found


class _PerFunction(Condition):
    """Running executions of each function started before a moment of that function's own
    (`limits`): one range of exec_function_status_idx per function, the oldest of each
    read in one statement on PostgreSQL."""

    counted_apart = True

    def limits(self, functions: Functions, now: datetime) -> dict[int, tuple[float, Any]]:
        """function id -> (seconds a run may last before it is flagged, what to say)."""
        raise NotImplementedError

    def _q(self, limits: dict[int, tuple[float, Any]], now: datetime) -> Q | None:
        q = None
        for pk, (seconds, _) in limits.items():
            part = Q(function_id=pk, started_at__lt=now - timedelta(seconds=seconds))
            q = part if q is None else q | part
        return q

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        q = self._q(self.limits(functions, now), now)
        if q is None:
            return Execution.objects.none()
        return Execution.objects.filter(q, status="RUNNING")

    def _ranges(
        self, limits: dict[int, tuple[float, Any]], now: datetime, each: int
    ) -> tuple[int, list[tuple[int, datetime, int]]]:
        """How many match (up to COUNT_CAP + 1: one query, the ranges OR-ed), and each
        function's `each` oldest matches as (execution id, start, function id): one
        UNION ALL on PostgreSQL, each range planned with its own function and moment (one
        query per function elsewhere)."""
        if not limits:
            return 0, []
        ranges = [(pk, now - timedelta(seconds=seconds)) for pk, (seconds, _) in limits.items()]
        if connection.vendor == "postgresql":
            # Written out: the ORM takes longer to build the count's twenty OR-ed ranges
            # than PostgreSQL takes to run it.
            table = Execution._meta.db_table
            either = " OR ".join(["(function_id = %s AND started_at < %s)"] * len(ranges))
            left_out, left_out_params = "", []
            if self.leave_out is not None:
                subquery, left_out_params = self.leave_out.query.sql_with_params()
                left_out = f"AND id NOT IN ({subquery}) "
            oldest = (
                f"(SELECT id, started_at, function_id FROM {table} "  # noqa: S608 (the model's)
                "WHERE function_id = %s AND status = 'RUNNING' AND started_at < %s "
                f"{left_out}ORDER BY started_at, id LIMIT %s)"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM {table} "  # noqa: S608 (the model's)
                    f"WHERE status = 'RUNNING' AND ({either}) LIMIT %s) matches",
                    [value for pk, cutoff in ranges for value in (pk, cutoff)] + [COUNT_CAP + 1],
                )
                total = cursor.fetchone()[0]
                if not total or not each:
                    return total, []
                cursor.execute(
                    " UNION ALL ".join([oldest] * len(ranges)),
                    [
                        value
                        for pk, cutoff in ranges
                        for value in (pk, cutoff, *left_out_params, each)
                    ],
                )
                return total, list(cursor.fetchall())
        total = _capped(Execution.objects.filter(self._q(limits, now), status="RUNNING"))
        if not total or not each:
            return total, []
        rows: list[tuple[int, datetime, int]] = []
        for pk, cutoff in ranges:
            found = (
                self._scoped(
                    Execution.objects.filter(
                        function_id=pk, status="RUNNING", started_at__lt=cutoff
                    ),
                    None,
                )
                .order_by("started_at", "id")
                .values_list("id", "started_at")[:each]
            )
            rows.extend((execution_id, started_at, pk) for execution_id, started_at in found)
        return total, rows

    def count(self, functions: Functions, now: datetime) -> int:
        return self._ranges(self.limits(functions, now), now, 0)[0]

    def look(self, functions: Functions, now: datetime, limit: int) -> tuple[int, list[Finding]]:
        limits = self.limits(functions, now)
        total, rows = self._ranges(limits, now, limit)
        return total, self._findings(limits, rows, now, limit)

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        cap = SCAN_LIMIT if limit is None else limit
        limits = self.limits(functions, now)
        return self._findings(limits, self._ranges(limits, now, cap)[1], now, cap)

    def reason_for(self, execution: Execution, seconds: float, about: Any, now: datetime) -> str:
        raise NotImplementedError

    def urgency_of(self, started_at: datetime, seconds: float, about: Any, now: datetime) -> float:
        return (now - started_at).total_seconds() / max(seconds, 1)

    def _findings(
        self,
        limits: dict[int, tuple[float, Any]],
        rows: list[tuple[int, datetime, int]],
        now: datetime,
        cap: int,
    ) -> list[Finding]:
        """The most pressing `cap` of each function's oldest matches, read whole in one
        query."""
        candidates = []
        for execution_id, started_at, pk in rows:
            seconds, about = limits[pk]
            urgency = self.urgency_of(started_at, seconds, about, now)
            candidates.append((urgency, execution_id, seconds, about))
        candidates.sort(key=lambda c: -c[0])
        chosen = candidates[:cap]
        if not chosen:
            return []
        found = _with_related(Execution.objects.filter(pk__in=[c[1] for c in chosen])).in_bulk()
        return [
            self.finding(
                self.reason_for(found[execution_id], seconds, about, now),
                execution=found[execution_id],
                urgency=urgency,
            )
            for urgency, execution_id, seconds, about in chosen
            if execution_id in found
        ]


class Slow(_PerFunction):
    """Running far longer than its function usually does: longer than ATTENTION_SLOW_FACTOR
    times the p95 of the function's recent ended executions (and ATTENTION_SLOW_MIN_SECONDS
    at least), once there are ATTENTION_DURATION_MIN_SAMPLE of them to judge by."""

    spec = Threshold(
        "Times its function's p95, at least",
        1,
        1000,
        "Under 1× the p95 would flag one run in twenty that is merely usual.",
        "More than 1000× the p95: too far to be a threshold.",
        setting="ATTENTION_SLOW_FACTOR",
        whole=False,
    )

    def explain(self) -> str:
        factor = self.value()
        return (
            f"Running longer than {factor:g}× its function's p95 (of those of its last "
            f"{settings.ATTENTION_DURATION_SAMPLE:,} executions started within "
            f"{settings.ATTENTION_DURATION_DAYS} days that ended), and at least "
            f"{format_duration(settings.ATTENTION_SLOW_MIN_SECONDS)}."
        )

    def limits(self, functions: Functions, now: datetime) -> dict[int, tuple[float, Any]]:
        factor, floor = self.value(), settings.ATTENTION_SLOW_MIN_SECONDS
        enough = settings.ATTENTION_DURATION_MIN_SAMPLE
        p95s = duration_p95(_running_functions(functions), now)
        return {pk: (max(p95 * factor, floor), p95) for pk, (n, p95) in p95s.items() if n >= enough}

    def reason_for(self, execution: Execution, seconds: float, p95: Any, now: datetime) -> str:
        running = (now - execution.started_at).total_seconds()
        return f"running {_span(running)}, its function's p95 is {_span(p95)}"


def execution_timeout(function: Function) -> int | None:
    """The function's ExecutionTimeout in seconds, from its DurableConfig (known for
    functions found by discovery), or None."""
    config = function.durable_config or {}
    try:
        seconds = int(config.get("ExecutionTimeout") or 0)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


class NearTimeout(_PerFunction):
    """Running, with ATTENTION_TIMEOUT_PERCENT of its function's ExecutionTimeout gone.
    The timeout is the function's DurableConfig as ListFunctions reported it (functions the
    sync discovers); a function named on its source without discovery has none stored, and
    its executions are not judged."""

    spec = Threshold(
        "Percent of its ExecutionTimeout gone, at least",
        1,
        100,
        "Under 1% would match nearly every running execution.",
        "Over 100% can never be true: AWS ends the execution at its timeout.",
        setting="ATTENTION_TIMEOUT_PERCENT",
    )

    def explain(self) -> str:
        return f"Running, with {self.value():g}% of its function's ExecutionTimeout gone."

    def limits(self, functions: Functions, now: datetime) -> dict[int, tuple[float, Any]]:
        share = self.value() / 100
        running = _running_functions(functions)
        found = {}
        for function in Function.objects.filter(pk__in=running, durable_config__isnull=False):
            timeout = execution_timeout(function)
            if timeout:
                found[function.pk] = (timeout * share, timeout)
        return found

    def reason_for(self, execution: Execution, seconds: float, timeout: Any, now: datetime) -> str:
        left = (execution.started_at + timedelta(seconds=timeout) - now).total_seconds()
        if left > 0:
            return f"times out in {_span(left)} (ExecutionTimeout {format_duration(timeout)})"
        return (
            f"its ExecutionTimeout ({format_duration(timeout)}) passed "
            f"{_span(-left)} ago, and it still shows as running"
        )

    def urgency_of(
        self, started_at: datetime, seconds: float, timeout: Any, now: datetime
    ) -> float:
        return -(started_at + timedelta(seconds=timeout) - now).total_seconds()


# ---- limits ----------------------------------------------------------------------------


class NearOperationLimit(Condition):
    """An execution not ended with ATTENTION_OPERATIONS_PERCENT of AWS's 3,000 operations
    used."""

    counted_apart = True
    spec = Threshold(
        "Operations of one execution, at least",
        2,
        AWS_MAX_OPERATIONS,
        "Every execution has an operation: under 2 would match every one.",
        f"Over {AWS_MAX_OPERATIONS:,} can never be true: AWS allows one execution "
        f"{AWS_MAX_OPERATIONS:,} operations.",
    )

    def value(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return math.ceil(AWS_MAX_OPERATIONS * settings.ATTENTION_OPERATIONS_PERCENT / 100)

    @property
    def at_least(self) -> int:
        return int(self.value())

    def explain(self) -> str:
        return (
            f"{self.at_least:,} operations or more of the {AWS_MAX_OPERATIONS:,} AWS allows "
            "one execution."
        )

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        live = Execution.objects.filter(
            status__in=LIVE_STATUSES, operation_count__gte=self.at_least
        )
        if _on_sqlite():
            live = Execution.objects.filter(
                pk__in=_ids(
                    f"SELECT id FROM {_EXECUTIONS} INDEXED BY exec_live_ops_idx "  # noqa: S608
                    f"WHERE operation_count >= %s AND status IN ({_LIVE_SQL})",
                    [self.at_least],
                )
            )
        return self._scoped(live, functions)

    def count(self, functions: Functions, now: datetime) -> int:
        return _capped(self.executions(functions, now))

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        rows = _with_related(self.executions(functions, now).order_by("-operation_count", "-id"))
        found = []
        for execution in rows[: SCAN_LIMIT if limit is None else limit]:
            n = execution.operation_count
            left = AWS_MAX_OPERATIONS - n
            tail = f"{left:,} left" if left > 0 else "at the limit"
            found.append(
                self.finding(
                    f"{n:,} of {AWS_MAX_OPERATIONS:,} operations ({tail})",
                    execution=execution,
                    urgency=n,
                )
            )
        return found

    def past(
        self, functions: Functions, since: datetime, now: datetime, limit: int
    ) -> tuple[int, list[Finding]]:
        rows = self._scoped(
            Execution.objects.filter(started_at__gte=since, operation_count__gte=self.at_least),
            functions,
        )
        found = [
            self.finding(
                f"{e.operation_count:,} of {AWS_MAX_OPERATIONS:,} operations",
                execution=e,
                urgency=e.operation_count,
            )
            for e in _with_related(rows.order_by("-operation_count", "-id"))[:limit]
        ]
        return _capped(rows), found


# ---- running longer than a set time --------------------------------------------------------


class LongerThan(Condition):
    """Running for longer than the rule's own time (guardrails only: the page's "running
    long" is Slow, against each function's own p95)."""

    counted_apart = True
    spec = Threshold(
        "Running for at least (seconds)",
        60,
        366 * 86400,
        "Under a minute would match nearly every running execution.",
        "Over 366 days can never be true: an ExecutionTimeout is at most one year.",
    )

    def explain(self) -> str:
        return f"Running for more than {format_duration(self.value() or 0)}."

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        since = now - timedelta(seconds=self.value() or 0)
        return self._scoped(
            Execution.objects.filter(status="RUNNING", started_at__lt=since), functions
        )

    def count(self, functions: Functions, now: datetime) -> int:
        return _capped(self.executions(functions, now))

    def _finding(self, execution: Execution, now: datetime) -> Finding:
        end = execution.ended_at or now
        seconds = (end - execution.started_at).total_seconds()
        verb = "running" if execution.ended_at is None else "ran"
        return self.finding(
            f"{verb} {_span(seconds)}, over the {format_duration(self.value() or 0)} allowed",
            execution=execution,
            urgency=seconds,
        )

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        rows = _with_related(self.executions(functions, now).order_by("started_at", "id"))
        return [self._finding(e, now) for e in rows[: SCAN_LIMIT if limit is None else limit]]

    def past(
        self, functions: Functions, since: datetime, now: datetime, limit: int
    ) -> tuple[int, list[Finding]]:
        allowed = timedelta(seconds=self.value() or 0)
        rows = self._scoped(
            Execution.objects.filter(started_at__gte=since).filter(
                Q(ended_at__isnull=True, started_at__lt=now - allowed)
                | Q(ended_at__gt=F("started_at") + allowed)
            ),
            functions,
        )
        found = [self._finding(e, now) for e in _with_related(rows.order_by("started_at"))[:limit]]
        return _capped(rows), found


# ---- stuck -----------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


class Stuck(Condition):
    """PAUSING or DELETING for longer than ATTENTION_STUCK_SECONDS. Since when: the pause or
    delete this console sent (the audit log), else the pause request's time the backend
    reports (PauseDetails), else the status event that brought it; an execution for which
    none is known is not judged."""

    STATUSES = ("PAUSING", "DELETING")
    ACTION_OF = {"PAUSING": "pause", "DELETING": "delete"}

    def explain(self) -> str:
        longer = format_duration(settings.ATTENTION_STUCK_SECONDS)
        return f"In PAUSING or DELETING for more than {longer}."

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        rows = list(
            _with_related(
                self._scoped(Execution.objects.filter(status__in=self.STATUSES), functions),
                raw=True,
            ).order_by("started_at", "id")[:SCAN_LIMIT]
        )
        sent: dict[tuple[str, str], AuditEntry] = {}
        for entry in AuditEntry.objects.filter(
            execution_arn__in=[e.arn for e in rows],
            action__in=list(self.ACTION_OF.values()),
            outcome=AuditOutcome.SUCCEEDED,
        ).order_by("created_at"):
            sent[(entry.execution_arn, entry.action)] = entry  # the latest wins
        found = []
        for execution in rows:
            entry = sent.get((execution.arn, self.ACTION_OF[execution.status]))
            pause = (execution.raw or {}).get("PauseDetails") or {}
            since = (
                (entry.created_at if entry else None)
                or (
                    _when(pause.get("PauseRequestTimestamp"))
                    if execution.status == "PAUSING"
                    else None
                )
                or execution.status_event_at
            )
            if since is None:
                continue
            seconds = (now - since).total_seconds()
            if seconds < settings.ATTENTION_STUCK_SECONDS:
                continue
            by = f" ({self.ACTION_OF[execution.status]} sent by {entry.username})" if entry else ""
            found.append(
                self.finding(
                    f"stuck in {execution.status} for {_span(seconds)}{by}",
                    execution=execution,
                    urgency=seconds,
                )
            )
        return _sorted(found, limit)


class StopNotTaken(Condition):
    """A stop was sent (and accepted) more than ATTENTION_STOP_GRACE_SECONDS ago, in the
    last ATTENTION_LOOKBACK_DAYS days, and the execution has not ended."""

    counted_apart = True

    def explain(self) -> str:
        return (
            f"Stopped more than {format_duration(settings.ATTENTION_STOP_GRACE_SECONDS)} ago "
            "(the audit log), and still not ended."
        )

    def _stops(self, now: datetime) -> QuerySet[AuditEntry]:
        return AuditEntry.objects.filter(
            action="stop",
            outcome=AuditOutcome.SUCCEEDED,
            created_at__gte=now - timedelta(days=settings.ATTENTION_LOOKBACK_DAYS),
            created_at__lt=now - timedelta(seconds=settings.ATTENTION_STOP_GRACE_SECONDS),
        )

    def executions(self, functions: Functions, now: datetime) -> QuerySet[Execution]:
        stops = self._stops(now).values("execution_arn")
        if _on_sqlite():  # from the few stops, by ARN; not along the status index
            sql, params = stops.query.sql_with_params()
            return self._scoped(
                Execution.objects.filter(
                    pk__in=_ids(
                        f"SELECT id FROM {_EXECUTIONS} "  # noqa: S608 (the model's)
                        f"WHERE arn IN ({sql}) AND +status IN ({_LIVE_SQL})",
                        params,
                    )
                ),
                functions,
            )
        return self._scoped(
            Execution.objects.filter(status__in=LIVE_STATUSES, arn__in=stops), functions
        )

    def count(self, functions: Functions, now: datetime) -> int:
        return _capped(self.executions(functions, now))

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        rows = list(
            _with_related(self.executions(functions, now)).order_by("started_at", "id")[
                : SCAN_LIMIT if limit is None else limit
            ]
        )
        first: dict[str, AuditEntry] = {}
        for entry in (
            self._stops(now).filter(execution_arn__in=[e.arn for e in rows]).order_by("-created_at")
        ):
            first[entry.execution_arn] = entry  # the earliest stop wins
        found = []
        for execution in rows:
            entry = first.get(execution.arn)
            if entry is None:
                continue
            ago = (now - entry.created_at).total_seconds()
            found.append(
                self.finding(
                    f"stop sent {_span(ago)} ago by {entry.username}, "
                    f"and it is still {execution.status.lower()}",
                    execution=execution,
                    urgency=ago,
                )
            )
        return _sorted(found, limit)


# ---- callbacks -----------------------------------------------------------------------------


class CallbackOverdue(Condition):
    """A callback still pending ATTENTION_CALLBACK_GRACE_SECONDS after its deadline (its
    Timeout or HeartbeatTimeout, executions/deadlines.py): the backend should have timed it
    out. Backends that report no deadline (the sandbox's runner) give none to pass."""

    def explain(self) -> str:
        return (
            "A callback still waiting "
            f"{format_duration(settings.ATTENTION_CALLBACK_GRACE_SECONDS)} after its deadline."
        )

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        ops = list(
            _operations_with_execution(
                self._scoped(
                    Operation.objects.awaiting_answer(), functions, "execution__function_id"
                )
            )
            .filter(
                started_at__lt=now - timedelta(seconds=settings.ATTENTION_CALLBACK_GRACE_SECONDS)
            )
            .order_by("started_at", "id")[:SCAN_LIMIT]
        )
        due = deadlines.for_operations(ops)
        grace = timedelta(seconds=settings.ATTENTION_CALLBACK_GRACE_SECONDS)
        found: dict[int, Finding] = {}
        for op in ops:
            deadline = due.get((op.execution_id, op.operation_id))
            first = deadline.first if deadline else None
            if first is None or first + grace > now:
                continue
            late = (now - first).total_seconds()
            if op.execution_id in found and found[op.execution_id].urgency >= late:
                continue
            kind = "heartbeat deadline" if first == deadline.heartbeat_at else "deadline"
            found[op.execution_id] = self.finding(
                f"callback {_quote(op.label)} past its {kind} by {_span(late)}",
                execution=op.execution,
                operation=op,
                urgency=late,
            )
        return _sorted(found.values(), limit)


# ---- fan-out -----------------------------------------------------------------------------


class FanOutGrowing(Condition):
    """A map or parallel not done, with ATTENTION_FANOUT_ITEMS children or more, that
    started a child within the last ATTENTION_FANOUT_WINDOW_SECONDS: still growing. (The
    mirror keeps no count per sync; the children's start times say the same.)"""

    def explain(self) -> str:
        return (
            f"A map or parallel with {settings.ATTENTION_FANOUT_ITEMS:,} items or more that "
            f"started one in the last {format_duration(settings.ATTENTION_FANOUT_WINDOW_SECONDS)}."
        )

    def _fanouts(self) -> QuerySet[Operation]:
        """Maps and parallels not done, of live executions."""
        subtypes = sorted(operations.FANOUT_SUBTYPES)
        if _on_sqlite():
            listed = ", ".join(f"'{subtype}'" for subtype in subtypes)
            return Operation.objects.filter(
                pk__in=_live_operations(
                    "op_fanout_idx", f"o.status = 'STARTED' AND o.subtype IN ({listed})"
                )
            )
        return Operation.objects.filter(
            subtype__in=subtypes, status="STARTED", execution__status__in=LIVE_STATUSES
        )

    def find(self, functions: Functions, now: datetime, limit: int | None) -> list[Finding]:
        fanouts = list(
            _operations_with_execution(
                self._scoped(self._fanouts(), functions, "execution__function_id")
            ).order_by("execution_id", "first_event_id")[:SCAN_LIMIT]
        )
        window = now - timedelta(seconds=settings.ATTENTION_FANOUT_WINDOW_SECONDS)
        stats: dict[tuple[int, str], dict[str, Any]] = {}
        for index in range(0, len(fanouts), CHUNK):
            part = fanouts[index : index + CHUNK]
            q = Q()
            for op in part:
                q |= Q(execution_id=op.execution_id, parent_operation_id=op.operation_id)
            for row in (
                Operation.objects.filter(q)
                .values("execution_id", "parent_operation_id")
                .annotate(
                    n=Count("id"),
                    recent=Count("id", filter=Q(started_at__gte=window)),
                    newest=Max("started_at"),
                )
                .order_by()
            ):
                stats[(row["execution_id"], row["parent_operation_id"])] = row
        found: dict[int, Finding] = {}
        for op in fanouts:
            row = stats.get((op.execution_id, op.operation_id))
            if not row or row["n"] < settings.ATTENTION_FANOUT_ITEMS or not row["recent"]:
                continue
            if op.execution_id in found and found[op.execution_id].urgency >= row["n"]:
                continue
            kind = "map" if op.subtype == "Map" else "parallel"
            items = "items" if kind == "map" else "branches"
            found[op.execution_id] = self.finding(
                f"{kind} {_quote(op.label)} still growing: {row['n']:,} {items}, "
                f"{row['recent']:,} started in the last "
                f"{format_duration(settings.ATTENTION_FANOUT_WINDOW_SECONDS)}",
                execution=op.execution,
                operation=op,
                urgency=row["n"],
            )
        return _sorted(found.values(), limit)


# ---- all of them -------------------------------------------------------------------------

CONDITIONS: list[Condition] = [
    Retrying("retrying", "Retrying again and again"),
    RetryStorm("retry-storm", "Retry storms", actions=(OPEN,)),
    Slow("slow", "Running far longer than usual"),
    NearTimeout("near-timeout", "Near their ExecutionTimeout", actions=(OPEN, STOP, PAUSE)),
    NearOperationLimit("operations", "Near the limit of 3,000 operations"),
    Stuck("stuck", "Stuck pausing or deleting", actions=(OPEN,)),
    StopNotTaken("stop-not-taken", "Stopped, but still running", actions=(STOP, OPEN)),
    CallbackOverdue("callback-overdue", "Callbacks past their deadline", actions=(OPEN,)),
    FanOutGrowing("fan-out", "Fan-outs still growing"),
]
BY_NAME = {condition.name: condition for condition in CONDITIONS}
# What a guardrail may watch: the page's conditions, and a plain time limit.
RULE_CONDITIONS: list[Condition] = [
    *CONDITIONS,
    LongerThan("duration", "Running longer than a set time"),
]
RULE_BY_NAME = {condition.name: condition for condition in RULE_CONDITIONS}


def counts(functions: Functions = None, now: datetime | None = None) -> dict[str, int]:
    """How many each condition matches (for retry storms: how many functions)."""
    now = now or timezone.now()
    return {condition.name: condition.count(functions, now) for condition in CONDITIONS}
