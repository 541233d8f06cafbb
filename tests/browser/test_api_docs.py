"""The API's docs page in chromium: it draws every endpoint from the live schema, from the
console's own static files (no CDN), under the console's Content-Security-Policy, and a
person can try an endpoint with their token from it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from access import api_tokens
from tests import factories
from tests.browser.helpers import screenshot


def test_the_docs_page_lists_the_endpoints_and_tries_one_with_a_token(live_server, page: Page):
    secret = api_tokens.issue(factories.user("doc", "viewer"), "docs-page", "read").secret
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{live_server.url}/api/v1/docs")

    expect(page.get_by_text("Durable Console API").first).to_be_visible()
    blocks = page.locator(".opblock")
    expect(blocks.first).to_be_visible()
    assert blocks.count() >= 15
    assert all(url.startswith(live_server.url) for url in requests), [
        url for url in requests if not url.startswith(live_server.url)
    ]
    screenshot(page, "api-docs.png")

    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".modal-ux input").first.fill(secret)
    page.locator(".modal-ux").get_by_role("button", name="Apply credentials").click()
    page.locator(".modal-ux").get_by_role("button", name="Close", exact=True).click()

    me = page.locator(".opblock", has=page.locator("[data-path='/api/v1/me']"))
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(me.locator(".live-responses-table")).to_contain_text('"username": "doc"')
    screenshot(page, "api-docs-tried.png")
