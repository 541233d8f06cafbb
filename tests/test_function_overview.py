"""A function's overview (browser/functions.py, browser/function_chart.py), on generated
mirror rows where the figures are known in advance: executions per hour by status, the
duration percentiles, the steps that fail most, and the running and waiting counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from browser import function_chart, functions
from executions.models import Execution, Function, Operation, Source
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client: Client) -> Client:
    return factories.signed_in(client, "vera")


@pytest.fixture
def function() -> Function:
    return Function.objects.create(source=factories.offline_source("generated"), name="orders")


def _hour(hours_ago: int) -> datetime:
    now = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def _execution(function: Function, n: int, status: str, started: datetime, **fields) -> Execution:
    return Execution.objects.create(
        arn=f"generated/{function.name}/{n}",
        name=f"run-{n}",
        source=function.source,
        function=function,
        status=status,
        started_at=started,
        **fields,
    )


@pytest.fixture
def mixed(function: Function) -> dict[str, list[Execution]]:
    """100 ended runs taking 1..100 s (the 10 slowest failed), 3 hours ago; 3 running now,
    2 of them waiting for a callback; 1 older than the day's window."""
    ended = []
    for seconds in range(1, 101):
        started = _hour(3) + timedelta(seconds=seconds)
        status = "FAILED" if seconds > 90 else "SUCCEEDED"
        ended.append(
            _execution(
                function, seconds, status, started, ended_at=started + timedelta(seconds=seconds)
            )
        )
    running = [
        _execution(function, 200 + i, "RUNNING", _hour(0), waiting_for=w)
        for i, w in enumerate(["callback", "callback", ""])
    ]
    old = _execution(function, 300, "TIMED_OUT", _hour(30), ended_at=_hour(29))
    for i, execution in enumerate(ended[90:]):  # "charge" failed in the 10 failed runs
        Operation.objects.create(
            execution=execution,
            operation_id=f"op-{i}",
            name="charge",
            type="STEP",
            status="FAILED",
            error={"ErrorType": "CardDeclined", "ErrorMessage": f"declined {i}"},
        )
    for i, execution in enumerate(ended[:3]):  # "notify" timed out in 3, then succeeded
        Operation.objects.create(
            execution=execution,
            operation_id=f"n-{i}",
            name="notify",
            type="CALLBACK",
            status="TIMED_OUT",
        )
        Operation.objects.create(
            execution=execution,
            operation_id=f"ok-{i}",
            name="validate",
            type="STEP",
            status="SUCCEEDED",
        )
    return {"ended": ended, "running": running, "old": [old]}


def test_the_duration_percentiles_are_the_nearest_ranks_of_the_ended_runs(function, mixed):
    since = _hour(23)

    percentiles, ended = functions.duration_percentiles(function, since)

    assert ended == 100  # the running ones have no duration; the old one is outside
    assert [(p.name, p.seconds) for p in percentiles] == [
        ("p50", 50.0),
        ("p90", 90.0),
        ("p99", 99.0),
    ]


def test_the_steps_that_fail_most_come_first_with_their_latest_error(function, mixed):
    steps = functions.failing_steps(function, _hour(23))

    assert [(s.name, s.failures, s.executions) for s in steps] == [
        ("charge", 10, 10),
        ("notify", 3, 3),
    ]
    assert steps[0].last_execution == mixed["ended"][-1].pk
    assert steps[0].last_error == "CardDeclined declined 9"
    assert steps[1].last_error == ""


def test_now_counts_the_running_and_what_they_wait_for(function, mixed):
    now = functions.current_counts(function)

    assert (now["running"], now["waiting"], now["computing"]) == (3, 2, 1)
    assert now["waiting_for"] == [("for a callback", 2)]
    assert now["all_time_total"] == 104
    assert [(s, n) for s, n, _ in now["all_time"]] == [
        ("SUCCEEDED", 90),
        ("FAILED", 10),
        ("TIMED_OUT", 1),
        ("RUNNING", 3),
    ]


def test_the_chart_stacks_each_hour_by_outcome(function, mixed):
    now = timezone.now()
    counts = functions.status_buckets(function, _hour(23), "hour")
    chart = function_chart.build(counts, now, timedelta(hours=24), "hour")

    assert len(chart.columns) == 24 and chart.total == 103 and chart.largest == 100
    by_start = {c.start: c for c in chart.columns}
    three = by_start[_hour(3)]
    assert three.counts == {"SUCCEEDED": 90, "FAILED": 10}
    assert [(s.state, s.count) for s in three.segments] == [("succeeded", 90), ("failed", 10)]
    # Stacked from the bottom, succeeded first; the tallest column fills the plot.
    bottom = chart.top + chart.plot_height
    assert three.segments[0].y + three.segments[0].height == pytest.approx(bottom)
    assert three.segments[1].y + three.segments[1].height == pytest.approx(three.segments[0].y)
    assert three.segments[1].y == pytest.approx(chart.top)
    newest = chart.columns[-1]
    assert newest.start == _hour(0) and newest.total == 3 and newest.label
    assert [(s.state, s.count) for s in newest.segments] == [("running", 3)]
    assert sum(c.total for c in chart.columns if c.start not in (_hour(3), _hour(0))) == 0


def test_the_overview_page_shows_every_figure(viewer, function, mixed):
    page = viewer.get(f"/functions/{function.pk}/")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="duration-p50">50 s<' in html
    assert 'data-testid="duration-p99">1 min 39 s<' in html
    assert 'data-testid="now-running">3<' in html and 'data-testid="now-waiting">2<' in html
    assert html.count('data-testid="chart-column"') == 24
    assert 'data-state="failed" data-count="10"' in html
    assert "CardDeclined declined 9" in html
    assert f'href="/executions/?function={function.pk}&amp;status=FAILED">10 failed<' in html
    three = _hour(3).strftime("%Y-%m-%dT%H")
    column = (
        f"/executions/?function={function.pk}&amp;from={three}%3A00&amp;to={three}%3A59%3A59.999999"
    )
    assert f'<a href="{column}"' in html
    listed = viewer.get(column.replace("&amp;", "&")).content.decode()
    assert '<strong class="tabular">100</strong> executions match the filters' in listed


def test_a_week_is_drawn_per_day_and_includes_the_older_run(viewer, function, mixed):
    html = viewer.get(f"/functions/{function.pk}/?range=7d").content.decode()

    assert html.count('data-testid="chart-column"') == 7
    assert "Executions started per day" in html
    assert 'data-state="ended" data-count="1"' in html  # the timed-out run of yesterday


def test_the_overview_reads_a_few_queries_however_many_runs_there_are(viewer, function, mixed):
    with CaptureQueriesContext(connection) as few:
        viewer.get(f"/functions/{function.pk}/")
    for n in range(400, 600):
        _execution(function, n, "SUCCEEDED", _hour(5), ended_at=_hour(4))
    with CaptureQueriesContext(connection) as many:
        viewer.get(f"/functions/{function.pk}/")

    assert len(many.captured_queries) == len(few.captured_queries) < 25


def test_an_empty_window_says_when_the_function_last_ran(viewer, function):
    _execution(function, 1, "SUCCEEDED", _hour(60), ended_at=_hour(59))

    html = viewer.get(f"/functions/{function.pk}/").content.decode()

    assert 'data-testid="function-chart-empty"' in html and "run-1" in html
    assert 'data-testid="no-failing-steps"' in html


def test_a_bad_window_or_an_unknown_function_is_refused_with_a_reason(viewer, function):
    bad = viewer.get(f"/functions/{function.pk}/?range=1y")
    missing = viewer.get("/functions/999999/")

    assert bad.status_code == 400 and "range" in bad.content.decode()
    assert missing.status_code == 404 and "no function #999999" in missing.content.decode()


def test_the_list_and_the_detail_page_link_to_the_overview(viewer, function, mixed):
    execution = mixed["ended"][0]

    listing = viewer.get(f"/executions/?function={function.pk}").content.decode()
    detail = viewer.get(f"/executions/{execution.pk}/").content.decode()

    assert f'href="/functions/{function.pk}/" title="Overview of this function"' in listing
    assert f'href="/functions/{function.pk}/" data-testid="function-overview-link"' in detail


def test_the_failing_steps_are_looked_for_in_the_newest_runs_only(
    viewer, function, mixed, monkeypatch
):
    # Of the ten runs where "charge" failed (the slowest ten, started last), the newest four.
    monkeypatch.setattr(functions, "FAILING_STEPS_SAMPLE", 4 + 3)  # + the 3 running ones

    steps = functions.failing_steps(function, _hour(23))
    html = viewer.get(f"/functions/{function.pk}/").content.decode()

    assert [(s.name, s.failures) for s in steps] == [("charge", 4)]
    assert "in its newest 7 executions" in html


def test_hostile_step_names_errors_and_inputs_stay_text_on_the_new_pages(
    client, sandbox_source, lambda_sandbox
):
    from tests.hostile import HTML, MARKERS, SCRIPT, hostile_execution

    factories.signed_in(client, "hana", superuser=True)
    execution = hostile_execution(lambda_sandbox, sandbox_source)
    # Its steps succeed; one is marked failed here, so the table lists its name and error.
    assert Operation.objects.filter(execution=execution, name=HTML).update(
        status="FAILED", error={"ErrorType": HTML, "ErrorMessage": SCRIPT}
    )
    Source.objects.filter(pk=sandbox_source.pk).update(
        capabilities={"DeleteDurableExecution": True}
    )
    pages = [
        f"/functions/{execution.function_id}/",
        f"/functions/{execution.function_id}/?range=30d",
        f"/executions/start/?from={execution.pk}",
        f"/executions/{execution.pk}/delete",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for marker in MARKERS:
            assert marker not in body, (url, marker)
    steps = client.get(f"/functions/{execution.function_id}/").content.decode()
    assert 'data-testid="failing-steps"' in steps and "&lt;img src=x onerror=" in steps
