"""In chromium: hostile names, payloads and errors stay inert text on every page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from executions.models import Operation
from tests.browser.helpers import log_in, make_user, screenshot
from tests.hostile import hostile_execution


def test_no_script_runs_and_no_element_is_injected_anywhere(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    execution = hostile_execution(lambda_sandbox, sandbox_source)
    make_user("hugo", "operator")
    log_in(page, live_server.url, "hugo")
    base = f"{live_server.url}/executions/{execution.pk}"
    urls = [
        f"{live_server.url}/executions/",
        *[f"{base}/{tab}/" for tab in ("graph", "operations", "events", "timeline", "io")],
        *[
            f"{base}/operations/{op.operation_id}"
            for op in Operation.objects.filter(execution=execution)
        ],
        f"{live_server.url}/approvals/",
        f"{live_server.url}/audit/",
    ]
    for url in urls:
        page.goto(url)
        assert page.evaluate("window.__pwned") is None, url
        expect(page.locator("#pwn")).to_have_count(0)
        expect(page.locator('img[src="x"]')).to_have_count(0)
        expect(page.locator("main svg script, main script")).to_have_count(0)

    # Open every operation's panel from the graph, too.
    page.goto(f"{base}/graph/")
    expect(page.get_by_test_id("graph-canvas").locator("svg")).to_contain_text("<img src=x")
    opened = 0
    for link in page.locator("[data-graph] svg g.node a").all()[:10]:
        # The first view shows the failure; a node reached with the keyboard comes into
        # sight (static/graph.js), where it can be clicked. Start links nowhere.
        link.focus()
        if not link.evaluate("a => document.activeElement === a"):
            continue
        link.click()
        opened += 1
        assert page.evaluate("window.__pwned") is None
    assert opened >= 6
    expect(page.locator("#pwn")).to_have_count(0)
    page.goto(f"{base}/io/")
    screenshot(page, "hostile-io.png")
    page.goto(f"{base}/graph/")
    screenshot(page, "hostile-graph.png")
