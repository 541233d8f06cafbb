"""Operations' spans (browser/trace_links.py, domain/traces.py): sample functions run with the
SDK's OpenTelemetry plugin exporting to an OTLP/HTTP receiver this test runs, and the ids
and links the console shows for each operation are those of the spans exported: steps,
retries, parallel branches, map items, child contexts."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from django.test import Client
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from browser import trace_links
from domain import traces
from executions import sync
from executions.models import Execution, Operation
from sandbox.client import lambda_client, start, wait_for, wait_for_callback, wait_for_status
from sandbox.runner import Sandbox, free_port
from tests import factories
from tests.conftest import _source_for


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint: every span it was sent, by (trace id, span id)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.spans: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value for a in span.attributes}
                        self.server.spans[(span.trace_id.hex(), span.span_id.hex())] = {
                            "name": span.name,
                            "parent": span.parent_span_id.hex(),
                            "attempt": (
                                attributes["durable.attempt.number"].int_value
                                if "durable.attempt.number" in attributes
                                else None
                            ),
                        }
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced_sandbox(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Any:
    with Sandbox(
        data_dir=tmp_path_factory.mktemp("traced-sandbox"),
        throttle=False,
        otlp_traces_url=receiver.url,
    ) as running:
        yield running


def _mirrored(source: Any, arn: str) -> Execution:
    sync.poll_source(source)
    execution = Execution.objects.get(arn=arn)
    wait_for(
        lambda: (
            sync.sync_execution(execution.pk).status == "SUCCEEDED"
            and Execution.objects.get(pk=execution.pk).history_complete
        ),
        timeout=60,
        what="the mirror read to its end",
    )
    execution.refresh_from_db()
    return execution


def test_the_console_derives_the_spans_the_otel_plugin_exported(
    traced_sandbox, receiver, db, settings
):
    settings.TRACE_URL_TEMPLATE = "https://tempo.example/trace/{trace_id}?span={span_id}"
    source = _source_for("traced", traced_sandbox)
    client = lambda_client(traced_sandbox.endpoint_url)
    # A retried step (its first attempt flakes) and a person's answer...
    fraud = start(client, "fraud-detection", {"transactionId": "t-1", "forceRisk": "medium"})
    # ...and every other kind: parallel branches, map items, child contexts, a wait.
    example = start(client, "durable-function-example", {"workflowId": "traced", "waitSeconds": 1})
    for arn, name in ((fraud, "humanVerification"), (example, "waitForExternalApproval")):
        callback_id = wait_for_callback(client, arn, name)
        client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=json.dumps({"approved": True}).encode()
        )
    for arn in (fraud, example):
        wait_for_status(client, arn, {"SUCCEEDED"}, timeout=90)

    checked_kinds: set[str] = set()
    retried = 0
    for arn in (fraud, example):
        execution = _mirrored(source, arn)
        operations = list(Operation.objects.filter(execution=execution))
        assert operations
        # Every operation's span was exported, by the ids the console derives.
        wanted = {}
        for operation in operations:
            found = trace_links.operation_trace(execution, operation)
            assert found is not None
            assert found.trace_id == traces.synthetic_trace_id(arn, execution.started_at)
            wanted[operation.operation_id] = (found, operation)
        wait_for(
            lambda wanted=wanted: all(
                (f.trace_id, f.span_id) in receiver.spans for f, _ in wanted.values()
            ),
            timeout=30,
            what="every operation's span exported",
        )
        for found, operation in wanted.values():
            span = receiver.spans[(found.trace_id, found.span_id)]
            checked_kinds.add(operation.subtype or operation.type)
            # Under its parent operation's span, where it has one.
            if operation.parent_operation_id:
                parent = traces.operation_span_id(arn, operation.parent_operation_id)
                assert span["parent"] == parent, (operation.name, span)
            # Each attempt the console names is a span under the operation's.
            if found.attempts:
                attempts = {
                    s["attempt"]: name
                    for (trace, _), s in receiver.spans.items()
                    for name in [s["name"]]
                    if trace == found.trace_id and s["parent"] == found.span_id and s["attempt"]
                }
                assert attempts == dict(found.attempts), (operation.name, attempts)
                retried += operation.attempt_count > 1
            # The link fills the template in with the same ids.
            url = unquote(found.links[0].url)
            assert url == f"https://tempo.example/trace/{found.trace_id}?span={found.span_id}"
    assert {"Step", "Parallel", "ParallelBranch", "Map", "MapIteration", "Wait"} <= checked_kinds
    assert retried >= 1  # fraud-detection's scoreRisk

    # The operation panel shows the ids and the link.
    browser = factories.signed_in(Client(), "reader", "viewer")
    execution = Execution.objects.get(arn=fraud)
    step = Operation.objects.get(execution=execution, name="scoreRisk")
    page = browser.get(f"/executions/{execution.pk}/operations/{step.operation_id}")
    assert page.status_code == 200
    html = page.content.decode()
    span_id = traces.operation_span_id(fraud, step.operation_id)
    assert span_id in html
    assert "scoreRisk attempt 2" in html
    assert f"span={span_id}" in html


def test_aws_executions_link_to_xray_and_a_prefilled_logs_insights_query(db, settings):
    """On AWS the trace is Lambda's (the record's TraceHeader), and the operation links to
    its X-Ray trace and to a Logs Insights query of its own log lines."""
    settings.TRACE_URL_TEMPLATE = ""
    source = factories.aws_source("prod")
    execution = factories.running_execution(
        source,
        "traced",
        function="orders",
        started_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        raw={"TraceHeader": {"XAmznTraceId": "Root=1-67891233-abcdef012345678912345678;Sampled=1"}},
    )
    operation = Operation.objects.create(
        execution=execution,
        operation_id="op-1",
        name="charge",
        type="STEP",
        status="SUCCEEDED",
        attempt_count=2,
        started_at=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC),
        ended_at=datetime(2026, 3, 1, 12, 0, 9, tzinfo=UTC),
    )
    found = trace_links.operation_trace(execution, operation)
    assert found.trace_id == "67891233abcdef012345678912345678"
    assert found.xray_trace_id == "1-67891233-abcdef012345678912345678"
    labels = {link.testid: link.url for link in found.links}
    assert set(labels) == {"op-xray-link", "op-insights-link"}
    assert labels["op-xray-link"].endswith("#xray:traces/1-67891233-abcdef012345678912345678")
    insights = labels["op-insights-link"]
    assert insights.startswith(
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#logsV2:logs-insights$3FqueryDetail$3D~(end~'2026-03-01T12*3A05*3A09.000Z"
        "~start~'2026-03-01T11*3A55*3A05.000Z~timeType~'ABSOLUTE~tz~'UTC~editorString~'"
    )
    query = unquote(insights.split("editorString~'")[1].split("~source")[0].replace("*", "%"))
    assert f'executionArn = "{execution.arn}"' in query
    assert 'operationId = "op-1"' in query
    assert insights.endswith("~source~(~'*2Faws*2Flambda*2Forders))")
    assert found.attempts == [(1, "charge attempt 1"), (2, "charge attempt 2")]
