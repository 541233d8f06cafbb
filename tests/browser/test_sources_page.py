"""In chromium: an admin adds the sandbox as a source (after the form refused a bad one),
tests its connection, pauses it and finds it paused in the list; a viewer reads the same
pages with no button to change them. On a desktop and a phone, light and dark."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from executions import sync
from executions.models import AuditEntry, Source
from tests.browser.helpers import log_in, make_user, screenshot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def _screenshots(page: Page, name: str) -> None:
    width = page.viewport_size["width"]
    for theme in ("light", "dark"):
        page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
        screenshot(page, f"{name}-{width}-{theme}.png")


def _nothing_wider_than_the_screen(page: Page) -> None:
    # Nothing runs off the right edge (the page would scroll sideways on a phone).
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_an_admin_adds_tests_and_pauses_a_source(live_server, page: Page, sandbox, size):
    make_user("ada", staff=True)
    page.set_viewport_size(size)
    log_in(page, live_server.url, "ada")

    # Found from the navigation, as a person would.
    if size is PHONE:
        page.get_by_role("button", name="Toggle navigation").click()
    page.get_by_role("link", name="Sources", exact=True).click()
    expect(page.get_by_test_id("sources-empty")).to_be_visible()
    page.get_by_test_id("new-source").click()

    page.get_by_label("Name", exact=True).fill("local sandbox")
    page.get_by_label("Endpoint URL").fill(sandbox.endpoint_url)
    page.get_by_label("Region").fill(sandbox.region)
    page.get_by_label("Credentials").select_option("none")
    page.get_by_test_id("save-source").click()
    expect(page.get_by_test_id("source-errors")).to_be_visible()
    errors = page.get_by_test_id("field-error")
    expect(errors.filter(has_text="Use only letters, digits, - and _")).to_have_count(1)
    expect(errors.filter(has_text="Name at least one function")).to_have_count(1)
    _nothing_wider_than_the_screen(page)
    _screenshots(page, "sources-form-refused")

    page.get_by_label("Name", exact=True).fill("local-sandbox")
    page.get_by_label("Also watch every durable function").check()
    page.get_by_test_id("save-source").click()
    expect(page.locator(".alert-success")).to_contain_text("Added the source local-sandbox")
    expect(page.get_by_test_id("source-name")).to_have_text("local-sandbox")

    page.get_by_test_id("test-connection").click()
    expect(page.locator(".alert-success")).to_contain_text("The connection to local-sandbox works.")
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("Connection test: it works")
    expect(result.locator('[data-testid="test-check"][data-ok="no"]')).to_have_count(0)
    expect(
        result.get_by_test_id("test-check").filter(has_text="ListFunctions answered")
    ).to_have_count(1)
    _nothing_wider_than_the_screen(page)
    screenshot(page, f"sources-tested-{size['width']}.png")

    # What the worker would do next: poll it once (functions, their DurableConfig).
    assert not sync.poll_source(Source.objects.get(name="local-sandbox")).error
    page.reload()
    expect(page.get_by_test_id("source-state")).to_have_text("keeping up")
    coffee = page.locator('[data-testid="function-row"][data-function="coffee-order"]')
    expect(coffee.get_by_test_id("function-retention")).not_to_have_text("—")
    expect(coffee.get_by_test_id("function-timeout")).not_to_have_text("—")

    page.get_by_test_id("pause-source").click()
    expect(page.locator(".alert-success")).to_contain_text("Paused the source local-sandbox")
    expect(page.get_by_test_id("source-state")).to_have_text("paused")
    expect(page.get_by_test_id("resume-source")).to_be_visible()
    _screenshots(page, "sources-detail")

    page.get_by_role("link", name="← Sources").click()
    row = page.locator('[data-testid="source-row"][data-source="local-sandbox"]')
    expect(row.get_by_test_id("source-state")).to_have_text("paused")
    expect(row).to_contain_text(sandbox.endpoint_url)
    expect(row.get_by_test_id("source-functions")).to_contain_text("times out after")
    _nothing_wider_than_the_screen(page)
    _screenshots(page, "sources-list")

    page.goto(f"{live_server.url}/sources/{Source.objects.get().pk}/delete")
    expect(page.get_by_test_id("remove-title")).to_contain_text("local-sandbox")
    _screenshots(page, "sources-remove")

    source = Source.objects.get(name="local-sandbox")
    assert not source.enabled and source.discover
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "sign_in",
        "source_created",
        "source_tested",
        "source_paused",
    ]


def test_a_viewer_reads_the_sources_with_no_button_to_change_them(live_server, page: Page):
    source = Source.objects.create(
        name="prod-eu",
        region="eu-west-1",
        role_arn="arn:aws:iam::123456789012:role/console-reader",
        function_names=["orders"],
        enabled=True,
    )
    make_user("vera", "viewer")
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "vera")
    page.goto(f"{live_server.url}/sources/")
    row = page.locator('[data-testid="source-row"][data-source="prod-eu"]')
    expect(row).to_contain_text("123456789012")
    expect(page.get_by_test_id("new-source")).to_have_count(0)
    row.get_by_role("link", name="prod-eu").click()
    expect(page.get_by_test_id("source-name")).to_have_text("prod-eu")
    expect(page.get_by_test_id("source-actions")).to_have_count(0)
    expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
    screenshot(page, "sources-viewer-1440-light.png")
    # The edit page itself is the one 403 page.
    page.goto(f"{live_server.url}/sources/{source.pk}/edit")
    expect(page.get_by_test_id("forbidden")).to_contain_text("is for admins")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_django_admin_names_audit_entries_and_shows_their_table_whole(
    live_server, page: Page, size
):
    source = Source.objects.create(name="prod-eu", region="eu-west-1")
    AuditEntry.objects.create(
        username="ada",
        action="source_created",
        source=source,
        source_name="prod-eu",
        execution_arn="arn:aws:lambda:eu-west-1:123456789012:function:orders:$LATEST"
        "/durable-execution/order-42/0f3c9d2e-1b7a-4c55-9e0f-6a2d8b1c3e4f",
    )
    make_user("ada", staff=True).__class__.objects.filter(username="ada").update(is_superuser=True)
    page.set_viewport_size(size)
    log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("link", name="Audit entries")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("entrys")
    page.get_by_role("link", name="Audit entries").click()
    expect(page.locator("#result_list")).to_contain_text("order-42 (orders)")
    if size is DESKTOP:
        # The table fits its column: nothing of it is cut off at the right.
        assert page.evaluate(
            "(() => { const t = document.querySelector('#result_list');"
            " return t.scrollWidth <= t.parentElement.clientWidth; })()"
        )
    screenshot(page, f"admin-audit-entries-{size['width']}.png")
