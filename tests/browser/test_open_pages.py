"""In chromium: pages left open while executions change never contradict themselves.

An execution's page (its graph tab, and another window on its operations tab) stays open
while a callback is answered and the execution finishes; the list stays open while an
execution is stopped. Every swap htmx makes is recorded as the browser paints it next (a
snapshot of every part in the animation frame after the swap: an answer's out-of-band parts
and its main part go in in one task, and htmx's settling, which gives a swapped element
with an id its old class for a while, must be over by then), and every 100 ms in between;
each snapshot must agree with itself: the
header's status, the graph's callback and End, the tree's callback, the buttons, the
list's counts, its "Stop all N" and its rows.

Then a stopped execution's page and a retrying step's panel, at both sizes and in both
themes, saved under test-artifacts/.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from actions import services
from executions import sync
from executions.models import Execution
from sandbox.client import start, wait_for, wait_for_callback
from tests import factories
from tests.browser.helpers import log_in, make_user, screenshot

SIZES = [{"width": 1440, "height": 900}, {"width": 390, "height": 844}]

# Records, after every htmx swap, what each part of an execution's page shows.
RECORD_EXECUTION = """callbackId => {
  window.__snaps = [];
  const snap = () => {
    const header = document.getElementById("execution-header");
    const area = document.getElementById("tab-area");
    const node = id => document.querySelector(`g[id="${id}"]`);
    const state = el => el ? [...el.classList].find(c => c.startsWith("state-")) || "" : null;
    const row = document.querySelector(`tr[data-op="${callbackId}"] .badge`);
    window.__snaps.push({
      status: header.dataset.status,
      state: header.dataset.state,
      headerMoment: header.dataset.mirrorState,
      tabMoment: area.dataset.mirrorState,
      callback: state(node("op-" + callbackId)),
      end: state(node("end")),
      tree: row ? row.textContent.trim() : null,
      stop: !!document.querySelector('[data-testid="stop-open"]'),
    });
  };
  snap();
  document.body.addEventListener("htmx:afterSwap", () => window.requestAnimationFrame(snap));
  window.setInterval(snap, 100);
}"""

RECORD_LIST = """() => {
  window.__snaps = [];
  const snap = () => {
    const count = s => (document.getElementById("count-" + s) || {}).textContent || "";
    const rows = [...document.querySelectorAll("#execution-rows tr")].map(r => r.dataset.status);
    const stopAll = document.querySelector('[data-testid="bulk-stop-filter"]');
    window.__snaps.push({
      running: count("RUNNING").trim(),
      stopped: count("STOPPED").trim(),
      rows: rows,
      stopAll: stopAll ? stopAll.textContent.trim() : "",
    });
  };
  snap();
  document.body.addEventListener("htmx:afterSwap", () => window.requestAnimationFrame(snap));
  window.setInterval(snap, 100);
}"""

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}


def _agrees(snap: dict[str, Any]) -> None:
    """One snapshot of an execution's page tells one story."""
    assert snap["headerMoment"] == snap["tabMoment"], snap
    ended = snap["status"] in TERMINAL
    assert snap["stop"] is not ended, snap
    if snap["callback"] is not None:  # the graph tab
        assert snap["end"] == (f"state-{snap['state']}" if ended else "state-not_started"), snap
        if ended:
            assert snap["callback"] != "state-waiting", snap
        if snap["callback"] == "state-waiting":
            assert snap["status"] == "RUNNING", snap
    if snap["tree"] is not None:  # the operations tab
        if ended:
            assert snap["tree"] != "Waiting", snap
        if snap["tree"] == "Waiting":
            assert snap["status"] == "RUNNING", snap


def _sync_until(execution: Execution, done: Any) -> Execution:
    """The console's sync, run here as the scheduler would, until `done` holds."""

    def step() -> Execution | None:
        sync.sync_execution(execution.pk, force=True)
        fresh = Execution.objects.get(pk=execution.pk)
        return fresh if done(fresh) else None

    return wait_for(step, 60, interval=0.5, what="the mirror caught up")


def test_an_open_execution_page_stays_one_moment_through_an_answer(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    name = f"open-{uuid.uuid4().hex[:6]}"
    arn = start(
        lambda_sandbox,
        "fraud-detection",
        {"transactionId": name, "amount": 4000, "noFlake": True},
        name,
    )
    callback_id = wait_for_callback(lambda_sandbox, arn, "humanVerification")
    execution = factories.mirrored(sandbox_source, arn)
    callback = execution.operations.get(type="CALLBACK").operation_id
    make_user("olga", "operator")
    log_in(page, live_server.url, "olga")
    base = f"{live_server.url}/executions/{execution.pk}"

    graph = page
    graph.goto(f"{base}/")
    expect(graph.locator(f'g[id="op-{callback}"]')).to_have_class(re.compile(r"\bstate-waiting\b"))
    tree = page.context.new_page()
    tree.goto(f"{base}/operations/")
    expect(tree.locator(f'tr[data-op="{callback}"] .badge')).to_have_text("Waiting")
    for open_page in (graph, tree):
        expect(open_page.get_by_test_id("header-status")).to_have_text("Waiting")
        open_page.evaluate(RECORD_EXECUTION, callback)

    lambda_sandbox.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'{"approved": true}'
    )
    _sync_until(execution, lambda e: e.settled)

    for open_page in (graph, tree):
        expect(open_page.get_by_test_id("header-status")).to_have_text("Succeeded", timeout=15_000)
    expect(graph.locator('g[id="end"]')).to_have_class(re.compile(r"\bstate-succeeded\b"))
    expect(tree.locator(f'tr[data-op="{callback}"] .badge')).to_have_text("Succeeded")
    for open_page in (graph, tree):
        snaps = open_page.evaluate("window.__snaps")
        assert len(snaps) >= 2, snaps  # the first look, and at least the change
        for snap in snaps:
            _agrees(snap)
        assert snaps[-1]["status"] == "SUCCEEDED"
    assert graph.evaluate("window.__snaps")[-1]["callback"] == "state-succeeded"


def test_an_open_list_counts_what_its_rows_show_through_a_stop(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    arns = [start(lambda_sandbox, "coffee-order", {}, f"open-list-{tag}-{i}") for i in range(3)]
    for arn in arns:
        wait_for_callback(lambda_sandbox, arn)
    executions = factories.mirrored_all(sandbox_source, arns)
    stopper = make_user("lena", "operator")
    log_in(page, live_server.url, "lena")
    page.goto(f"{live_server.url}/executions/?name=open-list-{tag}")
    expect(page.locator("#count-RUNNING")).to_have_text("3")
    expect(page.get_by_test_id("bulk-stop-filter")).to_have_text("Stop all 3 running that match…")
    page.evaluate(RECORD_LIST)

    # Stopped from elsewhere (another person's page: the same service).
    assert services.stop(stopper, executions[0], "Runaway", "a test").ok
    row = page.locator(f"#execution-{executions[0].pk}")
    expect(row.get_by_test_id("row-status")).to_have_text("Stopped", timeout=15_000)
    expect(page.locator("#count-RUNNING")).to_have_text("2")
    expect(page.get_by_test_id("bulk-stop-filter")).to_have_text("Stop all 2 running that match…")
    screenshot(page, "open-list-after-a-stop.png")

    snaps = page.evaluate("window.__snaps")
    assert len(snaps) >= 2, snaps
    for snap in snaps:
        running = snap["rows"].count("RUNNING")
        assert snap["running"] == str(running), snap
        assert snap["stopped"] == str(snap["rows"].count("STOPPED")), snap
        assert snap["stopAll"] == f"Stop all {running} running that match…", snap
    assert snaps[-1]["rows"].count("STOPPED") == 1
    for execution in executions[1:]:
        services.stop(stopper, execution, "Cleanup", "end of the test")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: str(s["width"]))
def test_screenshots_of_a_stopped_execution_and_a_retrying_step(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    tag = uuid.uuid4().hex[:6]
    stopped_arn = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"shot-stop-{tag}")
    retry_arn = start(
        lambda_sandbox,
        "fraud-detection",
        {"transactionId": tag, "amount": 20, "retryDelaySeconds": 600},
        f"shot-retry-{tag}",
    )
    wait_for_callback(lambda_sandbox, stopped_arn, "baristaAccepts")
    stopped = factories.mirrored(sandbox_source, stopped_arn)
    person = make_user("sam", "operator")
    services.stop(person, stopped, "OrderCancelled", "The customer walked out before paying.")
    _sync_until(stopped, lambda e: e.settled)
    retrying = wait_for(
        lambda: (
            (e := factories.mirrored(sandbox_source, retry_arn))
            and e.operations.filter(name="scoreRisk", status="PENDING").exists()
            and e
        ),
        60,
        what="the scoring step waiting for its retry",
    )
    step = retrying.operations.get(name="scoreRisk").operation_id
    callback = stopped.operations.get(type="CALLBACK").operation_id

    page.set_viewport_size(size)
    log_in(page, live_server.url, "sam")
    width = size["width"]
    try:
        for theme in ("light", "dark"):
            page.goto(f"{live_server.url}/executions/{stopped.pk}/")
            page.evaluate("t => localStorage.setItem('durable-console-theme', t)", theme)
            page.reload()
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            expect(page.get_by_test_id("stopped-by")).to_contain_text("Stopped by sam")
            expect(page.get_by_test_id("stop-reason")).to_have_text(
                "OrderCancelled: The customer walked out before paying."
            )
            expect(page.locator(f'g[id="op-{callback}"]')).to_have_class(
                re.compile(r"\bstate-ended\b")
            )
            screenshot(page, f"stopped-execution-{width}-{theme}.png")
            page.goto(f"{live_server.url}/executions/{stopped.pk}/operations/")
            expect(page.locator(f'tr[data-op="{callback}"] .badge')).to_have_text("Cancelled")
            screenshot(page, f"stopped-execution-tree-{width}-{theme}.png")

            page.goto(f"{live_server.url}/executions/{retrying.pk}/operations/")
            marker = page.locator(f'tr[data-op="{step}"]').get_by_test_id("retry-marker")
            expect(marker).to_contain_text("↻ attempt 2 in ")
            page.locator(f'tr[data-op="{step}"] .op-link').click()
            panel = page.get_by_test_id("pending-retry")
            expect(panel).to_be_visible()
            # The side panel has slid in (Bootstrap's offcanvas: "showing" while it moves).
            expect(page.locator("#operation-panel")).to_have_class(re.compile(r"\bshow\b"))
            expect(page.locator("#operation-panel")).not_to_have_class(re.compile("showing"))
            expect(panel.get_by_test_id("next-attempt-countdown")).to_contain_text("in ")
            expect(panel.get_by_test_id("last-failure-message")).to_have_text(
                "risk scoring service timed out, retrying"
            )
            screenshot(page, f"retrying-step-panel-{width}-{theme}.png")
    finally:
        lambda_sandbox.stop_durable_execution(DurableExecutionArn=retry_arn)
