"""The OpenTelemetry ids the SDK's otel plugin (aws-durable-execution-sdk-python-otel 2.x)
gives an execution and its operations, derived as it derives them, so that the console can
link an operation to its span without asking the tracing backend. Pure Python.

- Trace: the execution's X-Ray trace (the Root of its TraceHeader) when Lambda traced it;
  otherwise the plugin's synthetic one: the execution's start in epoch seconds (8 hex
  digits, as X-Ray ids begin) and the first 24 hex digits of BLAKE2b(execution ARN).
- Operation span: the first 16 hex digits of BLAKE2b("ARN:OPERATION-ID"), the same in
  every invocation that sees the operation.
- A step's attempts are spans of their own under the operation's span, named
  "NAME attempt N" with the attribute durable.attempt.number; their ids are random, so
  they are found through their parent.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

XRAY_ID = re.compile(r"^1-([0-9a-f]{8})-([0-9a-f]{24})$")


def _blake2b(text: str) -> str:
    return hashlib.blake2b(text.encode()).hexdigest()


def synthetic_trace_id(execution_arn: str, started_at: datetime) -> str:
    """The plugin's trace id (32 hex digits) for an execution Lambda did not trace."""
    return f"{int(started_at.timestamp()):08x}{_blake2b(execution_arn)[:24]}"


def operation_span_id(execution_arn: str, operation_id: str) -> str:
    """The plugin's span id (16 hex digits) of one operation."""
    return _blake2b(f"{execution_arn}:{operation_id}")[:16]


def from_xray(root: str) -> str:
    """An X-Ray trace id (1-XXXXXXXX-YYYY...) as OpenTelemetry writes it; "" if it is not one."""
    found = XRAY_ID.match(root or "")
    return f"{found.group(1)}{found.group(2)}" if found else ""


def to_xray(trace_id: str) -> str:
    """An OpenTelemetry trace id as X-Ray writes it."""
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def trace_id(execution_arn: str, started_at: datetime | None, xray_root: str = "") -> str:
    """The execution's trace id: Lambda's, else the plugin's synthetic one ("" when neither
    can be told: no trace header and no start time)."""
    if xray_root and from_xray(xray_root):
        return from_xray(xray_root)
    if started_at is None:
        return ""
    return synthetic_trace_id(execution_arn, started_at)
