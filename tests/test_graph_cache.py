"""The graph's SVG cache: an execution unchanged is laid out once, and a release that
draws graphs differently (the visualizer's source changed) draws it again."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from browser import graphs
from executions.models import Credentials, Execution, Function, Source


@pytest.fixture
def execution(db) -> Execution:
    source = Source.objects.create(
        name="cache", endpoint_url="http://127.0.0.1:9", credentials=Credentials.NONE
    )
    function = Function.objects.create(source=source, name="coffee-order")
    name = f"cache-{uuid.uuid4().hex[:6]}"
    return Execution.objects.create(
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:coffee-order/durable-execution/{name}/1",
        name=name,
        source=source,
        function=function,
        status="RUNNING",
        started_at=timezone.now(),
    )


def test_a_graph_is_drawn_once_until_the_visualizer_draws_differently(execution, monkeypatch):
    drawn: list[str] = []
    render = graphs.render_svg
    monkeypatch.setattr(graphs, "render_svg", lambda dot: drawn.append(dot) or render(dot))
    # A drawing of its own, so that nothing another run left in the cache answers.
    monkeypatch.setattr(graphs, "DRAWING", uuid.uuid4().hex)

    first = graphs.graph_svg(execution)
    assert graphs.graph_svg(execution) == first
    assert len(drawn) == 1

    monkeypatch.setattr(graphs, "DRAWING", uuid.uuid4().hex)
    assert graphs.graph_svg(execution) == first
    assert len(drawn) == 2
