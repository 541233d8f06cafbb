"""In chromium: a person filters the executions list, saves the view shared with a group, and
a second person of that group opens it from the navigation's Views menu and sees the same
filtered rows at the same URL; a view that no longer opens is marked in the menu and on the
saved views page with the reason. Screenshots at 1440x900 and 390x844, light and dark."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from browser.models import SavedView
from tests import factories
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme


def _screenshots(page: Page, name: str, open_it=None) -> None:
    """The page in both themes (each reload closes what was open: `open_it` opens it again)."""
    width = page.viewport_size["width"]
    for theme in ("light", "dark"):
        set_theme(page, theme)
        if open_it is not None:
            open_it(page)
        screenshot(page, f"{name}-{width}-{theme}.png")
    set_theme(page, "light")


def _open_views_menu(page: Page) -> None:
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        # Shown once Bootstrap's collapse has finished opening (not "collapsing").
        expect(page.locator("#main-nav")).to_have_class(re.compile(r"(^| )show( |$)"))
    page.get_by_test_id("views-menu").click()
    expect(page.get_by_test_id("views-menu-items")).to_be_visible()


def _open_save_form(page: Page) -> None:
    page.get_by_test_id("save-view-toggle").click()
    expect(page.get_by_test_id("save-view-form")).to_be_visible()


def _row_names(page: Page) -> list[str]:
    return page.locator("#execution-rows .name-cell a").all_inner_texts()


def _log_out(page: Page) -> None:
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():
        toggler.click()
    page.get_by_role("button", name="Log out").click()


def test_a_view_saved_for_a_group_opens_for_its_member_with_the_same_rows(live_server, page: Page):
    source = factories.offline_source("alpha")
    factories.running_execution(source, "pay-running", "payments-charge")
    factories.running_execution(source, "ship-running", "shipping-label")
    factories.running_execution(source, "pay-failed-1", "payments-charge", status="FAILED")
    factories.running_execution(source, "pay-failed-2", "payments-charge", status="FAILED")
    factories.running_execution(source, "ship-failed", "shipping-label", status="FAILED")
    team = Group.objects.create(name="payments-on-call")
    ana, bob = make_user("ana"), make_user("bob")
    ana.groups.add(team)
    bob.groups.add(team)
    # Bob's own view, saved when the list still knew the status "ARCHIVED".
    SavedView.objects.create(owner=bob, name="Archived runs", query="status=ARCHIVED")

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "ana")
    page.goto(f"{live_server.url}/executions/")
    expect(page.get_by_test_id("save-view-toggle")).to_have_count(0)  # nothing to save yet
    page.locator("#filter-function").select_option(label="payments-charge")
    page.locator('label[for="status-FAILED"]').click()
    expect(page.locator("#execution-rows tr")).to_have_count(2)
    filtered_url = page.url
    assert parse_qs(urlsplit(filtered_url).query)["status"] == ["FAILED"]
    ana_rows = sorted(_row_names(page))
    assert ana_rows == ["pay-failed-1", "pay-failed-2"]

    _open_save_form(page)
    expect(page.get_by_test_id("save-view-form")).to_contain_text(
        "Function: payments-charge (alpha) · Status: Failed"
    )
    _screenshots(page, "saved-views-save", _open_save_form)
    _open_save_form(page)
    page.get_by_test_id("save-view-name").fill("Failed payments")
    page.get_by_test_id("save-view-share").select_option(label="The group payments-on-call")
    page.get_by_test_id("save-view-submit").click()
    expect(page.locator(".alert-success")).to_contain_text("Saved the view “Failed payments”")
    assert page.url == filtered_url  # the saved view is the list's own URL
    _log_out(page)

    log_in(page, live_server.url, "bob")
    _open_views_menu(page)
    menu = page.get_by_test_id("views-menu-items")
    broken = menu.get_by_test_id("saved-view-broken")
    expect(broken).to_contain_text("Archived runs")
    expect(broken.get_by_test_id("saved-view-reason")).to_contain_text("“ARCHIVED” is not")
    _screenshots(page, "saved-views-menu", _open_views_menu)
    _open_views_menu(page)
    page.get_by_test_id("views-menu-items").locator(
        '[data-testid="saved-view-link"][data-view="Failed payments"]'
    ).click()
    expect(page.locator("#execution-rows tr")).to_have_count(2)
    assert page.url == filtered_url
    assert sorted(_row_names(page)) == ana_rows
    expect(page.locator("#filter-function")).to_have_value(
        parse_qs(urlsplit(filtered_url).query)["function"][0]
    )

    page.goto(f"{live_server.url}/views/")
    row = page.locator('[data-testid="saved-view-row"][data-view="Archived runs"]')
    expect(row).to_have_attribute("data-state", "broken")
    expect(row.get_by_test_id("saved-view-reason")).to_contain_text("“ARCHIVED” is not")
    shared = page.locator('[data-testid="saved-view-row"][data-view="Failed payments"]')
    expect(shared).to_have_attribute("data-state", "ok")
    expect(shared.get_by_test_id("saved-view-edit")).to_have_count(0)  # not bob's to change
    _screenshots(page, "saved-views-page")

    page.set_viewport_size(PHONE)
    _screenshots(page, "saved-views-page")
    page.goto(filtered_url)
    _screenshots(page, "saved-views-menu", _open_views_menu)
    _screenshots(page, "saved-views-save", _open_save_form)


def test_a_reason_of_needs_attention_is_saved_and_a_second_view_of_that_name_is_refused(
    live_server, page: Page
):
    make_user("ana", staff=True)  # staff: the navigation's longest row of links
    factories.offline_source("alpha")
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, "ana")
    # The Views menu keeps the navigation on one line on a desktop.
    brand, views = page.locator(".navbar-brand"), page.get_by_test_id("views-menu")
    for width in (1440, 1200):
        page.set_viewport_size({"width": width, "height": 900})
        top = brand.bounding_box()["y"]
        assert abs(views.bounding_box()["y"] - top) < brand.bounding_box()["height"]
        assert page.get_by_test_id("username").bounding_box()["y"] < top + 30
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/attention/")
    expect(page.get_by_test_id("save-view-toggle")).to_have_count(0)  # every reason: no filter
    page.locator("[data-testid=attention-checked] a").first.click()
    reason_url = page.url
    assert "reason=" in reason_url
    _screenshots(page, "saved-views-attention", _open_save_form)
    for attempt in range(2):
        _open_save_form(page)
        page.get_by_test_id("save-view-name").fill("My reason")
        page.get_by_test_id("save-view-submit").click()
        if attempt == 0:
            expect(page.locator(".alert-success")).to_contain_text("Saved the view “My reason”")
            assert page.url == reason_url
    expect(page.get_by_test_id("view-errors")).to_contain_text("The view was not saved")
    expect(page.get_by_test_id("field-error")).to_have_text(
        "You already have a view named “My reason”: choose another name."
    )
    _screenshots(page, "saved-views-refused")
    page.set_viewport_size(PHONE)
    _screenshots(page, "saved-views-refused")
    page.get_by_label("Name").fill("My other reason")
    page.get_by_test_id("view-save").click()
    expect(page.locator(".alert-success")).to_contain_text("Saved the view “My other reason”")
    assert page.url == reason_url
    assert sorted(SavedView.objects.values_list("name", flat=True)) == [
        "My other reason",
        "My reason",
    ]
