"""In chromium: the graph of every sample, node clicks opening panels, stopping from the
detail page, bulk stop from the list, and the whole console under its strict CSP."""

from __future__ import annotations

import json
import uuid

from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry, Execution
from sandbox.client import start, wait_for, wait_for_callback, wait_for_event, wait_for_status
from tests import factories
from tests.browser.helpers import log_in, make_user, screenshot

SAMPLES = {
    "order-processor": {"orderId": "G-1"},
    "fraud-detection": {"transactionId": "g", "amount": 20},
    "coffee-order": {"orderId": "g"},
    "durable-function-example": {"workflowId": "g"},
    "bulk-ledger": {"entries": 40},
}


def test_every_samples_graph_renders_and_a_node_opens_its_panel(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    arns = {
        fn: start(lambda_sandbox, fn, payload, f"graph-{fn}-{tag}")
        for fn, payload in SAMPLES.items()
    }
    wait_for_status(lambda_sandbox, arns["order-processor"])
    wait_for_status(lambda_sandbox, arns["fraud-detection"])
    wait_for_callback(lambda_sandbox, arns["coffee-order"])
    wait_for_callback(lambda_sandbox, arns["durable-function-example"])
    wait_for_callback(lambda_sandbox, arns["bulk-ledger"], "auditorSignOff", timeout=60)
    factories.mirrored_all(sandbox_source, list(arns.values()))
    make_user("gina", "operator")
    log_in(page, live_server.url, "gina")

    for function, arn in arns.items():
        execution = Execution.objects.get(arn=arn)
        page.goto(f"{live_server.url}/executions/{execution.pk}/graph/")
        canvas = page.get_by_test_id("graph-canvas")
        expect(canvas.locator("svg #start")).to_have_count(1)
        expect(canvas.locator("svg #end")).to_have_count(1)
        screenshot(page, f"graph-{function}.png")

    # The bulk ledger's 40 entries are drawn collapsed, with a summary node that expands.
    ledger = Execution.objects.get(arn=arns["bulk-ledger"])
    page.goto(f"{live_server.url}/executions/{ledger.pk}/graph/")
    expect(page.locator("[data-graph] svg [id^='more-']")).to_have_count(1)
    expect(page.locator("[data-graph] svg")).to_contain_text("37 more")
    page.locator("[data-graph] svg [id^='more-'] a").first.click()
    expect(page).to_have_url(
        f"{live_server.url}/executions/{ledger.pk}/graph/?expand=" + _map_id(ledger)
    )
    expect(page.locator("[data-graph] svg [id^='more-']")).to_have_count(0)
    screenshot(page, "graph-bulk-ledger-expanded.png")

    # Clicking the waiting callback opens its panel beside the graph, with the forms.
    example = Execution.objects.get(arn=arns["durable-function-example"])
    page.goto(f"{live_server.url}/executions/{example.pk}/")
    callback = example.operations.get(type="CALLBACK")
    page.locator(f"[data-graph] svg [id='op-{callback.operation_id}'] a").first.click()
    panel = page.get_by_test_id("graph-panel")
    expect(panel.get_by_test_id("operation-panel")).to_be_visible()
    expect(panel.get_by_test_id("callback-id")).to_have_text(callback.callback_id)
    expect(panel.get_by_test_id("send-success")).to_be_visible()
    page.get_by_test_id("graph-fit").click()
    page.get_by_test_id("graph-layout").click()
    expect(page).to_have_url(f"{live_server.url}/executions/{example.pk}/graph/?layout=LR")
    screenshot(page, "graph-node-panel.png")

    # Approving from the graph's panel: the execution moves on.
    page.goto(f"{live_server.url}/executions/{example.pk}/")
    page.locator(f"[data-graph] svg [id='op-{callback.operation_id}'] a").first.click()
    page.get_by_test_id("graph-panel").get_by_test_id("result-editor").fill('{"approved": true}')
    page.get_by_test_id("graph-panel").get_by_test_id("send-success").click()
    expect(page.locator(".alert-success")).to_contain_text("Approved: success sent")
    assert AuditEntry.objects.filter(action="callback_success", execution_arn=example.arn).exists()
    # Once it has run to the end, the whole flow is drawn green through to End.
    wait_for_status(lambda_sandbox, example.arn, timeout=60)
    sync.sync_execution(example.pk)
    page.goto(f"{live_server.url}/executions/{example.pk}/")
    expect(page.get_by_test_id("header-status")).to_have_text("Succeeded")
    expect(page.locator("[data-graph] svg #end")).to_contain_text("End")
    # callback, parallel + 3 branches, map + 5 iterations, child context: 12 clusters
    expect(page.locator("[data-graph] svg [id^='cluster-op-']")).to_have_count(12)
    screenshot(page, "graph-durable-function-example-succeeded.png")


def _map_id(execution: Execution) -> str:
    return execution.operations.get(subtype="Map").operation_id


def test_an_operator_stops_a_sleeping_execution_from_its_page(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    name = f"sleepy-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "durable-function-example", {"waitSeconds": 3600}, name)
    callback = wait_for_callback(lambda_sandbox, arn)
    lambda_sandbox.send_durable_execution_callback_success(CallbackId=callback, Result=b"{}")
    wait_for_event(lambda_sandbox, arn, "WaitStarted")
    execution = factories.mirrored(sandbox_source, arn)
    make_user("stan", "operator")
    log_in(page, live_server.url, "stan")
    page.goto(f"{live_server.url}/executions/{execution.pk}/")
    # Running, but asleep on its one-hour timer: the header says what it waits for.
    expect(page.get_by_test_id("header-status")).to_have_text("Waiting")
    expect(page.get_by_test_id("header-waiting")).to_contain_text("for a timer until")
    page.get_by_test_id("stop-open").click()
    page.get_by_label("Message").fill("Runaway: stopped in a test")
    screenshot(page, "stop-form.png")
    page.get_by_test_id("stop-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Stop sent")
    expect(page.get_by_test_id("header-status")).to_have_text("Stopped")
    assert Execution.objects.get(pk=execution.pk).status == "STOPPED"
    entry = AuditEntry.objects.get(action="stop", execution_arn=arn)
    assert entry.outcome == "SUCCEEDED" and json.loads(entry.payload)["ErrorMessage"].startswith(
        "Runaway"
    )


def test_an_operator_bulk_stops_three_executions_from_the_list(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    tag = uuid.uuid4().hex[:6]
    arns = [start(lambda_sandbox, "coffee-order", {}, f"bulk-{tag}-{i}") for i in range(3)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    factories.mirrored_all(sandbox_source, arns)
    make_user("bea", "operator")
    log_in(page, live_server.url, "bea")
    page.goto(f"{live_server.url}/executions/?name=bulk-{tag}")
    rows = page.get_by_test_id("select-row")
    expect(rows).to_have_count(3)
    for i in range(3):
        rows.nth(i).check()
    page.get_by_test_id("bulk-stop-selected").click()
    expect(page.get_by_test_id("bulk-confirm")).to_have_text("Stop 3 executions?")
    screenshot(page, "bulk-stop-confirm.png")
    page.get_by_test_id("bulk-confirm-button").click()
    expect(page.get_by_test_id("bulk-finished")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("3 of 3 done")
    screenshot(page, "bulk-stop-progress.png")
    wait_for(
        lambda: (
            set(Execution.objects.filter(arn__in=arns).values_list("status", flat=True))
            == {"STOPPED"}
        ),
        30,
        what="three stopped executions in the mirror",
    )
    assert (
        AuditEntry.objects.filter(
            action="stop", execution_arn__in=arns, outcome="SUCCEEDED"
        ).count()
        == 3
    )
