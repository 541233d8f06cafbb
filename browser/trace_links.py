"""An operation's span and logs: the ids the SDK's OpenTelemetry plugin gave it
(domain/traces.py derives them as the plugin does, from the execution ARN, its start and
the operation id), and links to where they are shown:

- AWS X-Ray (a source on AWS): the execution's trace, where the operation is the segment
  of that span id;
- any OpenTelemetry UI (Jaeger, Grafana Tempo, Honeycomb...): TRACE_URL_TEMPLATE, a URL
  with {trace_id} and {span_id} (32 and 16 hex digits), for every source, the sandbox's too;
- CloudWatch Logs Insights (a source on AWS): a query of the function's log group for the
  lines the SDK's logger wrote for this execution and operation (it adds executionArn and
  operationId to each line in Lambda's JSON log format), over the operation's time.

A step's attempts are spans of their own under the operation's span ("NAME attempt N"),
with random ids: the panel names them, and the operation's span leads to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from browser.aws_links import AwsLink, log_group, xray_url
from browser.aws_links import trace_id as xray_root
from domain import traces
from executions.models import Execution, Operation

# Log lines come a little before and after the times the mirror has.
MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class OperationTrace:
    trace_id: str
    span_id: str
    # X-Ray's spelling of the trace id, when Lambda traced the execution ("" if not).
    xray_trace_id: str
    links: list[AwsLink] = field(default_factory=list)
    # (attempt number, the attempt span's name) for a step's attempts.
    attempts: list[tuple[int, str]] = field(default_factory=list)


def _insights_value(text: str) -> str:
    """A value inside Logs Insights' queryDetail: percent-encoded with '*' for '%'."""
    return quote(text, safe="").replace("%", "*")


def logs_insights_url(region: str, group: str, query: str, start: datetime, end: datetime) -> str:
    """CloudWatch Logs Insights with `query` over `group` between start and end, ready to run."""

    def moment(value: datetime) -> str:
        return _insights_value(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    detail = (
        f"~(end~'{moment(end)}~start~'{moment(start)}~timeType~'ABSOLUTE~tz~'UTC"
        f"~editorString~'{_insights_value(query)}~source~(~'{_insights_value(group)}))"
    )
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights$3FqueryDetail$3D{detail}"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logs_query(execution_arn: str, operation_id: str) -> str:
    return (
        "fields @timestamp, operationName, attempt, @message\n"
        f"| filter executionArn = {_quoted(execution_arn)}"
        f" and operationId = {_quoted(operation_id)}\n"
        "| sort @timestamp asc"
    )


def trace_url(trace_id: str, span_id: str) -> str:
    """TRACE_URL_TEMPLATE filled in ("" when it is not set)."""
    template = getattr(settings, "TRACE_URL_TEMPLATE", "")
    if not template:
        return ""
    return template.replace("{trace_id}", trace_id).replace("{span_id}", span_id)


def operation_trace(execution: Execution, operation: Operation) -> OperationTrace | None:
    """The operation's span and its links; None when the trace cannot be told (an
    execution without a start time and not traced by Lambda)."""
    root = xray_root(execution)
    trace_id = traces.trace_id(execution.arn, execution.started_at, root)
    if not trace_id:
        return None
    span_id = traces.operation_span_id(execution.arn, operation.operation_id)
    links = []
    url = trace_url(trace_id, span_id)
    if url:
        links.append(
            AwsLink("Open the span", url, f"Span {span_id} of trace {trace_id}", "op-trace-link")
        )
    source = execution.source
    if source.is_aws:
        if root:
            links.append(
                AwsLink(
                    "X-Ray trace",
                    xray_url(source.region, root),
                    f"Trace {root}: this operation is segment {span_id}",
                    "op-xray-link",
                )
            )
        start = (operation.started_at or execution.started_at or timezone.now()) - MARGIN
        end = (operation.ended_at or timezone.now()) + MARGIN
        links.append(
            AwsLink(
                "Logs Insights",
                logs_insights_url(
                    source.region,
                    log_group(execution),
                    logs_query(execution.arn, operation.operation_id),
                    start,
                    end,
                ),
                f"The log lines of this operation in {log_group(execution)}",
                "op-insights-link",
            )
        )
    attempts = []
    if operation.type == "STEP" and operation.attempt_count:
        label = operation.name or operation.operation_id
        attempts = [(n, f"{label} attempt {n}") for n in range(1, operation.attempt_count + 1)]
    return OperationTrace(
        trace_id=trace_id,
        span_id=span_id,
        xray_trace_id=root,
        links=links,
        attempts=attempts,
    )
