"""Links out to AWS's consoles (browser/aws_links.py) for the detail page and the
operation panel: empty lists for a source that is not AWS."""

from __future__ import annotations

from typing import Any

from django import template

from browser import aws_links, trace_links

register = template.Library()


@register.simple_tag
def execution_aws_links(execution: Any) -> list[aws_links.AwsLink]:
    return aws_links.execution_links(execution)


@register.simple_tag
def operation_aws_links(execution: Any, operation: Any) -> list[aws_links.AwsLink]:
    return aws_links.operation_links(execution, operation)


@register.simple_tag
def operation_trace(execution: Any, operation: Any) -> trace_links.OperationTrace | None:
    """The operation's span (the SDK's OpenTelemetry plugin's ids) and its links."""
    return trace_links.operation_trace(execution, operation)
