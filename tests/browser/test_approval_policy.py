"""In chromium, two operators in two browsers: the two-person rule as people meet it.
The first approval, from the inbox, is held and says so; the second person, on the
execution's page, reads the policy's instructions and who approved, and their approval
sends the success."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect

from actions.models import ApprovalPolicy
from executions import sync
from sandbox.client import history, start, wait_for, wait_for_callback
from tests.browser.helpers import log_in, make_user, screenshot

PHONE = {"width": 390, "height": 844}


def _second_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_two_people_approve_and_only_the_second_approval_sends(
    live_server, page: Page, browser: Browser, sandbox_source, lambda_sandbox
):
    sync.poll_source(sandbox_source)
    ApprovalPolicy.objects.create(
        name="refunds",
        source=sandbox_source,
        function_pattern="coffee-order",
        approvals_required=2,
        instructions="**Check** the order in the [till](https://till.example.com) first.",
    )
    make_user("alice", "operator")
    make_user("bob", "operator")
    name = f"two-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)

    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/approvals/")
    row = page.locator(f'[data-testid="approval-row"][data-execution="{name}"]')
    expect(row.get_by_test_id("approval-progress")).to_contain_text("0 of 2 approvals")
    row.get_by_test_id("approve").click()
    dialog = page.locator(".modal.show")
    expect(dialog.get_by_test_id("approve-policy")).to_contain_text("held until 2 different people")
    dialog.get_by_test_id("approve-reason").fill("order checked")
    dialog.get_by_test_id("approve-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Your approval is held: 1 of 2")
    row = page.locator(f'[data-testid="approval-row"][data-execution="{name}"]')
    expect(row.get_by_test_id("approval-progress")).to_contain_text(
        "1 of 2 approvals; waiting for one more"
    )
    screenshot(page, "approval-held-inbox-1280.png")
    events = [e["EventType"] for e in history(lambda_sandbox, arn)]
    assert "CallbackSucceeded" not in events

    other = _second_page(browser)
    log_in(other, live_server.url, "bob")
    operation = execution.operations.get(type="CALLBACK")
    other.goto(f"{live_server.url}/executions/{execution.pk}/operations/{operation.operation_id}")
    policy = other.get_by_test_id("approval-policy")
    expect(policy).to_contain_text("Approval policy refunds: 2 approvals from different people")
    expect(other.get_by_test_id("approval-progress")).to_contain_text("✓ alice")
    instructions = other.get_by_test_id("policy-instructions")
    expect(instructions.locator("strong")).to_have_text("Check")
    expect(instructions.get_by_role("link", name="till")).to_have_attribute(
        "href", "https://till.example.com"
    )
    screenshot(other, "approval-second-1280.png")
    other.get_by_test_id("send-success").click()
    expect(other.locator(".alert-success")).to_contain_text("Approved: success sent")
    wait_for(
        lambda: "CallbackSucceeded" in [e["EventType"] for e in history(lambda_sandbox, arn)],
        30,
        what="the success to reach the sandbox",
    )
    other.context.close()


def test_someone_the_policy_does_not_name_reads_why_on_a_phone(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    sync.poll_source(sandbox_source)
    ApprovalPolicy.objects.create(
        name="leads only",
        source=sandbox_source,
        function_pattern="coffee-order",
        approver_users="lead",
    )
    make_user("lead", "operator")
    make_user("newbie", "operator")
    name = f"lead-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    operation = execution.operations.get(type="CALLBACK")

    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, "newbie")
    page.goto(f"{live_server.url}/executions/{execution.pk}/operations/{operation.operation_id}")
    expect(page.get_by_test_id("approval-refusal")).to_contain_text(
        "The policy “leads only” lets only lead answer this callback; you are not one of them."
    )
    expect(page.get_by_test_id("send-success")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "approval-refused-390.png")
