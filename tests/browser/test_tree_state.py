"""The operations tree's open and closed groups live in the URL (browser/treestate.py), and
clicks in the graph are routed by the kind of node clicked (static/graph.js).

The execution is a bulk ledger of 30 entries waiting for its sign-off: a map that starts
collapsed (more than optree.COLLAPSE_CHILDREN iterations), each iteration a group of one
step, and the sign-off's wait-for-callback group; answering the callback changes the
execution underneath an open page.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect

from browser import optree, treestate
from executions import sync
from executions.models import Execution, Operation
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories
from tests.browser.helpers import log_in, make_user, screenshot

ENTRIES = 30


@pytest.fixture(autouse=True)
def _fresh_render_cache() -> None:
    # Test databases reuse primary keys, so cached fragments of an earlier test must go.
    cache.delete_pattern("browser:*")


@pytest.fixture
def ledger(sandbox_source: Any, lambda_sandbox: Any) -> Execution:
    name = f"tree-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "bulk-ledger", {"entries": ENTRIES}, name)
    wait_for_callback(lambda_sandbox, arn, "auditorSignOff", timeout=60)
    return sync.sync_arn(sandbox_source, arn)


def _op(execution: Execution, name: str) -> str:
    return Operation.objects.get(execution=execution, name=name).operation_id


def _row(page: Page, op_id: str) -> Any:
    return page.locator(f'#tree-body tr[data-op="{op_id}"]')


def _link(page: Page, name: str) -> Any:
    return page.locator("#tree-body").get_by_role("link", name=name, exact=True)


def _visible_rows(page: Page) -> list[str]:
    return page.locator("#tree-body tr:not([hidden])").evaluate_all(
        "rows => rows.map(r => r.dataset.op || 'more:' + r.textContent.trim())"
    )


def test_an_opened_map_stays_open_after_a_reload_and_the_url_says_so(
    live_server, page: Page, ledger: Execution
):
    make_user("tess")
    log_in(page, live_server.url, "tess")
    mapped, item_0 = _op(ledger, "postEntries"), _op(ledger, "map-item-0")
    ops_url = f"{live_server.url}/executions/{ledger.pk}/operations/"
    page.goto(ops_url)
    expect(_row(page, mapped).get_by_test_id("collapsed-summary")).to_contain_text(
        f"{ENTRIES} succeeded"
    )
    expect(_link(page, "post-30")).to_have_count(0)

    # Opening the map fetches its rows; the URL names it open.
    _row(page, mapped).locator("[data-tree-expand]").click()
    expect(_link(page, "post-30")).to_be_visible()
    expect(page).to_have_url(f"{ops_url}?expand={mapped}")
    page.reload()
    expect(_link(page, "post-30")).to_be_visible()
    expect(_row(page, mapped).locator("[data-tree-toggle]")).to_have_attribute(
        "aria-expanded", "true"
    )

    # Closing one iteration hides its step, here and after a reload.
    _row(page, item_0).locator("[data-tree-toggle]").click()
    expect(_link(page, "post-1")).to_be_hidden()
    expect(page).to_have_url(f"{ops_url}?expand={mapped}&collapse={item_0}")
    page.reload()
    expect(_link(page, "post-1")).to_be_hidden()
    expect(_link(page, "post-2")).to_be_visible()
    toggle = _row(page, item_0).locator("[data-tree-toggle]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-label", "Expand map-item-0")
    screenshot(page, "tree-state-reloaded.png")

    # Another tab and back: the tree comes back from its URL.
    page.locator('[data-tab-link="graph"]').click()
    expect(page.locator("#tab-area")).to_have_attribute("data-tab", "graph")
    page.go_back()
    expect(page).to_have_url(f"{ops_url}?expand={mapped}&collapse={item_0}")
    expect(_link(page, "post-2")).to_be_visible()
    expect(_link(page, "post-1")).to_be_hidden()

    # Opening it again takes it out of the URL.
    toggle.click()
    expect(_link(page, "post-1")).to_be_visible()
    expect(page).to_have_url(f"{ops_url}?expand={mapped}")

    # Collapse all, reload: only the top level; opening the map shows its iterations closed.
    page.get_by_role("button", name="Collapse all").click()
    expect(page).to_have_url(f"{ops_url}?collapse=all")
    page.reload()
    expect(_link(page, "map-item-0")).to_have_count(0)  # the map is collapsed again
    expect(_link(page, "auditorSignOff")).to_be_visible()
    expect(
        _row(page, _op(ledger, "auditorSignOff")).locator("[data-tree-toggle]")
    ).to_have_attribute("aria-expanded", "false")
    _row(page, mapped).locator("[data-tree-expand]").click()
    expect(_link(page, "map-item-0")).to_be_visible()
    expect(_link(page, "post-1")).to_be_hidden()
    expect(page).to_have_url(f"{ops_url}?collapse=all&expand={mapped}")
    before = _visible_rows(page)
    page.reload()
    assert _visible_rows(page) == before
    screenshot(page, "tree-state-collapse-all.png")

    # Expand all opens every rendered group and clears the closed ones from the URL.
    page.get_by_role("button", name="Expand all").click()
    expect(_link(page, "post-1")).to_be_visible()
    expect(page).to_have_url(f"{ops_url}?expand={mapped}")

    # The failed-only switch still works (nothing failed here) and switches back.
    page.get_by_test_id("failed-only").click()
    expect(page).to_have_url(f"{ops_url}?failed=1")
    expect(page.locator("#tab-pane")).to_contain_text("No operation of this execution failed")
    page.get_by_test_id("failed-only").click()
    expect(page).to_have_url(ops_url)
    expect(_row(page, mapped).get_by_test_id("collapsed-summary")).to_be_visible()


def test_a_shared_link_shows_the_same_tree(
    live_server, page: Page, browser: Browser, ledger: Execution
):
    make_user("tess")
    make_user("uma")
    log_in(page, live_server.url, "tess")
    mapped = _op(ledger, "postEntries")
    closed = [_op(ledger, "map-item-3"), _op(ledger, "auditorSignOff")]
    page.goto(f"{live_server.url}/executions/{ledger.pk}/operations/")
    _row(page, mapped).locator("[data-tree-expand]").click()
    expect(_link(page, "post-30")).to_be_visible()
    for op_id in closed:
        _row(page, op_id).locator("[data-tree-toggle]").click()
    expect(_link(page, "post-4")).to_be_hidden()
    shared = page.url
    assert shared.count("collapse=") == 2 and f"expand={mapped}" in shared

    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        their = other.new_page()
        log_in(their, live_server.url, "uma")
        their.goto(shared)
        expect(_link(their, "post-30")).to_be_visible()
        expect(_link(their, "post-4")).to_be_hidden()
        assert _visible_rows(their) == _visible_rows(page)
        screenshot(their, "tree-state-shared-link.png")
    finally:
        other.close()


def test_a_closed_group_stays_closed_when_the_execution_changes_underneath(
    live_server, page: Page, ledger: Execution, lambda_sandbox: Any
):
    make_user("tess")
    log_in(page, live_server.url, "tess")
    mapped, item_1 = _op(ledger, "postEntries"), _op(ledger, "map-item-1")
    sign_off = _op(ledger, "auditorSignOff")
    page.goto(f"{live_server.url}/executions/{ledger.pk}/operations/")
    _row(page, mapped).locator("[data-tree-expand]").click()
    expect(_link(page, "post-30")).to_be_visible()
    _row(page, item_1).locator("[data-tree-toggle]").click()
    _row(page, sign_off).locator("[data-tree-toggle]").click()
    expect(_link(page, "post-2")).to_be_hidden()
    page.evaluate("window.__sameDocument = true")

    # The auditor signs off; the sync lands; the header's poll makes the tab reload itself.
    callback_id = wait_for_callback(lambda_sandbox, ledger.arn, "auditorSignOff")
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'{"approved": true}'
    )
    wait_for_status(lambda_sandbox, ledger.arn, timeout=120)
    sync.sync_execution(ledger.pk)
    expect(page.get_by_test_id("header-status")).to_have_text("Succeeded", timeout=15_000)
    expect(_link(page, "closePeriod")).to_be_visible(timeout=15_000)

    # The new rows came in the tree the person left: the map open, their two groups closed.
    assert page.evaluate("window.__sameDocument") is True
    expect(_link(page, "post-30")).to_be_visible()
    expect(_link(page, "post-2")).to_be_hidden()
    expect(_row(page, item_1).locator("[data-tree-toggle]")).to_have_attribute(
        "aria-expanded", "false"
    )
    expect(_row(page, sign_off).locator("[data-tree-toggle]")).to_have_attribute(
        "aria-expanded", "false"
    )
    children = Operation.objects.filter(execution=ledger, parent_operation_id=sign_off)
    assert children.exists()
    for child in children:
        expect(_row(page, child.operation_id)).to_be_hidden()
    screenshot(page, "tree-state-after-change.png")


def test_more_rows_come_in_chunks_open_or_closed_as_the_url_says(
    live_server, page: Page, ledger: Execution, monkeypatch
):
    monkeypatch.setattr(optree, "CHILD_CHUNK", 10)  # the live server runs in this process
    make_user("tess")
    log_in(page, live_server.url, "tess")
    mapped = _op(ledger, "postEntries")
    page.goto(f"{live_server.url}/executions/{ledger.pk}/operations/?expand={mapped}&collapse=all")
    expect(page.locator("#tree-body tr.tree-more")).to_contain_text("20 not shown")
    expect(_link(page, "map-item-9")).to_be_visible()
    expect(_link(page, "post-10")).to_be_hidden()
    page.get_by_role("link", name="Show more (20 not shown)").click()
    expect(_link(page, "map-item-19")).to_be_visible()
    # The next chunk's iterations are closed too, as they would be after a reload.
    expect(_link(page, "post-20")).to_be_hidden()
    expect(_row(page, _op(ledger, "map-item-19")).locator("[data-tree-toggle]")).to_have_attribute(
        "aria-expanded", "false"
    )
    screenshot(page, "tree-state-show-more.png")


def test_graph_clicks_go_by_the_kind_of_node_clicked(live_server, page: Page, ledger: Execution):
    make_user("tess")
    log_in(page, live_server.url, "tess")
    mapped = _op(ledger, "postEntries")
    graph_url = f"{live_server.url}/executions/{ledger.pk}/graph/"
    page.goto(graph_url)
    svg = page.locator("[data-graph] svg")
    summary = svg.locator(f"[id='more-{mapped}']")
    expect(summary).to_have_attribute("class", re.compile(r"^node summary "))

    # A summary node draws the graph again with its map expanded, at a URL of its own.
    summary.locator("a").first.click()
    expect(page).to_have_url(f"{graph_url}?expand={mapped}")
    expect(svg.locator("[id^='more-']")).to_have_count(0)
    expect(svg.locator(f"[id='op-{_op(ledger, 'post-30')}']")).to_have_count(1)
    screenshot(page, "graph-routed-summary.png")

    # An operation node opens its panel beside the graph, and is marked selected.
    step = _op(ledger, "post-7")
    node = svg.locator(f"[id='op-{step}']")
    # The first view is readable, so 40 iterations do not all fit on screen: the click is
    # dispatched to the node wherever the view has put it.
    node.locator("a").first.dispatch_event("click")
    panel = page.get_by_test_id("graph-panel").get_by_test_id("operation-panel")
    expect(panel).to_have_attribute("data-op", step)
    expect(panel).to_contain_text("post-7")
    expect(node).to_have_class(re.compile(r"\bselected\b"))
    expect(page).to_have_url(f"{graph_url}?expand={mapped}")  # no navigation

    # A context (the map's cluster) opens its own panel.
    # (Its label, a node of its own beside the map's fork point, visualizer/dot.py.)
    svg.locator(f"[id='label-cluster-op-{mapped}'] a").first.dispatch_event("click")
    expect(panel).to_have_attribute("data-op", mapped)
    screenshot(page, "graph-routed-operation.png")

    # Back: the graph as it was before the summary was clicked.
    page.go_back()
    expect(page).to_have_url(graph_url)
    expect(svg.locator(f"[id='more-{mapped}']")).to_have_count(1)


# ---- the query string, strictly --------------------------------------------------------


@pytest.mark.parametrize(
    "query, reason",
    [
        ("collapse=<script>", "“collapse” must name operations by id"),
        ("expand=a%20b", "“expand” must name operations by id"),
        ("expand=" + "&expand=".join(f"op{i}" for i in range(treestate.LIMIT + 1)), "at most 50"),
    ],
)
def test_a_malformed_tree_state_is_refused_with_a_reason(
    client, ledger: Execution, query: str, reason: str
):
    factories.signed_in(client, "vera")

    response = client.get(f"/executions/{ledger.pk}/operations/?{query}")
    rows = client.get(f"/executions/{ledger.pk}/tree-rows?parent=x&{query}", HTTP_HX_REQUEST="true")
    bad_parent = client.get(
        f"/executions/{ledger.pk}/tree-rows?parent=%3Cb%3E", HTTP_HX_REQUEST="true"
    )

    assert response.status_code == rows.status_code == bad_parent.status_code == 400
    assert reason in response.content.decode()
    assert "“parent” must be an operation id" in bad_parent.content.decode()
