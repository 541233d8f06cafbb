"""The list's counts and searches at scale: counters kept by the database (triggers), capped
counts under filters the counters do not cover, and the substring searches that
PostgreSQL serves with pg_trgm. `make test` runs this file on SQLite and on PostgreSQL, so
each path is checked to give the same answers on both."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.http import QueryDict

from browser import listing
from executions import sync
from executions.models import Execution, Function, Source, StatusCount
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _count_star() -> dict[tuple[int, str], int]:
    rows = Execution.objects.order_by().values_list("function_id", "status")
    counted = rows.annotate(n=Count("id")).values_list("function_id", "status", "n")
    return {(f, s): n for f, s, n in counted}


def _counters() -> dict[tuple[int, str], int]:
    rows = StatusCount.objects.exclude(count=0).values_list("function_id", "status", "count")
    return {(f, s): n for f, s, n in rows}


def _page(query: str) -> listing.ListPage:
    return listing.list_page(listing.ListFilter.from_query(QueryDict(query)), size=500)


@pytest.fixture
def functions(sandbox_source: Source) -> list[Function]:
    other = Source.objects.create(name="other", endpoint_url="http://127.0.0.1:9")
    return [
        Function.objects.create(source=sandbox_source, name="alpha"),
        Function.objects.create(source=other, name="beta"),
    ]


def _generate(functions: list[Function], count: int) -> list[Execution]:
    statuses = ["SUCCEEDED", "SUCCEEDED", "FAILED", "RUNNING", "TIMED_OUT", "STOPPED"]
    return Execution.objects.bulk_create(
        Execution(
            arn=f"arn:test:{uuid.uuid4().hex}",
            name=f"invoice-{i:05d}" if i % 7 else f"refund-{i:05d}",
            source=functions[i % 2].source,
            function=functions[i % 2],
            status=statuses[i % len(statuses)],
            started_at=NOW - timedelta(minutes=i),
            input_payload=f'{{"orderId": "ORD-{i:05d}", "Customer": "Acme {i % 3}"}}',
        )
        for i in range(count)
    )


def test_the_list_counts_equal_a_count_per_status_after_a_sync_of_the_sandbox(
    sandbox_source: Source, lambda_sandbox: Any
):
    # Executions that end, fail and wait, mirrored by the sync as it always does.
    arns = [
        start(lambda_sandbox, "order-processor", {"orderId": "o-1"}, f"c-{uuid.uuid4().hex[:8]}"),
        start(lambda_sandbox, "order-processor", {}, f"c-{uuid.uuid4().hex[:8]}"),
        start(lambda_sandbox, "coffee-order", {"orderId": "c"}, f"c-{uuid.uuid4().hex[:8]}"),
    ]
    for arn in arns[:2]:
        wait_for_status(lambda_sandbox, arn, timeout=120)
    wait_for_callback(lambda_sandbox, arns[2], "baristaAccepts")
    sync.sync_once(sandbox_source)
    for execution in Execution.objects.all():
        sync.sync_execution(execution.pk)

    assert Execution.objects.count() >= 3
    assert _counters() == _count_star()
    expected = {s: 0 for s in listing.ExecutionStatus.values}
    for (_, status), n in _count_star().items():
        expected[status] += n
    counts = listing.status_counts(listing.ListFilter())
    assert counts.exact and counts.counts == expected


def test_the_counters_follow_every_way_the_mirror_changes(functions):
    rows = _generate(functions, 60)
    assert _counters() == _count_star()

    Execution.objects.filter(status="RUNNING").update(status="SUCCEEDED")  # many at once
    one = Execution.objects.get(pk=rows[2].pk)
    one.status, one.function = "STOPPED", functions[1]
    one.save()  # a row saved whole, moved to another function
    Execution.objects.filter(pk=rows[5].pk).update(name="renamed")  # no status change
    Execution.objects.filter(pk__in=[r.pk for r in rows[:10]]).delete()

    assert _counters() == _count_star()


def test_counts_under_a_source_or_a_function_come_from_the_counters(functions):
    _generate(functions, 60)
    for query in ("", f"source={functions[0].source_id}", f"function={functions[1].pk}"):
        flt = listing.ListFilter.from_query(QueryDict(query))
        counted = flt.apply(Execution.objects.all(), statuses=False)
        expected = {s: counted.filter(status=s).count() for s in listing.ExecutionStatus.values}

        counts = listing.status_counts(flt)

        assert counts.exact and counts.counts == expected, query


def test_counts_under_other_filters_are_counted_up_to_a_cap_and_say_when_they_stop(
    functions, monkeypatch
):
    _generate(functions, 60)
    flt = listing.ListFilter.from_query(QueryDict("name=INVOICE"))  # case does not matter
    matching = flt.apply(Execution.objects.all(), statuses=False)

    counts = listing.status_counts(flt)
    assert counts.exact
    assert counts.counts["FAILED"] == matching.filter(status="FAILED").count() > 0
    assert counts.total(listing.ExecutionStatus.values) == matching.count() == 51

    monkeypatch.setattr(listing, "COUNT_CAP", 50)
    capped = listing.status_counts(flt)
    assert not capped.exact and capped.counts == {} and capped.at_least == 51


@pytest.mark.parametrize(
    "query",
    [
        "name=refund",  # a few rows
        "name=RefUnd-0",  # any case
        "name=invoice",  # most rows
        "name=nothing-like-it",
        "input=ORD-00042",  # one row
        "input=acme 2",  # a third, any case
        "input=orderid",  # every row
        "name=invoice&input=ACME 1&status=FAILED",
        "name=_",  # LIKE's wildcards are searched as text
        "input=%",
    ],
)
def test_substring_searches_find_what_python_finds(functions, query):
    rows = _generate(functions, 90)
    flt = listing.ListFilter.from_query(QueryDict(query))

    def matches(row: Execution) -> bool:
        return (
            (not flt.name or flt.name.lower() in row.name.lower())
            and (not flt.input or flt.input.lower() in row.input_payload.lower())
            and (not flt.statuses or row.status in flt.statuses)
        )

    expected = [r.pk for r in sorted(rows, key=lambda r: (r.started_at, r.pk), reverse=True)]
    assert [r.pk for r in _page(query).rows] == [pk for pk in expected if matches(
        Execution.objects.get(pk=pk))]  # fmt: skip


def test_postgresql_serves_the_searches_from_trigram_indexes():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no pg_trgm; its searches are checked above")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'executions_execution'"
        )
        indexes = dict(cursor.fetchall())
    assert "gin_trgm_ops" in indexes["exec_name_trgm_idx"]
    assert "upper(" in indexes["exec_name_trgm_idx"].lower()
    assert "gin_trgm_ops" in indexes["exec_input_trgm_idx"]
    # Django's icontains is UPPER(column) LIKE UPPER(pattern): the indexed expression.
    flt = listing.ListFilter.from_query(QueryDict("name=refund-00007"))
    sql = str(flt.apply(Execution.objects.all()).query).upper()
    assert 'UPPER("EXECUTIONS_EXECUTION"."NAME"::TEXT) LIKE UPPER(' in sql


def test_the_list_page_filters_by_input_and_says_when_it_stopped_counting(
    functions, client, monkeypatch
):
    _generate(functions, 30)
    factories.signed_in(client, "ada")

    page = client.get("/executions/?input=ORD-00012").content.decode()
    assert 'name="input"' in page and 'value="ORD-00012"' in page
    assert "invoice-00012" in page and "invoice-00011" not in page
    assert '<strong class="tabular">1</strong> execution match' in page

    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    many = client.get("/executions/?input=orderId").content.decode()
    assert 'More than <strong class="tabular">5</strong> executions match' in many
    assert 'id="count-FAILED"></span>' in many  # no per-status figure that would be wrong


def test_the_counting_triggers_survive_every_migration():
    """A migration that makes SQLite rebuild the execution table (a new non-null column)
    drops its triggers, and the counts silently stop (0007 and 0018 put them back): after
    all migrations, all three are there, on SQLite and on PostgreSQL."""
    names = {"executions_count_inserted", "executions_count_deleted", "executions_count_updated"}
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'executions_execution'::regclass"
            )
        found = {row[0] for row in cursor.fetchall()}
    assert names <= found
