"""Sign-in with the identity provider in chromium, as a person does it: the console's
button, the provider's own page, back to the page they asked for, signed in with the role
of their group (tests/oidc_provider.py runs the provider)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from access import oidc
from tests.browser.helpers import screenshot
from tests.oidc_provider import OidcProvider

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def idp(live_server, settings):
    callback = f"{live_server.url}/sso/callback/"
    with OidcProvider(
        clients=[{"client_id": "console", "client_secret": "s3cret", "redirect_uris": [callback]}]
    ) as provider:
        settings.OIDC_ISSUER = provider.issuer
        settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = "console", "s3cret"
        settings.OIDC_SCOPES = "openid profile email groups offline_access"
        settings.OIDC_PROVIDER_NAME = "Company SSO"
        settings.SSO_GROUP_ROLES = {"payments-ops": "operator"}
        settings.SSO_ENABLED = True
        oidc._clients.clear()
        yield provider
        oidc._clients.clear()


@pytest.mark.django_db(transaction=True)
def test_a_person_signs_in_through_the_providers_page_and_comes_back_an_operator(
    live_server, page: Page, idp
):
    idp.set_account("maria", password="marias-password", groups=["payments-ops"])

    page.goto(f"{live_server.url}/approvals/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/approvals/")
    button = page.get_by_role("link", name="Sign in with Company SSO")
    expect(button).to_be_visible()
    screenshot(page, "login-sso-1280.png")
    button.click()

    # The provider's own page.
    assert page.url.startswith(f"{idp.issuer}/interaction/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password")
    page.get_by_label("Password").fill("marias-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/approvals/")
    expect(page.get_by_test_id("username")).to_have_text("maria")
    user = User.objects.get(username="maria")
    assert user.groups.filter(name="operator").exists()

    page.get_by_test_id("username").click()
    expect(page.get_by_test_id("role-grants")).to_contain_text(
        "operator, from the identity provider's groups (payments-ops)"
    )
    screenshot(page, "account-sso-1280.png")


@pytest.mark.django_db(transaction=True)
def test_someone_without_a_role_reads_why_on_a_phone(live_server, page: Page, idp):
    idp.set_account("sam", password="sams-password", groups=["marketing"])
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Sign in with Company SSO").click()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("sams-password")
    page.get_by_role("button", name="Sign in").click()

    refused = page.get_by_test_id("sso-refused")
    expect(refused).to_contain_text("You have no role in this console")
    expect(page.get_by_test_id("admin-hint")).to_contain_text("payments-ops")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "sso-refused-390.png")
