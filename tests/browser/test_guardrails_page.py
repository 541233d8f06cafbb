"""In chromium: an admin makes a guardrail for a step that really retries forever, reads its
dry run, switches it on, and watches the worker (Celery beat runs the guardrails) stop the
runaway; the form's refusal reads at phone width too."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from executions import sync
from executions.models import Operation
from sandbox.client import start, wait_for
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme


def _screenshots(page: Page, name: str) -> None:
    for size, label in ((DESKTOP, "1440"), (PHONE, "390")):
        page.set_viewport_size(size)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            screenshot(page, f"{name}-{label}-{theme}.png")
    page.set_viewport_size(DESKTOP)
    set_theme(page, "light")


def _reload_until(page: Page, seen, what: str) -> None:
    """Reload the page, as a person would, until `seen()` (the worker's beat runs rules)."""

    def look() -> bool:
        page.reload()
        return seen()

    wait_for(look, 60, interval=1, what=what)


def test_an_admin_reads_a_dry_run_switches_the_rule_on_and_the_runaway_is_stopped(
    live_server, page: Page, sandbox_source, lambda_sandbox, celery_worker
):
    make_user("ada", staff=True)
    name = f"runaway-{uuid.uuid4().hex[:6]}"
    arn = start(lambda_sandbox, "payment-retrier", {"retryDelaySeconds": 1}, name)

    def retried() -> bool:
        execution = sync.sync_arn(sandbox_source, arn)
        op = Operation.objects.filter(execution=execution, name="chargeCard").first()
        return bool(op and op.attempt_count >= 3)

    wait_for(retried, 60, interval=0.5, what=f"{name} retrying")
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/attention/")
    page.get_by_test_id("guardrails-link").click()
    expect(page.get_by_test_id("guardrails-empty")).to_be_visible()
    page.get_by_test_id("new-guardrail").click()

    # First a threshold that would match every execution: refused, with the reason.
    page.get_by_label("Name", exact=True).fill("runaway payments")
    page.get_by_label("Source").select_option(label="sandbox")
    page.get_by_label("Function name pattern").fill("payment-*")
    page.get_by_label("Condition").select_option(label="Retrying again and again")
    page.get_by_label("Threshold").fill("1")
    page.get_by_label("Action").select_option(label="Stop")
    page.get_by_test_id("save-guardrail").click()
    expect(page.get_by_test_id("guardrail-errors")).to_be_visible()
    expect(page.get_by_test_id("field-error")).to_contain_text(
        "under 2 would match every execution"
    )
    _screenshots(page, "guardrail-form-refused")

    page.get_by_label("Threshold").fill("3")
    page.get_by_test_id("save-guardrail").click()
    expect(page.get_by_test_id("guardrail-mode")).to_have_text("Dry run")
    now = page.get_by_test_id("guardrail-now-table")
    expect(now).to_contain_text(name)
    expect(now).to_contain_text("step 'chargeCard' has retried")
    expect(page.get_by_test_id("guardrail-past")).to_contain_text("would have stopped it")
    # The worker's beat runs the dry run: it records what it would do, and does nothing.
    history = page.get_by_test_id("firing-row")
    _reload_until(page, lambda: history.filter(has_text=name).count() > 0, "the dry run's record")
    expect(history.first).to_have_attribute("data-outcome", "would_act")
    _screenshots(page, "guardrail-dry-run")

    page.get_by_test_id("switch-on").click()
    expect(page.get_by_test_id("guardrail-mode")).to_have_text("On")
    acted = page.locator('[data-outcome="acted"]')
    _reload_until(page, lambda: acted.count() > 0, "the guardrail's stop")
    expect(page.locator('[data-outcome="acted"]')).to_contain_text("Stopped it")
    expect(page.get_by_test_id("breaker")).to_contain_text("1 of 10 automatic stops")
    wait_for(
        lambda: (
            lambda_sandbox.get_durable_execution(DurableExecutionArn=arn)["Status"] == "STOPPED"
        ),
        30,
        what=f"{name} stopped",
    )
    _screenshots(page, "guardrail-on")

    page.goto(f"{live_server.url}/audit/")
    row = page.get_by_test_id("audit-row").filter(has_text=arn)
    expect(row).to_contain_text("guardrail:runaway payments")
