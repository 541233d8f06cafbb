"""In chromium: an operator approves three pending callbacks at once from the approvals
inbox (a confirmation with the count, the job's progress, each callback's outcome) and
the sandbox shows all three answered; a callback whose history gives a timeout shows its
deadline first, counting down. A real Celery worker runs the job."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry
from sandbox.client import history, start, wait_for, wait_for_callback
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme
from tests.factories import mirror_recorded

LEFT = re.compile(r"^(\d+ min( \d+ s)?|\d+ s) left$")


def _screenshots(page: Page, name: str) -> None:
    width = page.viewport_size["width"]
    for theme in ("light", "dark"):
        set_theme(page, theme)
        screenshot(page, f"{name}-{width}-{theme}.png")
    set_theme(page, "light")


def _luminance(page: Page, selector: str) -> float:
    """The relative brightness (0 black, 1 white) of the first match's background."""
    rgb = page.locator(selector).first.evaluate(
        "el => getComputedStyle(el).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number)"
    )
    return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255


def _answered(client, arn: str, operation_id: str) -> bool:
    return any(
        e["EventType"] == "CallbackSucceeded" and e["Id"] == operation_id
        for e in history(client, arn)
    )


def test_an_operator_approves_three_callbacks_at_once_and_sees_each_outcome(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    make_user("bea", "operator")
    # One tag in every name: the inbox searched for it shows this test's callbacks only
    # (the worker mirrors the whole sandbox, earlier tests' waiting orders included).
    tag = uuid.uuid4().hex[:6]
    names = [f"bulk-{tag}-{i}" for i in range(3)]
    deadline_name = f"recorded-deadline-{tag}"
    inbox = f"{live_server.url}/approvals/?execution={tag}"
    arns = [start(lambda_sandbox, "coffee-order", {"orderId": n}, n) for n in names]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    executions = [sync.sync_arn(sandbox_source, arn) for arn in arns]
    callbacks = [e.operations.get(type="CALLBACK", status="STARTED") for e in executions]
    mirror_recorded(deadline_name, "coffee-order-waiting-timeout", 60)

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "bea")
    page.goto(inbox)
    rows = page.get_by_test_id("approval-row")
    expect(rows).to_have_count(4)
    # The callback with a deadline comes first, counting down from four minutes.
    first = rows.first
    expect(first).to_have_attribute("data-execution", deadline_name)
    countdown = first.get_by_test_id("countdown")
    expect(countdown).to_have_text(LEFT)
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before)  # it ticks
    expect(countdown).to_have_text(LEFT)
    expect(rows.nth(1).get_by_test_id("deadline")).to_have_count(0)

    for theme in ("dark", "light"):  # the page is reloaded in each theme: tick them again
        set_theme(page, theme)
        if theme == "dark":  # nothing ticked yet: nothing to answer
            expect(page.get_by_test_id("bulk-approve")).to_be_disabled()
        # The table's header row follows the theme (Bootstrap's table-light would not).
        assert (_luminance(page, "thead th") < 0.3) == (theme == "dark")
        for name in names:
            row = page.locator(f'[data-testid="approval-row"][data-execution="{name}"]')
            row.get_by_test_id("bulk-check").check()
        expect(page.get_by_test_id("bulk-count")).to_have_text("3 selected.")
        screenshot(page, f"approvals-bulk-selected-1440-{theme}.png")
    page.get_by_test_id("bulk-approve").click()

    expect(page.get_by_test_id("bulk-answer-confirm")).to_have_text("Approve 3 callbacks?")
    expect(page.get_by_test_id("bulk-answer-sample").locator("li")).to_have_count(3)
    page.get_by_test_id("bulk-answer-result").fill('{"accepted": true, "batch": 1}')
    screenshot(page, "approvals-bulk-confirm-1440-light.png")
    page.get_by_test_id("bulk-answer-confirm-button").click()

    expect(page.get_by_test_id("bulk-progress")).to_be_visible()
    expect(page.get_by_test_id("bulk-finished")).to_be_visible(timeout=60_000)
    outcomes = page.get_by_test_id("bulk-result")
    expect(outcomes).to_have_count(3)
    expect(outcomes.and_(page.locator('[data-outcome="answered"]'))).to_have_count(3)
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("3 of 3 answered")
    _screenshots(page, "approvals-bulk-job")

    for arn, callback in zip(arns, callbacks, strict=True):
        wait_for(lambda a=arn, c=callback: _answered(lambda_sandbox, a, c.operation_id), 30)
    entries = AuditEntry.objects.filter(action="callback_success", outcome="SUCCEEDED")
    assert sorted(e.callback_id for e in entries) == sorted(c.callback_id for c in callbacks)

    page.set_viewport_size(PHONE)
    page.goto(inbox)
    expect(page.get_by_test_id("countdown").first).to_have_text(LEFT)
    _screenshots(page, "approvals-bulk-inbox")
