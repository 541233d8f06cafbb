"""The list of executions: filters as they appear in the URL, keyset pages on
(started_at, id) so page 2,000 costs what page 1 costs, and the status counts."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, Q, QuerySet, Subquery, Sum
from django.http import QueryDict

from executions.models import TERMINAL_STATUSES, Execution, ExecutionStatus, StatusCount
from web import params

PAGE_SIZE = 50


# The last moment Python's datetime holds (and so the filters can name).
LATEST = datetime.max.replace(tzinfo=UTC)
# The year a value starts with: datetime holds years 1 to 9999, and its refusal of 99999 or 0
# would not say that the year is what is wrong.
_YEAR = re.compile(r"\s*([+-]?[0-9]+)-")


def _parse_when(text: str, *, end: bool) -> datetime | None:
    """A date (`2026-01-31`) or a datetime-local value (`2026-01-31T10:30`), read as UTC;
    None when it is neither. A moment that lies outside the range of datetime once read as
    UTC (`0001-01-01T00:00+05:00`) raises OverflowError.

    A bare date as the upper bound means "up to the end of that day".
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end:
                # The day after 9999-12-31 does not exist: the last moment there is stands
                # for it (the list's `<` then leaves out that one microsecond).
                return LATEST if day == date.max else moment + timedelta(days=1)
            return moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    # Compared in UTC by the database, which is where an offset can step out of the range.
    return moment.astimezone(UTC)


def _when(key: str, value: str, *, end: bool) -> None:
    """Refuse (params.BadQuery) a `from` or `to` the list cannot search by, saying why."""
    year = _YEAR.match(value)
    if year and not 1 <= int(year.group(1)) <= 9999:
        raise params.BadQuery(
            f"“{key}” must be a date in a year from 1 to 9999, not “{params.shown(value)}”."
        )
    try:
        moment = _parse_when(value, end=end)
    except OverflowError:
        raise params.BadQuery(
            f"“{key}” must be a moment from 0001-01-01 00:00 to 9999-12-31 23:59 UTC, and "
            f"“{params.shown(value)}” is outside that once its offset is applied."
        ) from None
    if moment is None:
        raise params.BadQuery(
            f"“{key}” must be a date (2026-01-31) or a date and time "
            f"(2026-01-31T10:30), not “{params.shown(value)}”."
        )


@dataclass
class ListFilter:
    """The list's filters, as they appear in the URL."""

    source: int | None = None
    function: int | None = None
    statuses: list[str] = field(default_factory=list)
    name: str = ""
    # A string in the execution's input (an order id, a customer): "search by payload".
    input: str = ""
    started_from: str = ""
    started_to: str = ""
    # What the person may see (access/scope.py): the functions' ids, None for all. Not in
    # the URL: it is the person's, not the link's.
    scope: frozenset[int] | None = None

    @classmethod
    def from_query(cls, query: QueryDict, scope: frozenset[int] | None = None) -> ListFilter:
        """Read the filters; raise params.BadQuery for anything malformed."""
        flt = cls(
            source=params.integer(query, "source", minimum=1),
            function=params.integer(query, "function", minimum=1),
            statuses=params.choices(query, "status", ExecutionStatus.values),
            name=params.text(query, "name", 256),
            input=params.text(query, "input", 256),
            started_from=params.text(query, "from", 40),
            started_to=params.text(query, "to", 40),
            scope=scope,
        )
        for key, value, end in (("from", flt.started_from, False), ("to", flt.started_to, True)):
            if value:
                _when(key, value, end=end)
        return flt

    @property
    def is_active(self) -> bool:
        return bool(
            self.source
            or self.function
            or self.statuses
            or self.name
            or self.input
            or self.started_from
            or self.started_to
        )

    def params(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.source:
            pairs.append(("source", str(self.source)))
        if self.function:
            pairs.append(("function", str(self.function)))
        pairs.extend(("status", s) for s in self.statuses)
        if self.name:
            pairs.append(("name", self.name))
        if self.input:
            pairs.append(("input", self.input))
        if self.started_from:
            pairs.append(("from", self.started_from))
        if self.started_to:
            pairs.append(("to", self.started_to))
        return pairs

    def query(self, **extra: str) -> str:
        """The filter state (plus `extra`, e.g. a cursor) as a query string."""
        return urlencode(self.params() + [(k, v) for k, v in extra.items() if v])

    def apply(self, qs: QuerySet[Execution], *, statuses: bool = True) -> QuerySet[Execution]:
        if self.scope is not None:
            qs = qs.filter(function_id__in=self.scope)
        if self.source:
            qs = qs.filter(source_id=self.source)
        if self.function:
            qs = qs.filter(function_id=self.function)
        if self.name:
            qs = qs.filter(_contains("name", self.name))
        if self.input:
            qs = qs.filter(_contains("input_payload", self.input))
        started_from = _parse_when(self.started_from, end=False)
        if started_from:
            qs = qs.filter(started_at__gte=started_from)
        started_to = _parse_when(self.started_to, end=True)
        if started_to:
            # A bare date already points at the next midnight; a moment is inclusive.
            lookup = "started_at__lt" if len(self.started_to) == 10 else "started_at__lte"
            qs = qs.filter(**{lookup: started_to})
        if statuses and self.statuses:
            qs = qs.filter(status__in=self.statuses)
        return qs


def _contains(column: str, text: str) -> Q:
    """`column` contains `text`, whatever the case.

    PostgreSQL: Django's icontains (UPPER(column) LIKE UPPER('%text%')), served by the
    pg_trgm index on UPPER(column) when the text is rare (migration 0006), and by walking
    the list's own index when it is common: the planner picks from the column's
    statistics. SQLite: the matching ids come from a scan of the column's covering index
    where there is one (exec_name_idx: no table rows read), because filtering the list
    itself by LIKE made SQLite walk the started_at index and read every row to test it.
    """
    lookup = Q(**{f"{column}__icontains": text})
    if connection.vendor == "postgresql" or column != "name":
        return lookup
    return Q(id__in=Subquery(Execution.objects.filter(lookup).order_by().values("id")))


@dataclass(frozen=True)
class Cursor:
    """A position in the list: (started_at, id), written as `<epoch microseconds>.<id>`."""

    started_at: datetime
    id: int

    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def __str__(self) -> str:
        delta = self.started_at - self.EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}.{self.id}"

    @classmethod
    def parse(cls, text: str | None, name: str) -> Cursor | None:
        """A cursor from the URL's `name` parameter; a malformed one is refused
        (params.BadQuery)."""
        if not text:
            return None
        micros, _, pk = text.partition(".")
        try:
            return cls(
                cls.EPOCH + timedelta(microseconds=params.whole_number(name, micros)),
                params.whole_number(name, pk),
            )
        except (ValueError, OverflowError):  # params.BadQuery is a ValueError
            raise params.BadQuery(
                f"“{name}” holds “{params.shown(text)}”, which is not a page cursor this "
                "console wrote; start again from the newest executions."
            ) from None

    @classmethod
    def of(cls, execution: Execution) -> Cursor | None:
        if execution.started_at is None:
            return None
        return cls(execution.started_at, execution.pk)


def _older_than(cursor: Cursor) -> Q:
    # `started_at <= X` gives the index a range to start from; the OR only trims the ties.
    return Q(started_at__lte=cursor.started_at) & (
        Q(started_at__lt=cursor.started_at) | Q(started_at=cursor.started_at, id__lt=cursor.id)
    )


def _newer_than(cursor: Cursor) -> Q:
    return Q(started_at__gte=cursor.started_at) & (
        Q(started_at__gt=cursor.started_at) | Q(started_at=cursor.started_at, id__gt=cursor.id)
    )


@dataclass
class ListPage:
    rows: list[Execution]
    newer: Cursor | None  # `before=` cursor of the page of newer rows, if any
    older: Cursor | None  # `after=` cursor of the page of older rows, if any


def _sort_key(execution: Execution) -> tuple[datetime, int]:
    return (execution.started_at or Cursor.EPOCH, execution.pk)


def _key_order(key: tuple[datetime | None, int]) -> tuple[datetime, int]:
    return (key[0] or Cursor.EPOCH, key[1])


def _keys(
    qs: QuerySet[Execution],
    statuses: list[str],
    where: Q,
    newest_first: bool,
    limit: int,
    functions: frozenset[int] | None = None,
) -> list[tuple[datetime | None, int]]:
    """The (started_at, id) of up to `limit` matching executions, in that order.

    Several statuses are read as one keyset query per status, merged here: each query
    walks exec_status_idx in order and stops after `limit` rows, where `status IN (...)`
    would make the database read every matching row and sort them.
    """
    order = ("-started_at", "-id") if newest_first else ("started_at", "id")
    base = qs.filter(where).order_by(*order)
    parts = [base] if len(statuses) <= 1 else [base.filter(status=s) for s in statuses]
    if functions:
        # A person's scope: one walk of exec_function_idx per function, where
        # `function_id IN (...)` would walk the whole list's index testing each row.
        parts = [part.filter(function_id=f) for part in parts for f in sorted(functions)]
    keys = [list(part.values_list("started_at", "id")[:limit]) for part in parts]
    if len(keys) == 1:
        return keys[0]
    merged = heapq.merge(*keys, key=_key_order, reverse=newest_first)
    return [key for _, key in zip(range(limit), merged, strict=False)]


# A scope of more functions than this is read as one filtered walk, not one walk each.
SPLIT_FUNCTIONS = 64


def _split(functions: frozenset[int] | None) -> frozenset[int] | None:
    return functions if functions is not None and len(functions) <= SPLIT_FUNCTIONS else None


def _fetch(
    qs: QuerySet[Execution],
    statuses: list[str],
    where: Q,
    newest_first: bool,
    limit: int,
    functions: frozenset[int] | None = None,
) -> list[Execution]:
    """Up to `limit` rows in (started_at, id) order."""
    if len(statuses) <= 1 and not functions:
        order = ("-started_at", "-id") if newest_first else ("started_at", "id")
        base = qs.filter(where).order_by(*order)
        return list(base.select_related("function", "source")[:limit])
    # Each status's keys only (an index-only walk), merged; then the rows that won, in one
    # query: building limit x statuses rows to keep `limit` cost more than the walks.
    ids = [pk for _, pk in _keys(qs, statuses, where, newest_first, limit, functions)]
    rows = Execution.objects.filter(id__in=ids).select_related("function", "source")
    return sorted(rows, key=_sort_key, reverse=newest_first)


def list_page(
    flt: ListFilter,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> ListPage:
    """One page of the filtered list, newest first, by keyset on (started_at, id)."""
    qs = flt.apply(Execution.objects.all(), statuses=len(flt.statuses) <= 1)
    statuses = flt.statuses
    functions = None if flt.function else _split(flt.scope)
    if before is not None:
        rows = _fetch(qs, statuses, _newer_than(before), False, size + 1, functions)
        more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        return ListPage(
            rows=rows,
            newer=Cursor.of(rows[0]) if rows and more_newer else None,
            older=Cursor.of(rows[-1]) if rows else None,
        )
    where = _older_than(after) if after is not None else Q()
    rows = _fetch(qs, statuses, where, True, size + 1, functions)
    more_older = len(rows) > size
    rows = rows[:size]
    newer = None
    if after is not None and rows:
        # Coming from a cursor, there is a newer page unless the rows start at the top.
        if _fetch(qs, statuses, _newer_than(Cursor.of(rows[0])), False, 1, functions):
            newer = Cursor.of(rows[0])
    return ListPage(rows=rows, newer=newer, older=Cursor.of(rows[-1]) if more_older else None)


# The list's "N new executions" notice counts up to this many ("more than 99 new").
NEWS_CAP = 99


def newer_count(flt: ListFilter, since: Cursor | None, cap: int = NEWS_CAP) -> int:
    """Executions matching the filter that started after `since` (the top row of the
    newest page; None when that page was empty), counted up to cap + 1."""
    qs = flt.apply(Execution.objects.all(), statuses=len(flt.statuses) <= 1)
    where = _newer_than(since) if since is not None else Q()
    functions = None if flt.function else _split(flt.scope)
    return len(_keys(qs, flt.statuses, where, False, cap + 1, functions))


# Above this many matching executions, filtered counts are not counted (the page says so).
COUNT_CAP = 1_000


@dataclass
class StatusCounts:
    """Executions per status under every filter except the status one (facet counts).

    `exact` is False when more than COUNT_CAP executions match filters the counters do not
    cover (a time window, a name or an input): then `counts` is empty and `at_least` is
    COUNT_CAP + 1.
    """

    counts: dict[str, int]
    exact: bool = True

    @property
    def at_least(self) -> int:
        return COUNT_CAP + 1

    def total(self, statuses: Iterable[str]) -> int:
        return sum(self.counts.get(s, 0) for s in statuses)


def status_counts(flt: ListFilter) -> StatusCounts:
    """The counts: read from the counters the database keeps (StatusCount, a few rows per
    function) when the filters are only a source or a function; otherwise counted, up to
    COUNT_CAP matching executions."""
    counts = {status: 0 for status in ExecutionStatus.values}
    if not (flt.name or flt.input or flt.started_from or flt.started_to):
        rows = StatusCount.objects.all()
        if flt.scope is not None:
            rows = rows.filter(function_id__in=flt.scope)
        if flt.source:
            rows = rows.filter(function__source_id=flt.source)
        if flt.function:
            rows = rows.filter(function_id=flt.function)
        totals = rows.order_by().values_list("status").annotate(n=Sum("count"))
        counts.update({status: n for status, n in totals.values_list("status", "n") if n})
        return StatusCounts(counts)
    matching = flt.apply(Execution.objects.all(), statuses=False).order_by()
    sample = Execution.objects.filter(
        id__in=Subquery(matching.values("id")[: COUNT_CAP + 1])
    ).order_by()
    rows = dict(sample.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    if sum(rows.values()) > COUNT_CAP:
        return StatusCounts({}, exact=False)
    counts.update(rows)
    return StatusCounts(counts)


def iter_running_ids(rows: Iterable[Execution]) -> Iterator[int]:
    for row in rows:
        if row.status not in TERMINAL_STATUSES:
            yield row.pk
