"""In chromium, against the sandbox (issue 30, item 5): a person starts an execution again
with an edited input: the form is filled in with the old input, the review shows the
change as a diff before anything starts, Start starts exactly that, and the new
execution's page links back to the old one, whose page links to the new one.
Screenshots at 1440x900 and 390x844, light and dark."""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry, Execution
from sandbox.client import start, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
OLD_INPUT = {"orderId": "O-DIFF-1", "items": [{"sku": "tea", "qty": 2}], "note": "first try"}


def _in_both_themes(page: Page, name: str, size: dict, *, reload: bool = True) -> None:
    """The page in light and then dark mode (left light). A POST's page is switched in
    place: a reload would send the form again."""
    for theme in ("light", "dark"):
        if reload:
            page.evaluate("t => localStorage.setItem('durable-console-theme', t)", theme)
            page.reload()
        else:
            page.evaluate("t => document.documentElement.setAttribute('data-bs-theme', t)", theme)
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        screenshot(page, f"{name}-{size['width']}-{theme}.png")
    if reload:
        page.evaluate("() => localStorage.setItem('durable-console-theme', 'light')")
    else:
        page.evaluate("() => document.documentElement.setAttribute('data-bs-theme', 'light')")


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_person_edits_the_input_reviews_the_diff_and_starts_it_again(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("olga", "operator")
    arn = start(lambda_sandbox, "order-processor", OLD_INPUT, f"diff-{uuid.uuid4().hex[:6]}")
    wait_for_status(lambda_sandbox, arn)
    old = sync.sync_arn(sandbox_source, arn)
    page.set_viewport_size(size)
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/executions/{old.pk}/")

    page.get_by_test_id("start-again").click()

    expect(page.get_by_test_id("start-again-note")).to_contain_text(old.name)
    assert json.loads(page.locator("#input").input_value()) == OLD_INPUT
    edited = {**OLD_INPUT, "orderId": "O-DIFF-2", "items": [{"sku": "tea", "qty": 3}]}
    edited["rush"] = True
    del edited["note"]
    page.locator("#input").fill(json.dumps(edited, indent=2))
    name = page.locator("#name").input_value()
    page.get_by_test_id("start-again-review").click()

    # The review: the change, field by field, and nothing started yet.
    expect(page.get_by_test_id("review-summary")).to_contain_text("4 fields changed")
    rows = page.get_by_test_id("diff-row")
    expect(rows).to_have_count(4)
    order = page.locator('[data-testid="diff-row"][data-path="orderId"]')
    expect(order.get_by_test_id("diff-old")).to_have_text('"O-DIFF-1"')
    expect(order.get_by_test_id("diff-new")).to_have_text('"O-DIFF-2"')
    expect(page.locator('[data-path="items[0].qty"]')).to_contain_text("changed")
    expect(page.locator('[data-path="note"]')).to_contain_text("removed")
    expect(page.locator('[data-path="rush"]')).to_contain_text("added")
    assert not Execution.objects.filter(name=name).exists()
    _no_sideways_scroll(page)
    _in_both_themes(page, "start-again-review", size, reload=False)

    page.get_by_test_id("review-start").click()

    expect(page.locator(".alert-success")).to_contain_text(f"Started {name}")
    again = Execution.objects.get(name=name)
    expect(page).to_have_url(f"{live_server.url}/executions/{again.pk}/")
    assert json.loads(again.input_payload) == edited and again.started_from_id == old.pk
    assert json.loads(AuditEntry.objects.get(execution_arn=again.arn).payload) == edited
    expect(page.get_by_test_id("started-from")).to_contain_text(
        f"Started again from {old.name} (input changed: 4 fields)"
    )
    _no_sideways_scroll(page)
    _in_both_themes(page, "started-again-new", size)

    page.get_by_test_id("started-from-link").click()

    expect(page).to_have_url(f"{live_server.url}/executions/{old.pk}/")
    link = page.get_by_test_id("started-again-link")
    expect(link).to_have_text(name)
    _in_both_themes(page, "started-again-old", size)
    link.click()
    expect(page).to_have_url(f"{live_server.url}/executions/{again.pk}/")


def test_a_change_made_after_the_review_is_reviewed_again(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    make_user("olga", "operator")
    arn = start(lambda_sandbox, "order-processor", OLD_INPUT, f"diff-{uuid.uuid4().hex[:6]}")
    wait_for_status(lambda_sandbox, arn)
    old = sync.sync_arn(sandbox_source, arn)
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/executions/start/?from={old.pk}")
    page.locator("#input").fill('{"orderId": "O-A"}')
    page.get_by_test_id("start-again-review").click()
    expect(page.get_by_test_id("review-summary")).to_be_visible()
    # The input changes under the review (as a script or a second tab could change it).
    page.evaluate(
        """() => document.querySelector('input[name=input]').value = '{"orderId": "O-B"}'"""
    )

    page.get_by_test_id("review-start").click()

    expect(page.get_by_test_id("review-error")).to_contain_text("not what you reviewed")
    expect(page.locator('[data-path="orderId"]').get_by_test_id("diff-new")).to_have_text('"O-B"')
    assert not Execution.objects.filter(started_from=old).exists()
    _in_both_themes(page, "start-again-review-again", PHONE, reload=False)
    page.get_by_test_id("review-start").click()
    expect(page.get_by_test_id("started-from")).to_contain_text(old.name)
    assert json.loads(Execution.objects.get(started_from=old).input_payload) == {"orderId": "O-B"}
