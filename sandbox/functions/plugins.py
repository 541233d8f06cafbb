"""The SDK plugins the sample functions run with, as a deployed function would declare them.

The Durable Execution Telemetry plugin (aws-durable-execution-sdk-python-telemetry-exporter)
sends one `DurableExecutionTelemetry` record per execution to an SQS queue on every
operation change (`on-change`), with every operation of the tree (`full-tree`): the
console reads them from the source's telemetry queue (executions/telemetry.py). On Lambda
the two lines are those of docs/DEPLOYMENT.md; here the queue is one of the local SQS
server (sandbox/sqs.py), named by the sandbox host's environment:

- `SANDBOX_TELEMETRY_QUEUE_URL`: the queue (blank or unset: no plugin at all, which is how
  `SANDBOX_TELEMETRY=off make run` runs the functions without it, to compare);
- `SANDBOX_TELEMETRY_SQS_ENDPOINT_URL`: the SQS server of that queue.

With `SANDBOX_OTLP_TRACES_URL` (an OTLP/HTTP traces endpoint, e.g. a local collector's
http://127.0.0.1:4318/v1/traces) they also run with the SDK's OpenTelemetry plugin
(aws-durable-execution-sdk-python-otel, its execution view): a span per operation and per
attempt, exported as each ends; the console derives the same ids (domain/traces.py).

The handlers are decorated when the host imports them, after sandbox/runner.py has set
that environment, so the decision is taken once per host process. One factory serves
every sample function, so their records share one export worker, as the functions of
one Lambda environment would.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

QUEUE_ENV = "SANDBOX_TELEMETRY_QUEUE_URL"
SQS_ENDPOINT_ENV = "SANDBOX_TELEMETRY_SQS_ENDPOINT_URL"
OTLP_ENV = "SANDBOX_OTLP_TRACES_URL"


@cache
def sample_plugins() -> tuple[Any, ...]:
    """The plugin factories of every sample function (none when both are off)."""
    return (*_telemetry(), *_otel())


def _otel() -> tuple[Any, ...]:
    endpoint = os.environ.get(OTLP_ENV, "").strip()
    if not endpoint:
        return ()
    from aws_durable_execution_sdk_python_otel import (
        ExecutionOtelPluginFactory,
        OtelPluginConfig,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    # Each span is sent as it ends: a sandbox has no batching to wait for.
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return (
        ExecutionOtelPluginFactory(OtelPluginConfig(tracer_provider=provider, enrich_logger=False)),
    )


def _telemetry() -> tuple[Any, ...]:
    queue_url = os.environ.get(QUEUE_ENV, "").strip()
    if not queue_url:
        return ()
    import boto3
    from aws_durable_execution_sdk_python_telemetry_exporter import (
        DurableExecutionTelemetryConfig,
        SQSExporter,
        durable_execution_telemetry,
    )

    client = boto3.client(
        "sqs",
        endpoint_url=os.environ.get(SQS_ENDPOINT_ENV) or None,
        # The sandbox's Region (sandbox/catalog.py, which imports the functions).
        region_name=os.environ.get("AWS_REGION") or "us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    return (
        durable_execution_telemetry(
            DurableExecutionTelemetryConfig(
                exporters=[SQSExporter(queue_url=queue_url, client=client)],
                emit_mode="on-change",
                operation_detail="full-tree",
            )
        ),
    )


def plugins() -> list[Any]:
    """What the sample functions pass as `@durable_execution(plugins=...)`."""
    return list(sample_plugins())
