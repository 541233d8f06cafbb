"""In chromium: an execution past its source's retention, archived and pruned, found again
from the list's Archive link by its name and opened read-only (graph, events, timeline)
marked as archived; an execution AWS no longer has, whose header says the console's copy
is the only one; and the sync health page saying why the prune stopped."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Page, expect

from executions import sync
from executions.models import ArchivedExecution, Execution, Source
from retention import tasks
from sandbox import s3
from sandbox.client import start, wait_for, wait_for_status
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme


def _screenshots(page: Page, name: str) -> None:
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            screenshot(page, f"{name}-{size['width']}-{theme}.png")
        set_theme(page, "light")
        # Nothing wider than the screen.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} overflows by {overflow}px at {size['width']}"
    page.set_viewport_size(DESKTOP)


def _ended(source: Source, lambda_sandbox) -> Execution:
    name = f"arch-{uuid.uuid4().hex[:8]}"
    arn = start(lambda_sandbox, "order-processor", {"note": "kept"}, name)
    wait_for_status(lambda_sandbox, arn)
    return wait_for(lambda: (e := sync.sync_arn(source, arn)).history_complete and e, 60)


def test_an_archived_execution_is_found_and_read_and_the_pages_say_who_keeps_what(
    live_server, page: Page, settings, local_s3, sandbox_source, lambda_sandbox
):
    bucket = f"archive-{uuid.uuid4().hex[:10]}"
    s3.ensure_bucket(local_s3, bucket)
    settings.ARCHIVE_BUCKET = bucket
    settings.ARCHIVE_ENDPOINT_URL = local_s3
    settings.ARCHIVE_CREDENTIALS = "none"
    sync.refresh_functions(sandbox_source)
    old = _ended(sandbox_source, lambda_sandbox)
    gone = _ended(sandbox_source, lambda_sandbox)
    forty = timedelta(days=40)
    Execution.objects.filter(pk=old.pk).update(
        started_at=F("started_at") - forty, ended_at=F("ended_at") - forty
    )
    Source.objects.filter(pk=sandbox_source.pk).update(retention_days=30)
    tasks.prune_now()
    assert ArchivedExecution.objects.filter(arn=old.arn, pruned_at__isnull=False).exists()
    Execution.objects.filter(pk=gone.pk).update(aws_deleted_at=timezone.now())
    # What a prune that the bucket stopped leaves for the health page (the stop itself is
    # tests/test_retention.py's).
    Source.objects.filter(pk=sandbox_source.pk).update(
        last_prune={
            "at": timezone.now().isoformat(),
            "counts": {"executions": 1, "operations": 6, "events": 14, "kept_protected": 0,
                       "kept_syncing": 0},
            "stopped": f"The archive at {local_s3} does not answer (write): Could not connect "
            "to the endpoint URL.",
        }
    )  # fmt: skip
    make_user("sam", "viewer", staff=True)
    log_in(page, live_server.url, "sam")

    page.goto(f"{live_server.url}/executions/")
    page.get_by_test_id("archive-link").click()
    page.get_by_test_id("archive-q").fill(old.name)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("archived-link")).to_have_count(1)
    _screenshots(page, "archive-search")
    page.get_by_test_id("archived-link").click()
    expect(page.get_by_test_id("archived-badge")).to_have_text("archived")
    expect(page.get_by_test_id("archived-graph").locator("svg")).to_be_visible()
    _screenshots(page, "archived-graph")
    page.get_by_test_id("tab-events").click()
    expect(page.get_by_test_id("archived-events")).to_contain_text("ExecutionStarted")
    page.get_by_test_id("tab-timeline").click()
    expect(page.get_by_test_id("archived-timeline").locator(".tl-bar").first).to_be_visible()
    _screenshots(page, "archived-timeline")

    page.goto(f"{live_server.url}/executions/{gone.pk}/")
    expect(page.get_by_test_id("only-copy")).to_be_visible()
    expect(page.get_by_test_id("aws-retention")).to_contain_text(
        "the console's copy is the only one"
    )
    _screenshots(page, "execution-only-copy")

    page.goto(f"{live_server.url}/sync/")
    expect(page.get_by_test_id("prune-stopped")).to_contain_text("does not answer")
    _screenshots(page, "sync-health-prune-stopped")
