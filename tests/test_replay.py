"""Replay (browser/replay.py): the tree at any moment, folded from the stored HistoryEvent
rows by the sync's own fold. Every recorded history of tests/fixtures is stored the way
the sync stores it (executions.history.store_events), then replayed from the database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from browser import replay
from executions import history, tree
from executions.models import Execution
from executions.nodes import COLUMNS, load_nodes, row_values
from tests.notify_servers import mirror_events
from web import params

HISTORIES = Path(__file__).parent / "fixtures" / "histories"
SAMPLES = sorted(p.stem for p in HISTORIES.glob("*.json"))


@pytest.fixture(autouse=True)
def _fresh_render_cache() -> None:
    # Test databases reuse primary keys, so an earlier test's renders must go.
    cache.delete_pattern("browser:*")


def recorded_events(name: str) -> list[dict[str, Any]]:
    """A recorded history's events as boto3 gives them (timestamps as datetimes)."""
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
        details = tree.event_details(event)
        if isinstance(details.get("ScheduledEndTimestamp"), str):
            details["ScheduledEndTimestamp"] = datetime.fromisoformat(
                details["ScheduledEndTimestamp"]
            )
    return events


def mirror(name: str, events: list[dict[str, Any]]) -> Execution:
    return mirror_events(name, name.split("-")[0], events, f"recorded/replay/{name}")


def comparable(nodes: dict[str, tree.OperationNode]) -> dict[str, dict[str, Any]]:
    """Every column the mirror stores, as the sync writes it."""
    return {op_id: row_values(node) for op_id, node in nodes.items()}


def moment(execution: Execution, event_id: int) -> replay.Moment:
    request = RequestFactory().get("/", {"at": event_id})
    return replay.moment_from_request(request, execution)


def at(execution: Execution, event_id: int) -> replay.Replayed:
    """The pure replay: every stored event up to the moment, folded."""
    return replay.replay_events(execution, moment(execution, event_id))


def fast(execution: Execution, event_id: int) -> replay.Replayed:
    """What the tabs use: stored operations, and the fold of those still changing."""
    return replay.replay(execution, moment(execution, event_id), COLUMNS)


@pytest.mark.django_db
@pytest.mark.parametrize("name", SAMPLES)
def test_the_replayed_tree_at_the_last_event_equals_the_stored_tree(name: str) -> None:
    events = recorded_events(name)
    execution = mirror(name, events)
    stored = comparable(load_nodes(execution, COLUMNS))
    assert stored, "the recorded history has operations"

    replayed = at(execution, execution.last_event_id)

    assert comparable(replayed.nodes) == stored
    assert replayed.moment.event_id == len(events)


@pytest.mark.django_db
@pytest.mark.parametrize("name", SAMPLES)
def test_every_moment_replayed_from_the_database_is_the_fold_of_the_events_up_to_it_both_ways(
    name: str,
) -> None:
    events = recorded_events(name)
    execution = mirror(name, events)
    for k in range(1, len(events) + 1):
        expected = comparable(tree.build_tree(events[:k]))
        assert comparable(at(execution, k).nodes) == expected, f"after event {k}"
        quick = fast(execution, k)
        assert comparable(quick.nodes) == expected, f"after event {k}, the fast way"
        assert quick.execution.status == at(execution, k).execution.status


@pytest.mark.django_db
def test_a_past_moment_of_a_finished_execution_shows_it_running() -> None:
    events = recorded_events("fraud-high-failed")
    execution = mirror("fraud-high-failed", events)
    history_status, _ = history.status_from_events(events, "RUNNING")
    assert history_status == "FAILED"

    assert at(execution, execution.last_event_id).execution.status == "FAILED"
    earlier = at(execution, 2)
    assert earlier.execution.status == "RUNNING"
    assert earlier.execution.ended_at is None
    assert earlier.moment.event_type == events[1]["EventType"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "reason"),
    [("0", "at least 1"), ("x", "whole number"), ("9999", "1 to")],
)
def test_a_moment_outside_the_history_is_refused_with_a_reason(value: str, reason: str) -> None:
    execution = mirror("coffee-order-succeeded", recorded_events("coffee-order-succeeded"))
    request = RequestFactory().get("/", {"at": value})
    with pytest.raises(params.BadQuery, match=reason):
        replay.moment_from_request(request, execution)


@pytest.fixture
def viewer(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("replayer", password="x-y-z-w-1"))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("tab", ["graph", "operations", "timeline"])
def test_each_replaying_tab_says_it_shows_a_past_moment_and_links_back_to_now(
    viewer, tab: str
) -> None:
    events = recorded_events("coffee-order-succeeded")
    execution = mirror("coffee-order-succeeded", events)
    url = f"/executions/{execution.pk}/{tab}/"

    # The tab area (what htmx swaps when the slider moves) holds the bar and the tab.
    page = viewer.get(url, {"at": 3}, HTTP_HX_REQUEST="true").content.decode()

    assert "A past moment" in page
    assert f"after event 3 of {len(events)}" in page
    assert events[2]["EventType"] in page
    assert f'href="{url}"' in page  # back to now
    assert f'href="/executions/{execution.pk}/timeline/?at=3"' in page  # the tabs keep it
    now = viewer.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "A past moment" not in now
    assert 'data-testid="replay-slider"' in now


@pytest.mark.django_db
def test_the_operations_tab_at_a_moment_lists_only_what_had_started_by_then() -> None:
    events = recorded_events("coffee-order-succeeded")
    execution = mirror("coffee-order-succeeded", events)
    callback = next(e for e in events if e["EventType"] == "CallbackStarted")
    before = replay.replay(
        execution,
        replay.moment_from_request(
            RequestFactory().get("/", {"at": callback["EventId"] - 1}), execution
        ),
    )
    assert callback["Id"] not in before.nodes
    assert before.execution.status == "RUNNING"


@pytest.mark.django_db
def test_a_moment_beyond_the_history_is_a_400_that_says_why(viewer) -> None:
    execution = mirror("coffee-order-succeeded", recorded_events("coffee-order-succeeded"))
    response = viewer.get(f"/executions/{execution.pk}/graph/", {"at": 10_000})
    assert response.status_code == 400
    assert "must be an event of this execution" in response.content.decode()


@pytest.mark.django_db
def test_more_rows_of_the_table_at_a_moment_hold_only_what_had_started(viewer) -> None:
    events = recorded_events("durable-function-example")
    execution = mirror("durable-function-example", events)
    fanout = execution.operations.get(subtype="Map")
    children = list(
        execution.operations.filter(parent_operation_id=fanout.operation_id).order_by(
            "first_event_id"
        )
    )
    assert len(children) >= 3
    moment_id = children[1].first_event_id

    rows = viewer.get(
        f"/executions/{execution.pk}/tree-rows",
        {"parent": fanout.operation_id, "at": moment_id},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert f'data-op="{children[0].operation_id}"' in rows
    assert f'data-op="{children[1].operation_id}"' in rows
    assert f'data-op="{children[2].operation_id}"' not in rows


@pytest.mark.django_db
def test_the_tables_links_to_more_rows_ask_for_the_same_moment() -> None:
    from browser import optree, tree_html

    execution = mirror("coffee-order-succeeded", recorded_events("coffee-order-succeeded"))
    node = replay.operation_tree(replay.replay(execution, moment(execution, 3))).roots[0]
    ops = f"/executions/{execution.pk}/operations/"
    rows = f"/executions/{execution.pk}/tree-rows"
    table = [
        optree.TreeRow(node, 0, collapsed=True),
        optree.MoreRow(parent_id="", depth=0, offset=200, remaining=5),
    ]

    html = tree_html.render_rows(execution, table, set(), set(), at=3)
    now = tree_html.render_rows(execution, table, set(), set())

    quoted = node.id
    assert f'href="{ops}?at=3&amp;expand={quoted}"' in html
    assert f'hx-get="{rows}?at=3&amp;parent={quoted}"' in html
    assert f'href="{ops}?at=3" hx-get="{rows}?at=3&amp;parent=&amp;offset=200"' in html
    # An operation's own link opens its panel as it is now.
    assert f'href="{ops}{quoted}"' in html and f"{ops}{quoted}?at" not in html
    # Without a moment, no link carries one.
    assert "?at=" not in now and "&amp;at=" not in now
    assert f'href="{ops}?expand={quoted}"' in now


@pytest.mark.django_db
def test_replay_and_comparison_need_a_signed_in_user(client) -> None:
    execution = mirror("coffee-order-succeeded", recorded_events("coffee-order-succeeded"))
    for url in (
        f"/executions/{execution.pk}/graph/?at=2",
        f"/executions/compare?a={execution.pk}&b={execution.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_an_operation_running_at_the_moment_shows_its_duration_up_to_then(viewer) -> None:
    events = recorded_events("coffee-order-succeeded")
    execution = mirror("coffee-order-succeeded", events)
    started = next(e for e in events if e["EventType"] == "CallbackStarted")
    later = next(
        e
        for e in events
        if e["EventId"] > started["EventId"] and e["Id"] != started["Id"] and e.get("Id")
    )
    replayed = fast(execution, later["EventId"])
    assert replayed.nodes[started["Id"]].running

    page = viewer.get(
        f"/executions/{execution.pk}/operations/",
        {"at": later["EventId"]},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    # The tab at the moment (the answer also brings the header, which is now, out of band).
    tab = page[page.index('<div id="tab-area"') : page.index('id="execution-header"')]
    assert f'data-op="{started["Id"]}"' in tab
    # Not a live duration (console.js counts those on with the clock).
    assert "data-since" not in tab
