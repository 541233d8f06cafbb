"""Shared steps for browser tests."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests import factories
from tests.factories import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The two sizes every page is looked at in.
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

__all__ = [
    "ARTIFACTS",
    "DESKTOP",
    "PASSWORD",
    "PHONE",
    "log_in",
    "make_user",
    "screenshot",
    "set_theme",
]


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def make_user(username: str, role: str | None = None, *, staff: bool = False) -> User:
    """A person who signs in through the login form (log_in), so with PASSWORD."""
    return factories.user(username, role, staff=staff, password=PASSWORD)


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("username")).to_have_text(username)


def set_theme(page: Page, theme: str) -> None:
    """The colour theme, as the toggle saves it: the page reloaded in it, and every page
    after it."""
    page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
