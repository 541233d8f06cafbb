"""In chromium: the replay slider takes a running sample back to before its callback,
and the graph shows the callback not yet started; stepping and "Back to now" bring it
back. Screenshots of the past moment at a desktop's and a phone's width, light and dark."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from executions import sync
from executions.models import HistoryEvent
from sandbox.client import start, wait_for_callback
from tests.browser.helpers import log_in, make_user, screenshot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _move_slider(page: Page, value: int) -> None:
    """Drag the slider to `value` as a person would: input events, then change."""
    page.get_by_test_id("replay-slider").evaluate(
        """(slider, value) => {
            slider.value = String(value);
            slider.dispatchEvent(new Event("input", { bubbles: true }));
            slider.dispatchEvent(new Event("change", { bubbles: true }));
        }""",
        value,
    )


def test_the_slider_takes_a_running_execution_back_to_before_its_callback(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    arn = start(
        lambda_sandbox,
        "durable-function-example",
        {"workflowId": "replay"},
        f"replay-{uuid.uuid4().hex[:6]}",
    )
    wait_for_callback(lambda_sandbox, arn, "waitForExternalApproval")
    execution = sync.sync_arn(sandbox_source, arn)
    assert execution.status == "RUNNING"
    started = HistoryEvent.objects.get(execution=execution, event_type="CallbackStarted")
    callback = execution.operations.get(type="CALLBACK")
    node = f"[data-graph] svg [id='op-{callback.operation_id}']"
    make_user("rita")
    log_in(page, live_server.url, "rita")

    page.goto(f"{live_server.url}/executions/{execution.pk}/graph/")
    expect(page.locator(node)).to_have_count(1)
    expect(page.get_by_test_id("replay-notice")).to_have_count(0)
    expect(page.get_by_test_id("replay-label")).to_contain_text("now")

    before = started.event_id - 1
    _move_slider(page, before)

    expect(page).to_have_url(f"{live_server.url}/executions/{execution.pk}/graph/?at={before}")
    notice = page.get_by_test_id("replay-notice")
    expect(notice).to_contain_text(f"after event {before} of {execution.last_event_id}")
    expect(page.get_by_test_id("replay-event-type")).not_to_have_text("CallbackStarted")
    # The callback had not started: the graph has no node for it yet.
    expect(page.locator("[data-graph] svg #start")).to_have_count(1)
    expect(page.locator(node)).to_have_count(0)
    expect(page.get_by_test_id("replay-slider")).to_have_value(str(before))
    page.set_viewport_size(DESKTOP)
    screenshot(page, "replay-graph-before-callback-1440-light.png")

    # The moment is in the URL: the other tabs keep it, and a shared link opens it.
    page.locator("[data-tab-link='operations']").click()
    expect(page).to_have_url(f"{live_server.url}/executions/{execution.pk}/operations/?at={before}")
    expect(page.locator(f"tr[data-op='{callback.operation_id}']")).to_have_count(0)
    expect(page.get_by_test_id("replay-notice")).to_be_visible()
    screenshot(page, "replay-operations-before-callback-1440-light.png")
    page.goto(f"{live_server.url}/executions/{execution.pk}/graph/?at={before}")
    expect(page.locator(node)).to_have_count(0)

    # One event on is the CallbackStarted: the callback is there, waiting.
    page.get_by_test_id("replay-next").click()
    expect(page).to_have_url(
        f"{live_server.url}/executions/{execution.pk}/graph/?at={started.event_id}"
    )
    expect(page.get_by_test_id("replay-event-type")).to_have_text("CallbackStarted")
    expect(page.locator(node)).to_have_count(1)

    page.get_by_test_id("replay-now").click()
    expect(page).to_have_url(f"{live_server.url}/executions/{execution.pk}/graph/")
    expect(page.get_by_test_id("replay-notice")).to_have_count(0)
    expect(page.locator(node)).to_have_count(1)
    expect(page.get_by_test_id("replay-label")).to_contain_text("now")
    screenshot(page, "replay-graph-now-1440-light.png")

    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.goto(f"{live_server.url}/executions/{execution.pk}/timeline/?at={before}")
        for theme in ("light", "dark"):
            page.evaluate("t => localStorage.setItem('durable-console-theme', t)", theme)
            page.reload()
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            expect(page.get_by_test_id("replay-notice")).to_be_visible()
            screenshot(page, f"replay-timeline-{size['width']}-{theme}.png")
        page.goto(f"{live_server.url}/executions/{execution.pk}/graph/?at={before}")
        screenshot(page, f"replay-graph-{size['width']}-dark.png")
        # Nothing sticks out sideways on a phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], width
