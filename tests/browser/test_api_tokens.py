"""In chromium: a person makes an API token on their account page, sees its secret once,
copies it, uses it, and revokes it; staff revoke anyone's on the page of every token. On
a desktop and a phone, light and dark."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from access import api_tokens
from access.models import ApiToken
from tests.browser.helpers import log_in, make_user, screenshot

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
THEMES = pytest.mark.parametrize("theme", ["light", "dark"])


def _theme(page: Page, base_url: str, theme: str) -> None:
    """The colour theme, as the toggle saves it, for every page after this one."""
    page.goto(f"{base_url}/account/")
    page.evaluate("theme => localStorage.setItem('durable-console-theme', theme)", theme)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)


def _me(page: Page, base_url: str, secret: str):
    return page.request.get(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})


def _shot(page: Page, name: str, theme: str) -> None:
    screenshot(page, f"{name}-{page.viewport_size['width']}-{theme}.png")


@SIZES
@THEMES
def test_make_a_token_see_it_once_copy_it_use_it_and_revoke_it(
    live_server, page: Page, size, theme
):
    make_user("ada", "operator")
    page.set_viewport_size(size)
    log_in(page, live_server.url, "ada")
    _theme(page, live_server.url, theme)
    tokens = page.get_by_test_id("api-tokens")
    expect(tokens.get_by_test_id("tokens-empty")).to_be_visible()
    expect(page.get_by_label("Expires after (days)")).to_have_value("90")
    expect(tokens).to_contain_text("From 1 to 365 days.")

    # Refused with the reason beside the field; what was typed stays.
    page.get_by_label("Expires after (days)").fill("400")
    page.get_by_test_id("make-token").click()
    expect(page.get_by_test_id("token-errors")).to_be_visible()
    expect(tokens.get_by_test_id("field-error")).to_have_count(2)
    expect(tokens).to_contain_text("Give the token a name")
    expect(tokens).to_contain_text("A token lasts from 1 to 365 days")
    expect(page.get_by_label("Expires after (days)")).to_have_value("400")
    _shot(page, "api-token-refused", theme)

    page.get_by_label("Name").fill("ci-deploy")
    page.get_by_label("Scope").select_option(label="read and act")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_test_id("make-token").click()

    # Shown once, with a copy button and how to use it.
    made = page.get_by_test_id("token-made")
    expect(made.get_by_test_id("shown-once")).to_contain_text("you will not see it again")
    secret = page.get_by_test_id("token-secret").text_content()
    assert re.fullmatch(r"dcon_[A-Za-z0-9_-]{40,}", secret)
    assert ApiToken.objects.get().digest == ApiToken.digest_of(secret)
    expect(made).to_contain_text(f'curl -H "Authorization: Bearer {secret}"')
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.get_by_test_id("copy-secret")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _shot(page, "api-token-made", theme)

    me = _me(page, live_server.url, secret)
    assert me.status == 200 and me.json()["token"] == "ci-deploy"

    # Listed by name and first characters, with its last use; never the secret again.
    page.get_by_test_id("tokens-back").click()
    row = page.get_by_test_id("token-row").filter(has_text="ci-deploy")
    expect(row).to_have_attribute("data-state", "active")
    expect(row.get_by_test_id("token-scope")).to_have_text("read and act")
    expect(row.get_by_test_id("token-last-used")).not_to_have_text("never")
    assert secret not in page.content()
    _shot(page, "api-tokens-list", theme)

    # Revoked after a confirmation, and refused at once.
    row.get_by_test_id("revoke-token").click()
    expect(page.get_by_test_id("revoke-confirm")).to_have_text("Revoke “ci-deploy” now")
    _shot(page, "api-token-revoke", theme)
    page.get_by_test_id("revoke-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("Revoked the token “ci-deploy”")
    expect(page.get_by_test_id("token-row")).to_have_attribute("data-state", "revoked")
    expect(page.get_by_test_id("revoke-token")).to_have_count(0)
    refused = _me(page, live_server.url, secret)
    assert refused.status == 401 and refused.json()["error"]["code"] == "token_revoked"
    _shot(page, "api-tokens-revoked", theme)


@SIZES
def test_staff_revoke_a_leaked_token_of_anyone(live_server, page: Page, size):
    leaked = api_tokens.issue(make_user("bo", "operator"), "laptop-script", "act")
    api_tokens.issue(make_user("cy", "viewer"), "grafana")
    bot = api_tokens.issue(api_tokens.service_account("deploy-bot"), "nightly")
    assert _me(page, live_server.url, bot.secret).status == 200
    make_user("stella", staff=True)
    page.set_viewport_size(size)
    log_in(page, live_server.url, "stella")
    _theme(page, live_server.url, "dark")

    page.get_by_test_id("tokens-all-link").click()
    expect(page.get_by_role("heading", name="Every API token")).to_be_visible()
    rows = page.get_by_test_id("token-row")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="deploy-bot")).to_contain_text("service account")
    expect(rows.filter(has_text="service account")).to_have_count(1)
    _shot(page, "api-tokens-all", "dark")

    rows.filter(has_text="laptop-script").get_by_test_id("revoke-token").click()
    page.get_by_test_id("revoke-confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("“laptop-script” of bo")
    expect(page.get_by_role("heading", name="Every API token")).to_be_visible()
    expect(rows.filter(has_text="laptop-script")).to_have_attribute("data-state", "revoked")
    assert _me(page, live_server.url, leaked.secret).status == 401
    _shot(page, "api-tokens-all-revoked", "dark")
