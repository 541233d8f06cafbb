"""In chromium: the executions list on a phone (390x844) reads as cards, every cell at least
as wide as its first word, the row poller swapping cards in place; the colour theme follows
the system until the person chooses one; the list's dates mean the zone their label names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import Browser, Page, expect

from executions import sync
from sandbox.client import start, wait_for_callback, wait_for_status
from tests import factories
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme

# For every visible cell of every row: the cell's box, the boxes of its first word (a word
# broken over lines has more than one), and the boxes of the parts the test names.
_MEASURE = """rows => rows.map(row => {
  const box = el => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, w: r.width, h: r.height, right: r.right, bottom: r.bottom}; };
  const visible = el => el && el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const firstWord = cell => {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!visible(node.parentElement)) continue;
      const match = /\\S+/.exec(node.textContent);
      if (!match) continue;
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      return {word: match[0], rects: [...range.getClientRects()].map(r => ({
        x: r.x, right: r.right, y: r.y, bottom: r.bottom}))};
    }
    return null;
  };
  const part = selector => { const el = row.querySelector(selector);
    return visible(el) ? {...box(el), scrollW: el.scrollWidth, clientW: el.clientWidth,
      text: el.textContent.trim(), lineHeight: parseFloat(getComputedStyle(el).lineHeight)}
      : null; };
  return {
    id: row.id,
    row: box(row),
    cells: [...row.children].filter(visible).map(cell => ({
      cls: cell.className, box: box(cell), first: firstWord(cell)})),
    name: part('.name-cell a'),
    fn: part('.function-cell a'),
    status: part('[data-testid=row-status]'),
    started: part('.started-cell time'),
    ended: part('.ended-cell'),
  };
})"""


def _measure(page: Page) -> list[dict]:
    return page.locator("#execution-rows tr").evaluate_all(_MEASURE)


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["right"]
        and b["x"] < a["right"]
        and a["y"] < b["bottom"]
        and b["y"] < a["bottom"]
    )


def _assert_cards_read(page: Page) -> None:
    """Every card on the screen reads: no sideways scrolling, every cell at least as wide
    as its first word, the name on one or two lines, the function whole, start and
    duration apart."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    measured = _measure(page)
    assert measured
    for row in measured:
        for cell in row["cells"]:
            first = cell["first"]
            if not first:
                continue
            # A word broken over lines has a box on each; one letter per line, many.
            assert len(first["rects"]) == 1, (row["id"], cell["cls"], first)
            (rect,) = first["rects"]
            assert rect["x"] >= cell["box"]["x"] - 1, (row["id"], cell, rect)
            assert rect["right"] <= cell["box"]["right"] + 1, (row["id"], cell, rect)
            assert rect["right"] <= width, (row["id"], cell, rect)
        name, fn = row["name"], row["fn"]
        assert name and name["h"] <= 2 * name["lineHeight"] + 2, (row["id"], name)
        assert fn and fn["scrollW"] <= fn["clientW"] + 1 and fn["right"] <= width, (row["id"], fn)
        assert row["status"] and row["status"]["right"] <= width, row
        started, ended = row["started"], row["ended"]
        assert started and ended, row
        assert not _overlap(started, ended), (row["id"], started, ended)
        assert ended["right"] <= width and started["right"] <= width, row


def test_the_list_on_a_phone_reads_as_cards_with_name_status_function_start_and_duration(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    waiting = start(
        lambda_sandbox, "coffee-order", {"orderId": tag}, f"coffee-for-the-night-shift-{tag}"
    )
    ended = start(lambda_sandbox, "order-processor", {}, f"order-{tag}")
    example = start(lambda_sandbox, "durable-function-example", {}, f"batch-{tag}")
    wait_for_callback(lambda_sandbox, waiting, "baristaAccepts")
    wait_for_status(lambda_sandbox, ended)
    for arn in (waiting, ended, example):
        sync.sync_arn(sandbox_source, arn)
    make_user("phoebe")
    log_in(page, live_server.url, "phoebe")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/executions/?name={tag}")
    expect(page.locator("#execution-rows tr")).to_have_count(3)

    for theme in ("light", "dark"):
        set_theme(page, theme)
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            screenshot(page, f"phone-list-{size['width']}-{theme}.png")
    page.set_viewport_size(PHONE)
    _assert_cards_read(page)


def test_the_row_poller_swaps_a_card_in_place_and_it_still_reads(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    tag = uuid.uuid4().hex[:6]
    arn = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"poll-card-{tag}")
    wait_for_callback(lambda_sandbox, arn, "baristaAccepts")
    execution = sync.sync_arn(sandbox_source, arn)
    make_user("polly")
    log_in(page, live_server.url, "polly")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/executions/?name={tag}")
    row = page.locator(f"#execution-{execution.pk}")
    expect(row.get_by_test_id("row-status")).to_have_text("Waiting")
    expect(row.locator(".ended-cell")).to_have_attribute("data-label", "Duration")
    _assert_cards_read(page)

    lambda_sandbox.stop_durable_execution(DurableExecutionArn=arn)
    wait_for_status(lambda_sandbox, arn)
    sync.sync_arn(sandbox_source, arn)

    # The poller swaps the row for its new markup: one card, in the same place, ended.
    expect(row.get_by_test_id("row-status")).to_have_text("Stopped", timeout=15_000)
    expect(page.locator("#execution-rows tr")).to_have_count(1)
    expect(row.locator(".ended-cell")).to_have_attribute("data-label", "Ended")
    expect(row.locator(".ended-cell")).to_contain_text("took")
    _assert_cards_read(page)
    screenshot(page, "phone-list-polled-390-light.png")


def test_the_colour_theme_follows_the_system_until_the_person_chooses(live_server, page: Page):
    make_user("thea")
    html = page.locator("html")
    menu = page.get_by_test_id("theme-menu")
    page.emulate_media(color_scheme="dark")
    log_in(page, live_server.url, "thea")
    page.goto(f"{live_server.url}/executions/")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(menu).to_have_attribute("aria-label", "Colour theme: system")
    expect(menu).to_have_text("\u25d0 System")
    # The header holds every link and button on one line, none of them wrapped.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    heights = {
        name: item.bounding_box()["height"]
        for name, item in (
            ("theme", menu),
            ("log out", page.get_by_role("button", name="Log out")),
            ("executions", page.locator(".navbar-nav .nav-link").first),
        )
    }
    assert max(heights.values()) <= 42, heights
    # The system changes while the page is open: the page follows, without a reload.
    page.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-bs-theme", "dark")

    # The person chooses light: the system's dark no longer matters, on this page or the next.
    menu.click()
    page.get_by_role("button", name="Light", exact=True).click()
    expect(html).to_have_attribute("data-bs-theme", "light")
    expect(menu).to_have_attribute("aria-label", "Colour theme: light")
    expect(menu).to_have_text("\u2600 Light")
    page.emulate_media(color_scheme="light")
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "light")
    expect(menu).to_have_attribute("aria-label", "Colour theme: light")
    menu.click()
    expect(page.get_by_role("button", name="Light", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    screenshot(page, "theme-menu-1440-light.png")

    # And goes back to following the system.
    page.get_by_role("button", name="Follow the system").click()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(menu).to_have_attribute("aria-label", "Colour theme: system")
    page.emulate_media(color_scheme="light")
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-bs-theme", "light")

    # On a phone the menu is in the folded navigation, whole on the screen when open.
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Toggle navigation").click()
    # Open once it has unfolded: a click while it slides open can be lost.
    expect(page.locator("#main-nav")).to_have_class(re.compile(r"\bshow\b"))
    menu.click()
    dark = page.get_by_role("button", name="Dark", exact=True)
    expect(dark).to_be_visible()
    for item in (menu, dark, page.get_by_role("button", name="Follow the system")):
        box = item.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    screenshot(page, "theme-menu-390-light.png")
    dark.click()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    screenshot(page, "theme-menu-390-dark.png")


@pytest.fixture
def kolkata_page(browser: Browser) -> Iterator[Page]:
    """A page in a browser whose clock is in India (UTC+05:30 all year), in US English (its
    date inputs read mm/dd/yyyy); any CSP violation fails the test, as for `page`."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, timezone_id="Asia/Kolkata", locale="en-US"
    )
    violations: list[str] = []
    context.on(
        "page",
        lambda new_page: new_page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text or "Refused to" in message.text
                else None
            ),
        ),
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()
    assert violations == [], "CSP violations:\n" + "\n".join(violations)


def _type_moment(page: Page, field: str, day: str, clock: str) -> None:
    """Type into a datetime-local field key by key, as a person does in US English:
    `day` as mm/dd/yyyy and `clock` as hh:mm AM."""
    month, dom, year = day.split("/")
    hour, rest = clock.split(":")
    minute, half = rest.split()
    box = page.locator(field)
    box.click(position={"x": 12, "y": 10})  # on the month
    for keys in (month, dom, year):
        box.press_sequentially(keys)
        if keys == year:  # a year may have more digits: the next field is a key away
            box.press("ArrowRight")
    box.press_sequentially(hour + minute + half[0])
    box.press("Tab")


def _listed(page: Page) -> set[str]:
    return set(page.locator("#execution-rows tr .name-cell a").all_inner_texts())


def _filtered_by(page: Page, name: str, value: str) -> None:
    """Wait until the list's address holds the filter (typing a moment key by key sends
    its partial values on the way), so the rows shown are those of that filter."""
    expect(page).to_have_url(re.compile(re.escape(urlencode({name: value})) + "(&|$)"))
    assert parse_qs(urlparse(page.url).query)[name] == [value]


def test_dates_typed_in_the_filter_mean_the_zone_its_label_names(live_server, kolkata_page: Page):
    page = kolkata_page
    tag = uuid.uuid4().hex[:6]
    source = factories.offline_source(f"dates-{tag}")
    early, late = f"early-{tag}", f"late-{tag}"
    # 09:30 and 11:30 in Kolkata.
    factories.running_execution(source, early, started_at=datetime(2026, 3, 10, 4, 0, tzinfo=UTC))
    factories.running_execution(source, late, started_at=datetime(2026, 3, 10, 6, 0, tzinfo=UTC))
    make_user("dara")
    log_in(page, live_server.url, "dara")
    page.goto(f"{live_server.url}/executions/?name={tag}")
    assert _listed(page) == {early, late}

    # The page shows times in the browser's zone, and so do the date fields: their label
    # and the help under them say which, with an example in the browser's own format.
    label = page.locator("label[for=filter-from]")
    expect(label).to_have_text("Started from (GMT+5:30)")
    expect(page.locator("label[for=filter-to]")).to_have_text("Started until (GMT+5:30)")
    help_text = page.locator("#filter-zone-help")
    expect(help_text).to_contain_text("your time zone (GMT+5:30)")
    expect(help_text).to_have_text(re.compile(r"now is \d\d/\d\d/\d{4}, \d\d:\d\d [AP]M\.$"))

    # 10:00 in Kolkata is 04:30 UTC: the later one only (read as UTC, neither would be).
    _type_moment(page, "#filter-from", "03/10/2026", "10:00 AM")
    _filtered_by(page, "from", "2026-03-10T04:30")
    expect(page.locator("#execution-rows tr")).to_have_count(1)
    assert _listed(page) == {late}
    expect(page.locator("#filter-from")).to_have_value("2026-03-10T10:00")
    screenshot(page, "list-dates-1440-light.png")

    # Until 10:00 in Kolkata, and from nothing: the earlier one only.
    page.goto(f"{live_server.url}/executions/?name={tag}")
    _type_moment(page, "#filter-to", "03/10/2026", "10:00 AM")
    _filtered_by(page, "to", "2026-03-10T04:30")
    expect(page.locator("#execution-rows tr")).to_have_count(1)
    assert _listed(page) == {early}

    # A link with the filter opens showing the same moment in the reader's zone.
    page.goto(f"{live_server.url}/executions/?name={tag}&from=2026-03-10T04:30")
    expect(page.locator("#filter-from")).to_have_value("2026-03-10T10:00")
    assert _listed(page) == {late}

    # Times in UTC: the label says UTC, the field shows the same moment in UTC, and what is
    # typed now is UTC. 05:00 UTC: the later one only (read as Kolkata's, both would be).
    page.get_by_role("button", name="Switch times between your time zone and UTC").click()
    expect(label).to_have_text("Started from (UTC)")
    expect(help_text).to_contain_text("Dates and times in UTC")
    expect(page.locator("#filter-from")).to_have_value("2026-03-10T04:30")
    _type_moment(page, "#filter-from", "03/10/2026", "03:00 AM")
    _filtered_by(page, "from", "2026-03-10T03:00")
    expect(page.locator("#execution-rows tr")).to_have_count(2)
    _type_moment(page, "#filter-from", "03/10/2026", "05:00 AM")
    _filtered_by(page, "from", "2026-03-10T05:00")
    expect(page.locator("#execution-rows tr")).to_have_count(1)
    assert _listed(page) == {late}

    # The year 50 stays the year 50 (JavaScript's dates read 0-99 as 1900-1999).
    page.goto(f"{live_server.url}/executions/?name={tag}&from=0050-03-10T04:30")
    expect(page.locator("#filter-from")).to_have_value("0050-03-10T04:30")
    _type_moment(page, "#filter-to", "03/10/0060", "05:00 AM")
    _filtered_by(page, "to", "0060-03-10T05:00")
    expect(page.get_by_test_id("empty-result")).to_be_visible()

    # On a phone, the filters open: the zone's help reads whole under the fields.
    page.set_viewport_size(PHONE)
    for theme in ("light", "dark"):
        set_theme(page, theme)
        page.get_by_test_id("filters-toggle").click()
        expect(page.locator("#filter-fields")).to_have_class(re.compile(r"\bshow\b"))
        expect(help_text).to_be_visible()
        box = help_text.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        screenshot(page, f"list-dates-390-{theme}.png")


# Text that runs off the right of the screen, outside anything that scrolls sideways (a
# table in its .table-responsive may scroll; the page itself may not): each a description.
_TEXT_OFF_SCREEN = """() => {
  const width = window.innerWidth, found = [];
  const scrolls = el => { for (let a = el; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) return true; }
    return false; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || !el.getClientRects().length) continue;
    const folded = '[hidden], .dropdown-menu, .offcanvas, .collapse:not(.show), template';
    if (getComputedStyle(el).visibility === 'hidden' || el.closest(folded)) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width && (r.right > width + 1 || r.left < -1) && !scrolls(el)) {
        const where = ' @' + Math.round(r.left) + '-' + Math.round(r.right);
        found.push(node.textContent.trim().slice(0, 60) + where);
        break;
      }
    }
  }
  return found;
}"""


def test_every_page_reads_at_phone_width_in_both_themes(
    live_server, page: Page, sandbox_source, lambda_sandbox
):
    from actions import services
    from executions.models import Function
    from notify.models import Delivery, Rule

    tag = uuid.uuid4().hex[:6]
    waiting = start(lambda_sandbox, "coffee-order", {"orderId": tag}, f"walk-coffee-{tag}")
    first = start(lambda_sandbox, "order-processor", {}, f"walk-order-a-{tag}")
    second = start(lambda_sandbox, "order-processor", {"orderId": "x"}, f"walk-order-b-{tag}")
    stopped = start(lambda_sandbox, "coffee-order", {"orderId": "s"}, f"walk-stopped-{tag}")
    wait_for_callback(lambda_sandbox, waiting, "baristaAccepts")
    wait_for_callback(lambda_sandbox, stopped, "baristaAccepts")
    for arn in (first, second):
        wait_for_status(lambda_sandbox, arn)
    rows = [sync.sync_arn(sandbox_source, arn) for arn in (waiting, first, second, stopped)]
    user = make_user("walker", "operator", staff=True)
    services.stop(user, rows[3], "Cancelled", "The customer left before it was served")
    rule = Rule.objects.create(
        name="night shift callbacks", email_to="night-shift@example.com",
        function_pattern="coffee-*", on_callback=True,
    )  # fmt: skip
    Delivery.objects.create(
        rule=rule, channel="email", event="test", subject_key=f"test:{tag}",
        title=f"Test message of the rule {rule.name}",
    )  # fmt: skip
    function = Function.objects.get(source=sandbox_source, name="order-processor")
    log_in(page, live_server.url, "walker")
    pages = {
        "list": f"/executions/?name={tag}",
        "function": f"/functions/{function.pk}/",
        "compare": f"/executions/compare?a={rows[1].pk}&b={rows[2].pk}",
        "approvals": "/approvals/",
        "audit": "/audit/",
        "notifications": "/notifications/",
        "notification-rule": f"/notifications/{rule.pk}/",
        "notification-deliveries": "/notifications/deliveries/",
        "sync-health": "/sync/",
        "account": "/account/",
    }
    off_screen: dict[str, list[str]] = {}
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)  # followed: nobody chose a theme
        for name, path in pages.items():
            for size in (PHONE, DESKTOP):
                page.set_viewport_size(size)
                page.goto(f"{live_server.url}{path}")
                expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
                page.wait_for_load_state("networkidle")
                screenshot(page, f"walk-{name}-{size['width']}-{theme}.png")
                if size is PHONE:
                    found = page.evaluate(_TEXT_OFF_SCREEN)
                    if found:
                        off_screen[f"{name} ({theme})"] = found
    assert off_screen == {}
