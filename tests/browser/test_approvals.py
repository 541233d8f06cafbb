"""In chromium: operators answer callbacks from the approvals inbox; a Celery worker
with beat mirrors the sandbox meanwhile, as in production."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from executions.models import Execution
from sandbox.client import start, wait_for, wait_for_callback
from tests.browser.helpers import log_in, make_user, screenshot


def _row(page: Page, base: str, execution_name: str, waiting_on: str):
    """Reload the inbox, searched for the execution as an operator asked about it would,
    until its row waits on `waiting_on` (the worker syncs). Unsearched, the row may be on a
    later page: the sandbox holds earlier tests' callbacks, nearer their deadlines."""

    def find():
        page.goto(f"{base}/approvals/?execution={execution_name}")
        row = page.locator(f'[data-testid="approval-row"][data-execution="{execution_name}"]')
        return row if row.count() and waiting_on in row.inner_text() else None

    return wait_for(find, 60, interval=1, what=f"{execution_name} waiting on {waiting_on}")


def _status(arn: str, status: str) -> None:
    wait_for(
        lambda: Execution.objects.filter(arn=arn, status=status).exists(),
        60,
        interval=0.5,
        what=f"{arn} {status} in the mirror",
    )


def test_an_operator_approves_a_coffee_order_from_the_inbox_until_it_succeeds(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    make_user("opal", "operator")
    name = f"coffee-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name, "drink": "latte"}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    log_in(page, live_server.url, "opal")

    row = _row(page, live_server.url, name, "baristaAccepts")
    expect(page.get_by_test_id("approvals-count")).not_to_have_text("0")
    screenshot(page, "approvals.png")
    row.get_by_test_id("approve").click()
    page.locator(".modal.show").get_by_test_id("approve-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Approved: success sent")

    row = _row(page, live_server.url, name, "orderCompleted")
    row.get_by_test_id("approve").click()
    page.locator(".modal.show").get_by_test_id("approve-confirm").click()
    _status(arn, "SUCCEEDED")
    page.goto(f"{live_server.url}/audit/")
    expect(page.get_by_test_id("audit-row").filter(has_text=arn)).to_have_count(2)
    screenshot(page, "audit.png")


def test_an_operator_rejects_a_transaction_and_it_fails(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    make_user("remy", "operator")
    name = f"txn-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "fraud-detection", {"transactionId": name, "amount": 4000}, name)
    wait_for_callback(lambda_sandbox, arn, "humanVerification")
    log_in(page, live_server.url, "remy")

    row = _row(page, live_server.url, name, "humanVerification")
    row.get_by_test_id("reject").click()
    page.locator(".modal.show").get_by_test_id("reject-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Rejected: failure sent")
    _status(arn, "FAILED")


def test_the_callback_form_shows_why_it_refused_and_keeps_the_input(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    make_user("fern", "operator")
    name = f"coffee-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    log_in(page, live_server.url, "fern")
    row = _row(page, live_server.url, name, "baristaAccepts")
    row.get_by_role("link", name="More…").click()

    page.get_by_test_id("result-editor").fill('{"accepted": tru')
    page.get_by_test_id("send-success").click()
    expect(page.get_by_test_id("callback-error")).to_contain_text("not valid JSON")
    expect(page.get_by_test_id("result-editor")).to_have_value('{"accepted": tru')
    screenshot(page, "callback-form-invalid-json.png")

    page.get_by_label("Error type").fill("")
    page.get_by_test_id("send-failure").click()  # the browser's `required` stops it
    expect(page.get_by_test_id("callback-error")).to_contain_text("not valid JSON")
    page.get_by_test_id("result-editor").fill('{"blob": "' + "x" * 1_100_000 + '"}')
    page.get_by_test_id("send-success").click()
    expect(page.get_by_test_id("callback-error")).to_contain_text("accepts at most 1,048,576")
    screenshot(page, "callback-form-too-large.png")
    assert Execution.objects.get(arn=arn).status == "RUNNING"


def test_a_viewer_sees_the_inbox_without_buttons(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    make_user("vic", "viewer")
    log_in(page, live_server.url, "vic")
    page.goto(f"{live_server.url}/approvals/")
    expect(page.get_by_test_id("approve")).to_have_count(0)
