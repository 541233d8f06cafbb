"""In chromium: a failed execution says why up front. Its header shows the error and
links the operation that failed first; its graph marks the way to the failure and puts
the error on the End node; the operations tab opens the first failure."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from executions import sync
from sandbox.client import start, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot


def test_a_failed_run_shows_its_error_and_the_way_to_it(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    name = f"broken-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "order-processor", {}, name)
    wait_for_status(lambda_sandbox, arn)
    execution = sync.sync_arn(sandbox_source, arn)
    assert execution.status == "FAILED"
    error_type = execution.error["ErrorType"]
    make_user("fay")
    log_in(page, live_server.url, "fay")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/executions/{execution.pk}/")

    failure = page.get_by_test_id("failure")
    expect(failure.get_by_test_id("failure-type")).to_have_text(error_type)
    expect(failure.get_by_test_id("failure-message")).to_contain_text("orderId is required")
    expect(failure.get_by_test_id("failure-operation")).to_have_text("validate-order")
    # The graph: the failed step on the way to the failure, the error on the End node.
    graph = page.locator("#execution-graph")
    expect(graph.locator("g.node.failed-path", has_text="validate-order")).to_have_count(1)
    expect(graph.locator("g#end")).to_contain_text(error_type.rsplit(".", 1)[-1])
    expect(graph.locator("g#end")).to_have_class("node end terminal state-failed failed-path")
    screenshot(page, "failed-run-header-and-graph.png")

    # The failed operation opens from the header, and from the operations tab.
    failure.get_by_test_id("failure-operation").click()
    panel = page.locator("#operation-panel")
    expect(panel.get_by_test_id("operation-status")).to_have_text("Failed")
    expect(panel).to_contain_text("orderId is required")
    panel.get_by_role("button", name="Close").click()
    page.locator('[data-tab-link="operations"]').click()
    page.get_by_test_id("first-failure").click()
    expect(panel.get_by_test_id("operation-status")).to_have_text("Failed")
    screenshot(page, "failed-run-first-failure.png")
