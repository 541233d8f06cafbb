"""In chromium: what an operator meets in the first hour. The landing page tells the
truth about the sources; a detail page left open while its execution finishes ends with
header, buttons, graph and tabs all final; waiting is told apart from running; a new
execution announces itself on the list; the list reads on a phone and in dark mode.

The test plays the external system: it answers callbacks through boto3 and runs the sync
in this process (the live server shares the test database); the open pages follow by
their htmx polling, without a reload.
"""

from __future__ import annotations

import re
import time
import uuid
from itertools import pairwise

from django.utils import timezone
from playwright.sync_api import Locator, Page, Request, expect

from executions import sync
from executions.models import Execution, Source
from sandbox.client import start, wait_for_callback, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def _dark(page: Page) -> None:
    page.evaluate("localStorage.setItem('durable-console-theme', 'dark')")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed `rgb(...)` colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _polling_period(header: Locator) -> float:
    """The seconds between polls that the header declares (htmx's `every 3s`)."""
    trigger = header.get_attribute("hx-trigger") or ""
    every = re.search(r"\bevery (\d+(?:\.\d+)?)(ms|s)\b", trigger)
    assert every, f"the header does not poll: hx-trigger={trigger!r}"
    return float(every.group(1)) / (1000 if every.group(2) == "ms" else 1)


def _laid_out_again(page: Page) -> None:
    """Wait until every graph has been laid out for the canvas's new size (graph.js does it
    a moment after a resize settles), and the next frame has drawn it."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-graph]')].every((canvas) => {
             const graph = canvas._graph;
             if (!graph || !graph.panZoom) return true;
             const svg = graph.svg, sizes = graph.panZoom.getSizes();
             // svg-pan-zoom measures the SVG this way (getBoundingClientRectNormalized).
             const width = svg.clientWidth || svg.getBoundingClientRect().width;
             const height = svg.clientHeight || svg.getBoundingClientRect().height;
             return Math.abs(sizes.width - width) < 1 && Math.abs(sizes.height - height) < 1;
           })"""
    )
    page.evaluate("() => new Promise((drawn) => requestAnimationFrame(() => drawn()))")


def _in_viewport(page: Page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


def test_the_overview_shows_each_source_its_counts_and_what_needs_a_person(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    waiting_arn = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"coffee-{tag}")
    failed_arn = start(lambda_sandbox, "order-processor", {}, f"broken-{tag}")
    wait_for_callback(lambda_sandbox, waiting_arn, "baristaAccepts")
    wait_for_status(lambda_sandbox, failed_arn)
    # Mirrored one by one (the sandbox holds other tests' runs of these functions too),
    # and the source marked listed just now, as a poll of it would.
    sync.sync_arn(sandbox_source, waiting_arn)
    sync.sync_arn(sandbox_source, failed_arn)
    Source.objects.filter(pk=sandbox_source.pk).update(last_synced_at=timezone.now())
    make_user("olga")
    log_in(page, live_server.url, "olga")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/")

    # Not "No sources yet": the source, its state and its counts from the mirror.
    expect(page.get_by_text("No sources yet")).to_have_count(0)
    source = page.get_by_test_id(f"source-{sandbox_source.name}")
    expect(source.get_by_test_id("source-state")).to_have_text("Healthy")
    expect(source.get_by_test_id("source-counts")).to_contain_text("1 running")
    expect(source.get_by_test_id("source-counts")).to_contain_text("1 failed")
    # What needs a person: the callback waiting, the failure, what runs longest.
    expect(page.get_by_test_id("overview-callbacks")).to_contain_text(f"coffee-{tag}")
    expect(page.get_by_test_id("overview-callbacks")).to_contain_text("baristaAccepts")
    expect(page.get_by_test_id("overview-failures")).to_contain_text(f"broken-{tag}")
    running = page.get_by_test_id("overview-running")
    expect(running).to_contain_text(f"coffee-{tag}")
    expect(running).to_contain_text("Waiting")
    expect(running).to_contain_text("for a callback")
    screenshot(page, "overview.png")
    page.get_by_test_id("overview-callbacks").get_by_role("link", name="baristaAccepts").click()
    expect(page.get_by_test_id("callback-id")).to_be_visible()

    # A source that fails says so, with the error, on the same page.
    sandbox_source.last_error = "GetDurableExecutionHistory: AccessDeniedException: no"
    sandbox_source.save()
    page.goto(f"{live_server.url}/")
    expect(source.get_by_test_id("source-state")).to_have_text("Failing")
    expect(source.get_by_test_id("source-detail")).to_contain_text("AccessDeniedException")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "overview-phone.png")
    _dark(page)
    screenshot(page, "overview-phone-dark.png")


def test_a_detail_page_left_open_while_its_execution_finishes_ends_all_final(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    name = f"finish-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    accepts = wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    make_user("opal", "operator")
    log_in(page, live_server.url, "opal")
    page.set_viewport_size(DESKTOP)
    # Every poll of the header, from the first: they give the page's own pace, and show
    # that this listener sees the polls it is asked about at the end.
    polls: list[Request] = []
    header_url = f"{live_server.url}/executions/{execution.pk}/header"
    page.on("request", lambda r: polls.append(r) if r.url.split("?")[0] == header_url else None)
    page.goto(f"{live_server.url}/executions/{execution.pk}/")

    # Waiting, and for what; the badge opens the callback where it is answered.
    header = page.locator("#execution-header")
    period = _polling_period(header)
    expect(page.get_by_test_id("header-status")).to_have_text("Waiting")
    expect(page.get_by_test_id("header-waiting")).to_have_text("waiting for a callback")
    expect(page.get_by_test_id("execution-actions")).to_be_visible()
    expect(page.get_by_test_id("pause")).to_have_count(0)  # the sandbox has no pause
    # One word for the waiting callback: the graph's state and the operations tab's badge.
    waiting_node = page.locator("#execution-graph g.node.state-waiting", has_text="baristaAccepts")
    expect(waiting_node).to_have_count(1)
    page.locator('[data-tab-link="operations"]').click()
    callback_row = page.locator("tr.tree-row").filter(
        has=page.locator(".op-type", has_text="Callback")
    )
    expect(callback_row.locator(".badge")).to_have_text("Waiting")
    page.locator('[data-tab-link="graph"]').click()
    expect(page.locator("#tab-area")).to_have_attribute("data-tab", "graph")
    page.get_by_test_id("callbacks-waiting").click()
    panel = page.locator("#operation-panel")
    expect(panel.get_by_test_id("callback-id")).to_have_text(accepts)
    send = panel.get_by_role("button", name="Approve", exact=True)
    send.scroll_into_view_if_needed()
    expect(send).to_be_visible()
    assert _in_viewport(page, send)
    screenshot(page, "detail-callback-from-header.png")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()
    # On a phone the header, with its waiting badge, wraps inside the screen.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _laid_out_again(page)
    screenshot(page, "detail-waiting-phone.png")
    page.set_viewport_size(DESKTOP)
    page.get_by_test_id("callbacks-waiting").click()
    expect(send).to_be_visible()
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()

    # The Stop… form opens over the page: the toolbar's buttons stay where they were.
    export = page.get_by_role("link", name="Export JSON")
    before = export.bounding_box()
    page.get_by_test_id("stop-open").click()
    expect(page.get_by_test_id("stop-confirm")).to_be_visible()
    assert export.bounding_box() == before
    page.get_by_test_id("stop-open").click()

    # The first callback is answered elsewhere; the page follows.
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=accepts, Result=b'{"accepted": true}'
    )
    completed = wait_for_callback(lambda_sandbox, arn, "orderCompleted")
    sync.sync_execution(execution.pk)
    graph = page.locator("#execution-graph")
    expect(graph.locator("g.node", has_text="prepareOrder")).to_have_count(1, timeout=15_000)
    expect(page.get_by_test_id("header-status")).to_have_text("Waiting")

    # The last one too. The listing sees the new status before the history is read: the
    # header says so and keeps polling, with the buttons already gone.
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=completed, Result=b"{}")
    wait_for_status(lambda_sandbox, arn)
    sandbox_source.function_names = ["coffee-order"]
    sandbox_source.discover = False
    sandbox_source.save()
    sync.poll_source(sandbox_source)
    assert not Execution.objects.get(pk=execution.pk).history_complete
    expect(page.get_by_test_id("header-status")).to_have_text("Succeeded", timeout=15_000)
    expect(page.get_by_test_id("header-finishing")).to_be_visible()
    expect(page.get_by_test_id("execution-actions")).to_have_count(0)
    expect(page.get_by_test_id("callbacks-waiting")).to_have_count(0)
    expect(header).to_have_attribute("data-settled", "false")

    # The history is read to its end: everything is final, and the polling stops.
    sync.sync_execution(execution.pk)
    expect(header).to_have_attribute("data-settled", "true", timeout=15_000)
    polled_until_settled = len(polls)
    expect(page.get_by_test_id("header-finishing")).to_have_count(0)
    expect(graph.locator("g#end")).to_have_class("node end terminal state-succeeded")
    expect(graph.locator("g.node.state-waiting")).to_have_count(0)
    expect(graph.locator("g.node.state-running")).to_have_count(0)
    screenshot(page, "detail-finished-graph.png")
    page.locator('[data-tab-link="operations"]').click()
    expect(page.locator("#tree-body")).to_be_visible()
    expect(page.locator("#tree-body .badge", has_text="Waiting")).to_have_count(0)
    expect(page.locator("#tree-body .badge", has_text="Running")).to_have_count(0)
    screenshot(page, "detail-finished-operations.png")
    # On a phone the header wraps and nothing scrolls sideways; dark mode covers it all.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "detail-phone.png")
    _dark(page)
    reloaded = time.monotonic()
    card = page.evaluate(
        "getComputedStyle(document.querySelector('.execution-card')).backgroundColor"
    )
    assert _contrast(card, "rgb(255, 255, 255)") > 5, card
    screenshot(page, "detail-phone-dark.png")
    page.set_viewport_size(DESKTOP)
    # The settled page (reloaded above, for dark mode) declares no polling, and does none.
    expect(header).not_to_have_attribute("hx-trigger", re.compile(r"\bevery\b"))
    # That nothing happens can only be waited for, and only as long as the evidence needs:
    # a page that still polled would ask within one period of its (re)load, the period as
    # this page kept it (the longest gap between its polls, by the browser's clock) plus a
    # margin. Most of that has passed since the reload; what is left is waited here.
    started = sorted(r.timing["startTime"] for r in polls[:polled_until_settled])
    gaps = [(later - earlier) / 1000 for earlier, later in pairwise(started) if earlier > 0]
    assert gaps, f"the listener saw {polled_until_settled} poll(s) while the page polled"
    quiet = max(period, *gaps) + 0.5
    # Playwright hands the page's requests to the listener only while it is being called
    # (never during a time.sleep, which is how a fixed sleep here once proved nothing).
    page.wait_for_timeout(max(0.0, reloaded + quiet - time.monotonic()) * 1000)
    assert len(polls) == polled_until_settled, [r.url for r in polls[polled_until_settled:]]


def test_the_list_announces_new_executions_without_moving_the_rows(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    first = start(lambda_sandbox, "echo-steps", {"names": ["a"]}, f"first-{tag}")
    wait_for_status(lambda_sandbox, first)
    sync.sync_arn(sandbox_source, first)
    make_user("nina")
    log_in(page, live_server.url, "nina")
    page.goto(f"{live_server.url}/executions/?name={tag}")
    rows = page.locator("#execution-rows tr")
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("new-executions")).to_have_count(0)

    for n in (2, 3):
        arn = start(lambda_sandbox, "echo-steps", {"names": ["a"]}, f"later-{n}-{tag}")
        wait_for_status(lambda_sandbox, arn)
        sync.sync_arn(sandbox_source, arn)
    other = start(
        lambda_sandbox, "echo-steps", {"names": ["a"]}, f"unrelated-{uuid.uuid4().hex[:6]}"
    )
    wait_for_status(lambda_sandbox, other)
    sync.sync_arn(sandbox_source, other)  # does not match the filter: not counted

    news = page.get_by_test_id("new-executions")
    expect(news).to_have_text("2 new executions · show", timeout=15_000)
    expect(rows).to_have_count(1)  # the reader's rows stay put until asked
    screenshot(page, "list-news.png")
    news.click()
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text(f"later-3-{tag}")
    expect(page.get_by_test_id("new-executions")).to_have_count(0)


def test_the_list_on_a_phone_shows_name_status_and_age_first(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    arn = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"phone-{tag}")
    ended_arn = start(lambda_sandbox, "order-processor", {}, f"phone-ended-{tag}")
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    wait_for_status(lambda_sandbox, ended_arn)
    ended = sync.sync_arn(sandbox_source, ended_arn)
    execution = sync.sync_arn(sandbox_source, arn)
    make_user("pia")
    log_in(page, live_server.url, "pia")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/executions/")
    row = page.locator(f"#execution-{execution.pk}")
    status = row.get_by_test_id("row-status")
    expect(status).to_have_text("Waiting")
    # No sideways scrolling; name, status and age on the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for part in (row.get_by_role("link", name=f"phone-{tag}"), status, row.locator(".ended-cell")):
        box = part.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # An ended row's end time wraps inside its card instead of covering the name.
    ended_row = page.locator(f"#execution-{ended.pk}")
    name_box = ended_row.locator(".name-cell").bounding_box()
    end_box = ended_row.locator(".ended-cell").bounding_box()
    assert end_box["x"] + end_box["width"] <= PHONE["width"]
    assert end_box["y"] >= name_box["y"] + name_box["height"] - 1 or end_box["x"] >= (
        name_box["x"] + name_box["width"]
    )
    # The filters fold away behind one button on a phone, and open on demand.
    expect(page.get_by_label("Name contains")).to_be_hidden()
    screenshot(page, "list-phone.png")
    page.get_by_test_id("filters-toggle").click()
    expect(page.get_by_label("Name contains")).to_be_visible()
    screenshot(page, "list-phone-filters.png")
    _dark(page)
    body_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert body_bg not in ("rgb(255, 255, 255)", "rgb(248, 249, 250)"), body_bg
    screenshot(page, "list-phone-dark.png")
    # Each status's dot stands out from the filter card it sits on (Deleting's did not).
    dots = page.evaluate(
        """[...document.querySelectorAll('.status-chip .status-dot')].map(
             d => getComputedStyle(d).backgroundColor)"""
    )
    card = page.evaluate("getComputedStyle(document.querySelector('.filter-form')).backgroundColor")
    assert len(dots) == 8 and all(_contrast(dot, card) >= 2.5 for dot in dots), (dots, card)
    page.set_viewport_size(DESKTOP)
    screenshot(page, "list-desktop-dark.png")


def test_an_action_the_backend_refuses_as_unknown_is_not_offered_again(
    sandbox_source, lambda_sandbox
):
    from actions import services

    arn = start(lambda_sandbox, "coffee-order", {}, f"pause-{uuid.uuid4().hex[:6]}")
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    user = make_user("paul", "operator")
    result = services.pause(user, execution)
    assert not result.ok and "not supported by this backend" in result.message
    sandbox_source.refresh_from_db()
    assert sandbox_source.capabilities == {"PauseDurableExecution": False}


def test_the_backend_is_asked_once_which_actions_it_has(sandbox_source):
    assert sandbox_source.capabilities == {}
    learned = sync.learn_capabilities(sandbox_source)
    # AWS's local runner has no pause, resume or delete: the pages will not offer them.
    assert learned == {
        "PauseDurableExecution": False,
        "ResumeDurableExecution": False,
        "DeleteDurableExecution": False,
    }
    sandbox_source.refresh_from_db()
    assert sandbox_source.capabilities == learned
    assert not sandbox_source.supports("PauseDurableExecution")
