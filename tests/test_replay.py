"""Replay (browser/replay.py): the tree at any moment, folded from the stored HistoryEvent
rows by the sync's own fold. Every recorded history of tests/fixtures is stored the way
the sync stores it (executions.history.store_events), then replayed from the database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import RequestFactory
from django.utils import timezone

from browser import params, replay
from executions import history, tree
from executions.models import Execution, Function
from executions.nodes import COLUMNS, load_nodes, row_values
from tests.notify_servers import recorded_source

HISTORIES = Path(__file__).parent / "fixtures" / "histories"
SAMPLES = sorted(p.stem for p in HISTORIES.glob("*.json"))


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
    source = recorded_source()
    function, _ = Function.objects.get_or_create(source=source, name=name.split("-")[0])
    execution = Execution.objects.create(
        arn=f"recorded/replay/{name}",
        name=name,
        source=source,
        function=function,
        status="RUNNING",
        started_at=events[0]["EventTimestamp"],
        last_synced_at=timezone.now(),
    )
    history.store_events(execution, events)
    execution.refresh_from_db()
    return execution


def comparable(nodes: dict[str, tree.OperationNode]) -> dict[str, dict[str, Any]]:
    """Every column the mirror stores, as the sync writes it."""
    return {op_id: row_values(node) for op_id, node in nodes.items()}


def at(execution: Execution, event_id: int) -> replay.Replayed:
    request = RequestFactory().get("/", {"at": event_id})
    return replay.replay(execution, replay.moment_from_request(request, execution))


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
def test_every_moment_replayed_from_the_database_is_the_fold_of_the_events_up_to_it(
    name: str,
) -> None:
    events = recorded_events(name)
    execution = mirror(name, events)
    for k in range(1, len(events) + 1):
        expected = comparable(tree.build_tree(events[:k]))
        assert comparable(at(execution, k).nodes) == expected, f"after event {k}"


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
