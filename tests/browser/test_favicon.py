"""The favicon: linked from every page, served under the strict CSP, the navbar's mark."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.helpers import ARTIFACTS

# Fetches the page's icon and /favicon.ico, and sets both beside the navbar's brand mark
# (drawn larger, for the screenshot that compares them).
_FETCH_AND_SHOW = """async () => {
  const link = document.querySelector('link[rel="icon"]');
  const results = {};
  for (const url of [link.href, '/favicon.ico']) {
    const response = await fetch(url);
    results[url] = [response.status, response.headers.get('content-type')];
    const img = document.createElement('img');
    img.src = url;
    img.width = img.height = 48;
    img.alt = url;
    document.querySelector('.navbar-brand').append(img);
    await img.decode();
  }
  return results;
}"""


def test_the_pages_favicon_is_the_brand_mark_and_loads_under_the_csp(live_server, page: Page):
    ARTIFACTS.mkdir(exist_ok=True)
    for theme, (width, height) in [
        (theme, size) for theme in ("light", "dark") for size in ((1440, 900), (390, 844))
    ]:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server.url}/login/")
        page.evaluate(f"document.documentElement.dataset.bsTheme = '{theme}'")

        results = page.evaluate(_FETCH_AND_SHOW)

        statuses = {url.replace(live_server.url, ""): answer for url, answer in results.items()}
        assert statuses == {
            "/static/favicon.svg": [200, "image/svg+xml"],
            "/favicon.ico": [200, "image/x-icon"],
        }
        # Both images decoded (a broken image would have thrown above) at their size.
        sizes = page.eval_on_selector_all(
            ".navbar-brand img", "imgs => imgs.map(i => [i.naturalWidth > 0, i.width])"
        )
        assert sizes == [[True, 48], [True, 48]]
        page.screenshot(path=str(ARTIFACTS / f"favicon-{theme}-{width}.png"))
