"""The graph's SVG cache: an execution unchanged is laid out once, and a release that
draws graphs differently (the visualizer's source changed) draws it again."""

from __future__ import annotations

import uuid

import pytest

from browser import graphs
from executions.models import Execution
from tests import factories


@pytest.fixture
def execution(db) -> Execution:
    source = factories.offline_source("cache")
    return factories.running_execution(source, f"cache-{uuid.uuid4().hex[:6]}")


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
