"""In chromium, against the sandbox that throttles like AWS: an execution whose page is
open is checked first, so a callback answered from outside shows on that page within
seconds while hundreds of other running executions share the same API budget."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect

from executions.models import Execution
from sandbox.client import lambda_client, quotas, start, wait_for, wait_for_callback
from tests.browser.helpers import log_in, make_user, screenshot

FLEET = 200


def test_a_watched_execution_shows_a_callback_answered_elsewhere_within_seconds(
    live_server, page: Page, throttled_sandbox, throttled_source, celery_worker
):
    client = lambda_client(throttled_sandbox.endpoint_url)
    quotas(throttled_sandbox.endpoint_url, reset=True)  # count this test's calls only
    tag = f"busy-{uuid.uuid4().hex[:5]}"
    with ThreadPoolExecutor(8) as pool:
        fleet = list(
            pool.map(lambda n: start(client, "coffee-order", {}, f"{tag}-{n}"), range(FLEET))
        )
    name = f"watched-{uuid.uuid4().hex[:6]}"
    arn = start(client, "coffee-order", {"orderId": name, "drink": "mocha"}, name)
    callback_id = wait_for_callback(client, arn, "baristaAccepts")
    throttled_source.function_names = ["coffee-order"]
    throttled_source.discover = False
    throttled_source.save()
    execution = wait_for(
        lambda: Execution.objects.filter(arn=arn, pending_callbacks=1).first(),
        120,
        interval=0.5,
        what="the execution mirrored",
    )
    # The others are mirrored too, and keep being checked within the same budget.
    wait_for(
        lambda: (
            Execution.objects.filter(arn__in=fleet, last_synced_at__isnull=False).count()
            >= FLEET * 0.9
        ),
        120,
        interval=1,
        what="the fleet mirrored",
    )

    make_user("wendy")
    log_in(page, live_server.url, "wendy")
    page.goto(f"{live_server.url}/executions/{execution.pk}/operations/")
    expect(page.get_by_test_id("header-status")).to_have_text("Waiting")
    # "Every 2 s" only once the reads keep that pace (right after opening, the last read
    # may be older: then the header says when the next one is due).
    expect(page.get_by_test_id("last-synced")).to_contain_text(
        "every 2 s while this page is open", timeout=15_000
    )
    expect(page.get_by_text("prepareOrder")).to_have_count(0)

    client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=b'{"accepted": true}'
    )
    # A few seconds: the open page marks the execution watched (checked every 2 s), the
    # header's poll (every 3 s) sees the new events and the tab reloads itself.
    expect(page.get_by_text("prepareOrder").first).to_be_visible(timeout=10_000)
    screenshot(page, "watched-execution-updated.png")
    console = quotas(throttled_sandbox.endpoint_url)["accounts"]["unsigned"]
    assert all(api.get("throttled", 0) == 0 for api in console.values()), console
