"""A safe bulk stop in chromium: the preview says how many and which (the first rows, the
functions and sources they span), confirm, the job's page shows a skipped execution with
its reason, and the person cancels the job; on a desktop and a phone, light and dark."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import Page, expect

from actions import bulk
from console.celery import app as celery_app
from executions import sync
from executions.models import BulkJob, Execution
from sandbox.client import start, wait_for_callback, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot
from tests.factories import mirrored_all

SIZES = ({"width": 1440, "height": 900}, {"width": 390, "height": 844})
THEMES = ("light", "dark")


def _theme(page: Page, theme: str) -> None:
    page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)


def _no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _job_screenshots(page: Page, name: str) -> None:
    for size in SIZES:
        page.set_viewport_size(size)
        for theme in THEMES:
            _theme(page, theme)
            page.reload()
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            _no_sideways_scroll(page)
            screenshot(page, f"{name}-{size['width']}-{theme}.png")


def test_a_person_previews_confirms_sees_a_skip_and_cancels_a_bulk_stop(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = f"safe-{uuid.uuid4().hex[:6]}"
    arns = [start(lambda_sandbox, "coffee-order", {}, f"{tag}-{i}") for i in range(3)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    mirrored_all(sandbox_source, arns)
    make_user("bea", "operator")
    page.emulate_media(reduced_motion="reduce")
    log_in(page, live_server.url, "bea")
    listing = f"{live_server.url}/executions/?name={tag}"

    # The preview, on every screen: it states the count, the first rows and the span.
    for size in SIZES:
        page.set_viewport_size(size)
        for theme in THEMES:
            page.goto(listing)
            _theme(page, theme)
            page.goto(listing)
            page.get_by_test_id("bulk-stop-filter").click()
            expect(page.get_by_test_id("bulk-confirm")).to_have_text("Stop 3 executions?")
            expect(page.get_by_test_id("bulk-function")).to_have_text(
                [f"3 · coffee-order ({sandbox_source.name})"]
            )
            expect(page.get_by_test_id("bulk-source")).to_have_text([f"3 · {sandbox_source.name}"])
            rows = page.get_by_test_id("bulk-preview-row")
            expect(rows).to_have_count(3)
            expect(rows.first).to_contain_text(f"{tag}-2")
            expect(rows.first).to_contain_text("coffee-order")
            _no_sideways_scroll(page)
            screenshot(page, f"safe-bulk-preview-{size['width']}-{theme}.png")

    # One more starts matching after the preview: confirming shows the new set, not acts.
    late = start(lambda_sandbox, "coffee-order", {}, f"{tag}-3")
    wait_for_callback(lambda_sandbox, late, "baristaAccepts")
    mirrored_all(sandbox_source, [late])
    page.set_viewport_size(SIZES[0])
    _theme(page, "light")
    page.get_by_test_id("bulk-confirm-button").click()
    expect(page.get_by_test_id("bulk-changed")).to_contain_text("1 more now matches the filter.")
    expect(page.get_by_test_id("bulk-confirm")).to_have_text("Stop 4 executions?")
    assert not BulkJob.objects.exists()
    screenshot(page, "safe-bulk-changed-1440-light.png")

    # Confirmed: the job is queued (no worker here: this test runs its steps itself).
    try:
        page.get_by_test_id("bulk-confirm-button").click()
        expect(page.get_by_test_id("bulk-count-left")).to_have_text("4")
        job = BulkJob.objects.get()
        assert re.search(rf"/jobs/{job.pk}/$", page.url)
        expect(page.get_by_test_id("bulk-outcome")).to_have_text(["queued"] * 4)

        # The first in the set (the newest) ends before its turn.
        first = Execution.objects.get(pk=job.execution_ids[0])
        callback_id = wait_for_callback(lambda_sandbox, first.arn, "baristaAccepts")
        lambda_sandbox.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=json.dumps({"accepted": False})
        )
        wait_for_status(lambda_sandbox, first.arn)
        sync.sync_arn(sandbox_source, first.arn)

        def after_the_first(running: BulkJob) -> None:
            """The person watches the page, sees the skip and cancels (once)."""
            if BulkJob.objects.get(pk=running.pk).cancelled:
                return
            skipped = page.locator('[data-testid="bulk-result"][data-outcome="skipped"]')
            expect(skipped).to_have_count(1)
            expect(skipped.get_by_test_id("bulk-skip-reason")).to_contain_text(
                "Ended meanwhile: Succeeded at"
            )
            expect(page.get_by_test_id("bulk-count-skipped")).to_have_text("1")
            expect(page.get_by_test_id("bulk-count-left")).to_have_text("3")
            screenshot(page, "safe-bulk-running-1440-dark.png")
            page.get_by_test_id("bulk-cancel").click()
            expect(page.get_by_test_id("bulk-cancelling")).to_contain_text("asked by bea")

        result = bulk.run_bulk_stop(job.pk, after_each=after_the_first)
    finally:
        celery_app.control.purge()  # the queued task no worker here will run

    assert result == {"job_id": job.pk, "done": 1, "failed": 0, "skipped": 1, "cancelled": True}
    page.reload()
    expect(page.get_by_test_id("bulk-cancelled")).to_have_text("Cancelled by bea after 1 of 4")
    expect(page.get_by_test_id("bulk-outcome")).to_have_text(
        [
            re.compile(r"^\s*skipped Ended meanwhile: Succeeded at"),
            *[re.compile(r"^\s*not acted on the job was cancelled first")] * 3,
        ]
    )
    expect(page.get_by_test_id("bulk-cancel")).to_have_count(0)
    _job_screenshots(page, "safe-bulk-cancelled")
    statuses = [
        lambda_sandbox.get_durable_execution(DurableExecutionArn=e.arn)["Status"]
        for e in Execution.objects.filter(pk__in=job.execution_ids[1:])
    ]
    assert statuses == ["RUNNING"] * 3
