"""In chromium: an operation's span and its links (the SDK's OpenTelemetry plugin's ids), and
the sync health page's telemetry records, in light and dark, on a desktop and a phone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from domain import traces
from executions import telemetry
from executions.models import Operation
from sandbox import sqs
from tests import factories
from tests.browser.helpers import DESKTOP, PHONE, log_in, make_user, screenshot, set_theme
from tests.conftest import _source_for


def _screenshots(page: Page, name: str) -> None:
    for size, label in ((DESKTOP, "1440"), (PHONE, "390")):
        page.set_viewport_size(size)
        for theme in ("light", "dark"):
            set_theme(page, theme)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (name, label, theme, overflow)
            screenshot(page, f"{name}-{label}-{theme}.png")
    set_theme(page, "light")
    page.set_viewport_size(DESKTOP)


def test_an_operation_shows_its_span_and_links_to_its_trace_and_logs(
    live_server, page: Page, settings
):
    settings.TRACE_URL_TEMPLATE = "https://jaeger.example/trace/{trace_id}?uiFind={span_id}"
    source = factories.aws_source("prod")
    execution = factories.running_execution(
        source,
        "traced-order",
        function="orders",
        started_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        raw={"TraceHeader": {"XAmznTraceId": "Root=1-67891233-abcdef012345678912345678"}},
    )
    Operation.objects.create(
        execution=execution,
        operation_id="a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
        name="chargeCard",
        type="STEP",
        subtype="Step",
        status="SUCCEEDED",
        attempt_count=3,
        started_at=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 12, 0, 9, tzinfo=UTC),
    )
    op_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
    make_user("olga", "viewer")
    log_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/executions/{execution.pk}/operations/{op_id}")
    span_id = traces.operation_span_id(execution.arn, op_id)
    expect(page.get_by_test_id("op-span-id")).to_have_text(span_id)
    expect(page.get_by_test_id("op-trace-id")).to_have_text("67891233abcdef012345678912345678")
    expect(page.get_by_test_id("op-attempt-spans")).to_contain_text("chargeCard attempt 3")
    expect(page.get_by_test_id("op-trace-link")).to_have_attribute(
        "href",
        f"https://jaeger.example/trace/67891233abcdef012345678912345678?uiFind={span_id}",
    )
    expect(page.get_by_test_id("op-xray-link")).to_be_visible()
    expect(page.get_by_test_id("op-insights-link")).to_have_attribute(
        "href", re.compile(f"logs-insights.*{op_id}")
    )
    _screenshots(page, "operation-trace")


def test_the_sync_health_page_counts_telemetry_records_and_shows_what_was_set_aside(
    live_server, page: Page, sandbox, local_sqs
):
    queue_url = sqs.client(local_sqs).create_queue(
        QueueName=f"test-telemetry-health-{uuid.uuid4().hex[:8]}"
    )["QueueUrl"]
    source = _source_for(
        "with-telemetry", sandbox, telemetry_queue_url=queue_url, events_endpoint_url=local_sqs
    )
    sqs.client(local_sqs).send_message(QueueUrl=queue_url, MessageBody="not json {")
    for _ in range(10):
        if not telemetry.consume(source, wait_seconds=0).received:
            break
    make_user("sid", staff=True)
    log_in(page, live_server.url, "sid")
    page.goto(f"{live_server.url}/sync/")
    section = page.locator('[data-testid="health-source"][data-source="with-telemetry"]')
    expect(section.get_by_test_id("telemetry-set-aside")).to_have_text("1")
    expect(section.get_by_test_id("telemetry-set-aside-list")).to_contain_text(
        "Telemetry record: not JSON"
    )
    _screenshots(page, "sync-health-telemetry")
