"""In chromium, end to end: a callback the function's own telemetry told of before any
history read gave its id (the id an answer is sent with). The sandbox's approval-rounds
runs with the SDK's telemetry plugin, sending its records to a local SQS queue; the
console applies them (telemetry.consume) and reads no history, so round 2's callback is
mirrored waiting, without an id, as in production. The inbox and the operation page show
it waiting, with the note in place of the answers; then the history read gives the id
(sync_execution, as the scheduler's worker would run it) and the buttons appear on the
open pages without a reload."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from domain import answers
from executions import schedule, sync
from executions.models import Execution, Operation
from sandbox.client import lambda_client, wait_for, wait_for_callback
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme
from tests.test_telemetry import (  # noqa: F401 (telemetry_sandbox: the fixture)
    _drain,
    _telemetry_source,
    rounds_told_by_records,
    telemetry_sandbox,
)


def _screenshots(page: Page, name: str, ready: str) -> None:
    """Each size and theme; `ready`: the test id that must show before each shot."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            expect(page.get_by_test_id(ready).first).to_be_visible()
            screenshot(page, f"{name}-{size['width']}-{theme}.png")
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")


def _told_by_records(source, execution: Execution, round_name: str) -> Operation:
    """Drain the records until they tell of the round's callback; no history read."""

    def told() -> Operation | None:
        _drain(source)
        return Operation.objects.filter(
            execution=execution, type="CALLBACK", name__startswith=f"{round_name} "
        ).first()

    callback = wait_for(told, timeout=30, what=f"{round_name} told by a record")
    assert (callback.status, callback.callback_id) == ("STARTED", "")
    return callback


def test_the_answer_buttons_follow_the_callback_id_on_the_open_pages(
    live_server,
    page: Page,
    telemetry_sandbox,  # noqa: F811
    local_sqs,
    api_calls,
):
    source = _telemetry_source("sandbox-telemetry-pages", telemetry_sandbox, local_sqs)
    client = lambda_client(telemetry_sandbox.endpoint_url)
    name = f"rounds-{uuid.uuid4().hex[:6]}"
    arn, first, execution = rounds_told_by_records(source, client, 3, name)
    assert sync.sync_execution(execution.pk).error == ""  # its first read
    # Round 1 answered outside the console: the records tell of round 2, no history read.
    client.send_durable_execution_callback_success(CallbackId=first, Result=b'"yes"')
    second = wait_for_callback(client, arn, "round-2")
    reads = api_calls.count("GetDurableExecutionHistory")
    callback = _told_by_records(source, execution, "round-2")
    assert api_calls.count("GetDurableExecutionHistory") == reads

    make_user("bea", "operator")
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "bea")
    page.goto(f"{live_server.url}/approvals/?execution={name}")
    row = page.get_by_test_id("approval-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("reading-callback-id")).to_contain_text(answers.ID_BEING_READ)
    expect(row.get_by_test_id("approve")).to_have_count(0)
    expect(row.get_by_test_id("bulk-check-disabled")).to_be_disabled()
    # Shown: its execution is read first.
    assert Execution.objects.get(pk=execution.pk).next_check_at == schedule.URGENT
    _screenshots(page, "callback-id-pending-inbox", "reading-callback-id")

    # The history read gives the id, and the open inbox shows the buttons by itself.
    page.evaluate("window.stillTheSamePage = true")
    assert sync.sync_execution(execution.pk, force=True).error == ""
    assert Operation.objects.get(pk=callback.pk).callback_id == second
    expect(row.get_by_test_id("approve")).to_be_visible(timeout=10_000)
    expect(row.get_by_test_id("reading-callback-id")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True
    # The row's box and dialog work as any other's.
    row.get_by_test_id("bulk-check").check()
    expect(page.get_by_test_id("bulk-count")).to_have_text("1 selected.")
    row.get_by_test_id("approve").click()
    dialog = page.locator(f"#approve-{callback.pk}")
    expect(dialog).to_be_visible()
    expect(dialog.locator("form")).to_have_attribute(
        "action", f"/executions/{execution.pk}/callbacks/{second}/succeed"
    )
    # A whole dialog, as the page's own: its form holds the header, the body and the footer.
    expect(dialog.locator("form.modal-content .modal-footer")).to_be_visible()
    expect(dialog.get_by_test_id("approve-payload")).to_have_value(answers.DEFAULT_RESULT)
    screenshot(page, "callback-id-read-dialog-1440-light.png")
    dialog.locator(".modal-footer").get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".modal-backdrop")).to_have_count(0)
    screenshot(page, "callback-id-read-inbox-1440-light.png")

    # Round 2 answered outside the console; round 3 told by the records: its operation
    # page shows the note, and the forms once the id is read.
    client.send_durable_execution_callback_success(CallbackId=second, Result=b'"yes"')
    third_id = wait_for_callback(client, arn, "round-3")
    third = _told_by_records(source, execution, "round-3")
    page.goto(f"{live_server.url}/executions/{execution.pk}/operations/{third.operation_id}")
    expect(page.get_by_test_id("reading-callback-id")).to_contain_text(answers.ID_BEING_READ)
    expect(page.get_by_test_id("callback-id-reading")).to_be_visible()
    expect(page.get_by_test_id("send-success")).to_have_count(0)
    _screenshots(page, "callback-id-pending-operation", "reading-callback-id")

    page.evaluate("window.stillTheSamePage = true")
    assert sync.sync_execution(execution.pk, force=True).error == ""
    expect(page.get_by_test_id("send-success")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("reading-callback-id")).to_have_count(0)
    expect(page.get_by_test_id("callback-id")).to_have_text(third_id)
    expect(page.get_by_test_id("callback-id-reading")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True
    form = page.get_by_test_id("callback-forms").locator("form").first
    expect(form).to_have_attribute(
        "action", f"/executions/{execution.pk}/callbacks/{third_id}/succeed"
    )
    screenshot(page, "callback-id-read-operation-1440-light.png")
