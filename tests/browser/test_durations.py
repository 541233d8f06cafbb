"""One rule for how a duration reads (domain/durations.py): the tables, the graph and the
times that tick in the browser (static/console.js) must say the same thing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from browser.templatetags.console_tags import elapsed
from domain.durations import format_duration
from visualizer.graph import build_graph

# Edges of every unit, and the values where rounding and cutting disagree.
SECONDS = [
    0,
    0.0004,
    0.35,
    0.57,
    0.9996,
    1,
    4.25,
    9.96,
    10,
    42.7,
    59.99,
    60,
    61.5,
    303,
    3599.6,
    3600,
    3660,
    7200,
    7500,
    86399.9,
    86400,
    90061,
    3 * 86400 + 4 * 3600 + 59,
]
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_3599_6_seconds_reads_59_min_59_s_in_the_table_and_in_the_graph():
    end = START + timedelta(seconds=3599.6)
    step = {"id": "a", "type": "STEP", "subtype": "Step", "name": "slow", "status": "SUCCEEDED",
            "started_at": START, "ended_at": end, "children": []}  # fmt: skip

    graph = build_graph([step], execution_status="SUCCEEDED")

    assert elapsed(START, end) == "59 min 59 s"
    assert "59 min 59 s" in graph.nodes["op-a"].tooltip
    assert "1 h" not in graph.nodes["op-a"].tooltip


def test_the_table_and_the_graph_read_every_duration_as_the_rule_does():
    for seconds in SECONDS:
        end = START + timedelta(seconds=seconds)
        step = {"id": "a", "type": "STEP", "subtype": "Step", "name": "s", "status": "SUCCEEDED",
                "started_at": START, "ended_at": end, "children": []}  # fmt: skip
        wait = {"id": "w", "type": "WAIT", "subtype": "Wait", "name": "w", "status": "SUCCEEDED",
                "wait_seconds": seconds, "children": []}  # fmt: skip
        graph = build_graph([step, wait], execution_status="SUCCEEDED")
        expected = format_duration(timedelta(seconds=seconds).total_seconds())

        assert elapsed(START, end) == expected, seconds
        assert f"· {expected}" in graph.nodes["op-a"].tooltip, seconds
        assert graph.nodes["op-w"].label[1] == f"wait {format_duration(seconds)}", seconds


# What the browser can tick: its clock (Date.now) and the times it reads (Date.parse) count
# whole milliseconds, so SECONDS at that resolution, and the last millisecond before each
# unit's edge.
TICKED_MS = sorted(
    {math.floor(s * 1000 + 1e-6) for s in SECONDS}
    | {999, 1_999, 9_999, 59_999, 3_599_999, 86_399_999}
)


def test_the_browser_ticks_durations_in_the_same_words(live_server, page: Page):
    # The browser's clock held still: a running duration, as the pages mark it up
    # (console_tags.elapsed writes data-since in UTC), ticks to what the server's rule says.
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    page.clock.set_fixed_time(now)
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        """starts => starts.forEach(start => {
            const span = document.createElement("span");
            span.setAttribute("data-since", start);
            span.setAttribute("data-testid", "ticking");
            document.body.append(span);
        })""",
        [(now - timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z") for ms in TICKED_MS],
    )

    expect(page.get_by_test_id("ticking")).to_have_text(
        [format_duration(ms / 1000) for ms in TICKED_MS]
    )
