"""In chromium: browse executions mirrored from the sandbox, and watch one finish live.

The test plays the external system: it answers the execution's callback through boto3,
then runs the sync in this process (the live server shares the test database), and the
open pages pick the change up through their htmx polling, without a reload.
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page, expect

from executions import sync
from executions.models import Execution, Operation
from sandbox.client import start, wait_for_callback, wait_for_status
from tests.browser.helpers import PASSWORD, log_in, make_user, screenshot

TABS = ["graph", "operations", "events", "timeline", "io"]
MAP_ITEMS = [f"invoice batch {i}" for i in range(1, 31)]  # enough to start collapsed


def test_a_user_filters_the_list_opens_a_running_execution_and_watches_it_finish(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    make_user("grace")
    name = f"browse-{uuid.uuid4().hex[:6]}"
    arn = start(
        lambda_sandbox,
        "durable-function-example",
        {"workflowId": name, "waitSeconds": 1, "items": MAP_ITEMS},
        name,
    )
    failed_arn = start(lambda_sandbox, "order-processor", {}, f"broken-{uuid.uuid4().hex[:6]}")
    callback_id = wait_for_callback(lambda_sandbox, arn, "waitForExternalApproval")
    wait_for_status(lambda_sandbox, failed_arn)
    execution = sync.sync_arn(sandbox_source, arn)
    sync.sync_arn(sandbox_source, failed_arn)
    base = live_server.url
    log_in(page, base, "grace")

    # The list, then filtered to running executions (the filter lands in the URL).
    page.goto(f"{base}/executions/")
    row = page.locator(f"#execution-{execution.pk}")
    # It runs, but waits for its approval callback: "Waiting", and for what.
    expect(row.get_by_test_id("row-status")).to_have_text("Waiting")
    expect(row.get_by_test_id("row-waiting")).to_have_text("for a callback")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    screenshot(page, "executions-list.png")
    page.locator('label[for="status-RUNNING"]').click()
    expect(page).to_have_url(re.compile(r"status=RUNNING"))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#count-FAILED")).to_have_text("1")
    page.get_by_label("Name contains").fill("no-such-execution")
    expect(page.get_by_test_id("empty-result")).to_contain_text("No executions match")
    page.get_by_label("Name contains").fill(name)
    expect(page).to_have_url(re.compile(rf"name={name}"))
    expect(row).to_be_visible()
    screenshot(page, "executions-list-filtered.png")

    # A second window keeps the filtered list open, to see its row change later.
    watcher = page.context.new_page()
    watcher.goto(page.url)
    expect(watcher.locator(f"#execution-{execution.pk}").get_by_test_id("row-status")).to_have_text(
        "Waiting"
    )

    # The running execution's detail page, and each tab by its own URL.
    row.get_by_role("link", name=name).click()
    expect(page).to_have_url(f"{base}/executions/{execution.pk}/")
    expect(page.get_by_test_id("header-status")).to_have_text("Waiting")
    # The graph is the default tab.
    expect(page.locator("#tab-area")).to_have_attribute("data-tab", "graph")
    for tab in TABS:
        page.locator(f'[data-tab-link="{tab}"]').click()
        expect(page).to_have_url(f"{base}/executions/{execution.pk}/{tab}/")
        expect(page.locator("#tab-area")).to_have_attribute("data-tab", tab)
    expect(page.get_by_test_id("payload-input")).to_contain_text("invoice batch 30")
    page.go_back()
    expect(page.locator("#tab-area")).to_have_attribute("data-tab", "timeline")
    expect(page.get_by_test_id("timeline")).to_be_visible()

    # The callback's operation panel, with its id and a working copy button.
    page.locator('[data-tab-link="operations"]').click()
    # The callback is labelled like the context around it (one label rule, domain/operations.py):
    # its row is the one of type Callback.
    callback_row = page.locator("tr.tree-row").filter(
        has=page.locator(".op-type", has_text="Callback")
    )
    callback_row.get_by_role("link", name="waitForExternalApproval", exact=True).click()
    panel = page.locator("#operation-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("callback-id")).to_have_text(callback_id)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    panel.get_by_role("button", name="Copy the callback id").click()
    expect(panel.get_by_role("button", name="Copy the callback id")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == callback_id
    screenshot(page, "execution-operation-panel.png")
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()

    # The approval arrives from outside; the sync lands; both pages follow without a reload.
    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'{"approved": true, "by": "grace"}'
    )
    wait_for_status(lambda_sandbox, arn, timeout=120)
    page.evaluate("window.__sameDocument = true")
    sync.sync_execution(execution.pk)
    expect(page.get_by_test_id("header-status")).to_have_text("Succeeded", timeout=15_000)
    expect(watcher.locator(f"#execution-{execution.pk}").get_by_test_id("row-status")).to_have_text(
        "Succeeded", timeout=15_000
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload happened

    # The operations tab reloaded itself: the 30-item map is collapsed with its counts.
    mapped = Operation.objects.get(execution=execution, subtype="Map")
    map_row = page.locator(f'tr[data-op="{mapped.operation_id}"]')
    expect(map_row.get_by_test_id("collapsed-summary")).to_contain_text("30 succeeded")
    expect(page.get_by_role("link", name="map-item-29")).to_have_count(0)
    screenshot(page, "execution-operations.png")
    map_row.locator("[data-tree-expand]").click()
    expect(page.get_by_role("link", name="map-item-29", exact=True)).to_be_visible()
    toggle = page.locator(f'tr[data-op="{mapped.operation_id}"] [data-tree-toggle]')
    toggle.click()
    expect(page.get_by_role("link", name="map-item-29", exact=True)).to_be_hidden()
    toggle.click()
    expect(page.get_by_role("link", name="map-item-29", exact=True)).to_be_visible()
    screenshot(page, "execution-operations-map-expanded.png")

    for tab in ["graph", "events", "timeline", "io"]:
        page.locator(f'[data-tab-link="{tab}"]').click()
        expect(page.locator("#tab-area")).to_have_attribute("data-tab", tab)
        page.wait_for_load_state("networkidle")
        screenshot(page, f"execution-{tab}.png")
    expect(page.get_by_test_id("payload-result")).to_contain_text('"approved": true')

    watcher.close()
    assert Execution.objects.get(pk=execution.pk).status == "SUCCEEDED"


def test_times_show_in_the_browsers_zone_and_the_utc_choice_is_remembered(
    live_server, browser: Browser, sandbox_source, lambda_sandbox
):
    make_user("tokyo")
    arn = start(
        lambda_sandbox, "order-processor", {"orderId": "TZ-1"}, f"tz-{uuid.uuid4().hex[:6]}"
    )
    wait_for_status(lambda_sandbox, arn)
    execution = sync.sync_arn(sandbox_source, arn)
    context = browser.new_context(timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("tokyo")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{live_server.url}/executions/{execution.pk}/io/")
        started = execution.started_at.astimezone()
        tokyo_hour = (started.utctimetuple().tm_hour + 9) % 24
        first_time = page.locator("dd time.js-time").first
        expect(first_time).to_contain_text(f" {tokyo_hour:02d}:")
        expect(first_time).to_contain_text("GMT+9")

        page.locator("[data-tz-toggle]").first.click()
        expect(first_time).to_contain_text(f" {started.utctimetuple().tm_hour:02d}:")
        expect(first_time).to_contain_text("UTC")
        expect(page.locator("[data-tz-toggle]").first).to_have_text("Times: UTC")
        page.reload()
        expect(page.locator("dd time.js-time").first).to_contain_text("UTC")
    finally:
        context.close()


def test_the_list_says_how_to_add_a_source_when_none_exists(live_server, page: Page):
    make_user("newcomer")
    log_in(page, live_server.url, "newcomer")

    page.goto(f"{live_server.url}/executions/")

    expect(page.get_by_role("heading", name="No source configured yet")).to_be_visible()
    expect(page.locator("pre.command")).to_contain_text("python manage.py source add NAME")
    screenshot(page, "executions-no-source.png")
