"""In chromium: staff set up a notification rule, send it a test to a webhook run by the
test, and read the delivery log; on a desktop and a phone, light and dark."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from notify.models import Rule
from tests.browser.helpers import log_in, make_user, screenshot
from tests.notify_servers import RECEIVER_NETWORK, Receiver

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _screenshots(page: Page, name: str) -> None:
    width = page.viewport_size["width"]
    for theme in ("light", "dark"):
        page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        screenshot(page, f"{name}-{width}-{theme}.png")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_staff_add_a_rule_send_a_test_and_read_the_log(live_server, page: Page, size, settings):
    # The receiver listens on 127.0.0.1, which the address guard refuses unless allowed.
    settings.OUTGOING_ALLOWED_NETWORKS = [RECEIVER_NETWORK]
    make_user("stella", "operator", staff=True)  # staff read rules; operators change them
    page.set_viewport_size(size)
    log_in(page, live_server.url, "stella")
    with Receiver(statuses=[502]) as receiver:
        page.goto(f"{live_server.url}/notifications/")
        expect(page.get_by_test_id("rules-empty")).to_be_visible()
        page.get_by_test_id("new-rule").click()
        page.get_by_label("Name", exact=True).fill("approvers")
        page.get_by_label("Callback name pattern").fill("*approval*")
        page.get_by_label("Webhook URL").fill(receiver.url)
        page.get_by_label("Email to").fill("not an address")
        page.get_by_test_id("save-rule").click()
        expect(page.get_by_test_id("field-error")).to_contain_text("is not an email address")
        _screenshots(page, "notify-rule-refused")
        page.get_by_label("Email to").fill("")
        page.get_by_label("Webhook format").select_option("slack")
        page.get_by_test_id("save-rule").click()
        expect(page.locator(".alert-success")).to_contain_text("Saved the rule approvers")

        row = page.get_by_test_id("rule-row")
        row.get_by_test_id("send-test").click()
        expect(page.locator(".alert-danger")).to_contain_text("HTTP 502")
        page.get_by_test_id("rule-row").get_by_test_id("send-test").click()
        expect(page.locator(".alert-success")).to_contain_text("Test webhook sent.")
        _screenshots(page, "notify-rules")

    assert len(receiver.requests) == 2
    assert "Test message of the rule approvers" in json.loads(receiver.requests[1]["body"])["text"]
    assert Rule.objects.get().callback_pattern == "*approval*"
    page.goto(f"{live_server.url}/notifications/deliveries/")
    expect(page.get_by_test_id("delivery-row")).to_have_count(2)
    expect(page.locator('[data-testid="delivery-row"][data-status="pending"]')).to_contain_text(
        "Attempt 1: The webhook answered HTTP 502"
    )
    _screenshots(page, "notify-deliveries")
