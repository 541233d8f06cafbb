"""Compare two runs (browser/compare.py): operations matched by path, what ran in one run
only, differing statuses, attempts and results (a JSON diff), equal subtrees folded. The
runs are recorded histories (tests/fixtures) stored the way the sync stores them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache

from browser import compare
from executions.models import Execution, Operation
from tests import factories
from tests.factories import mirror_history


@pytest.fixture(autouse=True)
def _fresh_render_cache() -> None:
    cache.delete_pattern("browser:*")


@pytest.fixture
def viewer(client):
    return factories.signed_in(client, "comparer")


def fraud_runs() -> tuple[Execution, Execution]:
    return mirror_history("fraud-low-retried"), mirror_history("fraud-high-failed")


def by_label(comparison: compare.Comparison) -> dict[str, compare.Pair]:
    out = {}

    def walk(pairs: list[compare.Pair]) -> None:
        for pair in pairs:
            out[pair.label] = pair
            walk(pair.children)

    walk(comparison.roots)
    return out


def test_a_json_diff_names_each_path_that_differs() -> None:
    diff = compare.json_diff(
        {"level": "low", "score": 15, "tags": [1, 2], "same": True},
        {"level": "high", "score": 92, "tags": [1], "same": True, "extra": None},
    )
    assert diff == [
        ("$.level", '"low"', '"high"'),
        ("$.score", "15", "92"),
        ("$.tags[1]", "2", "—"),
        ("$.extra", "—", "null"),
    ]
    assert compare.json_diff({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == []
    assert compare.json_diff(1, 1.0) == [("$", "1", "1.0")]


@pytest.mark.django_db
def test_the_steps_that_ran_in_one_run_only_and_the_differing_result_are_found() -> None:
    low, high = fraud_runs()

    comparison = compare.compare(low, high)

    pairs = by_label(comparison)
    assert pairs["autoApprove"].only == "a"
    assert pairs["blockTransaction"].only == "b"
    score = pairs["scoreRisk"]
    assert score.only == ""
    assert score.differences == ["result"]
    where = {path for path, _, _ in score.result_diff}
    assert where == {"$.score", "$.level"}
    assert comparison.counts == {"only_a": 1, "only_b": 1, "differ": 1, "same": 0}


@pytest.mark.django_db
def test_differing_statuses_and_attempts_are_named() -> None:
    low, high = fraud_runs()
    step = Operation.objects.get(execution=high, name="scoreRisk")
    step.status, step.attempt_count = "FAILED", 3
    step.save()

    pairs = by_label(compare.compare(low, high))

    assert pairs["scoreRisk"].differences[:2] == ["status", "attempts"]


@pytest.mark.django_db
def test_a_run_compared_with_itself_has_nothing_but_one_folded_row_per_subtree() -> None:
    first = mirror_history("durable-function-example")
    second = mirror_history("durable-function-example-again", "durable-function-example")

    comparison = compare.compare(first, second)

    assert comparison.counts["differ"] == comparison.counts["only_a"] == 0
    assert comparison.counts["same"] == first.operation_count
    # Every top-level operation is the same: one row stands for all of them.
    assert len(comparison.rows) == 1
    assert comparison.rows[0].size == first.operation_count


@pytest.mark.django_db
def test_a_long_map_that_differs_in_one_item_shows_that_item_and_folds_the_rest() -> None:
    first = mirror_history("durable-function-example")
    second = mirror_history("durable-function-example-b", "durable-function-example")
    item = (
        Operation.objects.filter(execution=second, type="STEP", parent_operation_id__gt="")
        .order_by("first_event_id")
        .last()
    )
    item.status = "FAILED"
    item.save()

    comparison = compare.compare(first, second)

    differing = [row.pair for row in comparison.rows if row.pair and row.pair.differences]
    assert [pair.b.id for pair in differing] == [item.operation_id]
    shown = sum(row.size if (row.same or row.folded) else 1 for row in comparison.rows)
    assert shown == comparison.counts["same"] + comparison.counts["differ"]
    assert len(comparison.rows) < first.operation_count


@pytest.mark.django_db
def test_past_the_row_limit_the_rest_is_counted_not_written() -> None:
    low, high = fraud_runs()

    comparison = compare.compare(low, high, limit=1)

    assert len(comparison.rows) == 1
    assert comparison.truncated == 2  # the two steps that ran in one run only


@pytest.mark.django_db
def test_durations_differ_only_by_more_than_half() -> None:
    low, high = fraud_runs()
    step = Operation.objects.get(execution=high, name="scoreRisk")
    original = Operation.objects.get(execution=low, name="scoreRisk")
    took = (original.ended_at or original.started_at) - original.started_at
    step.ended_at = step.started_at + took * 1.2
    step.save()
    assert "duration" not in by_label(compare.compare(low, high))["scoreRisk"].differences
    step.ended_at = step.started_at + took * 3 + timedelta(seconds=1)
    step.save()
    assert "duration" in by_label(compare.compare(low, high))["scoreRisk"].differences


@pytest.mark.django_db
def test_the_page_shows_both_runs_and_the_differing_step(viewer) -> None:
    low, high = fraud_runs()

    page = viewer.get("/executions/compare", {"a": low.pk, "b": high.pk}).content.decode()

    assert 'data-path="blockTransaction" data-only="b"' in page
    assert 'data-path="autoApprove" data-only="a"' in page
    assert 'data-path="scoreRisk" data-only="" data-diff="result"' in page
    assert "result.level" in page
    # The runs' own error: only the blocked one has one.
    assert 'data-testid="compare-error-b"' in page
    assert "TransactionBlockedError" in page
    assert 'data-testid="compare-error-a"' not in page


@pytest.mark.django_db
def test_two_rows_selected_in_the_list_become_the_pages_address_oldest_first(viewer) -> None:
    low, high = fraud_runs()
    Execution.objects.filter(pk=high.pk).update(started_at=low.started_at + timedelta(hours=1))
    # The list sends the newest first; the run that started first is A.
    response = viewer.get("/executions/compare", {"ids": [high.pk, low.pk]})
    assert response.status_code == 302
    assert response["Location"] == f"/executions/compare?a={low.pk}&b={high.pk}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"ids": ["1"]}, "exactly two"),
        ({"ids": ["1", "2", "3"]}, "exactly two"),
        ({"a": "1"}, "Name the two executions"),
        ({"a": "x", "b": "1"}, "whole number"),
    ],
)
def test_a_bad_selection_is_refused_with_a_reason(viewer, query, reason) -> None:
    response = viewer.get("/executions/compare", query)
    assert response.status_code == 400
    assert reason in response.content.decode()


@pytest.mark.django_db
def test_the_previous_run_of_the_function_is_found(viewer) -> None:
    low, high = fraud_runs()
    Execution.objects.filter(pk=low.pk).update(started_at=high.started_at - timedelta(hours=1))
    Execution.objects.filter(pk=high.pk).update(function=low.function)

    response = viewer.get(f"/executions/{high.pk}/compare-previous")
    assert response["Location"] == f"/executions/compare?a={low.pk}&b={high.pk}"
    first = viewer.get(f"/executions/{low.pk}/compare-previous")
    assert first.status_code == 404
    assert "no run of" in first.content.decode()
