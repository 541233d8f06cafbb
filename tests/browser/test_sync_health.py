"""In chromium: the sync health page tells a staff user how each source keeps up with its
API budget and its status events, in light and dark, and at phone width."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Page, expect

from executions import events, sync
from executions.models import Function
from sandbox import sqs
from sandbox.client import lambda_client, start, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot


def test_staff_read_the_budget_the_lag_and_what_was_set_aside(
    live_server, page: Page, events_sandbox, events_source, local_sqs
):
    client = lambda_client(events_sandbox.endpoint_url)
    arn = start(client, "order-processor", {}, f"health-{uuid.uuid4().hex[:6]}")
    wait_for_status(client, arn)
    sync.poll_source(events_source)
    Function.objects.get_or_create(source=events_source, name="order-processor")
    sqs.client(local_sqs).send_message(
        QueueUrl=events_source.events_queue_url, MessageBody=json.dumps({"not": "an event"})
    )
    for _ in range(20):
        if not events.consume(events_source, wait_seconds=0).received:
            break
    sync.sync_once(events_source)

    make_user("sid", staff=True)
    log_in(page, live_server.url, "sid")
    page.get_by_role("link", name="Sync health").click()
    section = page.locator('[data-testid="health-source"][data-source="with-events"]')
    expect(section.get_by_test_id("health-apis")).to_contain_text("GetDurableExecutionHistory")
    expect(section.get_by_test_id("events-set-aside")).not_to_have_text("0")
    expect(section.get_by_test_id("set-aside")).to_contain_text(
        "not a durable execution status event"
    )
    expect(section).to_contain_text("keeping up")
    screenshot(page, "sync-health.png")
    page.get_by_test_id("theme-menu").click()
    page.get_by_role("button", name="Dark", exact=True).click()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    screenshot(page, "sync-health-dark.png")
    page.set_viewport_size({"width": 390, "height": 844})
    # Nothing wider than the screen but the tables, which scroll inside their card.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    screenshot(page, "sync-health-phone.png")
