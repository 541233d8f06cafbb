from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_a_user_logs_in_through_the_form_and_sees_the_home_page(
    live_server, page: Page, django_user_model
):
    django_user_model.objects.create_user(username="ada", password="correct horse battery")

    page.goto(f"{live_server.url}/")

    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _screenshot(page, "login.png")

    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("username")).to_have_text("ada")
    expect(page.get_by_role("heading", name="No sources yet")).to_be_visible()
    _screenshot(page, "home.png")


def test_the_theme_menu_switches_to_dark_and_remembers_it(live_server, page: Page):
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_server.url}/login/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-bs-theme", "light")

    page.get_by_test_id("theme-menu").click()
    page.get_by_role("button", name="Dark", exact=True).click()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    _screenshot(page, "login-dark.png")

    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "dark")
