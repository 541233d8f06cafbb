"""In chromium, on a desktop and on a phone: the pages a new operator meets first. The
approvals inbox (the wait, what Approve and Reject send, a confirmation before either),
the start form (its name rule works in the browser and on the server, an example input),
the audit log and a bulk stop's result, in light and dark mode."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from actions import bulk
from executions import sync
from executions.models import AuditEntry
from sandbox.client import start, wait_for_callback, wait_for_status
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme
from tests.factories import mirrored, mirrored_all

SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
DURATION = re.compile(r"^\d+(\.\d)? (ms|s)$|^\d+ min( \d+ s)?$|^\d+ h( \d+ min)?$")


def _screenshots(page: Page, name: str, size: dict) -> None:
    """The page as it is now, in light and then dark mode (it is left dark)."""
    for theme in ("light", "dark"):
        set_theme(page, theme)
        screenshot(page, f"{name}-{size['width']}-{theme}.png")


def _fits_across(page: Page, locator: Locator) -> None:
    """On screen from left to right without scrolling sideways, and clickable."""
    width = page.viewport_size["width"]
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    locator.click(trial=True)


def _row(page: Page, base: str, name: str, waiting_on: str) -> Locator:
    page.goto(f"{base}/approvals/")
    row = page.locator(f'[data-testid="approval-row"][data-execution="{name}"]')
    expect(row).to_contain_text(waiting_on)
    return row


@SIZES
def test_the_inbox_shows_the_wait_and_what_approve_and_reject_send_before_they_send_it(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("opal", "operator")
    name = f"coffee-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "coffee-order", {"orderId": name, "drink": "latte"}, name)
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = mirrored(sandbox_source, arn)
    callback = execution.operations.get(type="CALLBACK", status="STARTED")
    page.set_viewport_size(size)
    page.emulate_media(reduced_motion="reduce")  # dialogs open without a fade to wait out
    log_in(page, live_server.url, "opal")
    row = _row(page, live_server.url, name, "baristaAccepts")

    # How long it has waited, ticking from when the callback started, and since when.
    waiting = row.get_by_test_id("waiting-for")
    expect(waiting).to_have_text(DURATION)
    since = callback.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    expect(waiting.locator("[data-since]")).to_have_attribute("data-since", since)
    expect(row.locator("time.js-time").first).to_be_visible()
    _fits_across(page, row.get_by_test_id("approve"))
    _fits_across(page, row.get_by_test_id("reject"))
    if size == PHONE:
        table = page.get_by_test_id("approvals-table").locator("xpath=..")
        assert table.evaluate("el => el.scrollWidth <= el.clientWidth")
    _screenshots(page, "approvals-inbox", size)
    row = _row(page, live_server.url, name, "baristaAccepts")

    # Reject asks first, says what it will send, and Cancel sends nothing.
    row.get_by_test_id("reject").click()
    dialog = page.locator(".modal.show")
    expect(dialog).to_contain_text("Reject baristaAccepts?")
    expect(dialog.get_by_test_id("reject-type")).to_have_value("Rejected")
    expect(dialog.get_by_test_id("reject-message")).to_have_value("Rejected by opal")
    _fits_across(page, dialog.get_by_test_id("reject-confirm"))
    screenshot(page, f"approvals-reject-dialog-{size['width']}-dark.png")
    dialog.get_by_test_id("reject-cancel").click()
    expect(page.locator(".modal.show")).to_have_count(0)
    # Nothing was sent: the only entry is the sign-in itself.
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["sign_in"]

    # Approve shows the result it sends, which can be edited, and sends what is shown.
    set_theme(page, "light")
    row.get_by_test_id("approve").click()
    dialog = page.locator(".modal.show")
    payload = dialog.get_by_test_id("approve-payload")
    expect(payload).to_have_value('{"approved": true}')
    payload.fill('{"approved": true, "by": "the inbox"}')
    screenshot(page, f"approvals-approve-dialog-{size['width']}-light.png")
    _fits_across(page, dialog.get_by_test_id("approve-confirm"))
    dialog.get_by_test_id("approve-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Approved: success sent")
    sent = AuditEntry.objects.get(action="callback_success")
    assert json.loads(sent.payload) == {"approved": True, "by": "the inbox"}

    # The next callback, rejected once confirmed.
    wait_for_callback(lambda_sandbox, arn, "orderCompleted")
    mirrored(sandbox_source, arn)
    row = _row(page, live_server.url, name, "orderCompleted")
    row.get_by_test_id("reject").click()
    page.locator(".modal.show").get_by_test_id("reject-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Rejected: failure sent")
    rejected = AuditEntry.objects.get(action="callback_failure")
    assert json.loads(rejected.payload)["ErrorMessage"] == "Rejected by opal"
    wait_for_status(lambda_sandbox, arn)

    # The audit log tells it in words, with the execution's name linked to its page.
    page.goto(f"{live_server.url}/audit/?arn={name}")
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(2)
    expect(rows.get_by_test_id("audit-action")).to_have_text(
        ["Rejected callback (failure sent)", "Approved callback (success sent)"]
    )
    link = rows.first.get_by_test_id("audit-execution")
    expect(link).to_have_text(name)
    expect(link).to_have_attribute("href", f"/executions/{execution.pk}/")
    expect(rows.first.get_by_test_id("audit-arn")).to_have_attribute("title", arn)
    _fits_across(page, link)
    _screenshots(page, "audit", size)


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


@SIZES
def test_the_start_form_checks_the_name_in_the_browser_and_on_the_server_and_offers_an_example(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("stan", "operator")
    done = start(
        lambda_sandbox, "order-processor", {"orderId": "EXAMPLE-7"}, f"ex-{uuid.uuid4().hex[:6]}"
    )
    wait_for_status(lambda_sandbox, done)
    mirrored(sandbox_source, done)
    errors = _console_errors(page)
    page.set_viewport_size(size)
    page.emulate_media(reduced_motion="reduce")  # dialogs open without a fade to wait out
    log_in(page, live_server.url, "stan")
    page.goto(f"{live_server.url}/executions/start/")
    page.get_by_label("Function").select_option(label="sandbox · order-processor")

    # An example input from a run of the function, used only when asked.
    example = page.get_by_test_id("start-example")
    expect(example).to_contain_text('"orderId": "EXAMPLE-7"')
    editor = page.get_by_label("Input (JSON)")
    expect(editor).to_have_value("")
    for theme in ("light", "dark"):
        set_theme(page, theme)
        page.get_by_label("Function").select_option(label="sandbox · order-processor")
        screenshot(page, f"start-form-{size['width']}-{theme}.png")
    page.get_by_test_id("use-example").click()
    assert json.loads(editor.input_value()) == {"orderId": "EXAMPLE-7"}
    page.get_by_label("Function").select_option(label="sandbox · approval-rounds")
    expect(example).to_be_hidden()  # no run of it mirrored with its input: no example
    page.get_by_label("Function").select_option(label="sandbox · order-processor")
    # The name's pattern compiles in chromium and refuses what the service would.
    name = page.get_by_label("Execution name")
    name.fill("bad name!")
    assert name.evaluate("el => el.validity.patternMismatch") is True
    name.fill("good-name_1")
    assert name.evaluate("el => el.validity.patternMismatch") is False
    assert [e for e in errors if "pattern" in e.lower() or "regular expression" in e] == []
    name.fill("bad name!")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("start-error")).to_have_count(0)  # the browser stopped it
    assert name.evaluate("el => el.matches(':invalid')")

    # Past the browser, the server refuses it too, and says why.
    name.evaluate("el => el.removeAttribute('pattern')")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_test_id("start-error")).to_contain_text("letters, digits, '-' and '_'")
    expect(page.get_by_label("Execution name")).to_have_value("bad name!")

    # Started from the form: its page, and the function once in the list's filter.
    started = f"from-browser-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Execution name").fill(started)
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".alert-success")).to_contain_text(f"Started {started}")
    sync.sync_once(sandbox_source)
    page.goto(f"{live_server.url}/executions/")
    options = page.locator("#filter-function option", has_text="order-processor")
    expect(options).to_have_count(1)


@SIZES
def test_a_bulk_stop_lists_each_execution_with_its_outcome_on_any_screen(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    user = make_user("bea", "operator")
    arns = [
        start(lambda_sandbox, "coffee-order", {}, f"bulk-{uuid.uuid4().hex[:6]}") for _ in range(2)
    ]
    done = start(
        lambda_sandbox, "order-processor", {"orderId": "B"}, f"bulk-{uuid.uuid4().hex[:6]}"
    )
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    wait_for_status(lambda_sandbox, done)
    executions = mirrored_all(sandbox_source, [*arns, done])
    job = bulk.create_stop_job(User.objects.get(pk=user.pk), [e.pk for e in executions])
    bulk.run_bulk_stop(job.pk)
    page.set_viewport_size(size)
    page.emulate_media(reduced_motion="reduce")  # dialogs open without a fade to wait out
    log_in(page, live_server.url, "bea")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")

    results = page.get_by_test_id("bulk-result")
    expect(results).to_have_count(3)
    expect(results.get_by_test_id("bulk-outcome")).to_have_text(
        [re.compile("stop sent"), re.compile("stop sent"), re.compile("failed.*already ended")]
    )
    for result, execution in zip(results.all(), executions, strict=True):
        link = result.get_by_role("link", name=execution.name)
        expect(link).to_have_attribute("href", f"/executions/{execution.pk}/")
        _fits_across(page, link)
    _screenshots(page, "bulk-stop-result", size)
