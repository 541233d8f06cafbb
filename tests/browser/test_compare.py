"""In chromium: two fraud-detection runs of the sandbox, one approved and one blocked
(a high amount fails it), selected in the list and compared: the page shows the step that
ran in one run only and the scoring step whose result differs. Then the same comparison
from the failed run's page (its previous run). Screenshots at a desktop's and a phone's
width, light and dark."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from executions import sync
from executions.models import Execution
from sandbox.client import start, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def test_comparing_a_succeeded_and_a_failed_fraud_run_shows_the_differing_step(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    approved = start(
        lambda_sandbox, "fraud-detection", {"transactionId": "t-1", "amount": 20}, f"cmp-{tag}-ok"
    )
    assert wait_for_status(lambda_sandbox, approved)["Status"] == "SUCCEEDED"
    blocked = start(
        lambda_sandbox,
        "fraud-detection",
        {"transactionId": "t-1", "amount": 50000},
        f"cmp-{tag}-blocked",
    )
    assert wait_for_status(lambda_sandbox, blocked)["Status"] == "FAILED"
    a = sync.sync_arn(sandbox_source, approved)
    b = sync.sync_arn(sandbox_source, blocked)
    make_user("carl")
    log_in(page, live_server.url, "carl")

    page.goto(f"{live_server.url}/executions/?name=cmp-{tag}")
    expect(page.get_by_test_id("select-row")).to_have_count(2)
    compare_button = page.get_by_test_id("compare-selected")
    expect(compare_button).to_be_disabled()  # until two are ticked
    page.locator(f"#select-{a.pk}").check()
    expect(compare_button).to_be_disabled()
    page.locator(f"#select-{b.pk}").check()
    expect(compare_button).to_be_enabled()
    page.set_viewport_size(DESKTOP)
    screenshot(page, "compare-list-selected-1440-light.png")
    page.get_by_test_id("compare-selected").click()

    expect(page).to_have_url(f"{live_server.url}/executions/compare?a={a.pk}&b={b.pk}")
    expect(page.get_by_test_id("compare-side-a")).to_contain_text("Succeeded")
    expect(page.get_by_test_id("compare-side-b")).to_contain_text("Failed")
    blocked_row = page.locator("[data-testid='compare-row'][data-path='blockTransaction']")
    expect(blocked_row).to_have_attribute("data-only", "b")
    expect(blocked_row.get_by_test_id("did-not-run")).to_have_count(1)
    approved_row = page.locator("[data-testid='compare-row'][data-path='autoApprove']")
    expect(approved_row).to_have_attribute("data-only", "a")
    score = page.locator("[data-testid='compare-row'][data-path='scoreRisk']")
    expect(score).to_have_attribute("data-diff", "result")
    score.get_by_test_id("compare-json-diff").locator("summary").click()
    diff = score.get_by_test_id("compare-json-diff")
    expect(diff).to_contain_text("result.level")
    expect(diff).to_contain_text('"low"')
    expect(diff).to_contain_text('"high"')
    expect(page.get_by_test_id("compare-counts")).to_contain_text("1 only in A")

    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for theme in ("light", "dark"):
            page.evaluate("t => localStorage.setItem('durable-console-theme', t)", theme)
            page.reload()
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            page.locator(
                "[data-path='scoreRisk'] [data-testid='compare-json-diff'] summary"
            ).click()
            screenshot(page, f"compare-fraud-{size['width']}-{theme}.png")

    # From the blocked run's page: the run of the function before it.
    Execution.objects.filter(pk=b.pk).update(started_at=a.started_at.replace(year=2099))
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/executions/{b.pk}/")
    page.get_by_test_id("compare-previous").click()
    expect(page).to_have_url(f"{live_server.url}/executions/compare?a={a.pk}&b={b.pk}")
    expect(page.locator("[data-path='blockTransaction']")).to_have_attribute("data-only", "b")
