"""The way out to AWS: links from an execution on AWS (Source.is_aws) to its function in
the Lambda console, the CloudWatch Logs of the invocations that ran it and its X-Ray
trace. Built from what the mirror stores (the history's
InvocationCompleted events and the GetDurableExecution record), never by asking AWS; none
for a source with its own endpoint (the sandbox, or any local runner), where these consoles
have nothing to show.

CloudWatch's console takes its parameters in the URL's fragment, encoded twice with '$'
in place of '%' (what the console itself writes when one copies a log stream's URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils.dateparse import parse_datetime

from executions.models import Execution, HistoryEvent, Operation, Source

# Around an invocation: log lines are written a little before and after the times the
# history records (START and REPORT lines, clock skew).
MARGIN = timedelta(minutes=1)
# An invocation whose start is not recorded ran at most Lambda's 15 minutes before it ended.
LONGEST_INVOCATION = timedelta(minutes=15)
# X-Ray trace ids: version 1, the epoch in 8 hex digits, 24 hex digits.
TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
INVOCATION = "InvocationCompleted"


@dataclass(frozen=True)
class AwsLink:
    label: str
    url: str
    title: str
    testid: str


@dataclass(frozen=True)
class Invocation:
    event_id: int
    request_id: str
    start: datetime
    end: datetime


def _fragment(text: str) -> str:
    """A value in CloudWatch's console fragment: percent-encoded, then '%' written '$'."""
    return quote(text, safe="").replace("%", "$")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def log_group(execution: Execution) -> str:
    """Lambda's default log group of the execution's function."""
    return f"/aws/lambda/{execution.function.name}"


def log_events_url(region: str, group: str, request_id: str, start: datetime, end: datetime) -> str:
    """The log group's events filtered to one request id, between start and end."""
    query = f"?filterPattern={quote(chr(34) + request_id + chr(34), safe='')}"
    query += f"&start={_ms(start)}&end={_ms(end)}"
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_fragment(quote(group, safe=''))}"
        f"/log-events{_fragment(query)}"
    )


def function_console_url(source: Source, function_name: str) -> str:
    """The function's durable executions in the Lambda console ("" unless on AWS): from
    its overview and from each of its executions, which the Lambda console cannot link to
    one by one. The name is quoted, so whatever it holds stays inside the fragment's path."""
    if not source.is_aws:
        return ""
    region = source.region
    return (
        f"https://{region}.console.aws.amazon.com/lambda/home?region={region}"
        f"#/functions/{quote(function_name, safe='')}?tab=durable-executions"
    )


def xray_url(region: str, trace_id: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#xray:traces/{trace_id}"
    )


def trace_id(execution: Execution) -> str:
    """The Root of the execution's X-Ray trace header ("Root=1-...;Parent=...;Sampled=1"),
    or "" when the record has none (tracing off, or not read yet)."""
    header = (execution.raw or {}).get("TraceHeader") or {}
    value = header.get("XAmznTraceId", "") if isinstance(header, dict) else ""
    for part in str(value).split(";"):
        key, _, root = part.strip().partition("=")
        if key == "Root" and TRACE_ID.match(root):
            return root
    return ""


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) else None


def invocation(event: HistoryEvent | None) -> Invocation | None:
    """An InvocationCompleted event's request id and time span (None without a request id:
    the sandbox records none)."""
    if event is None:
        return None
    details = event.details or {}
    request_id = str(details.get("RequestId") or "")
    if not request_id:
        return None
    end = _moment(details.get("EndTimestamp")) or event.timestamp
    if end is None:
        return None
    start = _moment(details.get("StartTimestamp")) or end - LONGEST_INVOCATION
    return Invocation(event.event_id, request_id, start, end)


def _invocation_after(execution: Execution, event_id: int) -> Invocation | None:
    """The invocation that was running at event `event_id`: the first to complete after it
    (the history records an invocation when it completes)."""
    event = (
        HistoryEvent.objects.filter(
            execution=execution, event_type=INVOCATION, event_id__gte=event_id
        )
        .only("event_id", "timestamp", "details")
        .order_by("event_id")
        .first()
    )
    return invocation(event)


def _logs_link(execution: Execution, found: Invocation, label: str, testid: str) -> AwsLink:
    url = log_events_url(
        execution.source.region,
        log_group(execution),
        found.request_id,
        found.start - MARGIN,
        found.end + MARGIN,
    )
    title = f"CloudWatch Logs of request {found.request_id} in {log_group(execution)}"
    return AwsLink(label, url, title, testid)


def execution_links(execution: Execution) -> list[AwsLink]:
    """The footer's links beside "Open in the AWS console" (the function in the Lambda
    console, browser/header.py): the logs of the latest invocation, the X-Ray trace."""
    if not execution.source.is_aws:
        return []
    links = []
    last = invocation(
        HistoryEvent.objects.filter(execution=execution, event_type=INVOCATION)
        .only("event_id", "timestamp", "details")
        .order_by("-event_id")
        .first()
    )
    if last is not None:
        links.append(_logs_link(execution, last, "Logs (last invocation)", "aws-logs-link"))
    root = trace_id(execution)
    if root:
        links.append(
            AwsLink(
                "X-Ray trace",
                xray_url(execution.source.region, root),
                f"Trace {root}",
                "aws-trace-link",
            )
        )
    return links


def operation_links(execution: Execution, operation: Operation) -> list[AwsLink]:
    """The logs of the invocation that started the operation and, when another one saw it
    end, of that one too."""
    if not execution.source.is_aws or not operation.first_event_id:
        return []
    started = _invocation_after(execution, operation.first_event_id)
    ended = _invocation_after(execution, operation.last_event_id or operation.first_event_id)
    links = []
    if started is not None:
        label = "Logs of its invocation" if started == ended else "Logs: invocation it started in"
        links.append(_logs_link(execution, started, label, "op-logs-link"))
    if ended is not None and ended != started:
        links.append(
            _logs_link(execution, ended, "Logs: invocation it ended in", "op-logs-end-link")
        )
    return links
