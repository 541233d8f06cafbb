"""In chromium: the needs-attention page lists what is likely wrong with the reason in
words, and a person stops a sandbox execution that retried from it, through the existing
stop form, and comes back to the page; the overview's card counts each reason and links to
it. Screenshots at 1440x900 and 390x844, light and dark."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry, AuditOutcome, Execution, Operation
from sandbox.client import start, wait_for_callback, wait_for_status
from tests.browser.helpers import log_in, make_user, screenshot
from tests.factories import offline_source, running_execution

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture(autouse=True)
def _no_cached_p95():
    cache.delete_pattern("*attention:p95:*")
    yield
    cache.delete_pattern("*attention:p95:*")


def _screenshots(page: Page, name: str, size: dict) -> None:
    for theme in ("light", "dark"):
        page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        screenshot(page, f"{name}-{size['width']}-{theme}.png")


def _no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _a_troubled_mirror() -> None:
    """Executions each wrong in its own way, on a source no sync reads."""
    source = offline_source("prod-eu")
    now = timezone.now()
    charging = running_execution(
        source, "order-8812", "payments", started_at=now - timedelta(minutes=40)
    )
    Operation.objects.create(
        execution=charging,
        operation_id="charge-1",
        name="charge",
        type="STEP",
        subtype="Step",
        status="PENDING",
        attempt_count=15,
    )
    running_execution(
        source,
        "ledger-2026-12-06",
        "bulk-ledger",
        operation_count=2870,
        started_at=now - timedelta(hours=2),
    )
    pausing = running_execution(
        source, "invoice-77", "invoicing", status="PAUSING", started_at=now - timedelta(hours=1)
    )
    stopped = running_execution(
        source, "import-3", "invoicing", started_at=now - timedelta(hours=5)
    )
    for execution, action, minutes in [(pausing, "pause", 25), (stopped, "stop", 12)]:
        at = now - timedelta(minutes=minutes)
        AuditEntry.objects.create(
            username="ops-anna",
            action=action,
            execution_arn=execution.arn,
            outcome=AuditOutcome.SUCCEEDED,
            created_at=at,
            completed_at=at,
        )


@SIZES
def test_the_page_says_why_each_execution_needs_attention(live_server, page: Page, size):
    make_user("olga", "operator")
    _a_troubled_mirror()
    page.set_viewport_size(size)
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/attention/")

    reasons = page.get_by_test_id("attention-reason")
    expect(reasons).to_have_text(
        [
            "Step 'charge' has retried 14 times and waits to retry again",
            "2,870 of 3,000 operations (130 left)",
            "Stuck in PAUSING for 25 min (pause sent by ops-anna)",
            "Stop sent 12 min ago by ops-anna, and it is still running",
        ]
    )
    expect(page.get_by_test_id("attention-total")).to_have_text("4 in all")
    _no_sideways_scroll(page)
    _screenshots(page, "attention", size)

    # Stop… opens the stop form inside the screen.
    first = page.get_by_test_id("attention-row").first
    first.get_by_test_id("attention-stop").click()
    form = first.locator(".stop-form form")  # loaded when opened
    expect(form).to_be_visible()
    box = form.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
    _no_sideways_scroll(page)
    screenshot(page, f"attention-stop-open-{size['width']}-dark.png")


def test_a_form_that_cannot_be_loaded_says_so_and_where_else_to_act(live_server, page: Page):
    """Stop… loads its form when opened: if the console refuses it by then (the person's
    operator role was taken away after the page loaded), the menu says so instead of
    "Loading the form…" for ever; a form opened before stays as it was."""
    olga = make_user("olga", "operator")
    _a_troubled_mirror()
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/attention/")
    first, second = (
        page.get_by_test_id("attention-row").nth(0),
        page.get_by_test_id("attention-row").nth(1),
    )
    first.get_by_test_id("attention-stop").click()
    expect(first.get_by_test_id("attention-stop-confirm")).to_be_visible()

    first.get_by_test_id("attention-stop").click()  # closed again (it covers the next row)

    olga.groups.clear()  # no longer an operator
    second.get_by_test_id("attention-stop").click()
    expect(second.locator("[data-lazy-placeholder]")).to_have_text(
        "The console refused the form: your roles no longer let you act on this execution. "
        "Reload the page to see what you may do."
    )
    screenshot(page, "attention-form-refused-1440-light.png")
    second.get_by_test_id("attention-stop").click()
    first.get_by_test_id("attention-stop").click()
    expect(first.get_by_test_id("attention-stop-confirm")).to_be_visible()


@SIZES
def test_the_overview_card_counts_each_reason_and_links_to_it(live_server, page: Page, size):
    make_user("olga", "operator")
    _a_troubled_mirror()
    page.set_viewport_size(size)
    log_in(page, live_server.url, "olga")

    card = page.get_by_test_id("overview-attention")
    expect(card.get_by_test_id("attention-total")).to_have_text("4")
    expect(card.get_by_test_id("attention-reason-retrying")).to_contain_text(
        "Retrying again and again 1"
    )
    expect(card.get_by_test_id("attention-reason-stuck")).to_contain_text(
        "Stuck pausing or deleting 1"
    )
    _no_sideways_scroll(page)
    _screenshots(page, "overview-attention", size)

    card.get_by_test_id("attention-reason-operations").click()
    expect(page).to_have_url(f"{live_server.url}/attention/?reason=operations")
    expect(page.get_by_test_id("attention-reason")).to_have_text(
        ["2,870 of 3,000 operations (130 left)"]
    )


def test_nothing_to_look_at_says_so_on_the_overview_and_the_page(live_server, page: Page):
    make_user("olga", "operator")
    offline_source("quiet")
    log_in(page, live_server.url, "olga")

    expect(page.get_by_test_id("attention-none")).to_contain_text("Nothing looks wrong")
    page.goto(f"{live_server.url}/attention/")
    expect(page.get_by_test_id("attention-empty")).to_contain_text("Nothing needs attention")
    expect(page.get_by_test_id("attention-checked").locator("li")).to_have_count(9)
    screenshot(page, "attention-empty-1280-light.png")


def test_an_operator_stops_a_retrying_sandbox_execution_from_the_page(
    live_server, page: Page, sandbox_source, lambda_sandbox, settings
):
    # fraud-detection's scoring step fails once and succeeds on its retry, then waits for a
    # person: with the threshold at two attempts it needs attention.
    settings.ATTENTION_RETRY_ATTEMPTS = 2
    arn = start(lambda_sandbox, "fraud-detection", {"amount": 4200}, f"attn-{uuid.uuid4().hex[:8]}")
    wait_for_callback(lambda_sandbox, arn, "humanVerification")
    execution = sync.sync_arn(sandbox_source, arn)
    make_user("olga", "operator")
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/attention/?reason=retrying")

    row = page.locator(f'[data-testid="attention-row"][data-execution="{execution.pk}"]')
    expect(row.get_by_test_id("attention-reason")).to_have_text(
        "Step 'scoreRisk' succeeded after 2 attempts"
    )
    row.get_by_test_id("attention-stop").click()
    row.get_by_test_id("attention-stop-confirm").click()

    expect(page).to_have_url(f"{live_server.url}/attention/?reason=retrying")
    expect(page.locator(".alert-success")).to_contain_text("Stop sent.")
    wait_for_status(lambda_sandbox, arn)
    assert Execution.objects.get(pk=execution.pk).status == "STOPPED"
    expect(row).to_have_count(0)
    entry = AuditEntry.objects.get(action="stop", execution_arn=arn)
    assert entry.username == "olga"
    # The stop's message says why, in the page's words (the person could edit it).
    assert "step 'scoreRisk' succeeded after 2 attempts" in entry.payload
