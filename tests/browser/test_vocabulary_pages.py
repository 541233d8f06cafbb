"""Answering a callback reads the same in the inbox and on the execution page, in a real
browser, at a desk and on a phone, light and dark: Approve and Reject (and Extend
(heartbeat) on the execution page), with what each sends shown beside it and the same
result, {"approved": true}, in both forms (domain/answers.py)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from executions import sync
from sandbox.client import start, wait_for_callback
from tests.browser.helpers import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    log_in,
    make_user,
    screenshot,
    set_theme,
)

DEFAULT_RESULT = '{"approved": true}'
APPROVE_SENDS = "Sends success with this result (JSON, you can edit it):"


def _window_shot(page: Page, name: str) -> None:
    """What the window shows once nothing moves (a dialog fading in, the panel sliding in,
    a button's hover): a modal or a fixed panel is not in a full-page shot."""
    page.wait_for_function("() => document.getAnimations().length === 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _on_screen_across(page: Page, locator: Locator) -> None:
    """Visible, inside the window from left to right, and clickable; no sideways scroll."""
    locator.scroll_into_view_if_needed()
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    locator.click(trial=True)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440", "390"])
def test_the_inbox_and_the_execution_page_answer_in_the_same_words(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    name = f"words-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name, "drink": "tea"}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    make_user("wendy", "operator")
    log_in(page, live_server.url, "wendy")
    page.set_viewport_size(size)
    width = size["width"]

    for theme in ("light", "dark"):
        # The inbox: the row's buttons, and the dialog Approve opens.
        page.goto(f"{live_server.url}/approvals/")
        set_theme(page, theme)
        expect(page.get_by_test_id("answers-hint")).to_contain_text(
            'Approve sends success with this result: {"approved": true}. '
            "Reject sends failure with this error type: Rejected."
        )
        row = page.locator(f'[data-testid="approval-row"][data-execution="{name}"]')
        approve = row.get_by_test_id("approve")
        expect(approve).to_have_text("Approve…")
        expect(approve).to_have_attribute(
            "title", f"Sends success with this result: {DEFAULT_RESULT}"
        )
        expect(row.get_by_test_id("reject")).to_have_text("Reject…")
        screenshot(page, f"vocabulary-inbox-{width}-{theme}.png")
        _on_screen_across(page, approve)
        approve.click()
        dialog = page.locator(".modal.show")
        expect(dialog.get_by_test_id("approve-sends")).to_have_text(APPROVE_SENDS)
        expect(dialog.get_by_test_id("approve-payload")).to_have_value(DEFAULT_RESULT)
        expect(dialog.get_by_test_id("approve-confirm")).to_have_text("Approve")
        _window_shot(page, f"vocabulary-inbox-dialog-{width}-{theme}.png")
        _on_screen_across(page, dialog.get_by_test_id("approve-confirm"))
        dialog.get_by_role("button", name="Cancel", exact=True).last.click()
        expect(page.locator(".modal.show")).to_have_count(0)

        # The execution page: the waiting badge opens the callback's form in the panel.
        page.goto(f"{live_server.url}/executions/{execution.pk}/")
        page.get_by_test_id("callbacks-waiting").click()
        forms = page.locator("#operation-panel").get_by_test_id("callback-forms")
        expect(forms.get_by_test_id("approve-sends")).to_have_text(APPROVE_SENDS)
        expect(forms.get_by_test_id("result-editor")).to_have_value(DEFAULT_RESULT)
        expect(forms.get_by_test_id("send-success")).to_have_text("Approve")
        expect(forms.get_by_test_id("reject-sends")).to_have_text("Sends failure with this error:")
        expect(forms.get_by_test_id("send-failure")).to_have_text("Reject")
        expect(forms.get_by_test_id("send-heartbeat")).to_have_text("Extend (heartbeat)")
        forms.get_by_test_id("approve-sends").scroll_into_view_if_needed()
        _window_shot(page, f"vocabulary-callback-form-{width}-{theme}.png")
        forms.get_by_test_id("send-heartbeat").scroll_into_view_if_needed()
        _window_shot(page, f"vocabulary-callback-extend-{width}-{theme}.png")
        for button in ("send-success", "send-failure", "send-heartbeat"):
            _on_screen_across(page, forms.get_by_test_id(button))
