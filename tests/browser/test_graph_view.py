"""In chromium: the graph tab is readable at first sight, in light and in dark.

The first view's text is measured on screen (a label's font size times the SVG's
transform to the screen): between 11 and 18 px for a big graph, a big expanded map and a
two-node graph alike. The canvas takes the whole width until an operation is clicked; the
panel then opens beside it and closes again. In dark mode the canvas, its neutral nodes,
the context labels and the legend follow the theme. The callback form stays reachable
under the sandbox's 200-character callback ids."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories
from tests.browser.helpers import log_in, make_user, screenshot
from visualizer.style import STATES, THEMES

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
READABLE = (11, 18)

# Executions started once per session (the sandbox lives that long); each test mirrors them.
_started: dict[str, str] = {}


def _example_finished(client: Any) -> str:
    if "finished" not in _started:
        arn = start(client, "durable-function-example", {"workflowId": "view"}, _name("view"))
        callback = wait_for_callback(client, arn)
        client.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
        wait_for_status(client, arn, timeout=90)
        _started["finished"] = arn
    return _started["finished"]


def _example_waiting(client: Any) -> str:
    if "waiting" not in _started:
        arn = start(client, "durable-function-example", {"workflowId": "wait"}, _name("wait"))
        wait_for_callback(client, arn)
        _started["waiting"] = arn
    return _started["waiting"]


def _big_map(client: Any) -> str:
    if "map" not in _started:
        arn = start(client, "bulk-ledger", {"entries": 300}, _name("map"))
        wait_for_callback(client, arn, "auditorSignOff", timeout=180)
        _started["map"] = arn
    return _started["map"]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _open_graph(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("[data-graph][data-graph-ready]")).to_have_count(1)


def _set_theme(page: Page, theme: str) -> None:
    page.evaluate("t => localStorage.setItem('durable-console-theme', t)", theme)


def _view(page: Page) -> dict[str, Any]:
    """What the first view looks like: label text sizes on screen, the boxes of the
    canvas, the layout, the side panel and the Start node."""
    # svg-pan-zoom draws on the next animation frame: measure after it.
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.evaluate(
        """() => {
        const canvas = document.querySelector('[data-graph]');
        const svg = canvas.querySelector('svg');
        const box = (el) => { const r = el.getBoundingClientRect();
          return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                  width: r.width, height: r.height}; };
        const sizes = [...svg.querySelectorAll('g.node text')].map((t) => {
          const m = t.getScreenCTM();
          return parseFloat(t.getAttribute('font-size')) * Math.hypot(m.a, m.b);
        });
        const side = document.querySelector('[data-graph-side]');
        return {
          text: sizes, canvas: box(canvas),
          layout: box(document.querySelector('[data-graph-layout]')),
          side: side.hidden ? null : box(side),
          start: box(svg.querySelector('#start')),
          textHeight: svg.querySelector('#start text').getBoundingClientRect().height,
        };
      }"""
    )


def _assert_readable(view: dict[str, Any]) -> None:
    low, high = READABLE
    assert view["text"], "no node labels drawn"
    assert low <= min(view["text"]) and max(view["text"]) <= high, view["text"]
    # The same measure another way: the Start label's box is about its font size high.
    assert low <= view["textHeight"] <= high * 1.35, view["textHeight"]


def _box(locator) -> dict[str, float]:
    box = locator.bounding_box()
    return {
        "left": box["x"],
        "top": box["y"],
        "right": box["x"] + box["width"],
        "bottom": box["y"] + box["height"],
    }


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - 1
        and inner["right"] <= outer["right"] + 1
        and inner["top"] >= outer["top"] - 1
        and inner["bottom"] <= outer["bottom"] + 1
    )


def _luminance(css_colour: str) -> float:
    """Relative luminance of a computed 'rgb(r, g, b)' colour."""
    channels = [float(c) / 255 for c in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(value[i : i + 2], 16) for i in (0, 2, 4)))


# ---- the first view --------------------------------------------------------------------


def test_the_examples_graph_opens_readable_on_the_whole_width_and_its_panel_opens_beside_it(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    execution = factories.mirrored(sandbox_source, _example_finished(lambda_sandbox))
    make_user("vera")
    log_in(page, live_server.url, "vera")
    page.set_viewport_size(DESKTOP)
    url = f"{live_server.url}/executions/{execution.pk}/graph/"
    _open_graph(page, url)
    view = _view(page)
    _assert_readable(view)
    # No operation selected: no panel, and the canvas has the tab's whole width.
    assert view["side"] is None
    assert view["canvas"]["width"] >= view["layout"]["width"] - 2
    assert _inside(view["start"], view["canvas"])  # the flow begins in sight
    screenshot(page, "graph-view-example-1440-light.png")

    # A click opens the operation beside the graph; the close button gives the width back.
    step = execution.operations.get(name="processInputData")
    page.locator(f"[data-graph] svg [id='op-{step.operation_id}'] a").first.click()
    expect(page.get_by_test_id("graph-panel").get_by_test_id("operation-panel")).to_be_visible()
    opened = _view(page)
    assert opened["side"] is not None
    assert opened["side"]["left"] >= opened["canvas"]["right"]  # beside, not below
    assert opened["canvas"]["width"] < view["canvas"]["width"] * 0.8
    expect(page.locator(f"[data-graph] svg [id='op-{step.operation_id}']")).to_have_class(
        re.compile(r"\bselected\b")
    )
    screenshot(page, "graph-view-example-panel-1440-light.png")
    page.get_by_test_id("graph-panel-close").click()
    expect(page.get_by_test_id("graph-side")).to_be_hidden()
    closed = _view(page)
    assert closed["canvas"]["width"] >= closed["layout"]["width"] - 2
    expect(page.locator("[data-graph] svg .selected")).to_have_count(0)

    # A node out of sight comes into it when reached with the keyboard.
    invoke = execution.operations.get(type="CHAINED_INVOKE")
    node = page.locator(f"[data-graph] svg [id='op-{invoke.operation_id}']")
    assert not _inside(_box(node), view["canvas"])
    node.locator("a").first.focus()
    canvas = _view(page)["canvas"]  # once svg-pan-zoom has drawn
    assert _inside(_box(node), canvas)

    # Zoom stays within limits that keep the text legible: never a blur, never absurd.
    for _ in range(30):
        page.get_by_test_id("graph-zoom-in").click()
    assert max(_view(page)["text"]) <= 33
    for _ in range(60):
        page.get_by_test_id("graph-zoom-out").click()
    assert min(_view(page)["text"]) >= 3.9

    for theme in ("light", "dark"):
        _set_theme(page, theme)
        page.set_viewport_size(PHONE)
        _open_graph(page, url)
        phone = _view(page)
        _assert_readable(phone)
        assert phone["canvas"]["width"] >= phone["layout"]["width"] - 2
        screenshot(page, f"graph-view-example-390-{theme}.png")
    page.set_viewport_size(DESKTOP)
    _open_graph(page, url)
    screenshot(page, "graph-view-example-1440-dark.png")


def test_the_graph_keeps_its_view_and_its_panel_when_the_execution_changes(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    execution = factories.mirrored(sandbox_source, _example_finished(lambda_sandbox))
    make_user("kim")
    log_in(page, live_server.url, "kim")
    page.set_viewport_size(DESKTOP)
    _open_graph(page, f"{live_server.url}/executions/{execution.pk}/graph/")
    step = execution.operations.get(name="processInputData")
    page.locator(f"[data-graph] svg [id='op-{step.operation_id}'] a").first.click()
    expect(page.get_by_test_id("graph-panel").get_by_test_id("operation-panel")).to_be_visible()
    page.get_by_test_id("graph-zoom-in").click()
    page.mouse.move(700, 800)
    page.mouse.wheel(0, 200)
    before = _view(page)
    # What the header's poll does when it sees new events: the tab draws itself again.
    page.evaluate("() => document.querySelector('[data-graph]').setAttribute('data-old', '')")
    page.evaluate("() => htmx.trigger(document.body, 'execution-changed')")
    expect(page.locator("[data-graph][data-graph-ready]:not([data-old])")).to_have_count(1)
    expect(page.get_by_test_id("graph-panel").get_by_test_id("operation-panel")).to_have_attribute(
        "data-op", step.operation_id
    )
    after = _view(page)
    assert after["text"] == pytest.approx(before["text"], abs=0.01)
    assert after["start"] == pytest.approx(before["start"], abs=0.5)
    expect(page.locator(f"[data-graph] svg [id='op-{step.operation_id}']")).to_have_class(
        re.compile(r"\bselected\b")
    )


def test_a_two_node_graph_is_not_blown_up(live_server, page: Page):
    # Start -> End: a mirrored execution without operations yet (the graph reads the mirror).
    execution = factories.running_execution(factories.offline_source("tiny"), _name("tiny"))
    make_user("tom")
    log_in(page, live_server.url, "tom")
    for size, label in ((DESKTOP, "1440"), (PHONE, "390")):
        page.set_viewport_size(size)
        _open_graph(page, f"{live_server.url}/executions/{execution.pk}/graph/")
        expect(page.locator("[data-graph] svg g.node")).to_have_count(2)
        view = _view(page)
        _assert_readable(view)
        assert _inside(view["start"], view["canvas"])
        screenshot(page, f"graph-view-two-nodes-{label}-light.png")
    # "Fit" keeps it at a readable size too.
    page.get_by_test_id("graph-fit").click()
    _assert_readable(_view(page))


def test_a_big_expanded_map_opens_readable_at_what_waits_instead_of_a_strip(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    execution = factories.mirrored(sandbox_source, _big_map(lambda_sandbox))
    map_id = execution.operations.get(subtype="Map").operation_id
    waiting = execution.operations.get(type="CALLBACK", status="STARTED").operation_id
    make_user("max")
    log_in(page, live_server.url, "max")
    page.set_viewport_size(DESKTOP)
    _open_graph(page, f"{live_server.url}/executions/{execution.pk}/graph/?expand={map_id}")
    expect(page.locator("[data-graph] svg [id^='more-']")).to_have_count(0)
    assert page.locator("[data-graph] svg g.cluster.mapiteration").count() == 300
    view = _view(page)
    _assert_readable(view)
    assert view["canvas"]["height"] >= 384  # the canvas's min-height, 24rem
    # The callback that waits for someone (after the 300 iterations) is in the middle of
    # the canvas, and this map being short, the flow's beginning is in sight too.
    callback = _box(page.locator(f"[data-graph] svg [id='op-{waiting}']"))
    assert _inside(callback, view["canvas"])
    centre = (callback["left"] + callback["right"]) / 2
    assert abs(centre - (view["canvas"]["left"] + view["canvas"]["right"]) / 2) < 4
    assert _inside(view["start"], view["canvas"])
    screenshot(page, "graph-view-big-map-1440-light.png")
    # "Fit" shows as much as stays readable: never a strip (tests/browser/test_graph_first.py).
    page.get_by_test_id("graph-fit").click()
    assert min(_view(page)["text"]) >= 10.95
    screenshot(page, "graph-view-big-map-fit-1440-light.png")
    # Left to right, the same: readable, the flow beginning in sight at the left.
    _open_graph(
        page, f"{live_server.url}/executions/{execution.pk}/graph/?layout=LR&expand={map_id}"
    )
    across = _view(page)
    _assert_readable(across)
    assert _inside(across["start"], across["canvas"])
    assert across["start"]["left"] - across["canvas"]["left"] < across["canvas"]["width"] / 2
    screenshot(page, "graph-view-big-map-lr-1440-light.png")


# ---- dark mode -------------------------------------------------------------------------


def test_in_dark_mode_the_canvas_its_nodes_and_the_legend_follow_the_theme(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    execution = factories.mirrored(sandbox_source, _big_map(lambda_sandbox))
    make_user("dora")
    log_in(page, live_server.url, "dora")
    page.set_viewport_size(DESKTOP)
    _set_theme(page, "dark")
    _open_graph(page, f"{live_server.url}/executions/{execution.pk}/graph/")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    colours = page.evaluate(
        """() => {
        const svg = document.querySelector('[data-graph] svg');
        const style = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
        const shape = (sel) => style(sel + ' :is(path, polygon):not([fill="none"])', 'fill');
        return {
          canvas: style('[data-graph]', 'backgroundColor'),
          succeeded: shape('[data-graph] svg g.node.op.state-succeeded'),
          waiting: shape('[data-graph] svg g.node.state-waiting'),
          notStarted: shape('[data-graph] svg g.node.state-not_started'),
          notStartedText: style('[data-graph] svg g.node.state-not_started text', 'fill'),
          summary: shape('[data-graph] svg g.node.summary'),
          summaryText: style('[data-graph] svg g.node.summary text', 'fill'),
          clusterLabel: style('[data-graph] svg g.node.context-label text', 'fill'),
          legendShape: style('.graph-legend [data-legend=step] svg rect', 'fill'),
          legendNotStarted: style('.graph-legend [data-legend=not_started] svg rect', 'fill'),
          legendSucceeded: style('.graph-legend [data-legend=succeeded] svg rect', 'fill'),
        };
      }"""
    )
    screenshot(page, "graph-view-big-map-1440-dark.png")
    assert _luminance(colours["canvas"]) < 0.05, colours["canvas"]
    # The status colours are the solid ones, not a pastel and not a white slab...
    assert colours["succeeded"] == _rgb(STATES["succeeded"].fill)
    assert colours["waiting"] == _rgb(STATES["waiting"].fill)
    assert colours["legendSucceeded"] == _rgb(STATES["succeeded"].fill)
    assert _luminance(colours["succeeded"]) < 0.3
    # ...and what has no status colour turns dark, with light text on it.
    dark = THEMES["dark"]
    for key in ("notStarted", "summary", "legendShape", "legendNotStarted"):
        assert colours[key] == _rgb(dark.neutral_fill), (key, colours[key])
    for key in ("notStartedText", "summaryText", "clusterLabel"):
        assert _luminance(colours[key]) > 0.6, (key, colours[key])


# ---- the panel and the callback form ---------------------------------------------------


@pytest.mark.parametrize("size, label", [(DESKTOP, "1440"), (PHONE, "390")])
def test_the_callback_form_stays_reachable_under_a_long_callback_id(
    live_server, page: Page, sandbox_source, lambda_sandbox, size, label
):
    execution = factories.mirrored(sandbox_source, _example_waiting(lambda_sandbox))
    callback = execution.operations.get(type="CALLBACK")
    assert len(callback.callback_id) >= 200
    make_user("cleo", "operator")
    log_in(page, live_server.url, "cleo")
    page.set_viewport_size(size)
    for theme in ("light", "dark"):
        _set_theme(page, theme)
        _open_graph(page, f"{live_server.url}/executions/{execution.pk}/graph/")
        page.locator(f"[data-graph] svg [id='op-{callback.operation_id}'] a").first.click()
        panel = page.get_by_test_id("graph-panel")
        expect(panel.get_by_test_id("operation-panel")).to_be_visible()
        # The id is one line cut with an ellipsis, whole in its title and a click away,
        # with a copy button beside it.
        value = panel.get_by_test_id("callback-id")
        expect(value).to_have_text(callback.callback_id)
        cut = value.evaluate("el => [el.scrollWidth, el.clientWidth, el.offsetHeight]")
        assert cut[0] > cut[1] and cut[2] < 30, cut
        summary = panel.locator("summary").filter(has=page.get_by_test_id("callback-id"))
        expect(summary).to_have_attribute("title", callback.callback_id)
        copy = panel.get_by_test_id("copy-callback-id")
        expect(copy).to_be_visible()
        expect(copy).to_have_attribute("data-copy", callback.callback_id)
        expect(copy).to_have_class("btn btn-sm btn-outline-secondary py-0 copy-button")
        # Nothing in the panel is wider than the panel.
        overflow = panel.evaluate("el => el.scrollWidth - el.clientWidth")
        assert overflow <= 0, overflow
        screenshot(page, f"graph-view-callback-panel-{label}-{theme}.png")
        # Approve can be scrolled to, and is then inside the panel and the window.
        send = panel.get_by_test_id("send-success")
        send.scroll_into_view_if_needed()
        expect(send).to_be_visible()
        expect(send).to_be_in_viewport()
        inside = page.evaluate(
            """() => {
            const button = document.querySelector('#graph-panel [data-testid=send-success]')
              .getBoundingClientRect();
            const panel = document.querySelector('#graph-panel').getBoundingClientRect();
            return button.top >= panel.top - 1 && button.bottom <= panel.bottom + 1 &&
                   button.left >= panel.left - 1 && button.right <= panel.right + 1;
          }"""
        )
        assert inside
        screenshot(page, f"graph-view-callback-form-{label}-{theme}.png")
        # Opened, the id shows whole, wrapped inside the panel.
        summary.click()
        expect(value).to_be_visible()
        assert value.evaluate("el => el.offsetHeight") > cut[2]
        assert panel.evaluate("el => el.scrollWidth - el.clientWidth") <= 0

    # The breadcrumb opens the callback's context in the same panel, and selects it.
    panel.locator(".breadcrumb a").last.click()
    expect(panel.get_by_test_id("operation-panel")).not_to_have_attribute(
        "data-op", callback.operation_id
    )
    parent = panel.get_by_test_id("operation-panel").get_attribute("data-op")
    expect(page.locator(f"[data-graph] svg [id='cluster-op-{parent}']")).to_have_class(
        re.compile(r"\bselected\b")
    )
    expect(page.locator("[data-graph] svg .selected")).to_have_count(1)
