"""The way out to AWS (browser/aws_links.py): an execution of a source configured as AWS,
with a recorded history whose invocations carry what AWS records (InvocationCompleted-
Details: RequestId, StartTimestamp, EndTimestamp) and a GetDurableExecution record with a
TraceHeader, links to CloudWatch Logs and X-Ray; the sandbox's executions link nowhere."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from executions import history, sync
from executions.models import Execution, Function, Source
from sandbox.client import start, wait_for_status
from tests import factories
from tests.factories import HISTORIES

pytestmark = pytest.mark.django_db

TRACE = "1-67891233-abcdef012345678912345678"
# What AWS records for each of fraud-low-retried's two invocations (events 4 and 9).
REQUESTS = {
    4: ("c0ffee00-1111-4a4a-8b8b-000000000004", "22:43:16.489"),
    9: ("c0ffee00-2222-4a4a-8b8b-000000000009", "22:43:17.600"),
}


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-22T{clock}+00:00")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _recorded_on_aws(source: Source) -> Execution:
    """fraud-low-retried (a step failed once, then succeeded in a second invocation), as
    the sync stores it, with AWS's invocation details and trace header added."""
    data = json.loads((HISTORIES / "fraud-low-retried.json").read_text())
    events: list[dict[str, Any]] = data["events"]
    for event in events:
        event["EventTimestamp"] = datetime.fromisoformat(event["EventTimestamp"])
        if event["EventType"] == "InvocationCompleted":
            request_id, started = REQUESTS[event["EventId"]]
            event["InvocationCompletedDetails"] = {
                "StartTimestamp": _at(started),
                "EndTimestamp": event["EventTimestamp"],
                "RequestId": request_id,
            }
    function = Function.objects.create(source=source, name="fraud-detection")
    execution = Execution.objects.create(
        arn=f"arn:aws:lambda:eu-west-1:123456789012:function:fraud-detection:$LATEST"
        f"/durable-execution/low-{uuid.uuid4().hex[:6]}/{uuid.uuid4()}",
        name="low",
        source=source,
        function=function,
        status="SUCCEEDED",
        started_at=events[0]["EventTimestamp"],
        ended_at=events[-1]["EventTimestamp"],
        raw={
            **data["execution"],
            "TraceHeader": {"XAmznTraceId": f"Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"},
        },
    )
    history.store_events(execution, events)
    Execution.objects.filter(pk=execution.pk).update(history_complete=True)
    execution.refresh_from_db()
    return execution


@pytest.fixture
def aws_source() -> Source:
    # Never polled (disabled): the links are built from what is stored, not from AWS.
    return factories.aws_source("aws-eu", "eu-west-1")


@pytest.fixture
def viewer(client: Client) -> Client:
    return factories.signed_in(client, "vera")


def _logs_url(request_id: str, start: datetime, end: datetime) -> str:
    # The console's fragment, written out by hand: '%' is '$', the group encoded twice.
    return (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Ffraud-detection/log-events"
        f"$3FfilterPattern$3D$2522{request_id}$2522"
        f"$26start$3D{_ms(start - timedelta(minutes=1))}$26end$3D{_ms(end + timedelta(minutes=1))}"
    )


def _html(response: Any) -> str:
    assert response.status_code == 200
    return response.content.decode().replace("&amp;", "&")


def test_an_aws_execution_links_to_the_logs_of_its_last_invocation_and_its_trace(
    viewer, aws_source
):
    execution = _recorded_on_aws(aws_source)

    page = _html(viewer.get(f"/executions/{execution.pk}/"))

    last_id, last_start = REQUESTS[9]
    assert _logs_url(last_id, _at(last_start), _at("22:43:17.777")) in page
    assert 'data-testid="aws-logs-link"' in page
    assert (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        f"#xray:traces/{TRACE}"
    ) in page
    assert "#/functions/fraud-detection?tab=durable-executions" in page  # the Lambda console


def test_an_operation_links_to_the_invocations_it_started_and_ended_in(viewer, aws_source):
    execution = _recorded_on_aws(aws_source)
    retried = execution.operations.get(name="scoreRisk")  # failed in the first, not the second
    once = execution.operations.get(name="autoApprove")

    retried_panel = _html(
        viewer.get(f"/executions/{execution.pk}/operations/{retried.operation_id}")
    )
    once_panel = _html(viewer.get(f"/executions/{execution.pk}/operations/{once.operation_id}"))

    first_id, first_start = REQUESTS[4]
    last_id, last_start = REQUESTS[9]
    first = _logs_url(first_id, _at(first_start), _at("22:43:16.764"))
    last = _logs_url(last_id, _at(last_start), _at("22:43:17.777"))
    assert first in retried_panel and last in retried_panel
    assert "Logs: invocation it started in" in retried_panel
    assert "Logs: invocation it ended in" in retried_panel
    assert last in once_panel and first not in once_panel
    assert "Logs of its invocation" in once_panel


def test_no_trace_link_without_a_trace_header_nor_logs_without_a_request_id(viewer, aws_source):
    execution = _recorded_on_aws(aws_source)
    Execution.objects.filter(pk=execution.pk).update(raw={"TraceHeader": {"XAmznTraceId": "x"}})
    execution.events.filter(event_type="InvocationCompleted").update(details={})

    page = _html(viewer.get(f"/executions/{execution.pk}/"))

    assert 'data-testid="aws-trace-link"' not in page
    assert 'data-testid="aws-logs-link"' not in page
    assert "Open in the AWS console" in page  # the function is still one click away


def test_the_sandbox_links_nowhere_in_aws(viewer, sandbox_source, lambda_sandbox):
    arn = start(lambda_sandbox, "order-processor", {}, f"links-{uuid.uuid4().hex[:6]}")
    wait_for_status(lambda_sandbox, arn)
    execution = sync.sync_arn(sandbox_source, arn)
    step = execution.operations.get(name="validate-order")

    page = _html(viewer.get(f"/executions/{execution.pk}/"))
    panel = _html(viewer.get(f"/executions/{execution.pk}/operations/{step.operation_id}"))

    assert execution.events.filter(event_type="InvocationCompleted").exists()
    for html in (page, panel):
        assert "console.aws.amazon.com" not in html
        assert "aws-logs-link" not in html and "op-logs-link" not in html


def test_a_recorded_history_on_a_local_endpoint_links_nowhere_either(viewer, aws_source):
    execution = _recorded_on_aws(aws_source)
    Source.objects.filter(pk=aws_source.pk).update(endpoint_url="http://127.0.0.1:9")
    step = execution.operations.get(name="scoreRisk")

    page = _html(viewer.get(f"/executions/{execution.pk}/"))
    panel = _html(viewer.get(f"/executions/{execution.pk}/operations/{step.operation_id}"))

    assert "console.aws.amazon.com" not in page + panel


def test_the_overview_of_a_function_on_aws_opens_it_in_the_lambda_console(viewer, aws_source):
    execution = _recorded_on_aws(aws_source)
    sandboxed = factories.offline_source("local")
    local = Function.objects.create(source=sandboxed, name="fraud-detection")

    on_aws = _html(viewer.get(f"/functions/{execution.function_id}/"))
    elsewhere = _html(viewer.get(f"/functions/{local.pk}/"))

    assert (
        'href="https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1'
        '#/functions/fraud-detection?tab=durable-executions"'
    ) in on_aws
    assert "console.aws.amazon.com" not in elsewhere


def test_an_execution_and_its_functions_overview_link_to_the_same_quoted_lambda_page(
    viewer, aws_source
):
    # The two links were built twice, and only one quoted the name: one home now, and a
    # name with characters of its own stays inside the URL's path (quoted is right: the
    # Lambda console's router reads the fragment as a path).
    execution = _recorded_on_aws(aws_source)
    Function.objects.filter(pk=execution.function_id).update(name="fraud detection#v2")
    expected = (
        'href="https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1'
        '#/functions/fraud%20detection%23v2?tab=durable-executions"'
    )
    assert expected in _html(viewer.get(f"/executions/{execution.pk}/"))
    assert expected in _html(viewer.get(f"/functions/{execution.function_id}/"))
