"""In chromium: the console stays clean under its strict Content-Security-Policy even when
something outside it (a browser extension, a password manager, Playwright's own
screenshots) has written inline styles onto the page's form fields.

htmx "settles" a swapped element by copying attributes from the element it replaces
(same id) with setAttribute. A copied `style` attribute is an inline style, which the
policy refuses and the browser reports; the console configures htmx not to settle
`style` (base.html), and this test fails if that ever comes back.
"""

from __future__ import annotations

import uuid

from django.utils import timezone
from playwright.sync_api import Page, expect

from executions.models import Execution, Operation
from tests import factories
from tests.browser.helpers import log_in, make_user


def _pending_callback() -> tuple[Execution, Operation]:
    """A mirrored execution waiting on a callback (the form only reads the mirror)."""
    source = factories.offline_source("csp")
    execution = factories.running_execution(source, f"coffee-{uuid.uuid4().hex[:6]}")
    operation = Operation.objects.create(
        execution=execution,
        operation_id="op-1",
        name="baristaAccepts create callback id",
        type="CALLBACK",
        subtype="Callback",
        status="STARTED",
        callback_id=f"cb-{uuid.uuid4().hex}",
        started_at=timezone.now(),
        first_event_id=2,
        last_event_id=2,
    )
    return execution, operation


def test_an_htmx_swap_never_copies_inline_styles_that_others_wrote_onto_form_fields(
    live_server, page: Page
):
    make_user("ines", "operator")
    execution, operation = _pending_callback()
    log_in(page, live_server.url, "ines")
    page.goto(f"{live_server.url}/executions/{execution.pk}/callbacks/{operation.callback_id}/")
    fields = page.locator("[data-testid=callback-forms] [id]")
    assert fields.count() >= 4
    # What an extension does: inline style through the CSSOM, which the policy allows...
    page.evaluate(
        """() => document.querySelectorAll('[data-testid=callback-forms] [id]')
             .forEach((el) => el.style.setProperty('outline-color', 'rgb(1, 2, 3)'))"""
    )
    # ...and what Playwright's screenshots leave behind: an empty style attribute.
    page.evaluate(
        """() => document.querySelectorAll('[data-testid=callback-forms] textarea')
             .forEach((el) => el.style.removeProperty('outline-color'))"""
    )
    # A refused form comes back through htmx and replaces the fields that have those ids.
    page.get_by_test_id("result-editor").fill("{not json")
    page.get_by_test_id("send-success").click()
    expect(page.get_by_test_id("callback-error")).to_contain_text("not valid JSON")
    expect(page.get_by_test_id("result-editor")).to_have_value("{not json")
    # The page fixture fails the test on any CSP violation the browser reported.
